//! `stores`: connected marketplace accounts.

use crate::enums::{Platform, StoreStatus};
use sea_orm::entity::prelude::*;

/// A store row. `credentials` is an AES-256-GCM envelope, never plaintext.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stores")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Store id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Owning branch.
    pub branch_id: Uuid,
    /// Marketplace.
    pub platform: Platform,
    /// The shop id on the marketplace.
    pub external_shop_id: String,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 region.
    pub region: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Lifecycle.
    pub status: StoreStatus,
    /// Encrypted credentials envelope.
    pub credentials: Option<Vec<u8>>,
    /// When credentials were last written.
    pub credentials_updated_at: Option<DateTimeWithTimeZone>,
    /// When the store was archived.
    pub archived_at: Option<DateTimeWithTimeZone>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Last change.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
