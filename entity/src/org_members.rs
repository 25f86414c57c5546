//! `org_members`: a user's membership and role in an organization.

use crate::enums::OrgRole;
use sea_orm::entity::prelude::*;

/// A membership row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "org_members")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Role in the organization.
    pub role: OrgRole,
    /// When the membership began.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
