//! Partner API tokens: created and revoked by OWNER/ADMIN. The secret is returned once at creation;
//! only its SHA-256 is stored.

use crate::auth::permissions::{Perm, Scope};
use crate::auth::secrets::{self, API_TOKEN_PREFIX};
use crate::domain::page::{self, Page, PageArgs};
use crate::domain::{Ctx, audit, branches, clean_text};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiTokenId, BranchId};
use chrono::{DateTime, Utc};
use entity::api_tokens;
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, Set};
use secrecy::SecretString;
use serde_json::json;

/// What `create` needs.
pub struct NewToken {
    /// Display name.
    pub name: String,
    /// Scopes (at least one).
    pub scopes: Vec<Scope>,
    /// Limit to these branches; `None` = every branch.
    pub branch_ids: Option<Vec<BranchId>>,
    /// Optional expiry, in the future.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Creates a token; returns the row and the secret (shown once).
pub async fn create(
    ctx: &Ctx<'_>,
    input: NewToken,
) -> AppResult<(api_tokens::Model, SecretString)> {
    let org = ctx.access.org()?;
    org.require(Perm::ApiTokensManage)?;
    let name = clean_text("input.name", &input.name, 100)?;
    let mut scopes = input.scopes;
    scopes.sort();
    scopes.dedup();
    if scopes.is_empty() {
        return Err(AppError::invalid("input.scopes", "give at least one scope"));
    }
    if let Some(at) = input.expires_at
        && at <= Utc::now()
    {
        return Err(AppError::invalid(
            "input.expiresAt",
            "must be in the future",
        ));
    }
    let branch_ids = match input.branch_ids {
        None => None,
        Some(ids) if ids.is_empty() => {
            return Err(AppError::invalid(
                "input.branchIds",
                "omit branchIds for every branch, or list at least one",
            ));
        }
        Some(ids) if ids.len() > 100 => {
            return Err(AppError::invalid(
                "input.branchIds",
                "at most 100 branches; omit branchIds for every branch",
            ));
        }
        Some(mut ids) => {
            ids.sort();
            ids.dedup();
            for id in &ids {
                branches::get(ctx.tx, *id).await.map_err(|e| match e {
                    AppError::NotFound(_) => {
                        AppError::invalid("input.branchIds", "branch not found")
                    }
                    other => other,
                })?;
            }
            Some(ids)
        }
    };
    let generated = secrets::generate(API_TOKEN_PREFIX);
    let model = api_tokens::ActiveModel {
        org_id: Set(org.org_id.uuid()),
        id: Set(ApiTokenId::new_v7().uuid()),
        name: Set(name.clone()),
        token_hash: Set(generated.hash.to_vec()),
        display_prefix: Set(generated.display_prefix),
        scopes: Set(scopes.iter().map(|s| s.as_str().to_owned()).collect()),
        branch_ids: Set(branch_ids
            .as_ref()
            .map(|ids| ids.iter().map(|b| b.uuid()).collect())),
        created_by: Set(ctx.access.user_id.map(|u| u.uuid())),
        created_at: Set(Utc::now().into()),
        expires_at: Set(input.expires_at.map(Into::into)),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(ctx.tx)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict(_) => AppError::Conflict("an active token with this name exists".into()),
        other => other,
    })?;
    audit::record(
        ctx,
        org.org_id,
        "api_token.create",
        "ApiToken",
        Some(model.id),
        json!({ "after": { "name": name, "scopes": model.scopes, "branchIds": model.branch_ids,
                           "expiresAt": model.expires_at } }),
    )
    .await?;
    Ok((model, generated.secret))
}

/// Tokens of the organization, newest last.
pub async fn list(ctx: &Ctx<'_>, args: PageArgs) -> AppResult<Page<api_tokens::Model>> {
    let org = ctx.access.org()?;
    org.require(Perm::ApiTokensManage)?;
    let q = api_tokens::Entity::find().filter(api_tokens::Column::OrgId.eq(org.org_id.uuid()));
    page::fetch(ctx.tx, q, api_tokens::Column::Id, args).await
}

/// A token of the organization (NOT_FOUND unless visible; needs token management).
pub async fn get(ctx: &Ctx<'_>, id: ApiTokenId) -> AppResult<api_tokens::Model> {
    ctx.access.org()?.require(Perm::ApiTokensManage)?;
    api_tokens::Entity::find_by_id(id.uuid())
        .one(ctx.tx)
        .await?
        .ok_or(AppError::NotFound("ApiToken"))
}

/// Revokes a token; it stops working within seconds everywhere (at once in this process).
pub async fn revoke(ctx: &Ctx<'_>, id: ApiTokenId) -> AppResult<api_tokens::Model> {
    let org = ctx.access.org()?;
    org.require(Perm::ApiTokensManage)?;
    let before = api_tokens::Entity::find_by_id(id.uuid())
        .one(ctx.tx)
        .await?
        .ok_or(AppError::NotFound("ApiToken"))?;
    if before.revoked_at.is_some() {
        return Ok(before);
    }
    let mut active: api_tokens::ActiveModel = before.clone().into();
    active.revoked_at = Set(Some(Utc::now().into()));
    let after = active.update(ctx.tx).await?;
    audit::record(
        ctx,
        org.org_id,
        "api_token.revoke",
        "ApiToken",
        Some(id.uuid()),
        json!({ "before": { "name": before.name } }),
    )
    .await?;
    Ok(after)
}
