//! Client settings.

use std::time::Duration;

/// How failed requests are retried.
#[derive(Debug, Clone)]
pub struct RetryPolicy {
    /// Retries after the first attempt (3).
    pub max_retries: u32,
    /// First backoff (100 ms); each retry multiplies it.
    pub initial_backoff: Duration,
    /// Backoff multiplier (2.0).
    pub multiplier: f64,
    /// Longest backoff (5 s).
    pub max_backoff: Duration,
    /// Randomize each backoff between half and all of it (true).
    pub jitter: bool,
    /// Longest `Retry-After` honoured (60 s); longer values are capped.
    pub max_retry_after: Duration,
    /// Retry requests that are not idempotent (creates, upserts) too (false).
    pub retry_non_idempotent: bool,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            initial_backoff: Duration::from_millis(100),
            multiplier: 2.0,
            max_backoff: Duration::from_secs(5),
            jitter: true,
            max_retry_after: Duration::from_secs(60),
            retry_non_idempotent: false,
        }
    }
}

impl RetryPolicy {
    /// No retries.
    pub fn none() -> Self {
        RetryPolicy {
            max_retries: 0,
            ..RetryPolicy::default()
        }
    }

    /// The wait before retry number `attempt` (1-based).
    pub(crate) fn backoff(&self, attempt: u32) -> Duration {
        let base = self.initial_backoff.as_secs_f64()
            * self.multiplier.powi(attempt.saturating_sub(1) as i32);
        let capped = base.min(self.max_backoff.as_secs_f64());
        let secs = if self.jitter {
            capped * (0.5 + fastrand::f64() * 0.5)
        } else {
            capped
        };
        Duration::from_secs_f64(secs)
    }
}

/// When the circuit breaker opens and closes.
#[derive(Debug, Clone)]
pub struct CircuitBreakerConfig {
    /// Consecutive failures (connect errors, timeouts, 5xx) that open the circuit (5).
    pub failure_threshold: u32,
    /// How long it stays open before letting a trial request through (30 s).
    pub recovery_timeout: Duration,
    /// Successful trial requests that close it again (1).
    pub success_threshold: u32,
}

impl Default for CircuitBreakerConfig {
    fn default() -> Self {
        CircuitBreakerConfig {
            failure_threshold: 5,
            recovery_timeout: Duration::from_secs(30),
            success_threshold: 1,
        }
    }
}

/// A client-side quota: at most `requests` per `per`, with bursts of up to `requests`, so a
/// script stays under a server's limit instead of running into 429s.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Requests allowed per window (at least 1).
    pub requests: u32,
    /// The window.
    pub per: Duration,
}

impl RateLimit {
    /// `requests` per second.
    pub fn per_second(requests: u32) -> Self {
        RateLimit {
            requests,
            per: Duration::from_secs(1),
        }
    }

    pub(crate) fn limiter(self) -> Limiter {
        let n =
            std::num::NonZeroU32::new(self.requests.max(1)).unwrap_or(std::num::NonZeroU32::MIN);
        let period = (self.per / n.get()).max(Duration::from_nanos(1));
        let quota = governor::Quota::with_period(period)
            .unwrap_or_else(|| governor::Quota::per_second(n))
            .allow_burst(n);
        governor::RateLimiter::direct(quota)
    }
}

/// The token bucket a [`RateLimit`] makes.
pub(crate) type Limiter = governor::DefaultDirectRateLimiter;

/// Everything a client needs; build with [`ClientConfig::new`] and the setters.
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientConfig {
    pub(crate) base_url: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) pool_max_idle_per_host: usize,
    pub(crate) pool_idle_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) circuit_breaker: Option<CircuitBreakerConfig>,
    pub(crate) max_in_flight: usize,
    pub(crate) api_key: Option<String>,
    pub(crate) user_agent: String,
    pub(crate) rate_limit: Option<RateLimit>,
}

impl ClientConfig {
    /// Defaults for a server at `base_url` (such as `http://127.0.0.1:8080`): request timeout
    /// 30 s, connect timeout 5 s, 32 idle connections per host kept 90 s, the default
    /// [`RetryPolicy`], a circuit breaker with its defaults, at most 64 requests in flight.
    pub fn new(base_url: impl Into<String>) -> Self {
        ClientConfig {
            base_url: base_url.into().trim_end_matches('/').to_owned(),
            timeout: Duration::from_secs(30),
            connect_timeout: Duration::from_secs(5),
            pool_max_idle_per_host: 32,
            pool_idle_timeout: Duration::from_secs(90),
            retry: RetryPolicy::default(),
            circuit_breaker: Some(CircuitBreakerConfig::default()),
            max_in_flight: 64,
            api_key: None,
            user_agent: format!("cheap-client/{}", env!("CARGO_PKG_VERSION")),
            rate_limit: None,
        }
    }

    /// Whole-request timeout.
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Connection timeout.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Idle connections kept per host.
    pub fn pool_max_idle_per_host(mut self, n: usize) -> Self {
        self.pool_max_idle_per_host = n;
        self
    }

    /// How long an idle connection is kept.
    pub fn pool_idle_timeout(mut self, d: Duration) -> Self {
        self.pool_idle_timeout = d;
        self
    }

    /// The retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The circuit breaker (`None` turns it off).
    pub fn circuit_breaker(mut self, cfg: Option<CircuitBreakerConfig>) -> Self {
        self.circuit_breaker = cfg;
        self
    }

    /// Most requests in flight at once; more wait their turn.
    pub fn max_in_flight(mut self, n: usize) -> Self {
        self.max_in_flight = n.max(1);
        self
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Sends at most this many requests per window (each retry counts); none by default.
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The `User-Agent` header.
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }
}
