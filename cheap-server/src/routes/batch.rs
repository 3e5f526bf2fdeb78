//! `POST /api/catalog/{id}/batch`: several writes, all or none, with one version bump; and the
//! conditional writes (`If-Match`) of the other routes, which run as batches of one.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

use super::aspect::{input_patch, input_whole};
use crate::error::{ApiError, ApiResult};
use crate::etag::{self, IfMatch};
use crate::extract::{uuid, Body, Params};
use crate::AppState;
use cheap_core::dao::{Batch, BatchOp, BatchOutcome, BatchResult};
use cheap_core::json;
use cheap_core::rest::{
    AspectInput, BatchAspectResult, BatchOperation, BatchOperationResult, BatchRequest,
    BatchResponse,
};
use cheap_core::{AspectDef, CheapError};

/// Applies the operations in order in one transaction: 200 with one result per operation, or
/// the failing operation's 4xx (its index in the body's `operation`) with nothing applied.
/// `If-Match` or `expectedVersion` make it conditional: 412 when the catalog moved.
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/batch", request_body = BatchRequest,
    responses((status = 200, body = BatchResponse), (status = 400), (status = 404), (status = 409),
              (status = 412, description = "The catalog is not at the expected version; nothing was applied")))]
pub(crate) async fn apply(
    State(state): State<AppState>,
    Params(id): Params<String>,
    if_match: IfMatch,
    Body(req): Body<BatchRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let expected = match (if_match.expected(), req.expected_version) {
        (Some(a), Some(b)) if a != b => {
            return Err(ApiError::bad_request(
                "If-Match and expectedVersion name different versions",
            ))
        }
        (a, b) => a.or(b),
    };
    let max = state.config.max_upsert_batch;
    if req.operations.len() > max {
        return Err(ApiError::bad_request(format!(
            "Batch of {} operations exceeds maximum of {max}",
            req.operations.len()
        )));
    }
    let mut batch = Batch::new();
    batch.expected_version = expected;
    let mut defs = Defs::new(&state, id);
    for (index, op) in req.operations.into_iter().enumerate() {
        let op = to_op(&mut defs, op).await.map_err(|e| ApiError {
            message: format!("Batch operation {index} failed: {}", e.message),
            operation: Some(index),
            ..e
        })?;
        batch.push(op);
    }
    let outcome = state.dao.apply_batch(id, &batch).await?;
    let mut response = Json(response_of(id, &batch, &outcome)).into_response();
    etag::set(&mut response, outcome.version);
    Ok(response)
}

/// Runs one write as a batch on the condition `if_match` sets: the handlers' path for writes
/// made with `If-Match`. Returns its result and the catalog's version after it.
pub(crate) async fn conditional(
    state: &AppState,
    catalog: Uuid,
    if_match: IfMatch,
    op: BatchOp,
) -> ApiResult<(BatchResult, i64)> {
    let mut batch = Batch::new().op(op);
    batch.expected_version = if_match.expected();
    let mut outcome = state
        .dao
        .apply_batch(catalog, &batch)
        .await
        .map_err(unwrap_single)?;
    let result = outcome
        .results
        .pop()
        .ok_or_else(|| ApiError::from(CheapError::invalid("the store returned no result")))?;
    Ok((result, outcome.version))
}

/// [`conditional`] for a write that counts what it changed.
pub(crate) async fn conditional_count(
    state: &AppState,
    catalog: Uuid,
    if_match: IfMatch,
    op: BatchOp,
) -> ApiResult<(u64, Option<i64>)> {
    let (r, v) = conditional(state, catalog, if_match, op).await?;
    let n = match r {
        BatchResult::Count(n) => n,
        _ => 0,
    };
    Ok((n, Some(v)))
}

/// The response, with the catalog's new version as its `ETag` when the write was conditional.
pub(crate) fn tagged(body: impl IntoResponse, version: Option<i64>) -> Response {
    let mut r = body.into_response();
    if let Some(v) = version {
        etag::set(&mut r, v);
    }
    r
}

/// A batch of one (or of one request's steps) failing is that request failing: its error,
/// without the index.
fn unwrap_single(e: CheapError) -> CheapError {
    match e {
        CheapError::InBatch { source, .. } => *source,
        e => e,
    }
}

/// The aspect defs the batch's aspects are read against: those put by earlier operations of
/// the batch, else the stored ones (each fetched once).
struct Defs<'a> {
    state: &'a AppState,
    catalog: Uuid,
    known: HashMap<String, Arc<AspectDef>>,
}

impl<'a> Defs<'a> {
    fn new(state: &'a AppState, catalog: Uuid) -> Self {
        Defs {
            state,
            catalog,
            known: HashMap::new(),
        }
    }

    async fn get(&mut self, name: &str) -> ApiResult<Arc<AspectDef>> {
        if let Some(d) = self.known.get(name) {
            return Ok(d.clone());
        }
        let d = Arc::new(self.state.dao.get_aspect_def(self.catalog, name).await?);
        self.known.insert(name.to_owned(), d.clone());
        Ok(d)
    }
}

