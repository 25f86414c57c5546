//! `products`: the master catalog's products.

use crate::enums::ProductStatus;
use sea_orm::entity::prelude::*;

/// A `products` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// Lifecycle.
    pub status: ProductStatus,
    /// Attributes (a JSON object).
    pub attributes: Json,
    /// Image urls.
    pub image_urls: Vec<String>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
