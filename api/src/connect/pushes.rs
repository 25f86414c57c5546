//! Marketplace pushes in, below the HTTP transport: verify a delivery with this deployment's app
//! keys (Shopee's signature also binds this server's public URL of the request), check its
//! timestamp window, and store it for the connected store of the shop it names
//! (`domain::webhooks::accept`: one statement that is its own transaction, under RLS). See
//! `http::webhooks` for the answers and `docs/webhooks.md`.

use crate::domain::webhooks;
use crate::error::AppResult;
use crate::state::AppState;
use connectors::push::{PushError, PushEvent, PushKeys};
use entity::enums::Platform;

/// Why a delivery was refused (nothing was stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Bad or missing signature, another app's key, a stale timestamp (HTTP 401).
    Unauthorized,
    /// No such platform here, or no connected store of the shop (HTTP 404).
    NotFound,
    /// Signed, but not the platform's format (HTTP 400).
    BadRequest,
}

/// What became of one delivery.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Stored (or a duplicate of a stored event): acknowledge it.
    Stored,
    /// Refused: why, a machine code, a message.
    Refused(Refusal, &'static str, String),
}

fn refused(why: Refusal, code: &'static str, message: impl Into<String>) -> Received {
    Received::Refused(why, code, message.into())
}

/// Verifies and stores one delivery to `/webhooks/{platform}` whose path and query are
/// `path_and_query`; what became of it. An error is a failure to store (the platform retries).
pub async fn receive(
    app: &AppState,
    platform: &str,
    path_and_query: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> AppResult<Received> {
    let config = &app.config;
    let m = &config.marketplaces;
    // Shopee signs the callback URL as registered: this server's public URL of this request.
    let url = format!("{}{path_and_query}", m.public_url.trim_end_matches('/'));
    let Some(entity) = crate::marketplaces::from_path(platform) else {
        return Ok(refused(Refusal::NotFound, "NOT_FOUND", "no such platform"));
    };
    let keys = match entity {
        Platform::Shopee => m.shopee.as_ref().map(|a| PushKeys::Shopee {
            partner_key: &a.partner_key,
            callback_url: &url,
        }),
        Platform::TiktokShop => m.tiktok.as_ref().map(|a| PushKeys::Tiktok {
            app_key: &a.app_key,
            app_secret: &a.app_secret,
        }),
        Platform::Lazada => m.lazada.as_ref().map(|a| PushKeys::Lazada {
            app_key: &a.app_key,
            app_secret: &a.app_secret,
        }),
        // Jumia and the file-only platforms send no pushes.
        _ => return Ok(refused(Refusal::NotFound, "NOT_FOUND", "no such platform")),
    };
    let Some(keys) = keys else {
        return Ok(refused(
            Refusal::NotFound,
            "NOT_FOUND",
            "this platform has no app configured here",
        ));
    };
    let now = chrono::Utc::now().timestamp();
    let window = i64::try_from(config.limits.webhook_window.as_secs()).unwrap_or(300);
    let event = match connectors::push::verify(keys, body, authorization, now, window) {
        Ok(e) => e,
        Err(PushError::BadSignature) => {
            return Ok(refused(
                Refusal::Unauthorized,
                "BAD_SIGNATURE",
                "the signature does not match this app and body",
            ));
        }
        Err(e @ PushError::Stale { .. }) => {
            return Ok(refused(Refusal::Unauthorized, "STALE", e.to_string()));
        }
        Err(PushError::Malformed(why)) => {
            return Ok(refused(Refusal::BadRequest, "MALFORMED", why));
        }
    };
    // The signature covered these bytes; JSON is UTF-8, so this only refuses a forged encoding.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Ok(refused(
            Refusal::BadRequest,
            "MALFORMED",
            "the body is not UTF-8",
        ));
    };
    // Stored in a task of its own: a platform that hangs up mid-way must not cancel the commit
    // half-done (the transaction either commits whole or, on error, rolls back).
    let app = app.clone();
    let stored = tokio::spawn(async move { store_all(&app, entity, &event, &text).await })
        .await
        .map_err(crate::error::AppError::internal)??;
    Ok(if stored {
        Received::Stored
    } else {
        refused(
            Refusal::NotFound,
            "UNKNOWN_SHOP",
            "no connected store of this shop",
        )
    })
}

/// `event` as stored for `shop`: a notice naming several shops (Shopee's expiry notice) is one
/// event per store, each with its own key (else the second store of one organization would look
/// like a duplicate of the first).
fn for_shop<'a>(event: &'a PushEvent, shop: &str) -> std::borrow::Cow<'a, PushEvent> {
    if event.shops.len() > 1 {
        let mut own = event.clone();
        own.delivery_key = format!("{}:{shop}", event.delivery_key);
        std::borrow::Cow::Owned(own)
    } else {
        std::borrow::Cow::Borrowed(event)
    }
}

/// Stores `event` for each connected shop it names; false when none is known.
async fn store_all(
    app: &AppState,
    platform: Platform,
    event: &PushEvent,
    body: &str,
) -> AppResult<bool> {
    let mut any = false;
    for shop in &event.shops {
        let event = for_shop(event, shop);
        let Some(stored) = webhooks::accept(&app.db, platform, shop, &event, body).await? else {
            continue;
        };
        any = true;
        let pause = app.config.limits.test_webhook_pause;
        if !pause.is_zero() {
            tracing::info!(event = %stored.event_id, "webhook committed; pausing before the hand-off (test)");
            tokio::time::sleep(pause).await;
        }
        crate::metrics::webhook(if stored.fresh { "STORED" } else { "DUPLICATE" });
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_naming_several_shops_is_one_event_per_shop() {
        let body =
            br#"{"data":{"shop_expire_soon":[11,22],"expire_before":1},"code":12,"timestamp":1}"#;
        let ev = connectors::push::parse(connectors::Platform::Shopee, body).unwrap();
        assert_eq!(ev.shops, vec!["11", "22"]);
        let a = for_shop(&ev, "11").delivery_key.clone();
        let b = for_shop(&ev, "22").delivery_key.clone();
        assert_ne!(a, b);
        assert_eq!(
            a,
            for_shop(&ev, "11").delivery_key,
            "a redelivery keeps its key"
        );
        let one =
            br#"{"data":{"ordersn":"X","update_time":1},"shop_id":11,"code":3,"timestamp":1}"#;
        let ev = connectors::push::parse(connectors::Platform::Shopee, one).unwrap();
        assert_eq!(for_shop(&ev, "11").delivery_key, ev.delivery_key);
    }
}
