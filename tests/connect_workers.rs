//! Connected stores under real workers: two `mercato worker` processes refreshing one Shopee
//! store spend its single-use refresh token once; a refresh the platform refuses expires the
//! store (schedules paused, an alert delivered) until it is reconnected; two workers share one
//! store's quota and honour one platform throttle; no token, code or signed URL is left in logs,
//! responses, Redis or the database.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::Platform;
use connectors::simulator::{Fault, SimConfig};
use mercato::domain::jobs::JobKind;
use mercato::ids::{OrgId, StoreId};
use mercato::jobs::{NewJob, submit};
use mercato_tests::market::{self, RETURN_URL};
use mercato_tests::procs;
use mercato_tests::ws;
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

async fn start_sync(app: &TestApp, s: &Session, store: &str, kind: &str, key: &str) -> String {
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code message } } }",
            json!({ "i": { "storeId": store, "kind": kind, "idempotencyKey": key } }),
        )
        .await;
    body["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// Waits until every job of `kind` of the org has finished; returns their statuses.
async fn finished(app: &TestApp, org: &str, kind: &str, n: usize, wait: Duration) -> Vec<String> {
    let end = tokio::time::Instant::now() + wait;
    loop {
        let rows = owner_rows(
            app,
            &gid_uuid(org),
            &format!("SELECT status || ' ' || coalesce(last_error, '') FROM jobs WHERE kind = '{kind}' AND schedule_id IS NULL ORDER BY id"),
        )
        .await;
        if rows.len() >= n
            && rows
                .iter()
                .all(|r| !r.starts_with("QUEUED") && !r.starts_with("RUNNING"))
        {
            return rows;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "jobs still running: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn two_workers_refreshing_one_shopee_store_spend_its_refresh_token_once() {
    let defaults = SimConfig::default();
    let cfg = SimConfig {
        // Inside the 15-minute margin: every TOKEN_REFRESH finds the token expiring.
        access_lifetime: [
            600,
            defaults.access_lifetime[1],
            defaults.access_lifetime[2],
            defaults.access_lifetime[3],
        ],
        // The old access token dies at the refresh: a worker still using it would be refused.
        shopee_refresh_grace_secs: 0,
        ..defaults
    };
    let sim = market::simulator(cfg).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("race", Some("Race Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "SHOPEE")
        .await
        .store
        .unwrap();
    app.disable_schedules(&s, &store).await;
    // The refresh takes 1.5 s at the platform: the second worker arrives while the first waits.
    sim.sim.set_auth_delay(1500);
    let env = [
        ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
        ("MERCATO_WORKER_CONCURRENCY", "1"),
    ];
    let w1 = procs::worker(&app, &env).await;
    let w2 = procs::worker(&app, &env).await;
    start_sync(&app, &s, &store, "TOKEN_REFRESH", "race-1").await;
    start_sync(&app, &s, &store, "TOKEN_REFRESH", "race-2").await;
    let done = finished(&app, &org, "TOKEN_REFRESH", 2, Duration::from_secs(40)).await;
    assert!(done.iter().all(|r| r.starts_with("SUCCEEDED")), "{done:?}");
    assert_eq!(
        sim.sim
            .requests(Platform::Shopee, "/api/v2/auth/access_token/get"),
        1,
        "exactly one refresh reached the platform"
    );
    assert_eq!(sim.sim.rejected(), 0, "no worker presented a spent token");
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT version::text FROM store_tokens"
        )
        .await,
        vec!["2"]
    );
    // Both workers ran one job each, and both checked the store with the platform afterwards.
    for w in [&w1, &w2] {
        w.wait_for_log("store token check", Duration::from_secs(5))
            .await;
    }
    let st = market::store(&app, &s, &store).await;
    assert_eq!(st["health"]["status"], "CONNECTED");
    assert!(st["health"]["lastSuccessAt"].is_string(), "{st}");
}

#[tokio::test]
async fn a_refused_refresh_expires_the_store_until_it_is_reconnected() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("expire", Some("Expire Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "SHOPEE")
        .await
        .store
        .unwrap();
    let uuid = gid_uuid(&store);
    let mut alerts = ws::subscribe(
        &app,
        &s.token,
        "subscription { storeAlerts { storeId connection code message } }",
        json!({}),
    )
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    // The seller revoked Mercato on Shopee; the token is due for its refresh.
    sim.sim.set_revoked(Platform::Shopee, true);
    owner_exec(
        &app,
        &gid_uuid(&org),
        "UPDATE store_tokens SET access_expires_at = now() + interval '1 minute'",
    )
    .await;
    start_sync(&app, &s, &store, "TOKEN_REFRESH", "expire-1").await;
    let done = finished(&app, &org, "TOKEN_REFRESH", 1, Duration::from_secs(20)).await;
    assert!(done[0].starts_with("DEAD"), "{done:?}");
    assert!(done[0].contains("connect it again"), "{done:?}");
    let alert = ws::next_json(&mut alerts).await;
    assert_eq!(
        alert["payload"]["data"]["storeAlerts"]["storeId"],
        store.as_str(),
        "{alert}"
    );
    assert_eq!(
        alert["payload"]["data"]["storeAlerts"]["connection"], "AUTH_EXPIRED",
        "{alert}"
    );
    assert_eq!(
        alert["payload"]["data"]["storeAlerts"]["code"], "AUTH_REFUSED",
        "{alert}"
    );
    let st = market::store(&app, &s, &store).await;
    assert_eq!(st["connection"], "AUTH_EXPIRED");
    assert_eq!(st["health"]["lastError"]["code"], "AUTH_REFUSED", "{st}");
    assert_eq!(
        owner_rows(&app, &gid_uuid(&org), &format!("SELECT DISTINCT coalesce(paused, '-') FROM sync_schedules WHERE store_id = '{uuid}'")).await,
        vec!["AUTH_EXPIRED"]
    );
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            &format!(
                "SELECT count(*)::text FROM jobs WHERE store_id = '{uuid}' AND status = 'QUEUED'"
            )
        )
        .await,
        vec!["0"],
        "no slot left queued"
    );
    // A sync asked for now is skipped, not sent to the platform.
    let refreshes = sim
        .sim
        .requests(Platform::Shopee, "/api/v2/auth/access_token/get");
    start_sync(&app, &s, &store, "TOKEN_REFRESH", "expire-2").await;
    let done = finished(&app, &org, "TOKEN_REFRESH", 2, Duration::from_secs(20)).await;
    assert!(done[1].starts_with("SUCCEEDED"), "{done:?}");
    assert_eq!(
        owner_rows(&app, &gid_uuid(&org), "SELECT r.status FROM sync_runs r JOIN jobs j ON j.id = r.job_id ORDER BY j.id DESC LIMIT 1").await,
        vec!["SKIPPED"]
    );
    assert_eq!(
        sim.sim
            .requests(Platform::Shopee, "/api/v2/auth/access_token/get"),
        refreshes
    );

    // The seller approves Mercato again: connected, schedules back, an alert.
    sim.sim.set_revoked(Platform::Shopee, false);
    let back = market::connect(&app, &s, &branch, "SHOPEE").await;
    assert_eq!(
        (back.result.as_str(), back.store.as_deref()),
        ("RECONNECTED", Some(store.as_str()))
    );
    let alert = ws::next_json(&mut alerts).await;
    assert_eq!(
        alert["payload"]["data"]["storeAlerts"]["connection"], "CONNECTED",
        "{alert}"
    );
    assert_eq!(
        market::store(&app, &s, &store).await["connection"],
        "CONNECTED"
    );
    assert_eq!(
        owner_rows(&app, &gid_uuid(&org), &format!("SELECT count(*)::text FROM jobs WHERE store_id = '{uuid}' AND status = 'QUEUED' AND schedule_id IS NOT NULL")).await,
        vec!["6"],
        "schedules resumed"
    );
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
}

/// Queues a TEST_CALLS job of `calls` calls for `store`.
async fn calls(app: &TestApp, org: &str, store: &str, calls: u32, high: bool) {
    let mut job = NewJob::new(
        JobKind::TestCalls,
        json!({ "calls": calls, "high_priority": high }),
    );
    job.store = Some(StoreId(gid_uuid(store).parse().unwrap()));
    submit(&app.state, OrgId(gid_uuid(org).parse().unwrap()), job)
        .await
        .unwrap();
}

#[tokio::test]
async fn two_workers_share_one_store_budget_and_one_throttle() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("quota", Some("Quota Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "TIKTOK_SHOP")
        .await
        .store
        .unwrap();
    app.disable_schedules(&s, &store).await;
    let env = [
        ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
        ("MERCATO_WORKER_CONCURRENCY", "1"),
        ("MERCATO_QUOTAS", "TIKTOK_SHOP=20/1s"),
    ];
    let _w1 = procs::worker(&app, &env).await;
    let _w2 = procs::worker(&app, &env).await;

    // 80 calls from two processes against a budget of 20 per second.
    let connecting = sim.sim.data_request_times(Platform::TiktokShop).len();
    calls(&app, &org, &store, 40, true).await;
    calls(&app, &org, &store, 40, true).await;
    let done = finished(&app, &org, "TEST_CALLS", 2, Duration::from_secs(60)).await;
    assert!(done.iter().all(|r| r.starts_with("SUCCEEDED")), "{done:?}");
    let times = sim.sim.data_request_times(Platform::TiktokShop)[connecting..].to_vec();
    assert_eq!(times.len(), 80, "{times:?}");
    let most = times
        .iter()
        .map(|t| times.iter().filter(|u| **u >= *t && **u < t + 1000).count())
        .max()
        .unwrap();
    assert!(
        most <= 21,
        "{most} calls reached the platform within one second (budget 20, ±5%)"
    );
    let span = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!(
        span >= 2_900,
        "80 calls at 20/s take at least 3 s, took {span} ms: the budget was not applied"
    );

    // A 429 seen by one worker makes the other wait too: the fifth call of a second round is
    // refused with a 2 s retry-after while both workers are mid-way through 40 calls each (at
    // 20 per second they need two seconds; without a shared pause the other worker would go on).
    let before = connecting + times.len();
    sim.sim.inject_at(
        Platform::TiktokShop,
        5,
        Fault::RateLimit {
            retry_after_secs: 2,
        },
    );
    calls(&app, &org, &store, 40, true).await;
    calls(&app, &org, &store, 40, true).await;
    let done = finished(&app, &org, "TEST_CALLS", 4, Duration::from_secs(60)).await;
    assert!(done.iter().all(|r| r.starts_with("SUCCEEDED")), "{done:?}");
    let times = sim.sim.data_request_times(Platform::TiktokShop);
    assert_eq!(times.len() - before, 81, "80 calls and the one refused");
    let throttled_at = times[before + 4];
    let inside: Vec<i64> = times[before + 5..]
        .iter()
        .map(|t| t - throttled_at)
        .filter(|d| (300..1_900).contains(d))
        .collect();
    assert!(
        inside.is_empty(),
        "calls went out while the platform's 2 s retry-after ran: {inside:?} ms after the 429"
    );
}

/// Every string in a Redis reply, space-separated.
fn flatten(v: &redis::Value, out: &mut String) {
    match v {
        redis::Value::BulkString(b) => out.push_str(&String::from_utf8_lossy(b)),
        redis::Value::SimpleString(s) => out.push_str(s),
        redis::Value::Int(i) => out.push_str(&i.to_string()),
        redis::Value::Array(items) | redis::Value::Set(items) => {
            for i in items {
                flatten(i, out);
                out.push(' ');
            }
        }
        redis::Value::Map(pairs) => {
            for (k, v) in pairs {
                flatten(k, out);
                out.push(' ');
                flatten(v, out);
                out.push(' ');
            }
        }
        other => out.push_str(&format!("{other:?}")),
    }
}

/// POSTs GraphQL to a server process.
async fn gql_at(addr: &str, token: &str, query: &str, variables: Value) -> Value {
    reqwest::Client::new()
        .post(format!("http://{addr}/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": query, "variables": variables }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_codes_and_signed_urls_never_appear_in_logs_responses_redis_or_the_database() {
    // Short lifetimes: every TOKEN_REFRESH refreshes, so refreshed tokens are in play too.
    let cfg = SimConfig {
        access_lifetime: [600, 600, 600, 600],
        ..SimConfig::default()
    };
    let sim = market::simulator(cfg).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("secrets", Some("Secrets Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let debug = [
        ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
        (
            "MERCATO_CONNECT_RETURN_URLS",
            "https://seller.example/settings/",
        ),
        (
            "RUST_LOG",
            "debug,hyper=info,h2=info,tower=info,sqlx=info,sea_orm=info",
        ),
    ];
    let server = procs::server(&app, &debug).await;
    let addr = server.addr.clone().unwrap();
    let worker = procs::worker(&app, &debug).await;
    sim.sim
        .set_tiktok_redirect(format!("http://{addr}/connect/tiktok/callback"));
    let mut responses = Vec::new();
    let mut stores = Vec::new();
    for platform in ["SHOPEE", "TIKTOK_SHOP", "LAZADA"] {
        let began = gql_at(
            &addr,
            &s.token,
            "mutation($i: BeginStoreConnectionInput!) { beginStoreConnection(input: $i) { authorizationUrl userErrors { code } } }",
            json!({ "i": { "branchId": branch, "platform": platform, "region": "MY", "returnUrl": RETURN_URL } }),
        )
        .await;
        let url = began["data"]["beginStoreConnection"]["authorizationUrl"]
            .as_str()
            .unwrap_or_else(|| panic!("{began}"))
            .to_owned();
        let callback = market::approve(&url).await;
        assert!(
            callback.starts_with(&format!("http://{addr}/")),
            "{callback}"
        );
        let (status, location, body) = market::get(&callback).await;
        assert_eq!(status, 303, "{body}");
        responses.push(format!("{location}\n{body}"));
        stores.push(market::query(&location)["storeId"].clone());
    }
    let body = gql_at(
        &addr,
        &s.token,
        "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { code } } }",
        json!({ "i": { "branchId": branch, "platform": "JUMIA", "externalShopId": "x", "name": "Jumia", "region": "KE", "currency": "KES",
                       "credentials": { "refreshToken": sim.sim.config().jumia.2 } } }),
    )
    .await;
    responses.push(body.to_string());
    stores.push(
        body["data"]["connectStore"]["store"]["id"]
            .as_str()
            .unwrap()
            .to_owned(),
    );
    // Refresh every store (each refresh mints new tokens), and have one refresh refused.
    sim.sim.set_revoked(Platform::Lazada, true);
    for (i, st) in stores.iter().enumerate() {
        let body = gql_at(
            &addr,
            &s.token,
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code } } }",
            json!({ "i": { "storeId": st, "kind": "TOKEN_REFRESH", "idempotencyKey": format!("scan-{i}") } }),
        )
        .await;
        responses.push(body.to_string());
    }
    finished(&app, &org, "TOKEN_REFRESH", 4, Duration::from_secs(30)).await;
    let read = gql_at(
        &addr,
        &s.token,
        "{ organization { stores { edges { node { id connection hasCredentials health { status accessTokenExpiresAt refreshTokenExpiresAt lastError { code message } } } } } }
           syncRuns(first: 20) { edges { node { kind status message logs { edges { node { message } } } } } } }",
        json!({}),
    )
    .await;
    responses.push(read.to_string());

    let mut secrets = sim.sim.issued_secrets();
    assert!(
        secrets.len() >= 12,
        "codes and tokens were issued: {}",
        secrets.len()
    );
    let c = sim.sim.config();
    secrets.extend([
        c.shopee.1.clone(),
        c.tiktok.1.clone(),
        c.lazada.1.clone(),
        c.jumia.2.clone(),
    ]);
    let markers = ["sign=", "access_token=", "app_secret=", "refresh_token="];

    let logs = format!("{}\n{}", server.logs(), worker.logs());
    assert!(
        logs.contains("refreshed the store's platform tokens"),
        "the scenario ran"
    );
    let mut redis_dump = String::new();
    {
        let client = redis::Client::open(redis_url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg(format!("{}*", app.state.config.redis_prefix))
            .query_async(&mut conn)
            .await
            .unwrap();
        assert!(!keys.is_empty());
        for k in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&k)
                .query_async(&mut conn)
                .await
                .unwrap();
            let (cmd, extra): (&str, &[&str]) = match kind.as_str() {
                "string" => ("GET", &[]),
                "hash" => ("HGETALL", &[]),
                "zset" => ("ZRANGE", &["0", "-1"]),
                "set" => ("SMEMBERS", &[]),
                "list" => ("LRANGE", &["0", "-1"]),
                "stream" => ("XRANGE", &["-", "+"]),
                // Expired between KEYS and TYPE (quota logs, blocks).
                "none" => continue,
                other => panic!("unexpected Redis type {other} at {k}"),
            };
            let v: redis::Value = redis::cmd(cmd)
                .arg(&k)
                .arg(extra)
                .query_async(&mut conn)
                .await
                .unwrap();
            let mut flat = String::new();
            flatten(&v, &mut flat);
            redis_dump.push_str(&format!("{k} {flat}\n"));
        }
    }
    let tables = rows_as(
        &app.owner().await,
        &[],
        "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'seaql_migrations'",
    )
    .await
    .unwrap();
    let mut db_dump = String::new();
    for t in &tables {
        // Everything of the organization (forced RLS applies to the owner too), as text; bytea
        // columns print as hex, so a token stored in clear would show as its hex too.
        for row in owner_rows(&app, &gid_uuid(&org), &format!("SELECT x::text FROM {t} x")).await {
            db_dump.push_str(&row);
            db_dump.push('\n');
        }
    }
    assert!(
        db_dump.contains("AUTH_EXPIRED"),
        "the refused refresh was recorded"
    );
    for (place, text) in [
        ("logs", logs.as_str()),
        ("responses", &responses.join("\n")),
        ("redis", redis_dump.as_str()),
        ("database", db_dump.as_str()),
    ] {
        for secret in &secrets {
            assert!(!text.contains(secret.as_str()), "a secret in the {place}");
            let hexed = hex::encode(secret.as_bytes());
            assert!(!text.contains(&hexed), "a secret (hex) in the {place}");
        }
        for m in markers {
            assert!(
                !text.contains(m),
                "`{m}` (a signed URL or a token parameter) in the {place}"
            );
        }
    }
}

#[tokio::test]
async fn an_open_breaker_defers_jobs_instead_of_failing_them_and_shows_in_health() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("breaker", Some("Breaker Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "LAZADA")
        .await
        .store
        .unwrap();
    app.disable_schedules(&s, &store).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    // The platform answers 503 to everything: five failed attempts open the store's breaker.
    sim.sim
        .inject(Platform::Lazada, Fault::ServerError { status: 503 }, 50);
    let before = sim.sim.data_request_times(Platform::Lazada).len();
    calls(&app, &org, &store, 1, false).await;
    let uuid = gid_uuid(&store);
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    let row = loop {
        let row = owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT status || ' ' || attempts::text || ' ' || (run_at > now() + interval '20 seconds')::text || ' ' || coalesce(last_error, '') FROM jobs WHERE kind = 'TEST_CALLS'",
        )
        .await;
        if row[0].starts_with("QUEUED") && row[0].contains("deferred") {
            break row[0].clone();
        }
        assert!(tokio::time::Instant::now() < end, "{row:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        row.starts_with("QUEUED 0 true"),
        "deferred, the attempt not counted: {row}"
    );
    assert_eq!(
        sim.sim.data_request_times(Platform::Lazada).len() - before,
        5,
        "five calls, then the breaker held the rest back"
    );
    let st = market::store(&app, &s, &store).await;
    assert_eq!(st["health"]["circuit"], "OPEN", "{st}");
    assert_eq!(st["health"]["status"], "DEGRADED", "{st}");
    assert_eq!(st["health"]["lastError"]["code"], "UNAVAILABLE", "{st}");
    // Another job of the store while the breaker is open: deferred at once, no call made.
    calls(&app, &org, &store, 1, false).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let rows = owner_rows(
            &app,
            &gid_uuid(&org),
            &format!("SELECT count(*)::text FROM jobs WHERE store_id = '{uuid}' AND kind = 'TEST_CALLS' AND status = 'QUEUED' AND attempts = 0 AND last_error LIKE 'deferred%'"),
        )
        .await;
        if rows == vec!["2"] {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{rows:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        sim.sim.data_request_times(Platform::Lazada).len() - before,
        5
    );
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn with_redis_unreachable_the_quota_falls_back_to_a_quarter_budget_not_to_none() {
    use connectors::{Priority, Quota, QuotaHook};
    use mercato::limits::quota::QuotaGovernor;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let pool = deadpool_redis_pool(&format!("redis://127.0.0.1:{closed}"));
    let guarded = mercato::breaker::GuardedRedis {
        pool,
        breaker: std::sync::Arc::new(mercato::breaker::Breaker::new(
            "test",
            3,
            Duration::from_secs(5),
        )),
        deadline: Duration::from_millis(200),
    };
    let mut table = mercato::config::QuotaTable::default();
    table
        .0
        .retain(|(p, _)| *p != entity::enums::Platform::Jumia);
    table.0.push((
        entity::enums::Platform::Jumia,
        vec![mercato::config::Budget {
            requests: 8,
            window: Duration::from_secs(60),
        }],
    ));
    let gov = QuotaGovernor::new(guarded, mercato::keys::Keys::new("down"), table);
    let mut granted = 0;
    for _ in 0..10 {
        match gov
            .acquire(Platform::Jumia, "store-1", "orders", Priority::High)
            .await
        {
            Quota::Granted => granted += 1,
            Quota::Wait(d) => assert!(
                d > Duration::from_secs(1),
                "waits for the local budget: {d:?}"
            ),
        }
    }
    assert_eq!(granted, 2, "a quarter of 8 per minute in this process");
    // Another store has its own local budget.
    assert_eq!(
        gov.acquire(Platform::Jumia, "store-2", "orders", Priority::High)
            .await,
        Quota::Granted
    );
    // A throttle is honoured locally too.
    gov.throttled(
        Platform::Jumia,
        "store-2",
        "orders",
        Some(Duration::from_secs(30)),
    )
    .await;
    assert!(matches!(
        gov.acquire(Platform::Jumia, "store-2", "orders", Priority::High).await,
        Quota::Wait(d) if d > Duration::from_secs(25)
    ));
}

fn deadpool_redis_pool(url: &str) -> deadpool_redis::Pool {
    deadpool_redis::Config::from_url(url)
        .create_pool(Some(deadpool_redis::Runtime::Tokio1))
        .unwrap()
}
