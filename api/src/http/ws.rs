//! GraphQL over WebSocket (`graphql-transport-ws`, and legacy `graphql-ws`). The server reads the
//! first message itself: it must be `connection_init` within the configured time (else close
//! 4408), carry a valid access or API token as `{"authorization": "Bearer <token>"}` or
//! `{"token": "<token>"}` (else close 4403), and anything else first is 4401/4400. Then the
//! connection is handed to async-graphql with the principal and a cap on open subscriptions.
//!
//! Limits: a browser `Origin` must be the server's own or in `MERCATO_ALLOWED_ORIGINS` (else
//! HTTP 403 before the upgrade); messages are capped at `MERCATO_WS_MAX_MESSAGE_BYTES`; a principal
//! holds at most `MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL` sockets (else close 4429); a second
//! `subscribe` with an id still in use closes with 4409 as graphql-transport-ws requires; and the
//! socket closes with 4403 when the token it was opened with expires (reconnect with a fresh one).

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
use futures::{SinkExt as _, StreamExt as _};
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::PoisonError;
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

/// Whether a browser's `Origin` may open a socket: none (not a browser), the server's own (the
/// `Host` it was sent to), or one from the allow-list.
pub(super) fn origin_allowed(allowed: &[String], headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(axum::http::header::ORIGIN) else {
        return true;
    };
    let Ok(origin) = origin.to_str() else {
        return false;
    };
    let origin = origin.trim_end_matches('/').to_ascii_lowercase();
    if allowed.contains(&origin) {
        return true;
    }
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_ascii_lowercase);
    let origin_host = origin.split_once("://").map(|(_, h)| h);
    host.is_some() && origin_host == host.as_deref()
}

/// Bytes read from a socket at a time.
const WS_READ_BUFFER: usize = 4096;
/// Bytes of messages gathered before they are written out (the writer flushes whatever is queued
/// once it has nothing more at hand).
const WS_WRITE_BUFFER: usize = 8192;

/// Upgrades to a GraphQL WebSocket (upgrades count against the client IP's anonymous quota).
pub async fn graphql_ws(
    State(s): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    protocol: GraphQLProtocol,
    upgrade: WebSocketUpgrade,
) -> Response {
    let limits = &s.app.config.limits;
    if !origin_allowed(&limits.allowed_origins, &headers) {
        return (StatusCode::FORBIDDEN, "origin not allowed").into_response();
    }
    let ip = client_ip(&limits.trusted_proxies, peer.ip(), &headers);
    if let Err(wait) = s.app.rate.check(&LimitKey::Ip(ip)).await {
        let secs = crate::limits::rate::retry_after_secs(wait);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(axum::http::header::RETRY_AFTER, secs.to_string())],
        )
            .into_response();
    }
    let max = limits.ws_max_message_bytes;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .max_message_size(max)
        .max_frame_size(max)
        // tungstenite's default read buffer is 128 KiB, zero-filled up front: most of an idle
        // socket's memory. Messages larger than a chunk are still read whole (up to `max`).
        .read_buffer_size(WS_READ_BUFFER)
        .write_buffer_size(WS_WRITE_BUFFER)
        .on_upgrade(move |socket| serve_socket(s, socket, protocol))
}

/// Why the server ends a socket itself.
enum Ending {
    Expired,
    DuplicateId(String),
}

/// Reads a client message's type and id (graphql-transport-ws or legacy graphql-ws).
fn kind_and_id(text: &str) -> Option<(String, Option<String>)> {
    let v: serde_json::Value = serde_json::from_str(text).ok()?;
    let kind = v.get("type")?.as_str()?.to_owned();
    let id = v.get("id").and_then(|i| i.as_str()).map(str::to_owned);
    Some((kind, id))
}

