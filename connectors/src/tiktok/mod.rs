//! TikTok Shop Open API (202309+): request signing and webhook signatures.
//!
//! **Request sign** (`marketplaces.md` §2.2):
//! 1. take the query parameters except `sign` and `access_token`, sorted by key (byte order);
//! 2. `input = path + concat(key + value)` with raw (not URL-encoded) values;
//! 3. unless the body is multipart/form-data, append the exact body bytes;
//! 4. wrap: `app_secret + input + app_secret`;
//! 5. `sign = hex_lowercase(HMAC-SHA256(app_secret, wrapped))`.
//!
//! The access token travels in the `x-tts-access-token` header and is not signed. Timestamps are
//! unix seconds, accepted in `[now − 300 s, now + 30 s]`.
//!
//! **Webhook signature** (§2.9, from EcomPHP; the official guide gives no formula): header
//! `Authorization` = `hex_lowercase(HMAC-SHA256(app_secret, app_key + raw_body))`. No timestamp is
//! signed: dedupe on `tts_notification_id`.

use crate::crypto;

mod client;
pub use client::{Tiktok, TiktokApp};

/// Oldest accepted timestamp, seconds before now.
pub const MAX_AGE_SECS: i64 = 300;
/// Latest accepted timestamp, seconds after now.
pub const MAX_SKEW_AHEAD_SECS: i64 = 30;

/// The string that is HMAC'd (already wrapped in the secret).
pub fn wrapped_input(
    app_secret: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(app_secret.as_bytes());
    out.extend_from_slice(path.as_bytes());
    crypto::append_sorted(&mut out, query, |k, _| k != "sign" && k != "access_token");
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out.extend_from_slice(app_secret.as_bytes());
    out
}

/// The `sign` query parameter. `body` is the exact request body; pass `None` for GET and for
/// multipart/form-data uploads (whose body is not signed).
pub fn sign(app_secret: &str, path: &str, query: &[(&str, &str)], body: Option<&[u8]>) -> String {
    let input = wrapped_input(app_secret, path, query, body);
    crypto::hmac_hex_lower(app_secret.as_bytes(), &[&input])
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The signature does not match.
    #[error("wrong sign")]
    BadSignature,
    /// The timestamp is outside `[now − 300 s, now + 30 s]`.
    #[error("timestamp outside the accepted window")]
    TimestampOutsideWindow,
}

/// Checks a request's `sign` (constant time) and its `timestamp` window, as TikTok does.
pub fn verify_request(
    app_secret: &str,
    path: &str,
    query: &[(&str, &str)],
    body: Option<&[u8]>,
    now: i64,
) -> Result<(), SignError> {
    let ts = crypto::param(query, "timestamp")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(SignError::TimestampOutsideWindow)?;
    if ts < now - MAX_AGE_SECS || ts > now + MAX_SKEW_AHEAD_SECS {
        return Err(SignError::TimestampOutsideWindow);
    }
    let presented = crypto::param(query, "sign").ok_or(SignError::BadSignature)?;
    let input = wrapped_input(app_secret, path, query, body);
    if crypto::verify_hex(app_secret.as_bytes(), &[&input], presented) {
        Ok(())
    } else {
        Err(SignError::BadSignature)
    }
}

/// The `Authorization` header of a webhook delivery.
pub fn webhook_signature(app_key: &str, app_secret: &str, raw_body: &[u8]) -> String {
    crypto::hmac_hex_lower(app_secret.as_bytes(), &[app_key.as_bytes(), raw_body])
}

