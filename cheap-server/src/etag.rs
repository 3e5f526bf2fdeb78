//! HTTP validators from catalog versions: `ETag` on every read of a catalog's resources,
//! `If-None-Match` answered 304 without running the handler, `If-Match` turned into the
//! expected version of an atomic write.
//!
//! Every write advances the catalog's version, so the version is a strong validator of
//! everything a catalog holds. It is read before the handler runs: a write that lands between
//! the two makes the tag older than the body, which costs the client a refetch later, never a
//! stale 304.

use axum::extract::{FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use uuid::Uuid;

use crate::error::ApiError;
use crate::AppState;

/// The entity tag of version `v` of a catalog, quoted as it goes in a header.
pub(crate) fn for_version(v: i64) -> String {
    format!("\"v{v}\"")
}

/// The version an entity tag names; `None` when it is not one of ours.
fn version_of(tag: &str) -> Option<i64> {
    tag.strip_prefix("\"v")?.strip_suffix('"')?.parse().ok()
}

/// The tags of an `If-Match` / `If-None-Match` header: `None` for `*`.
fn tags(headers: &HeaderMap, name: header::HeaderName) -> Option<Option<Vec<String>>> {
    let mut out = Vec::new();
    for v in headers.get_all(name) {
        let text = v.to_str().unwrap_or_default();
        for t in text.split(',').map(str::trim).filter(|t| !t.is_empty()) {
            if t == "*" {
                return Some(None);
            }
            out.push(t.to_owned());
        }
    }
    (!out.is_empty()).then_some(Some(out))
}

/// Sets the response's `ETag` to version `v`.
pub(crate) fn set(response: &mut Response, v: i64) {
    if let Ok(tag) = HeaderValue::from_str(&for_version(v)) {
        response.headers_mut().insert(header::ETAG, tag);
    }
}

/// The condition of a write, from `If-Match`: the catalog version it must find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IfMatch {
    /// No header, or `*` (the catalog must exist, which every write checks anyway).
    Absent,
    /// The catalog must be at this version.
    Version(i64),
    /// A tag that is none of ours can match no version: the write is refused.
    Never,
}

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match tags(&parts.headers, header::IF_MATCH) {
            None | Some(None) => Ok(IfMatch::Absent),
            Some(Some(list)) => {
                let versions: Vec<i64> = list.iter().filter_map(|t| version_of(t)).collect();
                match versions.as_slice() {
                    [] => Ok(IfMatch::Never),
                    [v] => Ok(IfMatch::Version(*v)),
                    _ => Err(ApiError::bad_request(
                        "If-Match names several versions; a write can be made on one",
                    )),
                }
            }
        }
    }
}

impl IfMatch {
    /// The expected version for [`cheap_core::dao::Batch::expected_version`]; `Never` becomes
    /// a version no catalog has.
    pub(crate) fn expected(self) -> Option<i64> {
        match self {
            IfMatch::Absent => None,
            IfMatch::Version(v) => Some(v),
            IfMatch::Never => Some(i64::MIN),
        }
    }
}

/// The catalog a path is about, for the routes whose content the catalog version covers:
/// `/api/catalog/{id}` and everything under it but the sync mark (kept beside the catalog's
/// versions, not in them).
fn catalog_of(path: &str) -> Option<Uuid> {
    versioned_tail(path).and_then(|(id, _)| Uuid::parse_str(id).ok())
}

/// The catalog segment and the rest of a path whose content the catalog version covers.
pub(crate) fn versioned_tail(path: &str) -> Option<(&str, &str)> {
    let rest = path.strip_prefix("/api/catalog/")?;
    let (id, tail) = rest.split_once('/').unwrap_or((rest, ""));
    if tail == "sync-mark" || tail.starts_with("sync-mark/") {
        return None;
    }
    Some((id, tail))
}

