//! Push latency: about 1,000 listings over four platforms on the simulator (its own thread, each
//! platform's rate limit enforced), 100 stock changes a second for 60 s (`MERCATO_BENCH_SECS`
//! shortens it), each change an `adjustStock` of -1 over HTTP on the next variant in turn (so a
//! variant's quantity only goes down and a push that carries a change can be recognised). The
//! latency of a change on one listing is from when its mutation was sent (an upper bound of its
//! commit) to when the simulator accepted a quantity at or below the one it left. Also: platform
//! stock calls, throttled and refused requests. The target is p95 <= 2 s with nothing throttled.

use crate::stockbench::{app, pct, sim_limits, wait_job};
use mercato_tests::*;
use serde_json::json;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Below TikTok's 99,999 ceiling on a quantity.
const OPENING: i64 = 50_000;

/// Platform, GraphQL name, stock-update path suffix.
const PLATFORMS: [(connectors::Platform, &str, &str); 4] = [
    (
        connectors::Platform::Shopee,
        "SHOPEE",
        "/api/v2/product/update_stock",
    ),
    (
        connectors::Platform::TiktokShop,
        "TIKTOK_SHOP",
        "/inventory/update",
    ),
    (
        connectors::Platform::Lazada,
        "LAZADA",
        "/product/stock/sellable/update",
    ),
    (
        connectors::Platform::Jumia,
        "JUMIA",
        "/feeds/products/stock",
    ),
];

