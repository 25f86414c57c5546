//! `stores`: connected marketplace accounts.

use crate::enums::{CircuitState, ConnectionStatus, Platform, StoreStatus};
use sea_orm::entity::prelude::*;

/// A store row. `credentials` is an AES-256-GCM envelope, never plaintext.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
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
    /// Whether the platform can be called for this store.
    pub connection: ConnectionStatus,
    /// The platform identity the connector needs (shop id, region, cipher, country); not secret.
    pub shop_identity: Option<Json>,
    /// When the store was last authorized.
    pub connected_at: Option<DateTimeWithTimeZone>,
    /// Last successful platform call.
    pub last_success_at: Option<DateTimeWithTimeZone>,
    /// Classified code of the last failed platform call.
    pub last_error_code: Option<String>,
    /// Sanitised message of the last failed platform call (never a token or a signed URL).
    pub last_error_message: Option<String>,
    /// When the last failure happened.
    pub last_error_at: Option<DateTimeWithTimeZone>,
    /// The store's circuit breaker as last reported by a worker.
    pub circuit: CircuitState,
    /// Until when an open breaker holds calls back.
    pub circuit_open_until: Option<DateTimeWithTimeZone>,
    /// The incremental ORDERS sync's watermark (marketplace update time).
    pub orders_synced_to: Option<DateTimeWithTimeZone>,
    /// When the platform said the seller's authorization ends (its expiry notice push).
    pub authorization_expires_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
