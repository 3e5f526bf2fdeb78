//! The optional API key: `Authorization: Bearer <key>` on every route but health and the API document.

use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::AppState;

/// `None` (let it through) when no key is configured, when it asks for health, or when it
/// carries the key; otherwise 401 with `WWW-Authenticate: Bearer`. A configured empty key
/// matches nothing (fail closed); the `cheap` command refuses to start with one.
pub(crate) fn check(state: &AppState, req: &Request) -> Option<Response> {
    let key = state.config.api_key.as_deref()?;
    if is_public(req.uri().path()) {
        return None;
    }
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer_token);
    match given {
        Some(token) if !key.is_empty() && constant_time_eq(token.as_bytes(), key.as_bytes()) => {
            None
        }
        _ => {
            let mut r =
                ApiError::new(StatusCode::UNAUTHORIZED, "Missing or wrong API key").into_response();
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            Some(r)
        }
    }
}

pub(crate) fn is_public(path: &str) -> bool {
    matches!(
        path,
        "/health" | "/actuator/health" | "/api-docs" | "/swagger-ui.html" | "/docs"
    ) || path.starts_with("/docs/")
}

/// The token of a `Bearer` credential; the scheme is case-insensitive (RFC 9110 §11.1).
pub(crate) fn bearer_token(value: &str) -> Option<&str> {
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

/// Compares without an early exit, so timing does not tell how much of a key matched.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    let mut diff = (a.len() ^ b.len()) as u8;
    for (i, x) in a.iter().enumerate() {
        diff |= x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0);
    }
    diff == 0 && a.len() == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_comparison() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret2"));
        assert!(!constant_time_eq(b"", b"secret"));
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer abc"), Some("abc"));
        assert_eq!(bearer_token("BEARER   abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("Bearer"), None);
    }
}
