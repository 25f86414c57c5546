//! `reservations`: stock held for an order line, cart or promotion (bundles hold their components as children).

use crate::enums::{ReservationReference, ReservationStatus};
use sea_orm::entity::prelude::*;

/// A `reservations` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "reservations")]
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
    /// Units.
    pub quantity: i64,
    /// Lifecycle.
    pub status: ReservationStatus,
    /// Reference type.
    pub reference_type: ReservationReference,
    /// Reference id.
    pub reference_id: String,
    /// Parent id.
    pub parent_id: Option<Uuid>,
    /// Expiry.
    pub expires_at: Option<DateTimeWithTimeZone>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
