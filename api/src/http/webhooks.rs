//! `POST /webhooks/{platform}` (`shopee`, `tiktok`, `lazada`): marketplace pushes in (DESIGN §9).
//!
//! The only work before the answer: verify the platform's signature over the raw body bytes (and,
//! for Shopee, over this server's public URL of the request) in constant time, check the push's
//! timestamp is within the window, then store the event for the verified shop's store in one
//! statement that is its own transaction (`webhook_accept`: it finds the organization holding the
//! shop and sets its tenant context, so RLS applies), committed. Then 200 with an empty body (what
//! every platform expects). A duplicate is 200 too. A worker's dispatcher queues the event's job
//! (`crate::jobs::webhooks::dispatch_once`) within its period (100 ms).
//!
//! Refusals store nothing: a bad or missing signature, another app's key or a stale timestamp is
//! 401, an unknown shop 404, a body over the limit 413, a signed body that is not the platform's
//! format 400. Refusals are counted per client IP; past the budget they get 429. They are logged
//! without the body.

use super::{HttpState, client_ip};
use crate::domain::webhooks;
use crate::error::AppResult;
use crate::limits::rate::{LimitKey, retry_after_secs};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use connectors::push::{PushError, PushEvent, PushKeys};
use entity::enums::Platform;
use std::net::SocketAddr;

/// What became of one delivery.
enum Answer {
    /// Stored (or a duplicate of a stored event).
    Stored,
    /// Refused: status, machine code, message.
    Refused(StatusCode, &'static str, String),
}

/// Receives one push.
pub async fn receive(
    State(s): State<HttpState>,
    Path(platform): Path<String>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let ip = client_ip(&s.app.config.limits.trusted_proxies, peer.ip(), &headers);
    let answer = match accept(&s, &platform, &uri, &headers, body).await {
        Ok(a) => a,
        Err(e) => {
            tracing::error!(error = ?e, platform, "webhook not stored");
            return (
                StatusCode::SERVICE_UNAVAILABLE,
                [(header::RETRY_AFTER, "5")],
                axum::Json(serde_json::json!({"error": {"code": "UNAVAILABLE", "message": "the event could not be stored; deliver it again"}})),
            )
                .into_response();
        }
    };
    match answer {
        Answer::Stored => StatusCode::OK.into_response(),
        Answer::Refused(status, code, message) => {
            if let Err(wait) = s.app.webhook_refusals.check(&LimitKey::Ip(ip)).await {
                count("RATE_LIMITED");
                let secs = retry_after_secs(wait);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    axum::Json(serde_json::json!({"error": {"code": "RATE_LIMITED", "message": "too many refused deliveries from this address"}})),
                )
                    .into_response();
            }
            tracing::warn!(platform, %ip, code, reason = %message, "webhook refused");
            count(code);
            (
                status,
                axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
            )
                .into_response()
        }
    }
}

fn count(outcome: &'static str) {
    crate::metrics::get()
        .webhooks
        .get_or_create(&crate::metrics::WebhookLabels { outcome })
        .inc();
}

fn refused(status: StatusCode, code: &'static str, message: impl Into<String>) -> Answer {
    Answer::Refused(status, code, message.into())
}

async fn accept(
    s: &HttpState,
    platform: &str,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> AppResult<Answer> {
    let config = &s.app.config;
    let m = &config.marketplaces;
    // Shopee signs the callback URL as registered: this server's public URL of this request.
    let url = format!(
        "{}{}",
        m.public_url.trim_end_matches('/'),
        uri.path_and_query().map(|p| p.as_str()).unwrap_or("/")
    );
    let (entity, keys) = match platform {
        "shopee" => (
            Platform::Shopee,
            m.shopee.as_ref().map(|a| PushKeys::Shopee {
                partner_key: &a.partner_key,
                callback_url: &url,
            }),
        ),
        "tiktok" => (
            Platform::TiktokShop,
            m.tiktok.as_ref().map(|a| PushKeys::Tiktok {
                app_key: &a.app_key,
                app_secret: &a.app_secret,
            }),
        ),
        "lazada" => (
            Platform::Lazada,
            m.lazada.as_ref().map(|a| PushKeys::Lazada {
                app_key: &a.app_key,
                app_secret: &a.app_secret,
            }),
        ),
        _ => {
            return Ok(refused(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "no such platform",
            ));
        }
    };
    let Some(keys) = keys else {
        return Ok(refused(
            StatusCode::NOT_FOUND,
            "NOT_FOUND",
            "this platform has no app configured here",
        ));
    };
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let now = chrono::Utc::now().timestamp();
    let window = i64::try_from(config.limits.webhook_window.as_secs()).unwrap_or(300);
    let event = match connectors::push::verify(keys, &body, authorization, now, window) {
        Ok(e) => e,
        Err(PushError::BadSignature) => {
            return Ok(refused(
                StatusCode::UNAUTHORIZED,
                "BAD_SIGNATURE",
                "the signature does not match this app and body",
            ));
        }
        Err(e @ PushError::Stale { .. }) => {
            return Ok(refused(StatusCode::UNAUTHORIZED, "STALE", e.to_string()));
        }
        Err(PushError::Malformed(why)) => {
            return Ok(refused(StatusCode::BAD_REQUEST, "MALFORMED", why));
        }
    };
    // The signature covered these bytes; JSON is UTF-8, so this only refuses a forged encoding.
    let Ok(text) = String::from_utf8(body.to_vec()) else {
        return Ok(refused(
            StatusCode::BAD_REQUEST,
            "MALFORMED",
            "the body is not UTF-8",
        ));
    };
    // Stored in a task of its own: a platform that hangs up mid-way must not cancel the commit
    // half-done (the transaction either commits whole or, on error, rolls back).
    let app = s.app.clone();
    let stored = tokio::spawn(async move { store_all(&app, entity, &event, &text).await })
        .await
        .map_err(crate::error::AppError::internal)??;
    Ok(if stored {
        Answer::Stored
    } else {
        refused(
            StatusCode::NOT_FOUND,
            "UNKNOWN_SHOP",
            "no connected store of this shop",
        )
    })
}

/// Stores `event` for each connected shop it names; false when none is known.
async fn store_all(
    app: &crate::state::AppState,
    platform: Platform,
    event: &PushEvent,
    body: &str,
) -> AppResult<bool> {
    let mut any = false;
    for shop in &event.shops {
        let Some(stored) = webhooks::accept(&app.db, platform, shop, event, body).await? else {
            continue;
        };
        any = true;
        let pause = app.config.limits.test_webhook_pause;
        if !pause.is_zero() {
            tracing::info!(event = %stored.event_id, "webhook committed; pausing before the hand-off (test)");
            tokio::time::sleep(pause).await;
        }
        count(if stored.fresh { "STORED" } else { "DUPLICATE" });
    }
    Ok(any)
}
