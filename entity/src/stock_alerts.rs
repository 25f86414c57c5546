//! `stock_alerts`: low-stock alerts (open until stock recovers).

use sea_orm::entity::prelude::*;

/// A `stock_alerts` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_alerts")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Variant.
    pub variant_id: Uuid,
    /// Location.
    pub location_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Available.
    pub available: i64,
    /// Reorder point.
    pub reorder_point: i64,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Resolved at.
    pub resolved_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
