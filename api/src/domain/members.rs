//! Organization and branch membership. Listing is open to every member; adding members is used by
//! seeding and tests now, and becomes the invite flow with the access issue.

use crate::domain::page::{self, Page, PageArgs};
use crate::domain::{Ctx, audit};
use crate::error::AppResult;
use crate::ids::{BranchId, UserId};
use entity::enums::{BranchRole, OrgRole};
use entity::{branch_members, org_members};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use serde_json::json;

/// Members of the current organization, ordered by user id.
pub async fn list(ctx: &Ctx<'_>, args: PageArgs) -> AppResult<Page<org_members::Model>> {
    let org = ctx.access.org()?;
    let q = org_members::Entity::find().filter(org_members::Column::OrgId.eq(org.org_id.uuid()));
    page::fetch(ctx.tx, q, org_members::Column::UserId, args).await
}

/// Adds an existing user to the current organization (OWNER/ADMIN).
pub async fn add(ctx: &Ctx<'_>, user: UserId, role: OrgRole) -> AppResult<org_members::Model> {
    let org = ctx.access.org()?;
    org.require_admin()?;
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
    org.require_admin()?;
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
