//! Opaque bearer secrets (refresh tokens, partner API tokens): a recognisable prefix, random
//! base62 body and a base62 checksum, so a mistyped or truncated token is rejected before any
//! database query. Only the SHA-256 of a secret is ever stored.

use rand::Rng;
use rand::distr::Alphanumeric;
use secrecy::SecretString;
use sha2::{Digest, Sha256};

/// Prefix of partner API tokens.
pub const API_TOKEN_PREFIX: &str = "mrc_";
/// Prefix of refresh tokens.
pub const REFRESH_TOKEN_PREFIX: &str = "mrt_";

const BODY_LEN: usize = 40;
const CHECKSUM_LEN: usize = 6;
const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// A freshly generated secret: the text shown once, and what is stored.
pub struct Generated {
    /// The full token, shown to its owner exactly once.
    pub secret: SecretString,
    /// SHA-256 of the full token.
    pub hash: [u8; 32],
    /// The first characters, safe to display ("mrc_AbC1…").
    pub display_prefix: String,
}

fn checksum(prefix_and_body: &str) -> String {
    let digest = Sha256::digest(prefix_and_body.as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut out = [b'0'; CHECKSUM_LEN];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    out.iter().map(|&b| char::from(b)).collect()
}

/// SHA-256 of a token as stored.
pub fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Generates a new secret with `prefix` (about 238 bits of randomness).
pub fn generate(prefix: &str) -> Generated {
    let body: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(BODY_LEN)
        .map(char::from)
        .collect();
    let head = format!("{prefix}{body}");
    let token = format!("{head}{}", checksum(&head));
    Generated {
        hash: hash(&token),
        display_prefix: token[..prefix.len() + 4].to_owned(),
        secret: SecretString::from(token),
    }
}

/// Checks shape and checksum of a presented token; returns its hash when well-formed.
pub fn parse(prefix: &str, token: &str) -> Option<[u8; 32]> {
    let rest = token.strip_prefix(prefix)?;
    if rest.len() != BODY_LEN + CHECKSUM_LEN || !rest.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return None;
    }
    let (head, sum) = token.split_at(prefix.len() + BODY_LEN);
    (checksum(head) == sum).then(|| hash(token))
}

/// Hex form of a hash, as the `app.token_hash` setting expects.
pub fn hex(hash: &[u8; 32]) -> String {
    hex::encode(hash)
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn generated_tokens_parse_and_any_change_is_caught() {
        let g = generate(API_TOKEN_PREFIX);
        let t = g.secret.expose_secret().to_owned();
        assert!(t.starts_with("mrc_"));
        assert_eq!(t.len(), 4 + BODY_LEN + CHECKSUM_LEN);
        assert_eq!(parse(API_TOKEN_PREFIX, &t), Some(g.hash));
        assert_eq!(parse(REFRESH_TOKEN_PREFIX, &t), None);
        // Flip each character of the body: the checksum catches it.
        for i in 4..t.len() {
            let mut b = t.clone().into_bytes();
            b[i] = if b[i] == b'a' { b'b' } else { b'a' };
            let changed = String::from_utf8(b).unwrap_or_default();
            assert_eq!(parse(API_TOKEN_PREFIX, &changed), None, "position {i}");
        }
        assert_eq!(parse(API_TOKEN_PREFIX, &t[..t.len() - 1]), None);
        assert_eq!(parse(API_TOKEN_PREFIX, ""), None);
    }
}
