//! `locations`: where stock is kept (own warehouse, third-party, marketplace-held).

use crate::enums::LocationKind;
use sea_orm::entity::prelude::*;

/// A `locations` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "locations")]
pub struct Model {
    /// Tenant.
    pub org_id: Uuid,
    /// Id (UUID v7).
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: LocationKind,
    /// Store.
    pub store_id: Option<Uuid>,
    /// Creation time.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
