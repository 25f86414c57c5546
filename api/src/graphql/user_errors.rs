//! `userErrors`: expected failures of a mutation, returned in its payload (Shopify's convention).

use crate::error::AppError;
use async_graphql::{Enum, SimpleObject};

/// Machine-readable reason of a user error.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum UserErrorCode {
    /// The input is invalid.
    ValidationFailed,
    /// The change conflicts with existing data.
    Conflict,
    /// A referenced object does not exist or is not visible.
    NotFound,
    /// E-mail or password is wrong.
    InvalidCredentials,
    /// The refresh token is unknown, expired, revoked or was already used.
    InvalidRefreshToken,
    /// Not enough available stock.
    InsufficientStock,
    /// The marketplace refused the seller's authorization (a bad, used or revoked token).
    MarketplaceAuthFailed,
    /// The marketplace shop is connected to another organization (which one is never said).
    ShopConnectedElsewhere,
    /// The marketplace could not be reached or failed; retrying later may succeed.
    UpstreamError,
}

/// An expected failure of a mutation.
#[derive(SimpleObject, Debug, Clone)]
pub struct UserError {
    /// Path to the input field, e.g. `["input", "name"]`.
    pub field: Option<Vec<String>>,
    /// Stable code.
    pub code: UserErrorCode,
    /// Human-readable message.
    pub message: String,
}

/// Splits a domain result into the payload's object and user errors; unexpected errors
/// (authentication, permission, internal) become top-level GraphQL errors.
pub fn split<T>(result: Result<T, AppError>) -> async_graphql::Result<(Option<T>, Vec<UserError>)> {
    let err = match result {
        Ok(v) => return Ok((Some(v), Vec::new())),
        Err(e) => e,
    };
    let code = match &err {
        AppError::Validation { .. } => UserErrorCode::ValidationFailed,
        AppError::Conflict(_) => UserErrorCode::Conflict,
        AppError::NotFound(_) => UserErrorCode::NotFound,
        AppError::InvalidCredentials => UserErrorCode::InvalidCredentials,
        AppError::InvalidRefreshToken => UserErrorCode::InvalidRefreshToken,
        AppError::InsufficientStock(_) => UserErrorCode::InsufficientStock,
        AppError::MarketplaceAuth(_) => UserErrorCode::MarketplaceAuthFailed,
        AppError::ShopTaken => UserErrorCode::ShopConnectedElsewhere,
        AppError::Upstream(_) => UserErrorCode::UpstreamError,
        _ => return Err(err.into()),
    };
    let field = match &err {
        AppError::Validation { field: Some(f), .. } => {
            Some(f.split('.').map(str::to_owned).collect())
        }
        _ => None,
    };
    Ok((
        None,
        vec![UserError {
            field,
            code,
            message: err.public_message(),
        }],
    ))
}
