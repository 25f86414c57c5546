//! The marketplace quota governor: one budget per platform × store, shared by every worker
//! process through Redis, consulted by the connectors before every call ([`QuotaHook`]).
//!
//! - Budgets come from the platform's table (`config::QuotaTable`, README "Quota table"); every
//!   budget of the platform must hold (Jumia: 4 per second and 200 per minute).
//! - Each budget is a sliding log of call times in a Redis sorted set, checked and appended in one
//!   script, so two processes never overspend it between them; windows are widened by
//!   [`WINDOW_GUARD`] so the budget also holds where the platform counts (on arrival).
//! - Two priority classes: bulk pulls may use 80% of each budget; stock pushes (high priority)
//!   may use all of it, so a backfill never starves them.
//! - A throttle answer from the platform (429 with retry-after, Lazada's ban seconds, Shopee's
//!   daily quota) sets a block key that every worker honours: per store, or for the whole app on
//!   Shopee, whose limits are per partner app.
//! - Redis unreachable: each process falls back to a quarter of the budget in memory (`governor`),
//!   never to unlimited.

use crate::breaker::GuardedRedis;
use crate::config::{Budget, QuotaTable};
use crate::keys::Keys;
use crate::limits::DegradedLog;
use connectors::{Platform, Priority, Quota, QuotaHook};
use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota as GovQuota};
use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Share of each budget bulk calls may use.
pub const BULK_SHARE: f64 = 0.8;

/// Share of each budget one process may use on its own while Redis is unreachable.
pub const LOCAL_SHARE: u32 = 4;

/// Added to every budget window when admitting calls: the platform counts calls when they
/// arrive, which is later than when they were admitted here by a varying amount (the connection,
/// the network, a busy machine), so two calls admitted just under a window apart could land
/// inside one window at the platform without it. 100 ms was not enough on a loaded 2-core
/// machine: the simulator counted a fifth Jumia call inside one second (stock-out test under the
/// full suite), so the guard is 250 ms.
pub const WINDOW_GUARD: Duration = Duration::from_millis(250);

/// How long everyone waits after a throttle answer that named no time.
pub const DEFAULT_THROTTLE: Duration = Duration::from_secs(1);

const ACQUIRE: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local wait = 0
for i = 1, 2 do
  local p = redis.call('PTTL', KEYS[i])
  if p > wait then wait = p end
end
if wait > 0 then return wait end
local n = #KEYS - 2
for i = 1, n do
  local key = KEYS[i + 2]
  local limit = tonumber(ARGV[2 * i - 1])
  local window = tonumber(ARGV[2 * i])
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
  local count = redis.call('ZCARD', key)
  if count >= limit then
    local idx = count - limit
    local oldest = redis.call('ZRANGE', key, idx, idx, 'WITHSCORES')
    local w = tonumber(oldest[2]) + window - now
    if w < 1 then w = 1 end
    if w > wait then wait = w end
  end
end
if wait > 0 then return wait end
for i = 1, n do
  local key = KEYS[i + 2]
  redis.call('ZADD', key, now, ARGV[2 * n + 1])
  redis.call('PEXPIRE', key, tonumber(ARGV[2 * i]) + 1000)
end
return 0
";

const BLOCK: &str = r"
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
";

/// The connectors crate's platform names in keys.
fn name(p: Platform) -> &'static str {
    match p {
        Platform::Shopee => "shopee",
        Platform::TiktokShop => "tiktok",
        Platform::Lazada => "lazada",
        Platform::Jumia => "jumia",
        Platform::Kilimall => "kilimall",
    }
}

/// Whether the platform's throttle is for the whole app rather than one store.
fn app_wide(p: Platform) -> bool {
    matches!(p, Platform::Shopee)
}

fn limit(b: &Budget, priority: Priority) -> u32 {
    match priority {
        Priority::High => b.requests,
        Priority::Bulk => {
            let share = (f64::from(b.requests) * BULK_SHARE).floor();
            // Truncation is intended: a whole number of calls, at least one.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = share as u32;
            n.max(1)
        }
    }
}

/// One budget's in-process limiter (keyed by store), used while Redis is unreachable.
type LocalLimiter = Arc<DefaultKeyedRateLimiter<String>>;

/// The Redis-backed quota hook (one per process, shared by every store context).
pub struct QuotaGovernor {
    redis: GuardedRedis,
    keys: Keys,
    table: QuotaTable,
    acquire: redis::Script,
    block: redis::Script,
    local: Mutex<HashMap<(Platform, usize), LocalLimiter>>,
    local_blocks: Mutex<HashMap<String, std::time::Instant>>,
    degraded: DegradedLog,
}

impl QuotaGovernor {
    /// A governor over `table`, sharing budgets through `redis`.
    pub fn new(redis: GuardedRedis, keys: Keys, table: QuotaTable) -> Self {
        Self {
            redis,
            keys,
            table,
            acquire: redis::Script::new(ACQUIRE),
            block: redis::Script::new(BLOCK),
            local: Mutex::new(HashMap::new()),
            local_blocks: Mutex::new(HashMap::new()),
            degraded: DegradedLog::new("quota"),
        }
    }

    fn budgets(&self, platform: Platform) -> &[Budget] {
        self.table
            .of(crate::marketplaces::entity_platform(platform))
    }

