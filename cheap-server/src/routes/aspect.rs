//! `/api/catalog/{id}/aspects/...`: upsert and query aspects.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use indexmap::IndexMap;
use uuid::Uuid;

use super::batch;
use crate::error::{ApiError, ApiResult};
use crate::etag::{self, IfMatch};
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use cheap_core::dao::{AspectPatch, BatchOp, BatchResult};
use cheap_core::json::{self, ToJson};
use cheap_core::rest::{
    AspectInput, AspectQueryRequest, AspectQueryResponse, AspectResult, UpsertAspectsRequest,
    UpsertAspectsResponse,
};
use cheap_core::{Aspect, AspectDef, CheapError, NotFound};

/// `POST .../aspects/query` is the query; any other name upserts into that aspect def. An
/// aspect def named `query` stays reachable: a body with `aspects` is an upsert into it (the
/// reference routes every such request to the query).
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/aspects/{aspect_def}", request_body = UpsertAspectsRequest,
    responses((status = 200, body = UpsertAspectsResponse), (status = 207, body = UpsertAspectsResponse),
              (status = 400), (status = 404)))]
pub(crate) async fn upsert_or_query(
    State(state): State<AppState>,
    Params((id, def)): Params<(String, String)>,
    Query(q): Query<UpsertQuery>,
    if_match: IfMatch,
    headers: HeaderMap,
    Body(json::StrictValue(body)): Body<json::StrictValue>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let is_query = def == "query" && body.get("aspects").is_none();
    if is_query {
        let req: AspectQueryRequest = json::from_value(body)
            .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
        return query(&state, id, req, &headers).await;
    }
    let req: UpsertAspectsRequest = json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Malformed request body: {e}")))?;
    let merge = match (q.merge, req.replace) {
        (Some(true), Some(true)) => {
            return Err(ApiError::bad_request(
                "merge=true and \"replace\": true ask for opposite things",
            ))
        }
        (Some(m), _) => m,
        (None, r) => r == Some(false),
    };
    upsert(&state, id, &def, req, merge, if_match).await
}

/// `?merge=true`: keep the stored values of the properties an item leaves out.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct UpsertQuery {
    /// Merge each item over the stored aspect instead of replacing it (default false).
    merge: Option<bool>,
}

/// A whole aspect from an input (a replacing upsert).
pub(crate) fn input_whole(def: &Arc<AspectDef>, input: &AspectInput) -> Result<Aspect, String> {
    input_patch(def, input)?
        .apply(def, None)
        .map_err(incomplete)
}

/// The message of an aspect that is not complete (or otherwise refused).
fn incomplete(e: CheapError) -> String {
    match e {
        CheapError::InvalidValue { property, .. } => {
            format!("Required property {property} is missing")
        }
        e => e.to_string(),
    }
}

/// The typed patch of an input, each value checked as a write of it would be.
pub(crate) fn input_patch(
    def: &Arc<AspectDef>,
    input: &AspectInput,
) -> Result<AspectPatch, String> {
    let mut scratch = Aspect::new(def.clone(), input.entity_id);
    let mut values = Vec::with_capacity(input.properties.len());
    for (k, v) in &input.properties {
        let pd = def
            .property_def(k)
            .ok_or_else(|| format!("Aspect data validation failed: unknown property '{k}'"))?;
        let value = json::read::value_from_json(def.name(), pd, v).map_err(|e| e.to_string())?;
        // Types and nulls are checked here; whether a read-only value may be written is the
        // store's to say (it may, when the aspect is created).
        scratch
            .set_initial(k, value.clone())
            .map_err(|e| e.to_string())?;
        values.push((k.clone(), value));
    }
    Ok(AspectPatch {
        entity_id: input.entity_id,
        values,
    })
}

async fn upsert(
    state: &AppState,
    catalog: Uuid,
    def_name: &str,
    req: UpsertAspectsRequest,
    merge: bool,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let max = state.config.max_upsert_batch;
    if req.aspects.len() > max {
        return Err(ApiError::bad_request(format!(
            "Batch size {} exceeds maximum of {max}",
            req.aspects.len()
        )));
    }
    let def = Arc::new(state.dao.get_aspect_def(catalog, def_name).await?);
    // A repeated entity keeps its last item, at the place of its first.
    let mut items: IndexMap<Uuid, AspectInput> = IndexMap::new();
    for a in &req.aspects {
        items.insert(a.entity_id, a.clone());
    }
    let ids: Vec<Uuid> = items.keys().copied().collect();
    let mut results = Vec::with_capacity(items.len());
    let failed = |entity_id, message| AspectResult {
        entity_id,
        success: false,
        created: false,
        message,
    };
    let done = |entity_id, created: bool| AspectResult {
        entity_id,
        success: true,
        created,
        message: if created {
            "Aspect created"
        } else {
            "Aspect updated"
        }
        .into(),
    };
    if if_match != IfMatch::Absent {
        return conditional_upsert(state, catalog, def_name, &def, items, merge, if_match).await;
    }
    if !merge {
        let mut valid = Vec::new();
        for input in items.values() {
            match input_whole(&def, input) {
                Ok(a) => valid.push(a),
                Err(message) => results.push(failed(input.entity_id, message)),
            }
        }
        if !valid.is_empty() {
            for o in state.dao.upsert_aspects(catalog, def_name, &valid).await? {
                results.push(done(o.entity_id, o.created));
            }
        }
    } else {
        // Asked for: properties left out keep their stored values; the store merges each
        // patch over what it holds, in the write's own transaction.
        let mut patches = Vec::new();
        for input in items.values() {
            match input_patch(&def, input) {
                Ok(p) => patches.push(p),
                Err(message) => results.push(failed(input.entity_id, message)),
            }
        }
        if !patches.is_empty() {
            let outcomes = state.dao.merge_aspects(catalog, def_name, &patches).await?;
            for (p, o) in patches.iter().zip(outcomes) {
                results.push(match o {
                    Ok(o) => done(o.entity_id, o.created),
                    Err(e) => failed(p.entity_id, incomplete(e)),
                });
            }
        }
    }
    let order: HashMap<Uuid, usize> = ids.iter().enumerate().map(|(i, e)| (*e, i)).collect();
    results.sort_by_key(|r| order.get(&r.entity_id).copied().unwrap_or(usize::MAX));
    let failure_count = results.iter().filter(|r| !r.success).count() as u64;
    let body = UpsertAspectsResponse {
        catalog_id: catalog,
        aspect_def_name: def_name.to_owned(),
        success_count: results.len() as u64 - failure_count,
        failure_count,
        results,
    };
    let status = if failure_count == 0 {
        StatusCode::OK
    } else {
        StatusCode::MULTI_STATUS
    };
    Ok((status, Json(body)).into_response())
}

