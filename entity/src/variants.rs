//! `variants`: sellable SKUs of products.

use sea_orm::entity::prelude::*;

/// A `variants` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "variants")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Product.
    pub product_id: Uuid,
    /// SKU, unique in the organization.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Attributes (a JSON object).
    pub attributes: Json,
    /// Is bundle.
    pub is_bundle: bool,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
