//! `bundle_components`: a bundle variant's components and how many of each one bundle holds.

use sea_orm::entity::prelude::*;

/// A `bundle_components` row.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "bundle_components")]
pub struct Model {
    /// Tenant.
    #[sea_orm(primary_key, auto_increment = false)]
    pub org_id: Uuid,
    /// Bundle id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub bundle_id: Uuid,
    /// Component id.
    #[sea_orm(primary_key, auto_increment = false)]
    pub component_id: Uuid,
    /// Units.
    pub quantity: i32,
}

/// No ORM relations (joins are written in SQL in the domain layer).
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
