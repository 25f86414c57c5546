//! Text-backed enumerations stored in `CHECK`-constrained columns.

use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

/// A member's role in an organization.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum OrgRole {
    /// Full control, including billing and ownership transfer.
    #[sea_orm(string_value = "OWNER")]
    Owner,
    /// Manages the organization, every branch and store.
    #[sea_orm(string_value = "ADMIN")]
    Admin,
    /// Works in the branches they are a member of.
    #[sea_orm(string_value = "MEMBER")]
    Member,
}

/// A member's role in one branch.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum BranchRole {
    /// Manages the branch's stores and staff.
    #[sea_orm(string_value = "MANAGER")]
    Manager,
    /// Day-to-day operations in the branch.
    #[sea_orm(string_value = "OPERATOR")]
    Operator,
    /// Read-only access to the branch.
    #[sea_orm(string_value = "VIEWER")]
    Viewer,
}

/// The marketplace (or own storefront) a store is connected to.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum Platform {
    /// Shopee Open Platform.
    #[sea_orm(string_value = "SHOPEE")]
    Shopee,
    /// TikTok Shop Open API.
    #[sea_orm(string_value = "TIKTOK_SHOP")]
    TiktokShop,
    /// Lazada Open Platform.
    #[sea_orm(string_value = "LAZADA")]
    Lazada,
    /// Jumia Vendor Center.
    #[sea_orm(string_value = "JUMIA")]
    Jumia,
    /// Kilimall (file import/export; no public seller API).
    #[sea_orm(string_value = "KILIMALL")]
    Kilimall,
    /// The seller's own storefront.
    #[sea_orm(string_value = "OWN")]
    Own,
}

/// Lifecycle of a store connection.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Serialize, Deserialize,
)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::None)")]
pub enum StoreStatus {
    /// Connected and synchronised.
    #[sea_orm(string_value = "ACTIVE")]
    Active,
    /// Disconnected; kept for history.
    #[sea_orm(string_value = "ARCHIVED")]
    Archived,
}
