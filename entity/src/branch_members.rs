//! `branch_members`: a user's role in one branch.

use crate::enums::BranchRole;
use sea_orm::entity::prelude::*;

/// A branch membership row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "branch_members")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Branch.
    #[sea_orm(primary_key, auto_increment = false)]
    pub branch_id: Uuid,
    /// Member.
    #[sea_orm(primary_key, auto_increment = false)]
    pub user_id: Uuid,
    /// Role in the branch.
    pub role: BranchRole,
    /// When the membership began.
    pub created_at: DateTimeWithTimeZone,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
