//! Catalogs: the unit of storage, holding named hierarchies.

use std::sync::Arc;

use indexmap::IndexMap;
use uuid::Uuid;

use crate::error::{CheapError, NotFound, Result};
use crate::model::{
    AspectDef, AspectMap, CatalogDef, CatalogSpecies, EntityDirectory, EntityList, EntitySet,
    EntityTree, Hierarchy, HierarchyContent, HierarchyType,
};

/// A catalog: an id, a species (with its upstream, when the species needs one), an optional URI,
/// a version, and insertion-ordered hierarchies. The aspect defs of a catalog are those of its
/// aspect-map hierarchies.
///
/// ```
/// use cheap_core::{Catalog, CatalogSpecies, AspectDef, PropertyDef, PropertyType, Aspect};
/// let mut cat = Catalog::new();
/// assert_eq!(cat.species(), CatalogSpecies::Sink);
/// let def = AspectDef::builder("note")
///     .property(PropertyDef::new("text", PropertyType::Text))
///     .build().unwrap().into_arc();
/// let e = uuid::Uuid::new_v4();
/// cat.extend(def.clone()).unwrap()
///     .put(Aspect::builder(def, e).set("text", "hello").build().unwrap()).unwrap();
/// cat.create_entity_list("inbox").unwrap().add(e);
/// assert_eq!(cat.hierarchies().count(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    id: Uuid,
    species: CatalogSpecies,
    upstream: Option<Uuid>,
    /// Optional URI (usually where the catalog is served).
    pub uri: Option<String>,
    /// Version number; the DAO advances it on every change.
    pub version: i64,
    hierarchies: IndexMap<String, Hierarchy>,
}

impl Catalog {
    /// A new, empty SINK catalog with a random id (the reference's `createCatalog()`).
    pub fn new() -> Self {
        Catalog {
            id: Uuid::new_v4(),
            species: CatalogSpecies::Sink,
            upstream: None,
            uri: None,
            version: 0,
            hierarchies: IndexMap::new(),
        }
    }

    /// A new catalog with the given id, species and upstream; checks the species/upstream rule.
    pub fn with_id(id: Uuid, species: CatalogSpecies, upstream: Option<Uuid>) -> Result<Self> {
        species.check_upstream(upstream)?;
        Ok(Catalog {
            id,
            species,
            upstream,
            uri: None,
            version: 0,
            hierarchies: IndexMap::new(),
        })
    }

    /// The catalog id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The species.
    pub fn species(&self) -> CatalogSpecies {
        self.species
    }

    /// The upstream catalog's id.
    pub fn upstream(&self) -> Option<Uuid> {
        self.upstream
    }

    /// Changes the species and upstream together (a FORK becoming a SINK, say).
    pub fn set_species(&mut self, species: CatalogSpecies, upstream: Option<Uuid>) -> Result<()> {
        species.check_upstream(upstream)?;
        self.species = species;
        self.upstream = upstream;
        Ok(())
    }

