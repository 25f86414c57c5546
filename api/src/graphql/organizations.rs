//! Organizations in GraphQL: the current organization with its branches, stores and members.

use crate::domain::{api_tokens, branches, members, organizations, stores};
use crate::error::AppError;
use crate::graphql::access::{ApiToken, BranchRoleGql};
use crate::graphql::accounts::User;
use crate::graphql::branches::Branch;
use crate::graphql::relay::{Conn, branch_id, connection, org_gid, page_args};
use crate::graphql::stores::{PlatformGql, Store, StoreStatusGql};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc, read, some};
use crate::ids::{OrgId, UserId};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::{org_members, organizations as org_entity};

/// Role in an organization.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "OrgRole", remote = "entity::enums::OrgRole")]
pub enum OrgRoleGql {
    /// Full control.
    Owner,
    /// Manages everything but ownership.
    Admin,
    /// Works in their branches.
    Member,
}

/// A tenant: a seller's business.
#[derive(Clone)]
pub struct Organization(pub org_entity::Model);

impl Organization {
    /// Contents are only readable for the organization the token is scoped to.
    fn ensure_current(&self, ctx: &Context<'_>) -> Result<()> {
        let rc = rc(ctx)?;
        let current = rc.tenant.principal().and_then(|p| p.org_id());
        if current == Some(OrgId(self.0.id)) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "switch to this organization (switchOrganization) to read its contents".into(),
            )
            .into())
        }
    }
}

/// Filters for `stores`.
#[derive(InputObject, Default)]
pub struct StoreFilterInput {
    /// Only stores of this branch.
    pub branch_id: Option<ID>,
    /// Only this marketplace.
    pub platform: Option<PlatformGql>,
    /// Only this status.
    pub status: Option<StoreStatusGql>,
}

/// A tenant: a seller's business.
#[Object]
impl Organization {
    /// Global id.
    pub async fn id(&self) -> ID {
        org_gid(OrgId(self.0.id))
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// A product listed on several marketplace listings has its last units partitioned between
    /// them, never shown on two at once, once its available stock is at most this many units per
    /// listing (0: off).
    async fn stock_tail_per_listing(&self) -> i32 {
        self.0.stock_tail_per_listing
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }

    /// Branches visible to the caller (all for OWNER/ADMIN, their own for MEMBER).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn branches(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<Branch>> {
        self.ensure_current(ctx)?;
        let args = page_args(after, before, first, last)?;
        let page = read(ctx, async |c| branches::list(&c, args).await).await?;
        Ok(connection(page, |b| b.id, Branch))
    }

    /// Stores visible to the caller.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn stores(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
        #[graphql(desc = "Which items (all when absent).")] filter: Option<StoreFilterInput>,
    ) -> Result<Conn<Store>> {
        self.ensure_current(ctx)?;
        let args = page_args(after, before, first, last)?;
        let filter = filter.unwrap_or_default();
        let domain_filter = stores::StoreFilter {
            branch_id: filter
                .branch_id
                .as_ref()
                .map(branch_id)
                .transpose()
                .map_err(|_| AppError::invalid("filter.branchId", "branch not found"))?,
            platform: filter.platform.map(Into::into),
            status: filter.status.map(Into::into),
        };
        let page = read(ctx, async |c| stores::list(&c, &domain_filter, args).await).await?;
        Ok(connection(page, |s| s.id, Store))
    }

    /// Partner API tokens (OWNER/ADMIN).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn api_tokens(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<ApiToken>> {
        self.ensure_current(ctx)?;
        let args = page_args(after, before, first, last)?;
        let page = read(ctx, async |c| api_tokens::list(&c, args).await).await?;
        Ok(connection(page, |t| t.id, ApiToken))
    }

    /// Members of the organization.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<Member>> {
        self.ensure_current(ctx)?;
        let args = page_args(after, before, first, last)?;
        let page = read(ctx, async |c| members::list(&c, args).await).await?;
        Ok(connection(page, |m| m.user_id, Member))
    }
}

/// A user's membership in the organization.
pub struct Member(pub org_members::Model);

/// A user's membership in the organization.
#[Object]
impl Member {
    /// The user.
    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        let user = rc(ctx)?.users.load_one(UserId(self.0.user_id)).await?;
        user.map(User)
            .ok_or_else(|| AppError::NotFound("User").into())
    }
    /// Role in the organization.
    async fn role(&self) -> OrgRoleGql {
        self.0.role.into()
    }
    /// When they joined.
    async fn joined_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Their roles in branches.
    async fn branch_roles(&self, ctx: &Context<'_>) -> Result<Vec<MemberBranchRole>> {
        let rows = read(ctx, async |c| {
            members::branch_roles(&c, UserId(self.0.user_id)).await
        })
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| MemberBranchRole {
                branch_id: crate::graphql::relay::branch_gid(crate::ids::BranchId(r.branch_id)),
                role: r.role.into(),
            })
            .collect())
    }
}

/// A member's role in one branch.
#[derive(SimpleObject)]
pub struct MemberBranchRole {
    /// The branch.
    pub branch_id: ID,
    /// The role there.
    pub role: BranchRoleGql,
}

/// Organization queries.
#[derive(Default)]
pub struct OrganizationsQuery;

#[Object]
impl OrganizationsQuery {
    /// The organization the access token is scoped to.
    async fn organization(&self, ctx: &Context<'_>) -> Result<Organization> {
        read(ctx, async |c| {
            organizations::current(&c).await.map(Organization)
        })
        .await
    }
}

/// Input of `createOrganization`.
#[derive(InputObject)]
pub struct CreateOrganizationInput {
    /// Name, 1-200 characters.
    pub name: String,
}

/// Input of `updateOrganization` (acts on the current organization).
#[derive(InputObject)]
pub struct UpdateOrganizationInput {
    /// New name.
    pub name: Option<String>,
    /// Partition a product's last units between its marketplace listings once its available
    /// stock is at most this many units per listing (0 turns it off; default 10).
    pub stock_tail_per_listing: Option<i32>,
}

/// Result of organization mutations.
#[derive(SimpleObject)]
pub struct OrganizationPayload {
    /// The organization, on success.
    pub organization: Option<Organization>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Organization mutations.
#[derive(Default)]
pub struct OrganizationsMutation;

#[Object]
impl OrganizationsMutation {
    /// Creates an organization; the caller becomes its OWNER. Use `switchOrganization` to work in it.
    async fn create_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateOrganizationInput,
    ) -> Result<Option<OrganizationPayload>> {
        some(async {
            let (org, user_errors) =
                mutate(ctx, async |c| organizations::create(&c, &input.name).await).await?;
            Ok(OrganizationPayload {
                organization: org.map(Organization),
                user_errors,
            })
        })
        .await
    }

    /// Renames the current organization (OWNER/ADMIN).
    async fn update_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateOrganizationInput,
    ) -> Result<Option<OrganizationPayload>> {
        some(async {
            let (org, user_errors) = mutate(ctx, async |c| {
                organizations::update(
                    &c,
                    &organizations::OrgChanges {
                        name: input.name.clone(),
                        stock_tail_per_listing: input.stock_tail_per_listing,
                    },
                )
                .await
            })
            .await?;
            Ok(OrganizationPayload {
                organization: org.map(Organization),
                user_errors,
            })
        })
        .await
    }
}
