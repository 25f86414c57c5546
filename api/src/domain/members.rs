//! Organization and branch membership: listing (every member), adding by e-mail, changing roles,
//! removing (OWNER/ADMIN; only an OWNER touches the OWNER role; the last OWNER stays).

use crate::auth::permissions::Perm;
use crate::db::rls::Settings;
use crate::domain::accounts;
use crate::domain::page::{self, Page, PageArgs};
use crate::domain::{Ctx, audit};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, UserId};
use crate::tenant::{OrgAccess, with_settings};
use entity::enums::{BranchRole, OrgRole};
use entity::{branch_members, org_members, users};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;

/// Members of the current organization, ordered by user id.
pub async fn list(ctx: &Ctx<'_>, args: PageArgs) -> AppResult<Page<org_members::Model>> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersRead)?;
    let q = org_members::Entity::find().filter(org_members::Column::OrgId.eq(org.org_id.uuid()));
    page::fetch(ctx.tx, q, org_members::Column::UserId, args).await
}

/// Adds an existing user to the current organization (OWNER/ADMIN).
pub async fn add(ctx: &Ctx<'_>, user: UserId, role: OrgRole) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    let m = org_members::ActiveModel {
        org_id: Set(org.org_id.uuid()),
        user_id: Set(user.uuid()),
        role: Set(role),
        created_at: Set(chrono::Utc::now().into()),
    }
    .insert(ctx.tx)
    .await?;
    audit::record(
        ctx,
        org.org_id,
        "member.add",
        "User",
        Some(user.uuid()),
        json!({ "after": { "role": role } }),
    )
    .await?;
    Ok(m)
}

/// Gives an organization member a role in a branch (OWNER/ADMIN).
pub async fn add_to_branch(
    ctx: &Ctx<'_>,
    branch: BranchId,
    user: UserId,
    role: BranchRole,
) -> AppResult<()> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    crate::domain::branches::get(ctx.tx, branch).await?;
    branch_members::ActiveModel {
        org_id: Set(org.org_id.uuid()),
        branch_id: Set(branch.uuid()),
        user_id: Set(user.uuid()),
        role: Set(role),
        created_at: Set(chrono::Utc::now().into()),
    }
    .insert(ctx.tx)
    .await?;
    audit::record(
        ctx,
        org.org_id,
        "branch_member.add",
        "User",
        Some(user.uuid()),
        json!({ "after": { "branchId": branch, "role": role } }),
    )
    .await?;
    Ok(())
}

/// Finds a user by e-mail for adding them (their row is otherwise invisible to this tenant).
async fn user_by_email(ctx: &Ctx<'_>, email: &str) -> AppResult<UserId> {
    let email = accounts::normalize_email(email)?;
    let temp = Settings {
        auth_email: Some(email.clone()),
        ..crate::tenant::settings_for(ctx.access)
    };
    let user = with_settings(ctx.tx, ctx.access, temp, async || {
        Ok(users::Entity::find()
            .filter(users::Column::Email.eq(email))
            .one(ctx.tx)
            .await?)
    })
    .await?;
    user.map(|u| UserId(u.id)).ok_or_else(|| {
        AppError::invalid(
            "input.email",
            "no account uses this e-mail address; ask them to sign up first",
        )
    })
}

/// Only an OWNER may grant, change or remove the OWNER role.
fn check_owner_rule(org: &OrgAccess, touches_owner: bool) -> AppResult<()> {
    if touches_owner && org.role != OrgRole::Owner {
        return Err(AppError::Forbidden(
            "only an OWNER can grant, change or remove the OWNER role".into(),
        ));
    }
    Ok(())
}

/// The member's current row, locked for the change.
async fn locked_member(ctx: &Ctx<'_>, user: UserId) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org_members::Entity::find_by_id((org.org_id.uuid(), user.uuid()))
        .lock_exclusive()
        .one(ctx.tx)
        .await?
        .ok_or(AppError::NotFound("Member"))
}

/// Locks the organization's OWNER rows in user-id order, before any other member row, so that
/// concurrent role changes (two owners demoting each other) queue on the same first lock instead
/// of deadlocking; the one that waited then sees the other's result.
async fn lock_owners(ctx: &Ctx<'_>) -> AppResult<Vec<org_members::Model>> {
    let org = ctx.access.org()?;
    Ok(org_members::Entity::find()
        .filter(org_members::Column::OrgId.eq(org.org_id.uuid()))
        .filter(org_members::Column::Role.eq(OrgRole::Owner))
        .order_by_asc(org_members::Column::UserId)
        .lock_exclusive()
        .all(ctx.tx)
        .await?)
}

/// Refuses to leave the organization without an OWNER (`owners` locked by [`lock_owners`]).
fn ensure_other_owner(owners: &[org_members::Model], leaving: UserId) -> AppResult<()> {
    if owners.iter().all(|m| m.user_id == leaving.uuid()) {
        return Err(AppError::Conflict(
            "the last OWNER cannot be removed or demoted; make someone else OWNER first".into(),
        ));
    }
    Ok(())
}

