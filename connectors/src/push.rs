//! Marketplace pushes (webhooks) in: verifying a delivery and reading it into one normalized
//! [`PushEvent`], per platform (`marketplaces.md` §1.9, §2.9, §3.9). Pure functions over the raw
//! bytes: the caller keeps the body exactly as received and verifies before anything parses it.
//!
//! | platform | signature (`Authorization`) | shop | event id | sent at |
//! |---|---|---|---|---|
//! | Shopee | HMAC(partner_key, callback_url + "\|" + body) | `shop_id` (partner-level codes: in `data`) | none: hash | `timestamp` (s) |
//! | TikTok Shop | HMAC(app_secret, app_key + body) | `shop_id` | `tts_notification_id` | `timestamp` (s) |
//! | Lazada | HMAC(app_secret, app_key + body) | `seller_id` | none: hash | `timestamp` (ms) |

use crate::Platform;
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The keys a platform signs its pushes with (this app's).
#[derive(Debug, Clone, Copy)]
pub enum PushKeys<'a> {
    /// Shopee: the partner key and the callback URL exactly as registered (query included).
    Shopee {
        /// Partner key.
        partner_key: &'a str,
        /// The registered callback URL.
        callback_url: &'a str,
    },
    /// TikTok Shop: app key and secret.
    Tiktok {
        /// App key.
        app_key: &'a str,
        /// App secret.
        app_secret: &'a str,
    },
    /// Lazada: app key and secret.
    Lazada {
        /// App key.
        app_key: &'a str,
        /// App secret.
        app_secret: &'a str,
    },
}

impl PushKeys<'_> {
    /// The platform.
    pub fn platform(&self) -> Platform {
        match self {
            Self::Shopee { .. } => Platform::Shopee,
            Self::Tiktok { .. } => Platform::TiktokShop,
            Self::Lazada { .. } => Platform::Lazada,
        }
    }
}

/// What a push is about, across platforms.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushKind {
    /// An order was created or changed status (Shopee 3, TikTok 1, Lazada 0).
    OrderStatus,
    /// An order's cancellation changed (TikTok 11).
    OrderCancellation,
    /// The seller's authorization expires soon (Shopee 12, TikTok 7, Lazada 8).
    AuthorizationExpiring,
    /// The seller withdrew Mercato's authorization (Shopee 2, TikTok 6).
    Deauthorized,
    /// An item's stock changed on the platform (Shopee 8, reserved stock).
    StockChange,
    /// A product changed on the platform (TikTok 5 status, 15 information; price and stock are
    /// part of it).
    ProductChange,
    /// Anything else: kept, not acted on.
    Other,
}

/// One verified push, normalized.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushEvent {
    /// Platform.
    pub platform: Platform,
    /// The shops it concerns (one, except Shopee's partner-level expiry notice, which may list
    /// several).
    pub shops: Vec<String>,
    /// Kind.
    pub kind: PushKind,
    /// The platform's own code or type, as text (`3`, `ORDER_STATUS`…).
    pub topic: String,
    /// A key that is the same for every delivery of this event and different for any other: the
    /// platform's notification id, else a SHA-256 of platform, shop and body.
    pub delivery_key: String,
    /// The order or item it is about.
    pub subject: Option<String>,
    /// The raw status it announces (orders).
    pub status: Option<String>,
    /// When the subject was last updated on the platform (unix s): how a late delivery is told
    /// from a newer one.
    pub updated_at: Option<i64>,
    /// When the platform sent it (unix s).
    pub sent_at: i64,
}

/// Why a delivery was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PushError {
    /// No `Authorization` header, or it does not match this app's keys and the exact body.
    #[error("the signature does not match")]
    BadSignature,
    /// Signed correctly but sent too long ago (or in the future): a replay.
    #[error("the timestamp {sent_at} is more than {window} s from now ({now})")]
    Stale {
        /// When the platform says it sent it.
        sent_at: i64,
        /// Now.
        now: i64,
        /// The accepted distance.
        window: i64,
    },
    /// Signed correctly but not the platform's format.
    #[error("malformed push: {0}")]
    Malformed(String),
}

