//! DataLoaders, created per request on the request's tenant transaction, so each level of a
//! query tree costs one SQL statement instead of one per row.

use crate::cache::CatalogCache;
use crate::error::AppError;
use crate::ids::{BranchId, ProductId, UserId, VariantId};
use crate::tenant::TenantTx;
use async_graphql::dataloader::Loader;
use entity::{branches, users};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
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
        let ids: Vec<_> = keys.iter().map(|k| k.uuid()).collect();
        let rows = users::Entity::find()
            .filter(users::Column::Id.is_in(ids))
            .all(&*tx)
            .await?;
        Ok(rows.into_iter().map(|u| (UserId(u.id), u)).collect())
    }
}

/// A variant row for the catalog tree.
#[derive(Clone, Debug, sea_orm::FromQueryResult, serde::Serialize, serde::Deserialize)]
pub struct VariantRow {
    /// Id.
    pub id: uuid::Uuid,
    /// Product.
    pub product_id: uuid::Uuid,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Bundle?
    pub is_bundle: bool,
    /// Attributes (a JSON object).
    pub attributes: serde_json::Value,
}

/// A price row.
#[derive(Clone, Debug, sea_orm::FromQueryResult, serde::Serialize, serde::Deserialize)]
pub struct PriceRow {
    /// Variant.
    pub variant_id: uuid::Uuid,
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub amount_minor: i64,
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

/// Rows of one table grouped by a uuid column: one statement (`sql`, taking the keys as `$1`) per
/// batch, read through the request's catalog cache when it has one.
pub struct Grouped<K, R> {
    tenant: Arc<TenantTx>,
    cache: Option<(Arc<CatalogCache>, &'static str)>,
    sql: &'static str,
    key_of: fn(&R) -> uuid::Uuid,
    _key: std::marker::PhantomData<fn() -> K>,
}

impl<K, R> Grouped<K, R> {
    /// A loader running `sql` on `tenant`, grouping rows by `key_of`.
    pub fn new(tenant: Arc<TenantTx>, sql: &'static str, key_of: fn(&R) -> uuid::Uuid) -> Self {
        Self {
            tenant,
            cache: None,
            sql,
            key_of,
            _key: std::marker::PhantomData,
        }
    }

    /// Reads through `cache` (if any) under entries of `kind`.
    pub fn cached(mut self, cache: Option<Arc<CatalogCache>>, kind: &'static str) -> Self {
        self.cache = cache.map(|c| (c, kind));
        self
    }

    async fn query(&self, ids: &[uuid::Uuid]) -> Result<HashMap<uuid::Uuid, Vec<R>>, AppError>
    where
        R: sea_orm::FromQueryResult,
    {
        let tx = self.tenant.lock().await?;
        let rows = R::find_by_statement(crate::domain::stmt(self.sql, vec![ids.to_vec().into()]))
            .all(&*tx)
            .await?;
        let mut out: HashMap<uuid::Uuid, Vec<R>> = ids.iter().map(|u| (*u, Vec::new())).collect();
        for r in rows {
            out.entry((self.key_of)(&r)).or_default().push(r);
        }
        Ok(out)
    }
}

impl<K, R> Loader<K> for Grouped<K, R>
where
    K: UuidKey,
    R: sea_orm::FromQueryResult
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
        let rows = match &self.cache {
            None => self.query(&ids).await?,
            Some((cache, kind)) => {
                // The organization of the verified access, never one taken from input.
                let org = self.tenant.lock().await?.access.org()?.org_id;
                cache
                    .read_through(org, kind, &ids, async |misses: &[uuid::Uuid]| {
                        self.query(misses).await
                    })
                    .await?
            }
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
/// Stock levels of variants in the caller's visible branches (never cached).
pub type LevelsByVariant = Grouped<VariantId, crate::domain::inventory::Level>;

/// SQL of [`VariantsByProduct`].
pub const VARIANTS_SQL: &str = "SELECT id, product_id, sku, name, is_bundle, attributes FROM variants WHERE product_id = ANY($1) ORDER BY id";
/// SQL of [`PricesByVariant`].
pub const PRICES_SQL: &str = "SELECT variant_id, currency, amount_minor FROM variant_prices WHERE variant_id = ANY($1) ORDER BY currency";
/// SQL of [`LevelsByVariant`].
pub const LEVELS_SQL: &str = "SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point \
     FROM inventory_levels WHERE variant_id = ANY($1) ORDER BY location_id";
