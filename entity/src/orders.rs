//! `orders`: marketplace orders of every store in one model.

use crate::enums::OrderStatus;
use sea_orm::entity::prelude::*;

/// An `orders` row. Money is in minor units of `currency`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "orders")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Branch of the store.
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// The marketplace's order id.
    pub external_id: String,
    /// Normalized status.
    pub status: OrderStatus,
    /// The marketplace's status, verbatim.
    pub raw_status: String,
    /// The marketplace's update time of this version.
    pub marketplace_updated_at: DateTimeWithTimeZone,
    /// Versions applied.
    pub version: i64,
    /// Buyer display name.
    pub buyer_name: Option<String>,
    /// Shipping city.
    pub ship_city: Option<String>,
    /// ISO 4217 currency.
    pub currency: String,
    /// Items subtotal.
    pub subtotal_minor: Option<i64>,
    /// Shipping fee the buyer paid.
    pub shipping_fee_minor: Option<i64>,
    /// Seller-funded discount.
    pub seller_discount_minor: Option<i64>,
    /// Platform-funded discount or voucher.
    pub platform_discount_minor: Option<i64>,
    /// Tax.
    pub tax_minor: Option<i64>,
    /// What the buyer pays.
    pub total_minor: i64,
    /// Cash to collect on delivery.
    pub cod_amount_minor: Option<i64>,
    /// Payment method.
    pub payment_method: Option<String>,
    /// Cash on delivery.
    pub is_cod: bool,
    /// `SELLER` or `MARKETPLACE`.
    pub fulfilled_by: String,
    /// When the buyer placed it.
    pub placed_at: DateTimeWithTimeZone,
    /// Paid.
    pub paid_at: Option<DateTimeWithTimeZone>,
    /// Hand-over deadline.
    pub ship_by: Option<DateTimeWithTimeZone>,
    /// Shipped.
    pub shipped_at: Option<DateTimeWithTimeZone>,
    /// Delivered.
    pub delivered_at: Option<DateTimeWithTimeZone>,
    /// Cancelled.
    pub cancelled_at: Option<DateTimeWithTimeZone>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// First seen.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
