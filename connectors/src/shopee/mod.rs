//! Shopee Open Platform v2: request signing and push (webhook) signatures.
//!
//! **Request sign** (`marketplaces.md` §1.2): the base string is a plain concatenation, nothing
//! sorted, no separators:
//!
//! | API kind | base string |
//! |---|---|
//! | public (incl. `/api/v2/auth/token/get`, `/api/v2/auth/access_token/get`) | `partner_id + api_path + timestamp` |
//! | shop | `partner_id + api_path + timestamp + access_token + shop_id` |
//! | merchant | `partner_id + api_path + timestamp + access_token + merchant_id` |
//!
//! `sign = hex_lowercase(HMAC-SHA256(partner_key as given (not hex-decoded), base))`. Query and body
//! parameters are not signed. Timestamps are unix seconds, accepted within 5 minutes.
//!
//! **Push signature** (§1.9): header `Authorization` = `hex_lowercase(HMAC-SHA256(partner_key,
//! callback_url + "|" + raw_body))`, with the callback URL exactly as registered (query included).

use crate::crypto;

mod client;
mod normalize;
mod wire;
pub use client::{Shopee, ShopeeApp, region_currency};

/// Requests must be made within this many seconds of their timestamp.
pub const TIMESTAMP_WINDOW_SECS: i64 = 300;

/// Which identity a call is signed for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Identity<'a> {
    /// Public APIs (and the auth token endpoints, even though their body holds a shop id).
    Public,
    /// Shop APIs.
    Shop {
        /// The shop's access token.
        access_token: &'a str,
        /// The shop id.
        shop_id: u64,
    },
    /// Merchant APIs.
    Merchant {
        /// The merchant's access token.
        access_token: &'a str,
        /// The merchant id.
        merchant_id: u64,
    },
}

/// Paths signed with the public base string whatever identity the call is for.
pub const PUBLIC_SIGNED_PATHS: [&str; 2] =
    ["/api/v2/auth/token/get", "/api/v2/auth/access_token/get"];

/// The identity to sign `api_path` with: [`Identity::Public`] for the auth endpoints.
pub fn identity_for<'a>(api_path: &str, identity: Identity<'a>) -> Identity<'a> {
    if PUBLIC_SIGNED_PATHS.contains(&api_path) {
        Identity::Public
    } else {
        identity
    }
}

/// The documented base string.
pub fn base_string(
    partner_id: u64,
    api_path: &str,
    timestamp: i64,
    identity: Identity<'_>,
) -> String {
    match identity {
        Identity::Public => format!("{partner_id}{api_path}{timestamp}"),
        Identity::Shop {
            access_token,
            shop_id,
        } => format!("{partner_id}{api_path}{timestamp}{access_token}{shop_id}"),
        Identity::Merchant {
            access_token,
            merchant_id,
        } => format!("{partner_id}{api_path}{timestamp}{access_token}{merchant_id}"),
    }
}

/// The `sign` query parameter of a request.
pub fn sign(
    partner_key: &str,
    partner_id: u64,
    api_path: &str,
    timestamp: i64,
    identity: Identity<'_>,
) -> String {
    let identity = identity_for(api_path, identity);
    let base = base_string(partner_id, api_path, timestamp, identity);
    crypto::hmac_hex_lower(partner_key.as_bytes(), &[base.as_bytes()])
}

/// Checks a request's `sign` (constant time) and its timestamp window, as Shopee does.
pub fn verify_request(
    partner_key: &str,
    partner_id: u64,
    api_path: &str,
    timestamp: i64,
    identity: Identity<'_>,
    presented_sign: &str,
    now: i64,
) -> Result<(), SignError> {
    if (now - timestamp).abs() > TIMESTAMP_WINDOW_SECS {
        return Err(SignError::TimestampOutsideWindow);
    }
    let identity = identity_for(api_path, identity);
    let base = base_string(partner_id, api_path, timestamp, identity);
    if crypto::verify_hex(partner_key.as_bytes(), &[base.as_bytes()], presented_sign) {
        Ok(())
    } else {
        Err(SignError::BadSignature)
    }
}

/// The `Authorization` header Shopee puts on a push to `callback_url`.
pub fn push_signature(partner_key: &str, callback_url: &str, raw_body: &[u8]) -> String {
    crypto::hmac_hex_lower(
        partner_key.as_bytes(),
        &[callback_url.as_bytes(), b"|", raw_body],
    )
}

