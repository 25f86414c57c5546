//! Shared application state: pools, configuration and key material, built once at start-up.

use crate::auth::credentials::CredentialCipher;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::domain::token_auth::ApiTokenAuth;
use crate::error::{AppError, AppResult};
use crate::limits::cost::{BucketConfig, CostLimiter};
use crate::limits::rate::{Rate, RateLimiter};
use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// Consecutive failed request-path Redis calls that open its breaker.
pub const REDIS_BREAKER_THRESHOLD: u32 = 3;
/// How long the Redis breaker stays open before one probe.
pub const REDIS_BREAKER_COOL_DOWN: Duration = Duration::from_secs(5);
/// Consecutive Postgres connection failures that open its breaker.
pub const PG_BREAKER_THRESHOLD: u32 = 3;
/// How long the Postgres breaker stays open before one probe.
pub const PG_BREAKER_COOL_DOWN: Duration = Duration::from_secs(2);

/// Everything handlers and workers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Runtime-role Postgres pool (RLS applies).
    pub db: DatabaseConnection,
    /// Redis pool (workers and subscriptions; the request path uses `redis_guard`).
    pub redis: deadpool_redis::Pool,
    /// Redis with a deadline per call and a circuit breaker: every request-path Redis call.
    pub redis_guard: crate::breaker::GuardedRedis,
    /// Breaker fed by Postgres connection failures of request transactions.
    pub pg_breaker: Arc<crate::breaker::Breaker>,
    /// Group commit of `reserveStock` (see `domain::inventory::group`).
    pub reservations: Arc<crate::domain::inventory::ReservationGroups>,
    /// Every Redis key and channel.
    pub keys: crate::keys::Keys,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Access-token keys.
    pub jwt: Arc<JwtKeys>,
    /// Store-credential cipher.
    pub cipher: Arc<CredentialCipher>,
    /// Partner API token authentication (cache + last-use recorder).
    pub api_tokens: Arc<ApiTokenAuth>,
    /// Request rate limits.
    pub rate: Arc<RateLimiter>,
    /// Log-in attempt limits: per account (as a principal key) and per client IP.
    pub login: Arc<RateLimiter>,
    /// Refused marketplace pushes per client IP.
    pub webhook_refusals: Arc<RateLimiter>,
    /// Query cost buckets.
    pub cost: Arc<CostLimiter>,
    /// Tenant transactions opened so far (tests and metrics).
    pub tenant_tx_opened: Arc<std::sync::atomic::AtomicU64>,
    /// SQL statements run on the app pool so far (tests check DataLoader batching with it).
    pub db_statements: Arc<std::sync::atomic::AtomicU64>,
    /// Redis pub/sub fan-out to this process's subscriptions.
    pub events: Arc<crate::events::EventHub>,
    /// WebSockets open per principal in this process.
    pub sockets: Arc<crate::limits::PerKey>,
    /// Platform → connector (configured apps only).
    pub marketplaces: crate::marketplaces::Registry,
    /// The marketplace quota governor shared by every worker (through Redis).
    pub quota: Arc<crate::limits::quota::QuotaGovernor>,
    /// Each store's circuit breaker in this process.
    pub breakers: Arc<crate::limits::quota::Breakers>,
}

