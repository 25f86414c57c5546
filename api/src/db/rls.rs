//! The row-level-security settings primitive: the values every policy reads (`app.org_id`,
//! `app.user_id`, `app.branch_ids`, and the two narrow look-up keys for authentication), written
//! transaction-locally with `set_config(..., true)` so a pooled connection never carries them to
//! the next transaction. It knows nothing of who the caller is: `crate::tenant` decides that.

use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, UserId};
use sea_orm::{ConnectionTrait, DbBackend, Statement};
use uuid::Uuid;

/// Values written into the transaction's settings; RLS policies read them.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `app.org_id`.
    pub org_id: Option<OrgId>,
    /// `app.user_id`.
    pub user_id: Option<UserId>,
    /// `app.branch_ids`: `None` = every branch of the org, `Some(list)` = only these.
    pub branches: Option<Vec<BranchId>>,
    /// `app.auth_email`: lets the log-in lookup see exactly one user row.
    pub auth_email: Option<String>,
    /// `app.token_hash` (hex SHA-256): lets authentication see exactly the token row presented.
    pub token_hash: Option<String>,
}

/// Writes `settings` into the current transaction (transaction-local).
pub async fn apply_settings<C: ConnectionTrait>(conn: &C, s: &Settings) -> AppResult<()> {
    apply_with_timeout(conn, s, None).await
}

/// [`apply_settings`], also setting a transaction-local `statement_timeout` (in the same
/// statement: one round trip fewer per request).
pub async fn apply_with_timeout<C: ConnectionTrait>(
    conn: &C,
    s: &Settings,
    timeout: Option<std::time::Duration>,
) -> AppResult<()> {
    apply_opening(conn, s, timeout, false).await
}

/// The first statement of a tenant transaction: [`apply_with_timeout`], and when `read_only`,
/// also makes the transaction read-only (`transaction_read_only` may be switched on at any point;
/// doing it here saves the separate `SET TRANSACTION READ ONLY` round trip after BEGIN).
pub async fn apply_opening<C: ConnectionTrait>(
    conn: &C,
    s: &Settings,
    timeout: Option<std::time::Duration>,
    read_only: bool,
) -> AppResult<()> {
    macro_rules! settings_sql {
        ($($extra:literal)?) => {
            concat!(
                "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true), \
                 set_config('app.branch_ids', $3, true), set_config('app.auth_email', $4, true), \
                 set_config('app.token_hash', $5, true), \
                 set_config('statement_timeout', COALESCE(NULLIF($6, ''), current_setting('statement_timeout')), true)"
                $(, $extra)?
            )
        };
    }
    const SET: &str = settings_sql!();
    const SET_READ_ONLY: &str = settings_sql!(", set_config('transaction_read_only', 'on', true)");
    let branches = match &s.branches {
        None => "*".to_owned(),
        Some(ids) => {
            let inner: Vec<String> = ids.iter().map(ToString::to_string).collect();
            format!("{{{}}}", inner.join(","))
        }
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        if read_only { SET_READ_ONLY } else { SET },
        [
            opt(s.org_id.map(|o| o.to_string())).into(),
            opt(s.user_id.map(|u| u.to_string())).into(),
            branches.into(),
            opt(s.auth_email.clone()).into(),
            opt(s.token_hash.clone()).into(),
            opt(timeout.map(|t| format!("{}ms", t.as_millis()))).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Runs `f` with temporary settings, then restores `restore`, whatever `f` returned.
pub async fn with_settings<C: ConnectionTrait, T>(
    conn: &C,
    restore: &Settings,
    temp: Settings,
    f: impl AsyncFnOnce() -> AppResult<T>,
) -> AppResult<T> {
    apply_settings(conn, &temp).await?;
    let out = f().await;
    let restored = apply_settings(conn, restore).await;
    match out {
        Ok(v) => restored.map(|()| v),
        // A failed statement aborts the (sub)transaction, so restoring fails too; the caller's
        // rollback to its savepoint reverts these transaction-local settings anyway. Report the
        // original error, not the restore's.
        Err(e) => Err(e),
    }
}

/// Opens a signed-in member's tenant transaction in one statement (`tenant_open`, see the
/// migration): the org and user settings, the timeout and read-only mode, the membership read
/// under RLS and the branch visibility it gives. Returns the member's organization role and
/// branch roles (raw stored names), or `None` for a non-member, whose context then holds no
/// organization.
pub async fn open_member<C: ConnectionTrait>(
    conn: &C,
    org: Uuid,
    user: Uuid,
    timeout: Option<std::time::Duration>,
    read_only: bool,
) -> AppResult<Option<(String, Vec<(Uuid, String)>)>> {
    let row = conn
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT role, branches FROM tenant_open($1, $2, $3, $4)",
            [
                org.into(),
                user.into(),
                timeout
                    .map(|t| format!("{}ms", t.as_millis()))
                    .unwrap_or_default()
                    .into(),
                read_only.into(),
            ],
        ))
        .await?;
    let Some(row) = row else { return Ok(None) };
    let role: String = row.try_get("", "role")?;
    let raw: Vec<String> = row.try_get("", "branches")?;
    let mut branches = Vec::with_capacity(raw.len());
    for entry in raw {
        let parsed = entry
            .split_once(':')
            .and_then(|(id, role)| Some((Uuid::parse_str(id).ok()?, role.to_owned())));
        branches.push(
            parsed.ok_or_else(|| AppError::internal(format!("bad branch membership {entry}")))?,
        );
    }
    Ok(Some((role, branches)))
}
