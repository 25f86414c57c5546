//! The connector registry: platform → connector, built once from configuration (the simulator's
//! in development and tests). A platform without a configured app has no connector, and stores
//! of it cannot be authorized.

use crate::config::MarketplacesConfig;
use connectors::Connector;
use entity::enums::Platform;
use std::sync::Arc;

/// Platform → connector.
#[derive(Clone)]
pub struct Registry {
    clock: Arc<MarketClock>,
    shopee: Option<Arc<dyn Connector>>,
    tiktok: Option<Arc<dyn Connector>>,
    lazada: Option<Arc<dyn Connector>>,
    jumia: Option<Arc<dyn Connector>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("shopee", &self.shopee.is_some())
            .field("tiktok", &self.tiktok.is_some())
            .field("lazada", &self.lazada.is_some())
            .field("jumia", &self.jumia.is_some())
            .finish()
    }
}

impl Registry {
    /// Connectors for every configured app.
    pub fn from_config(c: &MarketplacesConfig) -> Self {
        fn arc<C: Connector + 'static>(c: C) -> Arc<dyn Connector> {
            Arc::new(c)
        }
        let clock = Arc::new(MarketClock(c.clock_offset_secs));
        Self {
            shopee: c
                .shopee
                .clone()
                .map(|a| arc(connectors::shopee::Shopee::new(a))),
            tiktok: c
                .tiktok
                .clone()
                .map(|a| arc(connectors::tiktok::Tiktok::new(a))),
            lazada: c
                .lazada
                .clone()
                .map(|a| arc(connectors::lazada::Lazada::new(a))),
            jumia: c
                .jumia
                .clone()
                .map(|a| arc(connectors::jumia::Jumia::new(a))),
            clock,
        }
    }

    /// The marketplaces' clock (ours, plus the configured offset).
    pub fn clock(&self) -> &MarketClock {
        &self.clock
    }

    /// The connector of `platform`, when its app is configured.
    pub fn get(&self, platform: Platform) -> Option<Arc<dyn Connector>> {
        match platform {
            Platform::Shopee => self.shopee.clone(),
            Platform::TiktokShop => self.tiktok.clone(),
            Platform::Lazada => self.lazada.clone(),
            Platform::Jumia => self.jumia.clone(),
            Platform::Kilimall | Platform::Own => None,
        }
    }
}

/// The marketplaces' data clock (what "now" is for order windows and token expiries): this
/// machine's, ahead by a configured offset (0 in production; tests that move the simulator's
/// data clock start workers with the same offset). Request signatures always use the wall clock.
#[derive(Debug, Clone, Copy)]
pub struct MarketClock(pub i64);

impl connectors::Clock for MarketClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis() + self.0 * 1000
    }
}

/// How a platform is authorized.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// The seller approves Mercato on the platform's page (OAuth code flow): Shopee, TikTok
    /// Shop, Lazada.
    Redirect,
    /// The seller pastes a refresh token from the platform's console (Jumia Self Authorization).
    PastedToken,
    /// No API at all: files (Kilimall) or Mercato's own API (own storefront).
    None,
}

/// How `platform` is authorized.
pub fn auth_style(platform: Platform) -> AuthStyle {
    match platform {
        Platform::Shopee | Platform::TiktokShop | Platform::Lazada => AuthStyle::Redirect,
        Platform::Jumia => AuthStyle::PastedToken,
        Platform::Kilimall | Platform::Own => AuthStyle::None,
    }
}

/// The path segment of a platform in `/connect/{platform}/callback`.
pub fn path_name(platform: Platform) -> &'static str {
    match platform {
        Platform::Shopee => "shopee",
        Platform::TiktokShop => "tiktok",
        Platform::Lazada => "lazada",
        Platform::Jumia => "jumia",
        Platform::Kilimall => "kilimall",
        Platform::Own => "own",
    }
}

/// The platform of a callback path segment.
pub fn from_path(name: &str) -> Option<Platform> {
    [
        Platform::Shopee,
        Platform::TiktokShop,
        Platform::Lazada,
        Platform::Jumia,
    ]
    .into_iter()
    .find(|p| path_name(*p) == name)
}

