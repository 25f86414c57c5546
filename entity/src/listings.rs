//! `listings`: a variant as it appears in one store, with its allocation rule.

use crate::enums::ListingStatus;
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
    /// Variant.
    pub variant_id: Uuid,
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
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
