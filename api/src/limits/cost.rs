//! Query cost, Shopify-style: every operation's requested cost is computed before it runs
//! ([`super::analysis`]) by the GraphQL cost extension (`graphql::cost`); an operation above the bucket's maximum is refused, otherwise the cost is
//! taken from the caller's bucket (refused with THROTTLED when it holds too little), and after
//! execution the difference to the actual cost is given back: not by a call of its own, but with
//! the caller's next charge (one Redis call per operation instead of two; the response already
//! shows the balance after the refund). Every response carries `extensions.cost`. Buckets live in Redis (shared by all processes) with an in-process fallback.

use super::DegradedLog;
use crate::breaker::GuardedRedis;
use crate::keys::Keys;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

/// Leaky bucket on Redis time. KEYS[1]; ARGV: max, restore rate per second, amount (negative =
/// give back). Returns {admitted, available, seconds until `amount` is available}.
const BUCKET: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local max = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local s = redis.call('HMGET', KEYS[1], 'a', 't')
local avail = tonumber(s[1]) or max
local ts = tonumber(s[2]) or now
avail = math.min(max, avail + math.max(0, now - ts) * rate)
if amount > 0 and amount > avail then
  return {0, tostring(avail), tostring((amount - avail) / rate)}
end
avail = math.min(max, avail - amount)
redis.call('HSET', KEYS[1], 'a', tostring(avail), 't', tostring(now))
redis.call('EXPIRE', KEYS[1], math.ceil(max / rate) + 1)
return {1, tostring(avail), '0'}
";

/// Bucket parameters.
#[derive(Debug, Clone, Copy)]
pub struct BucketConfig {
    /// Largest balance (and largest admissible query).
    pub max: u32,
    /// Points restored per second.
    pub restore_rate: u32,
}

/// The outcome of taking from (or giving back to) a bucket.
#[derive(Debug, Clone, Copy)]
pub struct Take {
    /// Whether the amount was taken.
    pub admitted: bool,
    /// Balance after the operation.
    pub available: f64,
    /// Seconds until the amount would be available (when not admitted).
    pub wait_secs: f64,
}

/// Per-principal cost buckets.
pub struct CostLimiter {
    config: BucketConfig,
    redis: GuardedRedis,
    keys: Keys,
    script: redis::Script,
    local: Mutex<HashMap<String, (f64, Instant)>>,
    /// Points owed back to each bucket, given back with its next charge.
    refunds: Mutex<HashMap<String, i64>>,
    degraded: DegradedLog,
}

/// Refunds owed to this many buckets at most; past it they are dropped (a bucket then refills
/// at its restore rate, a little later than it would have).
const MAX_OWED: usize = 100_000;

impl CostLimiter {
    /// Buckets with `config`, shared through `redis` under `keys`.
    pub fn new(redis: GuardedRedis, keys: Keys, config: BucketConfig) -> Self {
        Self {
            config,
            redis,
            keys,
            script: redis::Script::new(BUCKET),
            local: Mutex::new(HashMap::new()),
            refunds: Mutex::new(HashMap::new()),
            degraded: DegradedLog::new("cost"),
        }
    }

    /// The bucket parameters.
    pub fn config(&self) -> BucketConfig {
        self.config
    }

    fn take_local(&self, key: &str, amount: f64) -> Take {
        let max = f64::from(self.config.max);
        let rate = f64::from(self.config.restore_rate);
        let Ok(mut map) = self.local.lock() else {
            return Take {
                admitted: true,
                available: max,
                wait_secs: 0.0,
            };
        };
        if map.len() > 100_000 {
            map.retain(|_, (avail, at)| *avail + at.elapsed().as_secs_f64() * rate < max);
        }
        let now = Instant::now();
        let (avail, at) = map.get(key).copied().unwrap_or((max, now));
        let avail = (avail + now.duration_since(at).as_secs_f64() * rate).min(max);
        if amount > 0.0 && amount > avail {
            map.insert(key.to_owned(), (avail, now));
            return Take {
                admitted: false,
                available: avail,
                wait_secs: (amount - avail) / rate,
            };
        }
        let left = (avail - amount).min(max);
        map.insert(key.to_owned(), (left, now));
        Take {
            admitted: true,
            available: left,
            wait_secs: 0.0,
        }
    }

    /// Owes `points` back to `key`'s bucket (given back with its next [`Self::charge`]);
    /// returns the balance once they are, from `available` just after the charge.
    pub fn refund(&self, key: &str, points: i64, available: f64) -> f64 {
        if points <= 0 {
            return available;
        }
        if let Ok(mut owed) = self.refunds.lock() {
            if owed.len() >= MAX_OWED && !owed.contains_key(key) {
                owed.clear();
            }
            *owed.entry(key.to_owned()).or_insert(0) += points;
        }
        #[allow(clippy::cast_precision_loss)]
        let points = points as f64;
        (available + points).min(f64::from(self.config.max))
    }

    /// Takes `amount` points from `key`'s bucket, after giving back what it is owed: one call.
    /// When refused, the refund stays owed (the balance shown includes it).
    pub async fn charge(&self, key: &str, amount: i64) -> Take {
        let owed = self
            .refunds
            .lock()
            .ok()
            .and_then(|mut o| o.remove(key))
            .unwrap_or(0);
        let mut take = self.take(key, amount.saturating_sub(owed)).await;
        if !take.admitted && owed > 0 {
            take.available = self.refund(key, owed, take.available);
        }
        take
    }

    /// Takes `amount` points from `key`'s bucket (a negative amount gives points back).
    async fn take(&self, key: &str, amount: i64) -> Take {
        let redis_key = self.keys.cost(key);
        let shared = self
            .redis
            .run(async |conn| {
                self.script
                    .key(redis_key)
                    .arg(self.config.max)
                    .arg(self.config.restore_rate)
                    .arg(amount)
                    .invoke_async::<(i64, String, String)>(conn)
                    .await
            })
            .await;
        #[allow(clippy::cast_precision_loss)]
        let amount_f = amount as f64;
        match shared {
            Ok((admitted, available, wait)) => Take {
                admitted: admitted == 1,
                available: available.parse().unwrap_or(0.0),
                wait_secs: wait.parse().unwrap_or(0.0),
            },
            Err(e) => {
                self.degraded.note(&e.to_string());
                self.take_local(key, amount_f)
            }
        }
    }
}
