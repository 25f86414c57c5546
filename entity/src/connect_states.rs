//! `connect_states`: authorization links handed out by `beginStoreConnection`.

use crate::enums::Platform;
use sea_orm::entity::prelude::*;

/// A `connect_states` row. Only the SHA-256 of the `state` is kept.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "connect_states")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// SHA-256 of the state.
    pub state_hash: Vec<u8>,
    /// Who began the connection (none for a partner API token).
    pub user_id: Option<Uuid>,
    /// The branch the store joins.
    pub branch_id: Uuid,
    /// Marketplace.
    pub platform: Platform,
    /// Region asked for.
    pub region: String,
    /// Where the seller's browser is sent back (on the allow-list).
    pub return_url: String,
    /// Expiry (10 minutes after issue).
    pub expires_at: DateTimeWithTimeZone,
    /// When it was used (single use).
    pub used_at: Option<DateTimeWithTimeZone>,
    /// The result code of its callback.
    pub result: Option<String>,
    /// The store written by its callback.
    pub store_id: Option<Uuid>,
    /// Issue time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
