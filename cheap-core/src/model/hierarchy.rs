//! Hierarchies: the five kinds of named collection a catalog holds.

use std::sync::Arc;

use indexmap::{IndexMap, IndexSet};
use uuid::Uuid;

use crate::error::{CheapError, Result};
use crate::model::{Aspect, AspectDef, EntityTree, HierarchyDef, HierarchyType};

/// An ordered list of entities; duplicates allowed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityList(pub Vec<Uuid>);

impl EntityList {
    /// Appends an entity.
    pub fn add(&mut self, id: Uuid) {
        self.0.push(id);
    }

    /// Inserts at `index` (0..=len).
    pub fn insert(&mut self, index: usize, id: Uuid) -> Result<()> {
        if index > self.0.len() {
            return Err(CheapError::invalid(format!(
                "index {index} is past the end of a list of {}",
                self.0.len()
            )));
        }
        self.0.insert(index, id);
        Ok(())
    }

    /// Removes and returns the entity at `index`.
    pub fn remove_at(&mut self, index: usize) -> Option<Uuid> {
        (index < self.0.len()).then(|| self.0.remove(index))
    }

    /// Removes the first occurrence of `id`.
    pub fn remove_first(&mut self, id: Uuid) -> bool {
        match self.0.iter().position(|e| *e == id) {
            Some(i) => {
                self.0.remove(i);
                true
            }
            None => false,
        }
    }

    /// Removes every occurrence of `id` and returns how many there were.
    pub fn remove_all(&mut self, id: Uuid) -> usize {
        let before = self.0.len();
        self.0.retain(|e| *e != id);
        before - self.0.len()
    }

    /// Whether `id` occurs.
    pub fn contains(&self, id: Uuid) -> bool {
        self.0.contains(&id)
    }

