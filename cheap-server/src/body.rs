//! Request bodies are read whole before routing, within the size limit and a read deadline.
//!
//! So every handler, including those that ignore bodies (a GET that carries one), leaves the
//! connection clean for the next request instead of answering before the body arrived and
//! resetting it; a declared oversize body is refused from its headers; and a body sent too
//! slowly is 408, not the request timeout's 503.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::ApiError;
use crate::AppState;

pub(crate) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// An error answer after which the connection is closed: what is left of the body is unread.
pub(crate) fn closing(status: StatusCode, message: &str) -> Response {
    let mut r = ApiError::new(status, message).into_response();
    r.headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    r
}

/// `req` with its body read whole, or the answer that refuses it: 413 over the limit (from
/// the declared length when there is one), 408 when it comes too slowly, 400 when it breaks.
pub(crate) async fn read_whole(state: &AppState, req: Request) -> Result<Request, Response> {
    let limit = state.config.body_limit;
    if declared_length(req.headers()).is_some_and(|n| n > limit as u64) {
        return Err(closing(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large",
        ));
    }
    let (parts, body) = req.into_parts();
    if http_body::Body::is_end_stream(&body) {
        return Ok(Request::from_parts(parts, body));
    }
    let read = tokio::time::timeout(
        state.config.body_read_timeout,
        Limited::new(body, limit).collect(),
    )
    .await;
    match read {
        Err(_) => Err(closing(
            StatusCode::REQUEST_TIMEOUT,
            "The request body was not received in time",
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(closing(
            StatusCode::PAYLOAD_TOO_LARGE,
            "Request body is too large",
        )),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "request body could not be read");
            Err(closing(
                StatusCode::BAD_REQUEST,
                "The request body could not be read",
            ))
        }
        Ok(Ok(collected)) => Ok(Request::from_parts(parts, Body::from(collected.to_bytes()))),
    }
}

/// Writes a body to an unnamed temporary file as it arrives, at most `limit` bytes, each piece
/// within `idle` of the one before (so a large upload may take as long as it needs, and a
/// stalled one does not); returns the file, rewound, and its size.
pub(crate) async fn spool(
    body: Body,
    limit: u64,
    idle: std::time::Duration,
) -> Result<(std::fs::File, u64), Response> {
    use std::io::{Seek, Write};
    let too_large = || closing(StatusCode::PAYLOAD_TOO_LARGE, "Request body is too large");
    let failed = |e: std::io::Error| {
        tracing::error!(error = %e, "could not spool a request body to a temporary file");
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "The server could not store the request body",
        )
        .into_response()
    };
    let file = tokio::task::spawn_blocking(tempfile::tempfile)
        .await
        .map_err(|e| failed(std::io::Error::other(e)))?
        .map_err(failed)?;
    let mut out = std::io::BufWriter::with_capacity(256 * 1024, file);
    let mut size = 0u64;
    let mut body = body.into_data_stream();
    loop {
        let next = tokio::time::timeout(idle, futures::StreamExt::next(&mut body)).await;
        let chunk = match next {
            Err(_) => {
                return Err(closing(
                    StatusCode::REQUEST_TIMEOUT,
                    "The request body was not received in time",
                ))
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "request body could not be read");
                return Err(closing(
                    StatusCode::BAD_REQUEST,
                    "The request body could not be read",
                ));
            }
            Ok(Some(Ok(c))) => c,
        };
        size += chunk.len() as u64;
        if size > limit {
            return Err(too_large());
        }
        // Local disk writes of one piece; short enough to do in place.
        out.write_all(&chunk).map_err(failed)?;
    }
    let mut file = out.into_inner().map_err(|e| failed(e.into_error()))?;
    file.rewind().map_err(failed)?;
    Ok((file, size))
}
