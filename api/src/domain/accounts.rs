//! Accounts: sign-up, log-in, and choosing the organization an access token is scoped to.

use crate::auth::password;
use crate::db::rls::Settings;
use crate::domain::clean_text;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, UserId};
use crate::tenant::{Access, with_settings};
use entity::enums::OrgRole;
use entity::{org_members, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryOrder, Set,
};
use secrecy::SecretString;

/// Lower-cases and checks an e-mail address (shape only; ownership is proven elsewhere).
pub fn normalize_email(raw: &str) -> AppResult<String> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 320
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
        && email.matches('@').count() == 1;
    if valid {
        Ok(email)
    } else {
        Err(AppError::invalid(
            "input.email",
            "must be a valid e-mail address",
        ))
    }
}

/// Creates a user. A taken e-mail is a CONFLICT on `input.email`.
pub async fn sign_up(
    tx: &DatabaseTransaction,
    access: &Access,
    email: &str,
    password: SecretString,
    display_name: &str,
) -> AppResult<users::Model> {
    let email = normalize_email(email)?;
    let display_name = clean_text("input.displayName", display_name, 200)?;
    password::validate(&password)?;
    let hash = password::hash(password).await?;
    let id = UserId::new_v7();
    let now = chrono::Utc::now();
    let temp = Settings {
        user_id: Some(id),
        branches: Some(Vec::new()),
        ..Settings::default()
    };
    with_settings(tx, access, temp, async || {
        let model = users::ActiveModel {
            id: Set(id.uuid()),
            email: Set(email),
            password_hash: Set(hash),
            display_name: Set(display_name),
            created_at: Set(now.into()),
            updated_at: Set(now.into()),
        }
        .insert(tx)
        .await
        .map_err(|e| match AppError::from(e) {
            AppError::Conflict(_) => {
                AppError::Conflict("this e-mail address is already registered".into())
            }
            other => other,
        })?;
        Ok(model)
    })
    .await
}

/// Checks e-mail and password; unknown e-mail and wrong password are the same error and take
/// the same time.
pub async fn log_in(
    tx: &DatabaseTransaction,
    access: &Access,
    email: &str,
    password: SecretString,
) -> AppResult<users::Model> {
    let email = normalize_email(email).map_err(|_| AppError::InvalidCredentials)?;
    let temp = Settings {
        auth_email: Some(email.clone()),
        branches: Some(Vec::new()),
        ..Settings::default()
    };
    let user = with_settings(tx, access, temp, async || {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(tx)
            .await?)
    })
    .await?;
    let ok = password::verify(password, user.as_ref().map(|u| u.password_hash.clone())).await?;
    match user {
        Some(u) if ok => Ok(u),
        _ => Err(AppError::InvalidCredentials),
    }
}

/// The user's role in `org`, if they are a member (their own memberships are always visible).
pub async fn membership<C: ConnectionTrait>(
    conn: &C,
    user: UserId,
    org: OrgId,
) -> AppResult<Option<OrgRole>> {
    Ok(org_members::Entity::find_by_id((org.uuid(), user.uuid()))
        .one(conn)
        .await?
        .map(|m| m.role))
}

/// The organization a fresh log-in is scoped to: the one asked for (if a member), else the oldest
/// membership, else none.
pub async fn pick_org(
    tx: &DatabaseTransaction,
    access: &Access,
    user: UserId,
    wanted: Option<OrgId>,
) -> AppResult<Option<OrgId>> {
    let temp = Settings {
        user_id: Some(user),
        branches: Some(Vec::new()),
        ..Settings::default()
    };
    with_settings(tx, access, temp, async || {
        if let Some(org) = wanted {
            return match membership(tx, user, org).await? {
                Some(_) => Ok(Some(org)),
                None => Err(AppError::NotFound("Organization")),
            };
        }
        let first = org_members::Entity::find()
            .filter(org_members::Column::UserId.eq(user.uuid()))
            .order_by_asc(org_members::Column::CreatedAt)
            .one(tx)
            .await?;
        Ok(first.map(|m| OrgId(m.org_id)))
    })
    .await
}

/// Loads a user visible in this transaction.
pub async fn get_user<C: ConnectionTrait>(conn: &C, id: UserId) -> AppResult<users::Model> {
    users::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("User"))
}

/// A membership: the organization and the caller's role there.
pub type Membership = (entity::organizations::Model, OrgRole);

/// The caller, the organization their token is scoped to (with their role) and every
/// organization they belong to.
pub async fn viewer(
    c: crate::domain::Ctx<'_>,
) -> AppResult<(users::Model, Option<Membership>, Vec<Membership>)> {
    let user = get_user(c.tx, c.access.user()?).await?;
    let memberships = crate::domain::organizations::list_mine(&c).await?;
    let current = c.access.org.as_ref().and_then(|o| {
        memberships
            .iter()
            .find(|(m, _)| m.id == o.org_id.uuid())
            .cloned()
    });
    Ok((user, current, memberships))
}

/// The users among `ids` visible in this transaction (colleagues and oneself).
pub async fn load_users<C: ConnectionTrait>(
    conn: &C,
    ids: &[UserId],
) -> AppResult<Vec<users::Model>> {
    let ids: Vec<_> = ids.iter().map(|k| k.uuid()).collect();
    Ok(users::Entity::find()
        .filter(users::Column::Id.is_in(ids))
        .all(conn)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(
            normalize_email("  Ama@Example.COM ").ok(),
            Some("ama@example.com".to_owned())
        );
        for bad in [
            "",
            "no-at.example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "@example.com",
            "a@.com",
        ] {
            assert!(normalize_email(bad).is_err(), "{bad}");
        }
    }
}
