//! Atomic batches: several granular writes to one catalog, all or none, with one version bump
//! and an optional expected version (compare-and-set).

use uuid::Uuid;

use super::{AspectPatch, UpsertOutcome};
use crate::error::Result;
use crate::limits::{self, args};
use crate::model::{Aspect, AspectDef, HierarchyDef};

/// One write of a [`Batch`]; each does what the [`CheapDao`](super::CheapDao) method of the
/// same name does.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum BatchOp {
    /// [`upsert_aspects`](super::CheapDao::upsert_aspects).
    UpsertAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// Whole aspects.
        aspects: Vec<Aspect>,
    },
    /// [`merge_aspects`](super::CheapDao::merge_aspects); in a batch, a patch that does not
    /// make a valid aspect fails the batch.
    MergeAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// Values over what is stored.
        patches: Vec<AspectPatch>,
    },
    /// [`delete_aspects`](super::CheapDao::delete_aspects).
    DeleteAspects {
        /// The aspect def's name.
        aspect_def: String,
        /// Whose aspects go.
        entity_ids: Vec<Uuid>,
    },
    /// [`add_entities`](super::CheapDao::add_entities).
    AddEntities {
        /// An entity list or set.
        hierarchy: String,
        /// The entities.
        entity_ids: Vec<Uuid>,
    },
    /// [`insert_entities`](super::CheapDao::insert_entities).
    InsertEntities {
        /// An entity list.
        hierarchy: String,
        /// Where they go (0..=len).
        index: u64,
        /// The entities.
        entity_ids: Vec<Uuid>,
    },
    /// Removes from a list or a set: from a list one occurrence per id given (the first), as
    /// the reference's REST API does, or with `every_occurrence` every one, as
    /// [`remove_entities`](super::CheapDao::remove_entities) does.
    RemoveEntities {
        /// An entity list or set.
        hierarchy: String,
        /// The entities.
        entity_ids: Vec<Uuid>,
        /// Remove every occurrence of each id from a list, not one per id given.
        every_occurrence: bool,
    },
    /// [`put_directory_entries`](super::CheapDao::put_directory_entries).
    PutDirectoryEntries {
        /// An entity directory.
        hierarchy: String,
        /// Key and entity.
        entries: Vec<(String, Uuid)>,
    },
    /// [`remove_directory_keys`](super::CheapDao::remove_directory_keys).
    RemoveDirectoryKeys {
        /// An entity directory.
        hierarchy: String,
        /// The keys.
        keys: Vec<String>,
    },
    /// [`remove_directory_entities`](super::CheapDao::remove_directory_entities).
    RemoveDirectoryEntities {
        /// An entity directory.
        hierarchy: String,
        /// The entities whose entries go.
        entity_ids: Vec<Uuid>,
    },
    /// [`add_tree_nodes`](super::CheapDao::add_tree_nodes).
    AddTreeNodes {
        /// An entity tree.
        hierarchy: String,
        /// The parent's path ("/" is the root).
        parent_path: String,
        /// Child name and entity.
        nodes: Vec<(String, Option<Uuid>)>,
    },
    /// [`remove_tree_nodes`](super::CheapDao::remove_tree_nodes).
    RemoveTreeNodes {
        /// An entity tree.
        hierarchy: String,
        /// The subtrees' paths.
        paths: Vec<String>,
    },
    /// [`put_aspect_def`](super::CheapDao::put_aspect_def).
    PutAspectDef {
        /// The def.
        def: AspectDef,
    },
    /// [`delete_aspect_def`](super::CheapDao::delete_aspect_def).
    DeleteAspectDef {
        /// The def's name.
        name: String,
    },
    /// [`create_hierarchy`](super::CheapDao::create_hierarchy).
    CreateHierarchy {
        /// The new hierarchy.
        def: HierarchyDef,
    },
    /// [`replace_hierarchy`](super::CheapDao::replace_hierarchy).
    ReplaceHierarchy {
        /// The hierarchy, empty.
        def: HierarchyDef,
    },
    /// [`delete_hierarchy`](super::CheapDao::delete_hierarchy).
    DeleteHierarchy {
        /// The hierarchy's name.
        name: String,
    },
}

