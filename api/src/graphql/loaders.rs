//! DataLoaders, created per request on the request's tenant transaction, so each level of a
//! query tree costs one SQL statement instead of one per row.

use crate::cache::CatalogCache;
use crate::domain::{
    self,
    products::{CostRow, PriceRow, VariantRow},
};
use crate::error::AppError;
use crate::ids::{BranchId, ProductId, UserId, VariantId};
use crate::tenant::TenantTx;
use async_graphql::dataloader::Loader;
use entity::{branches, users};
use std::collections::HashMap;
use std::sync::Arc;

/// Loads branches by id.
pub struct BranchLoader(pub Arc<TenantTx>);

impl Loader<BranchId> for BranchLoader {
    type Value = branches::Model;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[BranchId],
    ) -> Result<HashMap<BranchId, branches::Model>, AppError> {
        let tx = self.0.lock().await?;
        let rows = crate::domain::branches::load_many(&*tx, keys).await?;
        Ok(rows.into_iter().map(|b| (BranchId(b.id), b)).collect())
    }
}

/// Loads users by id (only those visible in the tenant: colleagues and oneself).
pub struct UserLoader(pub Arc<TenantTx>);

impl Loader<UserId> for UserLoader {
    type Value = users::Model;
    type Error = AppError;

    async fn load(&self, keys: &[UserId]) -> Result<HashMap<UserId, users::Model>, AppError> {
        let tx = self.0.lock().await?;
        let rows = crate::domain::accounts::load_users(&*tx, keys).await?;
        Ok(rows.into_iter().map(|u| (UserId(u.id), u)).collect())
    }
}

/// A DataLoader key that is a typed uuid.
pub trait UuidKey: Copy + Eq + std::hash::Hash + Send + Sync + 'static {
    /// The uuid.
    fn to_uuid(self) -> uuid::Uuid;
    /// The key of a uuid.
    fn from_uuid(u: uuid::Uuid) -> Self;
}

impl UuidKey for ProductId {
    fn to_uuid(self) -> uuid::Uuid {
        self.uuid()
    }
    fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }
}

impl UuidKey for VariantId {
    fn to_uuid(self) -> uuid::Uuid {
        self.uuid()
    }
    fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }
}

/// Rows grouped by their parent ([`domain::products::Grouped`]): one statement per batch, read
/// through the request's catalog cache when it has one.
pub struct Grouped<K, R> {
    tenant: Arc<TenantTx>,
    cache: Option<(Arc<CatalogCache>, &'static str)>,
    _rows: std::marker::PhantomData<fn() -> (K, R)>,
}

impl<K, R> Grouped<K, R> {
    /// A loader on `tenant`.
    pub fn new(tenant: Arc<TenantTx>) -> Self {
        Self {
            tenant,
            cache: None,
            _rows: std::marker::PhantomData,
        }
    }

    /// Reads through `cache` (if any) under entries of `kind`.
    pub fn cached(mut self, cache: Option<Arc<CatalogCache>>, kind: &'static str) -> Self {
        self.cache = cache.map(|c| (c, kind));
        self
    }
}

impl<K, R> Loader<K> for Grouped<K, R>
where
    K: UuidKey,
    R: domain::products::Grouped
        + serde::Serialize
        + serde::de::DeserializeOwned
        + Clone
        + Send
        + Sync
        + 'static,
{
    type Value = Vec<R>;
    type Error = AppError;

    async fn load(&self, keys: &[K]) -> Result<HashMap<K, Vec<R>>, AppError> {
        let ids: Vec<uuid::Uuid> = keys.iter().map(|k| k.to_uuid()).collect();
        // The rows' own permission, whichever field asked (cached rows included).
        let org = {
            let tx = self.tenant.lock().await?;
            let org = tx.access.org()?;
            org.require(R::PERM)?;
            org.org_id
        };
        let query = async |ids: &[uuid::Uuid]| {
            let tx = self.tenant.lock().await?;
            domain::products::load_grouped::<R, _>(&*tx, ids).await
        };
        let rows = match &self.cache {
            None => query(&ids).await?,
            // The organization of the verified access, never one taken from input.
            Some((cache, kind)) => cache.read_through(org, kind, &ids, query).await?,
        };
        Ok(rows
            .into_iter()
            .map(|(u, v)| (K::from_uuid(u), v))
            .collect())
    }
}

/// Variants of products (cached in Redis for read-only requests).
pub type VariantsByProduct = Grouped<ProductId, VariantRow>;
/// Prices of variants (cached like variants).
pub type PricesByVariant = Grouped<VariantId, PriceRow>;
/// Cost history of variants (never cached: only some roles see it).
pub type CostsByVariant = Grouped<VariantId, CostRow>;
/// Stock levels of variants in the caller's visible branches (never cached).
pub type LevelsByVariant = Grouped<VariantId, crate::domain::inventory::Level>;

/// Loads the token expiry times of stores (for `Store.health`).
pub struct TokenExpiryLoader(pub Arc<TenantTx>);

impl Loader<crate::ids::StoreId> for TokenExpiryLoader {
    type Value = (
        chrono::DateTime<chrono::Utc>,
        Option<chrono::DateTime<chrono::Utc>>,
    );
    type Error = AppError;

    async fn load(
        &self,
        keys: &[crate::ids::StoreId],
    ) -> Result<HashMap<crate::ids::StoreId, Self::Value>, AppError> {
        let tx = self.0.lock().await?;
        let rows = domain::connections::token_expiries(&*tx, keys).await?;
        Ok(rows
            .into_iter()
            .map(|(s, a, r)| (crate::ids::StoreId(s), (a, r)))
            .collect())
    }
}

impl UuidKey for crate::ids::OrderId {
    fn to_uuid(self) -> uuid::Uuid {
        self.uuid()
    }
    fn from_uuid(u: uuid::Uuid) -> Self {
        Self(u)
    }
}

/// Lines of orders.
pub type ItemsByOrder = Grouped<crate::ids::OrderId, domain::order_reads::OrderItemRow>;
/// History of orders.
pub type EventsByOrder = Grouped<crate::ids::OrderId, domain::order_reads::OrderEventRow>;

/// Rows by their own id ([`domain::products::ById`]): one statement per batch.
pub struct ById<R>(pub Arc<TenantTx>, std::marker::PhantomData<fn() -> R>);

impl<R> ById<R> {
    /// A loader on `tenant`.
    pub fn new(tenant: Arc<TenantTx>) -> Self {
        Self(tenant, std::marker::PhantomData)
    }
}

impl<R> Loader<uuid::Uuid> for ById<R>
where
    R: domain::products::ById + Clone + Send + Sync + 'static,
{
    type Value = R;
    type Error = AppError;

    async fn load(&self, keys: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, R>, AppError> {
        let tx = self.0.lock().await?;
        tx.access.org()?.require(R::PERM)?;
        domain::products::load_by_id::<R, _>(&*tx, keys).await
    }
}

/// Loads stores by id (only visible ones).
pub struct StoreLoader(pub Arc<TenantTx>);

impl Loader<crate::ids::StoreId> for StoreLoader {
    type Value = entity::stores::Model;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[crate::ids::StoreId],
    ) -> Result<HashMap<crate::ids::StoreId, entity::stores::Model>, AppError> {
        let tx = self.0.lock().await?;
        let rows = domain::stores::load_many(&*tx, keys).await?;
        Ok(rows
            .into_iter()
            .map(|s| (crate::ids::StoreId(s.id), s))
            .collect())
    }
}