/// Adds an existing user, by e-mail, with an organization role and optional branch roles.
pub async fn add_by_email(
    ctx: &Ctx<'_>,
    email: &str,
    role: OrgRole,
    branch_roles: &[(BranchId, BranchRole)],
) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    check_owner_rule(org, role == OrgRole::Owner)?;
    let user = user_by_email(ctx, email).await?;
    let member = add(ctx, user, role).await.map_err(|e| match e {
        AppError::Conflict(_) => AppError::Conflict("already a member of this organization".into()),
        other => other,
    })?;
    for (branch, r) in branch_roles {
        set_branch_role(ctx, user, *branch, Some(*r)).await?;
    }
    Ok(member)
}

/// Changes a member's organization role.
pub async fn change_role(
    ctx: &Ctx<'_>,
    user: UserId,
    role: OrgRole,
) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    let owners = lock_owners(ctx).await?;
    let before = locked_member(ctx, user).await?;
    check_owner_rule(org, before.role == OrgRole::Owner || role == OrgRole::Owner)?;
    if before.role == role {
        return Ok(before);
    }
    if before.role == OrgRole::Owner {
        ensure_other_owner(&owners, user)?;
    }
    let mut active: org_members::ActiveModel = before.clone().into();
    active.role = Set(role);
    let after = active.update(ctx.tx).await?;
    audit::record(
        ctx,
        org.org_id,
        "member.change_role",
        "User",
        Some(user.uuid()),
        json!({ "before": { "role": before.role }, "after": { "role": role } }),
    )
    .await?;
    Ok(after)
}

/// Removes a member (and their branch roles) from the organization.
pub async fn remove(ctx: &Ctx<'_>, user: UserId) -> AppResult<UserId> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    let owners = lock_owners(ctx).await?;
    let before = locked_member(ctx, user).await?;
    check_owner_rule(org, before.role == OrgRole::Owner)?;
    if before.role == OrgRole::Owner {
        ensure_other_owner(&owners, user)?;
    }
    org_members::Entity::delete_by_id((org.org_id.uuid(), user.uuid()))
        .exec(ctx.tx)
        .await?;
    audit::record(
        ctx,
        org.org_id,
        "member.remove",
        "User",
        Some(user.uuid()),
        json!({ "before": { "role": before.role } }),
    )
    .await?;
    Ok(user)
}

/// Sets (or with `None` removes) a member's role in one branch.
pub async fn set_branch_role(
    ctx: &Ctx<'_>,
    user: UserId,
    branch: BranchId,
    role: Option<BranchRole>,
) -> AppResult<()> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersManage)?;
    locked_member(ctx, user).await?;
    crate::domain::branches::get(ctx.tx, branch).await?;
    let key = (org.org_id.uuid(), branch.uuid(), user.uuid());
    let before = branch_members::Entity::find_by_id(key).one(ctx.tx).await?;
    match (before.as_ref(), role) {
        (None, None) => return Ok(()),
        (Some(b), Some(r)) if b.role == r => return Ok(()),
        (Some(b), Some(r)) => {
            let mut active: branch_members::ActiveModel = b.clone().into();
            active.role = Set(r);
            active.update(ctx.tx).await?;
        }
        (None, Some(r)) => {
            branch_members::ActiveModel {
                org_id: Set(org.org_id.uuid()),
                branch_id: Set(branch.uuid()),
                user_id: Set(user.uuid()),
                role: Set(r),
                created_at: Set(chrono::Utc::now().into()),
            }
            .insert(ctx.tx)
            .await?;
        }
        (Some(_), None) => {
            branch_members::Entity::delete_by_id(key)
                .exec(ctx.tx)
                .await?;
        }
    }
    audit::record(
        ctx,
        org.org_id,
        "branch_member.set_role",
        "User",
        Some(user.uuid()),
        json!({ "branchId": branch, "before": before.map(|b| b.role), "after": role }),
    )
    .await?;
    Ok(())
}

/// Branch roles of one member.
pub async fn branch_roles(ctx: &Ctx<'_>, user: UserId) -> AppResult<Vec<branch_members::Model>> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersRead)?;
    Ok(branch_members::Entity::find()
        .filter(branch_members::Column::OrgId.eq(org.org_id.uuid()))
        .filter(branch_members::Column::UserId.eq(user.uuid()))
        .all(ctx.tx)
        .await?)
}

/// One member of the current organization.
pub async fn get(ctx: &Ctx<'_>, user: UserId) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::MembersRead)?;
    org_members::Entity::find_by_id((org.org_id.uuid(), user.uuid()))
        .one(ctx.tx)
        .await?
        .ok_or(AppError::NotFound("Member"))
}
