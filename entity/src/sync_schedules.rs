//! `sync_schedules`: per-store schedules of the scheduled job kinds.

use crate::enums::JobKind;
use sea_orm::entity::prelude::*;

/// A `sync_schedules` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_schedules")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Kind.
    pub kind: JobKind,
    /// Every seconds.
    pub every_seconds: Option<i32>,
    /// Cron.
    pub cron: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Next run at.
    pub next_run_at: Option<DateTimeWithTimeZone>,
    /// Last run at.
    pub last_run_at: Option<DateTimeWithTimeZone>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
    /// Why the schedule is held while the store cannot be called (`AUTH_EXPIRED`,
    /// `DISCONNECTED`); the seller's own switch is `enabled`.
    pub paused: Option<String>,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
