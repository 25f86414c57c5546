//! Refresh-token sessions. A log-in starts a family; every refresh marks the presented token used
//! and issues its successor in the same family; presenting a used token again means it leaked, so
//! the whole family is revoked (the thief's and the owner's tokens alike). Only SHA-256 hashes of
//! tokens are stored.

use crate::auth::secrets::{self, REFRESH_TOKEN_PREFIX};
use crate::db::rls::Settings;
use crate::domain::accounts;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, RefreshTokenId, UserId};
use crate::tenant::{Access, with_settings};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, FromQueryResult, Statement};
use secrecy::SecretString;
use std::time::Duration;
use uuid::Uuid;

/// A refresh token handed to the client once.
pub struct IssuedRefresh {
    /// The opaque token.
    pub token: SecretString,
    /// When it stops working (unless rotated before).
    pub expires_at: DateTime<Utc>,
}

/// What a refresh did.
pub enum Rotation {
    /// A new pair for this user and organization.
    Rotated {
        /// The user.
        user: UserId,
        /// The organization the new access token is scoped to.
        org: Option<OrgId>,
        /// The successor refresh token.
        refresh: IssuedRefresh,
    },
    /// The token had already been used: the family is now revoked. Commit, then report failure.
    Reused,
}

#[derive(FromQueryResult)]
struct Row {
    id: Uuid,
    family_id: Uuid,
    user_id: Uuid,
    session_org_id: Option<Uuid>,
    expires_at: DateTime<Utc>,
    revoked_at: Option<DateTime<Utc>>,
}

fn as_user(user: UserId) -> Settings {
    Settings {
        user_id: Some(user),
        branches: Some(Vec::new()),
        ..Settings::default()
    }
}

async fn insert(
    tx: &DatabaseTransaction,
    user: UserId,
    family: Uuid,
    org: Option<OrgId>,
    ttl: Duration,
) -> AppResult<IssuedRefresh> {
    let generated = secrets::generate(REFRESH_TOKEN_PREFIX);
    let expires_at = Utc::now() + chrono::Duration::from_std(ttl).map_err(AppError::from_error)?;
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "INSERT INTO refresh_tokens (id, family_id, user_id, session_org_id, token_hash, expires_at) \
         VALUES ($1, $2, $3, $4, $5, $6)",
        [
            RefreshTokenId::new_v7().uuid().into(),
            family.into(),
            user.uuid().into(),
            org.map(OrgId::uuid).into(),
            generated.hash.to_vec().into(),
            expires_at.into(),
        ],
    ))
    .await?;
    Ok(IssuedRefresh {
        token: generated.secret,
        expires_at,
    })
}

/// Starts a new session family for `user` (after a successful log-in or sign-up).
pub async fn start(
    tx: &DatabaseTransaction,
    access: &Access,
    user: UserId,
    org: Option<OrgId>,
    ttl: Duration,
) -> AppResult<IssuedRefresh> {
    with_settings(tx, access, as_user(user), async || {
        insert(tx, user, Uuid::now_v7(), org, ttl).await
    })
    .await
}

async fn find(tx: &DatabaseTransaction, access: &Access, presented: &str) -> AppResult<Row> {
    let hash = secrets::parse(REFRESH_TOKEN_PREFIX, presented.trim())
        .ok_or(AppError::InvalidRefreshToken)?;
    let lookup = Settings {
        token_hash: Some(secrets::hex(&hash)),
        branches: Some(Vec::new()),
        ..Settings::default()
    };
    with_settings(tx, access, lookup, async || {
        Row::find_by_statement(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT id, family_id, user_id, session_org_id, expires_at, revoked_at \
             FROM refresh_tokens WHERE token_hash = $1",
            [hash.to_vec().into()],
        ))
        .one(tx)
        .await?
        .ok_or(AppError::InvalidRefreshToken)
    })
    .await
}

async fn revoke_family(tx: &DatabaseTransaction, family: Uuid) -> AppResult<u64> {
    Ok(tx
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = $1 AND revoked_at IS NULL",
            [family.into()],
        ))
        .await?
        .rows_affected())
}

/// Rotates `presented`. `wanted` switches the session to another organization of the user's.
pub async fn rotate(
    tx: &DatabaseTransaction,
    access: &Access,
    presented: &str,
    wanted: Option<OrgId>,
    ttl: Duration,
) -> AppResult<Rotation> {
    let row = find(tx, access, presented).await?;
    let user = UserId(row.user_id);
    if row.revoked_at.is_some() || row.expires_at <= Utc::now() {
        return Err(AppError::InvalidRefreshToken);
    }
    let claimed = with_settings(tx, access, as_user(user), async || {
        // Concurrent refreshes with the same token serialize on this row: the first marks it used,
        // the second then matches nothing and is treated as reuse.
        let claimed = tx
            .execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "UPDATE refresh_tokens SET used_at = now() \
                 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
                [row.id.into()],
            ))
            .await?
            .rows_affected();
        if claimed == 0 {
            revoke_family(tx, row.family_id).await?;
        }
        Ok(claimed)
    })
    .await?;
    if claimed == 0 {
        tracing::warn!(user = %user, family = %row.family_id, "refresh token reused; session family revoked");
        return Ok(Rotation::Reused);
    }
    let org = match wanted.or(row.session_org_id.map(OrgId)) {
        Some(o) => accounts::pick_org(tx, access, user, Some(o))
            .await
            .or_else(|e| match (e, wanted) {
                // The session's organization is gone or they left it: continue without one.
                (AppError::NotFound(_), None) => Ok(None),
                (AppError::NotFound(_), Some(_)) => Err(AppError::invalid(
                    "input.organizationId",
                    "organization not found",
                )),
                (other, _) => Err(other),
            })?,
        None => None,
    };
    let refresh = with_settings(tx, access, as_user(user), async || {
        insert(tx, user, row.family_id, org, ttl).await
    })
    .await?;
    Ok(Rotation::Rotated { user, org, refresh })
}

/// Revokes the session family of `presented` (log out). Returns whether anything was revoked.
pub async fn revoke(tx: &DatabaseTransaction, access: &Access, presented: &str) -> AppResult<bool> {
    let row = find(tx, access, presented).await?;
    let n = with_settings(tx, access, as_user(UserId(row.user_id)), async || {
        revoke_family(tx, row.family_id).await
    })
    .await?;
    Ok(n > 0)
}
