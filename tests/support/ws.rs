//! GraphQL over WebSocket (graphql-transport-ws) client helpers.

use crate::TestApp;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A client WebSocket.
pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// Opens `/graphql/ws` with the graphql-transport-ws protocol.
pub async fn open(app: &TestApp) -> Ws {
    open_at(&app.addr.to_string()).await
}

/// Opens `/graphql/ws` of the server at `addr` (host:port).
pub async fn open_at(addr: &str) -> Ws {
    let mut req = format!("ws://{addr}/graphql/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    // tungstenite's default read buffer is 128 KiB, zero-filled on every read: a benchmark's
    // thousand clients would spend a core on that memset, taken from the server they measure.
    let config =
        tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096);
    let (ws, resp) = tokio_tungstenite::connect_async_with_config(req, Some(config), true)
        .await
        .expect("ws connect");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "graphql-transport-ws"
    );
    ws
}

/// The next frame (panics after 10 s).
pub async fn next_frame(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("no frame within 10 s")
        .map(|m| m.expect("ws error"))
}

/// The next text frame as JSON.
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match next_frame(ws).await {
            Some(Message::Text(t)) => return serde_json::from_str(&t).unwrap(),
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Opens a socket, authenticates with `token` and subscribes (id "1") to `query`.
pub async fn subscribe(app: &TestApp, token: &str, query: &str, variables: Value) -> Ws {
    subscribe_at(&app.addr.to_string(), token, query, variables).await
}

/// [`subscribe`] on the server at `addr` (host:port).
pub async fn subscribe_at(addr: &str, token: &str, query: &str, variables: Value) -> Ws {
    let mut ws = open_at(addr).await;
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {token}") } })
            .to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(
        json!({ "id": "1", "type": "subscribe", "payload": { "query": query, "variables": variables } })
            .to_string(),
    ))
    .await
    .unwrap();
    ws
}

/// The next message within `wait`, or `None` when nothing arrives.
pub async fn maybe_json(ws: &mut Ws, wait: std::time::Duration) -> Option<Value> {
    loop {
        match tokio::time::timeout(wait, ws.next()).await {
            Err(_) => return None,
            Ok(Some(Ok(Message::Text(t)))) => return Some(serde_json::from_str(&t).unwrap()),
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(other) => panic!("unexpected frame {other:?}"),
        }
    }
}
