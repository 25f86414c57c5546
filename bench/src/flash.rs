//! Flash sale: one SKU with 100 units in Mercato, listed on Shopee, TikTok Shop and Lazada (the
//! simulator, each platform's rate limit enforced). Once every listing shows 100, the simulator's
//! buyers order one unit at a time on all three listings (a Poisson process per listing), each
//! order refused by the platform's checkout only when its listing shows nothing. Orders come in by
//! the incremental ORDERS pull on a short schedule (webhooks are not wired yet); each order holds
//! its unit in Mercato, and the pool's new quantity goes out to every listing (in the pool's last
//! units, its part to each). The sale ends when no listing shows anything and Mercato, with every
//! order read in, has nothing left (or nothing has shown for 30 s: units stranded).
//!
//! Reported per run: units sold by the marketplaces, the oversell (sold beyond 100), units left
//! unsold, and the loop latency: for the k-th sale, from the buyer's order to the moment every
//! other listing shows at most 100 - k (intake by the pull, then the push). Runs sweep the buyers'
//! rate and the pull interval, so the oversell can be read against the latency.
//! `MERCATO_FLASH_RUNS` = `rate:pull,rate:pull,...` (orders/s per listing : pull seconds) replaces
//! the default sweep.

use crate::stockbench::{app, pct, sim_limits, wait_job};
use mercato_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};

const UNITS: i64 = 100;
const SKU: &str = "SKU-000-0";

const PLATFORMS: [(connectors::Platform, &str); 3] = [
    (connectors::Platform::Shopee, "SHOPEE"),
    (connectors::Platform::TiktokShop, "TIKTOK_SHOP"),
    (connectors::Platform::Lazada, "LAZADA"),
];

/// One run's figures.
struct Run {
    rate: f64,
    pull: u32,
    tail: i64,
    sold: i64,
    ingested: i64,
    short: i64,
    latencies: Vec<i64>,
    throttled: u64,
    refused: u64,
    secs: f64,
}

async fn start_sync(app: &TestApp, token: &str, org: &str, store: &str, kind: &str) {
    let body = app
        .gql(
            Some(token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } } }",
            json!({"i": {"storeId": store, "kind": kind}}),
        )
        .await;
    let job = body["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let end = wait_job(app, org, &job).await;
    assert!(end.starts_with("SUCCEEDED"), "{kind}: {end}");
}

/// What Mercato has left of the SKU.
async fn available(app: &TestApp, org: &str) -> i64 {
    owner_rows(
        app,
        org,
        "SELECT COALESCE(sum(on_hand - reserved - safety_stock), 0)::text FROM inventory_levels",
    )
    .await[0]
        .parse()
        .unwrap_or(-1)
}

/// Order lines Mercato holds, and how many of them are SHORT (sold without stock to hold).
async fn order_lines(app: &TestApp, org: &str) -> [i64; 2] {
    let row = owner_rows(
        app,
        org,
        "SELECT count(*)::text || ' ' || count(*) FILTER (WHERE i.stock = 'SHORT')::text \
         FROM orders o JOIN order_items i ON i.order_id = o.id",
    )
    .await;
    let mut it = row[0].split(' ').map(|x| x.parse::<i64>().unwrap_or(-1));
    [it.next().unwrap_or(-1), it.next().unwrap_or(-1)]
}

