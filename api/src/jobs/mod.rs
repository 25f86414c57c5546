//! Background work. The durable job system arrives with the jobs issue; today the worker runs the
//! reservation expiry sweep ([`sweep`]) until shutdown.

pub mod sweep;

use crate::error::AppResult;
use crate::state::AppState;
use std::future::Future;

/// Runs the worker until `shutdown` resolves.
pub async fn run_worker(state: AppState, shutdown: impl Future<Output = ()>) -> AppResult<()> {
    crate::db::ensure_runtime_role(&state.db).await?;
    let interval = state.config.reservation_sweep_interval;
    tracing::info!(?interval, "worker started (reservation expiry sweep)");
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = tick.tick() => match sweep::sweep_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released lapsed reservations"),
                Err(e) => tracing::warn!(error = ?e, "reservation sweep failed"),
            },
        }
    }
    tracing::info!("worker stopped");
    Ok(())
}
