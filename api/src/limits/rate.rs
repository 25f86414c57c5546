//! Request rate limits. Each check passes an in-process GCRA (`governor`) first, then the shared
//! GCRA in Redis (a Lua script on Redis' own clock), so several `serve` processes enforce one
//! quota. If Redis is slow or down, the local decision stands and a line is logged: never hang.

use super::DegradedLog;
use crate::breaker::GuardedRedis;
use crate::keys::{Keys, RateFamily, RateSubject};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// GCRA on Redis time. KEYS[1]: the key. ARGV[1]: emission interval T (µs). ARGV[2]: burst.
/// ARGV[3]: how many requests this admits at once. Returns {1, 0} when admitted, {0, wait µs}
/// when not.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = interval * tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local new_tat = tat + interval * tonumber(ARGV[3])
local allow_at = new_tat - tolerance
if now < allow_at then
  return {0, allow_at - now}
end
redis.call('SET', KEYS[1], new_tat, 'PX', math.ceil((new_tat - now) / 1000) + 1)
return {1, 0}
";

/// What is being limited.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    /// A user or an API token (from `Principal::limit_key`).
    Principal(String),
    /// An unauthenticated client.
    Ip(IpAddr),
}

/// A quota: `per_minute` sustained, `burst` at once.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Sustained requests per minute.
    pub per_minute: u32,
    /// Requests allowed at once.
    pub burst: u32,
}

impl Rate {
    fn interval(self) -> Duration {
        Duration::from_micros(60_000_000 / u64::from(self.per_minute.max(1)))
    }

    fn quota(self) -> Quota {
        let burst = NonZeroU32::new(self.burst.max(1)).unwrap_or(NonZeroU32::MIN);
        Quota::with_period(self.interval())
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst)
    }
}

/// The rate limiter of one process.
pub struct RateLimiter {
    principals: DefaultKeyedRateLimiter<String>,
    ips: DefaultKeyedRateLimiter<IpAddr>,
    principal_rate: Rate,
    ip_rate: Rate,
    redis: GuardedRedis,
    keys: Keys,
    family: RateFamily,
    script: redis::Script,
    checks: AtomicU64,
    degraded: DegradedLog,
}

impl RateLimiter {
    /// A limiter with these quotas, sharing them through `redis` under `keys`' `family`.
    pub fn new(
        redis: GuardedRedis,
        keys: Keys,
        family: RateFamily,
        principal_rate: Rate,
        ip_rate: Rate,
    ) -> Self {
        Self {
            principals: governor::RateLimiter::keyed(principal_rate.quota()),
            ips: governor::RateLimiter::keyed(ip_rate.quota()),
            principal_rate,
            ip_rate,
            redis,
            keys,
            family,
            script: redis::Script::new(GCRA),
            checks: AtomicU64::new(0),
            degraded: DegradedLog::new("rate"),
        }
    }

    /// Admits a request, or says how long to wait.
    pub async fn check(&self, key: &LimitKey) -> Result<(), Duration> {
        self.check_n(key, 1).await
    }

    /// Admits `n` requests at once (a batch counts as many requests as it holds), or says how
    /// long to wait.
    pub async fn check_n(&self, key: &LimitKey, n: u32) -> Result<(), Duration> {
        if self
            .checks
            .fetch_add(1, Ordering::Relaxed)
            .is_multiple_of(4096)
        {
            self.principals.retain_recent();
            self.ips.retain_recent();
        }
        let n = NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN);
        let (local, rate) = match key {
            LimitKey::Principal(p) => (self.principals.check_key_n(p, n), self.principal_rate),
            LimitKey::Ip(ip) => (self.ips.check_key_n(ip, n), self.ip_rate),
        };
        match local {
            Ok(Ok(())) => {}
            Ok(Err(not_until)) => {
                return Err(not_until.wait_time_from(DefaultClock::default().now()));
            }
            // More at once than the burst can ever admit.
            Err(_) => return Err(rate.interval().saturating_mul(n.get())),
        }
        let redis_key = match key {
            LimitKey::Principal(p) => self.keys.rate(self.family, RateSubject::Principal(p)),
            LimitKey::Ip(ip) => self.keys.rate(self.family, RateSubject::Ip(*ip)),
        };
        let interval = i64::try_from(rate.interval().as_micros()).unwrap_or(i64::MAX);
        let shared = self
            .redis
            .run(async |conn| {
                self.script
                    .key(redis_key)
                    .arg(interval)
                    .arg(rate.burst.max(1))
                    .arg(n.get())
                    .invoke_async::<(i64, i64)>(conn)
                    .await
            })
            .await;
        match shared {
            Ok((1, _)) => Ok(()),
            Ok((_, wait_us)) => Err(Duration::from_micros(u64::try_from(wait_us).unwrap_or(0))),
            Err(e) => {
                self.degraded.note(&e.to_string());
                Ok(())
            }
        }
    }
}

/// Whole seconds to wait, at least 1 (for `Retry-After`).
pub fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}
