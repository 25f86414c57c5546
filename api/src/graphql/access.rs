//! Access in GraphQL: member management and partner API tokens.

use crate::auth::permissions::Scope;
use crate::domain::{api_tokens, members};
use crate::error::AppError;
use crate::graphql::organizations::{Member, OrgRoleGql};
use crate::graphql::relay::{api_token_gid, api_token_id, branch_gid, branch_id, user_id};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc, some};
use crate::ids::BranchId;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::api_tokens as token_entity;
use secrecy::ExposeSecret;

/// Role in one branch.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "BranchRole", remote = "entity::enums::BranchRole")]
pub enum BranchRoleGql {
    /// Manages the branch's stores, catalog and staff work.
    Manager,
    /// Day-to-day operations: stock, orders, syncs.
    Operator,
    /// Read-only.
    Viewer,
}

/// Scope of a partner API token (wire names in the docs: `catalog:read`, …).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ApiTokenScope", remote = "Scope")]
pub enum ScopeGql {
    /// `catalog:read`
    CatalogRead,
    /// `catalog:write` (includes read)
    CatalogWrite,
    /// `inventory:read`
    InventoryRead,
    /// `inventory:write` (includes read)
    InventoryWrite,
    /// `orders:read`
    OrdersRead,
    /// `orders:write` (includes read)
    OrdersWrite,
    /// `stores:read`
    StoresRead,
    /// `stores:write` (includes read)
    StoresWrite,
    /// `sync:read`
    SyncRead,
    /// `sync:write` (includes read)
    SyncWrite,
}

/// A partner API token. The secret itself is only ever returned by `createApiToken`.
pub struct ApiToken(pub token_entity::Model);

/// A partner API token. The secret itself is only ever returned by `createApiToken`.
#[Object]
impl ApiToken {
    /// Global id.
    pub async fn id(&self) -> ID {
        api_token_gid(self.0.id.into())
    }
    /// Name given at creation.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// The first characters of the secret, to recognise it (e.g. `mrc_AbCd`).
    async fn display_prefix(&self) -> &str {
        &self.0.display_prefix
    }
    /// Granted scopes.
    async fn scopes(&self) -> Vec<ScopeGql> {
        self.0
            .scopes
            .iter()
            .filter_map(|s| Scope::parse(s))
            .map(Into::into)
            .collect()
    }
    /// Branches the token is limited to; null = every branch.
    async fn branch_ids(&self) -> Option<Vec<ID>> {
        self.0
            .branch_ids
            .as_ref()
            .map(|ids| ids.iter().map(|b| branch_gid(BranchId(*b))).collect())
    }
    /// Created at.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Stops working at, if set.
    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at.map(|t| t.to_utc())
    }
    /// Revoked at, if revoked.
    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at.map(|t| t.to_utc())
    }
    /// Last request made with it (recorded within about 15 seconds).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at.map(|t| t.to_utc())
    }
}

/// A branch role to grant.
#[derive(InputObject)]
pub struct BranchRoleInput {
    /// The branch.
    pub branch_id: ID,
    /// The role there.
    pub role: BranchRoleGql,
}

/// Input of `addMember`.
#[derive(InputObject)]
pub struct AddMemberInput {
    /// E-mail of an existing account.
    pub email: String,
    /// Organization role.
    pub role: OrgRoleGql,
    /// Branch roles (for MEMBER; OWNER/ADMIN see every branch anyway).
    #[graphql(default)]
    pub branch_roles: Vec<BranchRoleInput>,
}

/// Input of `changeMemberRole`.
#[derive(InputObject)]
pub struct ChangeMemberRoleInput {
    /// The member's user id.
    pub user_id: ID,
    /// New organization role.
    pub role: OrgRoleGql,
}

/// Input of `removeMember`.
#[derive(InputObject)]
pub struct RemoveMemberInput {
    /// The member's user id.
    pub user_id: ID,
}

/// Input of `setBranchRole`.
#[derive(InputObject)]
pub struct SetBranchRoleInput {
    /// The member's user id.
    pub user_id: ID,
    /// The branch.
    pub branch_id: ID,
    /// The role; null removes them from the branch.
    pub role: Option<BranchRoleGql>,
}

