//! `job_dispatch`: the reconciler's index of due jobs (when each was last handed to Redis).

use sea_orm::entity::prelude::*;

/// A `job_dispatch` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "job_dispatch")]
pub struct Model {
    /// Job.
    #[sea_orm(primary_key, auto_increment = false)]
    pub job_id: Uuid,
    /// Tenant.
    pub org_id: Uuid,
    /// Due at.
    pub due_at: DateTimeWithTimeZone,
    /// Dispatched at.
    pub dispatched_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
