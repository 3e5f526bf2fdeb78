//! `/api/catalog/{id}/hierarchies/...`: create, read (paged), delete, and change entries.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use uuid::Uuid;

use super::batch;
use super::{page_info, PageQuery};
use crate::error::{ApiError, ApiResult};
use crate::etag::IfMatch;
use crate::extract::{uuid, Body, Params, Query};
use crate::AppState;
use cheap_core::dao::{BatchOp, BatchResult, PageCursor};
use cheap_core::json;
use cheap_core::rest::{
    AddDirectoryEntriesRequest, AddTreeNodesRequest, AspectMapResponse, CreateHierarchyRequest,
    CreateHierarchyResponse, EntityDirectoryResponse, EntityIdsRequest, EntityListResponse,
    EntityTreeResponse, OperationResponse, RemoveDirectoryEntriesRequest, RemoveTreeNodesRequest,
    TreeOperationResponse,
};
use cheap_core::{HierarchyContent, HierarchyType, NotFound};

/// Creates a list, set, directory or tree. An existing hierarchy of another kind with the same
/// name is replaced, as in the reference; an aspect map is never replaced (409), and aspect maps
/// are created through aspect defs (400).
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/hierarchies", request_body = CreateHierarchyRequest,
    responses((status = 201, body = CreateHierarchyResponse), (status = 400), (status = 404), (status = 409)))]
pub(crate) async fn create(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params(id): Params<String>,
    Body(req): Body<CreateHierarchyRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let def = json::read::hierarchy_def_from_json(&req.hierarchy_def)
        .map_err(|e| ApiError::bad_request(format!("Invalid hierarchyDef: {e}")))?;
    if def.hierarchy_type == HierarchyType::AspectMap {
        return Err(ApiError::bad_request(
            "AspectMap hierarchies are created from AspectDefs: POST .../aspect-defs",
        ));
    }
    let version = if if_match == IfMatch::Absent {
        // One DAO call, one transaction: concurrent requests see the old hierarchy or the new one.
        state.dao.replace_hierarchy(id, &def).await?;
        None
    } else {
        let op = BatchOp::ReplaceHierarchy { def: def.clone() };
        Some(batch::conditional(&state, id, if_match, op).await?.1)
    };
    let body = Json(CreateHierarchyResponse {
        hierarchy_name: def.name,
        success: true,
        message: "Hierarchy created successfully".into(),
    });
    Ok(batch::tagged((StatusCode::CREATED, body), version))
}

/// `?page=&size=` as in the reference, or `?after=&size=` to read by cursor.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct HierarchyPageQuery {
    /// Zero-based page (default 0); not with `after`.
    page: Option<i64>,
    /// Page size (default 20, at most 100).
    size: Option<i64>,
    /// Read by cursor: empty for the first page, then the `nextCursor` of the page before.
    /// A page then costs its size however deep it is, and an entry that stays while a reader
    /// pages through is read once. 412 when the hierarchy's entries were moved since the
    /// cursor was made: read again from the start.
    after: Option<String>,
}

/// One page of a hierarchy; the body depends on its kind. A tree is returned whole, with entity
/// ids kept on every node (the reference's REST output loses them).
#[utoipa::path(get, path = "/api/catalog/{catalog_id}/hierarchies/{name}", params(HierarchyPageQuery),
    responses((status = 200, description = "EntityListResponse, EntityDirectoryResponse, EntityTreeResponse or AspectMapResponse"), (status = 400), (status = 404), (status = 412)))]
