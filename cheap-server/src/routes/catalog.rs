//! `/api/catalog`: create, list, read the def of, and delete catalogs.

use std::collections::HashSet;
use std::str::FromStr;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::Value;
use uuid::Uuid;

use super::{page_info, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use cheap_core::json::{self, ToJson};
use cheap_core::rest::FieldError;
use cheap_core::rest::{
    CatalogListResponse, CreateCatalogRequest, CreateCatalogResponse, GetCatalogDefResponse,
};
use cheap_core::{
    AspectDef, Catalog, CatalogSpecies, Hierarchy, HierarchyDef, HierarchyType, NotFound,
};

fn field(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Reads a request's catalog def, collecting every problem with its field path.
fn read_catalog_def(
    v: Option<&Value>,
    errors: &mut Vec<FieldError>,
) -> (Vec<HierarchyDef>, Vec<AspectDef>) {
    let (mut hierarchies, mut aspects) = (Vec::new(), Vec::new());
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return (hierarchies, aspects);
    };
    let Some(obj) = v.as_object() else {
        errors.push(field("catalogDef", "must be an object"));
        return (hierarchies, aspects);
    };
    let list = |key: &str, errors: &mut Vec<FieldError>| -> Vec<Value> {
        match obj.get(key) {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(a)) => a.clone(),
            Some(_) => {
                errors.push(field(format!("catalogDef.{key}"), "must be an array"));
                Vec::new()
            }
        }
    };
    let mut names = HashSet::new();
    for (i, h) in list("hierarchyDefs", errors).iter().enumerate() {
        let at = format!("catalogDef.hierarchyDefs[{i}]");
        let name = h.get("name").and_then(Value::as_str).unwrap_or_default();
        if name.trim().is_empty() {
            errors.push(field(
                format!("{at}.name"),
                "HierarchyDef name cannot be null or empty",
            ));
            continue;
        }
        if !names.insert(name.to_owned()) {
            errors.push(field(
                format!("{at}.name"),
                format!("Duplicate HierarchyDef name: {name}"),
            ));
            continue;
        }
        match h.get("type").and_then(Value::as_str).map(HierarchyType::from_str) {
            Some(Ok(HierarchyType::AspectMap)) => errors.push(field(
                format!("{at}.type"),
                "AspectMap hierarchies are auto-created from AspectDefs and should not be in hierarchyDefs",
            )),
            Some(Ok(t)) => hierarchies.push(HierarchyDef::new(name, t)),
            Some(Err(e)) => errors.push(field(format!("{at}.type"), e.to_string())),
            None => errors.push(field(format!("{at}.type"), "HierarchyDef type cannot be null")),
        }
    }
    let mut ids = HashSet::new();
    for (i, a) in list("aspectDefs", errors).iter().enumerate() {
        let at = format!("catalogDef.aspectDefs[{i}]");
        match json::read::aspect_def_from_json(a) {
            Ok(d) if d.is_empty() => errors.push(field(
                format!("{at}.properties"),
                "AspectDef must have at least one property",
            )),
            Ok(d) => {
                if !names.insert(d.name().to_owned()) {
                    errors.push(field(
                        format!("{at}.name"),
                        format!("Duplicate name: {}", d.name()),
                    ));
                } else if !ids.insert(d.id()) {
                    errors.push(field(
                        format!("{at}.id"),
                        format!("Duplicate AspectDef id: {}", d.id()),
                    ));
                } else {
                    aspects.push(d);
                }
            }
            Err(e) => errors.push(field(at, e.to_string())),
        }
    }
    (hierarchies, aspects)
}

/// Creates a catalog with the hierarchies and aspect defs of its def (one aspect map per aspect
/// def). Species and upstream follow the model's rule: SOURCE and SINK take none, the others
/// need one (the reference's REST check also refuses an upstream for FORK; its model needs one).
#[utoipa::path(post, path = "/api/catalog", request_body = CreateCatalogRequest,
    responses((status = 201, body = CreateCatalogResponse), (status = 400, description = "invalid request")))]
