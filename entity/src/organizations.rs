//! `organizations`: the tenant.

use sea_orm::entity::prelude::*;

/// An organization row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "organizations")]
pub struct Model {
    /// Tenant id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// A pool listed on several marketplace listings is partitioned between them once its
    /// available stock is at most this many units per listing (0: never).
    pub stock_tail_per_listing: i32,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No relations are navigated through the ORM; queries are explicit.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