pub(crate) async fn get(
    State(state): State<AppState>,
    Params((id, name)): Params<(String, String)>,
    Query(q): Query<HierarchyPageQuery>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let paging = PageQuery {
        page: q.page,
        size: q.size,
    };
    let (h, info, next) = match q.after.as_deref() {
        Some(after) => {
            if q.page.is_some() {
                return Err(ApiError::bad_request("Give either page or after, not both"));
            }
            let cursor = (!after.is_empty())
                .then(|| after.parse::<PageCursor>())
                .transpose()?;
            let (_, size) = paging.resolve(&state)?;
            let p = state
                .dao
                .read_hierarchy_page_after(id, &name, cursor.as_ref(), size)
                .await?;
            (p.hierarchy, page_info(0, size, p.total), p.next)
        }
        None => {
            let kinds = state.dao.list_hierarchy_defs(id).await?;
            let kind = kinds
                .iter()
                .find(|h| h.name == name)
                .map(|h| h.hierarchy_type)
                .ok_or_else(|| ApiError::missing(&NotFound::hierarchy(id, name.as_str())))?;
            let (page, size) = if kind == HierarchyType::EntityTree {
                (0, 1)
            } else {
                paging.resolve(&state)?
            };
            let slice = state
                .dao
                .read_hierarchy_page(id, &name, page.saturating_mul(size), size)
                .await?;
            (slice.hierarchy, page_info(page, size, slice.total), None)
        }
    };
    let next_cursor = next.map(|c| c.as_str().to_owned());
    Ok(match &h.content {
        HierarchyContent::List(l) => Json(EntityListResponse {
            catalog_id: id,
            hierarchy_name: name,
            entity_ids: l.0.clone(),
            page: info,
            next_cursor,
        })
        .into_response(),
        HierarchyContent::Set(s) => Json(EntityListResponse {
            catalog_id: id,
            hierarchy_name: name,
            entity_ids: s.iter().collect(),
            page: info,
            next_cursor,
        })
        .into_response(),
        HierarchyContent::Directory(d) => Json(EntityDirectoryResponse {
            catalog_id: id,
            hierarchy_name: name,
            content: d.iter().map(|(k, v)| (k.to_owned(), v)).collect(),
            page: info,
            next_cursor,
        })
        .into_response(),
        HierarchyContent::Tree(t) => Json(EntityTreeResponse {
            catalog_id: id,
            hierarchy_name: name,
            root: json_value(&json::write::tree_node_to_json(&t.root)),
        })
        .into_response(),
        HierarchyContent::AspectMap(m) => Json(AspectMapResponse {
            catalog_id: id,
            aspect_def_name: m.def().name().to_owned(),
            hierarchy_name: name,
            content: m
                .iter()
                .map(|a| {
                    (
                        a.entity_id().to_string(),
                        json_value(&json::write::aspect_to_json(a)),
                    )
                })
                .collect(),
            page: info,
            next_cursor,
        })
        .into_response(),
    })
}

fn json_value(j: &json::Json) -> serde_json::Value {
    json::to_value(j)
}

/// Deletes a hierarchy (an extension; an aspect map goes with its aspects).
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/hierarchies/{name}",
    responses((status = 204), (status = 404)))]
pub(crate) async fn delete(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let (existed, version) = if if_match == IfMatch::Absent {
        (state.dao.delete_hierarchy(id, &name).await?, None)
    } else {
        let op = BatchOp::DeleteHierarchy { name: name.clone() };
        let (r, v) = batch::conditional(&state, id, if_match, op).await?;
        (r == BatchResult::Changed(true), Some(v))
    };
    if !existed {
        return Err(ApiError::missing(&NotFound::hierarchy(id, name.as_str())));
    }
    Ok(batch::tagged(StatusCode::NO_CONTENT, version))
}

fn op(
    id: Uuid,
    name: String,
    operation: &str,
    count: u64,
    message: String,
) -> Json<OperationResponse> {
    Json(OperationResponse {
        catalog_id: id,
        hierarchy_name: name,
        operation: operation.into(),
        count,
        message,
    })
}

