//! `/api/catalog/{id}/aspect-defs`: create, list, read and delete aspect defs.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;
use uuid::Uuid;

use super::batch;
use super::{page_info, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::etag::IfMatch;
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use axum::response::Response;
use cheap_core::dao::{BatchOp, BatchResult};
use cheap_core::json::{self, ToJson};
use cheap_core::rest::FieldError;
use cheap_core::rest::{AspectDefListResponse, CreateAspectDefResponse};
use cheap_core::{AspectDef, NotFound};

/// Creates an aspect def (and its aspect map). 409 when the catalog already has a def of that
/// name or id, or another catalog stores a different def under the name.
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/aspect-defs", request_body(content = Object, description = "cheap-json AspectDef"),
    responses((status = 201, body = CreateAspectDefResponse), (status = 400), (status = 404), (status = 409)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    Params(id): Params<String>,
    if_match: IfMatch,
    Body(json::StrictValue(body)): Body<json::StrictValue>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let def = json::read::aspect_def_from_json(&body).map_err(|e| {
        ApiError::validation(
            "AspectDef validation failed",
            vec![FieldError {
                field: "aspectDef".into(),
                message: e.to_string(),
            }],
        )
    })?;
    if def.is_empty() {
        return Err(ApiError::validation(
            "AspectDef validation failed",
            vec![FieldError {
                field: "properties".into(),
                message: "AspectDef must have at least one property".into(),
            }],
        ));
    }
    let existing = state.dao.list_aspect_defs(id).await?;
    if let Some(stored) = existing.iter().find(|d| d.name() == def.name()) {
        let how = def
            .difference(stored)
            .map(|d| format!(" (and differs in {d})"))
            .unwrap_or_default();
        return Err(ApiError::conflict(format!(
            "AspectDef with name {} already exists in catalog{how}",
            def.name()
        )));
    }
    if existing.iter().any(|d| d.id() == def.id()) {
        return Err(ApiError::conflict(format!(
            "AspectDef with ID {} already exists in catalog",
            def.id()
        )));
    }
    let (created, version) = if if_match == IfMatch::Absent {
        (state.dao.put_aspect_def(id, &def).await?, None)
    } else {
        // The checks above read the version the condition names, so they hold at the write.
        let op = BatchOp::PutAspectDef { def: def.clone() };
        let (r, v) = batch::conditional(&state, id, if_match, op).await?;
        (r == BatchResult::Changed(true), Some(v))
    };
    if !created {
        return Err(ApiError::conflict(format!(
            "AspectDef with name {} already exists in catalog",
            def.name()
        )));
    }
    let body = Json(CreateAspectDefResponse {
        aspect_def_id: def.id(),
        aspect_def_name: def.name().to_owned(),
        message: "AspectDef created successfully".into(),
    });
    Ok(batch::tagged((StatusCode::CREATED, body), version))
}

/// Lists the catalog's aspect defs in catalog order, one page at a time.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/aspect-defs", params(PageQuery),
    responses((status = 200, body = AspectDefListResponse), (status = 404)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Params(id): Params<String>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<AspectDefListResponse>> {
    let id = uuid(&id, "catalog id")?;
    let (page, size) = q.resolve(&state)?;
    let defs = state.dao.list_aspect_defs(id).await?;
    let total = defs.len() as u64;
    Ok(Json(AspectDefListResponse {
        catalog_id: id,
        aspect_defs: defs
            .iter()
            .skip(page.saturating_mul(size) as usize)
            .take(size as usize)
            .map(ToJson::to_json_value)
            .collect(),
        page: page_info(page, size, total),
    }))
}

/// Finds a def by global id (when the segment is a UUID) or by name.
async fn find(state: &AppState, catalog: Uuid, id_or_name: &str) -> ApiResult<AspectDef> {
    let missing = || ApiError::missing(&NotFound::aspect_def(catalog, id_or_name));
    match Uuid::parse_str(id_or_name) {
        Ok(def_id) => state
            .dao
            .list_aspect_defs(catalog)
            .await?
            .into_iter()
            .find(|d| d.id() == def_id)
            .ok_or_else(missing),
        Err(_) => Ok(state.dao.get_aspect_def(catalog, id_or_name).await?),
    }
}

/// One aspect def, by global id or by name.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/aspect-defs/{aspect_def}",
    responses((status = 200, description = "cheap-json AspectDef", body = Object), (status = 404)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Params((id, def)): Params<(String, String)>,
) -> ApiResult<Json<Value>> {
    let id = uuid(&id, "catalog id")?;
    Ok(Json(find(&state, id, &def).await?.to_json_value()))
}

/// Deletes an aspect def from the catalog with its aspects (an extension).
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/aspect-defs/{aspect_def}",
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Params((id, def)): Params<(String, String)>,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let def = find(&state, id, &def).await?;
    let version = if if_match == IfMatch::Absent {
        state.dao.delete_aspect_def(id, def.name()).await?;
        None
    } else {
        let op = BatchOp::DeleteAspectDef {
            name: def.name().to_owned(),
        };
        Some(batch::conditional(&state, id, if_match, op).await?.1)
    };
    Ok(batch::tagged(StatusCode::NO_CONTENT, version))
}
