//! DataLoaders, created per request on the request's tenant transaction, so each level of a
//! query tree costs one SQL statement instead of one per row.

use crate::cache::CatalogCache;
use crate::db::tenant::TenantTx;
use crate::error::AppError;
use crate::ids::{BranchId, UserId};
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

fn uuid_array(ids: Vec<uuid::Uuid>) -> sea_orm::Value {
    sea_orm::Value::Array(
        sea_orm::sea_query::ArrayType::Uuid,
        Some(Box::new(
            ids.into_iter()
                .map(|u| sea_orm::Value::Uuid(Some(u)))
                .collect(),
        )),
    )
}

async fn grouped<K, R>(
    tenant: &TenantTx,
    sql: &str,
    keys: &[K],
    uuid: impl Fn(&K) -> uuid::Uuid,
    key_of: impl Fn(&R) -> uuid::Uuid,
    wrap: impl Fn(uuid::Uuid) -> K,
) -> Result<HashMap<K, Vec<R>>, AppError>
where
    K: std::hash::Hash + Eq + Copy,
    R: sea_orm::FromQueryResult,
{
    use sea_orm::{DbBackend, Statement};
    let tx = tenant.lock().await?;
    let ids: Vec<uuid::Uuid> = keys.iter().map(&uuid).collect();
    let rows = R::find_by_statement(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        [uuid_array(ids)],
    ))
    .all(&*tx)
    .await?;
    let mut out: HashMap<K, Vec<R>> = keys.iter().map(|k| (*k, Vec::new())).collect();
    for r in rows {
        out.entry(wrap(key_of(&r))).or_default().push(r);
    }
    Ok(out)
}

/// Reads `keys` through the request's catalog cache (when given), loading misses with `sql`.
#[allow(clippy::too_many_arguments)] // `grouped`'s arguments plus the cache and its key kind
async fn cached<K, R>(
    tenant: &TenantTx,
    cache: Option<&CatalogCache>,
    kind: &str,
    sql: &str,
    keys: &[K],
    uuid: impl Fn(&K) -> uuid::Uuid + Copy,
    key_of: impl Fn(&R) -> uuid::Uuid,
    wrap: impl Fn(uuid::Uuid) -> K + Copy,
) -> Result<HashMap<K, Vec<R>>, AppError>
where
    K: std::hash::Hash + Eq + Copy,
    R: sea_orm::FromQueryResult + serde::Serialize + serde::de::DeserializeOwned,
{
    let Some(cache) = cache else {
        return grouped(tenant, sql, keys, uuid, key_of, wrap).await;
    };
    // The organization of the verified access, never one taken from input.
    let org = tenant.lock().await?.access.org()?.org_id;
    let ids: Vec<uuid::Uuid> = keys.iter().map(uuid).collect();
    let found = cache
        .read_through(org, kind, &ids, async |misses: &[uuid::Uuid]| {
            let miss_keys: Vec<K> = misses.iter().map(|u| wrap(*u)).collect();
            let rows = grouped(tenant, sql, &miss_keys, uuid, key_of, wrap).await?;
            Ok::<_, AppError>(rows.into_iter().map(|(k, v)| (uuid(&k), v)).collect())
        })
        .await?;
    Ok(found.into_iter().map(|(u, v)| (wrap(u), v)).collect())
}

/// Variants of products (one statement per tree level; cached in Redis for read-only requests).
pub struct VariantsByProduct(pub Arc<TenantTx>, pub Option<Arc<CatalogCache>>);

impl Loader<crate::ids::ProductId> for VariantsByProduct {
    type Value = Vec<VariantRow>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[crate::ids::ProductId],
    ) -> Result<HashMap<crate::ids::ProductId, Vec<VariantRow>>, AppError> {
        cached(
            &self.0,
            self.1.as_deref(),
            "variants",
            "SELECT id, product_id, sku, name, is_bundle, attributes FROM variants WHERE product_id = ANY($1) ORDER BY id",
            keys,
            |k| k.uuid(),
            |r: &VariantRow| r.product_id,
            crate::ids::ProductId,
        )
        .await
    }
}

/// Prices of variants (cached like variants).
pub struct PricesByVariant(pub Arc<TenantTx>, pub Option<Arc<CatalogCache>>);

impl Loader<crate::ids::VariantId> for PricesByVariant {
    type Value = Vec<PriceRow>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[crate::ids::VariantId],
    ) -> Result<HashMap<crate::ids::VariantId, Vec<PriceRow>>, AppError> {
        cached(
            &self.0,
            self.1.as_deref(),
            "prices",
            "SELECT variant_id, currency, amount_minor FROM variant_prices WHERE variant_id = ANY($1) ORDER BY currency",
            keys,
            |k| k.uuid(),
            |r: &PriceRow| r.variant_id,
            crate::ids::VariantId,
        )
        .await
    }
}

/// Stock levels of variants in the caller's visible branches.
pub struct LevelsByVariant(pub Arc<TenantTx>);

impl Loader<crate::ids::VariantId> for LevelsByVariant {
    type Value = Vec<crate::domain::inventory::Level>;
    type Error = AppError;

    async fn load(
        &self,
        keys: &[crate::ids::VariantId],
    ) -> Result<HashMap<crate::ids::VariantId, Vec<crate::domain::inventory::Level>>, AppError>
    {
        grouped(
            &self.0,
            "SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point \
             FROM inventory_levels WHERE variant_id = ANY($1) ORDER BY location_id",
            keys,
            |k| k.uuid(),
            |r: &crate::domain::inventory::Level| r.variant_id,
            crate::ids::VariantId,
        )
        .await
    }
}