pub(crate) async fn create(
    State(state): State<AppState>,
    headers: HeaderMap,
    Body(req): Body<CreateCatalogRequest>,
) -> ApiResult<(StatusCode, Json<CreateCatalogResponse>)> {
    let mut errors = Vec::new();
    let species = match CatalogSpecies::from_str(&req.species) {
        Ok(s) => Some(s),
        Err(e) => {
            errors.push(field("species", e.to_string()));
            None
        }
    };
    if let Some(s) = species {
        if let Err(e) = s.check_upstream(req.upstream) {
            errors.push(field("upstream", e.to_string()));
        }
    }
    let (hierarchies, aspects) = read_catalog_def(req.catalog_def.as_ref(), &mut errors);
    let species = match species {
        Some(s) if errors.is_empty() => s,
        _ => {
            let first = errors.first().map(|e| e.field.clone()).unwrap_or_default();
            let message = if first.starts_with("catalogDef") {
                "CatalogDef validation failed"
            } else {
                "Species/upstream validation failed"
            };
            return Err(ApiError::validation(message, errors));
        }
    };
    let id = Uuid::new_v4();
    let mut catalog = Catalog::with_id(id, species, req.upstream)?;
    let base = crate::base_url::base_url(
        &headers,
        state.config.public_url.as_deref(),
        state.config.trust_forwarded,
    )?;
    let uri = format!("{base}/api/catalog/{id}");
    catalog.uri = Some(uri.clone());
    for h in hierarchies {
        catalog.add_hierarchy(Hierarchy::new(h.name, h.hierarchy_type)?)?;
    }
    for a in aspects {
        catalog.extend(a.into_arc())?;
    }
    state.dao.save_catalog(&catalog).await?;
    Ok((
        StatusCode::CREATED,
        Json(CreateCatalogResponse {
            catalog_id: id,
            uri,
            message: "Catalog created successfully".into(),
        }),
    ))
}

/// Lists catalog ids, in UUID order, one page at a time.
#[utoipa::path(get, path = "/api/catalog", params(PageQuery),
    responses((status = 200, body = CatalogListResponse)))]
pub(crate) async fn list(
    State(state): State<AppState>,
    Query(q): Query<PageQuery>,
) -> ApiResult<Json<CatalogListResponse>> {
    let (page, size) = q.resolve(&state)?;
    let total = state.dao.catalog_count().await?;
    let infos = state
        .dao
        .list_catalogs_page(page.saturating_mul(size), size)
        .await?;
    Ok(Json(CatalogListResponse {
        catalog_ids: infos.into_iter().map(|i| i.id).collect(),
        page: page_info(page, size, total),
    }))
}

/// The catalog's def: its hierarchy defs (aspect maps excluded) and aspect defs.
#[utoipa::path(get, path = "/api/catalog/{catalog_id}",
    responses((status = 200, body = GetCatalogDefResponse), (status = 404, description = "no such catalog")))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Params(id): Params<String>,
    headers: axum::http::HeaderMap,
) -> ApiResult<axum::response::Response> {
    let id = uuid(&id, "catalog id")?;
    // The def and its version in one read: the catalog read tags itself (the middleware's
    // separate version read would double its cost).
    let (def, version) = state.dao.versioned_catalog_def(id).await?;
    if crate::etag::none_match(&headers, version) {
        return Ok(crate::etag::not_modified(version));
    }
    let body = Json(GetCatalogDefResponse {
        hierarchy_defs: def
            .hierarchy_defs()
            .filter(|h| h.hierarchy_type != HierarchyType::AspectMap)
            .map(ToJson::to_json_value)
            .collect(),
        aspect_defs: def.aspect_defs().map(|d| d.to_json_value()).collect(),
    });
    Ok(super::batch::tagged(body, Some(version)))
}

/// Deletes a catalog and everything in it (an extension: the reference has no DELETE).
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}",
    responses((status = 204, description = "deleted"), (status = 404, description = "no such catalog")))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    Params(id): Params<String>,
) -> ApiResult<StatusCode> {
    let id = uuid(&id, "catalog id")?;
    if state.dao.delete_catalog(id).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::missing(&NotFound::catalog(id)))
    }
}
