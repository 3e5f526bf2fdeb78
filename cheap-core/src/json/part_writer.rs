//! Catalog parts to cheap-json as they come: the same bytes as
//! [`ToJson::to_json`](super::ToJson::to_json) (or the pretty layout) of the whole catalog,
//! written without holding it.

use super::emitter::Emitter;
use super::printer::Json;
use super::write::{aspect_def_to_json, aspect_to_json, tree_node_to_json};
use crate::dao::CatalogPart;
use crate::error::{CheapError, Result};
use crate::model::{HierarchyContent, HierarchyType, TreeNode};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing written.
    Start,
    /// In `aspectDefs`.
    Defs,
    /// In `hierarchies`, with the contents of a hierarchy of this kind open (or none).
    Hierarchies(Option<HierarchyType>),
    /// The document is complete.
    Done,
}

/// Writes a catalog's parts ([`crate::dao::parts`]) as one cheap-json document.
///
/// ```
/// use cheap_core::dao::parts::parts_of;
/// use cheap_core::json::{CatalogWriter, ToJson};
/// let catalog = cheap_core::Catalog::new();
/// let mut w = CatalogWriter::new(false);
/// for part in parts_of(&catalog, 100) {
///     w.push(&part).unwrap();
/// }
/// w.finish().unwrap();
/// assert_eq!(w.take(), catalog.to_json());
/// ```
pub struct CatalogWriter {
    e: Emitter,
    phase: Phase,
    /// A tree's contents are one value: written once.
    tree_written: bool,
}

fn order(what: &str) -> CheapError {
    CheapError::invalid(format!("catalog parts out of order: {what}"))
}

impl CatalogWriter {
    /// A writer of compact text (as the Java writer), or of Jackson's pretty layout.
    pub fn new(pretty: bool) -> Self {
        CatalogWriter {
            e: Emitter::new(pretty),
            phase: Phase::Start,
            tree_written: false,
        }
    }

    /// Writes the next part.
    pub fn push(&mut self, part: &CatalogPart) -> Result<()> {
        match (part, self.phase) {
            (CatalogPart::Header(h), Phase::Start) => {
                self.e.open_object();
                self.e.member("globalId", &h.id.to_string().into());
                self.e
                    .member("uri", &h.uri.clone().map_or(Json::Null, Json::String));
                self.e.member("species", &h.species.as_lower().into());
                if let Some(u) = h.upstream {
                    self.e.member("upstream", &u.to_string().into());
                }
                self.e.key("aspectDefs");
                self.e.open_object();
                self.phase = Phase::Defs;
            }
            (CatalogPart::Header(_), _) => return Err(order("a second header")),
            (_, Phase::Start) => return Err(order("the header must come first")),
            (_, Phase::Done) => return Err(order("a part after the end")),
            (CatalogPart::AspectDef(d), Phase::Defs) => {
                self.e.member(d.name(), &aspect_def_to_json(d));
            }
            (CatalogPart::AspectDef(_), _) => {
                return Err(order("an aspect def after the first hierarchy"))
            }
            (CatalogPart::Hierarchy { def, .. }, phase) => {
                match phase {
                    Phase::Defs => {
                        self.e.close();
                        self.e.key("hierarchies");
                        self.e.open_object();
                    }
                    _ => self.end_hierarchy(),
                }
                self.e.key(&def.name);
                self.e.open_object();
                self.e.member("type", &def.hierarchy_type.code().into());
                self.e.member("name", &def.name.as_str().into());
                self.e.key("contents");
                match def.hierarchy_type {
                    HierarchyType::EntityList | HierarchyType::EntitySet => self.e.open_array(),
                    HierarchyType::EntityDirectory | HierarchyType::AspectMap => {
                        self.e.open_object()
                    }
                    HierarchyType::EntityTree => self.tree_written = false,
                }
                self.phase = Phase::Hierarchies(Some(def.hierarchy_type));
            }
            (CatalogPart::Entries(c), Phase::Hierarchies(Some(t))) => self.entries(t, c)?,
            (CatalogPart::Entries(_), _) => return Err(order("entries before any hierarchy")),
        }
        Ok(())
    }

    fn entries(&mut self, t: HierarchyType, c: &HierarchyContent) -> Result<()> {
        match (t, c) {
            (HierarchyType::EntityList, HierarchyContent::List(l)) => {
                for id in l.iter() {
                    self.e.value(&id.to_string().into());
                }
            }
            (HierarchyType::EntitySet, HierarchyContent::Set(s)) => {
                for id in s.iter() {
                    self.e.value(&id.to_string().into());
                }
            }
            (HierarchyType::EntityDirectory, HierarchyContent::Directory(d)) => {
                for (k, id) in d.iter() {
                    self.e.member(k, &id.to_string().into());
                }
            }
            (HierarchyType::AspectMap, HierarchyContent::AspectMap(m)) => {
                for a in m.iter() {
                    self.e
                        .member(&a.entity_id().to_string(), &aspect_to_json(a));
                }
            }
            (HierarchyType::EntityTree, HierarchyContent::Tree(tree)) if !self.tree_written => {
                self.e.value(&tree_node_to_json(&tree.root));
                self.tree_written = true;
            }
            (HierarchyType::EntityTree, HierarchyContent::Tree(_)) => {
                return Err(order("a tree given in more than one part"))
            }
            _ => {
                return Err(CheapError::invalid(format!(
                    "entries of another kind inside a {}",
                    t.code()
                )))
            }
        }
        Ok(())
    }

    /// Closes the contents and the object of the hierarchy being written.
    fn end_hierarchy(&mut self) {
        if let Phase::Hierarchies(Some(t)) = self.phase {
            match t {
                HierarchyType::EntityTree if !self.tree_written => {
                    self.e.value(&tree_node_to_json(&TreeNode::default()));
                }
                HierarchyType::EntityTree => {}
                _ => self.e.close(),
            }
            self.e.close();
        }
        self.phase = Phase::Hierarchies(None);
    }

    /// Ends the document.
    pub fn finish(&mut self) -> Result<()> {
        match self.phase {
            Phase::Start => return Err(order("no catalog header")),
            Phase::Done => return Ok(()),
            Phase::Defs => {
                self.e.close();
                self.e.key("hierarchies");
                self.e.open_object();
            }
            Phase::Hierarchies(_) => self.end_hierarchy(),
        }
        while self.e.depth() > 0 {
            self.e.close();
        }
        self.phase = Phase::Done;
        Ok(())
    }

    /// The text written since the last call.
    pub fn take(&mut self) -> String {
        self.e.take()
    }
}
