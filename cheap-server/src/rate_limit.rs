//! Requests per client: one token bucket (GCRA, from governor) per API key, or per client IP
//! when the server has no key. Over the limit is 429 with `Retry-After` and the error body;
//! health and metrics are never limited, so probes and scrapes see a busy server as it is.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::error::ApiError;
use crate::AppState;

/// `--rate-limit 200/s --burst 400`: requests per second per client, and how many may come at
/// once after a quiet spell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct RateLimitConfig {
    /// Sustained requests per second per client (at least 1).
    pub per_second: u32,
    /// Largest burst (at least 1; at least `per_second` is usual).
    pub burst: u32,
}

impl RateLimitConfig {
    /// `per_second` sustained, bursts of `burst`.
    pub fn new(per_second: u32, burst: u32) -> Self {
        RateLimitConfig {
            per_second: per_second.max(1),
            burst: burst.max(1),
        }
    }

    /// Reads `200/s`, `12000/min` or a plain number (per second).
    pub fn parse_rate(text: &str) -> Result<u32, String> {
        let (n, unit) = text.split_once('/').unwrap_or((text, "s"));
        let n: u32 = n
            .trim()
            .parse()
            .map_err(|_| format!("'{text}' is not a rate like 200/s"))?;
        let per_second = match unit.trim() {
            "s" | "sec" | "second" => n,
            "m" | "min" | "minute" => n.div_ceil(60),
            _ => return Err(format!("'{text}': the unit is /s or /min")),
        };
        if per_second == 0 {
            return Err(format!("'{text}' allows no requests"));
        }
        Ok(per_second)
    }
}

/// The buckets, and how many requests they refused.
#[derive(Debug)]
pub(crate) struct Limiter {
    buckets: DefaultKeyedRateLimiter<String>,
    limited: AtomicU64,
    checks: AtomicU64,
}

impl Limiter {
    pub(crate) fn new(cfg: RateLimitConfig) -> Arc<Self> {
        let per_second = NonZeroU32::new(cfg.per_second).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(cfg.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::per_second(per_second).allow_burst(burst);
        Arc::new(Limiter {
            buckets: RateLimiter::keyed(quota),
            limited: AtomicU64::new(0),
            checks: AtomicU64::new(0),
        })
    }

    /// Requests refused so far, for `/metrics`.
    pub(crate) fn limited(&self) -> u64 {
        self.limited.load(Ordering::Relaxed)
    }

    /// `None` when `key` may go on, else how long until it may.
    fn check(&self, key: String) -> Option<Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % 65_536 == 65_535 {
            self.forget_idle();
        }
        match self.buckets.check_key(&key) {
            Ok(()) => None,
            Err(not_until) => {
                self.limited.fetch_add(1, Ordering::Relaxed);
                Some(not_until.wait_time_from(DefaultClock::default().now()))
            }
        }
    }

    /// Drops the buckets of clients that are full again (idle), so memory follows the clients
    /// active now, not every client ever seen.
    fn forget_idle(&self) {
        self.buckets.retain_recent();
        self.buckets.shrink_to_fit();
    }
}

pub(crate) fn exempt(path: &str) -> bool {
    matches!(path, "/health" | "/actuator/health" | "/metrics")
}

/// Whose bucket a request takes from: its API key when the server has one (the key was
/// checked before this runs), else its client's address.
fn client_key(state: &AppState, req: &Request) -> String {
    if state.config.api_key.is_some() {
        if let Some(token) = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(crate::auth::bearer_token)
        {
            // Keys are secrets: a bucket is named by a digest of the key, never the key.
            let mut h = cheap_core::hash::CheapHasher::new();
            h.update_str(token);
            return format!("key:{:016x}", h.finish());
        }
    }
    let ip = forwarded_for(state, req).or_else(|| {
        req.extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    });
    match ip {
        Some(ip) => format!("ip:{ip}"),
        None => "ip:unknown".into(),
    }
}

/// The first address of `X-Forwarded-For`, when the server trusts its proxy's headers.
fn forwarded_for(state: &AppState, req: &Request) -> Option<IpAddr> {
    if !state.config.trust_forwarded {
        return None;
    }
    let v = req.headers().get("x-forwarded-for")?.to_str().ok()?;
    v.split(',').next()?.trim().parse().ok()
}

/// The refusal of a client over its quota (429 with `Retry-After`), or `None`.
pub(crate) fn check(state: &AppState, req: &Request) -> Option<Response> {
    let limiter = state.limiter.as_deref()?;
    if exempt(req.uri().path()) {
        return None;
    }
    match limiter.check(client_key(state, req)) {
        None => None,
        Some(wait) => {
            let secs = wait.as_secs_f64().ceil().max(1.0) as u32;
            Some(
                ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!("Rate limit exceeded; retry in {secs} s"),
                )
                .retry_after(secs)
                .into_response(),
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_parse() {
        assert_eq!(RateLimitConfig::parse_rate("200/s"), Ok(200));
        assert_eq!(RateLimitConfig::parse_rate("120/min"), Ok(2));
        assert_eq!(RateLimitConfig::parse_rate("7"), Ok(7));
        assert!(RateLimitConfig::parse_rate("0/s").is_err());
        assert!(RateLimitConfig::parse_rate("fast").is_err());
        assert!(RateLimitConfig::parse_rate("5/h").is_err());
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_counts() {
        let l = Limiter::new(RateLimitConfig::new(1, 3));
        for _ in 0..3 {
            assert_eq!(l.check("a".into()), None);
        }
        let wait = l.check("a".into()).expect("over the burst");
        assert!(wait <= Duration::from_secs(1), "{wait:?}");
        assert_eq!(l.check("b".into()), None, "each client has its own bucket");
        assert_eq!(l.limited(), 1);
    }
}