/// The connectors crate's name for `platform` (`None` for the own storefront).
pub fn connector_platform(platform: Platform) -> Option<connectors::Platform> {
    Some(match platform {
        Platform::Shopee => connectors::Platform::Shopee,
        Platform::TiktokShop => connectors::Platform::TiktokShop,
        Platform::Lazada => connectors::Platform::Lazada,
        Platform::Jumia => connectors::Platform::Jumia,
        Platform::Kilimall => connectors::Platform::Kilimall,
        Platform::Own => return None,
    })
}

/// Mercato's name for a connectors-crate platform.
pub fn entity_platform(platform: connectors::Platform) -> Platform {
    match platform {
        connectors::Platform::Shopee => Platform::Shopee,
        connectors::Platform::TiktokShop => Platform::TiktokShop,
        connectors::Platform::Lazada => Platform::Lazada,
        connectors::Platform::Jumia => Platform::Jumia,
        connectors::Platform::Kilimall => Platform::Kilimall,
    }
}

/// A connector failure as a stable code and a message safe to store and show: no query strings
/// (signed URLs carry `sign` and `access_token`), no token-looking values, at most 300 characters.
pub fn classify(e: &connectors::Error) -> (&'static str, String) {
    use connectors::{AuthFailure, Error};
    let code = match e {
        Error::Auth {
            kind: AuthFailure::Expired,
            ..
        } => "AUTH_EXPIRED",
        Error::Auth { .. } => "AUTH_REFUSED",
        Error::RateLimited { .. } => "RATE_LIMITED",
        Error::Transient(_) => "UNAVAILABLE",
        Error::Permanent { .. } => "REFUSED",
        Error::InvalidInput(_) => "INVALID_REQUEST",
        Error::Decode(_) => "BAD_RESPONSE",
        Error::Unsupported(_) => "UNSUPPORTED",
    };
    (code, sanitize(&e.to_string()))
}

/// Removes what must never be stored or shown from a message: the query of every URL, and the
/// value after any `token`/`sign`/`secret`/`code`/`key` parameter name.
pub fn sanitize(message: &str) -> String {
    let mut out = String::with_capacity(message.len().min(320));
    for word in message.split_inclusive(char::is_whitespace) {
        let (body, ws) = match word.char_indices().last() {
            Some((i, c)) if c.is_whitespace() => (&word[..i], &word[i..]),
            _ => (word, ""),
        };
        let cleaned = if body.contains("://") {
            match body.find('?') {
                Some(q) => format!("{}?[redacted]", &body[..q]),
                None => body.to_owned(),
            }
        } else if let Some((name, _)) = body.split_once('=').filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            ["token", "sign", "secret", "code", "key"]
                .iter()
                .any(|s| n.contains(s))
        }) {
            format!("{name}=[redacted]")
        } else {
            body.to_owned()
        };
        out.push_str(&cleaned);
        out.push_str(ws);
    }
    let mut out: String = out.chars().take(300).collect();
    if message.chars().count() > 300 {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_drops_queries_and_secret_parameters() {
        let m = "network: error sending request for url (https://partner.shopeemobile.com/api/v2/order/get_order_list?partner_id=1&access_token=abc&sign=def) access_token=xyz refresh_token=r1 plain";
        let s = sanitize(m);
        assert!(
            !s.contains("abc") && !s.contains("def") && !s.contains("xyz") && !s.contains("r1"),
            "{s}"
        );
        assert!(
            s.contains("https://partner.shopeemobile.com/api/v2/order/get_order_list?[redacted]"),
            "{s}"
        );
        assert!(s.ends_with("plain"));
        assert!(sanitize(&"x".repeat(400)).chars().count() <= 301);
    }

    #[test]
    fn callback_paths_round_trip() {
        for p in [
            Platform::Shopee,
            Platform::TiktokShop,
            Platform::Lazada,
            Platform::Jumia,
        ] {
            assert_eq!(from_path(path_name(p)), Some(p));
        }
        assert_eq!(from_path("own"), None);
    }
}