/// Verifies `authorization` over `raw_body` with `keys` (constant time), then reads the push and
/// checks its timestamp is within `window` seconds of `now`.
pub fn verify(
    keys: PushKeys<'_>,
    raw_body: &[u8],
    authorization: Option<&str>,
    now: i64,
    window: i64,
) -> Result<PushEvent, PushError> {
    let presented = authorization.ok_or(PushError::BadSignature)?;
    let signed = match keys {
        PushKeys::Shopee {
            partner_key,
            callback_url,
        } => crate::shopee::verify_push(partner_key, callback_url, raw_body, presented),
        PushKeys::Tiktok {
            app_key,
            app_secret,
        } => crate::tiktok::verify_webhook(app_key, app_secret, raw_body, presented),
        PushKeys::Lazada {
            app_key,
            app_secret,
        } => crate::lazada::verify_push(app_key, app_secret, raw_body, presented),
    };
    if !signed {
        return Err(PushError::BadSignature);
    }
    let event = parse(keys.platform(), raw_body)?;
    if (now - event.sent_at).abs() > window {
        return Err(PushError::Stale {
            sent_at: event.sent_at,
            now,
            window,
        });
    }
    Ok(event)
}

/// Reads a push of `platform` (already verified).
pub fn parse(platform: Platform, raw_body: &[u8]) -> Result<PushEvent, PushError> {
    let v: Value = serde_json::from_slice(raw_body)
        .map_err(|e| PushError::Malformed(format!("not JSON: {e}")))?;
    if !v.is_object() {
        return Err(PushError::Malformed("not a JSON object".into()));
    }
    match platform {
        Platform::Shopee => shopee(&v, raw_body),
        Platform::TiktokShop => tiktok(&v),
        Platform::Lazada => lazada(&v, raw_body),
        Platform::Jumia | Platform::Kilimall => {
            Err(PushError::Malformed("this platform sends no pushes".into()))
        }
    }
}

