//! Routes, one module per resource.

pub(crate) mod aspect;
pub(crate) mod aspect_def;
pub(crate) mod batch;
pub(crate) mod catalog;
pub(crate) mod docs;
pub(crate) mod events;
pub(crate) mod hierarchy;
pub(crate) mod replica;
pub(crate) mod system;
pub(crate) mod transfer;

use axum::http::StatusCode;
use axum::middleware;
use axum::routing::{get, post};
use axum::Router;
use serde::Deserialize;

use crate::error::{ApiError, ApiResult};
use crate::AppState;
use cheap_core::rest::PageInfo;

/// `?page=&size=`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub(crate) struct PageQuery {
    /// Zero-based page (default 0).
    page: Option<i64>,
    /// Page size (default 20, at most 100).
    size: Option<i64>,
}

impl PageQuery {
    /// (page, size) checked against the configuration: negative values and sizes of 0 or over
    /// the maximum are 400.
    pub(crate) fn resolve(&self, state: &AppState) -> ApiResult<(u64, u64)> {
        let page = self.page.unwrap_or(0);
        let size = self.size.unwrap_or(state.config.default_page_size as i64);
        if page < 0 {
            return Err(ApiError::bad_request(format!(
                "Page must not be negative: {page}"
            )));
        }
        if size < 1 {
            return Err(ApiError::bad_request(format!(
                "Page size must be at least 1: {size}"
            )));
        }
        if size as u64 > state.config.max_page_size {
            return Err(ApiError::bad_request(format!(
                "Page size {size} exceeds maximum of {}",
                state.config.max_page_size
            )));
        }
        Ok((page as u64, size as u64))
    }
}

pub(crate) fn page_info(page: u64, size: u64, total: u64) -> PageInfo {
    PageInfo {
        page,
        size,
        total_elements: total,
        total_pages: total.div_ceil(size.max(1)),
    }
}

async fn not_found() -> ApiError {
    ApiError::not_found("No such route")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "Method not allowed on this route",
    )
}

pub(crate) fn build(state: AppState) -> Router {
    let api = Router::new()
        .route("/api/catalog", post(catalog::create).get(catalog::list))
        .route("/api/catalogs/stream", get(system::stream))
        .route("/api/tasks/{task_id}", get(transfer::task))
        .route(
            "/api/catalog/{catalog_id}",
            get(catalog::get).delete(catalog::delete),
        )
        .route("/api/catalog/{catalog_id}/export", get(transfer::export))
        .route("/api/catalog/{catalog_id}/batch", post(batch::apply))
        .route("/api/catalog/{catalog_id}/info", get(replica::catalog_info))
        .route("/api/catalog/{catalog_id}/changes", get(replica::changes))
        .route("/api/catalog/{catalog_id}/events", get(events::events))
        .route(
            "/api/catalog/{catalog_id}/sync-mark",
            get(replica::get_sync_mark).put(replica::put_sync_mark),
        )
        .route(
            "/api/catalog/{catalog_id}/aspects/{aspect_def}/changes",
            get(replica::aspect_changes),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies/{name}/slice",
            get(replica::slice),
        )
        .route(
            "/api/catalog/{catalog_id}/aspect-defs",
            post(aspect_def::create).get(aspect_def::list),
        )
        .route(
            "/api/catalog/{catalog_id}/aspect-defs/{aspect_def}",
            get(aspect_def::get).delete(aspect_def::delete),
        )
        .route(
            "/api/catalog/{catalog_id}/aspects/{aspect_def}",
            post(aspect::upsert_or_query).delete(replica::delete_aspects),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies",
            post(hierarchy::create).get(replica::list_hierarchies),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies/{name}",
            get(hierarchy::get).delete(hierarchy::delete),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies/{name}/entities",
            post(hierarchy::add_entities).delete(hierarchy::remove_entities),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies/{name}/entries",
            post(hierarchy::add_entries).delete(hierarchy::remove_entries),
        )
        .route(
            "/api/catalog/{catalog_id}/hierarchies/{name}/nodes",
            post(hierarchy::add_nodes).delete(hierarchy::remove_nodes),
        )
        .route("/health", get(system::health))
        .route("/actuator/health", get(system::health))
        .route("/metrics", get(system::metrics))
        .route("/api-docs", get(system::api_docs))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let api = if state.config.docs {
        api.merge(docs::router())
    } else {
        api
    };
    // Each `Router::layer` call boxes every route once more, so each group takes its layers
    // in one call.
    let api = api.layer(
        tower::ServiceBuilder::new()
            .layer(middleware::from_fn_with_state(
                state.clone(),
                crate::guard::api,
            ))
            .layer(axum::extract::DefaultBodyLimit::max(
                state.config.body_limit,
            )),
    );
    let import = Router::new()
        .route("/api/catalog/import", post(transfer::import))
        .layer(
            tower::ServiceBuilder::new()
                .layer(middleware::from_fn_with_state(
                    state.clone(),
                    crate::guard::import,
                ))
                .layer(axum::extract::DefaultBodyLimit::disable()),
        );
    api.merge(import)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::observe::observe,
        ))
        .with_state(state)
}
