//! Retries with jittered exponential backoff (honouring the platform's retry-after) and a per-store
//! circuit breaker. Time comes from tokio, so tests run on a paused clock.

use crate::error::Error;
use rand::Rng as _;
use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, including the first.
    pub max_attempts: u32,
    /// Delay before the first retry (doubled each time).
    pub base_delay: Duration,
    /// Longest computed delay (a platform's retry-after may be longer and is honoured).
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Delay before retry number `retry` (1-based): full jitter in `[d/2, d]`, `d = base · 2^(retry−1)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
            .min(self.max_delay);
        let half = exp / 2;
        half + exp.mul_f64(rand::rng().random_range(0.0..=0.5))
    }
}

#[derive(Debug)]
struct BreakerState {
    consecutive_failures: u32,
    opened_at: Option<Instant>,
    trial_in_flight: bool,
}

/// Per-store circuit breaker: opens after `threshold` consecutive failures, lets one trial call
/// through after `cool_down` (half-open), closes on its success and re-opens on its failure.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cool_down: Duration,
    state: Mutex<BreakerState>,
}

/// What the breaker says about a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Circuit {
    /// Calls flow.
    Closed,
    /// Calls are refused until the cool-down ends.
    Open,
    /// One trial call is allowed.
    HalfOpen,
}

impl CircuitBreaker {
    /// A closed breaker.
    pub fn new(threshold: u32, cool_down: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            cool_down,
            state: Mutex::new(BreakerState {
                consecutive_failures: 0,
                opened_at: None,
                trial_in_flight: false,
            }),
        }
    }

    /// The current state.
    pub fn state(&self) -> Circuit {
        let Ok(s) = self.state.lock() else {
            return Circuit::Closed;
        };
        match s.opened_at {
            None => Circuit::Closed,
            Some(at) if at.elapsed() >= self.cool_down => Circuit::HalfOpen,
            Some(_) => Circuit::Open,
        }
    }

    /// May a call go out now? In half-open state only one trial at a time.
    pub fn allow(&self) -> bool {
        let Ok(mut s) = self.state.lock() else {
            return true;
        };
        match s.opened_at {
            None => true,
            Some(at) if at.elapsed() >= self.cool_down && !s.trial_in_flight => {
                s.trial_in_flight = true;
                true
            }
            Some(_) => false,
        }
    }

    /// Records a success: the breaker closes.
    pub fn on_success(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.consecutive_failures = 0;
            s.opened_at = None;
            s.trial_in_flight = false;
        }
    }

    /// Records a failure: opens at the threshold, re-opens after a failed trial.
    pub fn on_failure(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.consecutive_failures += 1;
            if s.trial_in_flight || s.consecutive_failures >= self.threshold {
                s.opened_at = Some(Instant::now());
            }
            s.trial_in_flight = false;
        }
    }
}

/// Runs `op` (given the attempt number from 1) until it succeeds, fails for good, or runs out of
/// attempts. Retryable failures wait the platform's retry-after when given (never less), else the
/// jittered backoff. Failures count against `breaker`; an open breaker fails fast as transient.
pub async fn with_retries<T, F, Fut>(
    policy: &RetryPolicy,
    breaker: &CircuitBreaker,
    mut op: F,
) -> Result<T, Error>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Error>>,
{
    let mut attempt = 1;
    loop {
        if !breaker.allow() {
            return Err(Error::Transient(
                "circuit open for this store; calls paused".into(),
            ));
        }
        match op(attempt).await {
            Ok(v) => {
                breaker.on_success();
                return Ok(v);
            }
            Err(e) if e.is_retryable() => {
                breaker.on_failure();
                if attempt >= policy.max_attempts {
                    return Err(e);
                }
                let wait = match &e {
                    Error::RateLimited {
                        retry_after: Some(after),
                        ..
                    } => *after,
                    _ => policy.backoff(attempt),
                };
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn policy() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(5),
        }
    }

    #[test]
    fn backoff_grows_with_jitter_and_is_capped() {
        let p = policy();
        for retry in 1..=6 {
            let d = p.backoff(retry);
            let full = (p.base_delay * (1 << (retry - 1))).min(p.max_delay);
            assert!(
                d >= full / 2 && d <= full,
                "retry {retry}: {d:?} vs {full:?}"
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn retry_after_is_honoured() {
        let breaker = CircuitBreaker::new(10, Duration::from_secs(30));
        let calls = AtomicU32::new(0);
        let start = Instant::now();
        let r = with_retries(&policy(), &breaker, async |_| {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(Error::RateLimited {
                    retry_after: Some(Duration::from_secs(7)),
                    message: "429".into(),
                })
            } else {
                Ok("done")
            }
        })
        .await;
        assert_eq!(r, Ok("done"));
        assert!(
            start.elapsed() >= Duration::from_secs(7),
            "waited {:?}",
            start.elapsed()
        );
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_5xx_burst_is_retried_then_surfaced_as_transient() {
        let breaker = CircuitBreaker::new(100, Duration::from_secs(30));
        let calls = AtomicU32::new(0);
        let r: Result<(), Error> = with_retries(&policy(), &breaker, async |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::Transient("HTTP 503".into()))
        })
        .await;
        assert_eq!(r, Err(Error::Transient("HTTP 503".into())));
        assert_eq!(calls.load(Ordering::SeqCst), 4);
        // A burst shorter than the attempts recovers.
        let calls = AtomicU32::new(0);
        let r = with_retries(&policy(), &breaker, async |_| {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(Error::Transient("502".into()))
            } else {
                Ok(1)
            }
        })
        .await;
        assert_eq!(r, Ok(1));
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(30));
        let calls = AtomicU32::new(0);
        let r: Result<(), Error> = with_retries(&policy(), &breaker, async |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(Error::Decode("expected value at line 1".into()))
        })
        .await;
        assert!(matches!(r, Err(Error::Decode(_))));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(breaker.state(), Circuit::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn the_breaker_opens_half_opens_and_closes() {
        let breaker = CircuitBreaker::new(3, Duration::from_secs(30));
        let once = RetryPolicy {
            max_attempts: 1,
            ..policy()
        };
        for _ in 0..3 {
            let _ = with_retries(&once, &breaker, async |_| -> Result<(), Error> {
                Err(Error::Transient("x".into()))
            })
            .await;
        }
        assert_eq!(breaker.state(), Circuit::Open);
        let calls = AtomicU32::new(0);
        let fast = with_retries(&once, &breaker, async |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .await;
        assert!(matches!(fast, Err(Error::Transient(_))));
        assert_eq!(
            calls.load(Ordering::SeqCst),
            0,
            "an open breaker makes no call"
        );

        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(breaker.state(), Circuit::HalfOpen);
        // A failed trial re-opens it.
        let _ = with_retries(&once, &breaker, async |_| -> Result<(), Error> {
            Err(Error::Transient("x".into()))
        })
        .await;
        assert_eq!(breaker.state(), Circuit::Open);
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(breaker.allow(), "one trial");
        assert!(!breaker.allow(), "only one trial at a time");
        breaker.on_success();
        assert_eq!(breaker.state(), Circuit::Closed);
    }
}
