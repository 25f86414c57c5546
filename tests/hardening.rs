//! The attacks of the hardening review, each reproduced through the real surface: requests of
//! death against a real `mercato serve` process, brute force through one request, numbers out of
//! range, multipart and WebSocket sizes, sockets outliving their token, cross-site sockets,
//! concurrent owner demotions, input hygiene and a private schema answering alike.

#![allow(clippy::unwrap_used, missing_docs)]

use futures::{SinkExt as _, StreamExt as _};
use mercato_tests::procs;
use mercato_tests::stock::{self, ADJUST};
use mercato_tests::ws::{self, Ws};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

async fn app_with(f: impl FnOnce(&mut mercato::config::Config)) -> TestApp {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    f(&mut config);
    TestApp::spawn_with(config, db).await
}

fn codes(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|e| {
            e.iter()
                .map(|x| x["extensions"]["code"].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// POSTs `body` to a server at `addr`; the answer must come within 20 s (a hung server fails).
async fn post_raw(addr: &str, body: &Value) -> Value {
    let resp = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .json(body)
        .timeout(Duration::from_secs(20))
        .send()
        .await
        .expect("the server answered");
    resp.json().await.unwrap_or(Value::Null)
}

async fn assert_alive(p: &mut procs::Proc, after: &str) {
    assert!(!p.exited(), "the server died after {after}:\n{}", p.logs());
    let addr = p.addr.clone().unwrap();
    let health = reqwest::Client::new()
        .get(format!("http://{addr}/healthz"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "/healthz did not answer within a second after {after}:\n{}",
        p.logs()
    );
}

#[tokio::test]
async fn requests_of_death_are_refused_and_the_server_stays_up() {
    let app = TestApp::spawn().await;
    let session = app.sign_up("death", Some("Death Co")).await;
    let mut server = procs::server(&app, &[]).await;
    let addr = server.addr.clone().unwrap();

    let list = format!(
        "{{ __typename(x: {}1{}) }}",
        "[".repeat(1625),
        "]".repeat(1625)
    );
    let object = format!(
        "{{ __typename(x: {}1{}) }}",
        "{a:".repeat(1500),
        "}".repeat(1500)
    );
    let default = format!(
        "query($v: Int = {}1{}) {{ __typename }}",
        "[".repeat(2000),
        "]".repeat(2000)
    );
    let mut bomb = String::from("fragment E0 on Query { __typename }\n");
    for i in 1..=24 {
        bomb.push_str(&format!(
            "fragment E{i} on Query {{ ...E{p} ...E{p} }}\n",
            p = i - 1
        ));
    }
    bomb.push_str("query { ...E24 }");
    assert!(bomb.len() < 1100, "the bomb is about a kilobyte");
    let mut chain = String::from("query { ...F0 }\n");
    for i in 0..20_000 {
        chain.push_str(&format!("fragment F{i} on Query {{ ...F{} }}\n", i + 1));
    }
    chain.push_str("fragment F20000 on Query { __typename }\n");
    let wide = format!("{{ {} }}", "__typename ".repeat(90_000));
    let mut deep_var = json!(1);
    for _ in 0..120 {
        deep_var = json!([deep_var]);
    }

    let cases: Vec<(&str, Value, &[&str])> = vec![
        (
            "a 1,625-deep list literal",
            json!({ "query": list }),
            &["MAX_NESTING_EXCEEDED"],
        ),
        (
            "a 1,500-deep input object",
            json!({ "query": object }),
            &["MAX_NESTING_EXCEEDED"],
        ),
        (
            "a 2,000-deep variable default",
            json!({ "query": default }),
            &["MAX_NESTING_EXCEEDED"],
        ),
        (
            "a fragment bomb",
            json!({ "query": bomb }),
            &["MAX_SELECTIONS_EXCEEDED"],
        ),
        (
            "a 20,000-fragment chain",
            json!({ "query": chain }),
            &["MAX_NESTING_EXCEEDED", "MAX_SELECTIONS_EXCEEDED"],
        ),
        (
            "90,000 fields",
            json!({ "query": wide }),
            &["MAX_SELECTIONS_EXCEEDED"],
        ),
        (
            "a 120-deep variable",
            json!({ "query": "query($v: JSON) { __typename }", "variables": { "v": deep_var } }),
            &["MAX_NESTING_EXCEEDED"],
        ),
    ];
    for (what, body, expected) in cases {
        let resp = post_raw(&addr, &body).await;
        let got = codes(&resp);
        assert!(
            got.iter().any(|c| expected.contains(&c.as_str())),
            "{what}: expected one of {expected:?}, got {resp}"
        );
        assert_alive(&mut server, what).await;
    }
    // The same over a WebSocket subscription.
    let mut sock = ws::open_at(&addr).await;
    sock.send(Message::text(
        json!({"type": "connection_init", "payload": {"token": session.token}}).to_string(),
    ))
    .await
    .unwrap();
    assert_eq!(ws::next_json(&mut sock).await["type"], "connection_ack");
    sock.send(Message::text(
        json!({"id": "1", "type": "subscribe", "payload": {"query": format!("subscription {{ heartbeat(intervalSeconds: {}1{}) {{ __typename }} }}", "[".repeat(3000), "]".repeat(3000))}}).to_string(),
    ))
    .await
    .unwrap();
    let answer = ws::next_json(&mut sock).await;
    assert!(
        answer["type"] == "error" || answer["type"] == "next",
        "{answer}"
    );
    assert!(
        answer.to_string().contains("MAX_NESTING_EXCEEDED"),
        "{answer}"
    );
    assert_alive(&mut server, "a nested subscription").await;
}

#[tokio::test]
async fn every_login_attempt_counts_whatever_the_aliasing_or_batching() {
    let app = app_with(|c| {
        c.limits.login_per_account = (1, 5);
        c.limits.login_per_ip = (1, 1000);
    })
    .await;
    let email = unique_email("brute");
    app.sign_up_email(&email).await;
    // 45 wrong guesses and the right password, aliased in one request.
    let mut fields = String::new();
    for i in 0..45 {
        fields.push_str(&format!(
            "g{i}: logIn(input: {{email: \"{email}\", password: \"wrong guess {i}\"}}) {{ accessToken userErrors {{ code }} }}\n"
        ));
    }
    fields.push_str(&format!(
        "right: logIn(input: {{email: \"{email}\", password: \"{PASSWORD}\"}}) {{ accessToken userErrors {{ code }} }}"
    ));
    let (_, body) = app
        .post(None, json!({ "query": format!("mutation {{ {fields} }}") }))
        .await;
    let data = &body["data"];
    let invalid = (0..45)
        .filter(|i| data[format!("g{i}")]["userErrors"][0]["code"] == "INVALID_CREDENTIALS")
        .count();
    assert_eq!(invalid, 5, "only the account's burst is tried: {body}");
    assert!(data["right"].is_null(), "no token past the limit: {body}");
    let limited = codes(&body).iter().filter(|c| *c == "RATE_LIMITED").count();
    assert_eq!(limited, 41, "{body}");

    // Per IP, across batches and accounts.
    let app = app_with(|c| {
        c.limits.login_per_account = (1000, 1000);
        c.limits.login_per_ip = (1, 8);
    })
    .await;
    let mut tried = 0;
    for _ in 0..3 {
        let batch: Vec<Value> = (0..4)
            .map(|i| json!({ "query": format!("mutation {{ logIn(input: {{email: \"x{i}-{}@example.test\", password: \"guess\"}}) {{ userErrors {{ code }} }} }}", uuid::Uuid::new_v4().simple()) }))
            .collect();
        let (_, body) = app.post(None, Value::Array(batch)).await;
        tried += body
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["data"]["logIn"]["userErrors"][0]["code"] == "INVALID_CREDENTIALS")
            .count();
    }
    assert_eq!(tried, 8, "the IP's burst, then RATE_LIMITED");
}

#[tokio::test]
async fn a_batch_counts_as_many_requests_as_it_holds() {
    let app = app_with(|c| {
        c.limits.auth_rate_per_minute = 1;
        c.limits.auth_rate_burst = 5;
    })
    .await;
    let batch: Vec<Value> = (0..10)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, _) = app.post(None, Value::Array(batch)).await;
    assert_eq!(status, 429, "10 operations against a burst of 5");
    // The refused batch still spent its first request; a batch of 3 fits in the rest but one.
    let batch: Vec<Value> = (0..3)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, _) = app.post(None, Value::Array(batch)).await;
    assert_eq!(status, 200, "3 fit");
    let (status, _) = app.post(None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(status, 200, "the fifth");
    let (status, _) = app.post(None, json!({ "query": "{ __typename }" })).await;
    assert_eq!(status, 429, "the burst is spent");
}

#[tokio::test]
async fn numbers_out_of_range_are_typed_validation_errors() {
    let app = TestApp::spawn().await;
    let sh = stock::shop(&app, "numbers").await;
    let v = stock::product(&app, &sh, &["N-1"]).await.remove(0);
    stock::receive(&app, &sh, &v, 3).await;
    let history = |first: i64| {
        json!({ "query": "query($v: ID!, $l: ID!, $f: Int!) { stockHistory(variantId: $v, locationId: $l, first: $f) { nodes { kind } } }",
                "variables": { "v": v, "l": sh.location, "f": first } })
    };
    for first in [-5, 101] {
        let (_, body) = app.post(Some(&sh.s.token), history(first)).await;
        assert_eq!(
            codes(&body),
            vec!["VALIDATION_FAILED"],
            "first {first}: {body}"
        );
        assert_eq!(body["errors"][0]["extensions"]["field"], "first");
    }
    let (_, body) = app.post(Some(&sh.s.token), history(1_000_000)).await;
    assert_eq!(codes(&body), vec!["MAX_COST_EXCEEDED"], "{body}");
    let (_, body) = app.post(Some(&sh.s.token), history(50)).await;
    assert_eq!(
        body["data"]["stockHistory"]["nodes"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    assert!(
        body["extensions"]["cost"]["requestedQueryCost"]
            .as_u64()
            .unwrap()
            >= 50,
        "a plain list is costed by its first: {body}"
    );

    let adjust = |kind: &str, q: i64| json!({"i": {"variantId": v, "locationId": sh.location, "kind": kind, "quantity": q, "reason": "r"}});
    for (kind, q) in [
        ("RECEIVE", 2_147_483_648_i64),
        ("RECEIVE", 1 << 62),
        ("ADJUST", -(1 << 62)),
        ("COUNT", 1_000_000_001),
    ] {
        let body = app.gql(Some(&sh.s.token), ADJUST, adjust(kind, q)).await;
        let e = &body["data"]["adjustStock"]["userErrors"][0];
        assert_eq!(e["code"], "VALIDATION_FAILED", "{kind} {q}: {body}");
        assert_eq!(e["field"], json!(["input", "quantity"]));
    }
    let body = app
        .gql(Some(&sh.s.token), ADJUST, adjust("RECEIVE", 999_999_997))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["stockLevel"]["onHand"],
        1_000_000_000
    );
    let body = app
        .gql(Some(&sh.s.token), ADJUST, adjust("RECEIVE", 1))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["userErrors"][0]["code"], "VALIDATION_FAILED",
        "{body}"
    );
    assert_eq!(stock::level(&app, &sh, &v).await["onHand"], 1_000_000_000);
    stock::assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn nul_characters_and_oversized_text_are_typed_validation_errors() {
    let app = TestApp::spawn().await;
    let sh = stock::shop(&app, "hygiene").await;
    let v = stock::product(&app, &sh, &["H-1"]).await.remove(0);
    let with_reason = |reason: &str| json!({"i": {"variantId": v, "locationId": sh.location, "kind": "RECEIVE", "quantity": 1, "reason": reason}});
    let body = app
        .gql(Some(&sh.s.token), ADJUST, with_reason(&"x".repeat(900_000)))
        .await;
    assert_eq!(
        codes(&body),
        vec!["VALIDATION_FAILED"],
        "{}",
        &body.to_string()[..300.min(body.to_string().len())]
    );
    assert_eq!(body["errors"][0]["extensions"]["field"], "i.reason");
    let body = app
        .gql(Some(&sh.s.token), ADJUST, with_reason(&"x".repeat(501)))
        .await;
    let e = &body["data"]["adjustStock"]["userErrors"][0];
    assert_eq!(e["code"], "VALIDATION_FAILED", "{body}");
    assert_eq!(e["field"], json!(["input", "reason"]));
    let body = app
        .gql(Some(&sh.s.token), ADJUST, with_reason("a\u{0}b"))
        .await;
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "i.reason");
    // NUL in free-form JSON (attributes), as a key and as a value, and in a literal.
    for attributes in [json!({"colour": "re\u{0}d"}), json!({"col\u{0}our": "red"})] {
        let body = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }",
                json!({"i": {"name": "Nul", "variants": [{"sku": "NUL-1", "attributes": attributes}]}}),
            )
            .await;
        assert_eq!(codes(&body), vec!["VALIDATION_FAILED"], "{body}");
    }
    let body = app
        .gql(
            Some(&sh.s.token),
            r#"mutation { createBranch(input: {name: "a\u0000b"}) { branch { id } } }"#,
            json!({}),
        )
        .await;
    assert_eq!(codes(&body), vec!["VALIDATION_FAILED"], "{body}");
    assert_eq!(body["errors"][0]["extensions"]["field"], "input.name");
    // Lists: 10,001 items anywhere, or more prices than currencies make sense for.
    let create = "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { field code } } }";
    let urls: Vec<String> = (0..10_001)
        .map(|i| format!("https://img.example/{i}.jpg"))
        .collect();
    let body = app
        .gql(
            Some(&sh.s.token),
            create,
            json!({"i": {"name": "Many", "imageUrls": urls, "variants": [{"sku": "L-1"}]}}),
        )
        .await;
    assert_eq!(
        codes(&body),
        vec!["VALIDATION_FAILED"],
        "{}",
        &body.to_string()[..200]
    );
    assert_eq!(body["errors"][0]["extensions"]["field"], "i.imageUrls");
    let prices: Vec<Value> = (0..21)
        .map(|_| json!({"amount": "1.00", "currencyCode": "USD"}))
        .collect();
    let body = app
        .gql(
            Some(&sh.s.token),
            create,
            json!({"i": {"name": "Priced", "variants": [{"sku": "P-1", "prices": prices}]}}),
        )
        .await;
    let e = &body["data"]["createProduct"]["userErrors"][0];
    assert_eq!(e["code"], "VALIDATION_FAILED", "{body}");
    stock::assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn a_private_schema_answers_real_and_guessed_fields_alike() {
    let app = app_with(|c| {
        c.limits.introspection = false;
        c.limits.field_suggestions = false;
    })
    .await;
    let real = app.gql(None, "{ products }", json!({})).await;
    let guessed = app.gql(None, "{ orders }", json!({})).await;
    assert_eq!(answer(&real), answer(&guessed));
    assert!(
        real["extensions"]["cost"].is_null(),
        "no cost estimate for an invalid operation: {real}"
    );
    assert_eq!(codes(&real), vec!["GRAPHQL_VALIDATION_FAILED"]);
    // Development keeps the detail.
    let dev = TestApp::spawn().await;
    let real = dev.gql(None, "{ products }", json!({})).await;
    assert!(real.to_string().contains("selection"), "{real}");
}

fn multipart_with_parts(n: usize) -> (String, Vec<u8>) {
    let boundary = "b0undary";
    let mut body = Vec::new();
    let operations = json!({"query": "{ __typename }"}).to_string();
    for (name, value) in [("operations", operations.as_str()), ("map", "{}")] {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n"
            )
            .as_bytes(),
        );
    }
    for i in 0..n {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"x{i}\"\r\n\r\n1\r\n")
                .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[tokio::test]
