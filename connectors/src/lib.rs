//! Marketplace connectors (Shopee, TikTok Shop, Lazada, Jumia, file import for Kilimall) and the
//! marketplace simulator. This crate knows nothing of the database, GraphQL or `AppError`.
//!
//! Only the platform list lives here so far; the clients arrive with the connectors issue.

/// Marketplaces Mercato connects to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Platform {
    /// Shopee Open Platform v2.
    Shopee,
    /// TikTok Shop Open API.
    TiktokShop,
    /// Lazada Open Platform.
    Lazada,
    /// Jumia Vendor Center.
    Jumia,
    /// Kilimall: no public seller API; file import/export.
    Kilimall,
}