/// The query, tagged with the catalog's version like a read (the version of the snapshot the
/// aspects come from, so the tag is never newer than the answer); `If-None-Match` naming it is
/// 304. The query is a POST only to carry its body; it changes nothing, so it is validated as
/// a GET is.
async fn query(
    state: &AppState,
    catalog: Uuid,
    req: AspectQueryRequest,
    headers: &HeaderMap,
) -> ApiResult<Response> {
    let (maps, version) = query_maps(state, catalog, req.entity_ids, req.aspect_def_names).await?;
    if etag::none_match(headers, version) {
        return Ok(etag::not_modified(version));
    }
    let results = maps
        .into_iter()
        .filter(|m| !m.is_empty())
        .map(|m| m.to_json_value())
        .collect();
    let mut r = Json(AspectQueryResponse {
        catalog_id: catalog,
        results,
    })
    .into_response();
    etag::set(&mut r, version);
    Ok(r)
}

/// The maps the query asks for, with the catalog version they were read at. Names the catalog
/// does not have are skipped, as the reference does. The usual request names only defs that
/// exist: it costs one DAO call; a request naming others, three.
async fn query_maps(
    state: &AppState,
    catalog: Uuid,
    entity_ids: Vec<Uuid>,
    requested: Vec<String>,
) -> ApiResult<(Vec<cheap_core::AspectMap>, i64)> {
    let mut names: Vec<String> = Vec::with_capacity(requested.len());
    for n in requested {
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if names.is_empty() || entity_ids.is_empty() {
        let version = state.dao.catalog_info(catalog).await?.version;
        return Ok((Vec::new(), version));
    }
    match state
        .dao
        .versioned_query_aspects(catalog, &entity_ids, &names)
        .await
    {
        Err(CheapError::NotFound(NotFound::AspectDef { .. })) => {
            let version = state.dao.catalog_info(catalog).await?.version;
            let known: Vec<String> = state
                .dao
                .list_aspect_defs(catalog)
                .await?
                .into_iter()
                .map(|d| d.name().to_owned())
                .filter(|n| names.contains(n))
                .collect();
            if known.is_empty() {
                return Ok((Vec::new(), version));
            }
            Ok(state
                .dao
                .versioned_query_aspects(catalog, &entity_ids, &known)
                .await?)
        }
        r => Ok(r?),
    }
}

/// An upsert made with `If-Match`: all of it or nothing (an item that does not make a valid
/// aspect fails the request), as one batch on the condition.
async fn conditional_upsert(
    state: &AppState,
    catalog: Uuid,
    def_name: &str,
    def: &Arc<AspectDef>,
    items: IndexMap<Uuid, AspectInput>,
    merge: bool,
    if_match: IfMatch,
) -> ApiResult<Response> {
    let refused = |e: Uuid, m: String| ApiError::bad_request(format!("Aspect of entity {e}: {m}"));
    let op = if merge {
        let patches = items
            .values()
            .map(|i| input_patch(def, i).map_err(|m| refused(i.entity_id, m)))
            .collect::<ApiResult<Vec<_>>>()?;
        BatchOp::MergeAspects {
            aspect_def: def_name.to_owned(),
            patches,
        }
    } else {
        let aspects = items
            .values()
            .map(|i| input_whole(def, i).map_err(|m| refused(i.entity_id, m)))
            .collect::<ApiResult<Vec<_>>>()?;
        BatchOp::UpsertAspects {
            aspect_def: def_name.to_owned(),
            aspects,
        }
    };
    let (result, version) = batch::conditional(state, catalog, if_match, op).await?;
    let outcomes = match result {
        BatchResult::Aspects(o) => o,
        _ => Vec::new(),
    };
    let results: Vec<AspectResult> = outcomes
        .into_iter()
        .map(|o| AspectResult {
            entity_id: o.entity_id,
            success: true,
            created: o.created,
            message: if o.created {
                "Aspect created"
            } else {
                "Aspect updated"
            }
            .into(),
        })
        .collect();
    let body = UpsertAspectsResponse {
        catalog_id: catalog,
        aspect_def_name: def_name.to_owned(),
        success_count: results.len() as u64,
        failure_count: 0,
        results,
    };
    Ok(batch::tagged(Json(body), Some(version)))
}