/// Verifies a webhook's `Authorization` header in constant time.
pub fn verify_webhook(
    app_key: &str,
    app_secret: &str,
    raw_body: &[u8],
    authorization: &str,
) -> bool {
    crypto::verify_hex(
        app_secret.as_bytes(),
        &[app_key.as_bytes(), raw_body],
        authorization,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_official_walkthrough_example() {
        // marketplaces.md §7 (TikTok Shop "Sign your API request").
        let q = [("app_key", "29a39d"), ("timestamp", "1623812664")];
        let input = wrapped_input("e59af819cc", "/authorization/202309/shops", &q, None);
        assert_eq!(
            String::from_utf8_lossy(&input),
            "e59af819cc/authorization/202309/shopsapp_key29a39dtimestamp1623812664e59af819cc"
        );
        assert_eq!(
            sign("e59af819cc", "/authorization/202309/shops", &q, None),
            "b596b73e0cc6de07ac26f036364178ab16b0a907af13d43f0a0cd2345f582dc8"
        );
    }

    #[test]
    fn order_of_parameters_does_not_matter_and_sign_and_token_are_excluded() {
        let a = [
            ("timestamp", "1623812664"),
            ("shop_cipher", "ROW_x"),
            ("app_key", "29a39d"),
        ];
        let b = [
            ("app_key", "29a39d"),
            ("access_token", "TTP_secret"),
            ("shop_cipher", "ROW_x"),
            ("sign", "ignored"),
            ("timestamp", "1623812664"),
        ];
        assert_eq!(
            sign("s", "/order/202309/orders", &a, None),
            sign("s", "/order/202309/orders", &b, None)
        );
        let input = wrapped_input("s", "/p", &a, None);
        assert_eq!(
            String::from_utf8_lossy(&input),
            "s/papp_key29a39dshop_cipherROW_xtimestamp1623812664s"
        );
    }

    #[test]
    fn a_post_body_is_signed_byte_for_byte_and_values_raw() {
        let q = [
            ("app_key", "k"),
            ("timestamp", "100"),
            ("page_size", "50"),
            ("note", "a b&c=d"),
        ];
        let body = br#"{"update_time_ge":1700000000}"#;
        let input = wrapped_input("s", "/order/202309/orders/search", &q, Some(body));
        assert_eq!(
            String::from_utf8_lossy(&input),
            r#"s/order/202309/orders/searchapp_keyknotea b&c=dpage_size50timestamp100{"update_time_ge":1700000000}s"#
        );
        let with = sign("s", "/x", &q, Some(body));
        let spaced = sign("s", "/x", &q, Some(br#"{"update_time_ge": 1700000000}"#));
        assert_ne!(with, spaced, "re-serialised JSON changes the sign");
        assert_ne!(
            with,
            sign("s", "/x", &q, None),
            "multipart bodies are not signed; JSON ones are"
        );
        assert!(with.chars().all(|c| !c.is_ascii_uppercase()));
    }

    #[test]
    fn verification_enforces_the_asymmetric_window_and_every_byte() {
        let path = "/product/202309/products/search";
        let mk = |ts: &str| {
            let base = [("app_key", "k"), ("timestamp", ts)];
            let s = sign("s", path, &base, Some(b"{}"));
            (ts.to_owned(), s)
        };
        let now = 1_000_000;
        for (offset, ok) in [(-300, true), (-301, false), (30, true), (31, false)] {
            let (ts, s) = mk(&(now + offset).to_string());
            let q = [
                ("app_key", "k"),
                ("timestamp", ts.as_str()),
                ("sign", s.as_str()),
            ];
            assert_eq!(
                verify_request("s", path, &q, Some(b"{}"), now).is_ok(),
                ok,
                "offset {offset}"
            );
        }
        let (ts, s) = mk(&now.to_string());
        let q = [
            ("app_key", "k"),
            ("timestamp", ts.as_str()),
            ("sign", s.as_str()),
        ];
        assert_eq!(
            verify_request("s", path, &q, Some(b"{ }"), now),
            Err(SignError::BadSignature)
        );
        assert_eq!(
            verify_request("t", path, &q, Some(b"{}"), now),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn webhook_signature_is_app_key_plus_body() {
        let body = br#"{"type":1,"tts_notification_id":"7327112393057371910","shop_id":"7494049642642441621","timestamp":1644412885,"data":{"order_id":"576486316948490001","order_status":"UNPAID","is_on_hold_order":false,"update_time":1644412885}}"#;
        let sig = webhook_signature("29a39d", "e59af819cc", body);
        assert_eq!(
            sig,
            crypto::hmac_hex_lower(b"e59af819cc", &[b"29a39d", body])
        );
        assert!(verify_webhook("29a39d", "e59af819cc", body, &sig));
        assert!(!verify_webhook("other", "e59af819cc", body, &sig));
        assert!(!verify_webhook("29a39d", "e59af819cc", &body[1..], &sig));
    }
}
