//! GraphQL over WebSocket (graphql-transport-ws): authenticated in connection_init.

#![allow(clippy::unwrap_used, missing_docs)]

use futures::{SinkExt, StreamExt};
use mercato_tests::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(app: &TestApp) -> Ws {
    let mut req = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "graphql-transport-ws".parse().unwrap(),
    );
    let (ws, resp) = tokio_tungstenite::connect_async(req)
        .await
        .expect("ws connect");
    assert_eq!(
        resp.headers().get("sec-websocket-protocol").unwrap(),
        "graphql-transport-ws"
    );
    ws
}

async fn next_frame(ws: &mut Ws) -> Option<Message> {
    tokio::time::timeout(std::time::Duration::from_secs(10), ws.next())
        .await
        .expect("no frame within 10 s")
        .map(|m| m.expect("ws error"))
}

async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match next_frame(ws).await {
            Some(Message::Text(t)) => return serde_json::from_str(&t).unwrap(),
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn an_authenticated_subscriber_receives_heartbeats_in_order() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("ws", Some("Ws Co")).await;
    let mut ws = open(&app).await;
    ws.send(Message::text(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", s.token) } }).to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { heartbeat(intervalSeconds: 1) { seq userId organizationId } }" } }).to_string()))
        .await
        .unwrap();
    for expected in 1..=2 {
        let msg = next_json(&mut ws).await;
        assert_eq!(msg["type"], "next", "{msg}");
        let hb = &msg["payload"]["data"]["heartbeat"];
        assert_eq!(hb["seq"], expected);
        assert_eq!(hb["userId"], s.user_id.as_str());
        assert_eq!(hb["organizationId"], s.org_id.clone().unwrap().as_str());
    }
    ws.send(Message::text(
        json!({ "id": "1", "type": "complete" }).to_string(),
    ))
    .await
    .unwrap();
}

#[tokio::test]
async fn a_socket_without_a_valid_token_is_closed_and_receives_nothing() {
    let app = TestApp::spawn().await;
    for payload in [
        json!({}),
        json!({ "authorization": "Bearer not-a-token" }),
        json!({ "token": "x.y.z" }),
    ] {
        let mut ws = open(&app).await;
        ws.send(Message::text(
            json!({ "type": "connection_init", "payload": payload }).to_string(),
        ))
        .await
        .unwrap();
        ws.send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { heartbeat(intervalSeconds: 1) { seq } }" } }).to_string()))
            .await
            .ok();
        match next_frame(&mut ws).await {
            Some(Message::Close(frame)) => {
                let frame = frame.expect("close frame");
                assert_ne!(u16::from(frame.code), 1000, "{payload}: {frame:?}");
            }
            None => {}
            other => panic!("{payload}: expected close, got {other:?}"),
        }
    }
}
