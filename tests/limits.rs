//! Abuse limits: query depth, cost, aliases, batches and body size are refused before the database
//! is touched; `extensions.cost` for reference queries; the cost bucket throttles; request rates
//! per principal and per IP, shared across two server processes, with a local fallback when Redis
//! is down; forwarding headers only from trusted proxies; introspection
//! and suggestions off in production; statement and header-read timeouts.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato::config::Limits;
use mercato_tests::*;
use serde_json::{Value, json};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn app_with(f: impl FnOnce(&mut Limits)) -> TestApp {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    f(&mut config.limits);
    TestApp::spawn_with(config, db).await
}

fn opened(app: &TestApp) -> u64 {
    app.state.tenant_tx_opened.load(Ordering::Relaxed)
}

fn cost(body: &Value) -> &Value {
    &body["extensions"]["cost"]
}

#[tokio::test]
async fn abusive_documents_are_refused_before_touching_the_database() {
    let app = app_with(|l| {
        l.cost_bucket_max = 1000;
        l.cost_restore_rate = 50;
    })
    .await;
    let s = app.sign_up("lim", Some("Limit Co")).await;
    let t = Some(s.token.as_str());
    let before = opened(&app);

    let deep = "{ viewer { memberships { organization { branches { nodes { stores { nodes { branch { stores { nodes { branch { stores { nodes { id } } } } } } } } } } } } } }";
    let body = app.gql(t, deep, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_DEPTH_EXCEEDED", "{body}");

    let wide = "{ organization { branches(first: 100) { nodes { stores(first: 100) { nodes { id name } } } } } }";
    let body = app.gql(t, wide, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_COST_EXCEEDED", "{body}");
    assert!(
        cost(&body)["requestedQueryCost"].as_u64().unwrap() > 10_000,
        "{body}"
    );
    assert!(cost(&body)["actualQueryCost"].is_null());

    let aliases: String = (0..1000).map(|i| format!("a{i}: __typename ")).collect();
    let body = app.gql(t, &format!("{{ {aliases} }}"), json!({})).await;
    assert_eq!(first_error_code(&body), "TOO_MANY_ALIASES", "{body}");

    let batch: Vec<_> = (0..50)
        .map(|_| json!({ "query": "{ viewer { user { id } } }" }))
        .collect();
    let (status, body) = app.post(t, json!(batch)).await;
    assert_eq!(status, 400);
    assert_eq!(first_error_code(&body), "BATCH_TOO_LARGE");

    let huge = format!(
        "{{\"query\": \"{{ __typename }}\", \"variables\": {{\"x\": \"{}\"}}}}",
        "x".repeat(10 * 1024 * 1024)
    );
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .bearer_auth(&s.token)
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);

    assert_eq!(opened(&app), before, "no tenant transaction was opened");
    // A reasonable query does open one (the counter works).
    app.gql(t, "{ viewer { user { id } } }", json!({})).await;
    assert_eq!(opened(&app), before + 1);
}

#[tokio::test]
async fn responses_report_requested_and_actual_cost() {
    let app = app_with(|l| {
        l.cost_bucket_max = 1000;
        l.cost_restore_rate = 50;
    })
    .await;
    let s = app.sign_up("cost", Some("Cost Co")).await;
    let t = Some(s.token.as_str());
    app.create_branch(&s, "One").await;
    app.create_branch(&s, "Two").await;

    // viewer (a value: 0) + user (an entity: 1); scalars are free.
    let body = app
        .gql(t, "{ viewer { user { id email } } }", json!({}))
        .await;
    assert_eq!(cost(&body)["requestedQueryCost"], 1, "{body}");
    assert_eq!(cost(&body)["actualQueryCost"], 1);
    assert_eq!(cost(&body)["throttleStatus"]["maximumAvailable"], 1000);
    assert_eq!(cost(&body)["throttleStatus"]["restoreRate"], 50);

    // organization (1) + the connection (2) + 5 nodes (5) + pageInfo (a value: 0) requested;
    // 2 branches exist.
    let q =
        "{ organization { branches(first: 5) { nodes { id name } pageInfo { hasNextPage } } } }";
    let body = app.gql(t, q, json!({})).await;
    assert_eq!(cost(&body)["requestedQueryCost"], 8, "{body}");
    assert_eq!(cost(&body)["actualQueryCost"], 5, "{body}");
    // Variables count like literals.
    let q = "query($n: Int) { organization { branches(first: $n) { nodes { id } } } }";
    let body = app.gql(t, q, json!({ "n": 50 })).await;
    assert_eq!(cost(&body)["requestedQueryCost"], 53, "{body}");

    // A mutation: 10 + payload (a value: 0) + branch (1) + userErrors (values: 0).
    let m = "mutation { createBranch(input: { name: \"Three\" }) { branch { id } userErrors { code } } }";
    let body = app.gql(t, m, json!({})).await;
    assert_eq!(cost(&body)["requestedQueryCost"], 11, "{body}");
    assert_eq!(cost(&body)["actualQueryCost"], 11, "{body}");
    let available = cost(&body)["throttleStatus"]["currentlyAvailable"]
        .as_u64()
        .unwrap();
    assert!((900..=1000).contains(&available), "{body}");
}

#[tokio::test]
async fn an_empty_bucket_throttles_with_retry_after() {
    let app = app_with(|l| {
        l.cost_bucket_max = 60;
        l.cost_restore_rate = 1;
    })
    .await;
    let s = app.sign_up("thr", Some("Throttle Co")).await;
    let q = "{ organization { branches(first: 40) { nodes { id } } } }"; // 43 requested
    let first = app.gql(Some(&s.token), q, json!({})).await;
    assert!(first["errors"].is_null(), "{first}");
    // No branches exist: actual 3, so 40 points came back (owed to the bucket until the next
    // charge, and already in the balance shown).
    assert_eq!(cost(&first)["actualQueryCost"], 3);
    let shown = cost(&first)["throttleStatus"]["currentlyAvailable"]
        .as_u64()
        .unwrap();
    assert!((57..=60).contains(&shown), "{first}");
    let second = app.gql(Some(&s.token), q, json!({})).await;
    assert!(second["errors"].is_null(), "refund made room: {second}");
    let q_big = "{ organization { branches(first: 57) { nodes { id } } } }"; // 60 requested
    let third = app.gql(Some(&s.token), q_big, json!({})).await;
    assert_eq!(first_error_code(&third), "THROTTLED", "{third}");
    assert!(
        third["errors"][0]["extensions"]["retryAfter"]
            .as_u64()
            .unwrap()
            >= 1
    );
    assert!(
        cost(&third)["throttleStatus"]["currentlyAvailable"]
            .as_u64()
            .unwrap()
            < 59
    );
    // Another principal has its own bucket.
    let other = app.sign_up("thr2", Some("Other Co")).await;
    let ok = app.gql(Some(&other.token), q_big, json!({})).await;
    assert!(ok["errors"].is_null(), "{ok}");
}

#[tokio::test]
async fn production_profile_hides_introspection_and_suggestions() {
    let db = fresh_database().await;
    let mut args = vec!["mercato".to_owned()];
    for (k, v) in [
        ("--database-url", "postgres://x@127.0.0.1/x"),
        ("--redis-url", "redis://127.0.0.1:1"),
        (
            "--jwt-signing-key",
            "k1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        ),
        (
            "--credentials-key",
            "c1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        ),
        ("--profile", "production"),
    ] {
        args.push(k.into());
        args.push(v.into());
    }
    #[derive(clap::Parser)]
    struct Cli {
        #[command(flatten)]
        args: mercato::config::ConfigArgs,
    }
    let parsed = <Cli as clap::Parser>::try_parse_from(args)
        .unwrap()
        .args
        .validate()
        .unwrap();
    assert!(!parsed.limits.introspection && !parsed.limits.field_suggestions && !parsed.graphiql);

    let mut config = test_config(&db);
    config.limits.introspection = parsed.limits.introspection;
    config.limits.field_suggestions = parsed.limits.field_suggestions;
    let app = TestApp::spawn_with(config, db).await;
    let intro = app
        .gql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    // async-graphql answers a disabled introspection with null, not with the schema.
    assert!(intro["data"]["__schema"].is_null(), "{intro}");
    // Nor is the SDL served.
    let sdl = app
        .client
        .get(format!("{}/graphql/schema.graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(sdl.status(), 404);
    let typo = app.gql(None, "{ viewr { user { id } } }", json!({})).await;
    assert!(!typo.to_string().contains("Did you mean"), "{typo}");

    let dev = TestApp::spawn().await;
    let typo = dev.gql(None, "{ viewr { user { id } } }", json!({})).await;
    assert!(typo.to_string().contains("Did you mean"), "{typo}");
    let intro = dev
        .gql(None, "{ __schema { types { name } } }", json!({}))
        .await;
    assert!(intro["data"]["__schema"]["types"].is_array(), "{intro}");
}

async fn status_of(
    app: &TestApp,
    token: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, Value, Option<String>) {
    let mut req = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "{ __typename }" }));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, resp.json().await.unwrap_or_default(), retry)
}

#[tokio::test]
async fn a_principal_over_its_rate_gets_429_with_retry_after() {
    let app = app_with(|l| {
        l.rate_per_minute = 1;
        l.rate_burst = 5;
    })
    .await;
    let s = app.sign_up("rate", Some("Rate Co")).await;
    let mut statuses = Vec::new();
    for _ in 0..8 {
        statuses.push(status_of(&app, Some(&s.token), &[]).await);
    }
    let admitted = statuses.iter().filter(|(st, _, _)| *st == 200).count();
    assert_eq!(admitted, 5, "{statuses:?}");
    let (status, body, retry) = statuses.last().unwrap();
    assert_eq!(*status, 429);
    assert_eq!(body["errors"][0]["extensions"]["code"], "RATE_LIMITED");
    let after = body["errors"][0]["extensions"]["retryAfter"]
        .as_u64()
        .unwrap();
    assert!(after >= 1);
    assert_eq!(retry.as_deref(), Some(after.to_string().as_str()));
    // Someone else is unaffected.
    let other = app.sign_up("rate2", None).await;
    assert_eq!(status_of(&app, Some(&other.token), &[]).await.0, 200);
}

#[tokio::test]
async fn two_server_processes_enforce_one_shared_quota() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.limits.auth_rate_per_minute = 1;
    config.limits.auth_rate_burst = 40;
    let one = TestApp::spawn_with(config.clone(), db.clone()).await;
    let two = TestApp::spawn_with(config, db).await;
    let mut admitted = 0;
    for i in 0..100 {
        let app = if i % 2 == 0 { &one } else { &two };
        if status_of(app, None, &[]).await.0 == 200 {
            admitted += 1;
        }
    }
    // Each process alone would admit 40 (80 together); the shared quota admits 40 in all.
    assert!(
        (38..=42).contains(&admitted),
        "admitted {admitted} of a shared quota of 40"
    );
}

