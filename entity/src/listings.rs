//! `listings`: a variant as it appears in one store, with its allocation rule.

use crate::enums::{LinkStatus, ListingStatus};
use sea_orm::entity::prelude::*;

/// A `listings` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "listings")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Variant (none while unlinked or ambiguous).
    pub variant_id: Option<Uuid>,
    /// External item id.
    pub external_item_id: Option<String>,
    /// External model id.
    pub external_model_id: Option<String>,
    /// External sku.
    pub external_sku: Option<String>,
    /// Price minor.
    pub price_minor: Option<i64>,
    /// ISO 4217 currency.
    pub currency: Option<String>,
    /// Lifecycle.
    pub status: ListingStatus,
    /// Alloc percent.
    pub alloc_percent: i32,
    /// Alloc max.
    pub alloc_max: Option<i64>,
    /// Alloc buffer.
    pub alloc_buffer: i64,
    /// LINKED, UNLINKED or AMBIGUOUS.
    pub link_status: LinkStatus,
    /// Linked or unlinked by the seller (product syncs leave it).
    pub link_manual: bool,
    /// Platform warehouse/location.
    pub external_location: Option<String>,
    /// Title on the platform.
    pub name: Option<String>,
    /// Platform status, verbatim.
    pub platform_status: Option<String>,
    /// Stock the platform showed when last read.
    pub platform_stock: Option<i64>,
    /// Last seen by a product sync.
    pub seen_at: Option<DateTimeWithTimeZone>,
    /// Last quantity the platform accepted.
    pub pushed_quantity: Option<i64>,
    /// When it accepted it.
    pub pushed_at: Option<DateTimeWithTimeZone>,
    /// The platform's acknowledgement.
    pub push_ack: Option<String>,
    /// The last push error (cleared by an accepted push).
    pub push_error: Option<String>,
    /// When the last push failed.
    pub push_failed_at: Option<DateTimeWithTimeZone>,
    /// Last drift check.
    pub checked_at: Option<DateTimeWithTimeZone>,
    /// Orders placed from then on count against `pushed_quantity` (set by pushes made in a
    /// pool's tail; NULL otherwise).
    pub counted_from: Option<DateTimeWithTimeZone>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
