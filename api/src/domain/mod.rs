//! Business rules, one module per domain. Every function runs on the tenant transaction it is
//! given, checks the caller's permission first, and returns typed errors.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod branches;
pub mod catalog;
pub mod import;
pub mod inventory;
pub mod members;
pub mod organizations;
pub mod page;
pub mod sessions;
pub mod stores;
pub mod sync;

use crate::db::tenant::Access;
use crate::error::{AppError, AppResult};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement, Value};

/// What a domain call acts on and for whom.
#[derive(Clone, Copy)]
pub struct Ctx<'a> {
    /// The tenant transaction (or a savepoint inside it).
    pub tx: &'a DatabaseTransaction,
    /// The caller's access.
    pub access: &'a Access,
    /// The request that caused the call, for the audit trail.
    pub request_id: Option<&'a str>,
    /// Effects to run after commit (events, cache invalidation).
    pub effects: &'a crate::effects::Effects,
}

/// Trims `value` and checks its length in characters.
pub fn clean_text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v = value.trim();
    if v.is_empty() {
        return Err(AppError::invalid(field, "must not be blank"));
    }
    if v.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if v.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(v.to_owned())
}

/// Requires the catalog read permission.
pub fn require_catalog_read(c: &Ctx<'_>) -> AppResult<()> {
    c.access
        .org()?
        .require(crate::auth::permissions::Perm::CatalogRead)
}

/// A Postgres statement with positional values.
pub fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

/// NOT_FOUND (as `what`) unless row `id` of `table` is visible to the caller under RLS.
pub async fn require_visible<C: ConnectionTrait>(
    conn: &C,
    table: &'static str,
    id: uuid::Uuid,
    what: &'static str,
) -> AppResult<()> {
    conn.query_one_raw(stmt(
        &format!("SELECT 1 FROM {table} WHERE id = $1"),
        vec![id.into()],
    ))
    .await?
    .map(|_| ())
    .ok_or(AppError::NotFound(what))
}
