//! Branches: business units of an organization. OWNER/ADMIN manage them; a MEMBER sees only the
//! branches they belong to (enforced by RLS as well).

use crate::auth::permissions::Perm;
use crate::domain::page::{self, Page, PageArgs};
use crate::domain::{Ctx, audit, clean_text};
use crate::error::{AppError, AppResult};
use crate::ids::BranchId;
use entity::{branches, stores};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, ModelTrait, PaginatorTrait,
    QueryFilter, Set,
};
use serde_json::json;

const NAME_MAX: usize = 120;

/// Loads a branch visible to the caller.
pub async fn get<C: ConnectionTrait>(conn: &C, id: BranchId) -> AppResult<branches::Model> {
    branches::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("Branch"))
}

/// Branches visible to the caller, oldest first.
pub async fn list(ctx: &Ctx<'_>, args: PageArgs) -> AppResult<Page<branches::Model>> {
    let org = ctx.access.org()?;
    let q = branches::Entity::find().filter(branches::Column::OrgId.eq(org.org_id.uuid()));
    page::fetch(ctx.tx, q, branches::Column::Id, args).await
}

/// Loads several branches at once (DataLoader).
pub async fn load_many<C: ConnectionTrait>(
    conn: &C,
    ids: &[BranchId],
) -> AppResult<Vec<branches::Model>> {
    let ids: Vec<_> = ids.iter().map(|i| i.uuid()).collect();
    Ok(branches::Entity::find()
        .filter(branches::Column::Id.is_in(ids))
        .all(conn)
        .await?)
}

fn name_conflict(e: AppError) -> AppError {
    match e {
        AppError::Conflict(_) => {
            AppError::Conflict("a branch with this name already exists".into())
        }
        other => other,
    }
}

/// Creates a branch (OWNER/ADMIN).
pub async fn create(ctx: &Ctx<'_>, name: &str) -> AppResult<branches::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::BranchesManage)?;
    let name = clean_text("input.name", name, NAME_MAX)?;
    let now = chrono::Utc::now();
    let model = branches::ActiveModel {
        org_id: Set(org.org_id.uuid()),
        id: Set(BranchId::new_v7().uuid()),
        name: Set(name.clone()),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
    }
    .insert(ctx.tx)
    .await
    .map_err(|e| name_conflict(e.into()))?;
    audit::record(
        ctx,
        org.org_id,
        "branch.create",
        "Branch",
        Some(model.id),
        json!({ "after": { "name": name } }),
    )
    .await?;
    Ok(model)
}

/// Renames a branch (OWNER/ADMIN).
pub async fn update(ctx: &Ctx<'_>, id: BranchId, name: &str) -> AppResult<branches::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::BranchesManage)?;
    let before = get(ctx.tx, id).await?;
    let name = clean_text("input.name", name, NAME_MAX)?;
    let mut active: branches::ActiveModel = before.clone().into();
    active.name = Set(name.clone());
    active.updated_at = Set(chrono::Utc::now().into());
    let after = active
        .update(ctx.tx)
        .await
        .map_err(|e| name_conflict(e.into()))?;
    audit::record(
        ctx,
        org.org_id,
        "branch.update",
        "Branch",
        Some(id.uuid()),
        json!({ "before": { "name": before.name }, "after": { "name": name } }),
    )
    .await?;
    Ok(after)
}

/// Deletes a branch that has no stores (OWNER/ADMIN).
pub async fn delete(ctx: &Ctx<'_>, id: BranchId) -> AppResult<BranchId> {
    let org = ctx.access.org()?;
    org.require(Perm::BranchesManage)?;
    let branch = get(ctx.tx, id).await?;
    let stores = stores::Entity::find()
        .filter(stores::Column::BranchId.eq(id.uuid()))
        .count(ctx.tx)
        .await?;
    if stores > 0 {
        return Err(AppError::Conflict(format!(
            "the branch still has {stores} store(s); move or archive them first"
        )));
    }
    let name = branch.name.clone();
    branch.delete(ctx.tx).await?;
    audit::record(
        ctx,
        org.org_id,
        "branch.delete",
        "Branch",
        Some(id.uuid()),
        json!({ "before": { "name": name } }),
    )
    .await?;
    Ok(id)
}
