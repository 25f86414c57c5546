//! `stock_alerts`: inventory alerts — low stock (open until stock recovers) and order lines whose
//! seller SKU names no variant (open until one does).

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
    /// Variant (LOW_STOCK).
    pub variant_id: Option<Uuid>,
    /// Location (LOW_STOCK).
    pub location_id: Option<Uuid>,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Available (LOW_STOCK).
    pub available: Option<i64>,
    /// Reorder point (LOW_STOCK).
    pub reorder_point: Option<i64>,
    /// LOW_STOCK or UNLINKED_SKU.
    pub kind: String,
    /// The seller SKU no variant has (UNLINKED_SKU).
    pub seller_sku: Option<String>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Resolved at.
    pub resolved_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
