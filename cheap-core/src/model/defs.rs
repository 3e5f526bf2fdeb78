//! Informational definitions: hierarchy defs and catalog defs.

use std::sync::Arc;

use indexmap::IndexMap;

use crate::hash::CheapHasher;
use crate::model::{AspectDef, HierarchyType};

/// A hierarchy's name and kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HierarchyDef {
    /// The hierarchy name.
    pub name: String,
    /// The kind.
    pub hierarchy_type: HierarchyType,
}

impl HierarchyDef {
    /// A def with this name and kind.
    pub fn new(name: impl Into<String>, hierarchy_type: HierarchyType) -> Self {
        HierarchyDef {
            name: name.into(),
            hierarchy_type,
        }
    }

    /// The reference's def hash: the name, then the type code.
    pub fn hash(&self) -> i64 {
        let mut h = CheapHasher::new();
        h.update_str(&self.name);
        h.update_str(self.hierarchy_type.code());
        h.finish()
    }
}

/// What a catalog of some kind usually holds. Informational only, as in the reference: a
/// catalog is not constrained by it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CatalogDef {
    aspect_defs: IndexMap<String, Arc<AspectDef>>,
    hierarchy_defs: IndexMap<String, HierarchyDef>,
}

impl CatalogDef {
    /// An empty def.
    pub fn new() -> Self {
        CatalogDef::default()
    }

    /// From defs; a later def with the same name replaces an earlier one.
    pub fn from_parts(
        aspect_defs: impl IntoIterator<Item = Arc<AspectDef>>,
        hierarchy_defs: impl IntoIterator<Item = HierarchyDef>,
    ) -> Self {
        let mut d = CatalogDef::new();
        for a in aspect_defs {
            d.add_aspect_def(a);
        }
        for h in hierarchy_defs {
            d.add_hierarchy_def(h);
        }
        d
    }

    /// Adds or replaces (by name) an aspect def.
    pub fn add_aspect_def(&mut self, def: Arc<AspectDef>) {
        self.aspect_defs.insert(def.name().to_owned(), def);
    }

    /// Adds or replaces (by name) a hierarchy def.
    pub fn add_hierarchy_def(&mut self, def: HierarchyDef) {
        self.hierarchy_defs.insert(def.name.clone(), def);
    }

    /// Aspect defs in order.
    pub fn aspect_defs(&self) -> impl ExactSizeIterator<Item = &Arc<AspectDef>> + '_ {
        self.aspect_defs.values()
    }

    /// Hierarchy defs in order.
    pub fn hierarchy_defs(&self) -> impl ExactSizeIterator<Item = &HierarchyDef> + '_ {
        self.hierarchy_defs.values()
    }

    /// One aspect def by name.
    pub fn aspect_def(&self, name: &str) -> Option<&Arc<AspectDef>> {
        self.aspect_defs.get(name)
    }

    /// One hierarchy def by name.
    pub fn hierarchy_def(&self, name: &str) -> Option<&HierarchyDef> {
        self.hierarchy_defs.get(name)
    }

    /// The reference's def hash: each aspect def hash, then each hierarchy def hash.
    pub fn hash(&self) -> i64 {
        let mut h = CheapHasher::new();
        for a in self.aspect_defs.values() {
            h.update_long(a.hash());
        }
        for d in self.hierarchy_defs.values() {
            h.update_long(d.hash());
        }
        h.finish()
    }
}
