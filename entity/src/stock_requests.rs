//! `stock_requests`: idempotency records of stock changes (the first result of each key).

use sea_orm::entity::prelude::*;

/// A `stock_requests` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "stock_requests")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Idempotency key.
    #[sea_orm(primary_key, auto_increment = false)]
    pub idempotency_key: String,
    /// Operation.
    pub operation: String,
    /// Request hash.
    pub request_hash: Vec<u8>,
    /// Response.
    pub response: Json,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
