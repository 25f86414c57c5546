//! `sync_logs`: log lines of a sync run.

use crate::enums::LogLevel;
use sea_orm::entity::prelude::*;

/// A `sync_logs` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_logs")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Sync run.
    pub run_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Option<Uuid>,
    /// Attempt.
    pub attempt: i32,
    /// Level.
    pub level: LogLevel,
    /// Text.
    pub message: String,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