/// Runs `next` for `req`: a GET or HEAD of a catalog's resource gets the catalog version's
/// `ETag`, and an `If-None-Match` naming it is answered 304 without running the handler. A
/// write made with `If-Match` on a route that cannot make it conditional is refused rather
/// than done unconditionally.
pub(crate) async fn conditional(state: &AppState, req: Request, next: Next) -> Response {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        let path = req.uri().path();
        if req.headers().contains_key(header::IF_MATCH) && !takes_if_match(method, path) {
            return ApiError::bad_request(format!(
                "If-Match is not supported on {method} {path}; use the batch endpoint for conditional writes"
            ))
            .into_response();
        }
        return next.run(req).await;
    }
    let path = req.uri().path();
    let Some(catalog) = catalog_of(path) else {
        return next.run(req).await;
    };
    // An event stream is no representation of a version: it says what comes after one.
    if tags_itself(path) || path.ends_with("/events") {
        return next.run(req).await;
    }
    // A missing catalog or a failing store is the handler's to report.
    let Ok(info) = state.dao.catalog_info(catalog).await else {
        return next.run(req).await;
    };
    if none_match(req.headers(), info.version) {
        return not_modified(info.version);
    }
    let mut response = next.run(req).await;
    if response.status().is_success() {
        set(&mut response, info.version);
    }
    response
}

/// True when `If-None-Match` names version `v` (or is `*`): the client's copy is current.
pub(crate) fn none_match(headers: &HeaderMap, v: i64) -> bool {
    let tag = for_version(v);
    tags(headers, header::IF_NONE_MATCH)
        .is_some_and(|list| list.is_none_or(|l| l.iter().any(|t| weak_eq(t, &tag))))
}

/// 304 with the current tag and no body.
pub(crate) fn not_modified(v: i64) -> Response {
    let mut r = StatusCode::NOT_MODIFIED.into_response();
    set(&mut r, v);
    r
}

/// The reads whose handler reads the version with the body and answers validators itself.
fn tags_itself(path: &str) -> bool {
    versioned_tail(path).is_some_and(|(_, tail)| tail.is_empty())
}

/// `If-None-Match` compares weakly: `W/"v3"` matches `"v3"`.
fn weak_eq(a: &str, b: &str) -> bool {
    a.trim_start_matches("W/") == b.trim_start_matches("W/")
}

/// The writes under a catalog that honour `If-Match` (each runs as a conditional batch).
pub(crate) fn takes_if_match(method: &Method, path: &str) -> bool {
    let Some(rest) = path.strip_prefix("/api/catalog/") else {
        return false;
    };
    let tail = rest.split_once('/').map_or("", |(_, t)| t);
    let parts: Vec<&str> = tail.split('/').collect();
    matches!(
        (method.as_str(), parts.as_slice()),
        ("POST", ["batch"])
            | ("POST" | "DELETE", ["aspects", _])
            | ("POST", ["aspect-defs"])
            | ("DELETE", ["aspect-defs", _])
            | ("POST", ["hierarchies"])
            | ("DELETE", ["hierarchies", _])
            | (
                "POST" | "DELETE",
                ["hierarchies", _, "entities" | "entries" | "nodes"]
            )
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_name_versions() {
        assert_eq!(version_of(&for_version(42)), Some(42));
        assert_eq!(version_of("\"x42\""), None);
        assert_eq!(version_of("W/\"v42\""), None);
        assert!(weak_eq("W/\"v3\"", "\"v3\""));
    }

    #[test]
    fn the_sync_mark_is_not_versioned() {
        let id = Uuid::new_v4();
        assert_eq!(catalog_of(&format!("/api/catalog/{id}")), Some(id));
        assert_eq!(
            catalog_of(&format!("/api/catalog/{id}/hierarchies/x")),
            Some(id)
        );
        assert_eq!(catalog_of(&format!("/api/catalog/{id}/sync-mark")), None);
        assert_eq!(catalog_of("/api/catalog/import"), None);
    }
}
