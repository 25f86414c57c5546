//! One error type for every platform, classified from each platform's real codes so callers can
//! decide uniformly: refresh the token once, wait and retry, retry with backoff, or give up.

use std::time::Duration;

/// Why a credential was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    /// The access token expired (or the platform cannot tell expired from invalid): refresh once.
    Expired,
    /// The credentials are wrong or revoked: refreshing will not help; the seller must reconnect.
    Invalid,
}

/// A classified connector failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The platform refused the credentials.
    #[error("authorization failed ({kind:?}): {message}")]
    Auth {
        /// Expired or invalid.
        kind: AuthFailure,
        /// The platform's code and message.
        message: String,
    },
    /// Throttled; retry after the given time when the platform says.
    #[error("rate limited: {message}")]
    RateLimited {
        /// How long to wait, when known.
        retry_after: Option<Duration>,
        /// The platform's code and message.
        message: String,
    },
    /// A failure that may succeed when retried (5xx, timeouts, internal errors).
    #[error("transient platform error: {0}")]
    Transient(String),
    /// A failure that will not change on retry (banned shop, missing permission, our signing bug).
    #[error("platform refused the request: {code}: {message}")]
    Permanent {
        /// The platform's error code.
        code: String,
        /// The platform's message.
        message: String,
    },
    /// The request's parameters were rejected.
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// The response could not be decoded.
    #[error("could not decode the platform's response: {0}")]
    Decode(String),
    /// The platform offers no documented API for this operation.
    #[error("not supported by this platform: {0}")]
    Unsupported(String),
}

impl Error {
    /// Worth retrying after a wait (rate limits and transient failures).
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::RateLimited { .. } | Error::Transient(_))
    }

    /// Worth one token refresh before retrying.
    pub fn needs_refresh(&self) -> bool {
        matches!(
            self,
            Error::Auth {
                kind: AuthFailure::Expired,
                ..
            }
        )
    }

    fn auth(kind: AuthFailure, code: &str, message: &str) -> Self {
        Error::Auth {
            kind,
            message: format!("{code}: {message}"),
        }
    }

    fn permanent(code: &str, message: &str) -> Self {
        Error::Permanent {
            code: code.to_owned(),
            message: message.to_owned(),
        }
    }
}

/// Shopee v2 (`marketplaces.md` §1.4): `error` + `message` of the envelope. `seconds_to_reset` is
/// the time until the daily quota resets (00:00 UTC+8), used for `error_limit`.
pub fn classify_shopee(error: &str, message: &str, seconds_to_reset: Option<u64>) -> Error {
    match error {
        "invalid_acceess_token" | "error_auth" if message.contains("access_token") => {
            Error::auth(AuthFailure::Expired, error, message)
        }
        "error_auth" | "invalid_code" | "refresh_token_expired" | "error_partner_key_expired" => {
            Error::auth(AuthFailure::Invalid, error, message)
        }
        "error_rate_limit" => Error::RateLimited {
            retry_after: None,
            message: format!("{error}: {message}"),
        },
        "error_limit" => Error::RateLimited {
            retry_after: seconds_to_reset.map(Duration::from_secs),
            message: format!("{error}: {message}"),
        },
        "error_server" | "error_network" | "error_inner" | "error_busi_timeout" => {
            Error::Transient(format!("{error}: {message}"))
        }
        "error_param" if !message.contains("imestamp") => {
            Error::InvalidInput(format!("{error}: {message}"))
        }
        _ => Error::permanent(error, message),
    }
}

/// Seconds from `now` (unix s) until the next 00:00 in UTC+8, when Shopee's daily quota resets.
pub fn shopee_daily_reset_in(now: i64) -> u64 {
    let local = now + 8 * 3600;
    let into_day = local.rem_euclid(86_400);
    u64::try_from(86_400 - into_day).unwrap_or(0)
}