/// Connects to Postgres and Redis and prepares key material.
pub async fn build_state(config: Config) -> AppResult<AppState> {
    let mut db = crate::db::connect_with(
        &config.database_url,
        config.database_pool_max,
        config.limits.db_acquire_timeout,
    )
    .await?;
    let db_statements = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let counted = db_statements.clone();
    db.set_metric_callback(move |_| {
        counted.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    });
    let mut redis_cfg = deadpool_redis::Config::from_url(config.redis_url.expose_secret());
    let timeouts = Timeouts {
        wait: Some(Duration::from_secs(2)),
        create: Some(Duration::from_secs(2)),
        recycle: Some(Duration::from_secs(2)),
    };
    redis_cfg.pool = Some(PoolConfig {
        timeouts,
        ..PoolConfig::new(32)
    });
    let redis = redis_cfg
        .create_pool(Some(Runtime::Tokio1))
        .map_err(AppError::from_error)?;
    let l = &config.limits;
    let keys = crate::keys::Keys::new(&config.redis_prefix);
    let redis_guard = crate::breaker::GuardedRedis {
        pool: redis.clone(),
        breaker: Arc::new(crate::breaker::Breaker::new(
            "redis",
            REDIS_BREAKER_THRESHOLD,
            REDIS_BREAKER_COOL_DOWN,
        )),
        deadline: l.redis_deadline,
    };
    let rate = RateLimiter::new(
        redis_guard.clone(),
        keys.clone(),
        crate::keys::RateFamily::Requests,
        Rate {
            per_minute: l.rate_per_minute,
            burst: l.rate_burst,
        },
        Rate {
            per_minute: l.auth_rate_per_minute,
            burst: l.auth_rate_burst,
        },
    );
    let login = RateLimiter::new(
        redis_guard.clone(),
        keys.clone(),
        crate::keys::RateFamily::Login,
        Rate {
            per_minute: l.login_per_account.0,
            burst: l.login_per_account.1,
        },
        Rate {
            per_minute: l.login_per_ip.0,
            burst: l.login_per_ip.1,
        },
    );
    let refusals = Rate {
        per_minute: l.webhook_refusals.0,
        burst: l.webhook_refusals.1,
    };
    let webhook_refusals = RateLimiter::new(
        redis_guard.clone(),
        keys.clone(),
        crate::keys::RateFamily::WebhookRefusals,
        refusals,
        refusals,
    );
    let cost = CostLimiter::new(
        redis_guard.clone(),
        keys.clone(),
        BucketConfig {
            max: l.cost_bucket_max,
            restore_rate: l.cost_restore_rate,
        },
    );
    let events = crate::events::EventHub::new(config.redis_url.expose_secret(), &keys)?;
    let quota = crate::limits::quota::QuotaGovernor::new(
        crate::breaker::GuardedRedis {
            pool: redis.clone(),
            breaker: Arc::new(crate::breaker::Breaker::new(
                "redis-quota",
                REDIS_BREAKER_THRESHOLD,
                REDIS_BREAKER_COOL_DOWN,
            )),
            deadline: Duration::from_millis(500),
        },
        keys.clone(),
        config.marketplaces.quotas.clone(),
    );
    let pg_breaker = Arc::new(crate::breaker::Breaker::new(
        "postgres",
        PG_BREAKER_THRESHOLD,
        PG_BREAKER_COOL_DOWN,
    ));
    let reservations = crate::domain::inventory::ReservationGroups::new(
        db.clone(),
        pg_breaker.clone(),
        config.limits.statement_timeout,
    );
    Ok(AppState {
        marketplaces: crate::marketplaces::Registry::from_config(&config.marketplaces),
        quota: Arc::new(quota),
        breakers: Arc::default(),
        events: Arc::new(events),
        keys,
        sockets: Arc::new(crate::limits::PerKey::new(l.ws_max_sockets_per_principal)),
        api_tokens: Arc::new(ApiTokenAuth::new(db.clone())),
        rate: Arc::new(rate),
        login: Arc::new(login),
        webhook_refusals: Arc::new(webhook_refusals),
        tenant_tx_opened: Arc::default(),
        db_statements,
        cost: Arc::new(cost),
        db,
        redis,
        redis_guard,
        reservations,
        pg_breaker,
        jwt: Arc::new(JwtKeys::from_config(&config)),
        cipher: Arc::new(CredentialCipher::from_config(&config)),
        config: Arc::new(config),
    })
}

impl AppState {
    /// [`Self::authenticate_bearer`], with the moment the token stops being valid (if ever).
    pub async fn authenticate_bearer_until(
        &self,
        token: &str,
    ) -> AppResult<(
        crate::auth::Principal,
        Option<chrono::DateTime<chrono::Utc>>,
    )> {
        if ApiTokenAuth::looks_like(token) {
            self.api_tokens.authenticate_until(token).await
        } else {
            let (p, exp) = self.jwt.verify_until(token)?;
            Ok((p, chrono::DateTime::from_timestamp(exp, 0)))
        }
    }

    /// Verifies a bearer token: partner API tokens by their prefix, JWT access tokens otherwise.
    /// Every failure is the same UNAUTHENTICATED.
    pub async fn authenticate_bearer(&self, token: &str) -> AppResult<crate::auth::Principal> {
        if ApiTokenAuth::looks_like(token) {
            self.api_tokens.authenticate(token).await
        } else {
            self.jwt.verify(token)
        }
    }
}