    /// Hierarchies in insertion order.
    pub fn hierarchies(&self) -> impl ExactSizeIterator<Item = &Hierarchy> + '_ {
        self.hierarchies.values()
    }

    /// Hierarchies, mutably.
    pub fn hierarchies_mut(&mut self) -> impl Iterator<Item = &mut Hierarchy> + '_ {
        self.hierarchies.values_mut()
    }

    /// One hierarchy by name.
    pub fn hierarchy(&self, name: &str) -> Option<&Hierarchy> {
        self.hierarchies.get(name)
    }

    /// One hierarchy by name, mutably.
    pub fn hierarchy_mut(&mut self, name: &str) -> Option<&mut Hierarchy> {
        self.hierarchies.get_mut(name)
    }

    /// Adds a hierarchy and returns the one it replaced. An aspect map cannot be replaced and
    /// cannot replace another hierarchy; the catalog's existing map must be used.
    pub fn add_hierarchy(&mut self, h: Hierarchy) -> Result<Option<Hierarchy>> {
        if let Some(old) = self.hierarchies.get(h.name()) {
            if old.hierarchy_type() == HierarchyType::AspectMap
                || h.hierarchy_type() == HierarchyType::AspectMap
            {
                return Err(CheapError::conflict(format!(
                    "catalog {} already has a hierarchy named '{}'; aspect maps cannot be replaced",
                    self.id,
                    h.name()
                )));
            }
        }
        Ok(self.hierarchies.insert(h.name().to_owned(), h))
    }

    /// Removes a hierarchy (aspect maps included, with their aspects).
    pub fn remove_hierarchy(&mut self, name: &str) -> Option<Hierarchy> {
        self.hierarchies.shift_remove(name)
    }

    /// The aspect map holding aspects of `def`, created when missing. An existing map must have
    /// an identical def; a different def under the same name is a conflict.
    pub fn extend(&mut self, def: impl Into<Arc<AspectDef>>) -> Result<&mut AspectMap> {
        let def = def.into();
        let name = def.name().to_owned();
        match self.hierarchies.get(&name) {
            Some(h) => match h.as_aspect_map() {
                Some(m) if *m.def() == def => {}
                Some(_) => {
                    return Err(CheapError::conflict(format!(
                        "catalog {} already holds a different aspect def named '{name}'",
                        self.id
                    )))
                }
                None => {
                    return Err(CheapError::conflict(format!(
                        "catalog {} has a non-aspect-map hierarchy named '{name}'",
                        self.id
                    )))
                }
            },
            None => {
                self.hierarchies
                    .insert(name.clone(), Hierarchy::aspect_map(def));
            }
        }
        self.aspects_mut(&name).ok_or_else(|| {
            CheapError::NotFound(NotFound::Hierarchy {
                catalog: None,
                name: name.to_owned(),
            })
        })
    }

    /// The aspect map of the def named `name`.
    pub fn aspects(&self, name: &str) -> Option<&AspectMap> {
        self.hierarchies
            .get(name)
            .and_then(Hierarchy::as_aspect_map)
    }

    /// The aspect map of the def named `name`, mutably.
    pub fn aspects_mut(&mut self, name: &str) -> Option<&mut AspectMap> {
        self.hierarchies
            .get_mut(name)
            .and_then(Hierarchy::as_aspect_map_mut)
    }

    /// The aspect defs of the catalog's aspect maps, in hierarchy order.
    pub fn aspect_defs(&self) -> impl Iterator<Item = &Arc<AspectDef>> + '_ {
        self.hierarchies
            .values()
            .filter_map(|h| h.as_aspect_map().map(AspectMap::def))
    }

    /// One aspect def by name.
    pub fn aspect_def(&self, name: &str) -> Option<&Arc<AspectDef>> {
        self.aspects(name).map(AspectMap::def)
    }

    /// The informational def describing this catalog's current contents.
    pub fn catalog_def(&self) -> CatalogDef {
        CatalogDef::from_parts(
            self.aspect_defs().cloned(),
            self.hierarchies
                .values()
                .filter(|h| h.hierarchy_type() != HierarchyType::AspectMap)
                .map(Hierarchy::def),
        )
    }

    fn create(&mut self, name: &str, content: HierarchyContent) -> Result<&mut Hierarchy> {
        if self.hierarchies.contains_key(name) {
            return Err(CheapError::conflict(format!(
                "catalog {} already has a hierarchy named '{name}'",
                self.id
            )));
        }
        let h = Hierarchy::with_content(name, content)?;
        Ok(self.hierarchies.entry(name.to_owned()).or_insert(h))
    }
}

macro_rules! creators {
    ($($fn_name:ident, $variant:ident, $t:ty, $acc:ident);*) => {
        impl Catalog {
            $(
                #[doc = concat!("Creates an empty `", stringify!($t), "` hierarchy; the name must be free.")]
                pub fn $fn_name(&mut self, name: &str) -> Result<&mut $t> {
                    let h = self.create(name, HierarchyContent::$variant(<$t>::default()))?;
                    h.$acc().ok_or_else(|| CheapError::invalid("hierarchy kind mismatch"))
                }
            )*
        }
    };
}

creators! {
    create_entity_list, List, EntityList, as_list_mut;
    create_entity_set, Set, EntitySet, as_set_mut;
    create_entity_directory, Directory, EntityDirectory, as_directory_mut;
    create_entity_tree, Tree, EntityTree, as_tree_mut
}

impl Default for Catalog {
    fn default() -> Self {
        Catalog::new()
    }
}