/// TikTok Shop (§2.4): HTTP status and the envelope `code`.
pub fn classify_tiktok(
    http_status: u16,
    code: i64,
    message: &str,
    retry_after: Option<Duration>,
) -> Error {
    match (http_status, code) {
        (_, 105_002) => Error::auth(AuthFailure::Expired, &code.to_string(), message),
        (_, 36_009_004 | 101_000) => Error::auth(AuthFailure::Invalid, &code.to_string(), message),
        (429, _) | (_, 36_009_002) => Error::RateLimited {
            retry_after,
            message: format!("{code}: {message}"),
        },
        (_, 36_009_007) => Error::Transient(format!("{code}: {message}")),
        (500..=599, _) => Error::Transient(format!("HTTP {http_status} {code}: {message}")),
        (_, 106_001 | 105_005 | 106_013 | 36_009_033) => {
            Error::permanent(&code.to_string(), message)
        }
        (400..=499, _) => Error::InvalidInput(format!("{code}: {message}")),
        _ => Error::permanent(&code.to_string(), message),
    }
}

/// Lazada (§3.4): HTTP status and the envelope `code` (a string).
pub fn classify_lazada(http_status: u16, code: &str, message: &str) -> Error {
    match code {
        "IllegalAccessToken" => Error::auth(AuthFailure::Expired, code, message),
        "IllegalRefreshToken" | "InvalidCode" | "AUTH_TYPE_UNSUPPORTED" => {
            Error::auth(AuthFailure::Invalid, code, message)
        }
        // "this ban will last 1 seconds": wait what the message says (1 s when it says nothing).
        "ApiCallLimit" | "E901" => Error::RateLimited {
            retry_after: Some(Duration::from_secs(lazada_ban_secs(message).unwrap_or(1))),
            message: format!("{code}: {message}"),
        },
        "E006" | "ServiceTimeout" => Error::Transient(format!("{code}: {message}")),
        "MissingParameter" | "InvalidParameter" => {
            Error::InvalidInput(format!("{code}: {message}"))
        }
        _ if http_status >= 500 => {
            Error::Transient(format!("HTTP {http_status} {code}: {message}"))
        }
        _ => Error::permanent(code, message),
    }
}

/// The seconds in Lazada's "this ban will last N seconds".
fn lazada_ban_secs(message: &str) -> Option<u64> {
    let rest = &message[message.find("will last ")? + "will last ".len()..];
    rest.split_whitespace().next()?.parse().ok()
}

