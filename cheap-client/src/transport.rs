//! Sending one request: the in-flight limit, the circuit breaker, retries with backoff and
//! `Retry-After`, and error mapping.

use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, CONTENT_TYPE, ETAG, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;

use crate::breaker::CircuitBreaker;
use crate::config::ClientConfig;
use crate::error::{ClientError, Result};

#[derive(Debug)]
pub(crate) struct Transport {
    http: reqwest::Client,
    pub(crate) cfg: ClientConfig,
    breaker: Option<CircuitBreaker>,
    limit: Arc<Semaphore>,
    limiter: Option<crate::config::Limiter>,
}

/// A 2xx or 304 answer.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    /// Its `ETag`.
    pub etag: Option<String>,
    pub body: Vec<u8>,
}

fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    // Seconds; an HTTP date is taken as "now", which the backoff then spaces out.
    v.parse::<u64>().ok().map(Duration::from_secs)
}

fn retryable_status(s: StatusCode) -> bool {
    matches!(s.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

impl Transport {
    pub(crate) fn new(cfg: ClientConfig) -> Result<Self> {
        if !(cfg.base_url.starts_with("http://") || cfg.base_url.starts_with("https://")) {
            return Err(ClientError::Invalid(format!(
                "base URL '{}' must start with http:// or https://",
                cfg.base_url
            )));
        }
        let http = reqwest::Client::builder()
            .timeout(cfg.timeout)
            .connect_timeout(cfg.connect_timeout)
            .pool_max_idle_per_host(cfg.pool_max_idle_per_host)
            .pool_idle_timeout(cfg.pool_idle_timeout)
            .tcp_nodelay(true)
            .user_agent(cfg.user_agent.clone())
            .build()
            .map_err(ClientError::from_reqwest)?;
        Ok(Transport {
            breaker: cfg.circuit_breaker.clone().map(CircuitBreaker::new),
            limit: Arc::new(Semaphore::new(cfg.max_in_flight)),
            limiter: cfg.rate_limit.map(|r| r.limiter()),
            http,
            cfg,
        })
    }

    /// Sends a request and returns the status and body of a 2xx answer.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        idempotent: bool,
    ) -> Result<(StatusCode, Vec<u8>)> {
        let a = self
            .exchange(method, path, query, body, idempotent, &[])
            .await?;
        Ok((a.status, a.body))
    }

    /// [`send`](Self::send) with extra headers (`If-Match`, `If-None-Match`); a 304 answer is
    /// returned, with an empty body, like a 2xx one.
    pub(crate) async fn exchange(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Vec<u8>>,
        idempotent: bool,
        headers: &[(HeaderName, String)],
    ) -> Result<Answer> {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| ClientError::Invalid("client is shut down".into()))?;
        let url = format!("{}{path}", self.cfg.base_url);
        let policy = &self.cfg.retry;
        let may_retry = idempotent || policy.retry_non_idempotent;
        let mut attempt = 0u32;
        loop {
            if let Some(b) = &self.breaker {
                if !b.allow() {
                    return Err(ClientError::CircuitOpen);
                }
            }
            let mut req = self.request(method.clone(), &url, query, headers).await;
            if let Some(b) = &body {
                req = req.header(CONTENT_TYPE, "application/json").body(b.clone());
            }
            // What is safe to send again: anything that never reached the server (a connect
            // error) or that it did not apply (contention); timeouts and broken transfers only
            // when the request is idempotent.
            let (retryable, safe_anyway, wait_at_least, err) = match req.send().await {
                Err(e) => {
                    let err = ClientError::from_reqwest(e);
                    self.failure();
                    let connect = matches!(err, ClientError::Connect(_));
                    (
                        connect
                            || matches!(err, ClientError::Timeout(_) | ClientError::Transport(_)),
                        connect,
                        None,
                        err,
                    )
                }
                Ok(resp) => {
                    let status = resp.status();
                    let after = retry_after(resp.headers());
                    let etag = resp
                        .headers()
                        .get(ETAG)
                        .and_then(|v| v.to_str().ok())
                        .map(str::to_owned);
                    let bytes = match resp.bytes().await {
                        Ok(b) => b.to_vec(),
                        Err(e) => {
                            self.failure();
                            let err = ClientError::from_reqwest(e);
                            let retry = matches!(err, ClientError::Timeout(_));
                            if !(retry && may_retry && attempt < policy.max_retries) {
                                return Err(err);
                            }
                            attempt += 1;
                            tokio::time::sleep(policy.backoff(attempt)).await;
                            continue;
                        }
                    };
                    if status.is_success() || status == StatusCode::NOT_MODIFIED {
                        self.success();
                        return Ok(Answer {
                            status,
                            etag,
                            body: bytes,
                        });
                    }
                    let err = ClientError::from_answer(
                        status.as_u16(),
                        &bytes,
                        after.map(|d| d.as_secs()),
                    );
                    // Neither was applied: sending it again is safe, whatever the method.
                    let contention = matches!(
                        err,
                        ClientError::Contention { .. } | ClientError::RateLimited { .. }
                    );
                    if status.is_server_error() && !contention {
                        self.failure();
                    } else {
                        // A 4xx answer, or contention, shows a server that works.
                        self.success();
                    }
                    (retryable_status(status), contention, after, err)
                }
            };
            if !(retryable && (may_retry || safe_anyway) && attempt < policy.max_retries) {
                return Err(err);
            }
            attempt += 1;
            let mut wait = policy.backoff(attempt);
            if let Some(ra) = wait_at_least {
                wait = wait.max(ra.min(policy.max_retry_after));
            }
            tracing::debug!(%url, attempt, ?wait, error = %err, "retrying");
            tokio::time::sleep(wait).await;
        }
    }

    /// Opens a long-lived GET (an event stream) in one attempt: the caller reconnects. It
    /// takes an in-flight slot only while connecting, and no total timeout applies to it.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        query: &[(&str, String)],
        headers: &[(HeaderName, String)],
    ) -> Result<reqwest::Response> {
        let _permit = self
            .limit
            .acquire()
            .await
            .map_err(|_| ClientError::Invalid("client is shut down".into()))?;
        if let Some(b) = &self.breaker {
            if !b.allow() {
                return Err(ClientError::CircuitOpen);
            }
        }
        let url = format!("{}{path}", self.cfg.base_url);
        let req = self
            .request(Method::GET, &url, query, headers)
            .await
            // A stream lasts as long as it is read; a dead one is found by its silence.
            .timeout(Duration::from_secs(365 * 86_400));
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.failure();
                return Err(ClientError::from_reqwest(e));
            }
        };
        let status = resp.status();
        if status.is_success() {
            self.success();
            return Ok(resp);
        }
        let after = retry_after(resp.headers());
        let bytes = resp.bytes().await.unwrap_or_default();
        let err = ClientError::from_answer(status.as_u16(), &bytes, after.map(|d| d.as_secs()));
        if status.is_server_error() {
            self.failure();
        } else {
            self.success();
        }
        Err(err)
    }

    /// A request with the query, the API key and `headers`, once the rate limiter lets it go.
    async fn request(
        &self,
        method: Method,
        url: &str,
        query: &[(&str, String)],
        headers: &[(HeaderName, String)],
    ) -> reqwest::RequestBuilder {
        let mut req = self.http.request(method, url).query(query);
        if let Some(k) = &self.cfg.api_key {
            req = req.bearer_auth(k);
        }
        for (name, value) in headers {
            req = req.header(name, value);
        }
        if let Some(limiter) = &self.limiter {
            limiter.until_ready().await;
        }
        req
    }

    fn success(&self) {
        if let Some(b) = &self.breaker {
            b.success();
        }
    }

    fn failure(&self) {
        if let Some(b) = &self.breaker {
            b.failure();
        }
    }
}
