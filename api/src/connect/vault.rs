//! The token vault as the connectors see it: a [`TokenStore`] over `store_tokens`.
//!
//! A refresh locks the store's row from the comparison to the save, in a transaction of its own
//! (committed before the call it serves goes on, so a single-use refresh token's successor is
//! never lost with a job's rollback). Two workers that find the same expiring token queue on the
//! lock: the first refreshes, the second finds the token changed and uses the winner's. A refresh
//! the platform refuses for authorization reasons marks the store AUTH_EXPIRED, pauses its
//! schedules and publishes an alert, in the same transaction.

use crate::domain::Ctx;
use crate::domain::connections;
use crate::domain::jobs::{org_tx, system_access};
use crate::effects::Effects;
use crate::error::AppError;
use crate::ids::{OrgId, StoreId};
use crate::state::AppState;
use connectors::tokens::UnixSecs;
use connectors::{AuthFailure, Error, RefreshCall, TokenSet, TokenStore};
use sea_orm::{ConnectionTrait, TransactionTrait as _};

/// How long a refresh waits for another worker's refresh of the same store.
const LOCK_WAIT: &str = "45s";

/// The tokens of one store, in Postgres.
pub struct DbTokenStore {
    state: AppState,
    org: OrgId,
    store: StoreId,
}

impl DbTokenStore {
    /// The vault row of `store`.
    pub fn new(state: AppState, org: OrgId, store: StoreId) -> Self {
        Self { state, org, store }
    }
}

fn vault_error(e: AppError) -> Error {
    let detail = match e {
        AppError::Internal(d) => d,
        other => other.public_message(),
    };
    Error::Transient(format!("token vault: {detail}"))
}

fn missing() -> Error {
    Error::Auth {
        kind: AuthFailure::Invalid,
        message: "the store holds no tokens: it must be connected again".into(),
    }
}

impl DbTokenStore {
    /// Marks the store AUTH_EXPIRED after `e`, in `tx`, then commits and publishes.
    async fn expire(&self, tx: sea_orm::DatabaseTransaction, e: &Error) -> Result<(), AppError> {
        let access = system_access(self.org);
        let effects = Effects::default();
        let (code, message) = crate::marketplaces::classify(e);
        let c = Ctx {
            tx: &tx,
            access: &access,
            request_id: Some("token-refresh"),
            effects: &effects,
        };
        connections::mark_auth_expired(&c, self.store, code, &message).await?;
        tx.commit().await?;
        crate::after_commit::run(&self.state, effects.take()).await;
        tracing::warn!(store = %self.store, code, "the platform refused the store's authorization: AUTH_EXPIRED, schedules paused");
        Ok(())
    }
}

#[async_trait::async_trait]
impl TokenStore for DbTokenStore {
    async fn load(&self) -> Result<TokenSet, Error> {
        let tx = org_tx(&self.state.db, self.org)
            .await
            .map_err(vault_error)?;
        let v = connections::load_tokens(&tx, &self.state.cipher, self.org, self.store, false)
            .await
            .map_err(vault_error)?;
        tx.rollback().await.map_err(|e| vault_error(e.into()))?;
        v.map(|v| v.tokens).ok_or_else(missing)
    }

    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let tx = org_tx(&self.state.db, self.org)
            .await
            .map_err(vault_error)?;
        connections::save_tokens(&tx, &self.state.cipher, self.org, self.store, tokens)
            .await
            .map_err(vault_error)?;
        tx.commit().await.map_err(|e| vault_error(e.into()))
    }

    async fn refresh(
        &self,
        failed: &TokenSet,
        now: UnixSecs,
        call: RefreshCall<'_>,
    ) -> Result<(), Error> {
        let tx = self
            .state
            .db
            .begin()
            .await
            .map_err(|e| vault_error(e.into()))?;
        crate::db::rls::apply_settings(&tx, &crate::tenant::settings_for(&system_access(self.org)))
            .await
            .map_err(vault_error)?;
        tx.execute_unprepared(&format!("SET LOCAL lock_timeout = '{LOCK_WAIT}'"))
            .await
            .map_err(|e| vault_error(e.into()))?;
        let current = connections::load_tokens(&tx, &self.state.cipher, self.org, self.store, true)
            .await
            .map_err(vault_error)?
            .ok_or_else(missing)?
            .tokens;
        if current.access_token != failed.access_token {
            // Another worker refreshed while we waited for the lock: use its tokens.
            tx.rollback().await.map_err(|e| vault_error(e.into()))?;
            return Ok(());
        }
        if !current.refreshable(now) {
            let e = connectors::refresh_expired();
            self.expire(tx, &e).await.map_err(vault_error)?;
            return Err(e);
        }
        match call(current).await {
            Ok(next) => {
                connections::save_tokens(&tx, &self.state.cipher, self.org, self.store, &next)
                    .await
                    .map_err(vault_error)?;
                tx.commit().await.map_err(|e| vault_error(e.into()))?;
                tracing::info!(store = %self.store, "refreshed the store's platform tokens");
                Ok(())
            }
            Err(e @ Error::Auth { .. }) => {
                self.expire(tx, &e).await.map_err(vault_error)?;
                Err(e)
            }
            Err(e) => {
                tx.rollback().await.map_err(|e| vault_error(e.into()))?;
                Err(e)
            }
        }
    }
}
