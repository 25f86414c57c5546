//! A pool's last units against the simulator, through a real worker process: one SKU listed on
//! Shopee, TikTok Shop and Lazada, simulated buyers ordering on all three as fast as their
//! listings allow, orders read in by a one-second pull. However the orders and pushes interleave,
//! the marketplaces together sell exactly what Mercato has: the last units are partitioned
//! between the listings (drained to 0, then shared out once every sale is read in), never shown
//! on two at once. Also: the organization setting and its validation, the tail turned off and on
//! again, and a pool rebalanced when one listing has sold its part.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::Platform;
use connectors::simulator::{Running, SimConfig};
use mercato_tests::market::{self, sync};
use mercato_tests::procs::{self, Proc};
use mercato_tests::stock::{Shop, level, product, receive, shop};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const PLATFORMS: [(Platform, &str); 3] = [
    (Platform::Shopee, "SHOPEE"),
    (Platform::TiktokShop, "TIKTOK_SHOP"),
    (Platform::Lazada, "LAZADA"),
];

const SKU: &str = "SKU-000-0";

/// What the three listings show on the simulator.
fn shows(sim: &Running) -> Vec<i64> {
    PLATFORMS
        .iter()
        .map(|(p, _)| {
            let w = sim.sim.world(*p);
            w.skus.iter().find(|k| k.seller_sku == SKU).unwrap().stock
        })
        .collect()
}

async fn set_tail(app: &TestApp, sh: &Shop, tail: i64) -> Value {
    app.gql(
        Some(&sh.s.token),
        "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { organization { name stockTailPerListing } userErrors { field code } } }",
        json!({ "i": { "stockTailPerListing": tail } }),
    )
    .await["data"]["updateOrganization"]
        .clone()
}

/// A seller with the three stores connected, SKU in the catalog with `units` received, the
/// listings linked, orders pulled every second, and every listing showing `shown`.
async fn sale(
    tag: &str,
    units: i64,
    tail: Option<i64>,
    shown: i64,
) -> (Running, TestApp, Shop, String, Proc) {
    let sim = market::simulator_thread(SimConfig {
        products: 3,
        orders: 0,
        rate_limits: SimConfig::published_limits(),
        ..SimConfig::default()
    });
    let app = market::app_with(&sim).await;
    let sh = shop(&app, tag).await;
    if let Some(t) = tail {
        let r = set_tail(&app, &sh, t).await;
        assert_eq!(r["organization"]["stockTailPerListing"], t, "{r}");
    }
    let mut stores = Vec::new();
    for (_, name) in PLATFORMS {
        let store = market::connect(&app, &sh.s, &sh.branch, name)
            .await
            .store
            .unwrap();
        app.disable_schedules(&sh.s, &store).await;
        stores.push(store);
    }
    let v = product(&app, &sh, &[SKU]).await[0].clone();
    let worker = procs::worker(&app, &[("MERCATO_SIMULATOR_URL", sim.base_url.as_str())]).await;
    for store in &stores {
        sync(&app, &worker, &sh, store, "PRODUCTS").await;
        sync(&app, &worker, &sh, store, "ORDERS").await;
        let body = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { schedule { enabled } userErrors { code message } } }",
                json!({ "i": { "storeId": store, "kind": "ORDERS", "everySeconds": 1, "enabled": true } }),
            )
            .await;
        assert_eq!(
            body["data"]["updateSyncSchedule"]["schedule"]["enabled"], true,
            "{body}"
        );
    }
    receive(&app, &sh, &v, units).await;
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    while shows(&sim) != [shown; 3] {
        assert!(
            tokio::time::Instant::now() < end,
            "the listings never showed {shown}: {:?}\n{}",
            shows(&sim),
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (sim, app, sh, v, worker)
}

/// Buyers order one unit at a time on every listing at `rate` a second each until every listing
/// shows 0 and Mercato, having read every order in, has nothing left; the orders placed.
async fn sell_out(
    sim: &Running,
    app: &TestApp,
    sh: &Shop,
    v: &str,
    worker: &Proc,
    rate: f64,
) -> usize {
    let listings: Vec<(Platform, u64)> = PLATFORMS
        .iter()
        .map(|(p, _)| {
            let w = sim.sim.world(*p);
            (
                *p,
                w.skus.iter().find(|k| k.seller_sku == SKU).unwrap().sku_id,
            )
        })
        .collect();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let buyers = {
        let sim = sim.sim.clone();
        tokio::spawn(async move {
            sim.buyers(&listings, rate, 11, async move {
                let _ = stopped.await;
            })
            .await
        })
    };
    let end = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        tokio::time::sleep(Duration::from_millis(200)).await;
        let lv = level(app, sh, v).await;
        if shows(sim) == [0; 3] && lv["available"] == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the sale never ended: listings {:?}, Mercato {lv}\n{}",
            shows(sim),
            worker.logs()
        );
    }
    let _ = stop.send(());
    buyers.await.unwrap().len()
}

/// Order lines Mercato holds, and how many are SHORT (sold without stock).
async fn lines(app: &TestApp, sh: &Shop) -> (i64, i64) {
    let r = owner_rows(
        app,
        &sh.org,
        "SELECT count(*)::text || ' ' || count(*) FILTER (WHERE stock = 'SHORT')::text FROM order_items",
    )
    .await;
    let mut it = r[0].split(' ').map(|x| x.parse::<i64>().unwrap());
    (it.next().unwrap(), it.next().unwrap())
}

