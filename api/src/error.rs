//! `AppError`: the one error type of the API, with a stable machine-readable code per variant.
//!
//! | variant | code | shown to the client |
//! |---|---|---|
//! | `Unauthenticated` | `UNAUTHENTICATED` | "authentication required" (HTTP 401 at the transport) |
//! | `InvalidCredentials` | `INVALID_CREDENTIALS` | "invalid e-mail or password" |
//! | `Forbidden` | `FORBIDDEN` | the reason |
//! | `NotFound` | `NOT_FOUND` | "<what> not found" — also for rows of other tenants |
//! | `Validation` | `VALIDATION_FAILED` | the message and field |
//! | `Conflict` | `CONFLICT` | the reason |
//! | `InvalidRefreshToken` | `INVALID_REFRESH_TOKEN` | "refresh token invalid, expired or revoked" |
//! | `RateLimited` | `RATE_LIMITED` | retry hint (`retryAfter` seconds; HTTP 429) |
//! | `Throttled` | `THROTTLED` | query cost bucket empty (`retryAfter` seconds) |
//! | `Limit` | `MAX_COST_EXCEEDED`, `MAX_DEPTH_EXCEEDED`, `TOO_MANY_ALIASES`, … | which limit |
//! | `TooManySubscriptions` | `TOO_MANY_SUBSCRIPTIONS` | the per-socket cap |
//! | `Upstream` | `UPSTREAM_ERROR` | the marketplace's failure, summarised |
//! | `MarketplaceAuth` | `MARKETPLACE_AUTH_FAILED` | the platform refused the seller's authorization |
//! | `ShopTaken` | `SHOP_CONNECTED_ELSEWHERE` | the shop belongs to another organization (which one is never said) |
//! | `Unavailable` | `SERVICE_UNAVAILABLE` | retry hint (`retryAfter` seconds; HTTP 503) |
//! | `Internal` | `INTERNAL` | only "internal error" and the request id; the detail is logged |
//!
//! `AppError` deliberately does not implement `Display`: that keeps async-graphql's blanket
//! `From<T: Display>` from turning it into an error without its code.

use async_graphql::ErrorExtensions as _;
use sea_orm::{DbErr, SqlErr};

/// Errors of the API and domain layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppError {
    /// No valid credentials.
    Unauthenticated,
    /// Log-in failed: unknown e-mail or wrong password (indistinguishable on purpose).
    InvalidCredentials,
    /// Authenticated but not allowed.
    Forbidden(String),
    /// The object does not exist or is not visible to the caller.
    NotFound(&'static str),
    /// Input rejected.
    Validation {
        /// Input field path, e.g. `input.name`.
        field: Option<String>,
        /// Human-readable reason.
        message: String,
    },
    /// The change conflicts with existing state.
    Conflict(String),
    /// Not enough available stock for a reservation or a stock decrease.
    InsufficientStock(String),
    /// The refresh token is unknown, expired, revoked or was already used.
    InvalidRefreshToken,
    /// The query cost bucket cannot pay for this query yet.
    Throttled {
        /// Seconds until the bucket holds enough.
        retry_after_secs: u64,
    },
    /// A query limit (cost, depth, aliases, batch, …) refused the request before execution.
    Limit {
        /// Stable code of the limit.
        code: &'static str,
        /// What was exceeded.
        message: String,
    },
    /// This WebSocket already carries the most subscriptions allowed.
    TooManySubscriptions,
    /// Too many requests.
    RateLimited {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A marketplace call failed.
    Upstream(String),
    /// The platform refused the authorization (a bad, used or revoked code or token).
    MarketplaceAuth(String),
    /// The marketplace shop is connected to another organization.
    ShopTaken,
    /// A dependency (Postgres) cannot be reached now; retrying later may succeed.
    Unavailable {
        /// Seconds until a retry may succeed.
        retry_after_secs: u64,
    },
    /// A bug or an unavailable dependency; the detail is for logs only.
    Internal(String),
}

/// Result alias for the domain layer.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// The stable code clients switch on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::InvalidCredentials => "INVALID_CREDENTIALS",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::NotFound(_) => "NOT_FOUND",
            Self::Validation { .. } => "VALIDATION_FAILED",
            Self::Conflict(_) => "CONFLICT",
            Self::InsufficientStock(_) => "INSUFFICIENT_STOCK",
            Self::InvalidRefreshToken => "INVALID_REFRESH_TOKEN",
            Self::Throttled { .. } => "THROTTLED",
            Self::Limit { code, .. } => code,
            Self::TooManySubscriptions => "TOO_MANY_SUBSCRIPTIONS",
            Self::RateLimited { .. } => "RATE_LIMITED",
            Self::Upstream(_) => "UPSTREAM_ERROR",
            Self::MarketplaceAuth(_) => "MARKETPLACE_AUTH_FAILED",
            Self::ShopTaken => "SHOP_CONNECTED_ELSEWHERE",
            Self::Unavailable { .. } => "SERVICE_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }

    /// The message shown to clients (never internal detail).
    pub fn public_message(&self) -> String {
        match self {
            Self::Unauthenticated => "authentication required".into(),
            Self::InvalidCredentials => "invalid e-mail or password".into(),
            Self::Forbidden(m) | Self::Conflict(m) | Self::InsufficientStock(m) => m.clone(),
            Self::NotFound(what) => format!("{what} not found"),
            Self::Validation { message, .. } => message.clone(),
            Self::RateLimited { retry_after_secs } => {
                format!("rate limited; retry after {retry_after_secs}s")
            }
            Self::InvalidRefreshToken => "refresh token invalid, expired or revoked".into(),
            Self::Throttled { retry_after_secs } => {
                format!(
                    "throttled: query cost exceeds the available budget; retry after {retry_after_secs}s"
                )
            }
            Self::Limit { message, .. } => message.clone(),
            Self::TooManySubscriptions => "too many subscriptions on this connection".into(),
            Self::Upstream(m) => format!("marketplace error: {m}"),
            Self::MarketplaceAuth(m) => format!("the marketplace refused the authorization: {m}"),
            Self::ShopTaken => "this marketplace shop is connected to another organization; it must be disconnected there first".into(),
            Self::Unavailable { retry_after_secs } => {
                format!("the service is unavailable; retry after {retry_after_secs}s")
            }
            Self::Internal(_) => "internal error".into(),
        }
    }

    /// A validation error on `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Validation {
            field: Some(field.to_owned()),
            message: message.into(),
        }
    }

    /// An internal error with detail for the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Self::Internal(detail.to_string())
    }

    /// An internal error caused by `err`, keeping its whole source chain for the log (never for
    /// the response): `outer: inner: root`.
    pub fn from_error(err: impl std::error::Error) -> Self {
        Self::Internal(chain(&err))
    }

    /// Whether a mutation reports this as a `userErrors` entry rather than a top-level error.
    pub fn is_user_error(&self) -> bool {
        matches!(
            self,
            Self::Validation { .. }
                | Self::Conflict(_)
                | Self::InsufficientStock(_)
                | Self::NotFound(_)
                | Self::InvalidCredentials
                | Self::InvalidRefreshToken
                | Self::MarketplaceAuth(_)
                | Self::ShopTaken
                | Self::Upstream(_)
        )
    }
}