#[tokio::test]
async fn without_redis_the_local_limiter_still_answers_and_limits() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.redis_url = "redis://127.0.0.1:9/0".to_owned().into();
    config.limits.auth_rate_per_minute = 1;
    config.limits.auth_rate_burst = 3;
    let app = TestApp::spawn_with(config, db).await;
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(status_of(&app, None, &[]).await.0);
    }
    assert_eq!(statuses, vec![200, 200, 200, 429, 429]);
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let untrusted = app_with(|l| {
        l.auth_rate_per_minute = 1;
        l.auth_rate_burst = 2;
    })
    .await;
    // Spoofed X-Forwarded-For from an untrusted peer changes nothing: same bucket.
    let mut st = Vec::new();
    for ip in ["1.1.1.1", "2.2.2.2", "3.3.3.3"] {
        st.push(
            status_of(&untrusted, None, &[("x-forwarded-for", ip)])
                .await
                .0,
        );
    }
    assert_eq!(st, vec![200, 200, 429]);

    let trusted = app_with(|l| {
        l.auth_rate_per_minute = 1;
        l.auth_rate_burst = 2;
        l.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await;
    let mut st = Vec::new();
    for ip in ["1.1.1.1", "1.1.1.1", "1.1.1.1", "2.2.2.2"] {
        st.push(
            status_of(
                &trusted,
                None,
                &[("x-forwarded-for", &format!("{ip}, 127.0.0.1"))],
            )
            .await
            .0,
        );
    }
    assert_eq!(st, vec![200, 200, 429, 200]);
}

#[tokio::test]
async fn statements_are_cut_off_by_the_statement_timeout() {
    use mercato::tenant::TenantTx;
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn().await;
    let tx = TenantTx::new(app.state.db.clone(), None, true)
        .with_statement_timeout(Duration::from_millis(200));
    let guard = tx.lock().await.unwrap();
    let err = guard
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT pg_sleep(5)",
        ))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("statement timeout"), "{err}");
}

