//! Query cost, Shopify-style: every operation's requested cost is computed before it runs
//! ([`super::analysis`]); an operation above the bucket's maximum is refused, otherwise the cost is
//! taken from the caller's bucket (refused with THROTTLED when it holds too little), and after
//! execution the difference to the actual cost is given back. Every response carries
//! `extensions.cost`. Buckets live in Redis (shared by all processes) with an in-process fallback.

use super::DegradedLog;
use super::analysis::{self, Analysis};
use crate::breaker::GuardedRedis;
use crate::error::AppError;
use crate::graphql::RequestCtx;
use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextParseQuery, NextPrepareRequest, NextRequest,
    NextValidation,
};
use async_graphql::parser::types::ExecutableDocument;
use async_graphql::{
    Pos, Request, Response, ServerError, ServerResult, ValidationResult, Variables,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
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
    prefix: String,
    script: redis::Script,
    local: Mutex<HashMap<String, (f64, Instant)>>,
    degraded: DegradedLog,
}

impl CostLimiter {
    /// Buckets with `config`, shared through `redis` under `prefix`.
    pub fn new(redis: GuardedRedis, prefix: &str, config: BucketConfig) -> Self {
        Self {
            config,
            redis,
            prefix: prefix.to_owned(),
            script: redis::Script::new(BUCKET),
            local: Mutex::new(HashMap::new()),
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

    /// Takes `amount` points from `key`'s bucket (a negative amount gives points back).
    pub async fn take(&self, key: &str, amount: i64) -> Take {
        let redis_key = format!("{}:cost:{key}", self.prefix);
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

/// Per-request state of the cost extension.
#[derive(Default)]
struct State {
    operation_name: Option<String>,
    /// Validation passed: only then is a cost reported (an estimate of an invalid document would
    /// tell a prober which guessed fields exist).
    validated: bool,
    analysis: Option<Analysis>,
    charged: Option<(String, u64)>,
    available: Option<f64>,
}

/// The async-graphql extension that enforces depth, alias and cost limits.
pub struct CostExtension {
    /// Buckets (absent when building the schema for SDL export).
    pub limiter: Option<Arc<CostLimiter>>,
    /// Deepest nesting allowed.
    pub max_depth: usize,
    /// Most aliases allowed.
    pub max_aliases: usize,
}

impl ExtensionFactory for CostExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CostRun {
            limiter: self.limiter.clone(),
            max_depth: self.max_depth,
            max_aliases: self.max_aliases,
            state: Mutex::new(State::default()),
        })
    }
}

struct CostRun {
    limiter: Option<Arc<CostLimiter>>,
    max_depth: usize,
    max_aliases: usize,
    state: Mutex<State>,
}

fn refuse(err: AppError) -> ServerError {
    async_graphql::Error::from(err).into_server_error(Pos::default())
}

impl CostRun {
    fn with_state<T>(&self, f: impl FnOnce(&mut State) -> T) -> Option<T> {
        self.state.lock().ok().map(|mut s| f(&mut s))
    }
}

#[async_trait::async_trait]
impl Extension for CostRun {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        let name = request.operation_name.clone();
        self.with_state(|s| s.operation_name = name);
        next.run(ctx, request).await
    }

    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let doc = next.run(ctx, query, variables).await?;
        let name = self.with_state(|s| s.operation_name.clone()).flatten();
        let a = analysis::analyze(&doc, name.as_deref(), &ctx.schema_env.registry, variables);
        self.with_state(|s| s.analysis = Some(a));
        if a.aliases > self.max_aliases {
            return Err(refuse(AppError::Limit {
                code: "TOO_MANY_ALIASES",
                message: format!(
                    "{} aliases; at most {} are allowed",
                    a.aliases, self.max_aliases
                ),
            }));
        }
        if a.depth > self.max_depth {
            return Err(refuse(AppError::Limit {
                code: "MAX_DEPTH_EXCEEDED",
                message: format!(
                    "nesting depth {}; at most {} is allowed",
                    a.depth, self.max_depth
                ),
            }));
        }
        Ok(doc)
    }

    async fn validation(
        &self,
        ctx: &ExtensionContext<'_>,
        next: NextValidation<'_>,
    ) -> Result<ValidationResult, Vec<ServerError>> {
        let result = next.run(ctx).await?;
        self.with_state(|s| s.validated = true);
        let (Some(limiter), Some(rc)) = (&self.limiter, ctx.data_opt::<RequestCtx>()) else {
            return Ok(result);
        };
        let Some(a) = self.with_state(|s| s.analysis).flatten() else {
            return Ok(result);
        };
        let max = u64::from(limiter.config().max);
        if a.cost > max {
            return Err(vec![refuse(AppError::Limit {
                code: "MAX_COST_EXCEEDED",
                message: format!(
                    "query cost {} exceeds the maximum of {max}; ask for fewer items (first/last) or split the query",
                    a.cost
                ),
            })]);
        }
        let key = rc.limit_key();
        let take = limiter
            .take(&key, i64::try_from(a.cost).unwrap_or(i64::MAX))
            .await;
        self.with_state(|s| s.available = Some(take.available));
        if !take.admitted {
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let retry = take.wait_secs.ceil().max(1.0) as u64;
            return Err(vec![refuse(AppError::Throttled {
                retry_after_secs: retry,
            })]);
        }
        self.with_state(|s| s.charged = Some((key, a.cost)));
        Ok(result)
    }

    async fn request(&self, ctx: &ExtensionContext<'_>, next: NextRequest<'_>) -> Response {
        let mut resp = next.run(ctx).await;
        let Some(limiter) = &self.limiter else {
            return resp;
        };
        let (analysis, charged, mut available, validated) = self
            .with_state(|s| (s.analysis, s.charged.take(), s.available, s.validated))
            .unwrap_or((None, None, None, false));
        let Some(a) = analysis.filter(|_| validated) else {
            return resp;
        };
        let mut actual = None;
        if let Some((key, requested)) = charged {
            let real = analysis::actual_cost(&resp.data, a.mutation).min(requested);
            actual = Some(real);
            let refund = i64::try_from(requested - real).unwrap_or(0);
            if refund > 0 {
                available = Some(limiter.take(&key, -refund).await.available);
            }
        }
        let cfg = limiter.config();
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let cost = async_graphql::Value::from_json(serde_json::json!({
            "requestedQueryCost": a.cost,
            "actualQueryCost": actual,
            "throttleStatus": {
                "maximumAvailable": cfg.max,
                "currentlyAvailable": available.map(|v| v.max(0.0).floor() as u64),
                "restoreRate": cfg.restore_rate,
            }
        }))
        .unwrap_or_default();
        resp.extensions.insert("cost".to_owned(), cost);
        resp
    }
}