/// A server message carrying a result (`next`, or legacy `data`).
fn is_result(text: &str) -> bool {
    text.starts_with(r#"{"type":"next""#) || text.starts_with(r#"{"type":"data""#)
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
    let authenticated = match token_from_init(&payload) {
        Some(t) => s.app.authenticate_bearer_until(t).await.ok(),
        None => None,
    };
    let Some((principal, expires_at)) = authenticated else {
        return close(socket, 4403, "Forbidden").await;
    };
    let Some(_held) = s.app.sockets.try_hold(&principal.limit_key()) else {
        return close(socket, 4429, "Too many sockets for this principal").await;
    };
    let _open = crate::metrics::Raised::new(&crate::metrics::get().ws_sockets);
    let slots = SocketSlots(Arc::new(Semaphore::new(limits.ws_max_subscriptions)));
    let (mut sink, stream) = socket.split();

    // Everything sent to the client goes through one channel, so the server can close the socket
    // itself (expiry, duplicate id) while async-graphql owns the other end.
    let (out_tx, mut out_rx) = futures::channel::mpsc::channel::<Message>(32);
    // Messages already queued go out in one write: a burst to a slow client costs one flush.
    let writer = tokio::spawn(async move {
        'socket: while let Some(m) = out_rx.next().await {
            let mut closing = matches!(m, Message::Close(_));
            if sink.feed(m).await.is_err() {
                break;
            }
            while !closing && let Ok(m) = out_rx.try_recv() {
                closing = matches!(m, Message::Close(_));
                if sink.feed(m).await.is_err() {
                    break 'socket;
                }
            }
            if sink.flush().await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });

    // Operation ids in use: a subscribe reusing one ends the socket with 4409.
    let active: Arc<std::sync::Mutex<HashSet<String>>> = Arc::default();
    let (end_tx, mut end_rx) = tokio::sync::oneshot::channel::<Ending>();
    let end_tx = Arc::new(std::sync::Mutex::new(Some(end_tx)));
    let inbound = {
        let active = active.clone();
        let end_tx = end_tx.clone();
        futures::stream::once(async move { Ok(Message::Text(first)) })
            .chain(stream)
            .take_while(move |m| {
                let keep = match m {
                    Ok(Message::Text(t)) => match kind_and_id(t.as_str()) {
                        Some((kind, Some(id))) if kind == "subscribe" || kind == "start" => {
                            let mut ids = active.lock().unwrap_or_else(PoisonError::into_inner);
                            if ids.insert(id.clone()) {
                                true
                            } else {
                                if let Some(tx) =
                                    end_tx.lock().unwrap_or_else(PoisonError::into_inner).take()
                                {
                                    let _ = tx.send(Ending::DuplicateId(id));
                                }
                                false
                            }
                        }
                        Some((kind, Some(id))) if kind == "complete" || kind == "stop" => {
                            active
                                .lock()
                                .unwrap_or_else(PoisonError::into_inner)
                                .remove(&id);
                            true
                        }
                        _ => true,
                    },
                    _ => true,
                };
                std::future::ready(keep)
            })
    };
    let outbound = {
        let active = active.clone();
        out_tx
            .clone()
            .sink_map_err(|_| axum::Error::new("socket closed"))
            .with(move |m: Message| {
                // An operation the server finished frees its id. Results (`next`, legacy `data`)
                // are by far the most messages: they are told by their first bytes (async-graphql
                // writes the type first) and not parsed.
                if let Message::Text(t) = &m
                    && !is_result(t.as_str())
                    && let Some((kind, Some(id))) = kind_and_id(t.as_str())
                    && matches!(kind.as_str(), "complete" | "error")
                {
                    active
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .remove(&id);
                }
                std::future::ready(Ok::<_, axum::Error>(m))
            })
    };
    let serve = GraphQLWebSocket::new_with_pair(outbound, inbound, s.schema.clone(), protocol)
        .on_connection_init(move |_| async move {
            let mut data = Data::default();
            data.insert(principal);
            data.insert(slots);
            Ok(data)
        })
        .serve();
    let expiry = async move {
        match expires_at {
            Some(at) => {
                let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    let ending = tokio::select! {
        Ok(e) = &mut end_rx => Some(e),
        () = expiry => Some(Ending::Expired),
        // A duplicate id also ends the inbound stream, so `serve` may finish in the same poll
        // that recorded it: its 4409 still wins.
        () = serve => end_rx.try_recv().ok(),
    };
    let mut out = out_tx;
    match ending {
        Some(Ending::Expired) => {
            let _ = out
                .send(close_frame(4403, "Forbidden: the token expired".into()))
                .await;
        }
        Some(Ending::DuplicateId(id)) => {
            let _ = out
                .send(close_frame(
                    4409,
                    format!("Subscriber for {id} already exists"),
                ))
                .await;
        }
        None => {}
    }
    out.close_channel();
    let _ = writer.await;
}

fn close_frame(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
