//! The Redis side of the catalog: cached catalog reads stay per organization and are dropped by
//! writes, and low-stock alerts reach `inventoryAlerts` subscribers of the right organization and
//! branches only, on any server instance.
#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::*;
use mercato_tests::ws::*;
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const PAGE: &str = "{ products(first: 10) { edges { node { name variants { sku prices { amount currencyCode } } } } } }";
const IMPORT: &str = "mutation($i: ImportCatalogInput!) { importCatalog(input: $i) { import { rowsImported } userErrors { message } } }";

fn statements(app: &TestApp) -> u64 {
    app.state
        .db_statements
        .load(std::sync::atomic::Ordering::Relaxed)
}

async fn redis_keys(app: &TestApp, pattern: &str) -> Vec<String> {
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{}:{pattern}", app.state.config.redis_prefix))
        .query_async(&mut conn)
        .await
        .unwrap();
    keys.sort();
    keys
}

#[tokio::test]
async fn cached_catalog_reads_stay_in_their_tenant_and_a_write_shows_on_the_next_read() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "cache-a").await;
    let b = shop(&app, "cache-b").await;
    // Same product name and SKU in both organizations, different prices.
    for (sh, price) in [(&a, "10.00"), (&b, "20.00")] {
        let body = app
            .gql(
                Some(&sh.s.token),
                IMPORT,
                json!({"i": {"rows": [{"productName": "Same", "sku": "SAME-1", "prices": [{"amount": price, "currencyCode": "MYR"}]}]}}),
            )
            .await;
        assert_eq!(
            body["data"]["importCatalog"]["import"]["rowsImported"], 1,
            "{body}"
        );
    }
    let expect = |price: &str| json!({"edges": [{"node": {"name": "Same", "variants": [{"sku": "SAME-1", "prices": [{"amount": price, "currencyCode": "MYR"}]}]}}]});
    // Cold, then warm, alternating tenants with the identical query.
    let mut cost = Vec::new();
    for _ in 0..2 {
        for (sh, price) in [(&a, "10.00"), (&b, "20.00")] {
            let before = statements(&app);
            let body = app.gql(Some(&sh.s.token), PAGE, json!({})).await;
            cost.push(statements(&app) - before);
            assert_eq!(body["data"]["products"], expect(price), "{body}");
        }
    }
    // Warm reads skip the variants and prices statements.
    assert_eq!(cost[2] + 2, cost[0], "statements cold/warm: {cost:?}");
    assert_eq!(cost[3] + 2, cost[1], "statements cold/warm: {cost:?}");
    // The entries are keyed by organization.
    for sh in [&a, &b] {
        let keys = redis_keys(&app, &format!("org:{}:catalog:*:*:*", sh.org)).await;
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().any(|k| k.contains(":variants:")));
        assert!(keys.iter().any(|k| k.contains(":prices:")));
    }
    // A write in A is visible on A's next read; B keeps its own (still cached) data.
    let body = app
        .gql(
            Some(&a.s.token),
            IMPORT,
            json!({"i": {"rows": [{"productName": "Same", "sku": "SAME-1", "prices": [{"amount": "11.00", "currencyCode": "MYR"}]}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["importCatalog"]["import"]["rowsImported"], 1,
        "{body}"
    );
    let body = app.gql(Some(&a.s.token), PAGE, json!({})).await;
    assert_eq!(body["data"]["products"], expect("11.00"), "{body}");
    let before = statements(&app);
    let body = app.gql(Some(&b.s.token), PAGE, json!({})).await;
    assert_eq!(body["data"]["products"], expect("20.00"), "{body}");
    assert_eq!(
        statements(&app) - before,
        cost[3],
        "B still reads from its cache"
    );
    // A new variant (a bundle) is a catalog write too.
    let ids = owner_rows(
        &app,
        &a.org,
        "SELECT id::text FROM variants WHERE sku = 'SAME-1'",
    )
    .await;
    let pid = owner_rows(
        &app,
        &a.org,
        "SELECT product_id::text FROM variants WHERE sku = 'SAME-1'",
    )
    .await;
    let body = app
        .gql(
            Some(&a.s.token),
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { userErrors { message } } }",
            json!({"i": {"productId": gid("Product", &pid[0]), "variant": {"sku": "SAME-2PK"}, "components": [{"variantId": gid("Variant", &ids[0]), "quantity": 2}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createBundle"]["userErrors"],
        json!([]),
        "{body}"
    );
    let body = app.gql(Some(&a.s.token), PAGE, json!({})).await;
    let skus: Vec<&str> = body["data"]["products"]["edges"][0]["node"]["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["SAME-1", "SAME-2PK"]);
    // A failed mutation leaves the cache alone (nothing was committed).
    let before = statements(&app);
    app.gql(Some(&b.s.token), PAGE, json!({})).await;
    let warm = statements(&app) - before;
    let body = app
        .gql(
            Some(&b.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { userErrors { code } } }",
            json!({"i": {"name": "Dup", "variants": [{"sku": "SAME-1"}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createProduct"]["userErrors"][0]["code"],
        "CONFLICT"
    );
    let before = statements(&app);
    app.gql(Some(&b.s.token), PAGE, json!({})).await;
    assert_eq!(statements(&app) - before, warm);
}

const ALERTS: &str = "subscription($b: ID) { inventoryAlerts(branchId: $b) { id state variantId branchId available reorderPoint } }";

async fn thresholds(app: &TestApp, sh: &Shop, variant: &str, reorder: i64) {
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: SetStockThresholdsInput!) { setStockThresholds(input: $i) { userErrors { code } } }",
            json!({"i": {"variantId": variant, "locationId": sh.location, "reorderPoint": reorder}}),
        )
        .await;
    assert_eq!(
        body["data"]["setStockThresholds"]["userErrors"],
        json!([]),
        "{body}"
    );
}

fn alert(msg: &Value) -> Value {
    assert_eq!(msg["type"], "next", "{msg}");
    let a = &msg["payload"]["data"]["inventoryAlerts"];
    json!({"state": a["state"], "variantId": a["variantId"], "available": a["available"]})
}

#[tokio::test]
async fn inventory_alerts_reach_the_right_subscribers_on_every_server_and_no_one_else() {
    let db = fresh_database().await;
    let config = test_config(&db);
    let one = TestApp::spawn_with(config.clone(), db.clone()).await;
    let two = TestApp::spawn_with(config, db).await;
    let a = shop(&one, "alerts-a").await;
    let b = shop(&one, "alerts-b").await;
    let v1 = product(&one, &a, &["LOW-1"]).await.remove(0);
    let v2 = product(&one, &a, &["LOW-2"]).await.remove(0);
    let bv = product(&one, &b, &["B-LOW"]).await.remove(0);
    for (sh, v) in [(&a, &v1), (&a, &v2), (&b, &bv)] {
        receive(&one, sh, v, 10).await;
        thresholds(&one, sh, v, 3).await;
    }
    // An alert already open before anyone subscribes.
    reserve(&one, &a, &v1, 8, "c8", None).await;
    // A member who sees only another branch of A, and subscribers of A (on the second server)
    // and of B.
    let other_branch = one.create_branch(&a.s, "Elsewhere").await;
    let limited = joined_member(
        &one,
        &a.s,
        "alerts-limited",
        "MEMBER",
        json!([{"branchId": other_branch, "role": "MANAGER"}]),
    )
    .await;
    let mut sub_a = subscribe(&two, &a.s.token, ALERTS, json!({})).await;
    let mut sub_b = subscribe(&one, &b.s.token, ALERTS, json!({})).await;
    let mut sub_limited = subscribe(&one, &limited.token, ALERTS, json!({})).await;
    let mut anonymous = open(&one).await;
    // A late subscriber first receives what is open now (this also proves it is listening).
    assert_eq!(
        alert(&next_json(&mut sub_a).await),
        json!({"state": "OPEN", "variantId": v1, "available": 2})
    );
    // Changes made through server one reach the subscriber on server two, in order.
    reserve(&one, &a, &v2, 7, "c7", None).await; // 10 - 7 = 3: opens
    reserve(&one, &a, &v2, 1, "c1", None).await; // 2: stays open, no second alert
    receive(&one, &a, &v1, 5).await; // 2 + 5 = 7: resolves
    for expected in [
        json!({"state": "OPEN", "variantId": v2, "available": 3}),
        json!({"state": "RESOLVED", "variantId": v1, "available": 7}),
    ] {
        assert_eq!(alert(&next_json(&mut sub_a).await), expected);
    }
    // Nothing more for A; B, the member of another branch and an unauthenticated socket get
    // nothing of A's.
    assert_eq!(
        maybe_json(&mut sub_a, Duration::from_millis(500)).await,
        None
    );
    assert_eq!(
        maybe_json(&mut sub_b, Duration::from_millis(200)).await,
        None
    );
    assert_eq!(
        maybe_json(&mut sub_limited, Duration::from_millis(200)).await,
        None
    );
    assert_eq!(
        maybe_json(&mut anonymous, Duration::from_millis(200)).await,
        None
    );
    // B's own alert reaches B only.
    reserve(&one, &b, &bv, 9, "c9", None).await;
    assert_eq!(
        alert(&next_json(&mut sub_b).await),
        json!({"state": "OPEN", "variantId": bv, "available": 1})
    );
    assert_eq!(
        maybe_json(&mut sub_a, Duration::from_millis(300)).await,
        None
    );
    // Asking for a branch one cannot see is refused.
    let mut refused = subscribe(&one, &limited.token, ALERTS, json!({"b": a.branch})).await;
    let msg = next_json(&mut refused).await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{msg}"
    );
    // So is another organization's branch, even for an owner who sees every branch of their own.
    let mut other_org = subscribe(&one, &a.s.token, ALERTS, json!({"b": b.branch})).await;
    let msg = next_json(&mut other_org).await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{msg}"
    );
    // Without inventory access (an API token for stores only) the subscription is refused.
    let (_, secret) = one
        .create_api_token(&a.s, "stores", &["STORES_READ"], None)
        .await;
    let mut no_scope = subscribe(&one, &secret, ALERTS, json!({})).await;
    let msg = next_json(&mut no_scope).await;
    assert_eq!(
        msg["payload"]["errors"][0]["extensions"]["code"], "FORBIDDEN",
        "{msg}"
    );
}
