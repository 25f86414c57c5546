//! Shared application state: pools, configuration and key material, built once at start-up.

use crate::auth::api_tokens::ApiTokenAuth;
use crate::auth::credentials::CredentialCipher;
use crate::auth::jwt::JwtKeys;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use deadpool_redis::{PoolConfig, Runtime, Timeouts};
use sea_orm::DatabaseConnection;
use secrecy::ExposeSecret;
use std::sync::Arc;
use std::time::Duration;

/// Everything handlers and workers share. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// Runtime-role Postgres pool (RLS applies).
    pub db: DatabaseConnection,
    /// Redis pool.
    pub redis: deadpool_redis::Pool,
    /// Validated configuration.
    pub config: Arc<Config>,
    /// Access-token keys.
    pub jwt: Arc<JwtKeys>,
    /// Store-credential cipher.
    pub cipher: Arc<CredentialCipher>,
    /// Partner API token authentication (cache + last-use recorder).
    pub api_tokens: Arc<ApiTokenAuth>,
}

/// Connects to Postgres and Redis and prepares key material.
pub async fn build_state(config: Config) -> AppResult<AppState> {
    let db = crate::db::connect(&config.database_url, config.database_pool_max).await?;
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
        .map_err(AppError::internal)?;
    Ok(AppState {
        api_tokens: Arc::new(ApiTokenAuth::new(db.clone())),
        db,
        redis,
        jwt: Arc::new(JwtKeys::from_config(&config)),
        cipher: Arc::new(CredentialCipher::from_config(&config)),
        config: Arc::new(config),
    })
}

impl AppState {
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
