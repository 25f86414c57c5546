//! Circuit breakers for the dependencies on the request path (Postgres, Redis), and the guarded
//! Redis handle every request-path Redis call goes through.
//!
//! A breaker opens after `threshold` consecutive failures and then refuses calls at once for
//! `cool_down`; after that one call at a time is let through as a probe, and its success closes
//! the breaker. So a dependency that hangs costs the first few calls their deadline, and every
//! later call nothing, until it answers again.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// One dependency's breaker.
pub struct Breaker {
    name: &'static str,
    threshold: u32,
    cool_down: Duration,
    failures: AtomicU32,
    open_until: Mutex<Option<Instant>>,
    probing: AtomicBool,
}

/// A permit to call the dependency: report how the call went.
#[must_use = "report the outcome with success() or failure()"]
pub struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    reported: bool,
}

impl Permit<'_> {
    /// The call succeeded: the breaker closes.
    pub fn success(mut self) {
        self.reported = true;
        self.breaker.succeeded(self.probe);
    }

    /// The call failed (or timed out).
    pub fn failure(mut self) {
        self.reported = true;
        self.breaker.failed(self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        // A call abandoned without a verdict (its caller was cancelled) frees the probe slot.
        if !self.reported && self.probe {
            self.breaker.probing.store(false, Ordering::Release);
        }
    }
}

impl Breaker {
    /// A breaker that opens after `threshold` consecutive failures for `cool_down`.
    pub fn new(name: &'static str, threshold: u32, cool_down: Duration) -> Self {
        Self {
            name,
            threshold: threshold.max(1),
            cool_down,
            failures: AtomicU32::new(0),
            open_until: Mutex::new(None),
            probing: AtomicBool::new(false),
        }
    }

    fn open_until(&self) -> Option<Instant> {
        *self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether calls are being refused now.
    pub fn is_open(&self) -> bool {
        self.open_until().is_some()
    }

    /// Seconds a refused caller should wait (at least 1).
    pub fn retry_after_secs(&self) -> u64 {
        self.open_until()
            .map(|t| t.saturating_duration_since(Instant::now()))
            .map_or(1, |d| d.as_secs() + 1)
    }

    /// A permit to call, or `None` while the breaker is open (or another probe is out).
    pub fn permit(&self) -> Option<Permit<'_>> {
        match self.open_until() {
            None => Some(Permit {
                breaker: self,
                probe: false,
                reported: false,
            }),
            Some(until) if Instant::now() >= until => self
                .probing
                .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
                .is_ok()
                .then_some(Permit {
                    breaker: self,
                    probe: true,
                    reported: false,
                }),
            Some(_) => None,
        }
    }

    fn succeeded(&self, probe: bool) {
        self.failures.store(0, Ordering::Release);
        let mut open = self
            .open_until
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if open.take().is_some() {
            tracing::info!(
                dependency = self.name,
                "dependency answers again; circuit closed"
            );
        }
        if probe {
            self.probing.store(false, Ordering::Release);
        }
    }

    fn failed(&self, probe: bool) {
        let n = self.failures.fetch_add(1, Ordering::AcqRel) + 1;
        if n >= self.threshold || probe {
            let mut open = self
                .open_until
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if open.is_none() {
                tracing::warn!(
                    dependency = self.name,
                    cool_down_ms = self.cool_down.as_millis() as u64,
                    "dependency failing; circuit open"
                );
            }
            *open = Some(Instant::now() + self.cool_down);
        }
        if probe {
            self.probing.store(false, Ordering::Release);
        }
    }
}

/// Why a guarded Redis call did not happen or did not finish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RedisUnavailable {
    /// The breaker is open: Redis was not called.
    Open,
    /// The call missed its deadline.
    TimedOut,
    /// Redis answered with an error, or no connection could be had.
    Failed(String),
}

impl std::fmt::Display for RedisUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Open => f.write_str("circuit open"),
            Self::TimedOut => f.write_str("timed out"),
            Self::Failed(e) => f.write_str(e),
        }
    }
}

/// The Redis pool with a deadline per call and a shared breaker: what the request path uses.
#[derive(Clone)]
pub struct GuardedRedis {
    /// The pool (workers and subscriptions use it directly).
    pub pool: deadpool_redis::Pool,
    /// The breaker shared by every request-path call of this process.
    pub breaker: std::sync::Arc<Breaker>,
    /// Deadline of one call, connection checkout included.
    pub deadline: Duration,
}

impl GuardedRedis {
    /// Runs `f` on a pooled connection within the deadline, unless the breaker is open.
    pub async fn run<T>(
        &self,
        f: impl AsyncFnOnce(&mut deadpool_redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, RedisUnavailable> {
        let permit = self.breaker.permit().ok_or(RedisUnavailable::Open)?;
        let call = async {
            let mut conn = self
                .pool
                .get()
                .await
                .map_err(|e| RedisUnavailable::Failed(e.to_string()))?;
            f(&mut conn)
                .await
                .map_err(|e| RedisUnavailable::Failed(e.to_string()))
        };
        match tokio::time::timeout(self.deadline, call).await {
            Ok(Ok(v)) => {
                permit.success();
                Ok(v)
            }
            Ok(Err(e)) => {
                permit.failure();
                Err(e)
            }
            Err(_) => {
                permit.failure();
                Err(RedisUnavailable::TimedOut)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_the_threshold_and_lets_one_probe_through_after_the_cool_down() {
        let b = Breaker::new("test", 2, Duration::from_millis(0));
        b.permit().expect("closed").failure();
        assert!(!b.is_open());
        b.permit().expect("closed").failure();
        assert!(b.is_open());
        let probe = b.permit().expect("cool-down over: a probe");
        assert!(b.permit().is_none(), "one probe at a time");
        probe.success();
        assert!(!b.is_open());
    }

    #[test]
    fn refuses_while_open() {
        let b = Breaker::new("test", 1, Duration::from_secs(60));
        b.permit().expect("closed").failure();
        assert!(b.permit().is_none());
        assert!(b.retry_after_secs() >= 59);
    }

    #[test]
    fn an_abandoned_probe_frees_its_slot() {
        let b = Breaker::new("test", 1, Duration::from_millis(0));
        b.permit().expect("closed").failure();
        drop(b.permit().expect("probe"));
        assert!(b.permit().is_some());
    }
}
