//! `api_tokens`: partner API tokens. Only the SHA-256 of the secret is stored.

use sea_orm::entity::prelude::*;

/// An API token row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "api_tokens")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Token id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Name given by its creator.
    pub name: String,
    /// SHA-256 of the secret.
    pub token_hash: Vec<u8>,
    /// First characters of the secret, for recognising it.
    pub display_prefix: String,
    /// Granted scopes, e.g. `orders:read`.
    pub scopes: Vec<String>,
    /// Branches it is limited to; `None` = every branch.
    pub branch_ids: Option<Vec<Uuid>>,
    /// Who created it.
    pub created_by: Option<Uuid>,
    /// When it was created.
    pub created_at: DateTimeWithTimeZone,
    /// When it stops working, if ever.
    pub expires_at: Option<DateTimeWithTimeZone>,
    /// When it was revoked.
    pub revoked_at: Option<DateTimeWithTimeZone>,
    /// Last use (recorded in batches, not on every request).
    pub last_used_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
