//! Store credentials at rest: AES-256-GCM with the key id inside the envelope (for rotation) and
//! the organization and store ids as associated data, so a ciphertext copied to another row or
//! tenant does not decrypt.
//!
//! Envelope: `0x01 | kid_len (1 byte) | kid | nonce (12 bytes) | ciphertext+tag`.

use crate::config::Config;
use crate::ids::{OrgId, StoreId};
use aes_gcm::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use secrecy::SecretSlice;
use std::collections::HashMap;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 12;
/// What an envelope holds: part of its associated data, so a token envelope copied into the
/// credentials column (or the other way round) does not decrypt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sealed {
    /// Credentials a seller pasted (`stores.credentials`).
    Credentials,
    /// Marketplace access and refresh tokens (`store_tokens.sealed`).
    Tokens,
}

impl Sealed {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Credentials => b"mercato/store-credentials/v1",
            Self::Tokens => b"mercato/store-tokens/v1",
        }
    }
}

/// Why credentials could not be decrypted. Deliberately uninformative.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CredentialError {
    /// Wrong format or version.
    #[error("malformed credentials envelope")]
    Malformed,
    /// The envelope names a key we do not hold.
    #[error("unknown credentials key id")]
    UnknownKey,
    /// Authentication failed: tampered, or bound to another org/store.
    #[error("credentials failed to decrypt")]
    Decrypt,
}

/// Encrypts with the active key; decrypts with any configured key.
pub struct CredentialCipher {
    active_kid: String,
    keys: HashMap<String, Aes256Gcm>,
}

fn aad(what: Sealed, org: OrgId, store: StoreId) -> Vec<u8> {
    let label = what.label();
    let mut aad = Vec::with_capacity(label.len() + 32);
    aad.extend_from_slice(label);
    aad.extend_from_slice(org.uuid().as_bytes());
    aad.extend_from_slice(store.uuid().as_bytes());
    aad
}

impl CredentialCipher {
    /// Builds the cipher from configuration (keys were length-checked there).
    pub fn from_config(cfg: &Config) -> Self {
        let mut keys = HashMap::new();
        for k in std::iter::once(&cfg.credentials_key).chain(cfg.credentials_old_keys.iter()) {
            // Length was checked (exactly 32 bytes) when the configuration was validated.
            if let Ok(cipher) = Aes256Gcm::new_from_slice(&k.key) {
                keys.insert(k.kid.clone(), cipher);
            }
        }
        Self {
            active_kid: cfg.credentials_key.kid.clone(),
            keys,
        }
    }

    /// Encrypts credentials for one store of one organization.
    pub fn encrypt(
        &self,
        org: OrgId,
        store: StoreId,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CredentialError> {
        self.encrypt_as(Sealed::Credentials, org, store, plaintext)
    }

    /// Decrypts credentials written for exactly this org and store.
    pub fn decrypt(
        &self,
        org: OrgId,
        store: StoreId,
        envelope: &[u8],
    ) -> Result<SecretSlice<u8>, CredentialError> {
        self.decrypt_as(Sealed::Credentials, org, store, envelope)
    }

    /// Encrypts `plaintext` of kind `what` for one store of one organization, with the active key.
    pub fn encrypt_as(
        &self,
        what: Sealed,
        org: OrgId,
        store: StoreId,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CredentialError> {
        let cipher = self
            .keys
            .get(&self.active_kid)
            .ok_or(CredentialError::UnknownKey)?;
        let nonce = Aes256Gcm::generate_nonce(&mut OsRng);
        let aad = aad(what, org, store);
        let ct = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad: &aad,
                },
            )
            .map_err(|_| CredentialError::Decrypt)?;
        let kid = self.active_kid.as_bytes();
        let kid_len = u8::try_from(kid.len()).map_err(|_| CredentialError::Malformed)?;
        let mut out = Vec::with_capacity(2 + kid.len() + NONCE_LEN + ct.len());
        out.push(VERSION);
        out.push(kid_len);
        out.extend_from_slice(kid);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Decrypts an envelope of kind `what` written for exactly this org and store, with whichever
    /// configured key its id names (rotation).
    pub fn decrypt_as(
        &self,
        what: Sealed,
        org: OrgId,
        store: StoreId,
        envelope: &[u8],
    ) -> Result<SecretSlice<u8>, CredentialError> {
        let (&version, rest) = envelope.split_first().ok_or(CredentialError::Malformed)?;
        if version != VERSION {
            return Err(CredentialError::Malformed);
        }
        let (&kid_len, rest) = rest.split_first().ok_or(CredentialError::Malformed)?;
        let kid_len = usize::from(kid_len);
        if rest.len() < kid_len + NONCE_LEN {
            return Err(CredentialError::Malformed);
        }
        let (kid, rest) = rest.split_at(kid_len);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| CredentialError::Malformed)?;
        let kid = std::str::from_utf8(kid).map_err(|_| CredentialError::Malformed)?;
        let cipher = self.keys.get(kid).ok_or(CredentialError::UnknownKey)?;
        let aad = aad(what, org, store);
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad: &aad })
            .map(SecretSlice::from)
            .map_err(|_| CredentialError::Decrypt)
    }
}