/// Result of member mutations.
#[derive(SimpleObject)]
pub struct MemberPayload {
    /// The membership after the change (null after removal).
    pub member: Option<Member>,
    /// Id of the removed user (removeMember only).
    pub removed_user_id: Option<ID>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Input of `createApiToken`.
#[derive(InputObject)]
pub struct CreateApiTokenInput {
    /// Name, unique among active tokens.
    pub name: String,
    /// At least one scope.
    pub scopes: Vec<ScopeGql>,
    /// Limit the token to these branches; omit for every branch.
    pub branch_ids: Option<Vec<ID>>,
    /// Optional expiry (must be in the future).
    pub expires_at: Option<DateTime<Utc>>,
}

/// Result of `createApiToken`.
#[derive(SimpleObject)]
pub struct CreateApiTokenPayload {
    /// The token's metadata.
    pub api_token: Option<ApiToken>,
    /// The secret, for `Authorization: Bearer <secret>`. Shown only here, once.
    pub secret: Option<String>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Input of `revokeApiToken`.
#[derive(InputObject)]
pub struct RevokeApiTokenInput {
    /// The token.
    pub id: ID,
}

/// Result of `revokeApiToken`.
#[derive(SimpleObject)]
pub struct RevokeApiTokenPayload {
    /// The revoked token.
    pub api_token: Option<ApiToken>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

fn member_user(id: &ID) -> Result<crate::ids::UserId, AppError> {
    user_id(id).map_err(|_| AppError::NotFound("Member"))
}

fn branch_arg(id: &ID, field: &str) -> Result<BranchId, AppError> {
    branch_id(id).map_err(|_| AppError::invalid(field, "branch not found"))
}

/// Member and API token mutations.
#[derive(Default)]
pub struct AccessMutation;

#[Object]
impl AccessMutation {
    /// Adds an existing account to the organization (OWNER/ADMIN; only an OWNER adds an OWNER).
    async fn add_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: AddMemberInput,
    ) -> Result<Option<MemberPayload>> {
        some(async {
            let (m, user_errors) = mutate(ctx, async |c| {
                if input.branch_roles.len() > 100 {
                    return Err(AppError::invalid(
                        "input.branchRoles",
                        "at most 100 branch roles",
                    ));
                }
                let mut roles = Vec::with_capacity(input.branch_roles.len());
                for br in &input.branch_roles {
                    roles.push((
                        branch_arg(&br.branch_id, "input.branchRoles")?,
                        br.role.into(),
                    ));
                }
                members::add_by_email(&c, &input.email, input.role.into(), &roles).await
            })
            .await?;
            Ok(MemberPayload {
                member: m.map(Member),
                removed_user_id: None,
                user_errors,
            })
        })
        .await
    }

    /// Changes a member's organization role. The last OWNER cannot be demoted.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ChangeMemberRoleInput,
    ) -> Result<Option<MemberPayload>> {
        some(async {
            let (m, user_errors) = mutate(ctx, async |c| {
                members::change_role(&c, member_user(&input.user_id)?, input.role.into()).await
            })
            .await?;
            Ok(MemberPayload {
                member: m.map(Member),
                removed_user_id: None,
                user_errors,
            })
        })
        .await
    }

    /// Removes a member from the organization. The last OWNER cannot be removed.
    async fn remove_member(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: RemoveMemberInput,
    ) -> Result<Option<MemberPayload>> {
        some(async {
            let (u, user_errors) = mutate(ctx, async |c| {
                members::remove(&c, member_user(&input.user_id)?).await
            })
            .await?;
            Ok(MemberPayload {
                member: None,
                removed_user_id: u.map(crate::graphql::relay::user_gid),
                user_errors,
            })
        })
        .await
    }

    /// Grants, changes or (with `role: null`) removes a member's role in one branch.
    async fn set_branch_role(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SetBranchRoleInput,
    ) -> Result<Option<MemberPayload>> {
        some(async {
            let (m, user_errors) = mutate(ctx, async |c| {
                let user = member_user(&input.user_id)?;
                let branch = branch_arg(&input.branch_id, "input.branchId")?;
                members::set_branch_role(&c, user, branch, input.role.map(Into::into)).await?;
                members::get(&c, user).await
            })
            .await?;
            Ok(MemberPayload {
                member: m.map(Member),
                removed_user_id: None,
                user_errors,
            })
        })
        .await
    }

    /// Creates a partner API token (OWNER/ADMIN). The secret is in the payload, once.
    async fn create_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateApiTokenInput,
    ) -> Result<Option<CreateApiTokenPayload>> {
        some(async {
            let (created, user_errors) = mutate(ctx, async |c| {
                let branch_ids = match &input.branch_ids {
                    None => None,
                    Some(ids) => Some(
                        ids.iter()
                            .map(|id| branch_arg(id, "input.branchIds"))
                            .collect::<Result<Vec<_>, _>>()?,
                    ),
                };
                api_tokens::create(
                    &c,
                    api_tokens::NewToken {
                        name: input.name,
                        scopes: input.scopes.into_iter().map(Into::into).collect(),
                        branch_ids,
                        expires_at: input.expires_at,
                    },
                )
                .await
            })
            .await?;
            let (api_token, secret) = match created {
                Some((m, s)) => (Some(ApiToken(m)), Some(s.expose_secret().to_owned())),
                None => (None, None),
            };
            Ok(CreateApiTokenPayload {
                api_token,
                secret,
                user_errors,
            })
        })
        .await
    }

    /// Revokes a partner API token: it stops working at once on this server and within 3
    /// seconds on every other.
    async fn revoke_api_token(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: RevokeApiTokenInput,
    ) -> Result<Option<RevokeApiTokenPayload>> {
        some(async {
            let (t, user_errors) = mutate(ctx, async |c| {
                let id = api_token_id(&input.id).map_err(|_| AppError::NotFound("ApiToken"))?;
                api_tokens::revoke(&c, id).await
            })
            .await?;
            if let Some(t) = &t
                && let Ok(hash) = <[u8; 32]>::try_from(t.token_hash.as_slice())
            {
                rc(ctx)?.state.api_tokens.forget(&hash);
            }
            Ok(RevokeApiTokenPayload {
                api_token: t.map(ApiToken),
                user_errors,
            })
        })
        .await
    }
}
