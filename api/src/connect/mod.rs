//! Store connections over the connectors: the OAuth callback ([`callback`]), marketplace pushes
//! in ([`pushes`]), the database token
//! vault the connectors read and refresh through ([`vault::DbTokenStore`]), and the store context
//! a job calls a platform with (its tokens, the shared quota governor, its breaker), with the
//! outcome written to the store's health.

pub mod callback;
pub mod pushes;
pub mod vault;

use crate::domain::connections::{self, CallOutcome};
use crate::domain::jobs::org_tx;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, StoreId};
use crate::state::AppState;
use chrono::Utc;
use connectors::resilience::Circuit;
use connectors::{Connector, Priority, ShopIdentity, StoreContext};
use entity::enums::CircuitState;
use entity::stores;
use std::sync::Arc;

/// A store ready to be called: its connector and context.
pub struct Calling {
    /// The platform's connector.
    pub connector: Arc<dyn Connector>,
    /// Tokens (the vault), quota, breaker.
    pub ctx: StoreContext,
    /// The store.
    pub store: StoreId,
    /// Its organization.
    pub org: OrgId,
}

impl std::fmt::Debug for Calling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Calling")
            .field("store", &self.store)
            .finish_non_exhaustive()
    }
}

/// Why a store cannot be called now.
#[derive(Debug)]
pub enum NotCallable {
    /// Not connected (disconnected, authorization expired, files only) or archived.
    NotConnected(entity::enums::ConnectionStatus),
    /// Its breaker is open until then: defer, do not fail.
    CircuitOpen(chrono::DateTime<Utc>),
}

/// The store context of `s` at `priority`, or why it cannot be called now.
pub fn calling(
    state: &AppState,
    s: &stores::Model,
    priority: Priority,
) -> AppResult<Result<Calling, NotCallable>> {
    if !connections::callable(s) {
        return Ok(Err(NotCallable::NotConnected(s.connection)));
    }
    let breaker = state.breakers.of(s.id);
    let now = Utc::now();
    if let Some(until) = s.circuit_open_until.map(|t| t.to_utc())
        && until > now
        && s.circuit == CircuitState::Open
    {
        return Ok(Err(NotCallable::CircuitOpen(until)));
    }
    if breaker.state() == Circuit::Open {
        return Ok(Err(NotCallable::CircuitOpen(open_until(now))));
    }
    let connector = state.marketplaces.get(s.platform).ok_or_else(|| {
        AppError::internal(format!("no connector configured for {:?}", s.platform))
    })?;
    let shop: ShopIdentity = s
        .shop_identity
        .clone()
        .map(serde_json::from_value)
        .transpose()
        .map_err(|e| AppError::internal(format!("store {} identity: {e}", s.id)))?
        .ok_or_else(|| AppError::internal(format!("store {} has no platform identity", s.id)))?;
    let org = OrgId(s.org_id);
    let store = StoreId(s.id);
    let tokens = Arc::new(vault::DbTokenStore::new(state.clone(), org, store));
    let ctx = StoreContext::new(s.id.to_string(), shop, tokens)
        .with_quota(state.quota.clone())
        .with_breaker(breaker)
        .with_priority(priority);
    Ok(Ok(Calling {
        connector,
        ctx,
        store,
        org,
    }))
}

fn open_until(now: chrono::DateTime<Utc>) -> chrono::DateTime<Utc> {
    now + chrono::Duration::from_std(crate::limits::quota::STORE_BREAKER_COOL_DOWN)
        .unwrap_or_else(|_| chrono::Duration::seconds(30))
}

/// Writes the outcome of calls made through `c` to its store's health, in a transaction of its
/// own (it stays whatever becomes of the job's). Authorization refusals are recorded by the vault.
pub async fn record(state: &AppState, c: &Calling, result: Result<(), &connectors::Error>) {
    let outcome = match result {
        Ok(()) => CallOutcome::Success,
        Err(e) => {
            let (code, message) = crate::marketplaces::classify(e);
            CallOutcome::Failure { code, message }
        }
    };
    let now = Utc::now();
    let (circuit, until) = match c.ctx.breaker.state() {
        Circuit::Closed => (CircuitState::Closed, None),
        Circuit::HalfOpen => (CircuitState::HalfOpen, None),
        Circuit::Open => (CircuitState::Open, Some(open_until(now))),
    };
    let written = async {
        let tx = org_tx(&state.db, c.org).await?;
        connections::record_calls(&tx, c.store, &outcome, circuit, until).await?;
        tx.commit().await?;
        Ok::<(), AppError>(())
    }
    .await;
    if let Err(e) = written {
        tracing::warn!(store = %c.store, error = ?e, "store health not recorded");
    }
}
