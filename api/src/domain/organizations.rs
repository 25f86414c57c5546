//! Organizations: the tenant. Creating one makes the creator its OWNER.

use crate::auth::permissions::Perm;
use crate::domain::{Ctx, audit, clean_text};
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::tenant::{Access, with_settings};
use entity::enums::OrgRole;
use entity::{org_members, organizations};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, NotSet, QueryFilter, QueryOrder,
    Set,
};
use serde_json::json;
use std::collections::HashMap;

/// Creates an organization owned by the caller. The transaction's context switches to the new
/// organization only for these inserts, then returns to the caller's.
pub async fn create(ctx: &Ctx<'_>, name: &str) -> AppResult<organizations::Model> {
    let user = ctx.access.user()?;
    let name = clean_text("input.name", name, 200)?;
    let org = OrgId::new_v7();
    let now = chrono::Utc::now();
    // The creator is OWNER of the new org, so inside it they see everything.
    let as_owner = Access {
        user_id: Some(user),
        org: Some(crate::tenant::OrgAccess::member(
            org,
            OrgRole::Owner,
            HashMap::new(),
        )),
    };
    let inner = Ctx {
        access: &as_owner,
        ..*ctx
    };
    with_settings(
        ctx.tx,
        ctx.access,
        crate::tenant::settings_for(&as_owner),
        async || {
            let model = organizations::ActiveModel {
                id: Set(org.uuid()),
                name: Set(name.clone()),
                stock_tail_per_listing: NotSet,
                created_at: Set(now.into()),
                updated_at: Set(now.into()),
            }
            .insert(ctx.tx)
            .await?;
            org_members::ActiveModel {
                org_id: Set(org.uuid()),
                user_id: Set(user.uuid()),
                role: Set(OrgRole::Owner),
                created_at: Set(now.into()),
            }
            .insert(ctx.tx)
            .await?;
            audit::record(
                &inner,
                org,
                "organization.create",
                "Organization",
                Some(org.uuid()),
                json!({ "after": { "name": name } }),
            )
            .await?;
            Ok(model)
        },
    )
    .await
}

/// The caller's current organization.
pub async fn current(ctx: &Ctx<'_>) -> AppResult<organizations::Model> {
    let org = ctx.access.org()?;
    get(ctx.tx, org.org_id).await
}

/// Loads an organization visible in this transaction.
pub async fn get<C: ConnectionTrait>(conn: &C, id: OrgId) -> AppResult<organizations::Model> {
    organizations::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("Organization"))
}

/// What [`update`] changes; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct OrgChanges {
    /// New name.
    pub name: Option<String>,
    /// New stock tail, in units per listing (0..=100,000; 0 turns it off).
    pub stock_tail_per_listing: Option<i32>,
}

/// Changes the current organization's name or settings (OWNER/ADMIN).
pub async fn update(ctx: &Ctx<'_>, changes: &OrgChanges) -> AppResult<organizations::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::OrgUpdate)?;
    let name = changes
        .name
        .as_deref()
        .map(|n| clean_text("input.name", n, 200))
        .transpose()?;
    if let Some(t) = changes.stock_tail_per_listing
        && !(0..=100_000).contains(&t)
    {
        return Err(AppError::invalid(
            "input.stockTailPerListing",
            "between 0 (off) and 100000 units per listing",
        ));
    }
    let before = get(ctx.tx, org.org_id).await?;
    let mut active: organizations::ActiveModel = before.clone().into();
    if let Some(n) = &name {
        active.name = Set(n.clone());
    }
    if let Some(t) = changes.stock_tail_per_listing {
        active.stock_tail_per_listing = Set(t);
    }
    active.updated_at = Set(chrono::Utc::now().into());
    let after = active.update(ctx.tx).await?;
    audit::record(
        ctx,
        org.org_id,
        "organization.update",
        "Organization",
        Some(org.org_id.uuid()),
        json!({ "before": { "name": before.name, "stockTailPerListing": before.stock_tail_per_listing },
                "after": { "name": after.name, "stockTailPerListing": after.stock_tail_per_listing } }),
    )
    .await?;
    Ok(after)
}

/// Every organization the caller belongs to, with their role, oldest membership first.
pub async fn list_mine(ctx: &Ctx<'_>) -> AppResult<Vec<(organizations::Model, OrgRole)>> {
    let user = ctx.access.user()?;
    let memberships = org_members::Entity::find()
        .filter(org_members::Column::UserId.eq(user.uuid()))
        .order_by_asc(org_members::Column::CreatedAt)
        .all(ctx.tx)
        .await?;
    let ids: Vec<_> = memberships.iter().map(|m| m.org_id).collect();
    let mut orgs: HashMap<_, _> = organizations::Entity::find()
        .filter(organizations::Column::Id.is_in(ids))
        .all(ctx.tx)
        .await?
        .into_iter()
        .map(|o| (o.id, o))
        .collect();
    Ok(memberships
        .into_iter()
        .filter_map(|m| orgs.remove(&m.org_id).map(|o| (o, m.role)))
        .collect())
}
