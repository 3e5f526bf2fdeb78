//! Extensions that let a client act as a full `CheapDao` (the REST client's `RemoteDao`) and
//! replicas sync incrementally: catalog info with its version, hierarchy listings with versions
//! and sizes, change feeds, aspect deletion and hierarchy pages as cheap-json.

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::etag::IfMatch;
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use cheap_core::dao::SyncMark;
use cheap_core::dao::{HierarchyInfo, PageCursor};
use cheap_core::json;
use cheap_core::rest::{
    AspectChangesResponse, CatalogInfoResponse, ChangesResponse, EntityIdsRequest,
    HierarchyInfoResponse, HierarchySliceResponse, OperationResponse, SyncMarkBody,
};

/// `?since=N`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SinceQuery {
    /// The version the caller has (default 0: everything).
    since: Option<i64>,
}

/// `?offset=&limit=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct SliceQuery {
    /// First entry (default 0); not with `after`.
    offset: Option<u64>,
    /// Entries at most (default all).
    limit: Option<u64>,
    /// Read by cursor: empty for the first page, then the `nextCursor` of the page before
    /// (412 when the hierarchy's entries moved since: read again from the start).
    after: Option<String>,
}

fn info(h: HierarchyInfo) -> HierarchyInfoResponse {
    HierarchyInfoResponse {
        name: h.name,
        hierarchy_type: h.hierarchy_type.code().to_owned(),
        version: h.version,
        size: h.size,
    }
}

/// A catalog's metadata and version.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/info",
    responses((status = 200, body = CatalogInfoResponse), (status = 400), (status = 404)))]
pub(crate) async fn catalog_info(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<CatalogInfoResponse>> {
    let id = uuid(&id, "catalog id")?;
    let i = state.dao.catalog_info(id).await?;
    Ok(Json(CatalogInfoResponse {
        catalog_id: i.id,
        species: i.species.as_upper().to_owned(),
        uri: i.uri,
        upstream: i.upstream,
        version: i.version,
    }))
}

/// The catalog's hierarchies in order, with kind, version and size.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/hierarchies",
    responses((status = 200, body = Vec<HierarchyInfoResponse>), (status = 400), (status = 404)))]
pub(crate) async fn list_hierarchies(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Vec<HierarchyInfoResponse>>> {
    let id = uuid(&id, "catalog id")?;
    let list = state.dao.list_hierarchies(id).await?;
    Ok(Json(list.into_iter().map(info).collect()))
}

/// What changed after version `since`: hierarchies changed and removed.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/changes", params(SinceQuery),
    responses((status = 200, body = ChangesResponse), (status = 400), (status = 404)))]
pub(crate) async fn changes(
    State(state): State<AppState>,
    Params(id): Params<String>,
    Query(q): Query<SinceQuery>,
) -> ApiResult<Json<ChangesResponse>> {
    let id = uuid(&id, "catalog id")?;
    let c = state.dao.changes_since(id, q.since.unwrap_or(0)).await?;
    Ok(Json(ChangesResponse {
        version: c.version,
        changed: c.changed.into_iter().map(info).collect(),
        removed: c.removed,
    }))
}

/// Which aspects of one aspect map changed after version `since`.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/aspects/{aspect_def}/changes", params(SinceQuery),
    responses((status = 200, body = AspectChangesResponse), (status = 400), (status = 404)))]
pub(crate) async fn aspect_changes(
    State(state): State<AppState>,
    Params((id, def)): Params<(String, String)>,
    Query(q): Query<SinceQuery>,
) -> ApiResult<Json<AspectChangesResponse>> {
    let id = uuid(&id, "catalog id")?;
    let c = state
        .dao
        .aspect_changes_since(id, &def, q.since.unwrap_or(0))
        .await?;
    Ok(Json(AspectChangesResponse {
        version: c.version,
        rewritten: c.rewritten,
        changed: c.changed,
        removed: c.removed,
    }))
}

