//! `variant_prices`: a variant's price per currency, in minor units.

use sea_orm::entity::prelude::*;

/// A `variant_prices` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "variant_prices")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Variant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub variant_id: Uuid,
    /// ISO 4217 currency.
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