    /// Entities in order.
    pub fn iter(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.0.iter().copied()
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// An insertion-ordered set of entities.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntitySet(pub IndexSet<Uuid>);

impl EntitySet {
    /// Adds; false if already present.
    pub fn add(&mut self, id: Uuid) -> bool {
        self.0.insert(id)
    }

    /// Removes, keeping the order of the rest; false if absent.
    pub fn remove(&mut self, id: Uuid) -> bool {
        self.0.shift_remove(&id)
    }

    /// Whether `id` is a member.
    pub fn contains(&self, id: Uuid) -> bool {
        self.0.contains(&id)
    }

    /// Members in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = Uuid> + '_ {
        self.0.iter().copied()
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A map from string key to entity; several keys may name the same entity. Keys are
/// case-sensitive.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntityDirectory(pub IndexMap<String, Uuid>);

impl EntityDirectory {
    /// Sets `key` to `id` and returns the previous entity.
    pub fn put(&mut self, key: impl Into<String>, id: Uuid) -> Option<Uuid> {
        self.0.insert(key.into(), id)
    }

    /// The entity under `key`.
    pub fn get(&self, key: &str) -> Option<Uuid> {
        self.0.get(key).copied()
    }

    /// Removes `key`, keeping the order of the rest.
    pub fn remove(&mut self, key: &str) -> Option<Uuid> {
        self.0.shift_remove(key)
    }

    /// Removes every key naming `id` and returns how many there were.
    pub fn remove_entity(&mut self, id: Uuid) -> usize {
        let before = self.0.len();
        self.0.retain(|_, e| *e != id);
        before - self.0.len()
    }

    /// Entries in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Uuid)> + '_ {
        self.0.iter().map(|(k, v)| (k.as_str(), *v))
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Aspects of one def, keyed by entity, in insertion order.
#[derive(Debug, Clone, PartialEq)]
pub struct AspectMap {
    def: Arc<AspectDef>,
    aspects: IndexMap<Uuid, Aspect>,
}

impl AspectMap {
    /// An empty map for `def`.
    pub fn new(def: Arc<AspectDef>) -> Self {
        AspectMap {
            def,
            aspects: IndexMap::new(),
        }
    }

    /// The def every aspect here has.
    pub fn def(&self) -> &Arc<AspectDef> {
        &self.def
    }

    /// The aspect of `entity`.
    pub fn get(&self, entity: Uuid) -> Option<&Aspect> {
        self.aspects.get(&entity)
    }

    /// The aspect of `entity`, mutably.
    pub fn get_mut(&mut self, entity: Uuid) -> Option<&mut Aspect> {
        self.aspects.get_mut(&entity)
    }

    /// Puts an aspect under its entity and returns the one it replaced. The aspect's def must
    /// be this map's def (same id and same contents).
    pub fn put(&mut self, aspect: Aspect) -> Result<Option<Aspect>> {
        if !Arc::ptr_eq(aspect.def(), &self.def) && **aspect.def() != *self.def {
            return Err(CheapError::invalid(format!(
                "an aspect of def '{}' ({}) cannot be stored in the aspect map of def '{}' ({})",
                aspect.def().name(),
                aspect.def().id(),
                self.def.name(),
                self.def.id()
            )));
        }
        Ok(self.aspects.insert(aspect.entity_id(), aspect))
    }

    /// Removes the aspect of `entity`, keeping the order of the rest.
    pub fn remove(&mut self, entity: Uuid) -> Option<Aspect> {
        self.aspects.shift_remove(&entity)
    }

    /// Whether `entity` has an aspect here.
    pub fn contains(&self, entity: Uuid) -> bool {
        self.aspects.contains_key(&entity)
    }

    /// Aspects in insertion order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = &Aspect> + '_ {
        self.aspects.values()
    }

    /// Number of aspects.
    pub fn len(&self) -> usize {
        self.aspects.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.aspects.is_empty()
    }
}

/// What a hierarchy holds, by kind.
#[derive(Debug, Clone, PartialEq)]
pub enum HierarchyContent {
    /// `EL`
    List(EntityList),
    /// `ES`
    Set(EntitySet),
    /// `ED`
    Directory(EntityDirectory),
    /// `ET`
    Tree(EntityTree),
    /// `AM`
    AspectMap(AspectMap),
}

/// A named hierarchy of a catalog, with its version and contents.
#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    name: String,
    /// Version number; the DAO advances it on every change to this hierarchy.
    pub version: i64,
    /// The contents.
    pub content: HierarchyContent,
}

impl Hierarchy {
    /// An empty hierarchy of the given kind. An aspect map needs its def: use
    /// [`Hierarchy::aspect_map`] instead.
    pub fn new(name: impl Into<String>, htype: HierarchyType) -> Result<Self> {
        let content = match htype {
            HierarchyType::EntityList => HierarchyContent::List(EntityList::default()),
            HierarchyType::EntitySet => HierarchyContent::Set(EntitySet::default()),
            HierarchyType::EntityDirectory => {
                HierarchyContent::Directory(EntityDirectory::default())
            }
            HierarchyType::EntityTree => HierarchyContent::Tree(EntityTree::default()),
            HierarchyType::AspectMap => {
                return Err(CheapError::invalid(
                    "an aspect map hierarchy is created from its aspect def",
                ))
            }
        };
        Hierarchy::with_content(name, content)
    }

    /// A hierarchy with the given contents. Names must be non-empty; an aspect map's name must be
    /// its def's name.
    pub fn with_content(name: impl Into<String>, content: HierarchyContent) -> Result<Self> {
        let name = name.into();
        if name.is_empty() {
            return Err(CheapError::invalid("a hierarchy needs a non-empty name"));
        }
        if let HierarchyContent::AspectMap(m) = &content {
            if m.def().name() != name {
                return Err(CheapError::invalid(format!(
                    "the aspect map hierarchy of def '{}' cannot be named '{name}'",
                    m.def().name()
                )));
            }
        }
        Ok(Hierarchy {
            name,
            version: 0,
            content,
        })
    }

    /// An empty aspect map hierarchy named after its def.
    pub fn aspect_map(def: Arc<AspectDef>) -> Self {
        Hierarchy {
            name: def.name().to_owned(),
            version: 0,
            content: HierarchyContent::AspectMap(AspectMap::new(def)),
        }
    }

    /// The name, unique within the catalog.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The kind.
    pub fn hierarchy_type(&self) -> HierarchyType {
        match &self.content {
            HierarchyContent::List(_) => HierarchyType::EntityList,
            HierarchyContent::Set(_) => HierarchyType::EntitySet,
            HierarchyContent::Directory(_) => HierarchyType::EntityDirectory,
            HierarchyContent::Tree(_) => HierarchyType::EntityTree,
            HierarchyContent::AspectMap(_) => HierarchyType::AspectMap,
        }
    }

    /// Name and kind.
    pub fn def(&self) -> HierarchyDef {
        HierarchyDef::new(self.name.clone(), self.hierarchy_type())
    }

    /// Number of entries (tree: nodes).
    pub fn len(&self) -> usize {
        match &self.content {
            HierarchyContent::List(l) => l.len(),
            HierarchyContent::Set(s) => s.len(),
            HierarchyContent::Directory(d) => d.len(),
            HierarchyContent::Tree(t) => t.len(),
            HierarchyContent::AspectMap(m) => m.len(),
        }
    }

    /// True when there are no entries (tree: an empty root).
    pub fn is_empty(&self) -> bool {
        match &self.content {
            HierarchyContent::Tree(t) => t.is_empty(),
            _ => self.len() == 0,
        }
    }
}

macro_rules! accessors {
    ($($get:ident, $get_mut:ident, $variant:ident, $t:ty);*) => {
        impl Hierarchy {
            $(
                #[doc = concat!("The contents if this is a `", stringify!($variant), "` hierarchy.")]
                pub fn $get(&self) -> Option<&$t> {
                    match &self.content {
                        HierarchyContent::$variant(x) => Some(x),
                        _ => None,
                    }
                }
                #[doc = concat!("The contents, mutably, if this is a `", stringify!($variant), "` hierarchy.")]
                pub fn $get_mut(&mut self) -> Option<&mut $t> {
                    match &mut self.content {
                        HierarchyContent::$variant(x) => Some(x),
                        _ => None,
                    }
                }
            )*
        }
    };
}

accessors! {
    as_list, as_list_mut, List, EntityList;
    as_set, as_set_mut, Set, EntitySet;
    as_directory, as_directory_mut, Directory, EntityDirectory;
    as_tree, as_tree_mut, Tree, EntityTree;
    as_aspect_map, as_aspect_map_mut, AspectMap, AspectMap
}
