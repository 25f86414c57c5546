//! `refresh_tokens`: refresh tokens (stored as hashes), rotated in families.

use sea_orm::entity::prelude::*;

/// A `refresh_tokens` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "refresh_tokens")]
pub struct Model {
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Family id.
    pub family_id: Uuid,
    /// User.
    pub user_id: Uuid,
    /// Session org id.
    pub session_org_id: Option<Uuid>,
    /// Token hash.
    pub token_hash: Vec<u8>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
    /// Expiry.
    pub expires_at: DateTimeWithTimeZone,
    /// Used at.
    pub used_at: Option<DateTimeWithTimeZone>,
    /// Revoked at.
    pub revoked_at: Option<DateTimeWithTimeZone>,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