/// Jumia Vendor API (§4.1): HTTP status, the OAuth2 `error` when present, and `Retry-After`.
pub fn classify_jumia(
    http_status: u16,
    oauth_error: Option<&str>,
    message: &str,
    retry_after: Option<Duration>,
) -> Error {
    match (http_status, oauth_error) {
        (400, Some("invalid_grant")) => Error::auth(AuthFailure::Invalid, "invalid_grant", message),
        (401, _) => Error::auth(AuthFailure::Expired, "401", message),
        (403, _) => Error::permanent("403", message),
        (429, _) => Error::RateLimited {
            retry_after,
            message: message.to_owned(),
        },
        (500..=599, _) => Error::Transient(format!("HTTP {http_status}: {message}")),
        _ => Error::InvalidInput(format!("HTTP {http_status}: {message}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shopee_codes() {
        assert!(classify_shopee("error_auth", "Invalid access_token.", None).needs_refresh());
        assert!(
            classify_shopee(
                "invalid_acceess_token",
                "Invalid access_token, please have a check.",
                None
            )
            .needs_refresh()
        );
        assert_eq!(
            classify_shopee("error_auth", "Invalid partner_id or shopid.", None),
            Error::Auth {
                kind: AuthFailure::Invalid,
                message: "error_auth: Invalid partner_id or shopid.".into()
            }
        );
        assert!(matches!(
            classify_shopee("error_rate_limit", "Too many requests.", None),
            Error::RateLimited {
                retry_after: None,
                ..
            }
        ));
        assert_eq!(
            classify_shopee("error_limit", "daily", Some(60)),
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(60)),
                message: "error_limit: daily".into()
            }
        );
        assert!(classify_shopee("error_inner", "x", None).is_retryable());
        assert!(matches!(
            classify_shopee("error_param", "There is no access_token in query.", None),
            Error::InvalidInput(_)
        ));
        assert!(matches!(
            classify_shopee("error_param", "Timestamp is expired.", None),
            Error::Permanent { .. }
        ));
        assert!(matches!(
            classify_shopee("error_sign", "Wrong sign.", None),
            Error::Permanent { .. }
        ));
        assert!(matches!(
            classify_shopee("shop_banned", "", None),
            Error::Permanent { .. }
        ));
    }

    #[test]
    fn shopee_daily_quota_resets_at_midnight_utc_plus_8() {
        // 2024-01-01T15:59:00Z is 23:59 in UTC+8: one minute to go.
        assert_eq!(shopee_daily_reset_in(1_704_124_740), 60);
        // 16:00Z is midnight in UTC+8: a full day.
        assert_eq!(shopee_daily_reset_in(1_704_124_800), 86_400);
    }

    #[test]
    fn tiktok_codes() {
        assert!(classify_tiktok(200, 105_002, "Expired credentials", None).needs_refresh());
        assert!(matches!(
            classify_tiktok(401, 36_009_004, "Invalid credentials", None),
            Error::Auth {
                kind: AuthFailure::Invalid,
                ..
            }
        ));
        let wait = Some(Duration::from_secs(2));
        assert_eq!(
            classify_tiktok(429, 36_009_002, "Too many requests", wait),
            Error::RateLimited {
                retry_after: wait,
                message: "36009002: Too many requests".into()
            }
        );
        assert!(classify_tiktok(200, 36_009_002, "Too many", None).is_retryable());
        assert!(classify_tiktok(503, 0, "unavailable", None).is_retryable());
        assert!(classify_tiktok(200, 36_009_007, "timeout", None).is_retryable());
        assert!(matches!(
            classify_tiktok(401, 106_001, "bad sign", None),
            Error::Permanent { .. }
        ));
        assert!(matches!(
            classify_tiktok(400, 12_345, "bad param", None),
            Error::InvalidInput(_)
        ));
    }

    #[test]
    fn lazada_codes() {
        assert!(classify_lazada(200, "IllegalAccessToken", "expired").needs_refresh());
        assert!(matches!(
            classify_lazada(200, "IllegalRefreshToken", ""),
            Error::Auth {
                kind: AuthFailure::Invalid,
                ..
            }
        ));
        assert_eq!(
            classify_lazada(200, "ApiCallLimit", "ban 1 s"),
            Error::RateLimited {
                retry_after: Some(Duration::from_secs(1)),
                message: "ApiCallLimit: ban 1 s".into()
            }
        );
        let ban = classify_lazada(
            200,
            "ApiCallLimit",
            "Api access frequency exceeds the limit. this ban will last 7 seconds",
        );
        assert!(
            matches!(ban, Error::RateLimited { retry_after: Some(d), .. } if d == Duration::from_secs(7))
        );
        assert!(classify_lazada(200, "E006", "internal").is_retryable());
        assert!(classify_lazada(502, "Unknown", "gateway").is_retryable());
        assert!(matches!(
            classify_lazada(200, "IncompleteSignature", ""),
            Error::Permanent { .. }
        ));
        assert!(matches!(
            classify_lazada(200, "MissingParameter", "order_id"),
            Error::InvalidInput(_)
        ));
    }

    #[test]
    fn jumia_statuses() {
        assert!(classify_jumia(401, None, "expired", None).needs_refresh());
        assert!(matches!(
            classify_jumia(400, Some("invalid_grant"), "used", None),
            Error::Auth {
                kind: AuthFailure::Invalid,
                ..
            }
        ));
        let wait = Some(Duration::from_secs(5));
        assert_eq!(
            classify_jumia(429, None, "slow down", wait),
            Error::RateLimited {
                retry_after: wait,
                message: "slow down".into()
            }
        );
        assert!(classify_jumia(500, None, "", None).is_retryable());
        assert!(matches!(
            classify_jumia(422, None, "bad", None),
            Error::InvalidInput(_)
        ));
    }
}
