//! The four ways a caller gets a session: sign up, log in, switch organization, refresh. Each
//! runs in the mutation's savepoint and returns the [`Session`] a token is issued for; the
//! narrow RLS settings that let an anonymous caller see exactly their own rows are applied here,
//! never in a resolver.

use crate::db::rls::{Settings, apply_settings};
use crate::domain::sessions::{self, IssuedRefresh, Rotation};
use crate::domain::{Ctx, accounts, organizations};
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, UserId};
use crate::tenant::{Access, settings_for, with_settings};
use entity::{organizations as orgs, users};
use secrecy::SecretString;
use std::time::Duration;

/// Who a new token is for, and the refresh token issued with it (none when switching).
pub struct Session {
    /// The user.
    pub user: users::Model,
    /// The organization the token is scoped to.
    pub org: Option<orgs::Model>,
    /// A new refresh token.
    pub refresh: Option<IssuedRefresh>,
}

/// Input of [`sign_up`].
pub struct SignUp {
    /// E-mail address; must be unused.
    pub email: String,
    /// Password (at least 10 characters).
    pub password: SecretString,
    /// Name shown to colleagues.
    pub display_name: String,
    /// Also create this organization with the new user as OWNER.
    pub organization_name: Option<String>,
}

/// Creates an account (and optionally an organization) and starts its session.
pub async fn sign_up(c: &Ctx<'_>, input: SignUp, ttl: Duration) -> AppResult<Session> {
    let user = accounts::sign_up(
        c.tx,
        c.access,
        &input.email,
        input.password,
        &input.display_name,
    )
    .await?;
    let org = match &input.organization_name {
        Some(name) => {
            let acting = Access {
                user_id: Some(UserId(user.id)),
                org: None,
            };
            let org = organizations::create(
                &Ctx {
                    access: &acting,
                    ..*c
                },
                name,
            )
            .await
            .map_err(|e| match e {
                AppError::Validation { message, .. } => {
                    AppError::invalid("input.organizationName", message)
                }
                other => other,
            })?;
            apply_settings(c.tx, &settings_for(c.access)).await?;
            Some(org)
        }
        None => None,
    };
    let org_id = org.as_ref().map(|o| OrgId(o.id));
    let refresh = sessions::start(c.tx, c.access, UserId(user.id), org_id, ttl).await?;
    Ok(Session {
        user,
        org,
        refresh: Some(refresh),
    })
}

/// Logs in with e-mail and password, scoped to `wanted` (if a member) or the oldest membership.
pub async fn log_in(
    c: &Ctx<'_>,
    email: &str,
    password: SecretString,
    wanted: Option<OrgId>,
    ttl: Duration,
) -> AppResult<Session> {
    let user = accounts::log_in(c.tx, c.access, email, password).await?;
    let org = accounts::pick_org(c.tx, c.access, UserId(user.id), wanted)
        .await
        .map_err(|e| match e {
            AppError::NotFound(_) => {
                AppError::invalid("input.organizationId", "organization not found")
            }
            other => other,
        })?;
    let refresh = sessions::start(c.tx, c.access, UserId(user.id), org, ttl).await?;
    let org = load_org(c, UserId(user.id), org).await?;
    Ok(Session {
        user,
        org,
        refresh: Some(refresh),
    })
}

/// A token for the caller scoped to `wanted` (NOT_FOUND unless a member).
pub async fn switch(c: &Ctx<'_>, wanted: OrgId) -> AppResult<Session> {
    let user_id = c.access.user()?;
    let user = accounts::get_user(c.tx, user_id).await?;
    let org = accounts::pick_org(c.tx, c.access, user_id, Some(wanted)).await?;
    let org = load_org(c, user_id, org).await?;
    Ok(Session {
        user,
        org,
        refresh: None,
    })
}

/// Rotates a refresh token. `None` when it was not valid — and when it had been used before, its
/// whole family was revoked: that revocation is written, so the caller must keep this savepoint.
pub async fn refresh(
    c: &Ctx<'_>,
    presented: &str,
    wanted: Option<OrgId>,
    ttl: Duration,
) -> AppResult<Option<Session>> {
    let rotation = sessions::rotate(c.tx, c.access, presented, wanted, ttl).await?;
    let Rotation::Rotated { user, org, refresh } = rotation else {
        return Ok(None);
    };
    let user_row = with_settings(c.tx, c.access, as_user(user), async || {
        accounts::get_user(c.tx, user).await
    })
    .await?;
    let org = load_org(c, user, org).await?;
    Ok(Some(Session {
        user: user_row,
        org,
        refresh: Some(refresh),
    }))
}

/// Settings under which `user` sees their own rows (and nothing of any organization).
fn as_user(user: UserId) -> Settings {
    Settings {
        user_id: Some(user),
        branches: Some(Vec::new()),
        ..Settings::default()
    }
}

async fn load_org(c: &Ctx<'_>, user: UserId, org: Option<OrgId>) -> AppResult<Option<orgs::Model>> {
    let Some(org) = org else { return Ok(None) };
    with_settings(c.tx, c.access, as_user(user), async || {
        organizations::get(c.tx, org).await.map(Some)
    })
    .await
}
