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
use crate::connect::pushes::{self, Received, Refusal};
use crate::limits::rate::{LimitKey, retry_after_secs};
use axum::body::Bytes;
use axum::extract::{ConnectInfo, OriginalUri, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::net::SocketAddr;

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
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let answer = match pushes::receive(&s.app, &platform, path, authorization, &body).await {
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
        Received::Stored => StatusCode::OK.into_response(),
        Received::Refused(why, code, message) => {
            let status = match why {
                Refusal::Unauthorized => StatusCode::UNAUTHORIZED,
                Refusal::NotFound => StatusCode::NOT_FOUND,
                Refusal::BadRequest => StatusCode::BAD_REQUEST,
            };
            if let Err(wait) = s.app.webhook_refusals.check(&LimitKey::Ip(ip)).await {
                crate::metrics::webhook("RATE_LIMITED");
                let secs = retry_after_secs(wait);
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [(header::RETRY_AFTER, secs.to_string())],
                    axum::Json(serde_json::json!({"error": {"code": "RATE_LIMITED", "message": "too many refused deliveries from this address"}})),
                )
                    .into_response();
            }
            tracing::warn!(platform, %ip, code, reason = %message, "webhook refused");
            crate::metrics::webhook(code);
            (
                status,
                axum::Json(serde_json::json!({"error": {"code": code, "message": message}})),
            )
                .into_response()
        }
    }
}