/// Appends to a list or adds to a set; `count` is the number of ids sent, as in the reference.
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/hierarchies/{name}/entities", request_body = EntityIdsRequest,
    responses((status = 200, body = OperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn add_entities(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<EntityIdsRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    // The reference counts the ids sent, whatever happened (a set skips members it has).
    let n = req.entity_ids.len() as u64;
    let (_, version) = match (if_match, req.index) {
        (IfMatch::Absent, Some(i)) => (
            state
                .dao
                .insert_entities(id, &name, i, &req.entity_ids)
                .await?,
            None,
        ),
        (IfMatch::Absent, None) => (
            state.dao.add_entities(id, &name, &req.entity_ids).await?,
            None,
        ),
        (_, index) => {
            let (hierarchy, entity_ids) = (name.clone(), req.entity_ids);
            let op = match index {
                Some(index) => BatchOp::InsertEntities {
                    hierarchy,
                    index,
                    entity_ids,
                },
                None => BatchOp::AddEntities {
                    hierarchy,
                    entity_ids,
                },
            };
            batch::conditional_count(&state, id, if_match, op).await?
        }
    };
    let message = format!("Added {n} entity ID(s) to hierarchy '{name}'");
    Ok(batch::tagged(op(id, name, "add", n, message), version))
}

/// Removes from a list (one occurrence per id given, as the reference does) or a set; `count`
/// is entries removed.
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/hierarchies/{name}/entities", request_body = EntityIdsRequest,
    responses((status = 200, body = OperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn remove_entities(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<EntityIdsRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    // One occurrence per id given, as the reference removes them; an atomic batch of one,
    // since the DAO's own call removes every occurrence.
    let remove = BatchOp::RemoveEntities {
        hierarchy: name.clone(),
        entity_ids: req.entity_ids,
        every_occurrence: false,
    };
    let (n, version) = batch::conditional_count(&state, id, if_match, remove).await?;
    let version = version.filter(|_| if_match != IfMatch::Absent);
    let message = format!("Removed {n} entity ID(s) from hierarchy '{name}'");
    Ok(batch::tagged(op(id, name, "remove", n, message), version))
}

/// Sets directory entries (an existing name is overwritten).
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/hierarchies/{name}/entries", request_body = AddDirectoryEntriesRequest,
    responses((status = 200, body = OperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn add_entries(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<AddDirectoryEntriesRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let entries: Vec<(String, Uuid)> = req.entries.into_iter().collect();
    let (n, version) = if if_match == IfMatch::Absent {
        let n = state.dao.put_directory_entries(id, &name, &entries).await?;
        (n, None)
    } else {
        let op = BatchOp::PutDirectoryEntries {
            hierarchy: name.clone(),
            entries,
        };
        batch::conditional_count(&state, id, if_match, op).await?
    };
    let message = format!("Added {n} entry/entries to directory '{name}'");
    Ok(batch::tagged(op(id, name, "add", n, message), version))
}

/// Removes directory entries by name or by entity (exactly one of the two).
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/hierarchies/{name}/entries", request_body = RemoveDirectoryEntriesRequest,
    responses((status = 200, body = OperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn remove_entries(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<RemoveDirectoryEntriesRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let names = req.names.filter(|n| !n.is_empty());
    let ids = req.entity_ids.filter(|n| !n.is_empty());
    let hierarchy = name.clone();
    let op_of = match (names, ids) {
        (Some(keys), None) => BatchOp::RemoveDirectoryKeys { hierarchy, keys },
        (None, Some(entity_ids)) => BatchOp::RemoveDirectoryEntities {
            hierarchy,
            entity_ids,
        },
        _ => {
            return Err(ApiError::bad_request(
                "Must specify either 'names' or 'entityIds', but not both or neither",
            ))
        }
    };
    let (n, version) = match (if_match, &op_of) {
        (IfMatch::Absent, BatchOp::RemoveDirectoryKeys { keys, .. }) => (
            state.dao.remove_directory_keys(id, &name, keys).await?,
            None,
        ),
        (IfMatch::Absent, BatchOp::RemoveDirectoryEntities { entity_ids, .. }) => (
            state
                .dao
                .remove_directory_entities(id, &name, entity_ids)
                .await?,
            None,
        ),
        _ => batch::conditional_count(&state, id, if_match, op_of).await?,
    };
    let message = format!("Removed {n} entry/entries from directory '{name}'");
    Ok(batch::tagged(op(id, name, "remove", n, message), version))
}

/// Adds tree nodes under a parent path (null or "" is the root; a child of the same name is
/// replaced with its subtree).
#[utoipa::path(post, path = "/api/catalog/{catalog_id}/hierarchies/{name}/nodes", request_body = AddTreeNodesRequest,
    responses((status = 200, body = TreeOperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn add_nodes(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<AddTreeNodesRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let parent = req.parent_path.unwrap_or_else(|| "/".into());
    let nodes: Vec<(String, Option<Uuid>)> = req.nodes.into_iter().collect();
    let (n, version) = if if_match == IfMatch::Absent {
        let n = state.dao.add_tree_nodes(id, &name, &parent, &nodes).await?;
        (n, None)
    } else {
        let op = BatchOp::AddTreeNodes {
            hierarchy: name.clone(),
            parent_path: parent.clone(),
            nodes,
        };
        batch::conditional_count(&state, id, if_match, op).await?
    };
    let body = Json(TreeOperationResponse {
        catalog_id: id,
        message: format!("Added {n} node(s) to tree '{name}' under path '{parent}'"),
        hierarchy_name: name,
        operation: "add".into(),
        nodes_affected: n,
    });
    Ok(batch::tagged(body, version))
}

/// Removes subtrees; the root and missing paths are skipped. Counts descendants.
#[utoipa::path(delete, path = "/api/catalog/{catalog_id}/hierarchies/{name}/nodes", request_body = RemoveTreeNodesRequest,
    responses((status = 200, body = TreeOperationResponse), (status = 400), (status = 404)))]
pub(crate) async fn remove_nodes(
    State(state): State<AppState>,
    if_match: IfMatch,
    Params((id, name)): Params<(String, String)>,
    Body(req): Body<RemoveTreeNodesRequest>,
) -> ApiResult<Response> {
    let id = uuid(&id, "catalog id")?;
    let paths: Vec<String> = req
        .paths
        .into_iter()
        .filter(|p| cheap_core::path_segments(p).next().is_some())
        .collect();
    let (n, version) = if if_match == IfMatch::Absent {
        let n = state.dao.remove_tree_nodes(id, &name, &paths).await?;
        (n, None)
    } else {
        let op = BatchOp::RemoveTreeNodes {
            hierarchy: name.clone(),
            paths,
        };
        batch::conditional_count(&state, id, if_match, op).await?
    };
    let body = Json(TreeOperationResponse {
        catalog_id: id,
        message: format!("Removed {n} node(s) from tree '{name}' (including descendants)"),
        hierarchy_name: name,
        operation: "remove".into(),
        nodes_affected: n,
    });
    Ok(batch::tagged(body, version))
}
