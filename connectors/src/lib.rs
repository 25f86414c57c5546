//! Marketplace connectors (Shopee, TikTok Shop, Lazada, Jumia, file import for Kilimall) and the
//! marketplace simulator. This crate knows nothing of the database, GraphQL or `AppError`.
//!
//! So far: each platform's request signing and webhook/push signature computation and
//! verification, as pure functions over the documented inputs (`marketplaces.md` §1.2, §1.9, §2.2,
//! §2.9, §3.2, §3.9), tested against the platforms' printed examples (§7). Jumia's Vendor API is
//! not signed (Bearer tokens); Kilimall publishes no API. Clients, normalizers and the simulator
//! arrive with the rest of the connectors issue.

mod crypto;
pub mod error;
pub mod lazada;
pub mod money;
pub mod resilience;
pub mod shopee;
pub mod status;
pub mod tiktok;
pub mod tokens;

pub use error::{AuthFailure, Error};
pub use money::Money;

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
