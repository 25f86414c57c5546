//! Database access: the runtime pool, the runtime-role check, and the row-level-security settings
//! primitive ([`rls`]). The tenant transaction built on it is `crate::tenant`.

pub mod rls;

use crate::error::{AppError, AppResult};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement,
};
use secrecy::{ExposeSecret, SecretString};
use std::time::Duration;

/// Opens a pool (for tools and migrations: waits up to 10 s for a connection).
pub async fn connect(url: &SecretString, max_connections: u32) -> AppResult<DatabaseConnection> {
    connect_with(url, max_connections, Duration::from_secs(10)).await
}

/// Opens a pool whose connection checkout gives up after `acquire_timeout`.
pub async fn connect_with(
    url: &SecretString,
    max_connections: u32,
    acquire_timeout: Duration,
) -> AppResult<DatabaseConnection> {
    let mut opts = ConnectOptions::new(url.expose_secret().to_owned());
    opts.max_connections(max_connections)
        .min_connections(0)
        .connect_timeout(acquire_timeout.min(Duration::from_secs(5)))
        .acquire_timeout(acquire_timeout)
        // sqlx pings every connection it hands out by default: one more round trip per request.
        // Only a connection idle long enough to have been dropped (by the server, a proxy or a
        // firewall) is pinged; a hot one that broke fails its statement and is discarded.
        .test_before_acquire_if_idle_for(Duration::from_secs(5))
        // Statements would be logged with their SQL; keep logs for what we decide to log.
        .sqlx_logging(false);
    Database::connect(opts).await.map_err(AppError::from_error)
}

/// Refuses to run the server as a role that could defeat row-level security.
pub async fn ensure_runtime_role(db: &DatabaseConnection) -> AppResult<()> {
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text AS name, rolsuper, rolbypassrls, \
             EXISTS (SELECT 1 FROM pg_tables WHERE tableowner = current_user) AS owns_tables \
             FROM pg_roles WHERE rolname = current_user",
        ))
        .await?
        .ok_or_else(|| AppError::internal("current role not found"))?;
    let name: String = row.try_get("", "name")?;
    let superuser: bool = row.try_get("", "rolsuper")?;
    let bypass: bool = row.try_get("", "rolbypassrls")?;
    let owns: bool = row.try_get("", "owns_tables")?;
    if superuser || bypass || owns {
        return Err(AppError::internal(format!(
            "refusing to serve as database role {name}: it is a superuser, has BYPASSRLS or owns tables; \
             use the runtime role (MERCATO_DATABASE_URL)"
        )));
    }
    Ok(())
}
