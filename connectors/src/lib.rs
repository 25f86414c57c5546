//! Marketplace connectors (Shopee, TikTok Shop, Lazada, Jumia, file import for Kilimall) and the
//! marketplace simulator. This crate knows nothing of the database, GraphQL or `AppError`.
//!
//! So far: each platform's request signing and webhook/push signature computation and
//! verification, as pure functions over the documented inputs (`marketplaces.md` §1.2, §1.9, §2.2,
//! §2.9, §3.2, §3.9), tested against the platforms' printed examples (§7). Jumia's Vendor API is
//! not signed (Bearer tokens); Kilimall publishes no API. Clients, normalizers and the simulator
//! arrive with the rest of the connectors issue.

pub mod client;
mod crypto;
pub mod error;
pub mod file;
pub mod jumia;
pub mod lazada;
pub mod model;
pub mod money;
pub mod push;
pub mod resilience;
pub mod shopee;
pub mod simulator;
pub mod status;
pub mod tiktok;
pub mod tokens;

pub use client::{
    Clock, MemoryTokenStore, Priority, Quota, QuotaHook, RefreshCall, StoreContext, SystemClock,
    TokenStore, refresh_expired,
};
pub use error::{AuthFailure, Error};
pub use model::*;
pub use money::Money;
pub use tokens::TokenSet;

/// One marketplace seen through one interface. Calls that act for a store take its
/// [`StoreContext`] (tokens, quota, breaker); listing calls follow the platform's own paging to the
/// end and return every item once (pages may overlap or arrive out of order).
#[async_trait::async_trait]
pub trait Connector: Send + Sync {
    /// Which platform.
    fn platform(&self) -> Platform;

    /// The link the seller opens to authorize Mercato. `state` is single use: the caller issues
    /// it, stores it and compares it when the seller comes back.
    fn authorize_url(&self, state: &str, redirect_uri: &str) -> Result<String, Error>;

    /// Exchanges the code from the redirect for tokens and the shop's identity.
    async fn exchange_code(
        &self,
        callback: &AuthCallback,
        redirect_uri: &str,
    ) -> Result<Grant, Error>;

    /// Refreshes tokens with the platform's lifetime and rotation rules.
    async fn refresh(&self, shop: &ShopIdentity, tokens: &TokenSet) -> Result<TokenSet, Error>;

    /// Orders updated in `window`.
    async fn list_orders(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<OrderRef>, Error>;

    /// Full orders, fetched in the platform's batch sizes.
    async fn order_details(
        &self,
        store: &StoreContext,
        ids: &[String],
    ) -> Result<Vec<Order>, Error>;

    /// Every product with its SKUs.
    async fn list_products(&self, store: &StoreContext) -> Result<Vec<Product>, Error>;

    /// How [`Self::update_stock`] splits `updates` into platform calls (one group per call:
    /// Shopee one item with at most 50 models, TikTok one product, Lazada 20 SKUs per payload,
    /// Jumia 1,000 per feed), so a caller can send and record one call at a time.
    fn stock_batches(&self, updates: &[StockUpdate]) -> Vec<Vec<StockUpdate>>;

    /// Sets sellable stock, batched within the platform's limits.
    async fn update_stock(
        &self,
        store: &StoreContext,
        updates: &[StockUpdate],
    ) -> Result<Vec<StockOutcome>, Error>;

    /// Returns created or updated in `window`.
    async fn list_returns(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Return>, Error>;

    /// Settlements (escrow releases, statement transactions) in `window`, as normalized fee lines.
    async fn settlements(
        &self,
        store: &StoreContext,
        window: Window,
    ) -> Result<Vec<Settlement>, Error>;

    /// Payouts to the seller's bank in `window`.
    async fn payouts(&self, store: &StoreContext, window: Window) -> Result<Vec<Payout>, Error>;
}

/// Base URLs of one platform (injectable so tests and `dev` point at the simulator).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoints {
    /// API host, e.g. `https://partner.shopeemobile.com`.
    pub api: String,
    /// Auth/token host when different (TikTok `https://auth.tiktok-shops.com`, Lazada
    /// `https://auth.lazada.com`); the API host otherwise.
    pub auth: String,
}

impl Endpoints {
    /// Both on one base (the simulator serves each platform under its own prefix).
    pub fn same(base: impl Into<String>) -> Self {
        let b = base.into();
        Self {
            api: b.clone(),
            auth: b,
        }
    }
}

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