#[tokio::test]
async fn a_client_that_never_finishes_its_headers_is_disconnected() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = app_with(|l| l.header_read_timeout = Duration::from_millis(500)).await;
    let mut sock = tokio::net::TcpStream::connect(app.addr).await.unwrap();
    sock.write_all(b"POST /graphql HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = Vec::new();
    // The server closes the connection; without the timeout this read would wait forever.
    let read = tokio::time::timeout(Duration::from_secs(10), sock.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "connection still open after 10 s");
}

#[tokio::test]
async fn a_request_over_its_time_is_cut_off_and_leaves_nothing_behind() {
    let app = app_with(|l| l.request_timeout = Duration::from_millis(5)).await;
    let email = unique_email("slow");
    // Sign-up hashes a password with argon2id: far longer than 5 ms.
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .json(&json!({ "query": "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken } }",
                       "variables": { "i": { "email": email, "password": PASSWORD, "displayName": "Slow" } } }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 408);
    // The dropped request's transaction rolled back: the account does not exist.
    let owner = app.owner().await;
    let rows = rows_as(
        &owner,
        &[("app.auth_email", &email)],
        "SELECT id::text FROM users",
    )
    .await
    .unwrap();
    assert!(rows.is_empty(), "{rows:?}");
}

#[tokio::test]
async fn too_many_directives_on_a_field_are_refused() {
    let app = TestApp::spawn().await;
    let before = opened(&app);
    let many: String = (0..11).map(|_| "@include(if: true) ").collect();
    let body = app
        .gql(
            None,
            &format!("{{ viewer {many} {{ user {{ id }} }} }}"),
            json!({}),
        )
        .await;
    assert!(
        body["errors"].is_array() && body["data"].is_null(),
        "{body}"
    );
    assert_eq!(opened(&app), before);
}
