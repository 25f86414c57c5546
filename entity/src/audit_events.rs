//! `audit_events`: append-only record of changes.

use sea_orm::entity::prelude::*;

/// An audit event row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Event id (UUID v7, time-ordered).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Acting user, if a user acted.
    pub actor_user_id: Option<Uuid>,
    /// Acting partner API token, if a token acted.
    pub actor_api_token_id: Option<Uuid>,
    /// What happened, e.g. `store.connect`.
    pub action: String,
    /// Kind of the changed object, e.g. `Store`.
    pub target_type: String,
    /// Id of the changed object.
    pub target_id: Option<Uuid>,
    /// Before/after summary (never secrets).
    pub summary: Json,
    /// Request that caused it.
    pub request_id: Option<String>,
    /// When it happened.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
