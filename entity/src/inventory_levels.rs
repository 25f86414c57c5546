//! `inventory_levels`: stock of one variant at one location (on hand, reserved, safety stock, reorder point).

use sea_orm::entity::prelude::*;

/// A `inventory_levels` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "inventory_levels")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Variant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub variant_id: Uuid,
    /// Location.
    #[sea_orm(primary_key, auto_increment = false)]
    pub location_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// On hand.
    pub on_hand: i64,
    /// Reserved.
    pub reserved: i64,
    /// Safety stock.
    pub safety_stock: i64,
    /// Reorder point.
    pub reorder_point: Option<i64>,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