/// A JSON number or numeric string as text (platforms send ids either way).
fn id_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() && s.len() <= 64 => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn text(v: &Value) -> Option<String> {
    v.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

fn body_key(platform: &str, shop: &str, raw_body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(platform.as_bytes());
    h.update([0]);
    h.update(shop.as_bytes());
    h.update([0]);
    h.update(raw_body);
    format!("sha256:{}", hex::encode(h.finalize()))
}

fn required<T>(v: Option<T>, what: &str) -> Result<T, PushError> {
    v.ok_or_else(|| PushError::Malformed(format!("no {what}")))
}

fn shopee(v: &Value, raw_body: &[u8]) -> Result<PushEvent, PushError> {
    let code = required(int(&v["code"]), "code")?;
    let sent_at = required(int(&v["timestamp"]), "timestamp")?;
    let data = &v["data"];
    // Partner-level pushes (1, 2, 12) carry the shop inside `data`, or a list of them.
    let mut shops: Vec<String> = id_text(&v["shop_id"])
        .or_else(|| id_text(&data["shop_id"]))
        .into_iter()
        .collect();
    if shops.is_empty()
        && let Some(list) = data["shop_expire_soon"].as_array()
    {
        shops = list.iter().filter_map(id_text).collect();
    }
    if shops.is_empty() {
        return Err(PushError::Malformed("no shop_id".into()));
    }
    let kind = match code {
        3 => PushKind::OrderStatus,
        2 => PushKind::Deauthorized,
        12 => PushKind::AuthorizationExpiring,
        8 => PushKind::StockChange,
        _ => PushKind::Other,
    };
    let (subject, status, updated_at) = match kind {
        PushKind::OrderStatus => (
            Some(required(text(&data["ordersn"]), "data.ordersn")?),
            text(&data["status"]),
            int(&data["update_time"]),
        ),
        PushKind::StockChange => (id_text(&data["item_id"]), None, int(&data["update_time"])),
        _ => (None, None, None),
    };
    let key = body_key("SHOPEE", &shops.join(","), raw_body);
    Ok(PushEvent {
        platform: Platform::Shopee,
        shops,
        kind,
        topic: code.to_string(),
        delivery_key: key,
        subject,
        status,
        updated_at,
        sent_at,
    })
}

fn tiktok(v: &Value) -> Result<PushEvent, PushError> {
    let ty = required(int(&v["type"]), "type")?;
    let sent_at = required(int(&v["timestamp"]), "timestamp")?;
    let shop = required(id_text(&v["shop_id"]), "shop_id")?;
    let id = required(id_text(&v["tts_notification_id"]), "tts_notification_id")?;
    let data = &v["data"];
    let kind = match ty {
        1 => PushKind::OrderStatus,
        11 => PushKind::OrderCancellation,
        6 => PushKind::Deauthorized,
        7 => PushKind::AuthorizationExpiring,
        5 | 15 => PushKind::ProductChange,
        _ => PushKind::Other,
    };
    let (subject, status) = match kind {
        PushKind::OrderStatus | PushKind::OrderCancellation => (
            Some(required(id_text(&data["order_id"]), "data.order_id")?),
            text(&data["order_status"]).or_else(|| text(&data["cancellation_status"])),
        ),
        PushKind::ProductChange => (id_text(&data["product_id"]), text(&data["status"])),
        _ => (None, None),
    };
    Ok(PushEvent {
        platform: Platform::TiktokShop,
        shops: vec![shop],
        kind,
        topic: ty.to_string(),
        delivery_key: format!("tts:{id}"),
        subject,
        status,
        updated_at: int(&data["update_time"]),
        sent_at,
    })
}

fn lazada(v: &Value, raw_body: &[u8]) -> Result<PushEvent, PushError> {
    let ty = required(int(&v["message_type"]), "message_type")?;
    let sent_ms = required(int(&v["timestamp"]), "timestamp")?;
    let shop = required(id_text(&v["seller_id"]), "seller_id")?;
    let data = &v["data"];
    let kind = match ty {
        0 => PushKind::OrderStatus,
        8 => PushKind::AuthorizationExpiring,
        _ => PushKind::Other,
    };
    let (subject, status, updated_at) = match kind {
        PushKind::OrderStatus => (
            Some(required(
                id_text(&data["trade_order_id"]),
                "data.trade_order_id",
            )?),
            text(&data["order_status"]),
            int(&data["status_update_time"]),
        ),
        _ => (None, None, None),
    };
    let key = body_key("LAZADA", &shop, raw_body);
    Ok(PushEvent {
        platform: Platform::Lazada,
        shops: vec![shop],
        kind,
        topic: ty.to_string(),
        delivery_key: key,
        subject,
        status,
        updated_at,
        sent_at: sent_ms.div_euclid(1000),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHOPEE_SAMPLE: &str = r#"{"data":{"items":[],"ordersn":"220810QSK8S7BX","status":"PROCESSED","completed_scenario":"","update_time":1660123127},"shop_id":727720655,"code":3,"timestamp":1660123127}"#;
    const TIKTOK_SAMPLE: &str = r#"{"type":1,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1644412885,"data":{"order_id":"576486316948490001","order_status":"UNPAID","is_on_hold_order":false,"update_time":1644412885}}"#;
    const LAZADA_SAMPLE: &str = r#"{"seller_id":"1234567","message_type":0,"data":{"order_status":"unpaid","trade_order_id":"260422900198363","trade_order_line_id":"260422900298363","status_update_time":1603698638},"timestamp":1603766859530,"site":"lazada_vn"}"#;

    #[test]
    fn the_platforms_published_samples_read_as_order_events() {
        let s = parse(Platform::Shopee, SHOPEE_SAMPLE.as_bytes()).unwrap();
        assert_eq!(s.shops, vec!["727720655"]);
        assert_eq!(s.kind, PushKind::OrderStatus);
        assert_eq!(s.subject.as_deref(), Some("220810QSK8S7BX"));
        assert_eq!(s.status.as_deref(), Some("PROCESSED"));
        assert_eq!(s.updated_at, Some(1_660_123_127));
        assert!(s.delivery_key.starts_with("sha256:"));

        let t = parse(Platform::TiktokShop, TIKTOK_SAMPLE.as_bytes()).unwrap();
        assert_eq!(t.shops, vec!["7494049642642441621"]);
        assert_eq!(t.delivery_key, "tts:7327112393057371910");
        assert_eq!(t.subject.as_deref(), Some("576486316948490001"));
        assert_eq!(t.updated_at, Some(1_644_412_885));

        let l = parse(Platform::Lazada, LAZADA_SAMPLE.as_bytes()).unwrap();
        assert_eq!(l.shops, vec!["1234567"]);
        assert_eq!(l.subject.as_deref(), Some("260422900198363"));
        assert_eq!(l.sent_at, 1_603_766_859);
        assert_eq!(l.updated_at, Some(1_603_698_638));
    }

    #[test]
    fn shopee_signs_the_registered_url_and_the_exact_bytes() {
        let url = "https://mercato.example/webhooks/shopee?x=1";
        let sig = crate::shopee::push_signature("pk", url, SHOPEE_SAMPLE.as_bytes());
        let keys = PushKeys::Shopee {
            partner_key: "pk",
            callback_url: url,
        };
        let now = 1_660_123_127;
        assert!(verify(keys, SHOPEE_SAMPLE.as_bytes(), Some(&sig), now, 300).is_ok());
        // Another URL, one byte more, another key, no header: refused before parsing.
        let other = PushKeys::Shopee {
            partner_key: "pk",
            callback_url: "https://mercato.example/webhooks/shopee",
        };
        assert_eq!(
            verify(other, SHOPEE_SAMPLE.as_bytes(), Some(&sig), now, 300),
            Err(PushError::BadSignature)
        );
        let longer = format!("{SHOPEE_SAMPLE} ");
        assert_eq!(
            verify(keys, longer.as_bytes(), Some(&sig), now, 300),
            Err(PushError::BadSignature)
        );
        let wrong_key = PushKeys::Shopee {
            partner_key: "pk2",
            callback_url: url,
        };
        assert_eq!(
            verify(wrong_key, SHOPEE_SAMPLE.as_bytes(), Some(&sig), now, 300),
            Err(PushError::BadSignature)
        );
        assert_eq!(
            verify(keys, SHOPEE_SAMPLE.as_bytes(), None, now, 300),
            Err(PushError::BadSignature)
        );
        // Signed, but six minutes old.
        assert!(matches!(
            verify(keys, SHOPEE_SAMPLE.as_bytes(), Some(&sig), now + 360, 300),
            Err(PushError::Stale { .. })
        ));
    }

    #[test]
    fn lazada_timestamps_are_milliseconds_and_tiktok_ones_seconds() {
        let sig = crate::lazada::push_signature("k", "s", LAZADA_SAMPLE.as_bytes());
        let keys = PushKeys::Lazada {
            app_key: "k",
            app_secret: "s",
        };
        assert!(
            verify(
                keys,
                LAZADA_SAMPLE.as_bytes(),
                Some(&sig),
                1_603_766_859,
                300
            )
            .is_ok()
        );
        assert!(matches!(
            verify(
                keys,
                LAZADA_SAMPLE.as_bytes(),
                Some(&sig),
                1_603_767_200,
                300
            ),
            Err(PushError::Stale { .. })
        ));
        let sig = crate::tiktok::webhook_signature("k", "s", TIKTOK_SAMPLE.as_bytes());
        let keys = PushKeys::Tiktok {
            app_key: "k",
            app_secret: "s",
        };
        assert!(
            verify(
                keys,
                TIKTOK_SAMPLE.as_bytes(),
                Some(&sig),
                1_644_412_885,
                300
            )
            .is_ok()
        );
        // A Lazada signature is not a TikTok one even with the same keys' roles swapped.
        let swapped = PushKeys::Tiktok {
            app_key: "s",
            app_secret: "k",
        };
        assert_eq!(
            verify(
                swapped,
                TIKTOK_SAMPLE.as_bytes(),
                Some(&sig),
                1_644_412_885,
                300
            ),
            Err(PushError::BadSignature)
        );
    }

    #[test]
    fn the_same_body_twice_has_one_key_and_any_change_another() {
        let a = parse(Platform::Shopee, SHOPEE_SAMPLE.as_bytes()).unwrap();
        let b = parse(Platform::Shopee, SHOPEE_SAMPLE.as_bytes()).unwrap();
        assert_eq!(a.delivery_key, b.delivery_key);
        let changed = SHOPEE_SAMPLE.replace("1660123127}", "1660123128}");
        let c = parse(Platform::Shopee, changed.as_bytes()).unwrap();
        assert_ne!(a.delivery_key, c.delivery_key);
    }

    #[test]
    fn a_signed_push_without_what_its_kind_needs_is_malformed() {
        assert!(matches!(
            parse(
                Platform::Shopee,
                br#"{"code":3,"timestamp":1,"shop_id":1,"data":{}}"#
            ),
            Err(PushError::Malformed(_))
        ));
        assert!(matches!(
            parse(
                Platform::TiktokShop,
                br#"{"type":1,"timestamp":1,"shop_id":"1"}"#
            ),
            Err(PushError::Malformed(_))
        ));
        assert!(matches!(
            parse(Platform::Lazada, b"[]"),
            Err(PushError::Malformed(_))
        ));
        let other = parse(
            Platform::Shopee,
            br#"{"code":4,"timestamp":1,"shop_id":1,"data":{}}"#,
        )
        .unwrap();
        assert_eq!(other.kind, PushKind::Other);
    }
}
