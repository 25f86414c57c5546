//! `store_tokens`: the token vault, one row per authorized store.

use sea_orm::entity::prelude::*;

/// A `store_tokens` row. `sealed` is an AES-256-GCM envelope of the token set, never plaintext.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "store_tokens")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Store.
    #[sea_orm(primary_key, auto_increment = false)]
    pub store_id: Uuid,
    /// Encrypted token set.
    pub sealed: Vec<u8>,
    /// When the access token expires.
    pub access_expires_at: DateTimeWithTimeZone,
    /// When the refresh token expires, when the platform says.
    pub refresh_expires_at: Option<DateTimeWithTimeZone>,
    /// A refresh token that dies once used (Shopee, Jumia).
    pub refresh_single_use: bool,
    /// Grows with every write.
    pub version: i64,
    /// Last refresh.
    pub refreshed_at: Option<DateTimeWithTimeZone>,
    /// Last write.
    pub updated_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
