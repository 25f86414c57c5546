//! Mercato: a multi-tenant GraphQL API for sellers on several marketplaces at once.
//!
//! The binary (`main.rs`) is thin; this library exposes [`build_state`], [`build_schema`] and
//! [`build_router`] so tests and benchmarks run exactly the app the binary serves.

pub mod auth;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod graphql;
pub mod http;
pub mod ids;
pub mod jobs;
pub mod seed;
pub mod state;
pub mod telemetry;

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
        .map_err(AppError::internal)?;
    db.close().await.map_err(AppError::internal)
}

/// Serves the router on `listener` until `shutdown` resolves, then drains in-flight requests.
pub async fn serve(
    state: AppState,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> AppResult<()> {
    db::ensure_runtime_role(&state.db).await?;
    let router = build_router(state);
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(AppError::internal)
}
