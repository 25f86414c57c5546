//! The ORDERS sync against the simulator, per platform, through a real worker process: a 60-day
//! backfill gives exactly the simulator's orders (count, totals, statuses, update times, lines);
//! an incremental run right after changes nothing; after the marketplace's clock moves, the next
//! incremental run reads only what changed and applies it, even with duplicated and out-of-order
//! pages, an access token expiring mid-run and a 429.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::Platform;
use connectors::simulator::world::{CANCEL_REASON, Stage};
use connectors::simulator::{Fault, Quirks, Running, SimConfig};
use mercato_tests::market;
use mercato_tests::procs::Proc;
use mercato_tests::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::Duration;

/// Starts an ORDERS sync of `store` (a backfill when `range` is given) and waits for its end;
/// returns "STATUS fetched created updated skipped last_error".
async fn sync_orders(
    app: &TestApp,
    worker: &Proc,
    s: &Session,
    org: &str,
    store: &str,
    range: Option<(i64, i64)>,
    key: &str,
) -> String {
    let mut input = json!({ "storeId": store, "kind": "ORDERS", "idempotencyKey": key });
    if let Some((since, until)) = range {
        input["since"] = json!(
            chrono::DateTime::from_timestamp(since, 0)
                .unwrap()
                .to_rfc3339()
        );
        input["until"] = json!(
            chrono::DateTime::from_timestamp(until, 0)
                .unwrap()
                .to_rfc3339()
        );
    }
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code message } } }",
            json!({ "i": input }),
        )
        .await;
    let job = body["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    wait_job(app, worker, org, &job).await
}

