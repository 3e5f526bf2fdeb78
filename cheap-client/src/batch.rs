//! Building a batch of writes to one catalog; `send` is on each client's own `BatchCall`.

use indexmap::IndexMap;
use serde_json::Value;
use uuid::Uuid;

use crate::error::{ClientError, Result};
use cheap_core::json::ToJson;
use cheap_core::rest::{AspectInput, BatchOperation, BatchRequest, BatchResponse};
use cheap_core::{Aspect, AspectDef, HierarchyDef};

/// A batch being built for `client` (a [`crate::CheapClient`] or a
/// [`crate::blocking::CheapClient`]): operations are added in order, then `send` applies them
/// all or none.
#[derive(Debug)]
#[must_use = "a batch does nothing until it is sent"]
pub struct BatchCall<'a, C> {
    client: &'a C,
    catalog: Uuid,
    request: BatchRequest,
}

/// The REST input of a model aspect: its properties as cheap-json.
pub(crate) fn aspect_input(a: &Aspect) -> AspectInput {
    let properties = match a.to_json_value() {
        Value::Object(m) => m,
        _ => serde_json::Map::new(),
    };
    AspectInput {
        entity_id: a.entity_id(),
        properties,
    }
}

impl<'a, C> BatchCall<'a, C> {
    pub(crate) fn new(client: &'a C, catalog: Uuid) -> Self {
        BatchCall {
            client,
            catalog,
            request: BatchRequest::default(),
        }
    }

    /// Apply only if the catalog is still at `version` (else [`ClientError::PreconditionFailed`]).
    pub fn if_match(mut self, version: i64) -> Self {
        self.request.expected_version = Some(version);
        self
    }

    /// Adds any operation.
    pub fn op(mut self, op: BatchOperation) -> Self {
        self.request.operations.push(op);
        self
    }

    /// Whole aspects of `aspect_def`, replacing what is stored.
    pub fn upsert_aspects(self, aspect_def: &str, aspects: &[Aspect]) -> Self {
        self.op(BatchOperation::UpsertAspects {
            aspect_def: aspect_def.to_owned(),
            aspects: aspects.iter().map(aspect_input).collect(),
        })
    }

    /// Properties over the stored aspects of `aspect_def`.
    pub fn merge_aspects(self, aspect_def: &str, aspects: Vec<AspectInput>) -> Self {
        self.op(BatchOperation::MergeAspects {
            aspect_def: aspect_def.to_owned(),
            aspects,
        })
    }

    /// Deletes the aspects of `ids`.
    pub fn delete_aspects(self, aspect_def: &str, ids: &[Uuid]) -> Self {
        self.op(BatchOperation::DeleteAspects {
            aspect_def: aspect_def.to_owned(),
            entity_ids: ids.to_vec(),
        })
    }

    /// Appends to a list or adds to a set.
    pub fn add_entities(self, hierarchy: &str, ids: &[Uuid]) -> Self {
        self.op(BatchOperation::AddEntities {
            hierarchy: hierarchy.to_owned(),
            entity_ids: ids.to_vec(),
        })
    }

    /// Inserts into a list at `index`.
    pub fn insert_entities(self, hierarchy: &str, index: u64, ids: &[Uuid]) -> Self {
        self.op(BatchOperation::InsertEntities {
            hierarchy: hierarchy.to_owned(),
            index,
            entity_ids: ids.to_vec(),
        })
    }

    /// Removes from a list (one occurrence per id given) or a set.
    pub fn remove_entities(self, hierarchy: &str, ids: &[Uuid]) -> Self {
        self.op(BatchOperation::RemoveEntities {
            hierarchy: hierarchy.to_owned(),
            entity_ids: ids.to_vec(),
            every_occurrence: false,
        })
    }

    /// Sets directory entries.
    pub fn put_directory_entries(self, hierarchy: &str, entries: &[(String, Uuid)]) -> Self {
        self.op(BatchOperation::PutDirectoryEntries {
            hierarchy: hierarchy.to_owned(),
            entries: entries.iter().cloned().collect::<IndexMap<_, _>>(),
        })
    }

    /// Removes directory entries by key.
    pub fn remove_directory_keys(self, hierarchy: &str, keys: &[String]) -> Self {
        self.op(BatchOperation::RemoveDirectoryKeys {
            hierarchy: hierarchy.to_owned(),
            keys: keys.to_vec(),
        })
    }

    /// Adds tree nodes under `parent_path`.
    pub fn add_tree_nodes(
        self,
        hierarchy: &str,
        parent_path: &str,
        nodes: &[(String, Option<Uuid>)],
    ) -> Self {
        self.op(BatchOperation::AddTreeNodes {
            hierarchy: hierarchy.to_owned(),
            parent_path: Some(parent_path.to_owned()),
            nodes: nodes.iter().cloned().collect(),
        })
    }

    /// Removes the subtrees at `paths`.
    pub fn remove_tree_nodes(self, hierarchy: &str, paths: &[String]) -> Self {
        self.op(BatchOperation::RemoveTreeNodes {
            hierarchy: hierarchy.to_owned(),
            paths: paths.to_vec(),
        })
    }

    /// Adds an aspect def.
    pub fn put_aspect_def(self, def: &AspectDef) -> Self {
        self.op(BatchOperation::PutAspectDef {
            definition: def.to_json_value(),
        })
    }

    /// Deletes an aspect def with its aspects.
    pub fn delete_aspect_def(self, name: &str) -> Self {
        self.op(BatchOperation::DeleteAspectDef {
            name: name.to_owned(),
        })
    }

    /// Creates a hierarchy.
    pub fn create_hierarchy(self, def: &HierarchyDef) -> Self {
        self.op(BatchOperation::CreateHierarchy {
            hierarchy_def: serde_json::json!({
                "name": def.name,
                "type": def.hierarchy_type.code(),
            }),
        })
    }

    /// Deletes a hierarchy.
    pub fn delete_hierarchy(self, name: &str) -> Self {
        self.op(BatchOperation::DeleteHierarchy {
            name: name.to_owned(),
        })
    }

    /// The request as built so far.
    pub fn request(&self) -> &BatchRequest {
        &self.request
    }

    fn parts(self) -> Result<(&'a C, Uuid, BatchRequest)> {
        if self.request.operations.is_empty() {
            return Err(ClientError::Invalid(
                "a batch needs at least one operation".into(),
            ));
        }
        Ok((self.client, self.catalog, self.request))
    }
}

impl BatchCall<'_, crate::CheapClient> {
    /// Sends the batch: one result per operation, or the failing operation's error inside
    /// [`ClientError::InBatch`], with nothing applied.
    pub async fn send(self) -> Result<BatchResponse> {
        let (client, catalog, request) = self.parts()?;
        client.send_batch(catalog, &request).await
    }
}

impl BatchCall<'_, crate::blocking::CheapClient> {
    /// Sends the batch (see the async [`BatchCall::send`]).
    pub fn send(self) -> Result<BatchResponse> {
        let (client, catalog, request) = self.parts()?;
        client.send_batch(catalog, request)
    }
}
