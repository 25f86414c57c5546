//! Mercato: a multi-tenant GraphQL API for sellers on several marketplaces at once.
//!
//! The binary (`main.rs`) is thin; this library exposes [`build_state`], [`build_schema`] and
//! [`build_router`] so tests and benchmarks run exactly the app the binary serves.

#![recursion_limit = "256"]

pub mod after_commit;
pub mod auth;
pub mod breaker;
pub mod cache;
pub mod config;
pub mod connect;
pub mod db;
pub mod domain;
pub mod effects;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod keys;
pub mod limits;
pub mod marketplaces;
pub mod metrics;
pub mod seed;
pub mod state;
pub mod telemetry;
pub mod tenant;

pub use graphql::{build_schema, sdl};
pub use http::build_router;
pub use state::{AppState, build_state};

use error::{AppError, AppResult};
use secrecy::SecretString;

/// Applies all pending migrations using the owner role's URL.
pub async fn migrate_up(owner_url: &SecretString) -> AppResult<()> {
    use migration::MigratorTrait as _;
    let db = db::connect(owner_url, 2).await?;
    migration::Migrator::up(&db, None)
        .await
        .map_err(AppError::from_error)?;
    db.close().await.map_err(AppError::from_error)
}

/// Serves the router on `listener` until `shutdown` resolves, then drains in-flight requests (up
/// to 30 s). Connections get a header-read timeout (slow clients cannot hold sockets open) and the
/// router a whole-request timeout. API token last-use times are flushed in the background.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> AppResult<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
    use hyper_util::server::conn::auto::Builder;
    use std::time::Duration;
    use tower::ServiceExt as _;

    db::ensure_runtime_role(&state.db).await?;
    let header_timeout = state.config.limits.header_read_timeout;
    let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
    let flusher = tokio::spawn(state.api_tokens.clone().run_flusher(
        Duration::from_secs(15),
        async move {
            let _ = stop_rx.wait_for(|stop| *stop).await;
        },
    ));
    let router = build_router(state);
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(c) => c,
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let svc = router.clone().map_request(
            move |mut req: axum::http::Request<hyper::body::Incoming>| {
                req.extensions_mut()
                    .insert(axum::extract::ConnectInfo(peer));
                req
            },
        );
        let conn = builder
            .serve_connection_with_upgrades(
                TokioIo::new(stream),
                hyper_util::service::TowerToHyperService::new(svc),
            )
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(Duration::from_secs(30)) => {
            tracing::warn!("connections still open after 30 s; closing");
        }
    }
    let _ = stop_tx.send(true);
    flusher.await.map_err(AppError::from_error)?;
    Ok(())
}
