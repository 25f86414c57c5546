//! GraphQL over WebSocket (`graphql-transport-ws`, and legacy `graphql-ws`). The server reads the
//! first message itself: it must be `connection_init` within the configured time (else close
//! 4408), carry a valid access or API token as `{"authorization": "Bearer <token>"}` or
//! `{"token": "<token>"}` (else close 4403), and anything else first is 4401/4400. Then the
//! server runs the protocol itself ([`Connection`]): each operation goes through the schema with
//! the principal and a cap on open subscriptions, and a result that is a rendering shared between
//! subscriptions is sent with its payload JSON serialized once for all of them
//! ([`subscriptions::payload`]). The socket carries subscriptions only: a query or mutation sent
//! over it is answered with the error SUBSCRIPTIONS_ONLY (they go to `POST /graphql`, where the
//! request's tenant transaction, rate and cost apply).
//!
//! Limits: a browser `Origin` must be the server's own or in `MERCATO_ALLOWED_ORIGINS` (else
//! HTTP 403 before the upgrade); messages are capped at `MERCATO_WS_MAX_MESSAGE_BYTES`; a principal
//! holds at most `MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL` sockets (else close 4429); a second
//! `subscribe` with an id still in use closes with 4409 as graphql-transport-ws requires; and the
//! socket closes with 4403 when the token it was opened with expires (reconnect with a fresh one).

