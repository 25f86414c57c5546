//! The client conformance suite (issue #18): a live server with a seeded organization and a worker,
//! then `tests/clients/run.mjs` runs graphql-codegen, urql, Apollo Client, graphql-ws and GraphiQL
//! in headless Chromium against it. `scripts/test` installs the Node project (`npm ci`) and
//! Chromium; this test fails, rather than skips, when they are missing.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::{self, shop};
use mercato_tests::*;
use serde_json::json;
use std::path::Path;

/// A port the page servers of `run.mjs` can listen on once this test has let go of it. It is
/// taken below the kernel's ephemeral range: a port the kernel hands out (`bind(0)`, or the
/// source port of an outgoing connection, which every other test opens by the hundred) could be
/// taken again in between, and node's `listen` would fail with EADDRINUSE.
fn free_port() -> u16 {
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let span = low.saturating_sub(10_000).max(1);
    loop {
        let port = 10_000 + rand::random_range(0..span);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tools_frontend_teams_and_partners_use_work_against_a_live_server() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/clients");
    assert!(
        dir.join("node_modules/@apollo/client").is_dir(),
        "the Node project is not installed: run scripts/test (it runs `npm ci` in tests/clients)"
    );
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "{chromium} is missing: scripts/test installs Debian's chromium"
    );

    let page_port = free_port();
    let denied_port = free_port();
    let db = fresh_database().await;
    let mut config = test_config(&db);
    // The shipped cost limits: the screens the clients load must fit under them.
    let defaults = mercato::config::Limits::default();
    config.limits.cost_bucket_max = defaults.cost_bucket_max;
    config.limits.cost_restore_rate = defaults.cost_restore_rate;
    config.limits.allowed_origins = vec![format!("http://127.0.0.1:{page_port}")];
    let app = TestApp::spawn_with(config, db).await;
    let sh = shop(&app, "clients").await;
    let products = 7;
    let mut first_variant = None;
    for i in 0..products {
        let v = stock::product(&app, &sh, &[&format!("CL-{i}-A"), &format!("CL-{i}-B")]).await;
        first_variant.get_or_insert(v[0].clone());
    }
    let variant = first_variant.unwrap();
    stock::receive(&app, &sh, &variant, 20).await;
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: SetStockThresholdsInput!) { setStockThresholds(input: $i) { userErrors { code message } } }",
            json!({"i": {"variantId": variant, "locationId": sh.location, "reorderPoint": 5}}),
        )
        .await;
    assert_eq!(
        body["data"]["setStockThresholds"]["userErrors"],
        json!([]),
        "{body}"
    );

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));

    let mut cmd = tokio::process::Command::new("node");
    cmd.arg("run.mjs")
        .current_dir(&dir)
        .env("MERCATO_URL", &app.base)
        .env("MERCATO_TOKEN", &sh.s.token)
        .env("MERCATO_PRODUCTS", products.to_string())
        .env("MERCATO_VARIANT", &variant)
        .env("MERCATO_LOCATION", &sh.location)
        .env("MERCATO_AVAILABLE", "20")
        .env("MERCATO_REORDER", "5")
        .env("MERCATO_PAGE_PORT", page_port.to_string())
        .env("MERCATO_DENIED_PORT", denied_port.to_string())
        .env("CHROMIUM", &chromium)
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), cmd.output())
        .await
        .expect("the conformance suite finished within 5 minutes")
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    eprintln!("{stderr}");
    assert!(
        out.status.success(),
        "client conformance failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("6 checks passed"), "{stdout}");

    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
}
