//! Authenticating partner API tokens: shape and checksum first (no database query for a malformed
//! token), then a short-lived cache in front of a lookup by hash. A revocation reaches this
//! process's cache at once and every other process's within [`CACHE_TTL`]. `lastUsedAt` is
//! collected in memory and written in batches by [`ApiTokenAuth::flush_last_used`].

use crate::auth::permissions::Scope;
use crate::auth::secrets::{self, API_TOKEN_PREFIX};
use crate::auth::{ApiTokenGrant, Principal};
use crate::db::rls::{Settings, apply_settings};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiTokenId, BranchId, OrgId};
use chrono::{DateTime, Utc};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement,
    TransactionTrait,
};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use uuid::Uuid;

/// How long a lookup result is reused. Revocation takes effect everywhere within this.
pub const CACHE_TTL: Duration = Duration::from_secs(3);

#[derive(Clone)]
struct Cached {
    grant: Option<Arc<ApiTokenGrant>>,
    expires_at: Option<DateTime<Utc>>,
}

/// API token authentication with its cache and last-use recorder.
pub struct ApiTokenAuth {
    db: DatabaseConnection,
    cache: moka::sync::Cache<[u8; 32], Cached>,
    used: Mutex<HashMap<ApiTokenId, (OrgId, DateTime<Utc>)>>,
    lookups: AtomicU64,
}

#[derive(FromQueryResult)]
struct Row {
    id: Uuid,
    org_id: Uuid,
    scopes: Vec<String>,
    branch_ids: Option<Vec<Uuid>>,
    expires_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

impl ApiTokenAuth {
    /// A fresh authenticator over the runtime pool.
    pub fn new(db: DatabaseConnection) -> Self {
        Self {
            db,
            cache: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(CACHE_TTL)
                .build(),
            used: Mutex::new(HashMap::new()),
            lookups: AtomicU64::new(0),
        }
    }

    /// Is `token` shaped like an API token (so `Authorization: Bearer` should not try JWT)?
    pub fn looks_like(token: &str) -> bool {
        token.starts_with(API_TOKEN_PREFIX)
    }

    /// Database lookups made so far (tests and metrics).
    pub fn lookups(&self) -> u64 {
        self.lookups.load(Ordering::Relaxed)
    }

    /// Verifies a presented token. Every failure is the same UNAUTHENTICATED.
    pub async fn authenticate(&self, token: &str) -> AppResult<Principal> {
        self.authenticate_until(token).await.map(|(p, _)| p)
    }

    /// Verifies a partner API token and returns its principal and expiry (if it has one).
    pub async fn authenticate_until(
        &self,
        token: &str,
    ) -> AppResult<(Principal, Option<DateTime<Utc>>)> {
        let hash = secrets::parse(API_TOKEN_PREFIX, token).ok_or(AppError::Unauthenticated)?;
        let cached = match self.cache.get(&hash) {
            Some(c) => c,
            None => {
                let c = self.lookup(&hash).await?;
                self.cache.insert(hash, c.clone());
                c
            }
        };
        let grant = cached.grant.ok_or(AppError::Unauthenticated)?;
        if cached.expires_at.is_some_and(|e| e <= Utc::now()) {
            return Err(AppError::Unauthenticated);
        }
        if let Ok(mut used) = self.used.lock() {
            used.insert(grant.id, (grant.org_id, Utc::now()));
        }
        Ok((Principal::ApiToken(grant), cached.expires_at))
    }

    /// Forgets a token at once (after it was revoked in this process).
    pub fn forget(&self, hash: &[u8; 32]) {
        self.cache.invalidate(hash);
    }

    async fn lookup(&self, hash: &[u8; 32]) -> AppResult<Cached> {
        self.lookups.fetch_add(1, Ordering::Relaxed);
        let tx = self
            .db
            .begin_with_config(None, Some(AccessMode::ReadOnly))
            .await?;
        apply_settings(
            &tx,
            &Settings {
                token_hash: Some(secrets::hex(hash)),
                branches: Some(Vec::new()),
                ..Settings::default()
            },
        )
        .await?;
        let row = Row::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, org_id, scopes, branch_ids, expires_at, revoked_at \
             FROM api_tokens WHERE token_hash = $1",
            [hash.to_vec().into()],
        ))
        .one(&tx)
        .await?;
        tx.commit().await?;
        let Some(row) = row.filter(|r| r.revoked_at.is_none()) else {
            return Ok(Cached {
                grant: None,
                expires_at: None,
            });
        };
        let scopes = row
            .scopes
            .iter()
            .map(|s| Scope::parse(s).ok_or_else(|| AppError::internal(format!("stored scope {s}"))))
            .collect::<AppResult<Vec<_>>>()?;
        Ok(Cached {
            expires_at: row.expires_at,
            grant: Some(Arc::new(ApiTokenGrant {
                id: ApiTokenId(row.id),
                org_id: OrgId(row.org_id),
                scopes,
                branch_ids: row
                    .branch_ids
                    .map(|ids| ids.into_iter().map(BranchId).collect()),
            })),
        })
    }

    /// Writes the collected last-use times; returns how many tokens were updated.
    pub async fn flush_last_used(&self) -> AppResult<usize> {
        let drained: Vec<_> = match self.used.lock() {
            Ok(mut used) => used.drain().collect(),
            Err(_) => return Ok(0),
        };
        let mut by_org: HashMap<OrgId, Vec<(ApiTokenId, DateTime<Utc>)>> = HashMap::new();
        for (id, (org, at)) in drained {
            by_org.entry(org).or_default().push((id, at));
        }
        let mut n = 0;
        for (org, uses) in by_org {
            let tx = self.db.begin().await?;
            apply_settings(
                &tx,
                &Settings {
                    org_id: Some(org),
                    branches: None,
                    ..Settings::default()
                },
            )
            .await?;
            for (id, at) in uses {
                let r = tx
                    .execute_raw(Statement::from_sql_and_values(
                        DbBackend::Postgres,
                        "UPDATE api_tokens SET last_used_at = GREATEST(COALESCE(last_used_at, $2), $2) \
                         WHERE id = $1",
                        [id.uuid().into(), at.into()],
                    ))
                    .await?;
                n += usize::try_from(r.rows_affected()).unwrap_or(0);
            }
            tx.commit().await?;
        }
        Ok(n)
    }

    /// Flushes last-use times every `every` until `stop` resolves, then once more.
    pub async fn run_flusher(self: Arc<Self>, every: Duration, stop: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(every);
        tick.tick().await;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = &mut stop => break,
            }
            if let Err(e) = self.flush_last_used().await {
                tracing::warn!(error = ?e, "could not record API token use");
            }
        }
        if let Err(e) = self.flush_last_used().await {
            tracing::warn!(error = ?e, "could not record API token use");
        }
    }
}