/// Deletes the aspects of the given entities from an aspect map; `count` is how many went.
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/aspects/{aspect_def}", request_body = EntityIdsRequest,
    responses((status = 200, body = OperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn delete_aspects(
    State(state): State<AppState>,
    Params((id, def)): Params<(String, String)>,
    if_match: IfMatch,
    Body(req): Body<EntityIdsRequest>,
) -> ApiResult<axum::response::Response> {
    let id = uuid(&id, "catalog id")?;
    if req.index.is_some() {
        return Err(ApiError::bad_request(
            "index has no meaning when deleting aspects",
        ));
    }
    let (n, version) = if if_match == IfMatch::Absent {
        (
            state.dao.delete_aspects(id, &def, &req.entity_ids).await?,
            None,
        )
    } else {
        let op = cheap_core::dao::BatchOp::DeleteAspects {
            aspect_def: def.clone(),
            entity_ids: req.entity_ids,
        };
        super::batch::conditional_count(&state, id, if_match, op).await?
    };
    let body = Json(OperationResponse {
        catalog_id: id,
        hierarchy_name: def.clone(),
        operation: "remove".into(),
        count: n,
        message: format!("Removed {n} aspect(s) from '{def}'"),
    });
    Ok(super::batch::tagged(body, version))
}

/// A page of any hierarchy as cheap-json, by offset and limit (a tree is always whole). The limit
/// is capped at the server's `max_slice_size` (10,000): a client pages on with `offset` until
/// it has `total` entries.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/hierarchies/{name}/slice", params(SliceQuery),
    responses((status = 200, body = HierarchySliceResponse), (status = 400), (status = 404)))]
pub(crate) async fn slice(
    State(state): State<AppState>,
    Params((id, name)): Params<(String, String)>,
    Query(q): Query<SliceQuery>,
) -> ApiResult<Json<HierarchySliceResponse>> {
    let id = uuid(&id, "catalog id")?;
    let limit = q
        .limit
        .unwrap_or(state.config.max_slice_size)
        .min(state.config.max_slice_size);
    let (h, offset, total, next) = match q.after.as_deref() {
        Some(after) => {
            if q.offset.is_some() {
                return Err(ApiError::bad_request(
                    "Give either offset or after, not both",
                ));
            }
            let cursor = (!after.is_empty())
                .then(|| after.parse::<PageCursor>())
                .transpose()?;
            let p = state
                .dao
                .read_hierarchy_page_after(id, &name, cursor.as_ref(), limit.max(1))
                .await?;
            (p.hierarchy, 0, p.total, p.next)
        }
        None => {
            let s = state
                .dao
                .read_hierarchy_page(id, &name, q.offset.unwrap_or(0), limit)
                .await?;
            (s.hierarchy, s.offset, s.total, None)
        }
    };
    let hierarchy = json::to_value(&json::write::hierarchy_to_json(&h));
    Ok(Json(HierarchySliceResponse {
        offset,
        total,
        version: h.version,
        hierarchy,
        next_cursor: next.map(|c| c.as_str().to_owned()),
    }))
}

/// The sync mark stored with a replica catalog (`null` before its first sync).
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/sync-mark",
    responses((status = 200, body = Option<SyncMarkBody>), (status = 400), (status = 404)))]
pub(crate) async fn get_sync_mark(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<Json<Option<SyncMarkBody>>> {
    let id = uuid(&id, "catalog id")?;
    let m = state.dao.sync_mark(id).await?;
    Ok(Json(m.map(|m| SyncMarkBody {
        upstream_version: m.upstream_version,
        local_version: m.local_version,
        synced_at_ms: m.synced_at_ms,
    })))
}

/// Stores a replica catalog's sync mark.
#[utoipa::path(put, path = "/api/catalog/{catalog_id}/sync-mark", request_body = SyncMarkBody,
    responses((status = 204), (status = 400), (status = 404)))]
pub(crate) async fn put_sync_mark(
    State(state): State<AppState>,
    Params(id): Params<String>,
    Body(m): Body<SyncMarkBody>,
) -> ApiResult<axum::http::StatusCode> {
    let id = uuid(&id, "catalog id")?;
    state
        .dao
        .set_sync_mark(
            id,
            SyncMark {
                upstream_version: m.upstream_version,
                local_version: m.local_version,
                synced_at_ms: m.synced_at_ms,
            },
        )
        .await?;
    Ok(axum::http::StatusCode::NO_CONTENT)
}
