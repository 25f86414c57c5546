//! `GET /connect/{platform}/callback` (the platform redirects the seller's browser here) and
//! `GET /connect/done` (a plain landing page for a `returnUrl` when no app of one's own exists,
//! e.g. the quick start).

use super::HttpState;
use crate::connect::callback::{self, Answer};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;

const NO_STORE: [(header::HeaderName, &str); 2] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The platform's redirect after the seller approved or refused.
pub async fn callback_route(
    State(s): State<HttpState>,
    Path(platform): Path<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let Some(platform) = crate::marketplaces::from_path(&platform) else {
        return (StatusCode::NOT_FOUND, NO_STORE, "unknown platform").into_response();
    };
    let answer = callback::handle(&s.app, platform, &query, |id| {
        crate::graphql::relay::store_gid(id).to_string()
    })
    .await;
    match answer {
        Ok(Answer::Back { location, .. }) => (
            StatusCode::SEE_OTHER,
            NO_STORE,
            [(header::LOCATION, location)],
        )
            .into_response(),
        Ok(Answer::Refused { code, message }) => (
            StatusCode::BAD_REQUEST,
            NO_STORE,
            axum::Json(serde_json::json!({ "error": { "code": code, "message": message } })),
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = ?e, "connect callback failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                NO_STORE,
                axum::Json(serde_json::json!({ "error": { "code": e.code(), "message": e.public_message() } })),
            )
                .into_response()
        }
    }
}

/// Shows the result of a connection (only `result` and `storeId` are read, both escaped).
pub async fn done(Query(query): Query<HashMap<String, String>>) -> Response {
    let esc = |s: &str| {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '='))
            .take(200)
            .collect::<String>()
    };
    let result = esc(query.get("result").map_or("", String::as_str));
    let store = esc(query.get("storeId").map_or("", String::as_str));
    let body = format!(
        "<!doctype html><meta charset=utf-8><title>Mercato</title>\
         <p>Store connection: <b>{result}</b></p><p>Store id: <code>{store}</code></p>\
         <p>Back to <a href=\"/graphql\">GraphiQL</a>.</p>"
    );
    (
        StatusCode::OK,
        NO_STORE,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
