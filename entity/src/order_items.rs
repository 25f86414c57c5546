//! `order_items`: the lines of an order.

use crate::enums::LineStock;
use sea_orm::entity::prelude::*;

/// An `order_items` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_items")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Position in the order.
    pub line_no: i32,
    /// Platform item id.
    pub external_item_id: String,
    /// Platform SKU/model id.
    pub external_sku_id: String,
    /// The platform's line ids.
    pub external_line_ids: Vec<String>,
    /// Seller SKU.
    pub seller_sku: Option<String>,
    /// Name as sold.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price after item discounts, minor units.
    pub unit_price_minor: i64,
    /// Line discount, minor units.
    pub discount_minor: i64,
    /// The listing it resolves to.
    pub listing_id: Option<Uuid>,
    /// The variant it resolves to (none: unlinked).
    pub variant_id: Option<Uuid>,
    /// Where its stock stands.
    pub stock: LineStock,
    /// The ORDER_LINE reservation that holds (or held) it.
    pub reservation_id: Option<Uuid>,
    /// The location its stock is held at.
    pub location_id: Option<Uuid>,
    /// First seen.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
