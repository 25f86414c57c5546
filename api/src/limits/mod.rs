//! Abuse limits: per-principal and per-IP request rates (in-process GCRA plus a shared quota in
//! Redis), and Shopify-style query cost charged to a per-principal bucket.

pub mod analysis;
pub mod cost;
pub mod rate;

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Logs "Redis unavailable, using the local limiter" at most once per interval per limiter.
pub(crate) struct DegradedLog {
    last: Mutex<Option<Instant>>,
    what: &'static str,
}

impl DegradedLog {
    pub(crate) const fn new(what: &'static str) -> Self {
        Self {
            last: Mutex::new(None),
            what,
        }
    }

    pub(crate) fn note(&self, error: &str) {
        let Ok(mut last) = self.last.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(10)) {
            *last = Some(Instant::now());
            tracing::warn!(
                limiter = self.what,
                error,
                "Redis unavailable; enforcing the local limit only"
            );
        }
    }
}

/// How long a Redis call of a limiter may take before the local decision stands.
pub(crate) const REDIS_BUDGET: Duration = Duration::from_millis(250);
