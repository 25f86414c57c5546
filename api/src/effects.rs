//! Effects that may only happen once the transaction that caused them has committed: publishing
//! events and invalidating cached reads. Domain code records them on its [`Ctx`]; a mutation whose
//! savepoint rolls back drops its own; the request runs the rest after COMMIT. Nothing is published
//! for work that did not happen, and no reader re-caches a value between a write and its commit.
//!
//! [`Ctx`]: crate::domain::Ctx

use crate::ids::{BranchId, OrgId};
use crate::state::AppState;
use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// Something to do after commit.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Catalog rows of the organization changed: its cached catalog reads are stale.
    CatalogChanged(OrgId),
    /// A low-stock alert opened or resolved.
    StockAlert(StockAlertEvent),
    /// A job is due now: hand it to the workers.
    JobQueued {
        /// Organization.
        org: OrgId,
        /// Job.
        job: uuid::Uuid,
    },
    /// A sync run changed: publish its new state.
    SyncRun(Box<crate::jobs::queue::SyncRunRow>),
    /// A reservation of the organization lapses at `at`: the sweep must visit it then.
    ReservationDue {
        /// Organization.
        org: OrgId,
        /// Expiry.
        at: chrono::DateTime<chrono::Utc>,
    },
}

/// A low-stock alert as published (Redis channel `…:org:{org}:inventory-alerts`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockAlertEvent {
    /// Organization.
    pub org_id: OrgId,
    /// Branch of the location (subscribers only receive their visible branches').
    pub branch_id: BranchId,
    /// The alert row.
    pub alert_id: uuid::Uuid,
    /// Variant.
    pub variant_id: uuid::Uuid,
    /// Location.
    pub location_id: uuid::Uuid,
    /// Available quantity when it changed state.
    pub available: i64,
    /// The reorder point.
    pub reorder_point: i64,
    /// OPEN or RESOLVED.
    pub state: String,
    /// When.
    pub at: chrono::DateTime<chrono::Utc>,
}

/// Effects recorded by one transaction or savepoint.
#[derive(Debug, Default)]
pub struct Effects(Mutex<Vec<Effect>>);

impl Effects {
    /// Records `e` (once: a repeated catalog change of the same organization is kept once).
    pub fn push(&self, e: Effect) {
        let mut v = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if matches!(e, Effect::CatalogChanged(_)) && v.contains(&e) {
            return;
        }
        v.push(e);
    }

    /// Takes everything recorded so far.
    pub fn take(&self) -> Vec<Effect> {
        std::mem::take(
            &mut *self
                .0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    /// Moves `inner`'s effects into these (a savepoint that was kept).
    pub fn absorb(&self, inner: &Effects) {
        for e in inner.take() {
            self.push(e);
        }
    }
}

/// Redis channel of an organization's inventory alerts.
pub fn alerts_channel(prefix: &str, org: OrgId) -> String {
    format!("{prefix}:org:{org}:inventory-alerts")
}

/// Runs committed effects. Failures are logged, not returned: the data is committed, a cache entry
/// expires by its TTL, and alert rows stay queryable.
pub async fn run(state: &AppState, effects: Vec<Effect>) {
    if effects.is_empty() {
        return;
    }
    let prefix = &state.config.redis_prefix;
    let mut pipe = redis::pipe();
    for e in &effects {
        match e {
            Effect::CatalogChanged(org) => {
                pipe.incr(crate::cache::generation_key(prefix, *org), 1)
                    .ignore();
            }
            Effect::ReservationDue { org, at } => {
                crate::jobs::sweep::schedule(&mut pipe, prefix, *org, *at);
            }
            Effect::JobQueued { org, job } => {
                crate::jobs::queue::dispatch(&mut pipe, prefix, *org, *job);
            }
            Effect::SyncRun(run) => match serde_json::to_string(run) {
                Ok(body) => {
                    pipe.publish(
                        crate::jobs::queue::runs_channel(prefix, OrgId(run.org_id)),
                        body,
                    )
                    .ignore();
                }
                Err(e) => tracing::error!(error = %e, "sync run event not serializable"),
            },
            Effect::StockAlert(ev) => match serde_json::to_string(ev) {
                Ok(body) => {
                    pipe.publish(alerts_channel(prefix, ev.org_id), body)
                        .ignore();
                }
                Err(e) => tracing::error!(error = %e, "alert event not serializable"),
            },
        }
    }
    if let Err(e) = state
        .redis_guard
        .run(async |conn| pipe.query_async::<()>(conn).await)
        .await
    {
        tracing::warn!(error = %e, "effects failed after commit");
        retry_invalidations(state, &effects);
    }
}

/// A catalog change whose generation bump did not reach Redis would leave every process reading
/// the old entries until their TTL: retry the bumps in the background (at-least-once; an extra
/// bump only costs cache misses) until they land or the TTL has made them moot.
fn retry_invalidations(state: &AppState, effects: &[Effect]) {
    let orgs: Vec<OrgId> = effects
        .iter()
        .filter_map(|e| match e {
            Effect::CatalogChanged(org) => Some(*org),
            _ => None,
        })
        .collect();
    if orgs.is_empty() || state.config.catalog_cache_ttl.is_zero() {
        return;
    }
    let redis = state.redis_guard.clone();
    let prefix = state.config.redis_prefix.clone();
    let give_up = tokio::time::Instant::now() + state.config.catalog_cache_ttl;
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_millis(500);
        while tokio::time::Instant::now() < give_up {
            tokio::time::sleep(wait).await;
            let mut pipe = redis::pipe();
            for org in &orgs {
                pipe.incr(crate::cache::generation_key(&prefix, *org), 1)
                    .ignore();
            }
            if redis
                .run(async |conn| pipe.query_async::<()>(conn).await)
                .await
                .is_ok()
            {
                tracing::info!(orgs = orgs.len(), "delayed catalog invalidation applied");
                return;
            }
            wait = (wait * 2).min(std::time::Duration::from_secs(10));
        }
    });
}