    fn local_limiter(&self, platform: Platform, i: usize, b: &Budget) -> Option<LocalLimiter> {
        let mut map = self.local.lock().ok()?;
        Some(
            map.entry((platform, i))
                .or_insert_with(|| {
                    let n = (b.requests / LOCAL_SHARE).max(1);
                    let period = b.window / n;
                    let quota = GovQuota::with_period(period.max(Duration::from_millis(1)))
                        .unwrap_or_else(|| GovQuota::per_second(NonZeroU32::MIN))
                        .allow_burst(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
                    Arc::new(governor::RateLimiter::keyed(quota))
                })
                .clone(),
        )
    }

    /// The conservative in-process budget used while Redis is unreachable.
    fn acquire_local(&self, platform: Platform, store_key: &str) -> Quota {
        let block_key = self.block_key(platform, store_key);
        if let Ok(blocks) = self.local_blocks.lock()
            && let Some(until) = blocks.get(&block_key)
        {
            let now = std::time::Instant::now();
            if *until > now {
                return Quota::Wait(*until - now);
            }
        }
        let clock = DefaultClock::default();
        let mut wait = Duration::ZERO;
        for (i, b) in self.budgets(platform).iter().enumerate() {
            let Some(l) = self.local_limiter(platform, i, b) else {
                return Quota::Wait(Duration::from_secs(1));
            };
            if let Err(not_until) = l.check_key(&store_key.to_owned()) {
                wait = wait.max(not_until.wait_time_from(clock.now()));
            }
        }
        if wait.is_zero() {
            Quota::Granted
        } else {
            Quota::Wait(wait)
        }
    }

    fn block_key(&self, platform: Platform, store_key: &str) -> String {
        if app_wide(platform) {
            self.keys.quota_block(name(platform), None)
        } else {
            self.keys.quota_block(name(platform), Some(store_key))
        }
    }
}

#[async_trait::async_trait]
impl QuotaHook for QuotaGovernor {
    async fn acquire(
        &self,
        platform: Platform,
        store_key: &str,
        _api: &str,
        priority: Priority,
    ) -> Quota {
        let budgets = self.budgets(platform);
        let p = name(platform);
        let mut inv = self.acquire.prepare_invoke();
        inv.key(self.keys.quota_block(p, Some(store_key)))
            .key(self.keys.quota_block(p, None));
        for i in 0..budgets.len() {
            inv.key(self.keys.quota(p, store_key, i));
        }
        for b in budgets {
            let window_ms =
                u64::try_from((b.window + WINDOW_GUARD).as_millis()).unwrap_or(u64::MAX);
            inv.arg(limit(b, priority)).arg(window_ms);
        }
        inv.arg(uuid::Uuid::new_v4().simple().to_string());
        let shared = self
            .redis
            .run(async |conn| inv.invoke_async::<u64>(conn).await)
            .await;
        match shared {
            Ok(0) => Quota::Granted,
            Ok(ms) => Quota::Wait(Duration::from_millis(ms)),
            Err(e) => {
                self.degraded.note(&e.to_string());
                self.acquire_local(platform, store_key)
            }
        }
    }

    async fn throttled(
        &self,
        platform: Platform,
        store_key: &str,
        api: &str,
        retry_after: Option<Duration>,
    ) {
        let wait = retry_after
            .unwrap_or(DEFAULT_THROTTLE)
            .max(Duration::from_millis(1));
        let key = self.block_key(platform, store_key);
        tracing::info!(
            platform = name(platform),
            store = store_key,
            api,
            wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
            "the platform throttled a call; every worker waits"
        );
        if let Ok(mut blocks) = self.local_blocks.lock() {
            let until = std::time::Instant::now() + wait;
            let e = blocks.entry(key.clone()).or_insert(until);
            if *e < until {
                *e = until;
            }
        }
        let ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX);
        let shared = self
            .redis
            .run(async |conn| {
                self.block
                    .key(key.clone())
                    .arg(ms)
                    .invoke_async::<i64>(conn)
                    .await
            })
            .await;
        if let Err(e) = shared {
            self.degraded.note(&e.to_string());
        }
    }
}

/// Each store's circuit breaker in this process (kept for the life of the process, so failures
/// seen by one job count for the next).
#[derive(Default)]
pub struct Breakers(Mutex<HashMap<uuid::Uuid, Arc<connectors::resilience::CircuitBreaker>>>);

/// Consecutive failed calls that open a store's breaker.
pub const STORE_BREAKER_THRESHOLD: u32 = 5;
/// How long it stays open before one trial call.
pub const STORE_BREAKER_COOL_DOWN: Duration = Duration::from_secs(30);

impl Breakers {
    /// The breaker of `store`.
    pub fn of(&self, store: uuid::Uuid) -> Arc<connectors::resilience::CircuitBreaker> {
        let Ok(mut map) = self.0.lock() else {
            return Arc::new(connectors::resilience::CircuitBreaker::new(
                STORE_BREAKER_THRESHOLD,
                STORE_BREAKER_COOL_DOWN,
            ));
        };
        map.entry(store)
            .or_insert_with(|| {
                Arc::new(connectors::resilience::CircuitBreaker::new(
                    STORE_BREAKER_THRESHOLD,
                    STORE_BREAKER_COOL_DOWN,
                ))
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_calls_leave_a_share_to_stock_pushes() {
        let b = Budget {
            requests: 50,
            window: Duration::from_secs(1),
        };
        assert_eq!(limit(&b, Priority::High), 50);
        assert_eq!(limit(&b, Priority::Bulk), 40);
        let tiny = Budget {
            requests: 1,
            window: Duration::from_secs(1),
        };
        assert_eq!(limit(&tiny, Priority::Bulk), 1, "never zero");
    }
}
