//! `variant_costs`: unit cost history of variants.

use crate::enums::CostSource;
use sea_orm::entity::prelude::*;

/// A `variant_costs` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "variant_costs")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Variant.
    pub variant_id: Uuid,
    /// ISO 4217 currency.
    pub currency: String,
    /// Amount in minor units.
    pub amount_minor: i64,
    /// Source.
    pub source: CostSource,
    /// Note.
    pub note: String,
    /// Created by.
    pub created_by: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