async fn to_op(defs: &mut Defs<'_>, op: BatchOperation) -> ApiResult<BatchOp> {
    Ok(match op {
        BatchOperation::UpsertAspects {
            aspect_def,
            aspects,
        } => {
            let def = defs.get(&aspect_def).await?;
            let aspects = inputs(&aspects, |a| input_whole(&def, a))?;
            BatchOp::UpsertAspects {
                aspect_def,
                aspects,
            }
        }
        BatchOperation::MergeAspects {
            aspect_def,
            aspects,
        } => {
            let def = defs.get(&aspect_def).await?;
            let patches = inputs(&aspects, |a| input_patch(&def, a))?;
            BatchOp::MergeAspects {
                aspect_def,
                patches,
            }
        }
        BatchOperation::DeleteAspects {
            aspect_def,
            entity_ids,
        } => BatchOp::DeleteAspects {
            aspect_def,
            entity_ids,
        },
        BatchOperation::AddEntities {
            hierarchy,
            entity_ids,
        } => BatchOp::AddEntities {
            hierarchy,
            entity_ids,
        },
        BatchOperation::InsertEntities {
            hierarchy,
            index,
            entity_ids,
        } => BatchOp::InsertEntities {
            hierarchy,
            index,
            entity_ids,
        },
        BatchOperation::RemoveEntities {
            hierarchy,
            entity_ids,
            every_occurrence,
        } => BatchOp::RemoveEntities {
            hierarchy,
            entity_ids,
            every_occurrence,
        },
        BatchOperation::PutDirectoryEntries { hierarchy, entries } => {
            BatchOp::PutDirectoryEntries {
                hierarchy,
                entries: entries.into_iter().collect(),
            }
        }
        BatchOperation::RemoveDirectoryKeys { hierarchy, keys } => {
            BatchOp::RemoveDirectoryKeys { hierarchy, keys }
        }
        BatchOperation::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        } => BatchOp::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        },
        BatchOperation::AddTreeNodes {
            hierarchy,
            parent_path,
            nodes,
        } => BatchOp::AddTreeNodes {
            hierarchy,
            parent_path: parent_path.unwrap_or_else(|| "/".into()),
            nodes: nodes.into_iter().collect(),
        },
        BatchOperation::RemoveTreeNodes { hierarchy, paths } => {
            BatchOp::RemoveTreeNodes { hierarchy, paths }
        }
        BatchOperation::PutAspectDef { definition } => {
            let def = json::read::aspect_def_from_json(&definition)
                .map_err(|e| ApiError::bad_request(format!("Invalid aspect def: {e}")))?;
            defs.known
                .insert(def.name().to_owned(), Arc::new(def.clone()));
            BatchOp::PutAspectDef { def }
        }
        BatchOperation::DeleteAspectDef { name } => {
            defs.known.remove(&name);
            BatchOp::DeleteAspectDef { name }
        }
        BatchOperation::CreateHierarchy { hierarchy_def } => {
            let def = json::read::hierarchy_def_from_json(&hierarchy_def)
                .map_err(|e| ApiError::bad_request(format!("Invalid hierarchyDef: {e}")))?;
            BatchOp::CreateHierarchy { def }
        }
        BatchOperation::ReplaceHierarchy { hierarchy_def } => {
            let def = json::read::hierarchy_def_from_json(&hierarchy_def)
                .map_err(|e| ApiError::bad_request(format!("Invalid hierarchyDef: {e}")))?;
            BatchOp::ReplaceHierarchy { def }
        }
        BatchOperation::DeleteHierarchy { name } => BatchOp::DeleteHierarchy { name },
        other => {
            return Err(ApiError::bad_request(format!(
                "Unsupported batch operation: {other:?}"
            )))
        }
    })
}

/// Every input converted, or the first one's error as a 400 naming its entity.
fn inputs<T>(
    items: &[AspectInput],
    f: impl Fn(&AspectInput) -> Result<T, String>,
) -> ApiResult<Vec<T>> {
    items
        .iter()
        .map(|a| {
            f(a).map_err(|m| {
                ApiError::bad_request(format!("Aspect of entity {}: {m}", a.entity_id))
            })
        })
        .collect()
}

fn response_of(catalog: Uuid, batch: &Batch, outcome: &BatchOutcome) -> BatchResponse {
    BatchResponse {
        catalog_id: catalog,
        version: outcome.version,
        results: batch
            .operations
            .iter()
            .zip(&outcome.results)
            .map(|(op, r)| result_of(op.name(), r))
            .collect(),
    }
}

pub(crate) fn result_of(op: &str, r: &BatchResult) -> BatchOperationResult {
    let mut out = BatchOperationResult {
        op: op.to_owned(),
        ..Default::default()
    };
    match r {
        BatchResult::Aspects(list) => {
            out.aspects = Some(
                list.iter()
                    .map(|o| BatchAspectResult {
                        entity_id: o.entity_id,
                        created: o.created,
                    })
                    .collect(),
            )
        }
        BatchResult::Count(n) => out.count = Some(*n),
        BatchResult::Changed(c) => out.changed = Some(*c),
        _ => {}
    }
    out
}
