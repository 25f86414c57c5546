//! Abuse limits: per-principal and per-IP request rates (in-process GCRA plus a shared quota in
//! Redis), and Shopify-style query cost charged to a per-principal bucket.

pub mod analysis;
pub mod cost;
pub mod guard;
pub mod quota;
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
        let m = crate::metrics::get();
        m.redis_error(self.what);
        m.redis_fallback(self.what);
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

/// Things held at once per key (WebSockets per principal), capped.
pub struct PerKey {
    counts: Mutex<std::collections::HashMap<String, usize>>,
    max: usize,
}

/// One held unit; released when dropped.
pub struct Held {
    owner: std::sync::Arc<PerKey>,
    key: String,
}

impl PerKey {
    /// At most `max` per key.
    pub fn new(max: usize) -> Self {
        Self {
            counts: Mutex::new(std::collections::HashMap::new()),
            max,
        }
    }

    /// Holds one unit for `key`, or `None` when it already holds the most allowed.
    pub fn try_hold(self: &std::sync::Arc<Self>, key: &str) -> Option<Held> {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = counts.entry(key.to_owned()).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Held {
            owner: self.clone(),
            key: key.to_owned(),
        })
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut counts = self
            .owner
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = counts.get_mut(&self.key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                counts.remove(&self.key);
            }
        }
    }
}
