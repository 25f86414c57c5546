//! `order_events`: the append-only status history of orders.

use crate::enums::{OrderEventSource, OrderStatus};
use sea_orm::entity::prelude::*;

/// An `order_events` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_events")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7: in order).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Status before (none for the first).
    pub from_status: Option<OrderStatus>,
    /// Status after (or refused, when not applied).
    pub to_status: OrderStatus,
    /// The marketplace's status, verbatim.
    pub raw_status: String,
    /// Where the update came from.
    pub source: OrderEventSource,
    /// The marketplace's update time of the update.
    pub marketplace_updated_at: DateTimeWithTimeZone,
    /// false: stale, recorded and not applied.
    pub applied: bool,
    /// When recorded.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
