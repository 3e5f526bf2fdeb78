//! Following a catalog's change events (`GET /api/catalog/{id}/events`, Server-Sent Events),
//! reconnecting from the last event id when the connection drops.

use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::stream::BoxStream;
use futures::StreamExt;
use reqwest::header::{HeaderName, ACCEPT};
use uuid::Uuid;

use crate::error::{ClientError, Result};
use crate::transport::Transport;
use cheap_core::dao::ChangeEvent;
use cheap_core::rest::ChangeEventBody;

/// How long a stream may stay silent (the server sends keep-alives every 15 s by default)
/// before it is taken for dead and opened again.
pub(crate) fn silence_limit(t: &Transport) -> Duration {
    t.cfg.timeout.max(Duration::from_secs(60))
}

/// The events of `catalog` after version `since`, opened again from the last event's version
/// whenever the connection drops or goes silent; ends after [`ChangeEvent::Deleted`], or with
/// an error when the server refuses the stream (a missing catalog, a bad key) or cannot be
/// reached after the retry policy's attempts in a row.
pub(crate) fn events(
    t: std::sync::Arc<Transport>,
    catalog: Uuid,
    since: i64,
) -> BoxStream<'static, Result<ChangeEvent>> {
    async_stream::stream! {
        let path = format!("/api/catalog/{catalog}/events");
        let mut last = since;
        let mut failures = 0u32;
        loop {
            let headers = [
                (ACCEPT, "text/event-stream".to_owned()),
                (HeaderName::from_static("last-event-id"), last.to_string()),
            ];
            let resp = match t.open_stream(&path, &[("since", last.to_string())], &headers).await {
                Ok(r) => r,
                Err(e) => {
                    let again = worth_reconnecting(&e) && failures < t.cfg.retry.max_retries;
                    if !again {
                        yield Err(e);
                        return;
                    }
                    failures += 1;
                    tokio::time::sleep(t.cfg.retry.backoff(failures)).await;
                    continue;
                }
            };
            failures = 0;
            let silence = silence_limit(&t);
            let bytes = futures::stream::unfold(resp, |mut resp| async move {
                match resp.chunk().await {
                    Ok(Some(b)) => Some((Ok(b), resp)),
                    Ok(None) => None,
                    Err(e) => Some((Err(e), resp)),
                }
            });
            let mut sse = std::pin::pin!(bytes.eventsource());
            loop {
                let next = match tokio::time::timeout(silence, sse.next()).await {
                    Ok(n) => n,
                    Err(_) => {
                        tracing::debug!(%catalog, "the event stream went silent; opening it again");
                        break;
                    }
                };
                let event = match next {
                    Some(Ok(e)) => e,
                    Some(Err(e)) => {
                        tracing::debug!(%catalog, error = %e, "the event stream broke; opening it again");
                        break;
                    }
                    None => break,
                };
                let parsed = serde_json::from_str::<ChangeEventBody>(&event.data)
                    .map_err(|e| ClientError::Decode(format!("a change event: {e}")))
                    .and_then(|b| ChangeEvent::try_from(b).map_err(|e| ClientError::Decode(e.to_string())));
                match parsed {
                    Ok(e) => {
                        if let Some(v) = e.version() {
                            last = v;
                        }
                        let done = e == ChangeEvent::Deleted;
                        yield Ok(e);
                        if done {
                            return;
                        }
                    }
                    Err(e) => {
                        yield Err(e);
                        return;
                    }
                }
            }
        }
    }
    .boxed()
}

/// Errors after which the stream is opened again: the server may be back in a moment.
fn worth_reconnecting(e: &ClientError) -> bool {
    match e {
        ClientError::Connect(_)
        | ClientError::Timeout(_)
        | ClientError::Transport(_)
        | ClientError::Contention { .. }
        | ClientError::RateLimited { .. }
        | ClientError::CircuitOpen => true,
        ClientError::Server { status, .. } => matches!(status, 500 | 502 | 503 | 504),
        _ => false,
    }
}
