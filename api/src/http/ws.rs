//! GraphQL over WebSocket (`graphql-transport-ws`, and legacy `graphql-ws`). The server reads the
//! first message itself: it must be `connection_init` within the configured time (else close
//! 4408), carry a valid access or API token as `{"authorization": "Bearer <token>"}` or
//! `{"token": "<token>"}` (else close 4403), and anything else first is 4401/4400. Then the
//! connection is handed to async-graphql with the principal and a cap on open subscriptions.

use super::{HttpState, client_ip};
use crate::graphql::subscriptions::SocketSlots;
use crate::limits::rate::LimitKey;
use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLWebSocket};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::StreamExt as _;
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

fn token_from_init(payload: &serde_json::Value) -> Option<&str> {
    let obj = payload.as_object()?;
    if let Some(t) = obj.get("token").and_then(|v| v.as_str()) {
        return Some(t);
    }
    let header = obj
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("authorization"))
        .and_then(|(_, v)| v.as_str())?;
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
}

async fn close(mut socket: WebSocket, code: u16, reason: &'static str) {
    let _ = socket
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

/// Upgrades to a GraphQL WebSocket (upgrades count against the client IP's anonymous quota).
pub async fn graphql_ws(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let ip = client_ip(&s.app.config.limits.trusted_proxies, peer.ip(), &headers);
    if let Err(wait) = s.app.rate.check(&LimitKey::Ip(ip)).await {
        let secs = crate::limits::rate::retry_after_secs(wait);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, secs.to_string())],
        )
            .into_response();
    }
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| serve_socket(s, socket, protocol))
}

async fn serve_socket(s: HttpState, mut socket: WebSocket, protocol: GraphQLProtocol) {
    let limits = &s.app.config.limits;
    let first = loop {
        match tokio::time::timeout(limits.ws_init_timeout, socket.recv()).await {
            Err(_) => return close(socket, 4408, "Connection initialisation timeout").await,
            Ok(None | Some(Err(_))) => return,
            Ok(Some(Ok(Message::Text(t)))) => break t,
            Ok(Some(Ok(Message::Binary(_)))) => {
                return close(socket, 4400, "Expected a JSON text message").await;
            }
            Ok(Some(Ok(Message::Close(_)))) => return,
            Ok(Some(Ok(_))) => {}
        }
    };
    let Ok(msg) = serde_json::from_str::<serde_json::Value>(first.as_str()) else {
        return close(socket, 4400, "Invalid message").await;
    };
    if msg.get("type").and_then(|t| t.as_str()) != Some("connection_init") {
        return close(socket, 4401, "Unauthorized").await;
    }
    let payload = msg.get("payload").cloned().unwrap_or_default();
    let principal = match token_from_init(&payload) {
        Some(t) => s.app.authenticate_bearer(t).await.ok(),
        None => None,
    };
    let Some(principal) = principal else {
        return close(socket, 4403, "Forbidden").await;
    };
    let slots = SocketSlots(Arc::new(Semaphore::new(limits.ws_max_subscriptions)));
    let (sink, stream) = socket.split();
    // Replay the init message so async-graphql acknowledges it as usual.
    let replay = futures::stream::once(async move { Ok(Message::Text(first)) }).chain(stream);
    GraphQLWebSocket::new_with_pair(sink, replay, s.schema.clone(), protocol)
        .on_connection_init(move |_| async move {
            let mut data = Data::default();
            data.insert(principal);
            data.insert(slots);
            Ok(data)
        })
        .serve()
        .await;
}
