//! Argon2id password hashing. Hashing is CPU-heavy, so it runs on the blocking pool.

use crate::error::{AppError, AppResult};
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use secrecy::{ExposeSecret, SecretString};
use std::sync::LazyLock;

/// Shortest accepted password.
pub const MIN_LEN: usize = 10;
/// Longest accepted password (bounds hashing cost per request).
pub const MAX_LEN: usize = 256;

// Verified against when the e-mail is unknown, so both paths take the same time.
static DUMMY_HASH: LazyLock<Option<String>> = LazyLock::new(|| {
    Argon2::default()
        .hash_password(b"mercato-dummy-password", &SaltString::generate(&mut OsRng))
        .ok()
        .map(|h| h.to_string())
});

/// Checks the password policy.
pub fn validate(password: &SecretString) -> AppResult<()> {
    let len = password.expose_secret().chars().count();
    if len < MIN_LEN {
        return Err(AppError::invalid(
            "input.password",
            format!("password must be at least {MIN_LEN} characters"),
        ));
    }
    if len > MAX_LEN {
        return Err(AppError::invalid(
            "input.password",
            format!("password must be at most {MAX_LEN} characters"),
        ));
    }
    Ok(())
}

/// Hashes a password into an Argon2id PHC string.
pub async fn hash(password: SecretString) -> AppResult<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(
                password.expose_secret().as_bytes(),
                &SaltString::generate(&mut OsRng),
            )
            .map(|h| h.to_string())
            .map_err(AppError::internal)
    })
    .await
    .map_err(AppError::internal)?
}

/// Verifies a password against a stored hash; with `None`, burns the same time and fails.
pub async fn verify(password: SecretString, stored: Option<String>) -> AppResult<bool> {
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let Some(phc) = stored.or_else(|| DUMMY_HASH.clone()) else {
            return Err(AppError::internal("dummy hash unavailable"));
        };
        let parsed = PasswordHash::new(&phc).map_err(AppError::internal)?;
        let ok = Argon2::default()
            .verify_password(password.expose_secret().as_bytes(), &parsed)
            .is_ok();
        Ok(known && ok)
    })
    .await
    .map_err(AppError::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_right_password() {
        let h = hash("correct horse battery".to_owned().into())
            .await
            .expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify("correct horse battery".to_owned().into(), Some(h.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !verify("wrong horse battery".to_owned().into(), Some(h))
                .await
                .expect("verify")
        );
        assert!(
            !verify("correct horse battery".to_owned().into(), None)
                .await
                .expect("verify")
        );
    }

    #[test]
    fn policy_rejects_short_and_huge_passwords() {
        assert!(validate(&"short".to_owned().into()).is_err());
        assert!(validate(&"x".repeat(300).into()).is_err());
        assert!(validate(&"long enough pw".to_owned().into()).is_ok());
    }
}