#[tokio::test]
async fn the_last_units_are_never_sold_twice_across_marketplaces() {
    // 30 units on three listings, with the default tail of 10 a listing: the listings (parts
    // unknown) are drained, then get 10 each once every store's orders are read past the drain.
    let (sim, app, sh, v, worker) = sale("tail", 30, None, 10).await;
    // Buyers on all three at 4 orders a second each, against a loop of about a second.
    let sold = sell_out(&sim, &app, &sh, &v, &worker, 4.0).await;
    // Exactly what there was: nothing oversold, nothing stranded on a listing.
    assert_eq!(sold, 30, "{}", worker.logs());
    // Every order was read in and holds its unit; none is SHORT.
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    while lines(&app, &sh).await.0 < 30 {
        assert!(tokio::time::Instant::now() < end, "orders not read in");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(lines(&app, &sh).await, (30, 0));
    let lv = level(&app, &sh, &v).await;
    assert_eq!(
        (lv["onHand"].clone(), lv["reserved"].clone()),
        (json!(30), json!(30)),
        "{lv}"
    );
    // The tail showed in the push runs: listings drained to 0, then shared out.
    let runs = owner_rows(
        &app,
        &sh.org,
        "SELECT r.message FROM sync_runs r WHERE r.kind = 'STOCK_PUSH' AND r.message LIKE '%last units%'",
    )
    .await;
    assert!(!runs.is_empty(), "no push worked on the last units");
    assert_eq!(sim.sim.rejected(), 0, "{:?}", sim.sim.rejections());
    drop(worker);
}

#[tokio::test]
async fn the_tail_setting_is_validated_and_can_be_turned_off() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "tailset").await;
    let r = set_tail(&app, &sh, -1).await;
    assert_eq!(r["userErrors"][0]["code"], "VALIDATION_FAILED", "{r}");
    assert_eq!(
        r["userErrors"][0]["field"],
        json!(["input", "stockTailPerListing"]),
        "{r}"
    );
    let r = set_tail(&app, &sh, 100_001).await;
    assert_eq!(r["userErrors"][0]["code"], "VALIDATION_FAILED", "{r}");
    // Unchanged by the refusals; the name is kept when only the setting changes.
    let r = set_tail(&app, &sh, 0).await;
    assert_eq!(r["userErrors"], json!([]), "{r}");
    assert_eq!(r["organization"]["stockTailPerListing"], 0, "{r}");
    assert!(r["organization"]["name"].is_string(), "{r}");
    // Another organization keeps its own default.
    let other = shop(&app, "tailother").await;
    let body = app
        .gql(
            Some(&other.s.token),
            "query { organization { stockTailPerListing } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["organization"]["stockTailPerListing"], 10,
        "{body}"
    );
}

#[tokio::test]
async fn with_the_tail_off_the_last_units_show_on_every_listing() {
    // Off: 6 units show as 6 on each listing.
    let (sim, app, sh, v, worker) = sale("tailoff", 6, Some(0), 6).await;
    let lv = level(&app, &sh, &v).await;
    assert_eq!(lv["available"], 6, "{lv}");
    // On again (10 a listing): a push drains the three listings, whose parts are unknown, and
    // once their stores' orders are read past the drain, shares the 6 out: 2 each.
    let r = set_tail(&app, &sh, 10).await;
    assert_eq!(r["userErrors"], json!([]), "{r}");
    let stores = app
        .gql(
            Some(&sh.s.token),
            "query { organization { stores(first: 10) { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    for e in stores["data"]["organization"]["stores"]["edges"]
        .as_array()
        .unwrap()
    {
        let body = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: PushStockInput!) { pushStock(input: $i) { queued userErrors { code } } }",
                json!({ "i": { "storeId": e["node"]["id"] } }),
            )
            .await;
        assert_eq!(body["data"]["pushStock"]["queued"], 1, "{body}");
    }
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    while shows(&sim) != [2; 3] {
        assert!(
            tokio::time::Instant::now() < end,
            "the last units were not shared out: {:?}\n{}",
            shows(&sim),
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Each listing then sells its own part: a sale on one is not sent to the others. The
    // platform shows the push before the worker has recorded it: wait for the record.
    let l = loop {
        let body = app
            .gql(
                Some(&sh.s.token),
                "query($s: ID!) { listings(storeId: $s) { nodes { externalSku pushQuantity stockSync { pushedQuantity inSync sellingOwnPart } } } }",
                json!({ "s": stores["data"]["organization"]["stores"]["edges"][0]["node"]["id"] }),
            )
            .await;
        let l = body["data"]["listings"]["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|l| l["externalSku"] == SKU)
            .unwrap()
            .clone();
        if l["stockSync"]["pushedQuantity"] == 2 || tokio::time::Instant::now() > end {
            break l;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(
        l["stockSync"],
        json!({"pushedQuantity": 2, "inSync": true, "sellingOwnPart": true}),
        "{l}"
    );
    assert_eq!(l["pushQuantity"], 2, "{l}");
    // Shopee sells its two: once Mercato reads them, nothing is left to give it while the others
    // hold 4, enough for one each, so the pool is rebalanced: the others drained, 4 split again.
    let shopee = sim
        .sim
        .world(Platform::Shopee)
        .skus
        .iter()
        .find(|k| k.seller_sku == SKU)
        .unwrap()
        .sku_id;
    assert!(sim.sim.place_order(Platform::Shopee, shopee, 2).is_some());
    assert!(sim.sim.place_order(Platform::Shopee, shopee, 1).is_none());
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let now = shows(&sim);
        if now.iter().sum::<i64>() == 4 && now.iter().all(|q| *q >= 1) {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "not rebalanced: {now:?}\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    drop(worker);
}
