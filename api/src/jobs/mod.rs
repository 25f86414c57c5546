//! Background work. The durable job system arrives with the jobs issue; until then the worker
//! checks its connections, then idles until shutdown so `dev` and deployments already run it.

use crate::error::AppResult;
use crate::state::AppState;
use std::future::Future;

/// Runs the worker until `shutdown` resolves.
pub async fn run_worker(state: AppState, shutdown: impl Future<Output = ()>) -> AppResult<()> {
    crate::db::ensure_runtime_role(&state.db).await?;
    tracing::info!("worker started (no job kinds registered yet)");
    shutdown.await;
    tracing::info!("worker stopped");
    Ok(())
}
