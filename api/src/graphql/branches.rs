//! Branches in GraphQL.

use crate::domain::{branches, stores};
use crate::graphql::relay::{Conn, branch_gid, branch_id, connection, page_args};
use crate::graphql::stores::Store;
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read, some};
use crate::ids::BranchId;
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::branches as branch_entity;

/// A business unit of an organization.
#[derive(Clone)]
pub struct Branch(pub branch_entity::Model);

/// A business unit of an organization.
#[Object]
impl Branch {
    /// Global id.
    pub async fn id(&self) -> ID {
        branch_gid(BranchId(self.0.id))
    }
    /// Name, unique in the organization.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
    /// The branch's stores.
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
    ) -> Result<Conn<Store>> {
        let args = page_args(after, before, first, last)?;
        let filter = stores::StoreFilter {
            branch_id: Some(BranchId(self.0.id)),
            ..Default::default()
        };
        let page = read(ctx, async |c| stores::list(&c, &filter, args).await).await?;
        Ok(connection(page, |s| s.id, Store))
    }
}

/// Input of `createBranch`.
#[derive(InputObject)]
pub struct CreateBranchInput {
    /// Name, 1-120 characters, unique in the organization.
    pub name: String,
}

/// Input of `updateBranch`.
#[derive(InputObject)]
pub struct UpdateBranchInput {
    /// The branch.
    pub id: ID,
    /// New name.
    pub name: String,
}

/// Input of `deleteBranch`.
#[derive(InputObject)]
pub struct DeleteBranchInput {
    /// The branch; it must have no stores.
    pub id: ID,
}

/// Result of `createBranch` and `updateBranch`.
#[derive(SimpleObject)]
pub struct BranchPayload {
    /// The branch, on success.
    pub branch: Option<Branch>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of `deleteBranch`.
#[derive(SimpleObject)]
pub struct DeleteBranchPayload {
    /// Id of the deleted branch, on success.
    pub deleted_branch_id: Option<ID>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Branch mutations (OWNER/ADMIN).
#[derive(Default)]
pub struct BranchesMutation;

#[Object]
impl BranchesMutation {
    /// Creates a branch.
    async fn create_branch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateBranchInput,
    ) -> Result<Option<BranchPayload>> {
        some(async {
            let (branch, user_errors) =
                mutate(ctx, async |c| branches::create(&c, &input.name).await).await?;
            Ok(BranchPayload {
                branch: branch.map(Branch),
                user_errors,
            })
        })
        .await
    }

    /// Renames a branch.
    async fn update_branch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateBranchInput,
    ) -> Result<Option<BranchPayload>> {
        some(async {
            let (branch, user_errors) = mutate(ctx, async |c| match branch_id(&input.id) {
                Ok(id) => branches::update(&c, id, &input.name).await,
                Err(e) => Err(e),
            })
            .await?;
            Ok(BranchPayload {
                branch: branch.map(Branch),
                user_errors,
            })
        })
        .await
    }

    /// Deletes a branch without stores.
    async fn delete_branch(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: DeleteBranchInput,
    ) -> Result<Option<DeleteBranchPayload>> {
        some(async {
            let (deleted, user_errors) = mutate(ctx, async |c| match branch_id(&input.id) {
                Ok(id) => branches::delete(&c, id).await,
                Err(e) => Err(e),
            })
            .await?;
            Ok(DeleteBranchPayload {
                deleted_branch_id: deleted.map(branch_gid),
                user_errors,
            })
        })
        .await
    }
}
