//! DataLoaders, created per request on the request's tenant transaction, so each level of a
//! query tree costs one SQL statement instead of one per row.

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