impl From<DbErr> for AppError {
    fn from(err: DbErr) -> Self {
        match err.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                return Self::Conflict("an object with these values already exists".into());
            }
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
                return Self::Conflict(
                    "the object is still referenced, or refers to something that does not exist"
                        .into(),
                );
            }
            _ => {}
        }
        match &err {
            DbErr::RecordNotFound(_) => return Self::NotFound("object"),
            // No connection could be had, or the one in use broke: the database is unreachable
            // (or saturated), which a retry may cure.
            DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => {
                tracing::warn!(error = %err, "database unavailable");
                return Self::Unavailable {
                    retry_after_secs: 2,
                };
            }
            _ => {}
        }
        let text = err.to_string();
        // The shop registry's trigger (migration 000009): another organization holds this shop.
        if text.contains("shop_claimed_elsewhere") {
            return Self::ShopTaken;
        }
        // 40P01 / 40001: the database chose this transaction as the loser of a collision with a
        // concurrent one. Nothing was applied; the client may retry.
        if text.contains("deadlock detected") || text.contains("could not serialize access") {
            tracing::warn!(error = %text, "transaction lost a concurrency collision");
            return Self::Conflict(
                "the change collided with a concurrent change and was not applied; retry".into(),
            );
        }
        // A CHECK constraint is the database's last word on a range the domain should have
        // checked first: still the caller's input, not a bug of ours to hide.
        if let Some(name) = text
            .split("violates check constraint \"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
        {
            return Self::Validation {
                field: None,
                message: format!("a value is outside its allowed range ({name})"),
            };
        }
        // 42501: a row-level security check (WITH CHECK) refused the write.
        if text.contains("row-level security") {
            return Self::Forbidden("not permitted".into());
        }
        Self::Internal(chain(&err))
    }
}

/// `err` and its sources, outermost first, each once (wrappers often repeat their source's text).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut next = err.source();
    while let Some(e) = next {
        let text = e.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = e.source();
    }
    out
}

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if let AppError::Internal(detail) = &err {
            // Logged inside the request span, which carries the request id.
            tracing::error!(error.detail = %detail, "internal error");
        }
        let code = err.code();
        let mut gql = async_graphql::Error::new(err.public_message());
        gql = gql.extend_with(|_, ext| {
            ext.set("code", code);
            match &err {
                AppError::Validation {
                    field: Some(field), ..
                } => ext.set("field", field.as_str()),
                AppError::RateLimited { retry_after_secs }
                | AppError::Throttled { retry_after_secs }
                | AppError::Unavailable { retry_after_secs } => {
                    ext.set("retryAfter", *retry_after_secs)
                }
                _ => {}
            }
        });
        gql
    }
}

/// An error about the whole operation rather than a place in its document (limits, timeouts,
/// transaction failures): no `locations`, since the spec's lines and columns start at 1.
pub fn operation_error(err: AppError) -> async_graphql::ServerError {
    let mut e = async_graphql::Error::from(err).into_server_error(async_graphql::Pos::default());
    e.locations.clear();
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_errors_keep_their_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("reading the page")]
        struct Outer(#[source] std::io::Error);
        let e = AppError::from_error(Outer(std::io::Error::other("connection reset")));
        let AppError::Internal(detail) = &e else {
            panic!("{e:?}");
        };
        assert_eq!(detail, "reading the page: connection reset");
        assert_eq!(e.public_message(), "internal error");
    }

    #[test]
    fn internal_detail_never_reaches_the_message() {
        let e = AppError::internal("relation \"x\" does not exist; password=hunter2");
        assert_eq!(e.public_message(), "internal error");
        assert_eq!(e.code(), "INTERNAL");
    }

    #[test]
    fn user_errors_are_the_expected_failures() {
        assert!(AppError::invalid("input.name", "too long").is_user_error());
        assert!(AppError::NotFound("Store").is_user_error());
        assert!(!AppError::Forbidden("no".into()).is_user_error());
        assert!(!AppError::internal("x").is_user_error());
    }
}
