//! HMAC-SHA256 helpers shared by the platform signers.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

fn mac(key: &[u8], parts: &[&[u8]]) -> HmacSha256 {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    for p in parts {
        m.update(p);
    }
    m
}

/// HMAC-SHA256 of the concatenated `parts`, as lowercase hex.
pub fn hmac_hex_lower(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode(mac(key, parts).finalize().into_bytes())
}

/// HMAC-SHA256 of the concatenated `parts`, as uppercase hex.
pub fn hmac_hex_upper(key: &[u8], parts: &[&[u8]]) -> String {
    hex::encode_upper(mac(key, parts).finalize().into_bytes())
}

/// Checks a hex signature (either case) against HMAC-SHA256 of `parts` in constant time.
pub fn verify_hex(key: &[u8], parts: &[&[u8]], presented: &str) -> bool {
    let Ok(bytes) = hex::decode(presented.trim()) else {
        return false;
    };
    mac(key, parts).verify_slice(&bytes).is_ok()
}
