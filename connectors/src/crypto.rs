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

/// The value of `name` among request parameters.
pub fn param<'a>(params: &[(&str, &'a str)], name: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| *k == name).map(|(_, v)| *v)
}

/// Appends `key + value` for the kept parameters, sorted by key in byte order (TikTok, Lazada).
pub fn append_sorted(
    out: &mut Vec<u8>,
    params: &[(&str, &str)],
    keep: impl Fn(&str, &str) -> bool,
) {
    let mut kept: Vec<&(&str, &str)> = params.iter().filter(|(k, v)| keep(k, v)).collect();
    kept.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    for (k, v) in kept {
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(v.as_bytes());
    }
}