/// The flash-sale benchmark.
pub async fn flash() {
    let runs: Vec<(f64, u32, i64)> = std::env::var("MERCATO_FLASH_RUNS").map_or_else(
        |_| {
            let d = connectors::simulator::DEFAULT_BUYER_RATE;
            vec![
                (d, 1, 10),
                (d, 1, 0),
                (d, 5, 10),
                (d, 5, 0),
                (d, 15, 10),
                (2.0 * d, 1, 10),
                (5.0 * d, 1, 10),
                (5.0 * d, 1, 0),
            ]
        },
        |s| {
            s.split(',')
                .filter_map(|r| {
                    let mut f = r.split(':').map(str::trim);
                    Some((
                        f.next()?.parse().ok()?,
                        f.next()?.parse().ok()?,
                        f.next().unwrap_or("10").parse().ok()?,
                    ))
                })
                .collect()
        },
    );
    let mut results = Vec::new();
    for (i, &(rate, pull, tail)) in runs.iter().enumerate() {
        results.push(one(rate, pull, tail, 7 + i as u64).await);
    }
    println!(
        "\n## Flash sale: {UNITS} units of one SKU on Shopee, TikTok Shop and Lazada, one-unit orders on every listing"
    );
    println!(
        "(default buyer rate: {} orders/s per listing; loop = from a sale to every other listing showing it)",
        connectors::simulator::DEFAULT_BUYER_RATE
    );
    println!(
        "| orders/s per listing | ORDERS pull every | tail per listing | loop p50 ms | loop p95 ms | loop max ms | sold | oversell | unsold | orders read in | SHORT lines | run s | throttled | refused |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    for r in &results {
        let mut l = r.latencies.clone();
        l.sort_unstable();
        println!(
            "| {} | {} s | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} | {} |",
            r.rate,
            r.pull,
            if r.tail == 0 {
                "off".to_owned()
            } else {
                r.tail.to_string()
            },
            pct(&l, 0.5),
            pct(&l, 0.95),
            l.last().copied().unwrap_or(-1),
            r.sold,
            (r.sold - UNITS).max(0),
            (UNITS - r.sold).max(0),
            r.ingested,
            r.short,
            r.secs,
            r.throttled,
            r.refused
        );
    }
    println!("target: oversell 0 at the default rate (tail 10 per listing is the default setting)");
}

