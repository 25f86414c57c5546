//! Degraded dependencies and cancelled requests: a hung Redis costs nothing once its breaker is
//! open, a Postgres that is down is answered fast with 503 + Retry-After, and clients that abort
//! mid-request leave no transaction open, no warning and no half-applied write.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::procs;
use mercato_tests::proxy::{Mode, Proxy};
use mercato_tests::stock;
use mercato_tests::*;
use rand::Rng as _;
use serde_json::{Value, json};
use std::time::Duration;

fn host_port(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
    rest.split('/').next().unwrap().to_owned()
}

const PAGE: &str =
    "{ products(first: 5) { edges { node { name variants { sku prices { amount } } } } } }";

#[tokio::test]
async fn a_hung_redis_costs_nothing_once_its_breaker_is_open() {
    let proxy = Proxy::start(&host_port(&redis_url())).await;
    let db = fresh_database().await;
    let mut config = test_config(&db);
    let path = redis_url();
    let suffix = path
        .split_once("://")
        .unwrap()
        .1
        .split_once('/')
        .map(|(_, d)| format!("/{d}"))
        .unwrap_or_default();
    config.redis_url = format!("redis://{}{suffix}", proxy.addr).into();
    let app = TestApp::spawn_with(config, db).await;
    let sh = stock::shop(&app, "hung-redis").await;
    stock::product(&app, &sh, &["R-1"]).await;
    let before = app.gql(Some(&sh.s.token), PAGE, json!({})).await;
    assert_eq!(
        before["data"]["products"]["edges"][0]["node"]["variants"][0]["sku"],
        "R-1"
    );

    proxy.set(Mode::Blackhole);
    let mut opened = false;
    for _ in 0..20 {
        let body = app.gql(Some(&sh.s.token), PAGE, json!({})).await;
        assert_eq!(
            body["data"], before["data"],
            "answers stay right while Redis hangs"
        );
        if app.state.redis_guard.breaker.is_open() {
            opened = true;
            break;
        }
    }
    assert!(opened, "the Redis breaker opened");
    let ready: Value = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ready["circuits"]["redis"], "open", "{ready}");
    // While it is open, no request sends Redis a byte: nothing waits on it.
    let sent = proxy.bytes_from_client();
    for _ in 0..20 {
        let body = app.gql(Some(&sh.s.token), PAGE, json!({})).await;
        assert_eq!(body["data"], before["data"]);
    }
    assert_eq!(
        proxy.bytes_from_client(),
        sent,
        "requests touched the hung Redis"
    );

    proxy.set(Mode::Forward);
    let mut closed = false;
    for _ in 0..100 {
        app.gql(Some(&sh.s.token), PAGE, json!({})).await;
        if !app.state.redis_guard.breaker.is_open() {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(closed, "the breaker closed once Redis answered again");
}

#[tokio::test]
async fn a_postgres_that_is_down_gets_503_with_retry_after_fast() {
    let proxy = Proxy::start(&host_port(&runtime_url("x"))).await;
    let db = fresh_database().await;
    let mut config = test_config(&db);
    let url = runtime_url(&db).replace(&host_port(&runtime_url(&db)), &proxy.addr.to_string());
    config.database_url = url.into();
    config.limits.db_acquire_timeout = Duration::from_millis(2_000);
    let app = TestApp::spawn_with(config, db).await;
    let s = app.sign_up("pg-down", Some("Down Co")).await;
    let query = json!({ "query": "{ viewer { user { email } } }" });
    let (status, _) = app.post(Some(&s.token), query.clone()).await;
    assert_eq!(status, 200);

    proxy.set(Mode::Refuse);
    let mut opened = false;
    for _ in 0..10 {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&s.token)
            .json(&query)
            .send()
            .await
            .unwrap();
        // A pooled connection is not pinged when it is handed out (only an idle one is): a request
        // racing the proxy's closing of its open connections may still be answered.
        if resp.status().as_u16() == 200 {
            continue;
        }
        assert_eq!(resp.status().as_u16(), 503);
        assert!(resp.headers().get("retry-after").is_some());
        let body: Value = resp.json().await.unwrap();
        assert_eq!(first_error_code(&body), "SERVICE_UNAVAILABLE", "{body}");
        if app.state.pg_breaker.is_open() {
            opened = true;
            break;
        }
    }
    assert!(opened, "the Postgres breaker opened");
    // While open, requests are answered without even trying to connect.
    let tried = proxy.accepted();
    for _ in 0..10 {
        let (status, body) = app.post(Some(&s.token), query.clone()).await;
        assert_eq!(
            (status, first_error_code(&body).as_str()),
            (503, "SERVICE_UNAVAILABLE")
        );
    }
    assert_eq!(
        proxy.accepted(),
        tried,
        "no connection attempt while the breaker is open"
    );

    proxy.set(Mode::Forward);
    let mut back = false;
    for _ in 0..100 {
        let (status, body) = app.post(Some(&s.token), query.clone()).await;
        if status == 200 {
            assert!(
                body["data"]["viewer"]["user"]["email"].is_string(),
                "{body}"
            );
            back = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(back, "requests succeed again once Postgres is back");
}

/// Sends a POST over a raw socket and resets the connection after `delay`.
async fn abort_after(addr: &str, token: &str, body: &str, delay: Duration) {
    use tokio::io::AsyncWriteExt as _;
    let Ok(mut sock) = tokio::net::TcpStream::connect(addr).await else {
        return;
    };
    let req = format!(
        "POST /graphql HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    if sock.write_all(req.as_bytes()).await.is_err() {
        return;
    }
    tokio::time::sleep(delay).await;
    drop(sock);
}

#[tokio::test]
async fn aborted_requests_leave_no_transaction_and_no_half_applied_write() {
    let app = TestApp::spawn().await;
    let sh = stock::shop(&app, "aborts").await;
    let variant = stock::product(&app, &sh, &["AB-1"]).await.remove(0);
    let mut server = procs::server(&app, &[("MERCATO_DATABASE_POOL_MAX", "4")]).await;
    let addr = server.addr.clone().unwrap();

    let adjust = |key: &str| {
        json!({ "query": "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { stockLevel { onHand } userErrors { code message } } }",
                "variables": { "i": { "variantId": variant, "locationId": sh.location, "kind": "RECEIVE",
                                      "quantity": 1, "reason": "abort test", "idempotencyKey": key } } })
    };
    // The operations are valid: unaborted, they succeed. Their time sets the abort window, so the
    // aborts land all over the request (authentication, BEGIN, statements, COMMIT) on any machine.
    let mut took = Duration::ZERO;
    for body in [
        json!({ "query": PAGE }),
        adjust("abort-warm-up"),
        adjust("abort-warm-up-2"),
    ] {
        let t0 = std::time::Instant::now();
        let resp: Value = reqwest::Client::new()
            .post(format!("http://{addr}/graphql"))
            .bearer_auth(&sh.s.token)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        took = took.max(t0.elapsed());
        assert!(resp["errors"].is_null(), "{resp}");
        assert!(!resp.to_string().contains("\"code\""), "{resp}");
    }
    let window = u64::try_from(took.as_micros()).unwrap().max(1_000) * 2;
    let mut tasks = Vec::new();
    for i in 0..600 {
        let delay = Duration::from_micros(rand::rng().random_range(0..window));
        let body = if i % 2 == 0 {
            json!({ "query": PAGE }).to_string()
        } else {
            adjust(&format!("abort-{i}")).to_string()
        };
        let (addr, token) = (addr.clone(), sh.s.token.clone());
        tasks.push(tokio::spawn(async move {
            abort_after(&addr, &token, &body, delay).await
        }));
        if tasks.len() >= 16 {
            for t in tasks.drain(..) {
                t.await.unwrap();
            }
        }
    }
    for t in tasks {
        t.await.unwrap();
    }
    // Let operations whose clients left finish on the server.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let logs = server.logs();
    for warning in [
        "already a transaction in progress",
        "no transaction in progress",
    ] {
        assert!(
            !logs.contains(warning),
            "`{warning}` in the server log:\n{logs}"
        );
    }
    let runtime = app.runtime().await;
    let idle_in_tx = rows_as(
        &runtime,
        &[],
        "SELECT count(*)::text FROM pg_stat_activity
         WHERE usename = current_user AND datname = current_database() AND pid <> pg_backend_pid()
           AND state LIKE 'idle in transaction%'",
    )
    .await
    .unwrap();
    assert_eq!(
        idle_in_tx,
        vec!["0"],
        "connections left inside a transaction"
    );

    // Every aborted mutation committed whole (its key and its one movement) or not at all.
    let key_rows = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM stock_requests WHERE idempotency_key LIKE 'abort-%'",
    )
    .await;
    let movements = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM stock_movements WHERE reason = 'abort test'",
    )
    .await;
    assert_eq!(key_rows, movements, "keys and movements differ");
    let on_hand = stock::level(&app, &sh, &variant).await["onHand"]
        .as_i64()
        .unwrap();
    assert_eq!(on_hand.to_string(), movements[0]);
    stock::assert_ledger_equals_levels(&app, &sh.org).await;

    // The pool is healthy: a query and a mutation through the same server still work.
    let page = reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(&sh.s.token)
        .json(&json!({ "query": PAGE }))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert!(page["errors"].is_null(), "{page}");
    assert!(!server.exited(), "{}", server.logs());
}