impl BatchOp {
    /// Checks the operation's arguments against [`limits`](crate::limits), as the granular
    /// method of the same name does before it touches the store.
    pub fn check(&self) -> Result<()> {
        match self {
            BatchOp::UpsertAspects {
                aspect_def,
                aspects,
            } => {
                args::lookup("aspect def name", aspect_def)?;
                args::aspects(aspects)
            }
            BatchOp::MergeAspects {
                aspect_def,
                patches,
            } => {
                args::lookup("aspect def name", aspect_def)?;
                args::patches(aspect_def, patches)
            }
            BatchOp::DeleteAspects { aspect_def, .. } => {
                args::lookup("aspect def name", aspect_def)
            }
            BatchOp::AddEntities { hierarchy, .. }
            | BatchOp::InsertEntities { hierarchy, .. }
            | BatchOp::RemoveEntities { hierarchy, .. }
            | BatchOp::RemoveDirectoryEntities { hierarchy, .. } => {
                args::lookup("hierarchy name", hierarchy)
            }
            BatchOp::PutDirectoryEntries { hierarchy, entries } => {
                args::lookup("hierarchy name", hierarchy)?;
                args::directory_entries(entries)
            }
            BatchOp::RemoveDirectoryKeys { hierarchy, keys } => {
                args::lookup("hierarchy name", hierarchy)?;
                args::lookups("directory key", keys)
            }
            BatchOp::AddTreeNodes {
                hierarchy,
                parent_path,
                nodes,
            } => {
                args::lookup("hierarchy name", hierarchy)?;
                args::tree_nodes(parent_path, nodes)
            }
            BatchOp::RemoveTreeNodes { hierarchy, paths } => {
                args::lookup("hierarchy name", hierarchy)?;
                args::lookups("tree path", paths)
            }
            BatchOp::PutAspectDef { def } => limits::check_aspect_def(def),
            BatchOp::DeleteAspectDef { name } => args::lookup("aspect def name", name),
            BatchOp::CreateHierarchy { def } | BatchOp::ReplaceHierarchy { def } => {
                limits::check_name("hierarchy name", &def.name)
            }
            BatchOp::DeleteHierarchy { name } => args::lookup("hierarchy name", name),
        }
    }

    /// The operation's name in the REST API's batch body (`"upsertAspects"`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            BatchOp::UpsertAspects { .. } => "upsertAspects",
            BatchOp::MergeAspects { .. } => "mergeAspects",
            BatchOp::DeleteAspects { .. } => "deleteAspects",
            BatchOp::AddEntities { .. } => "addEntities",
            BatchOp::InsertEntities { .. } => "insertEntities",
            BatchOp::RemoveEntities { .. } => "removeEntities",
            BatchOp::PutDirectoryEntries { .. } => "putDirectoryEntries",
            BatchOp::RemoveDirectoryKeys { .. } => "removeDirectoryKeys",
            BatchOp::RemoveDirectoryEntities { .. } => "removeDirectoryEntities",
            BatchOp::AddTreeNodes { .. } => "addTreeNodes",
            BatchOp::RemoveTreeNodes { .. } => "removeTreeNodes",
            BatchOp::PutAspectDef { .. } => "putAspectDef",
            BatchOp::DeleteAspectDef { .. } => "deleteAspectDef",
            BatchOp::CreateHierarchy { .. } => "createHierarchy",
            BatchOp::ReplaceHierarchy { .. } => "replaceHierarchy",
            BatchOp::DeleteHierarchy { .. } => "deleteHierarchy",
        }
    }
}

/// Writes to one catalog applied in one transaction with one version bump: all of them, or,
/// when one fails ([`CheapError::InBatch`](crate::CheapError::InBatch)) or the catalog is not
/// at `expected_version` ([`CheapError::PreconditionFailed`](crate::CheapError::PreconditionFailed)),
/// none.
#[derive(Debug, Clone, PartialEq, Default)]
#[non_exhaustive]
pub struct Batch {
    /// Apply only if the catalog is at this version.
    pub expected_version: Option<i64>,
    /// The writes, in order; each sees what the ones before it wrote.
    pub operations: Vec<BatchOp>,
}

impl Batch {
    /// An empty batch with no condition.
    pub fn new() -> Self {
        Batch::default()
    }

    /// Applies only if the catalog is at `version`.
    pub fn if_version(mut self, version: i64) -> Self {
        self.expected_version = Some(version);
        self
    }

    /// Adds an operation.
    pub fn op(mut self, op: BatchOp) -> Self {
        self.operations.push(op);
        self
    }

    /// Adds an operation in place.
    pub fn push(&mut self, op: BatchOp) {
        self.operations.push(op);
    }
}

/// What one operation of a batch did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BatchResult {
    /// Upserted or merged aspects, one outcome each.
    Aspects(Vec<UpsertOutcome>),
    /// How many entries, nodes or aspects were added or removed.
    Count(u64),
    /// Whether it changed something: a def that was new, a def or hierarchy that existed.
    Changed(bool),
    /// Done (a hierarchy created).
    Done,
}

/// What an applied batch did: the catalog's version after it and one result per operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchOutcome {
    /// The catalog's version after the batch (unchanged when the batch changed nothing).
    pub version: i64,
    /// One result per operation, in order.
    pub results: Vec<BatchResult>,
}