#[allow(clippy::too_many_lines)]
async fn one(rate: f64, pull: u32, tail: i64, seed: u64) -> Run {
    use connectors::simulator::SimConfig;
    let sim = mercato_tests::market::simulator_thread(SimConfig {
        products: 3,
        orders: 0,
        rate_limits: sim_limits(),
        ..SimConfig::default()
    });
    let jobs = mercato::config::JobsConfig {
        schedule_min_interval: Duration::from_secs(1),
        ..mercato::config::JobsConfig::default()
    };
    let app = app(&sim, jobs, 16).await;
    let sh = mercato_tests::stock::shop(&app, "flash").await;
    let s = sh.s.clone();
    let token = s.token.clone();
    let t = Some(token.as_str());
    let org = sh.org.clone();
    let body = app
        .gql(
            t,
            "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { userErrors { code } } }",
            json!({"i": {"stockTailPerListing": tail}}),
        )
        .await;
    assert_eq!(
        body["data"]["updateOrganization"]["userErrors"],
        json!([]),
        "{body}"
    );
    let (branch, location) = (sh.branch.clone(), sh.location.clone());
    let mut stores = Vec::new();
    for (_, name) in PLATFORMS {
        stores.push(
            mercato_tests::market::connect(&app, &s, &branch, name)
                .await
                .store
                .unwrap(),
        );
    }
    owner_exec(&app, &org, "UPDATE sync_schedules SET enabled = false").await;
    owner_exec(
        &app,
        &org,
        "UPDATE jobs SET status = 'CANCELLED', finished_at = now() WHERE status = 'QUEUED'",
    )
    .await;
    let body = app
        .gql(
            t,
            "mutation($i: ImportCatalogInput!) { importCatalog(input: $i) { userErrors { code message } } }",
            json!({"i": {"rows": [{"productKey": SKU, "productName": "Flash tee", "status": "ACTIVE", "sku": SKU, "openingStock": UNITS}],
                         "locationId": location}}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    // Listings in and linked, the orders watermark set, then the pull on its short schedule.
    for store in &stores {
        start_sync(&app, &token, &org, store, "PRODUCTS").await;
        start_sync(&app, &token, &org, store, "ORDERS").await;
        let body = app
            .gql(
                t,
                "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { userErrors { code message } } }",
                json!({"i": {"storeId": store, "kind": "ORDERS", "everySeconds": pull, "enabled": true}}),
            )
            .await;
        assert!(
            body["errors"].is_null()
                && body["data"]["updateSyncSchedule"]["userErrors"]
                    .as_array()
                    .is_none_or(Vec::is_empty),
            "{body}"
        );
    }
    let listings: Vec<(connectors::Platform, u64)> = PLATFORMS
        .iter()
        .map(|(p, _)| {
            let w = sim.sim.world(*p);
            let k = w
                .skus
                .iter()
                .find(|k| k.seller_sku == SKU)
                .expect("the SKU on every platform");
            (*p, k.sku_id)
        })
        .collect();
    let shows = |sim: &connectors::simulator::Simulator| -> Vec<i64> {
        listings
            .iter()
            .map(|(p, id)| {
                let w = sim.world(*p);
                w.skus[w.sku_index(*id).unwrap()].stock
            })
            .collect()
    };
    let settle = Instant::now();
    while shows(&sim.sim).iter().any(|q| *q != UNITS) {
        assert!(
            settle.elapsed() < Duration::from_secs(60),
            "opening stock never reached every listing: {:?}",
            shows(&sim.sim)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let writes_before: Vec<usize> = listings
        .iter()
        .map(|(p, _)| sim.sim.world(*p).stock_writes.len())
        .collect();

    // The sale.
    let (end, ended) = tokio::sync::oneshot::channel::<()>();
    let buyers = {
        let sim = sim.sim.clone();
        let listings = listings.clone();
        tokio::spawn(async move {
            sim.buyers(&listings, rate, seed, async move {
                let _ = ended.await;
            })
            .await
        })
    };
    let started = Instant::now();
    let mut zero_since: Option<Instant> = None;
    loop {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let all_zero = shows(&sim.sim).iter().all(|q| *q == 0);
        zero_since = match (all_zero, zero_since) {
            (true, None) => Some(Instant::now()),
            (true, since) => since,
            (false, _) => None,
        };
        // Over when nothing shows and Mercato has nothing left (every order read in), or when
        // nothing has shown for 30 s (units stranded).
        if let Some(z) = zero_since
            && (z.elapsed() >= Duration::from_secs(30)
                || (z.elapsed() >= Duration::from_secs(1) && available(&app, &org).await == 0))
        {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "the sale never ended: listings show {:?}",
            shows(&sim.sim)
        );
    }
    let _ = end.send(());
    let placed = buyers.await.expect("buyers");
    let secs = started.elapsed().as_secs_f64();
    let sold = i64::try_from(placed.len()).unwrap_or(i64::MAX);
    // Every order read in (the pull catches up), then Mercato's view of the sale.
    let catch_up = Instant::now();
    let mut seen = order_lines(&app, &org).await;
    while seen[0] < sold && catch_up.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(200)).await;
        seen = order_lines(&app, &org).await;
    }
    // Loop latency of the k-th sale (k <= 100): until every other listing showed <= 100 - k.
    let writes: Vec<Vec<connectors::simulator::world::StockWrite>> = listings
        .iter()
        .enumerate()
        .map(|(i, (p, _))| sim.sim.world(*p).stock_writes[writes_before[i]..].to_vec())
        .collect();
    let mut latencies = Vec::new();
    for (k, (platform, _, at)) in placed.iter().enumerate().take(100) {
        let left = UNITS - i64::try_from(k).unwrap() - 1;
        let mut worst: Option<i64> = Some(0);
        for (i, (p, _)) in listings.iter().enumerate() {
            if p == platform {
                continue;
            }
            let first = writes[i]
                .iter()
                .find(|w| w.at_ms >= *at && w.quantity <= left)
                .map(|w| w.at_ms - at);
            worst = match (worst, first) {
                (Some(a), Some(b)) => Some(a.max(b)),
                _ => None,
            };
        }
        if let Some(w) = worst {
            latencies.push(w);
        }
    }
    let _ = stop.send(());
    let _ = worker.await;
    Run {
        rate,
        pull,
        tail,
        sold,
        ingested: seen[0],
        short: seen[1],
        latencies,
        throttled: sim.sim.throttled(),
        refused: sim.sim.rejected(),
        secs,
    }
}
