//! Lazada Open Platform (LazOP): request signing and push signatures.
//!
//! **Request sign** (`marketplaces.md` §3.2):
//! 1. take **all** parameters (system + business, including POST form fields) except `sign` and
//!    file parameters, skipping empty values, sorted by name in ASCII order;
//! 2. `str = api_path + k1v1k2v2…` with raw, un-encoded values;
//! 3. append the raw body if the request carries one;
//! 4. `sign = HEX_UPPERCASE(HMAC-SHA256(app_secret, str))`.
//!
//! Timestamps are milliseconds since the epoch, accepted within 7200 s of UTC.
//!
//! **Push signature** (§3.9): header `Authorization` = `hex_lowercase(HMAC-SHA256(app_secret,
//! app_key + raw_body))`.

use crate::crypto;

mod client;
mod normalize;
pub use client::{Lazada, LazadaApp, country_currency};

/// Accepted distance of `timestamp` from now, in milliseconds.
pub const TIMESTAMP_WINDOW_MS: i64 = 7_200_000;

/// The string that is HMAC'd.
pub fn signed_string(api_path: &str, params: &[(&str, &str)], body: Option<&[u8]>) -> Vec<u8> {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(api_path.as_bytes());
    crypto::append_sorted(&mut out, params, |k, v| k != "sign" && !v.is_empty());
    if let Some(b) = body {
        out.extend_from_slice(b);
    }
    out
}

/// The `sign` parameter (uppercase hex).
pub fn sign(
    app_secret: &str,
    api_path: &str,
    params: &[(&str, &str)],
    body: Option<&[u8]>,
) -> String {
    crypto::hmac_hex_upper(
        app_secret.as_bytes(),
        &[&signed_string(api_path, params, body)],
    )
}

/// Why a signed request was refused (Lazada's codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// `IncompleteSignature`: the signature does not match.
    #[error("IncompleteSignature")]
    BadSignature,
    /// `InvalidTimestamp` / `MissingParameter`: no usable timestamp, or outside ±7200 s.
    #[error("timestamp outside the accepted window")]
    TimestampOutsideWindow,
}

/// Checks `sign` (constant time) and the `timestamp` window (ms), as Lazada does.
pub fn verify_request(
    app_secret: &str,
    api_path: &str,
    params: &[(&str, &str)],
    body: Option<&[u8]>,
    now_ms: i64,
) -> Result<(), SignError> {
    let ts = crypto::param(params, "timestamp")
        .and_then(|v| v.parse::<i64>().ok())
        .ok_or(SignError::TimestampOutsideWindow)?;
    if (now_ms - ts).abs() > TIMESTAMP_WINDOW_MS {
        return Err(SignError::TimestampOutsideWindow);
    }
    let presented = crypto::param(params, "sign").ok_or(SignError::BadSignature)?;
    if crypto::verify_hex(
        app_secret.as_bytes(),
        &[&signed_string(api_path, params, body)],
        presented,
    ) {
        Ok(())
    } else {
        Err(SignError::BadSignature)
    }
}

/// The `Authorization` header of a push.
pub fn push_signature(app_key: &str, app_secret: &str, raw_body: &[u8]) -> String {
    crypto::hmac_hex_lower(app_secret.as_bytes(), &[app_key.as_bytes(), raw_body])
}

/// Verifies a push's `Authorization` header in constant time.
pub fn verify_push(app_key: &str, app_secret: &str, raw_body: &[u8], authorization: &str) -> bool {
    crypto::verify_hex(
        app_secret.as_bytes(),
        &[app_key.as_bytes(), raw_body],
        authorization,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: [(&str, &str); 5] = [
        ("app_key", "123456"),
        ("access_token", "test"),
        ("timestamp", "1517820392000"),
        ("sign_method", "sha256"),
        ("order_id", "1234"),
    ];

    #[test]
    fn the_official_get_order_example() {
        // marketplaces.md §7 (Lazada "HTTP request sample", GetOrder).
        assert_eq!(
            String::from_utf8_lossy(&signed_string("/order/get", &EXAMPLE, None)),
            "/order/getaccess_tokentestapp_key123456order_id1234sign_methodsha256timestamp1517820392000"
        );
        assert_eq!(
            sign("helloworld", "/order/get", &EXAMPLE, None),
            "4190D32361CFB9581350222F345CB77F3B19F0E31D162316848A2C1FFD5FAB4A"
        );
    }

    #[test]
    fn empty_values_and_sign_are_skipped_and_order_does_not_matter() {
        let mut shuffled = EXAMPLE.to_vec();
        shuffled.reverse();
        shuffled.push(("sign", "whatever"));
        shuffled.push(("status", ""));
        assert_eq!(
            sign("helloworld", "/order/get", &shuffled, None),
            sign("helloworld", "/order/get", &EXAMPLE, None)
        );
    }

    #[test]
    fn values_are_signed_raw_and_bodies_appended() {
        let p = [
            ("app_key", "1"),
            ("payload", "<Request><Sku qty=\"1\"/></Request>"),
            ("q", "a b&c"),
        ];
        assert_eq!(
            String::from_utf8_lossy(&signed_string(
                "/product/price_quantity/update",
                &p,
                Some(b"{}")
            )),
            "/product/price_quantity/updateapp_key1payload<Request><Sku qty=\"1\"/></Request>qa b&c{}"
        );
        let s = sign("k", "/x", &p, None);
        assert!(
            s.chars().all(|c| !c.is_ascii_lowercase()),
            "Lazada signs in uppercase hex"
        );
    }

    #[test]
    fn verification_checks_window_in_milliseconds_and_every_byte() {
        let now = 1_517_820_392_000_i64;
        let s = sign("helloworld", "/order/get", &EXAMPLE, None);
        let mut with = EXAMPLE.to_vec();
        with.push(("sign", &s));
        assert_eq!(
            verify_request("helloworld", "/order/get", &with, None, now + 7_200_000),
            Ok(())
        );
        assert_eq!(
            verify_request("helloworld", "/order/get", &with, None, now + 7_200_001),
            Err(SignError::TimestampOutsideWindow)
        );
        let mut tampered = with.clone();
        tampered[4] = ("order_id", "1235");
        assert_eq!(
            verify_request("helloworld", "/order/get", &tampered, None, now),
            Err(SignError::BadSignature)
        );
    }

    #[test]
    fn push_signature_is_app_key_plus_body_in_lowercase() {
        let body = br#"{"seller_id":"1234567","message_type":0,"data":{"order_status":"unpaid","trade_order_id":"260422900198363","trade_order_line_id":"260422900298363","status_update_time":1603698638},"timestamp":1603766859530,"site":"lazada_vn"}"#;
        let sig = push_signature("123456", "helloworld", body);
        assert_eq!(
            sig,
            crypto::hmac_hex_lower(b"helloworld", &[b"123456", body])
        );
        assert!(verify_push("123456", "helloworld", body, &sig));
        assert!(!verify_push("123456", "helloworld", b"{}", &sig));
    }
}