/// Verifies a push's `Authorization` header in constant time (Shopee pushes carry no timestamp
/// in the signature; dedupe on the envelope).
pub fn verify_push(
    partner_key: &str,
    callback_url: &str,
    raw_body: &[u8],
    authorization: &str,
) -> bool {
    crypto::verify_hex(
        partner_key.as_bytes(),
        &[callback_url.as_bytes(), b"|", raw_body],
        authorization,
    )
}

/// Why a signed request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// The signature does not match.
    #[error("wrong sign")]
    BadSignature,
    /// The timestamp is outside the platform's window.
    #[error("timestamp outside the accepted window")]
    TimestampOutsideWindow,
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "4a6e2f5b9c1d3e7f8a0b2c4d6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d2e4f";

    #[test]
    fn shop_sign_is_hmac_of_the_plain_concatenation_in_lowercase_hex() {
        let id = Identity::Shop {
            access_token: "tok",
            shop_id: 123_456,
        };
        let s = sign(KEY, 2001, "/api/v2/order/get_order_list", 1_700_000_000, id);
        assert_eq!(
            s,
            crypto::hmac_hex_lower(
                KEY.as_bytes(),
                &[b"2001/api/v2/order/get_order_list1700000000tok123456"]
            )
        );
        assert_eq!(s.len(), 64);
        assert!(
            s.chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }

    #[test]
    fn the_partner_key_is_used_as_text_not_hex_decoded() {
        let decoded = hex::decode(KEY).unwrap_or_default();
        let base = b"2001/api/v2/shop/auth_partner1700000000";
        let s = sign(
            KEY,
            2001,
            "/api/v2/shop/auth_partner",
            1_700_000_000,
            Identity::Public,
        );
        assert_eq!(s, crypto::hmac_hex_lower(KEY.as_bytes(), &[base]));
        assert_ne!(s, crypto::hmac_hex_lower(&decoded, &[base]));
    }

    #[test]
    fn auth_endpoints_use_the_public_base_string_and_merchants_their_id() {
        let shop = Identity::Shop {
            access_token: "tok",
            shop_id: 9,
        };
        assert_eq!(
            sign(KEY, 1, "/api/v2/auth/token/get", 5, shop),
            sign(KEY, 1, "/api/v2/auth/token/get", 5, Identity::Public)
        );
        let m = Identity::Merchant {
            access_token: "tok",
            merchant_id: 77,
        };
        assert_eq!(
            base_string(1, "/api/v2/merchant/get_merchant_info", 5, m),
            "1/api/v2/merchant/get_merchant_info5tok77"
        );
    }

    #[test]
    fn verification_rejects_any_change_and_stale_timestamps() {
        let id = Identity::Shop {
            access_token: "tok",
            shop_id: 1,
        };
        let good = sign(KEY, 2001, "/api/v2/product/update_stock", 1_000, id);
        assert_eq!(
            verify_request(
                KEY,
                2001,
                "/api/v2/product/update_stock",
                1_000,
                id,
                &good,
                1_100
            ),
            Ok(())
        );
        assert_eq!(
            verify_request(
                KEY,
                2001,
                "/api/v2/product/update_stock",
                1_000,
                id,
                &good.to_uppercase(),
                1_100
            ),
            Ok(()),
            "hex case does not matter to the comparison"
        );
        let other = Identity::Shop {
            access_token: "tok",
            shop_id: 2,
        };
        assert_eq!(
            verify_request(
                KEY,
                2001,
                "/api/v2/product/update_stock",
                1_000,
                other,
                &good,
                1_100
            ),
            Err(SignError::BadSignature)
        );
        assert_eq!(
            verify_request(
                KEY,
                2001,
                "/api/v2/product/update_stock",
                1_000,
                id,
                &good,
                1_301
            ),
            Err(SignError::TimestampOutsideWindow)
        );
    }

    #[test]
    fn push_signature_covers_url_bar_body() {
        let body = br#"{"data":{"items":[],"ordersn":"220810QSK8S7BX","status":"PROCESSED","completed_scenario":"","update_time":1660123127},"shop_id":727720655,"code":3,"timestamp":1660123127}"#;
        let url = "https://hooks.example.com/shopee?store=1";
        let sig = push_signature(KEY, url, body);
        assert_eq!(
            sig,
            crypto::hmac_hex_lower(KEY.as_bytes(), &[format!("{url}|").as_bytes(), body])
        );
        assert!(verify_push(KEY, url, body, &sig));
        assert!(
            !verify_push(KEY, "https://hooks.example.com/shopee", body, &sig),
            "query string is signed"
        );
        let mut changed = body.to_vec();
        changed[10] ^= 1;
        assert!(!verify_push(KEY, url, &changed, &sig));
        assert!(!verify_push(KEY, url, body, "SHA256 deadbeef"));
    }
}
