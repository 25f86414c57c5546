//! Access tokens: HS256 JWTs with `kid`, `iss`, `aud`, `sub`, `exp`, `nbf` — all checked.
//!
//! Only HS256 is accepted (no `none`, no algorithm chosen by the token); the key is chosen by the
//! token's `kid` from the configured key ring, so a second key can be added for rotation.

use crate::auth::Principal;
use crate::config::Config;
use crate::error::{AppError, AppResult};
use crate::ids::{OrgId, UserId};
use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::Duration;
use uuid::Uuid;

/// Claims of a Mercato access token.
#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    iss: String,
    aud: String,
    sub: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    org: Option<Uuid>,
    iat: i64,
    nbf: i64,
    exp: i64,
    jti: Uuid,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    /// The compact JWT.
    pub token: String,
    /// When it stops being accepted.
    pub expires_at: DateTime<Utc>,
}

/// Signing and verification keys.
pub struct JwtKeys {
    signing_kid: String,
    signing: EncodingKey,
    verifying: HashMap<String, DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl JwtKeys {
    /// Builds the key ring from configuration.
    pub fn from_config(cfg: &Config) -> Self {
        let mut verifying = HashMap::new();
        for k in std::iter::once(&cfg.jwt_signing_key).chain(cfg.jwt_verify_keys.iter()) {
            verifying.insert(k.kid.clone(), DecodingKey::from_secret(&k.key));
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&cfg.jwt_issuer]);
        validation.set_audience(&[&cfg.jwt_audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.validate_nbf = true;
        validation.leeway = 5;
        Self {
            signing_kid: cfg.jwt_signing_key.kid.clone(),
            signing: EncodingKey::from_secret(&cfg.jwt_signing_key.key),
            verifying,
            validation,
            issuer: cfg.jwt_issuer.clone(),
            audience: cfg.jwt_audience.clone(),
            ttl: cfg.access_token_ttl,
        }
    }

    /// Issues an access token for `user`, scoped to `org` when given.
    pub fn issue(&self, user: UserId, org: Option<OrgId>) -> AppResult<IssuedToken> {
        let now = Utc::now();
        let ttl = chrono::Duration::from_std(self.ttl).map_err(AppError::from_error)?;
        let expires_at = now + ttl;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.uuid(),
            org: org.map(OrgId::uuid),
            iat: now.timestamp(),
            nbf: now.timestamp(),
            exp: expires_at.timestamp(),
            jti: Uuid::now_v7(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.signing_kid.clone());
        let token =
            jsonwebtoken::encode(&header, &claims, &self.signing).map_err(AppError::from_error)?;
        Ok(IssuedToken { token, expires_at })
    }

    /// Verifies a token; every failure is the same `Unauthenticated`.
    pub fn verify(&self, token: &str) -> AppResult<Principal> {
        self.verify_until(token).map(|(p, _)| p)
    }

    /// Verifies an access token and returns its principal and expiry (Unix seconds).
    pub fn verify_until(&self, token: &str) -> AppResult<(Principal, i64)> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AppError::Unauthenticated)?;
        let key = header
            .kid
            .as_deref()
            .and_then(|kid| self.verifying.get(kid))
            .ok_or(AppError::Unauthenticated)?;
        let data = jsonwebtoken::decode::<Claims>(token, key, &self.validation)
            .map_err(|_| AppError::Unauthenticated)?;
        Ok((
            Principal::user(UserId(data.claims.sub), data.claims.org.map(OrgId)),
            data.claims.exp,
        ))
    }
}
