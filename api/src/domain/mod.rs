//! Business rules, one module per domain. Every function runs on the tenant transaction it is
//! given, checks the caller's permission first, and returns typed errors.

pub mod accounts;
pub mod api_tokens;
pub mod audit;
pub mod branches;
pub mod catalog;
pub mod connections;
pub mod import;
pub mod inventory;
pub mod jobs;
pub mod listing_links;
pub mod listings;
pub mod members;
pub mod order_import;
pub mod order_reads;
pub mod order_stock;
pub mod orders;
pub mod organizations;
pub mod page;
pub mod products;
pub mod rows;
pub mod schedules;
pub mod sessions;
pub mod sign_in;
pub mod stock_push;
pub mod stores;
pub mod sync;
pub mod token_auth;
pub mod webhooks;

use crate::error::{AppError, AppResult};
use crate::tenant::Access;
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

/// The largest stock quantity anywhere: on hand, one movement, a threshold, an allocation cap.
/// It keeps every stock figure inside GraphQL's 32-bit `Int` and every sum of them inside `i64`.
pub const MAX_QUANTITY: i64 = 1_000_000_000;

/// `value` if it lies in `min..=MAX_QUANTITY`, else VALIDATION_FAILED on `field`.
pub fn quantity(field: &str, value: i64, min: i64) -> AppResult<i64> {
    if (min..=MAX_QUANTITY).contains(&value) {
        Ok(value)
    } else {
        Err(AppError::invalid(
            field,
            format!("must be between {min} and {MAX_QUANTITY}"),
        ))
    }
}

/// Checks a text input without trimming: at most `max` characters, no control characters except
/// line breaks and tabs (free text such as a reason or a note).
pub fn free_text(field: &str, value: &str, max: usize) -> AppResult<()> {
    if value.chars().count() > max {
        return Err(AppError::invalid(
            field,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(())
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