async fn a_multipart_request_with_thousands_of_parts_is_refused_unparsed() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("parts", Some("Parts Co")).await;
    for (n, expected) in [(20_000, 413), (2, 200)] {
        let (ct, body) = multipart_with_parts(n);
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&s.token)
            .header("content-type", ct)
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), expected, "{n} parts");
        if expected == 413 {
            let body: Value = resp.json().await.unwrap();
            assert_eq!(codes(&body), vec!["TOO_MANY_PARTS"]);
        }
    }
}

async fn init(sock: &mut Ws, token: &str) -> Value {
    sock.send(Message::text(
        json!({"type": "connection_init", "payload": {"token": token}}).to_string(),
    ))
    .await
    .unwrap();
    ws::next_json(sock).await
}

async fn close_code(sock: &mut Ws) -> Option<u16> {
    loop {
        match tokio::time::timeout(Duration::from_secs(15), sock.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => return frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => continue,
            Ok(Some(Err(_)) | None) => return None,
            Err(_) => panic!("the socket stayed open"),
        }
    }
}

#[tokio::test]
async fn websocket_messages_sockets_and_ids_are_capped() {
    let app = app_with(|c| {
        c.limits.ws_max_message_bytes = 8 * 1024;
        c.limits.ws_max_sockets_per_principal = 3;
    })
    .await;
    let s = app.sign_up("sockets", Some("Sockets Co")).await;

    // A message over the cap ends the socket.
    let mut big = ws::open(&app).await;
    assert_eq!(init(&mut big, &s.token).await["type"], "connection_ack");
    let payload = json!({"id": "1", "type": "subscribe", "payload": {"query": format!("subscription {{ heartbeat {{ __typename }} }} # {}", "x".repeat(20_000))}});
    let _ = big.send(Message::text(payload.to_string())).await;
    let ended = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match big.next().await {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return true,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(ended.unwrap_or(false), "a 20 KB message was accepted");
    drop(big);

    // Sockets per principal.
    let mut open = Vec::new();
    for _ in 0..3 {
        let mut sock = ws::open(&app).await;
        assert_eq!(init(&mut sock, &s.token).await["type"], "connection_ack");
        open.push(sock);
    }
    let mut fourth = ws::open(&app).await;
    fourth
        .send(Message::text(
            json!({"type": "connection_init", "payload": {"token": s.token}}).to_string(),
        ))
        .await
        .unwrap();
    assert_eq!(close_code(&mut fourth).await, Some(4429));
    // Another principal is not affected; closing one frees a slot.
    let other = app.sign_up("sockets2", Some("Other Co")).await;
    let mut theirs = ws::open(&app).await;
    assert_eq!(
        init(&mut theirs, &other.token).await["type"],
        "connection_ack"
    );
    let mut first = open.remove(0);
    first.close(None).await.unwrap();
    drop(first);
    let mut again = None;
    for _ in 0..50 {
        let mut sock = ws::open(&app).await;
        sock.send(Message::text(
            json!({"type": "connection_init", "payload": {"token": s.token}}).to_string(),
        ))
        .await
        .unwrap();
        if let Some(Ok(Message::Text(t))) = sock.next().await
            && t.contains("connection_ack")
        {
            again = Some(sock);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(again.is_some(), "a closed socket frees its slot");

    // A duplicate subscribe id closes with 4409.
    let mut sock = ws::open(&app).await;
    let mut sock2 = open.remove(0);
    drop(sock2.close(None).await);
    assert_eq!(
        init(&mut sock, &other.token).await["type"],
        "connection_ack"
    );
    let sub = json!({"id": "dup", "type": "subscribe", "payload": {"query": "subscription { heartbeat(intervalSeconds: 1) { __typename } }"}});
    sock.send(Message::text(sub.to_string())).await.unwrap();
    sock.send(Message::text(sub.to_string())).await.unwrap();
    assert_eq!(close_code(&mut sock).await, Some(4409));
}

#[tokio::test]
async fn a_subscription_ends_with_4403_when_its_token_expires() {
    let app = app_with(|c| c.access_token_ttl = Duration::from_secs(3)).await;
    let s = app.sign_up("expiry", Some("Expiry Co")).await;
    let mut sock = ws::subscribe(
        &app,
        &s.token,
        "subscription { heartbeat(intervalSeconds: 1) { __typename } }",
        json!({}),
    )
    .await;
    assert_eq!(close_code(&mut sock).await, Some(4403));
}

#[tokio::test]
async fn a_cross_site_websocket_upgrade_is_refused() {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest as _;
    let app = app_with(|c| c.limits.allowed_origins = vec!["https://app.example.com".into()]).await;
    for (origin, allowed) in [
        (Some("https://evil.example".to_owned()), false),
        (Some("https://app.example.com".to_owned()), true),
        (Some(format!("http://{}", app.addr)), true),
        (None, true),
    ] {
        let mut req = format!("ws://{}/graphql/ws", app.addr)
            .into_client_request()
            .unwrap();
        req.headers_mut().insert(
            "sec-websocket-protocol",
            "graphql-transport-ws".parse().unwrap(),
        );
        if let Some(o) = &origin {
            req.headers_mut().insert("origin", o.parse().unwrap());
        }
        let result = tokio_tungstenite::connect_async(req).await;
        match (result, allowed) {
            (Ok(_), true) => {}
            (Err(tokio_tungstenite::tungstenite::Error::Http(resp)), false) => {
                assert_eq!(resp.status().as_u16(), 403, "{origin:?}");
            }
            (r, _) => panic!(
                "origin {origin:?}: expected allowed={allowed}, got {:?}",
                r.map(|_| ())
            ),
        }
    }
}

#[tokio::test]
async fn owners_demoting_each_other_at_once_get_conflict_never_internal() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("owner-a", Some("Twin Owners")).await;
    let b_email = unique_email("owner-b");
    let b_signed = app.sign_up_email(&b_email).await;
    let org = a.org_id.clone().unwrap();
    let added = app
        .add_member_by_email(&a, &b_email, "OWNER", json!([]))
        .await;
    assert!(
        added["userErrors"].as_array().unwrap().is_empty(),
        "{added}"
    );
    let b_token = app.switch(&b_signed, &org).await;
    let change = "mutation($i: ChangeMemberRoleInput!) { changeMemberRole(input: $i) { member { role } userErrors { code message } } }";
    for round in 0..8 {
        let a_req = app.gql(
            Some(&a.token),
            change,
            json!({"i": {"userId": b_signed.user_id, "role": "ADMIN"}}),
        );
        let b_req = app.gql(
            Some(&b_token),
            change,
            json!({"i": {"userId": a.user_id, "role": "ADMIN"}}),
        );
        let (ra, rb) = tokio::join!(a_req, b_req);
        let mut outcomes = Vec::new();
        for r in [&ra, &rb] {
            assert!(
                !codes(r).contains(&"INTERNAL".to_owned()),
                "round {round}: {r}"
            );
            outcomes.push(
                if r["data"]["changeMemberRole"]["member"]["role"] == "ADMIN" {
                    "ok".to_owned()
                } else {
                    r["data"]["changeMemberRole"]["userErrors"][0]["code"]
                        .as_str()
                        .map(str::to_owned)
                        .or_else(|| codes(r).first().cloned())
                        .unwrap_or_default()
                },
            );
        }
        outcomes.sort();
        assert!(
            outcomes == ["CONFLICT", "ok"] || outcomes == ["FORBIDDEN", "ok"],
            "round {round}: exactly one demotion wins, the other is refused: {outcomes:?} {ra} {rb}"
        );
        let owners = owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT count(*)::text FROM org_members WHERE role = 'OWNER'",
        )
        .await;
        assert_eq!(owners, vec!["1"], "round {round}");
        // Whoever remains OWNER makes the other OWNER again for the next round.
        let (winner, loser_id) = if outcomes_owner_is_a(&app, &org, &a.user_id).await {
            (a.token.clone(), b_signed.user_id.clone())
        } else {
            (b_token.clone(), a.user_id.clone())
        };
        let back = app
            .gql(
                Some(&winner),
                change,
                json!({"i": {"userId": loser_id, "role": "OWNER"}}),
            )
            .await;
        assert_eq!(
            back["data"]["changeMemberRole"]["member"]["role"], "OWNER",
            "{back}"
        );
    }
}

async fn outcomes_owner_is_a(app: &TestApp, org: &str, a_user: &str) -> bool {
    let rows = owner_rows(
        app,
        &gid_uuid(org),
        &format!(
            "SELECT role::text FROM org_members WHERE user_id = '{}'",
            gid_uuid(a_user)
        ),
    )
    .await;
    rows == vec!["OWNER"]
}
