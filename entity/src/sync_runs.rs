//! `sync_runs`: what a job did, as sellers see it.

use crate::enums::{JobKind, SyncRunStatus};
use sea_orm::entity::prelude::*;

/// A `sync_runs` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "sync_runs")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Job.
    pub job_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Option<Uuid>,
    /// Store.
    pub store_id: Option<Uuid>,
    /// Kind.
    pub kind: JobKind,
    /// Lifecycle.
    pub status: SyncRunStatus,
    /// Attempt.
    pub attempt: i32,
    /// Progress.
    pub progress: i16,
    /// Fetched.
    pub fetched: i32,
    /// Created.
    pub created: i32,
    /// Updated.
    pub updated: i32,
    /// Skipped.
    pub skipped: i32,
    /// Failed.
    pub failed: i32,
    /// Text.
    pub message: Option<String>,
    /// Last error.
    pub last_error: Option<String>,
    /// Version.
    pub version: i64,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Started at.
    pub started_at: Option<DateTimeWithTimeZone>,
    /// Finished at.
    pub finished_at: Option<DateTimeWithTimeZone>,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