/// The id of the key an envelope was sealed with (`None` when malformed).
pub fn key_id(envelope: &[u8]) -> Option<&str> {
    let (&version, rest) = envelope.split_first()?;
    if version != VERSION {
        return None;
    }
    let (&len, rest) = rest.split_first()?;
    std::str::from_utf8(rest.get(..usize::from(len))?).ok()
}

impl CredentialCipher {
    /// The id of the key new envelopes are sealed with.
    pub fn active_key_id(&self) -> &str {
        &self.active_kid
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::KeyedSecret;
    use secrecy::ExposeSecret;

    fn cipher(active: (&str, u8), old: &[(&str, u8)]) -> CredentialCipher {
        let mut keys = HashMap::new();
        for (kid, byte) in std::iter::once(&active).chain(old.iter()) {
            let k = KeyedSecret {
                kid: (*kid).into(),
                key: vec![*byte; 32],
            };
            keys.insert(
                k.kid.clone(),
                Aes256Gcm::new_from_slice(&k.key).expect("32-byte key"),
            );
        }
        CredentialCipher {
            active_kid: active.0.into(),
            keys,
        }
    }

    #[test]
    fn round_trips_and_binds_to_org_and_store() {
        let c = cipher(("k1", 7), &[]);
        let (org, store) = (OrgId::new_v7(), StoreId::new_v7());
        let env = c.encrypt(org, store, b"secret").expect("encrypt");
        assert!(!env.windows(6).any(|w| w == b"secret"));
        assert_eq!(
            c.decrypt(org, store, &env)
                .expect("decrypt")
                .expose_secret(),
            b"secret"
        );
        assert_eq!(
            c.decrypt(org, StoreId::new_v7(), &env).err(),
            Some(CredentialError::Decrypt)
        );
        assert_eq!(
            c.decrypt(OrgId::new_v7(), store, &env).err(),
            Some(CredentialError::Decrypt)
        );
        let mut tampered = env.clone();
        let last = tampered.len() - 1;
        tampered[last] ^= 1;
        assert_eq!(
            c.decrypt(org, store, &tampered).err(),
            Some(CredentialError::Decrypt)
        );
        assert_eq!(
            c.decrypt(org, store, &env[..5]).err(),
            Some(CredentialError::Malformed)
        );
    }

    #[test]
    fn a_token_envelope_is_not_a_credentials_envelope() {
        let c = cipher(("k1", 7), &[]);
        let (org, store) = (OrgId::new_v7(), StoreId::new_v7());
        let env = c
            .encrypt_as(Sealed::Tokens, org, store, b"tok")
            .expect("encrypt");
        assert_eq!(
            c.decrypt(org, store, &env).err(),
            Some(CredentialError::Decrypt)
        );
        assert_eq!(
            c.decrypt_as(Sealed::Tokens, org, store, &env)
                .expect("decrypt")
                .expose_secret(),
            b"tok"
        );
    }

    /// The key id of an envelope (rotation tooling and tests).
    #[test]
    fn envelopes_name_their_key() {
        let c = cipher(("k9", 3), &[]);
        let env = c
            .encrypt_as(Sealed::Tokens, OrgId::new_v7(), StoreId::new_v7(), b"x")
            .expect("encrypt");
        assert_eq!(key_id(&env), Some("k9"));
    }

    #[test]
    fn rotated_keys_still_decrypt_old_envelopes() {
        let (org, store) = (OrgId::new_v7(), StoreId::new_v7());
        let old = cipher(("k1", 7), &[])
            .encrypt(org, store, b"x")
            .expect("encrypt");
        let rotated = cipher(("k2", 9), &[("k1", 7)]);
        assert_eq!(
            rotated
                .decrypt(org, store, &old)
                .expect("decrypt")
                .expose_secret(),
            b"x"
        );
        let fresh = rotated.encrypt(org, store, b"y").expect("encrypt");
        assert_eq!(&fresh[2..4], b"k2");
        assert_eq!(
            cipher(("k3", 1), &[]).decrypt(org, store, &old).err(),
            Some(CredentialError::UnknownKey)
        );
    }
}
