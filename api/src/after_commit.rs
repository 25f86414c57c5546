//! Runs the effects a committed transaction recorded ([`crate::effects`]) against Redis, in one
//! pipeline: generation bumps, job hand-offs, sweep schedule, channel messages.

use crate::effects::Effect;
use crate::ids::OrgId;
use crate::keys::Keys;
use crate::state::AppState;

/// Runs committed effects. Failures are logged, not returned: the data is committed, a cache entry
/// expires by its TTL, and alert rows stay queryable.
pub async fn run(state: &AppState, effects: Vec<Effect>) {
    if effects.is_empty() {
        return;
    }
    let pipe = pipeline(&state.keys, &effects);
    if let Err(e) = state
        .redis_guard
        .run(async |conn| pipe.query_async::<()>(conn).await)
        .await
    {
        tracing::warn!(error = %e, "effects failed after commit");
        crate::metrics::get().redis_error("effects");
        retry_invalidations(state, &effects);
    }
}

/// The Redis commands that carry out `effects`, in one pipeline.
pub fn pipeline(keys: &Keys, effects: &[Effect]) -> redis::Pipeline {
    let mut pipe = redis::pipe();
    for e in effects {
        match e {
            Effect::CatalogChanged(org) => {
                pipe.incr(keys.catalog_generation(*org), 1).ignore();
            }
            // Visit the organization at `at` (an earlier visit already scheduled is kept).
            Effect::ReservationDue { org, at } => {
                pipe.cmd("ZADD")
                    .arg(keys.reservations_due())
                    .arg("LT")
                    .arg(at.timestamp_millis())
                    .arg(org.to_string())
                    .ignore();
            }
            // The stream is capped (approximately) at 100,000 entries: entries are read within
            // milliseconds, and a job an entry was lost for is found again by the reconciler.
            Effect::JobQueued { org, job } => {
                pipe.cmd("XADD")
                    .arg(keys.jobs_stream())
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(100_000)
                    .arg("*")
                    .arg("o")
                    .arg(org.to_string())
                    .arg("j")
                    .arg(job.to_string())
                    .ignore();
            }
            Effect::Publish { topic, body } => {
                pipe.publish(keys.channel(*topic), body).ignore();
            }
        }
    }
    pipe
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
    let keys = state.keys.clone();
    let give_up = tokio::time::Instant::now() + state.config.catalog_cache_ttl;
    tokio::spawn(async move {
        let mut wait = std::time::Duration::from_millis(500);
        while tokio::time::Instant::now() < give_up {
            tokio::time::sleep(wait).await;
            let mut pipe = redis::pipe();
            for org in &orgs {
                pipe.incr(keys.catalog_generation(*org), 1).ignore();
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
