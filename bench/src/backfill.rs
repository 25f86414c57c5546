//! W3, backfill: 100,000 orders from the simulator into an empty Shopee store, end to end (an
//! ORDERS backfill job on the in-process worker: list pages and detail batches over HTTP through
//! the quota governor, each order applied with its lines, history and stock rules, windows
//! committed as they finish), next to `COPY` of the same rows (orders, lines, history) into the
//! same tables in the same run.

use mercato_tests::*;
use sea_orm::sqlx;
use serde_json::json;
use std::time::{Duration, Instant};

const ORDERS: usize = 100_000;

/// W3.
pub async fn backfill() {
    use connectors::simulator::SimConfig;
    println!("\n## W3 backfill: {ORDERS} orders from the simulator into an empty store");
    let sim = mercato_tests::market::simulator(SimConfig {
        orders: ORDERS,
        products: 300,
        ..SimConfig::default()
    })
    .await;
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.database_pool_max = 16;
    config.jobs = mercato::config::JobsConfig::default();
    config.marketplaces =
        mercato::config::MarketplacesConfig::simulator("http://127.0.0.1:0", &sim.base_url);
    config.marketplaces.return_urls =
        vec![url::Url::parse("https://seller.example/settings/").unwrap()];
    // Shopee's budget is unpublished (10/s by default here): the benchmark measures Mercato's
    // pipeline, so the simulator's store gets a large one (still through the governor).
    config.marketplaces.quotas = mercato::config::QuotaTable(vec![(
        entity::enums::Platform::Shopee,
        vec![mercato::config::Budget {
            requests: 5_000,
            window: Duration::from_secs(1),
        }],
    )]);
    let app = TestApp::spawn_with(config, db.clone()).await;
    let s = app.sign_up("w3", Some("W3 Co")).await;
    let org = gid_uuid(s.org_id.as_ref().unwrap());
    let branch = app.create_branch(&s, "Main").await;
    let store = mercato_tests::market::connect(&app, &s, &branch, "SHOPEE")
        .await
        .store
        .unwrap();
    // Nothing else runs meanwhile: the store's schedules are switched off.
    owner_exec(&app, &org, "UPDATE sync_schedules SET enabled = false").await;
    owner_exec(
        &app,
        &org,
        "UPDATE jobs SET status = 'CANCELLED', finished_at = now() WHERE status = 'QUEUED'",
    )
    .await;
    let now = sim.sim.now();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    let started = Instant::now();
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code message } } }",
            json!({ "i": { "storeId": store, "kind": "ORDERS",
                           "since": chrono::DateTime::from_timestamp(now - 45 * 86_400, 0).unwrap().to_rfc3339(),
                           "until": chrono::DateTime::from_timestamp(now, 0).unwrap().to_rfc3339() } }),
        )
        .await;
    let job = gid_uuid(
        body["data"]["startSync"]["job"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}")),
    );
    let status = loop {
        let st = owner_rows(
            &app,
            &org,
            &format!(
                "SELECT status || ' ' || coalesce(last_error, '') FROM jobs WHERE id = '{job}'"
            ),
        )
        .await;
        if !st[0].starts_with("QUEUED") && !st[0].starts_with("RUNNING") {
            break st[0].clone();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let took = started.elapsed();
    let _ = stop.send(());
    let _ = worker.await;
    assert!(status.starts_with("SUCCEEDED"), "{status}");
    let store_uuid = gid_uuid(&store);
    let n: i64 = owner_rows(
        &app,
        &org,
        &format!("SELECT count(*)::text FROM orders WHERE store_id = '{store_uuid}'"),
    )
    .await[0]
        .parse()
        .unwrap();
    let lines: i64 = owner_rows(&app, &org, "SELECT count(*)::text FROM order_items").await[0]
        .parse()
        .unwrap();
    println!(
        "Mercato: {n} orders ({lines} lines) in {:.1}s = {:.0} orders/s end to end",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64()
    );

    // COPY of the same rows into the same tables: exported, deleted, copied back in (as the tables'
    // owner, with forced RLS lifted for the copy, since COPY FROM does not run under RLS).
    let owner = connect(&owner_url(&db), 1).await;
    let pool = owner.get_postgres_connection_pool();
    let mut conn = pool.acquire().await.unwrap();
    sqlx::query(
        "SELECT set_config('app.org_id', $1, false), set_config('app.branch_ids', '*', false)",
    )
    .bind(&org)
    .execute(&mut *conn)
    .await
    .unwrap();
    let tables = [
        (
            "orders",
            format!("SELECT * FROM orders WHERE store_id = '{store_uuid}'"),
        ),
        (
            "order_items",
            format!(
                "SELECT i.* FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.store_id = '{store_uuid}'"
            ),
        ),
        (
            "order_events",
            format!(
                "SELECT e.* FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.store_id = '{store_uuid}'"
            ),
        ),
    ];
    let mut data = Vec::new();
    for (t, q) in &tables {
        use futures::StreamExt as _;
        let mut out = conn
            .copy_out_raw(&format!("COPY ({q}) TO STDOUT"))
            .await
            .unwrap();
        let mut buf = Vec::new();
        while let Some(chunk) = out.next().await {
            buf.extend_from_slice(&chunk.unwrap());
        }
        drop(out);
        data.push((*t, buf));
    }
    for sql in [
        "BEGIN",
        "ALTER TABLE orders NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE order_items NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE order_events NO FORCE ROW LEVEL SECURITY",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    sqlx::query("DELETE FROM orders WHERE store_id = $1::uuid")
        .bind(&store_uuid)
        .execute(&mut *conn)
        .await
        .unwrap();
    let copy_started = Instant::now();
    for (t, buf) in &data {
        let mut cin = conn
            .copy_in_raw(&format!("COPY {t} FROM STDIN"))
            .await
            .unwrap();
        cin.send(buf.as_slice()).await.unwrap();
        cin.finish().await.unwrap();
    }
    for sql in [
        "ALTER TABLE orders FORCE ROW LEVEL SECURITY",
        "ALTER TABLE order_items FORCE ROW LEVEL SECURITY",
        "ALTER TABLE order_events FORCE ROW LEVEL SECURITY",
        "COMMIT",
    ] {
        sqlx::query(sql).execute(&mut *conn).await.unwrap();
    }
    let copy = copy_started.elapsed();
    println!(
        "COPY: the same {n} orders with their lines and history in {:.2}s = {:.0} orders/s",
        copy.as_secs_f64(),
        n as f64 / copy.as_secs_f64()
    );
    println!(
        "\n| orders | Mercato s | Mercato orders/s | COPY s | COPY orders/s | Mercato / COPY |\n|---|---|---|---|---|---|\n| {n} | {:.1} | {:.0} | {:.2} | {:.0} | {:.0}% |",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        copy.as_secs_f64(),
        n as f64 / copy.as_secs_f64(),
        100.0 * copy.as_secs_f64() / took.as_secs_f64()
    );
    drop(conn);
    owner.close().await.ok();
    drop(app);
    let admin = connect(&owner_url("mercato"), 1).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    use sea_orm::ConnectionTrait as _;
    admin
        .execute_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ))
        .await
        .ok();
}
