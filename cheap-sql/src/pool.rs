//! Pool settings every backend's options share, with the same defaults and meaning.

use std::time::Duration;

/// How a backend's connection pool is sized and aged. Defaults: 1 to `max` connections, an
/// acquire timeout of 5 s (a call that waits longer fails with `Unavailable`), idle
/// connections closed after 10 min, connections replaced after 30 min.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct PoolSettings {
    /// Connections kept open.
    pub min_connections: u32,
    /// Most connections open at once (at least 1).
    pub max_connections: u32,
    /// How long a call waits for a free connection.
    pub acquire_timeout: Duration,
    /// Close connections idle this long (`None` keeps them).
    pub idle_timeout: Option<Duration>,
    /// Replace connections this old (`None` keeps them).
    pub max_lifetime: Option<Duration>,
}

impl PoolSettings {
    /// The defaults, with at most `max` connections.
    pub fn with_max(max: u32) -> Self {
        PoolSettings {
            min_connections: 1,
            max_connections: max.max(1),
            acquire_timeout: Duration::from_secs(5),
            idle_timeout: Some(Duration::from_secs(600)),
            max_lifetime: Some(Duration::from_secs(1800)),
        }
    }

    /// One connection kept for the pool's lifetime (an in-memory database lives as long as
    /// its last connection).
    pub fn single(self) -> Self {
        PoolSettings {
            min_connections: 1,
            max_connections: 1,
            idle_timeout: None,
            max_lifetime: None,
            ..self
        }
    }

    /// Connections kept open.
    pub fn min_connections(mut self, n: u32) -> Self {
        self.min_connections = n;
        self
    }

    /// Most connections open at once (at least 1).
    pub fn max_connections(mut self, n: u32) -> Self {
        self.max_connections = n.max(1);
        self
    }

    /// How long a call waits for a free connection.
    pub fn acquire_timeout(mut self, d: Duration) -> Self {
        self.acquire_timeout = d;
        self
    }

    /// Close connections idle this long (`None` keeps them).
    pub fn idle_timeout(mut self, d: Option<Duration>) -> Self {
        self.idle_timeout = d;
        self
    }

    /// Replace connections this old (`None` keeps them).
    pub fn max_lifetime(mut self, d: Option<Duration>) -> Self {
        self.max_lifetime = d;
        self
    }

    /// The minimum, never above the maximum.
    pub fn effective_min(&self) -> u32 {
        self.min_connections.min(self.max_connections)
    }
}
