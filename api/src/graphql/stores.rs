//! Stores in GraphQL. Credentials are write-only: only `hasCredentials` and
//! `credentialsUpdatedAt` can be read.

use crate::domain::stores::{self, ConnectStore, Credentials, UpdateStore};
use crate::error::AppError;
use crate::graphql::branches::Branch;
use crate::graphql::relay::{branch_id, store_gid, store_id};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc};
use crate::ids::{BranchId, StoreId};
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::stores as store_entity;

/// Marketplace of a store.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Platform", remote = "entity::enums::Platform")]
pub enum PlatformGql {
    /// Shopee.
    Shopee,
    /// TikTok Shop.
    TiktokShop,
    /// Lazada.
    Lazada,
    /// Jumia.
    Jumia,
    /// Kilimall (file import/export).
    Kilimall,
    /// The seller's own storefront.
    Own,
}

/// Lifecycle of a store.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "StoreStatus", remote = "entity::enums::StoreStatus")]
pub enum StoreStatusGql {
    /// Connected.
    Active,
    /// Disconnected, kept for history.
    Archived,
}

/// A connected marketplace account.
#[derive(Clone)]
pub struct Store(pub store_entity::Model);

#[Object]
impl Store {
    /// Global id.
    pub async fn id(&self) -> ID {
        store_gid(StoreId(self.0.id))
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Marketplace.
    async fn platform(&self) -> PlatformGql {
        self.0.platform.into()
    }
    /// The shop's id on the marketplace.
    async fn external_shop_id(&self) -> &str {
        &self.0.external_shop_id
    }
    /// ISO 3166-1 alpha-2 region.
    async fn region(&self) -> &str {
        &self.0.region
    }
    /// ISO 4217 currency of the shop.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Lifecycle.
    async fn status(&self) -> StoreStatusGql {
        self.0.status.into()
    }
    /// Whether credentials are stored (they are never returned).
    async fn has_credentials(&self) -> bool {
        self.0.credentials.is_some()
    }
    /// When credentials were last written.
    async fn credentials_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.credentials_updated_at.map(|t| t.to_utc())
    }
    /// When the store was archived.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at.map(|t| t.to_utc())
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
    /// The owning branch.
    async fn branch(&self, ctx: &Context<'_>) -> Result<Branch> {
        let b = rc(ctx)?
            .branches
            .load_one(BranchId(self.0.branch_id))
            .await?;
        b.map(Branch)
            .ok_or_else(|| AppError::NotFound("Branch").into())
    }
}

/// Input of `connectStore`.
#[derive(InputObject)]
pub struct ConnectStoreInput {
    /// Owning branch.
    pub branch_id: ID,
    /// Marketplace.
    pub platform: PlatformGql,
    /// The shop's id on the marketplace (unique per platform in the organization).
    pub external_shop_id: String,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 region, e.g. `MY`.
    pub region: String,
    /// ISO 4217 currency, e.g. `MYR`.
    pub currency: String,
    /// Marketplace credentials: a flat JSON object of strings. Encrypted at rest, never returned.
    #[graphql(secret)]
    pub credentials: Option<Json<serde_json::Value>>,
}

/// Input of `updateStore`; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateStoreInput {
    /// The store.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// Move to this branch.
    pub branch_id: Option<ID>,
    /// Replace the credentials.
    #[graphql(secret)]
    pub credentials: Option<Json<serde_json::Value>>,
}

/// Input of `archiveStore`.
#[derive(InputObject)]
pub struct ArchiveStoreInput {
    /// The store.
    pub id: ID,
}

/// Result of store mutations.
#[derive(SimpleObject)]
pub struct StorePayload {
    /// The store, on success.
    pub store: Option<Store>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

fn creds(
    field: &str,
    v: Option<Json<serde_json::Value>>,
) -> crate::error::AppResult<Option<Credentials>> {
    v.map(|Json(v)| Credentials::parse(field, v)).transpose()
}

/// Store mutations (OWNER/ADMIN, or MANAGER of the store's branch).
#[derive(Default)]
pub struct StoresMutation;

#[Object]
impl StoresMutation {
    /// Connects a marketplace account to a branch.
    async fn connect_store(
        &self,
        ctx: &Context<'_>,
        input: ConnectStoreInput,
    ) -> Result<StorePayload> {
        let cipher = rc(ctx)?.state.cipher.clone();
        let (store, user_errors) = mutate(ctx, async |c| {
            let branch = branch_id(&input.branch_id)
                .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
            let connect = ConnectStore {
                branch_id: branch,
                platform: input.platform.into(),
                external_shop_id: input.external_shop_id,
                name: input.name,
                region: input.region,
                currency: input.currency,
                credentials: creds("input.credentials", input.credentials)?,
            };
            stores::connect(&c, &cipher, connect).await
        })
        .await?;
        Ok(StorePayload {
            store: store.map(Store),
            user_errors,
        })
    }

    /// Renames a store, moves it to another branch, or replaces its credentials.
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        input: UpdateStoreInput,
    ) -> Result<StorePayload> {
        let cipher = rc(ctx)?.state.cipher.clone();
        let (store, user_errors) = mutate(ctx, async |c| {
            let id = store_id(&input.id)?;
            let branch = input
                .branch_id
                .as_ref()
                .map(branch_id)
                .transpose()
                .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
            let update = UpdateStore {
                name: input.name,
                branch_id: branch,
                credentials: creds("input.credentials", input.credentials)?,
            };
            stores::update(&c, &cipher, id, update).await
        })
        .await?;
        Ok(StorePayload {
            store: store.map(Store),
            user_errors,
        })
    }

    /// Archives a store: syncing stops and its credentials are erased.
    async fn archive_store(
        &self,
        ctx: &Context<'_>,
        input: ArchiveStoreInput,
    ) -> Result<StorePayload> {
        let (store, user_errors) = mutate(ctx, async |c| match store_id(&input.id) {
            Ok(id) => stores::archive(&c, id).await,
            Err(e) => Err(e),
        })
        .await?;
        Ok(StorePayload {
            store: store.map(Store),
            user_errors,
        })
    }
}
