//! `jobs`: the job ledger: background work with leases, retries and schedules.

use crate::enums::{JobKind, JobStatus};
use sea_orm::entity::prelude::*;

/// A `jobs` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "jobs")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Branch (visibility).
    pub branch_id: Option<Uuid>,
    /// Store.
    pub store_id: Option<Uuid>,
    /// Kind.
    pub kind: JobKind,
    /// Payload.
    pub payload: Json,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
    /// Lifecycle.
    pub status: JobStatus,
    /// Attempts.
    pub attempts: i32,
    /// Max attempts.
    pub max_attempts: i32,
    /// Run at.
    pub run_at: DateTimeWithTimeZone,
    /// Lease owner.
    pub lease_owner: Option<String>,
    /// Lease until.
    pub lease_until: Option<DateTimeWithTimeZone>,
    /// Lease token.
    pub lease_token: i64,
    /// Cancel requested.
    pub cancel_requested: bool,
    /// Last error.
    pub last_error: Option<String>,
    /// Schedule id.
    pub schedule_id: Option<Uuid>,
    /// Slot at.
    pub slot_at: Option<DateTimeWithTimeZone>,
    /// Created by.
    pub created_by: Option<Uuid>,
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
