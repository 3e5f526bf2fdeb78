//! Plain data returned by [`CheapDao`](super::CheapDao) methods.

use uuid::Uuid;

use crate::model::{Catalog, CatalogSpecies, Hierarchy, HierarchyType};

/// A catalog's metadata, without contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogInfo {
    /// Catalog id.
    pub id: Uuid,
    /// Species.
    pub species: CatalogSpecies,
    /// Optional URI.
    pub uri: Option<String>,
    /// Upstream catalog id.
    pub upstream: Option<Uuid>,
    /// Current version.
    pub version: i64,
}

impl From<&Catalog> for CatalogInfo {
    fn from(c: &Catalog) -> Self {
        CatalogInfo {
            id: c.id(),
            species: c.species(),
            uri: c.uri.clone(),
            upstream: c.upstream(),
            version: c.version,
        }
    }
}

/// A hierarchy's name, kind, version and size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HierarchyInfo {
    /// Name.
    pub name: String,
    /// Kind.
    pub hierarchy_type: HierarchyType,
    /// Version.
    pub version: i64,
    /// Entries (tree: nodes).
    pub size: u64,
}

impl From<&Hierarchy> for HierarchyInfo {
    fn from(h: &Hierarchy) -> Self {
        HierarchyInfo {
            name: h.name().to_owned(),
            hierarchy_type: h.hierarchy_type(),
            version: h.version,
            size: h.len() as u64,
        }
    }
}

/// One page of a hierarchy: a hierarchy holding only the page's entries, where the page starts,
/// and how many entries the whole hierarchy has.
#[derive(Debug, Clone, PartialEq)]
pub struct HierarchySlice {
    /// The page's entries, as a hierarchy of the same name, kind and version.
    pub hierarchy: Hierarchy,
    /// Offset of the first entry.
    pub offset: u64,
    /// Entries in the whole hierarchy.
    pub total: u64,
}

/// The result of upserting one aspect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpsertOutcome {
    /// The aspect's entity.
    pub entity_id: Uuid,
    /// True if the entity had no aspect of this def before.
    pub created: bool,
}

/// A change to one entity's aspect: the properties it sets (a `None` value sets null); the
/// others keep what is stored, or start from the def's defaults for a new aspect.
#[derive(Debug, Clone, PartialEq)]
pub struct AspectPatch {
    /// The aspect's entity.
    pub entity_id: Uuid,
    /// Property name and new value, in order.
    pub values: Vec<(String, Option<crate::PropertyValue>)>,
}

impl AspectPatch {
    /// The patched aspect: `patch`'s values over `base` (or over a new aspect of `def`),
    /// checked to be complete; over a stored aspect, read-only values may be repeated but not
    /// changed.
    pub fn apply(
        &self,
        def: &std::sync::Arc<crate::AspectDef>,
        base: Option<&crate::Aspect>,
    ) -> crate::Result<crate::Aspect> {
        let Some(base) = base else {
            // A new aspect: read-only properties take their first value.
            let mut aspect = crate::Aspect::new(def.clone(), self.entity_id);
            for (name, value) in &self.values {
                aspect.set_initial(name, value.clone())?;
            }
            aspect.check_complete()?;
            return Ok(aspect);
        };
        let mut aspect = base.clone();
        for (name, value) in &self.values {
            aspect.set_initial(name, value.clone())?;
        }
        aspect.check_complete()?;
        base.check_read_only_kept(&aspect)?;
        Ok(aspect)
    }
}

/// Whether a store can serve requests, with what it knows about itself (for a Galera node: its
/// cluster state).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Health {
    /// True when the store can serve reads and writes.
    pub up: bool,
    /// Named facts, in order (for example `wsrep_local_state_comment = Synced`).
    pub details: Vec<(String, String)>,
}

impl Health {
    /// Up, with nothing more to say.
    pub fn up() -> Self {
        Health {
            up: true,
            details: Vec::new(),
        }
    }

    /// Up or not, with details.
    pub fn new(up: bool, details: Vec<(String, String)>) -> Self {
        Health { up, details }
    }
}

/// A background task as a store keeps it, so that any server over the store can report it and
/// a task whose server died is seen as interrupted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskRecord {
    /// The task's state, as `GET /api/tasks/{id}` answers it.
    pub status: crate::rest::TaskStatus,
    /// When its server last said it was alive (Unix milliseconds).
    pub heartbeat_ms: i64,
}

/// What changed in a catalog after some version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Changes {
    /// The catalog's current version.
    pub version: i64,
    /// Hierarchies changed after the version asked for.
    pub changed: Vec<HierarchyInfo>,
    /// Names of hierarchies removed after the version asked for (and not re-created).
    pub removed: Vec<String>,
}

/// Which aspects of one aspect map changed after some version.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AspectChanges {
    /// The catalog's current version.
    pub version: i64,
    /// True when the map was rewritten as a whole after the version asked for (a save, or the
    /// def re-created): `changed` and `removed` do not cover that, and a replica must fetch the
    /// whole map.
    pub rewritten: bool,
    /// Entities whose aspect was written after the version, in no particular order.
    pub changed: Vec<Uuid>,
    /// Entities whose aspect was deleted after the version.
    pub removed: Vec<Uuid>,
}

/// Where a replica catalog stands against its upstream, stored with the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncMark {
    /// The upstream catalog's version the replica last matched.
    pub upstream_version: i64,
    /// The replica's own version right after that sync (changes after it are local ones).
    pub local_version: i64,
    /// When the sync happened, in milliseconds since the Unix epoch.
    pub synced_at_ms: i64,
}