fn millis_now() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The push latency benchmark.
pub async fn push() {
    use connectors::simulator::SimConfig;
    let secs = std::env::var("MERCATO_BENCH_SECS")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(60);
    let sim = mercato_tests::market::simulator_thread(SimConfig {
        products: 125,
        orders: 5,
        rate_limits: sim_limits(),
        ..SimConfig::default()
    });
    let app = app(&sim, mercato::config::JobsConfig::default(), 32).await;
    let sh = mercato_tests::stock::shop(&app, "push").await;
    let s = sh.s.clone();
    let t = Some(s.token.as_str());
    let org = sh.org.clone();
    let (branch, location) = (sh.branch.clone(), sh.location.clone());
    let mut stores = Vec::new();
    for (p, name, _) in PLATFORMS {
        let store = if p == connectors::Platform::Jumia {
            let body = app
                .gql(
                    t,
                    "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } } }",
                    json!({ "i": { "branchId": branch, "platform": "JUMIA", "externalShopId": "x", "name": "Jumia", "region": "KE", "currency": "KES",
                                   "credentials": { "refreshToken": sim.sim.config().jumia.2 } } }),
                )
                .await;
            body["data"]["connectStore"]["store"]["id"]
                .as_str()
                .unwrap()
                .to_owned()
        } else {
            mercato_tests::market::connect(&app, &s, &branch, name)
                .await
                .store
                .unwrap()
        };
        stores.push(store);
    }
    owner_exec(&app, &org, "UPDATE sync_schedules SET enabled = false").await;
    owner_exec(
        &app,
        &org,
        "UPDATE jobs SET status = 'CANCELLED', finished_at = now() WHERE status = 'QUEUED'",
    )
    .await;
    // The catalog: every seller SKU any platform sells, each with the opening stock.
    let mut skus: Vec<String> = PLATFORMS
        .iter()
        .flat_map(|(p, _, _)| sim.sim.world(*p).skus.into_iter().map(|k| k.seller_sku))
        .collect();
    skus.sort();
    skus.dedup();
    let rows: Vec<serde_json::Value> = skus
        .iter()
        .map(|k| json!({"productKey": k, "productName": k, "status": "ACTIVE", "sku": k, "openingStock": OPENING}))
        .collect();
    let body = app
        .gql(
            t,
            "mutation($i: ImportCatalogInput!) { importCatalog(input: $i) { userErrors { code message } } }",
            json!({"i": {"rows": rows, "locationId": location}}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let mut variants: Vec<(String, String)> = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let page = app
            .gql(
                t,
                "query($a: String) { products(first: 100, after: $a) { pageInfo { hasNextPage endCursor } edges { node { variants(first: 250) { id sku } } } } }",
                json!({"a": after}),
            )
            .await;
        for e in page["data"]["products"]["edges"].as_array().unwrap() {
            for v in e["node"]["variants"].as_array().unwrap() {
                variants.push((
                    v["id"].as_str().unwrap().to_owned(),
                    v["sku"].as_str().unwrap().to_owned(),
                ));
            }
        }
        if page["data"]["products"]["pageInfo"]["hasNextPage"] != true {
            break;
        }
        after = page["data"]["products"]["pageInfo"]["endCursor"]
            .as_str()
            .map(str::to_owned);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    for store in &stores {
        let body = app
            .gql(
                t,
                "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } } }",
                json!({"i": {"storeId": store, "kind": "PRODUCTS"}}),
            )
            .await;
        let job = body["data"]["startSync"]["job"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let end = wait_job(&app, &org, &job).await;
        assert!(end.starts_with("SUCCEEDED"), "{end}");
    }
    let listings: usize = PLATFORMS
        .iter()
        .map(|(p, _, _)| sim.sim.world(*p).skus.len())
        .sum();
    // Every listing shows the opening stock before the run starts.
    let settle = Instant::now();
    loop {
        let done = PLATFORMS
            .iter()
            .all(|(p, _, _)| sim.sim.world(*p).skus.iter().all(|k| k.stock == OPENING));
        if done {
            break;
        }
        if settle.elapsed() > Duration::from_secs(180) {
            let off: Vec<(connectors::Platform, usize)> = PLATFORMS
                .iter()
                .map(|(p, _, _)| {
                    (
                        *p,
                        sim.sim
                            .world(*p)
                            .skus
                            .iter()
                            .filter(|k| k.stock != OPENING)
                            .count(),
                    )
                })
                .collect();
            panic!("opening stock never reached every listing: still off {off:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    println!(
        "\n## Push latency: {listings} listings on 4 platforms ({} variants), 100 changes/s for {secs} s",
        variants.len()
    );
    println!(
        "opening stock reached every listing {:.1} s after the product syncs",
        settle.elapsed().as_secs_f64()
    );
    let calls_before: Vec<u64> = PLATFORMS
        .iter()
        .map(|(p, _, suffix)| sim.sim.requests_ending(*p, suffix))
        .collect();
    // (sku, sent at ms, quantity it leaves)
    let sent: Arc<Mutex<Vec<(String, i64, i64)>>> = Arc::new(Mutex::new(Vec::new()));
    let mut left: std::collections::HashMap<String, i64> =
        variants.iter().map(|(_, k)| (k.clone(), OPENING)).collect();
    let total = usize::try_from(secs * 100).unwrap_or(6000);
    let mut tick = tokio::time::interval(Duration::from_millis(10));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut tasks = Vec::with_capacity(total);
    let started = Instant::now();
    for i in 0..total {
        tick.tick().await;
        let (id, sku) = variants[i % variants.len()].clone();
        let q = left.get_mut(&sku).unwrap();
        *q -= 1;
        let q = *q;
        let app_base = app.base.clone();
        let token = s.token.clone();
        let loc = location.clone();
        let sent = Arc::clone(&sent);
        tasks.push(tokio::spawn(async move {
            let at = millis_now();
            let r = reqwest::Client::new()
                .post(format!("{app_base}/graphql"))
                .bearer_auth(token)
                .json(&json!({"query": "mutation($i: AdjustStockInput!) { adjustStock(input: $i) { userErrors { code } } }",
                               "variables": {"i": {"variantId": id, "locationId": loc, "kind": "ADJUST", "quantity": -1, "reason": "bench"}}}))
                .send()
                .await;
            if r.is_ok_and(|r| r.status().is_success()) {
                sent.lock().unwrap().push((sku, at, q));
            }
        }));
    }
    for t in tasks {
        let _ = t.await;
    }
    let load = started.elapsed();
    // Let the last pushes land.
    let drain = Instant::now();
    loop {
        let done = PLATFORMS.iter().all(|(p, _, _)| {
            sim.sim
                .world(*p)
                .skus
                .iter()
                .all(|k| k.stock == left[&k.seller_sku])
        });
        if done || drain.elapsed() > Duration::from_secs(60) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let sent = sent.lock().unwrap().clone();
    let mut all = Vec::new();
    let mut missing = 0;
    println!(
        "{} changes in {:.1} s ({:.0}/s)",
        sent.len(),
        load.as_secs_f64(),
        sent.len() as f64 / load.as_secs_f64()
    );
    println!(
        "| platform | listing updates | p50 ms | p95 ms | p99 ms | stock calls | not arrived |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (i, (p, name, suffix)) in PLATFORMS.iter().enumerate() {
        let w = sim.sim.world(*p);
        let mut lat = Vec::new();
        let mut lost = 0;
        for (sku, at, q) in &sent {
            let Some(idx) = w.skus.iter().position(|k| &k.seller_sku == sku) else {
                continue;
            };
            match w
                .stock_writes
                .iter()
                .find(|x| x.sku == idx && x.at_ms >= *at && x.quantity <= *q)
            {
                Some(x) => lat.push(x.at_ms - at),
                None => lost += 1,
            }
        }
        lat.sort_unstable();
        let calls = sim.sim.requests_ending(*p, suffix) - calls_before[i];
        println!(
            "| {name} | {} | {} | {} | {} | {calls} | {lost} |",
            lat.len(),
            pct(&lat, 0.5),
            pct(&lat, 0.95),
            pct(&lat, 0.99)
        );
        missing += lost;
        all.extend(lat);
    }
    all.sort_unstable();
    println!(
        "| all | {} | {} | {} | {} | | {missing} |",
        all.len(),
        pct(&all, 0.5),
        pct(&all, 0.95),
        pct(&all, 0.99)
    );
    println!(
        "target: p95 <= 2000 ms; requests throttled by the simulator: {}; refused: {}",
        sim.sim.throttled(),
        sim.sim.rejected()
    );
    let _ = stop.send(());
    let _ = worker.await;
}
