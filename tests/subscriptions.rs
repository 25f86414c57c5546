//! GraphQL over WebSocket (graphql-transport-ws): authenticated in connection_init.

#![allow(clippy::unwrap_used, missing_docs)]

use futures::SinkExt;
use mercato_tests::ws::*;
use mercato_tests::*;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

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
                assert_eq!(u16::from(frame.code), 4403, "{payload}: {frame:?}");
            }
            None => {}
            other => panic!("{payload}: expected close, got {other:?}"),
        }
    }
}

async fn close_code(ws: &mut Ws) -> u16 {
    loop {
        match next_frame(ws).await {
            Some(Message::Close(Some(frame))) => return u16::from(frame.code),
            Some(Message::Ping(_) | Message::Pong(_)) => continue,
            other => panic!("expected a close frame, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn connection_init_must_arrive_in_time_and_come_first() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.limits.ws_init_timeout = std::time::Duration::from_millis(300);
    let app = TestApp::spawn_with(config, db).await;
    let mut silent = open(&app).await;
    assert_eq!(close_code(&mut silent).await, 4408);

    let mut eager = open(&app).await;
    eager
        .send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { heartbeat { seq } }" } }).to_string()))
        .await
        .unwrap();
    assert_eq!(close_code(&mut eager).await, 4401);

    let mut garbage = open(&app).await;
    garbage.send(Message::text("not json")).await.unwrap();
    assert_eq!(close_code(&mut garbage).await, 4400);
}

#[tokio::test]
async fn subscriptions_per_socket_are_capped_and_freed_on_complete() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.limits.ws_max_subscriptions = 2;
    let app = TestApp::spawn_with(config, db).await;
    let s = app.sign_up("cap", Some("Cap Co")).await;
    let mut ws = open(&app).await;
    ws.send(Message::text(json!({ "type": "connection_init", "payload": { "authorization": format!("Bearer {}", s.token) } }).to_string()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    let sub = |id: &str| {
        Message::text(json!({ "id": id, "type": "subscribe", "payload": { "query": "subscription { heartbeat(intervalSeconds: 60) { seq } }" } }).to_string())
    };
    let for_id = async |ws: &mut Ws, id: &str| loop {
        let m = next_json(ws).await;
        if m["id"] == id {
            return m;
        }
    };
    // One at a time: the server polls new subscriptions in no fixed order.
    for id in ["a", "b"] {
        ws.send(sub(id)).await.unwrap();
        let first = for_id(&mut ws, id).await;
        assert_eq!(first["payload"]["data"]["heartbeat"]["seq"], 1, "{first}");
    }
    ws.send(sub("c")).await.unwrap();
    let refused = for_id(&mut ws, "c").await;
    assert_eq!(
        refused["payload"]["errors"][0]["extensions"]["code"], "TOO_MANY_SUBSCRIPTIONS",
        "{refused}"
    );
    // Completing one frees its slot.
    ws.send(Message::text(
        json!({ "id": "a", "type": "complete" }).to_string(),
    ))
    .await
    .unwrap();
    ws.send(sub("d")).await.unwrap();
    let admitted = for_id(&mut ws, "d").await;
    assert!(
        admitted["payload"]["data"]["heartbeat"]["seq"].is_number(),
        "slot was not freed: {admitted}"
    );
}

#[tokio::test]
async fn an_api_token_can_subscribe() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("wst", Some("Ws Token Co")).await;
    let (_, secret) = app.create_api_token(&s, "ws", &["SYNC_READ"], None).await;
    let mut ws = open(&app).await;
    ws.send(Message::text(
        json!({ "type": "connection_init", "payload": { "token": secret } }).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await["type"], "connection_ack");
    ws.send(Message::text(json!({ "id": "1", "type": "subscribe", "payload": { "query": "subscription { heartbeat(intervalSeconds: 1) { seq userId organizationId } }" } }).to_string()))
        .await
        .unwrap();
    let tick = next_json(&mut ws).await;
    assert_eq!(tick["payload"]["data"]["heartbeat"]["seq"], 1, "{tick}");
    assert!(tick["payload"]["data"]["heartbeat"]["userId"].is_null());
    assert_eq!(
        tick["payload"]["data"]["heartbeat"]["organizationId"],
        s.org_id.unwrap().as_str()
    );
}

/// Reads `kind` results (of any operation) until operation `id` completes.
async fn results_then_complete(ws: &mut Ws, kind: &str, id: &str) {
    loop {
        let m = next_json(ws).await;
        if m["type"] == "complete" {
            assert_eq!(m, json!({"type": "complete", "id": id}));
            return;
        }
        assert_eq!(m["type"], kind, "{m}");
    }
}

/// Opens `/graphql/ws` asking for `protocol`, and authenticates as `token`.
async fn open_with(app: &TestApp, protocol: &str, token: &str) -> Ws {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut req = format!("ws://{}/graphql/ws", app.addr)
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("sec-websocket-protocol", protocol.parse().unwrap());
    let (mut ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(resp.headers()["sec-websocket-protocol"], protocol);
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {"token": token}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(next_json(&mut ws).await, json!({"type": "connection_ack"}));
    ws
}

/// The server speaks graphql-transport-ws itself: ping is answered with pong, a query is refused
/// with SUBSCRIPTIONS_ONLY (`next` with the error, then `complete`), a client `complete` is
/// acknowledged, a second `connection_init` closes with 4429 and an unreadable message with 1002.
#[tokio::test]
async fn graphql_transport_ws_pings_queries_completes_and_refuses_protocol_errors() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("ws-protocol", Some("Protocol Co")).await;
    let mut ws = open_with(&app, "graphql-transport-ws", &s.token).await;
    ws.send(Message::text(r#"{"type":"ping"}"#)).await.unwrap();
    assert_eq!(next_json(&mut ws).await, json!({"type": "pong"}));
    ws.send(Message::text(
        json!({"id": "q", "type": "subscribe", "payload": {"query": "{ viewer { user { id } } }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    let next = next_json(&mut ws).await;
    assert_eq!(next["type"], "next", "{next}");
    assert_eq!(next["id"], "q", "{next}");
    assert_eq!(
        next["payload"]["errors"][0]["extensions"]["code"], "SUBSCRIPTIONS_ONLY",
        "{next}"
    );
    assert_eq!(next["payload"]["data"], Value::Null, "{next}");
    assert_eq!(
        next_json(&mut ws).await,
        json!({"type": "complete", "id": "q"})
    );
    // The id is free again once the operation completed.
    ws.send(Message::text(
        json!({"id": "q", "type": "subscribe", "payload": {"query": "subscription { heartbeat(intervalSeconds: 60) { seq } }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    ws.send(Message::text(r#"{"id":"q","type":"complete"}"#))
        .await
        .unwrap();
    // Its first tick may come before the acknowledgement.
    results_then_complete(&mut ws, "next", "q").await;
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {"token": s.token}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(close_code(&mut ws).await, 4429);

    let mut ws = open_with(&app, "graphql-transport-ws", &s.token).await;
    ws.send(Message::text(r#"{"type":"subscribe","payload":{}}"#))
        .await
        .unwrap();
    assert_eq!(close_code(&mut ws).await, 1002);
}

/// The legacy graphql-ws protocol (subscriptions-transport-ws): `start` gives `data` messages,
/// a validation error is a `data` message with errors followed by `complete`, and `stop` ends an
/// operation with `complete`.
#[tokio::test]
async fn legacy_graphql_ws_starts_sends_data_and_stops() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("ws-legacy", Some("Legacy Co")).await;
    let mut ws = open_with(&app, "graphql-ws", &s.token).await;
    ws.send(Message::text(
        json!({"id": "h", "type": "start", "payload": {"query": "subscription { heartbeat(intervalSeconds: 1) { seq } }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    let data = next_json(&mut ws).await;
    assert_eq!(
        data,
        json!({"type": "data", "id": "h", "payload": {"data": {"heartbeat": {"seq": 1}}}})
    );
    ws.send(Message::text(
        json!({"id": "bad", "type": "start", "payload": {"query": "subscription { nope }"}})
            .to_string(),
    ))
    .await
    .unwrap();
    // The heartbeat may tick in between: read until the bad operation has ended.
    let mut bad = Vec::new();
    while bad.len() < 2 {
        let m = next_json(&mut ws).await;
        if m["id"] == "bad" {
            bad.push(m);
        }
    }
    assert_eq!(bad[0]["type"], "data", "{}", bad[0]);
    assert!(
        bad[0]["payload"]["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("nope"),
        "{}",
        bad[0]
    );
    assert_eq!(bad[1], json!({"type": "complete", "id": "bad"}));
    ws.send(Message::text(r#"{"id":"h","type":"stop"}"#))
        .await
        .unwrap();
    results_then_complete(&mut ws, "data", "h").await;
}
