//! `shop_claims`: which organization holds each marketplace shop (the one cross-tenant registry;
//! the runtime role has no privilege on it, a trigger on `stores` keeps it).

use crate::enums::Platform;
use sea_orm::entity::prelude::*;

/// A `shop_claims` row.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "shop_claims")]
pub struct Model {
    /// Marketplace.
    #[sea_orm(primary_key, auto_increment = false)]
    pub platform: Platform,
    /// The shop's id on the marketplace.
    #[sea_orm(primary_key, auto_increment = false)]
    pub external_shop_id: String,
    /// The organization holding it.
    pub org_id: Uuid,
}

/// No ORM relations.
#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
