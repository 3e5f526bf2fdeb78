//! A circuit breaker: after repeated failures, fail fast for a while instead of piling load on
//! a server that is down.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::CircuitBreakerConfig;

#[derive(Debug)]
enum State {
    Closed { failures: u32 },
    Open { until: Instant },
    HalfOpen { successes: u32 },
}

#[derive(Debug)]
pub(crate) struct CircuitBreaker {
    cfg: CircuitBreakerConfig,
    state: Mutex<State>,
}

impl CircuitBreaker {
    pub(crate) fn new(cfg: CircuitBreakerConfig) -> Self {
        CircuitBreaker {
            cfg,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// Whether a request may be sent now.
    pub(crate) fn allow(&self) -> bool {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match *s {
            State::Open { until } if Instant::now() < until => false,
            State::Open { .. } => {
                *s = State::HalfOpen { successes: 0 };
                true
            }
            _ => true,
        }
    }

    pub(crate) fn success(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = match *s {
            State::HalfOpen { successes } if successes + 1 < self.cfg.success_threshold => {
                State::HalfOpen {
                    successes: successes + 1,
                }
            }
            _ => State::Closed { failures: 0 },
        };
    }

    pub(crate) fn failure(&self) {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let open = State::Open {
            until: Instant::now() + self.cfg.recovery_timeout,
        };
        *s = match *s {
            State::Closed { failures } if failures + 1 < self.cfg.failure_threshold => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            State::Open { until } => State::Open { until },
            _ => {
                tracing::warn!("circuit breaker open");
                open
            }
        };
    }
}
