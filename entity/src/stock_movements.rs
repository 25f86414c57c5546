//! `stock_movements`: the append-only stock ledger.

use crate::enums::{DocumentType, MovementKind};
use sea_orm::entity::prelude::*;

/// A `stock_movements` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_movements")]
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
    /// Kind.
    pub kind: MovementKind,
    /// On hand delta.
    pub on_hand_delta: i64,
    /// Reserved delta.
    pub reserved_delta: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// Actor user id.
    pub actor_user_id: Option<Uuid>,
    /// Actor api token id.
    pub actor_api_token_id: Option<Uuid>,
    /// Reason.
    pub reason: String,
    /// Document type.
    pub document_type: Option<DocumentType>,
    /// Document id.
    pub document_id: Option<String>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