async fn wait_job(app: &TestApp, worker: &Proc, org: &str, job: &str) -> String {
    let end = tokio::time::Instant::now() + Duration::from_secs(120);
    // One connection for the polling: connecting hashes a password (SCRAM), which would starve
    // the simulator served on this test's single thread if done several times a second.
    let owner = app.owner().await;
    loop {
        let r = rows_as(
            &owner,
            &[("app.org_id", &gid_uuid(org)), ("app.branch_ids", "*")],
            &format!(
                "SELECT j.status || ' ' || coalesce(r.fetched, 0) || ' ' || coalesce(r.created, 0) || ' ' \
                        || coalesce(r.updated, 0) || ' ' || coalesce(r.skipped, 0) || ' ' || coalesce(j.last_error, '') \
                 FROM jobs j LEFT JOIN sync_runs r ON r.job_id = j.id WHERE j.id = '{}'",
                gid_uuid(job)
            ),
        )
        .await
        .unwrap();
        if let Some(row) = r.first()
            && !row.starts_with("QUEUED")
            && !row.starts_with("RUNNING")
        {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < end,
            "job {job} did not finish: {r:?}\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn field(row: &str, i: usize) -> i64 {
    row.split(' ').nth(i).unwrap().parse().unwrap()
}

/// The statuses a simulator stage may map to (platforms name some stages differently).
fn statuses(stage: Stage) -> &'static [&'static str] {
    match stage {
        Stage::Unpaid => &["PENDING_PAYMENT"],
        Stage::Paid => &["AWAITING_FULFILLMENT"],
        Stage::ReadyToShip => &["READY_TO_SHIP", "AWAITING_FULFILLMENT"],
        Stage::Shipped => &["SHIPPED"],
        Stage::Delivered => &["DELIVERED"],
        Stage::Completed => &["COMPLETED", "DELIVERED"],
        Stage::Cancelled => &["CANCELLED"],
        // TikTok keeps a returned order COMPLETED (returns live in its reverse API).
        Stage::Returned => &["RETURNED", "RETURNING", "COMPLETED"],
    }
}

/// Every order of `store` against the simulator's world now: exactly the orders updated in
/// `from..to`, each with the world's status, update time, total, lines and units.
async fn assert_matches_world(
    app: &TestApp,
    org: &str,
    store: &str,
    sim: &Running,
    p: Platform,
    (from, to): (i64, i64),
) {
    let stored: BTreeMap<String, Vec<String>> = owner_rows(
        app,
        &gid_uuid(org),
        &format!(
            "SELECT o.external_id || '|' || o.status || '|' || extract(epoch FROM o.marketplace_updated_at)::bigint \
                    || '|' || o.total_minor || '|' || o.currency || '|' \
                    || (SELECT count(*) || '|' || sum(quantity) FROM order_items i WHERE i.order_id = o.id) \
                    || '|' || coalesce(o.subtotal_minor::text, '-') || '|' || coalesce(o.seller_discount_minor::text, '-') \
                    || '|' || coalesce(o.platform_discount_minor::text, '-') || '|' || o.is_cod \
                    || '|' || coalesce(o.cod_amount_minor::text, '-') || '|' || coalesce(o.payment_method, '-') \
                    || '|' || o.fulfilled_by || '|' || coalesce(extract(epoch FROM o.paid_at)::bigint::text, '-') \
                    || '|' || coalesce(o.cancel_reason, '-') \
             FROM orders o WHERE o.store_id = '{}'",
            gid_uuid(store)
        ),
    )
    .await
    .into_iter()
    .map(|r| {
        let parts: Vec<String> = r.split('|').map(str::to_owned).collect();
        (parts[0].clone(), parts[1..].to_vec())
    })
    .collect();
    let world = sim.sim.world(p);
    let now = sim.sim.now();
    let expected: Vec<_> = world
        .updated_between(from, to, now)
        .into_iter()
        .map(|(i, _)| &world.orders[i])
        .collect();
    assert_eq!(stored.len(), expected.len(), "{p:?}: order count");
    for o in expected {
        let got = stored
            .get(&o.id)
            .unwrap_or_else(|| panic!("{p:?}: order {} missing", o.id));
        let (stage, updated) = o.stage_at(now);
        assert!(
            statuses(stage).contains(&got[0].as_str()),
            "{p:?} {}: {stage:?} stored as {}",
            o.id,
            got[0]
        );
        assert_eq!(got[1], updated.to_string(), "{p:?} {}: update time", o.id);
        let a = world.amounts(o);
        assert_eq!(got[2], a.total().to_string(), "{p:?} {}: total", o.id);
        // The terms each platform states in its order (see connectors::OrderTerms).
        let api = p != Platform::Jumia;
        let split = matches!(p, Platform::TiktokShop | Platform::Lazada);
        let or_dash = |stated: bool, v: String| if stated { v } else { "-".to_owned() };
        let cod = api && a.cod;
        let method = match (p, cod) {
            (Platform::Shopee, true) => "Cash on Delivery",
            (Platform::Shopee, false) => "Online Banking",
            (Platform::TiktokShop, true) => "Cash on delivery",
            (Platform::TiktokShop, false) => "Bank transfer",
            (Platform::Lazada, true) => "COD",
            (Platform::Lazada, false) => "MIXEDCARD",
            _ => "-",
        };
        let by_marketplace =
            a.by_marketplace && matches!(p, Platform::Shopee | Platform::TiktokShop);
        let cancelled = matches!(stage, Stage::Cancelled);
        let expected_terms = [
            or_dash(api, a.items.to_string()),
            or_dash(split, a.seller_discount.to_string()),
            or_dash(split, a.platform_discount.to_string()),
            cod.to_string(),
            or_dash(cod, a.total().to_string()),
            method.to_owned(),
            if by_marketplace {
                "MARKETPLACE"
            } else {
                "SELLER"
            }
            .to_owned(),
            or_dash(api && cancelled, CANCEL_REASON.to_owned()),
        ];
        let got_terms = [
            &got[6], &got[7], &got[8], &got[9], &got[10], &got[11], &got[12], &got[14],
        ];
        for (g, e) in got_terms.iter().zip(&expected_terms) {
            assert_eq!(*g, e, "{p:?} {}: terms {:?}", o.id, &got[6..]);
        }
        if matches!(p, Platform::Shopee | Platform::TiktokShop) {
            let paid = world
                .paid_at(o, now)
                .map_or("-".to_owned(), |t| t.to_string());
            assert_eq!(got[13], paid, "{p:?} {}: paid at", o.id);
        }
        assert_eq!(got[3], world.currency, "{p:?}");
        assert_eq!(got[4], o.lines.len().to_string(), "{p:?} {}: lines", o.id);
        let units: u32 = o.lines.iter().map(|(_, q)| q).sum();
        assert_eq!(got[5], units.to_string(), "{p:?} {}: units", o.id);
    }
}

async fn count(app: &TestApp, org: &str, sql: &str) -> i64 {
    owner_rows(app, &gid_uuid(org), sql).await[0]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn orders_of_every_platform_backfill_exactly_then_follow_the_marketplace() {
    let sim = market::simulator(SimConfig {
        orders: 80,
        ..SimConfig::default()
    })
    .await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("ordsync", Some("Order Sync Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    // Jumia's real budget (4/s) would make this test take minutes for nothing it proves.
    let worker = mercato_tests::procs::worker(
        &app,
        &[
            ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
            ("MERCATO_QUOTAS", "JUMIA=50/1s"),
        ],
    )
    .await;
    let mut stores = Vec::new();
    for (platform, name) in [
        (Platform::Shopee, "SHOPEE"),
        (Platform::TiktokShop, "TIKTOK_SHOP"),
        (Platform::Lazada, "LAZADA"),
    ] {
        let store = market::connect(&app, &s, &branch, name)
            .await
            .store
            .unwrap();
        stores.push((platform, store));
    }
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { code } } }",
            json!({ "i": { "branchId": branch, "platform": "JUMIA", "externalShopId": "x", "name": "Jumia", "region": "KE", "currency": "KES",
                           "credentials": { "refreshToken": sim.sim.config().jumia.2 } } }),
        )
        .await;
    let jumia: &Value = &body["data"]["connectStore"]["store"]["id"];
    stores.push((Platform::Jumia, jumia.as_str().unwrap().to_owned()));
    for (_, store) in &stores {
        app.disable_schedules(&s, store).await;
    }

    for (i, (p, store)) in stores.iter().enumerate() {
        let uuid = gid_uuid(store);
        // A 60-day backfill: exactly the simulator's orders.
        let now = sim.sim.now();
        let range = (now - 60 * 86_400, now);
        let back = sync_orders(
            &app,
            &worker,
            &s,
            &org,
            store,
            Some(range),
            &format!("b{i}"),
        )
        .await;
        assert!(back.starts_with("SUCCEEDED"), "{p:?}: {back}");
        assert_matches_world(&app, &org, store, &sim, *p, range).await;
        let stored = count(
            &app,
            &org,
            &format!("SELECT count(*)::text FROM orders WHERE store_id = '{uuid}'"),
        )
        .await;
        assert_eq!(field(&back, 2), stored, "{p:?}: {back}");
        // Four 15-day windows, each a committed sync item.
        assert_eq!(
            count(
                &app,
                &org,
                &format!(
                    "SELECT count(*)::text FROM sync_items i JOIN sync_runs r ON r.id = i.run_id \
                 WHERE r.store_id = '{uuid}' AND i.entity = 'ORDER_WINDOW'"
                )
            )
            .await,
            4,
            "{p:?}"
        );

        // The first incremental run re-reads 30 days: nothing changes.
        let events = format!(
            "SELECT count(*)::text FROM order_events e JOIN orders o ON o.id = e.order_id WHERE o.store_id = '{uuid}'"
        );
        let events_before = count(&app, &org, &events).await;
        let again = sync_orders(&app, &worker, &s, &org, store, None, &format!("i{i}")).await;
        assert!(again.starts_with("SUCCEEDED"), "{p:?}: {again}");
        assert_eq!(
            (field(&again, 2), field(&again, 3)),
            (0, 0),
            "{p:?}: {again}"
        );
        assert_eq!(count(&app, &org, &events).await, events_before, "{p:?}");
    }

    // Two days pass on the marketplaces; pages come duplicated and reversed, the access token
    // expires on the second call and the third is throttled.
    sim.sim.advance(2 * 86_400);
    // A worker whose clock agrees with the marketplaces' (as real clocks do).
    drop(worker);
    let worker = mercato_tests::procs::worker(
        &app,
        &[
            ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
            ("MERCATO_QUOTAS", "JUMIA=50/1s"),
            ("MERCATO_MARKETPLACE_CLOCK_OFFSET_SECS", "172800"),
        ],
    )
    .await;
    for (i, (p, store)) in stores.iter().enumerate() {
        let uuid = gid_uuid(store);
        let watermark = count(&app, &org, &format!(
            "SELECT extract(epoch FROM orders_synced_to)::bigint::text FROM stores WHERE id = '{uuid}'"
        ))
        .await;
        sim.sim.set_quirks(
            *p,
            Quirks {
                duplicate_across_pages: true,
                out_of_order: true,
            },
        );
        sim.sim.inject_at(*p, 2, Fault::ExpireToken);
        sim.sim.inject_at(
            *p,
            3,
            Fault::RateLimit {
                retry_after_secs: 1,
            },
        );
        let now = sim.sim.now();
        let changed = sim
            .sim
            .world(*p)
            .updated_between(watermark - 10 * 60, now, now)
            .len();
        let next = sync_orders(&app, &worker, &s, &org, store, None, &format!("n{i}")).await;
        assert!(next.starts_with("SUCCEEDED"), "{p:?}: {next}");
        // Only what changed since the watermark (and its overlap) is read.
        assert_eq!(
            field(&next, 1),
            i64::try_from(changed).unwrap(),
            "{p:?}: {next}"
        );
        assert!(field(&next, 3) > 0, "{p:?}: orders moved on: {next}");
        assert_matches_world(&app, &org, store, &sim, *p, (now - 62 * 86_400, now)).await;
        assert_eq!(
            count(
                &app,
                &org,
                &format!(
                    "SELECT count(*)::text FROM order_events e JOIN orders o ON o.id = e.order_id \
                 WHERE o.store_id = '{uuid}' AND NOT e.applied"
                )
            )
            .await,
            0,
            "{p:?}: a sync never goes backwards"
        );
        sim.sim.set_quirks(*p, Quirks::default());
    }
    assert_eq!(sim.sim.rejected(), 0, "{:?}", sim.sim.rejections());
    drop(worker);
}

#[tokio::test]
async fn a_backfill_killed_mid_way_resumes_after_its_last_committed_window() {
    let sim = market::simulator(SimConfig {
        orders: 80,
        ..SimConfig::default()
    })
    .await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("ordkill", Some("Order Kill Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "SHOPEE")
        .await
        .store
        .unwrap();
    app.disable_schedules(&s, &store).await;
    let env = [("MERCATO_SIMULATOR_URL", sim.base_url.as_str())];
    let mut a = mercato_tests::procs::worker(&app, &env).await;
    // Every Shopee answer takes 700 ms, so the four windows take a few seconds each.
    sim.sim
        .inject(Platform::Shopee, Fault::Slow { millis: 700 }, 1000);
    let now = sim.sim.now();
    let range = (now - 60 * 86_400, now);
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code message } } }",
            json!({ "i": { "storeId": store, "kind": "ORDERS",
                           "since": chrono::DateTime::from_timestamp(range.0, 0).unwrap().to_rfc3339(),
                           "until": chrono::DateTime::from_timestamp(range.1, 0).unwrap().to_rfc3339() } }),
        )
        .await;
    let job = body["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let windows = format!(
        "SELECT i.external_key FROM sync_items i JOIN sync_runs r ON r.id = i.run_id \
         WHERE r.job_id = '{}' AND i.entity = 'ORDER_WINDOW' ORDER BY i.id",
        gid_uuid(&job)
    );
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    let owner = app.owner().await;
    let settings = [
        ("app.org_id", gid_uuid(&org)),
        ("app.branch_ids", "*".into()),
    ];
    let settings: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    while rows_as(&owner, &settings, &windows).await.unwrap().len() < 2 {
        assert!(tokio::time::Instant::now() < end, "{}", a.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.kill9();
    let committed = rows_as(&owner, &settings, &windows).await.unwrap();
    assert!(
        (2..4).contains(&committed.len()),
        "killed mid-way: {committed:?}"
    );
    let list = "/api/v2/order/get_order_list";
    let fetched_before = sim.sim.data_requests(Platform::Shopee, list);

    let b = mercato_tests::procs::worker(&app, &env).await;
    let done = wait_job(&app, &b, &org, &job).await;
    assert!(done.starts_with("SUCCEEDED"), "{done}");
    let after = sim.sim.data_requests(Platform::Shopee, list);
    let from_of = |q: &Vec<(String, String)>| {
        q.iter()
            .find(|(k, _)| k == "time_from")
            .map(|(_, v)| v.clone())
            .unwrap()
    };
    for w in &committed {
        let from = w.split_once("..").unwrap().0.to_owned();
        let count =
            |log: &[Vec<(String, String)>]| log.iter().filter(|q| from_of(q) == from).count();
        assert_eq!(
            count(&after),
            count(&fetched_before),
            "window {w} was committed before the kill and must not be fetched again"
        );
    }
    // The windows the killed attempt had not committed were fetched by the second one.
    assert!(after.len() > fetched_before.len());
    assert_eq!(rows_as(&owner, &settings, &windows).await.unwrap().len(), 4);
    assert_matches_world(&app, &org, &store, &sim, Platform::Shopee, range).await;
    // Each order was created once, and the run reports every window's orders.
    let orders = count(&app, &org, "SELECT count(*)::text FROM orders").await;
    assert_eq!(
        count(
            &app,
            &org,
            "SELECT count(*)::text FROM order_events WHERE from_status IS NULL"
        )
        .await,
        orders
    );
    assert_eq!(field(&done, 2), orders, "{done}");
    assert!(b.logs().contains("takes over"), "{}", b.logs());
}

#[tokio::test]
async fn a_bad_backfill_range_is_a_typed_error_and_queues_nothing() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("ordrange", Some("Order Range Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    let store = market::connect(&app, &s, &branch, "SHOPEE")
        .await
        .store
        .unwrap();
    app.disable_schedules(&s, &store).await;
    let now = chrono::Utc::now();
    let t = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
    for (input, field) in [
        (
            json!({ "kind": "ORDERS", "since": t(-1), "until": t(-2) }),
            "input.since",
        ),
        (json!({ "kind": "ORDERS", "since": t(-400) }), "input.since"),
        (
            json!({ "kind": "ORDERS", "since": t(-2), "until": t(3) }),
            "input.until",
        ),
        (json!({ "kind": "ORDERS", "until": t(-2) }), "input.since"),
        (
            json!({ "kind": "TOKEN_REFRESH", "since": t(-2) }),
            "input.since",
        ),
    ] {
        let mut i = input.clone();
        i["storeId"] = json!(store);
        let body = app
            .gql(
                Some(&s.token),
                "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code field } } }",
                json!({ "i": i }),
            )
            .await;
        let p = &body["data"]["startSync"];
        assert!(p["job"].is_null(), "{input}: {body}");
        assert_eq!(
            p["userErrors"][0]["code"], "VALIDATION_FAILED",
            "{input}: {body}"
        );
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(field.split('.').collect::<Vec<_>>()),
            "{input}: {body}"
        );
    }
    assert_eq!(
        count(
            &app,
            &org,
            "SELECT count(*)::text FROM jobs WHERE kind = 'ORDERS' AND payload ? 'manual'"
        )
        .await,
        0
    );
}