use super::{HttpState, client_ip};
use crate::error::AppError;
use crate::graphql::subscriptions::{self, PayloadTap, Rendered, SocketSlots};
use crate::limits::rate::LimitKey;
use async_graphql::http::{
    ALL_WEBSOCKET_PROTOCOLS, ClientMessage, WebSocketProtocols as Protocols,
};
use async_graphql::{Data, Pos};
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt as _, StreamExt as _};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;
use tokio_stream::StreamMap;

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
    upgrade: WebSocketUpgrade,
) -> Response {
    let Some(protocol) = requested_protocol(&headers) else {
        return (
            StatusCode::BAD_REQUEST,
            "unsupported Sec-WebSocket-Protocol",
        )
            .into_response();
    };
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

/// The `Sec-WebSocket-Protocol` asked for: the first of the client's list this server speaks.
fn requested_protocol(headers: &HeaderMap) -> Option<Protocols> {
    headers
        .get(axum::http::header::SEC_WEBSOCKET_PROTOCOL)?
        .to_str()
        .ok()?
        .split(',')
        .find_map(|p| p.trim().parse().ok())
}

async fn serve_socket(s: HttpState, mut socket: WebSocket, protocol: Protocols) {
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
    let (mut sink, mut inbound) = socket.split();

    // Everything sent to the client goes through one channel to one writer: messages already
    // queued go out in one write, so a burst to a slow client costs one flush; a full channel
    // holds the reader back.
    let (mut out, mut out_rx) = futures::channel::mpsc::channel::<Message>(32);
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

    let mut session = Data::default();
    session.insert(principal);
    session.insert(slots);
    let mut conn = Connection {
        schema: s.schema.clone(),
        session: Arc::new(session),
        legacy: protocol == Protocols::SubscriptionsTransportWS,
        ops: StreamMap::new(),
    };
    let expiry = async move {
        match expires_at {
            Some(at) => {
                let left = (at - chrono::Utc::now()).to_std().unwrap_or_default();
                tokio::time::sleep(left).await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::pin!(expiry);
    let mut step = Step::Send(text(r#"{"type":"connection_ack"}"#.to_owned()));
    loop {
        match step {
            Step::Send(m) => {
                if out.send(m).await.is_err() {
                    break;
                }
            }
            Step::Nothing => {}
            Step::End(last) => {
                if let Some(m) = last {
                    let _ = out.send(m).await;
                }
                break;
            }
        }
        step = tokio::select! {
            () = &mut expiry => Step::End(Some(close_frame(4403, "Forbidden: the token expired".into()))),
            m = inbound.next() => match m {
                Some(Ok(m @ (Message::Text(_) | Message::Binary(_)))) => conn.receive(&m.into_data()),
                Some(Ok(_)) => Step::Nothing,
                None | Some(Err(_)) => Step::End(None),
            },
            Some((id, item)) = conn.ops.next(), if !conn.ops.is_empty() => conn.deliver(id, item),
        };
    }
    // The operations (and their subscription slots) end with the socket.
    drop(conn);
    out.close_channel();
    let _ = writer.await;
}

/// What the socket does next.
enum Step {
    Send(Message),
    Nothing,
    /// Close, after sending this (a close frame, or a last message).
    End(Option<Message>),
}

/// An operation's results, then `None` when it ends; each with the shared rendering it came from.
type Operation =
    futures::stream::BoxStream<'static, Option<(Option<Arc<Rendered>>, async_graphql::Response)>>;

/// One socket's GraphQL session after `connection_init` (graphql-transport-ws, or legacy
/// graphql-ws): its operations by id, run through the schema with the socket's principal.
struct Connection {
    schema: crate::graphql::MercatoSchema,
    session: Arc<Data>,
    legacy: bool,
    ops: StreamMap<String, Operation>,
}

impl Connection {
    /// A client message.
    fn receive(&mut self, bytes: &[u8]) -> Step {
        let message = match ClientMessage::from_bytes(bytes) {
            Ok(m) => m,
            Err(e) => return Step::End(Some(close_frame(1002, e.to_string()))),
        };
        match message {
            ClientMessage::ConnectionInit { .. } if self.legacy => Step::End(Some(text(
                r#"{"type":"connection_error","payload":{"message":"Too many initialisation requests."}}"#
                    .to_owned(),
            ))),
            ClientMessage::ConnectionInit { .. } => Step::End(Some(close_frame(
                4429,
                "Too many initialisation requests.".into(),
            ))),
            // graphql-transport-ws: an id still in use closes the socket with 4409.
            ClientMessage::Start { id, .. } if self.ops.contains_key(&id) => Step::End(Some(
                close_frame(4409, format!("Subscriber for {id} already exists")),
            )),
            ClientMessage::Start { id, payload } if !is_subscription(&payload) => {
                let refused = AppError::Limit {
                    code: "SUBSCRIPTIONS_ONLY",
                    message: "this socket carries subscriptions; send queries and mutations to POST /graphql".into(),
                };
                let error = async_graphql::Error::from(refused).into_server_error(Pos::default());
                let response = async_graphql::Response::from_errors(vec![error]);
                let results = futures::stream::iter([Some((None, response)), None]);
                self.ops.insert(id, Box::pin(results));
                Step::Nothing
            }
            ClientMessage::Start { id, payload } => {
                let tap = PayloadTap::default();
                let results = self
                    .schema
                    .execute_stream_with_session_data(payload.data(tap.clone()), self.session.clone())
                    .map(move |response| Some((tap.take(), response)))
                    .chain(futures::stream::once(std::future::ready(None)));
                self.ops.insert(id, Box::pin(results));
                Step::Nothing
            }
            ClientMessage::Stop { id } => match self.ops.remove(&id) {
                Some(_) => Step::Send(self.complete(&id)),
                None => Step::Nothing,
            },
            ClientMessage::ConnectionTerminate => Step::End(None),
            ClientMessage::Ping { .. } => Step::Send(text(r#"{"type":"pong"}"#.to_owned())),
            ClientMessage::Pong { .. } => Step::Nothing,
        }
    }

    /// An operation's next result (`next`, legacy `data`), or its end (`complete`, which frees
    /// the id). A result that is a shared rendering is spliced from its shared payload JSON.
    fn deliver(
        &mut self,
        id: String,
        item: Option<(Option<Arc<Rendered>>, async_graphql::Response)>,
    ) -> Step {
        let Some((shared, response)) = item else {
            self.ops.remove(&id);
            return Step::Send(self.complete(&id));
        };
        let kind = if self.legacy { "data" } else { "next" };
        let id = serde_json::to_string(&id).unwrap_or_default();
        Step::Send(subscriptions::payload(shared, &response, |payload| {
            let mut m = String::with_capacity(payload.len() + id.len() + 32);
            m.push_str(r#"{"type":""#);
            m.push_str(kind);
            m.push_str(r#"","id":"#);
            m.push_str(&id);
            m.push_str(r#","payload":"#);
            m.push_str(payload);
            m.push('}');
            text(m)
        }))
    }

    fn complete(&self, id: &str) -> Message {
        let id = serde_json::to_string(id).unwrap_or_default();
        text(format!(r#"{{"type":"complete","id":{id}}}"#))
    }
}

/// Whether the request's operation is a subscription. A document past the nesting bound (which
/// is checked first, so the parser never recurses deeper than it), one that does not parse, or
/// one without the operation named goes to the executor, which says what is wrong with it.
fn is_subscription(request: &async_graphql::Request) -> bool {
    use async_graphql::parser::types::{DocumentOperations, OperationType};
    if crate::limits::guard::check_text(&request.query).is_err() {
        return true;
    }
    let Ok(doc) = async_graphql::parser::parse_query(&request.query) else {
        return true;
    };
    let op = match (&doc.operations, &request.operation_name) {
        (DocumentOperations::Single(op), _) => Some(op),
        (DocumentOperations::Multiple(ops), Some(name)) => ops.get(name.as_str()),
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => ops.values().next(),
        (DocumentOperations::Multiple(_), None) => None,
    };
    op.is_none_or(|op| op.node.ty == OperationType::Subscription)
}

fn text(m: String) -> Message {
    Message::Text(m.into())
}

fn close_frame(code: u16, reason: String) -> Message {
    Message::Close(Some(CloseFrame {
        code,
        reason: reason.into(),
    }))
}
