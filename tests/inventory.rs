//! Stock through GraphQL under concurrency: reservations never oversell (single SKUs and bundles
//! whose components also sell alone), idempotent adjustments, exact money per currency, and
//! tenant isolation of every catalog/inventory argument. After each concurrency test the ledger
//! is checked against the levels.
#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::*;
use mercato_tests::*;
use serde_json::{Value, json};
use std::sync::Arc;

/// Fires `n` reservations of `variant` at once over several HTTP connections; returns the codes.
async fn reserve_concurrently(app: &TestApp, sh: &Shop, variants: Vec<String>) -> Vec<String> {
    let clients: Vec<reqwest::Client> = (0..8).map(|_| reqwest::Client::new()).collect();
    let url = format!("{}/graphql", app.base);
    let token = Arc::new(sh.s.token.clone());
    let mut tasks = Vec::new();
    for (i, v) in variants.into_iter().enumerate() {
        let client = clients[i % clients.len()].clone();
        let (url, token, location) = (url.clone(), token.clone(), sh.location.clone());
        tasks.push(tokio::spawn(async move {
            let body: Value = client
                .post(url)
                .bearer_auth(token.as_str())
                .json(&json!({"query": RESERVE, "variables": {"i": {"variantId": v, "locationId": location, "quantity": 1, "referenceType": "ORDER_LINE", "referenceId": format!("line-{i}")}}}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let p = &body["data"]["reserveStock"];
            if p["reservation"]["status"] == "ACTIVE" {
                "OK".to_owned()
            } else {
                p["userErrors"][0]["code"].as_str().map_or_else(|| body.to_string(), str::to_owned)
            }
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

#[tokio::test]
async fn two_hundred_concurrent_reservations_against_fifty_never_oversell() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "oversell").await;
    let v = product(&app, &sh, &["HOT-1"]).await.remove(0);
    receive(&app, &sh, &v, 50).await;
    let codes = reserve_concurrently(&app, &sh, vec![v.clone(); 200]).await;
    let ok = codes.iter().filter(|c| *c == "OK").count();
    let short = codes.iter().filter(|c| *c == "INSUFFICIENT_STOCK").count();
    assert_eq!((ok, short), (50, 150), "{codes:?}");
    let l = level(&app, &sh, &v).await;
    assert_eq!(
        l,
        json!({"onHand": 50, "reserved": 50, "safetyStock": 0, "available": 0})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn a_bundle_and_its_components_sold_alone_never_oversell_together() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "bundle").await;
    let vs = product(&app, &sh, &["MUG", "SPOON"]).await;
    let (mug, spoon) = (vs[0].clone(), vs[1].clone());
    receive(&app, &sh, &mug, 50).await;
    receive(&app, &sh, &spoon, 30).await;
    let pid = {
        let body = app
            .gql(Some(&sh.s.token), "query($v: ID!, $l: ID!) { stockLevel(variantId: $v, locationId: $l) { variantId } }", json!({"v": mug, "l": sh.location}))
            .await;
        assert!(body["errors"].is_null(), "{body}");
        // The bundle belongs to a product of its own.
        let body = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { code } } }",
                json!({"i": {"name": "Set", "variants": [{"sku": "SET-PLACEHOLDER"}]}}),
            )
            .await;
        body["data"]["createProduct"]["product"]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { variant { id isBundle } userErrors { field code message } } }",
            json!({"i": {"productId": pid, "variant": {"sku": "MUG-SET"}, "components": [{"variantId": mug, "quantity": 2}, {"variantId": spoon, "quantity": 1}]}}),
        )
        .await;
    let set = body["data"]["createBundle"]["variant"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    assert_eq!(
        level(&app, &sh, &set).await["available"],
        25,
        "min(50/2, 30/1)"
    );

    let mut wanted = Vec::new();
    for i in 0..200 {
        wanted.push(if i % 2 == 0 { set.clone() } else { mug.clone() });
    }
    let codes = reserve_concurrently(&app, &sh, wanted.clone()).await;
    assert!(
        codes.iter().all(|c| c == "OK" || c == "INSUFFICIENT_STOCK"),
        "{codes:?}"
    );
    let sets = codes
        .iter()
        .zip(&wanted)
        .filter(|(c, v)| *c == "OK" && **v == set)
        .count() as i64;
    let mugs = codes
        .iter()
        .zip(&wanted)
        .filter(|(c, v)| *c == "OK" && **v == mug)
        .count() as i64;
    let m = level(&app, &sh, &mug).await;
    let s = level(&app, &sh, &spoon).await;
    assert_eq!(m["reserved"].as_i64().unwrap(), 2 * sets + mugs);
    assert_eq!(s["reserved"].as_i64().unwrap(), sets);
    assert!(m["reserved"].as_i64().unwrap() <= 50 && s["reserved"].as_i64().unwrap() <= 30);
    // Demand (300 mug units) far exceeds 50: at most one unit can be left, and only if the last
    // request wanting it was a set (which needs two).
    assert!(m["available"].as_i64().unwrap() <= 1, "{m}");
    assert_ledger_equals_levels(&app, &sh.org).await;

    // The bundle's derived availability follows its components.
    let body = app
        .gql(
            Some(&sh.s.token),
            "query($v: ID!, $l: ID!) { stockLevel(variantId: $v, locationId: $l) { available } }",
            json!({"v": set, "l": sh.location}),
        )
        .await;
    assert_eq!(body["data"]["stockLevel"]["available"], 0);
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn an_idempotent_adjustment_retried_twenty_times_at_once_moves_stock_once() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "idem").await;
    let v = product(&app, &sh, &["IDEM-1"]).await.remove(0);
    let input = json!({"variantId": v, "locationId": sh.location, "kind": "RECEIVE", "quantity": 7, "reason": "PO 1", "idempotencyKey": "po-1-line-1"});
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let client = reqwest::Client::new();
        let (url, token, input) = (
            format!("{}/graphql", app.base),
            sh.s.token.clone(),
            input.clone(),
        );
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .json(&json!({"query": ADJUST, "variables": {"i": input}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }));
    }
    for t in tasks {
        let body = t.await.unwrap();
        assert_eq!(
            body["data"]["adjustStock"]["stockLevel"]["onHand"], 7,
            "every retry returns the first result: {body}"
        );
    }
    assert_eq!(level(&app, &sh, &v).await["onHand"], 7);
    let movements = owner_rows(&app, &sh.org, "SELECT count(*)::text FROM stock_movements").await;
    assert_eq!(movements, ["1"]);
    // The same key with another payload is a conflict and changes nothing.
    let mut other = input.clone();
    other["quantity"] = json!(8);
    let body = app
        .gql(Some(&sh.s.token), ADJUST, json!({"i": other}))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["userErrors"][0]["code"], "CONFLICT",
        "{body}"
    );
    assert_eq!(level(&app, &sh, &v).await["onHand"], 7);
    // Compare-and-set: a stale expected on hand is refused.
    let body = app
        .gql(Some(&sh.s.token), ADJUST, json!({"i": {"variantId": v, "locationId": sh.location, "kind": "COUNT", "quantity": 5, "expectedOnHand": 6}}))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["userErrors"][0]["code"], "CONFLICT",
        "{body}"
    );
    let body = app
        .gql(Some(&sh.s.token), ADJUST, json!({"i": {"variantId": v, "locationId": sh.location, "kind": "COUNT", "quantity": 5, "expectedOnHand": 7}}))
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["stockLevel"]["onHand"], 5,
        "{body}"
    );
    // History explains the number.
    let body = app
        .gql(
            Some(&sh.s.token),
            "query($v: ID!, $l: ID!) { stockHistory(variantId: $v, locationId: $l) { nodes { kind onHandDelta onHandAfter reason } } }",
            json!({"v": v, "l": sh.location}),
        )
        .await;
    assert_eq!(
        body["data"]["stockHistory"]["nodes"],
        json!([{"kind": "RECEIVE", "onHandDelta": 7, "onHandAfter": 7, "reason": "PO 1"}, {"kind": "COUNT", "onHandDelta": -2, "onHandAfter": 5, "reason": ""}])
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn money_round_trips_per_currency_and_refuses_extra_decimals() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "money").await;
    let q = "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { variants { prices { amount currencyCode } } } userErrors { field code message } } }";
    let body = app
        .gql(
            Some(&sh.s.token),
            q,
            json!({"i": {"name": "Lamp", "variants": [{"sku": "LAMP", "prices": [
                {"amount": "150000", "currencyCode": "IDR"}, {"amount": "12.5", "currencyCode": "usd"}, {"amount": "1.250", "currencyCode": "KWD"}]}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createProduct"]["product"]["variants"][0]["prices"],
        json!([{"amount": "150000", "currencyCode": "IDR"}, {"amount": "1.250", "currencyCode": "KWD"}, {"amount": "12.50", "currencyCode": "USD"}]),
        "{body}"
    );
    for (amount, cur) in [
        ("1500.5", "IDR"),
        ("12.505", "USD"),
        ("1.2505", "KWD"),
        ("-1", "USD"),
        ("1,000", "USD"),
    ] {
        let body = app
            .gql(Some(&sh.s.token), q, json!({"i": {"name": "Bad", "variants": [{"sku": format!("BAD-{cur}-{amount}"), "prices": [{"amount": amount, "currencyCode": cur}]}]}}))
            .await;
        let e = &body["data"]["createProduct"]["userErrors"][0];
        assert_eq!(e["code"], "VALIDATION_FAILED", "{amount} {cur}: {body}");
        assert_eq!(
            e["field"],
            json!(["input", "variants", "0", "prices", "0", "amount"]),
            "{body}"
        );
    }
    // Nothing half-written: the refused products do not exist.
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT count(*)::text FROM products").await,
        ["1"]
    );
    // A SKU is unique per organization, and two organizations may share one.
    let body = app
        .gql(
            Some(&sh.s.token),
            q,
            json!({"i": {"name": "Again", "variants": [{"sku": "LAMP"}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createProduct"]["userErrors"][0]["code"],
        "CONFLICT"
    );
    let other = shop(&app, "money-b").await;
    let body = app
        .gql(
            Some(&other.s.token),
            q,
            json!({"i": {"name": "Lamp", "variants": [{"sku": "LAMP"}]}}),
        )
        .await;
    assert!(
        body["data"]["createProduct"]["userErrors"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{body}"
    );
}

#[tokio::test]
async fn another_tenants_ids_are_not_found_in_every_catalog_and_inventory_argument() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "tenant-a").await;
    let b = shop(&app, "tenant-b").await;
    let bv = product(&app, &b, &["B-1"]).await.remove(0);
    receive(&app, &b, &bv, 10).await;
    let av = product(&app, &a, &["A-1"]).await.remove(0);
    receive(&app, &a, &av, 10).await;
    let t = Some(a.s.token.as_str());
    // B's variant at A's location, and A's variant at B's location.
    for (v, l) in [(&bv, &a.location), (&av, &b.location), (&bv, &b.location)] {
        let body = app
            .gql(t, RESERVE, json!({"i": {"variantId": v, "locationId": l, "quantity": 1, "referenceType": "CART", "referenceId": "c1"}}))
            .await;
        assert_eq!(
            body["data"]["reserveStock"]["userErrors"][0]["code"], "NOT_FOUND",
            "{body}"
        );
        let body = app
            .gql(
                t,
                ADJUST,
                json!({"i": {"variantId": v, "locationId": l, "kind": "ADJUST", "quantity": -5}}),
            )
            .await;
        assert_eq!(
            body["data"]["adjustStock"]["userErrors"][0]["code"], "NOT_FOUND",
            "{body}"
        );
        let body = app
            .gql(
                t,
                "query($v: ID!, $l: ID!) { stockLevel(variantId: $v, locationId: $l) { onHand } }",
                json!({"v": v, "l": l}),
            )
            .await;
        assert_eq!(first_error_code(&body), "NOT_FOUND", "{body}");
        let body = app
            .gql(
                t,
                "query($v: ID!, $l: ID!) { stockHistory(variantId: $v, locationId: $l) { nodes { kind } } }",
                json!({"v": v, "l": l}),
            )
            .await;
        assert_eq!(first_error_code(&body), "NOT_FOUND", "{body}");
    }
    let body = app
        .gql(
            t,
            "mutation($i: TransferStockInput!) { transferStock(input: $i) { from { onHand } userErrors { code } } }",
            json!({"i": {"variantId": av, "fromLocationId": a.location, "toLocationId": b.location, "quantity": 1}}),
        )
        .await;
    assert_eq!(
        body["data"]["transferStock"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    let apid = app
        .gql(
            t,
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }",
            json!({"i": {"name": "S", "variants": [{"sku": "S-1"}]}}),
        )
        .await["data"]["createProduct"]["product"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql(
            t,
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { variant { id } userErrors { code } } }",
            json!({"i": {"productId": apid, "variant": {"sku": "A-SET"}, "components": [{"variantId": bv, "quantity": 1}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createBundle"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    // B is unchanged.
    assert_eq!(
        level(&app, &b, &bv).await,
        json!({"onHand": 10, "reserved": 0, "safetyStock": 0, "available": 10})
    );
    assert_eq!(
        owner_rows(&app, &b.org, "SELECT count(*)::text FROM stock_movements").await,
        ["1"]
    );
    // And at the SQL level, as the runtime role with A's context, B's rows do not exist.
    let runtime = app.runtime().await;
    let seen = rows_as(
        &runtime,
        &[("app.org_id", a.org.as_str()), ("app.branch_ids", "*")],
        &format!(
            "SELECT count(*)::text FROM inventory_levels WHERE variant_id = '{}'",
            gid_uuid(&bv)
        ),
    )
    .await
    .unwrap();
    assert_eq!(seen, ["0"]);
}

#[tokio::test]
async fn release_and_commit_move_stock_as_expected_and_low_stock_alerts_open_once() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "flow").await;
    let v = product(&app, &sh, &["FLOW-1"]).await.remove(0);
    receive(&app, &sh, &v, 10).await;
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: SetStockThresholdsInput!) { setStockThresholds(input: $i) { stockLevel { available reorderPoint } userErrors { code } } }",
            json!({"i": {"variantId": v, "locationId": sh.location, "safetyStock": 1, "reorderPoint": 5}}),
        )
        .await;
    assert_eq!(
        body["data"]["setStockThresholds"]["stockLevel"],
        json!({"available": 9, "reorderPoint": 5}),
        "{body}"
    );
    let mut ids = Vec::new();
    for i in 0..3 {
        let body = app
            .gql(Some(&sh.s.token), RESERVE, json!({"i": {"variantId": v, "locationId": sh.location, "quantity": 2, "referenceType": "ORDER_LINE", "referenceId": format!("o{i}")}}))
            .await;
        ids.push(
            body["data"]["reserveStock"]["reservation"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
        );
    }
    // available 9 → 7 → 5 (alert) → 3 (still one alert)
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM stock_alerts WHERE resolved_at IS NULL"
        )
        .await,
        ["1"]
    );
    let rel = "mutation($id: ID!) { releaseReservation(input: {id: $id}) { reservation { status } userErrors { code } } }";
    let com = "mutation($id: ID!) { commitReservation(input: {id: $id}) { reservation { status } userErrors { code } } }";
    let body = app.gql(Some(&sh.s.token), rel, json!({"id": ids[0]})).await;
    assert_eq!(
        body["data"]["releaseReservation"]["reservation"]["status"],
        "RELEASED"
    );
    let body = app.gql(Some(&sh.s.token), rel, json!({"id": ids[0]})).await;
    assert_eq!(
        body["data"]["releaseReservation"]["userErrors"][0]["code"], "CONFLICT",
        "released twice: {body}"
    );
    let body = app.gql(Some(&sh.s.token), com, json!({"id": ids[1]})).await;
    assert_eq!(
        body["data"]["commitReservation"]["reservation"]["status"],
        "COMMITTED"
    );
    assert_eq!(
        level(&app, &sh, &v).await,
        json!({"onHand": 8, "reserved": 2, "safetyStock": 1, "available": 5})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
    // Stock recovers above the reorder point: the alert closes; falling again opens a new one.
    receive(&app, &sh, &v, 10).await;
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM stock_alerts WHERE resolved_at IS NULL"
        )
        .await,
        ["0"]
    );
}

#[tokio::test]
async fn the_ledger_is_append_only_and_levels_cannot_be_oversold_even_by_raw_sql() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "ledger").await;
    let v = product(&app, &sh, &["LEDGER-1"]).await.remove(0);
    receive(&app, &sh, &v, 3).await;
    let runtime = app.runtime().await;
    let ctx = [("app.org_id", sh.org.as_str()), ("app.branch_ids", "*")];
    for sql in [
        "UPDATE stock_movements SET reason = 'rewritten' RETURNING id::text",
        "DELETE FROM stock_movements RETURNING id::text",
    ] {
        let e = rows_as(&runtime, &ctx, sql).await.unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
    let e = rows_as(
        &runtime,
        &ctx,
        "UPDATE inventory_levels SET reserved = on_hand + 1 RETURNING 1::text",
    )
    .await
    .unwrap_err();
    assert!(e.contains("inventory_levels_check"), "{e}");
    assert_ledger_equals_levels(&app, &sh.org).await;
}

const PRODUCTS: &str = "query($first: Int, $after: String, $q: String, $status: ProductStatus, $sort: ProductSortKey, $rev: Boolean) {
  products(first: $first, after: $after, query: $q, status: $status, sortKey: $sort, reverse: $rev) {
    pageInfo { hasNextPage endCursor }
    edges { node { name status variants { sku prices { amount currencyCode } stockLevels { onHand available } } } } } }";

#[tokio::test]
async fn products_page_filter_sort_and_load_a_page_in_a_fixed_number_of_statements() {
    // Batching on its own: with the Redis cache on, repeated pages skip Postgres for variants and
    // prices (tests/catalog_cache.rs shows that).
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.catalog_cache_ttl = std::time::Duration::ZERO;
    let app = TestApp::spawn_with(config, db).await;
    let sh = shop(&app, "catalog").await;
    for i in 0..60 {
        let variants: Vec<Value> = (0..3)
            .map(|v| json!({"sku": format!("P{i:02}-V{v}"), "prices": [{"amount": "9.99", "currencyCode": "MYR"}, {"amount": "35000", "currencyCode": "IDR"}]}))
            .collect();
        let status = if i % 3 == 0 { "DRAFT" } else { "ACTIVE" };
        let body = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { variants { id } } userErrors { code } } }",
                json!({"i": {"name": format!("Item {:02} {}", 59 - i, if i % 2 == 0 { "Blue" } else { "Red" }), "status": status, "variants": variants}}),
            )
            .await;
        let v0 = body["data"]["createProduct"]["product"]["variants"][0]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        receive(&app, &sh, &v0, i + 1).await;
    }
    let t = Some(sh.s.token.as_str());
    let count = |app: &TestApp| {
        app.state
            .db_statements
            .load(std::sync::atomic::Ordering::Relaxed)
    };

    let mut sizes = Vec::new();
    for n in [10, 50, 10, 50, 1] {
        let before = count(&app);
        app.gql(t, PRODUCTS, json!({"first": n})).await;
        sizes.push(count(&app) - before);
    }
    assert!(
        sizes.iter().all(|n| *n == sizes[0]),
        "statements per page size [10, 50, 10, 50, 1]: {sizes:?}"
    );
    let before = count(&app);
    let page = app.gql(t, PRODUCTS, json!({"first": 10})).await;
    let small = count(&app) - before;
    let before = count(&app);
    let page50 = app.gql(t, PRODUCTS, json!({"first": 50})).await;
    let large = count(&app) - before;
    assert_eq!(
        page["data"]["products"]["edges"]
            .as_array()
            .map(Vec::len)
            .unwrap_or_else(|| panic!("{page}")),
        10,
        "{page}"
    );
    let edges = page50["data"]["products"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 50);
    assert_eq!(edges[0]["node"]["variants"].as_array().unwrap().len(), 3);
    assert_eq!(
        edges[0]["node"]["variants"][0]["prices"],
        json!([{"amount": "35000", "currencyCode": "IDR"}, {"amount": "9.99", "currencyCode": "MYR"}])
    );
    assert_eq!(
        edges[0]["node"]["variants"][0]["stockLevels"][0]["onHand"],
        1
    );
    assert_eq!(
        small, large,
        "statements do not grow with the page: {small} vs {large}"
    );
    // The tenant opening (context, statement timeout, read-only, membership and branch
    // visibility: one statement), then the page, its variants, prices and levels.
    assert_eq!(
        large, 5,
        "a page of products with variants, prices and stock took {large} statements"
    );

    // Paging forwards covers everything once.
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let body = app
            .gql(t, PRODUCTS, json!({"first": 25, "after": after}))
            .await;
        let p = &body["data"]["products"];
        seen.extend(
            p["edges"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["node"]["name"].as_str().unwrap().to_owned()),
        );
        if !p["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = p["pageInfo"]["endCursor"].as_str().map(str::to_owned);
    }
    assert_eq!(seen.len(), 60);
    // Sort by name (and reverse), with a cursor in the middle.
    let body = app
        .gql(t, PRODUCTS, json!({"first": 3, "sort": "NAME"}))
        .await;
    let names: Vec<&str> = body["data"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Item 00 Red", "Item 01 Blue", "Item 02 Red"]);
    let cursor = body["data"]["products"]["pageInfo"]["endCursor"].clone();
    let body = app
        .gql(
            t,
            PRODUCTS,
            json!({"first": 2, "sort": "NAME", "after": cursor}),
        )
        .await;
    let names: Vec<&str> = body["data"]["products"]["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Item 03 Blue", "Item 04 Red"]);
    let body = app
        .gql(
            t,
            PRODUCTS,
            json!({"first": 1, "sort": "NAME", "rev": true}),
        )
        .await;
    assert_eq!(
        body["data"]["products"]["edges"][0]["node"]["name"],
        "Item 59 Blue"
    );
    // Search by name and by SKU prefix; filter by status.
    let body = app
        .gql(t, PRODUCTS, json!({"first": 100, "q": "blue"}))
        .await;
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        30
    );
    let body = app
        .gql(t, PRODUCTS, json!({"first": 100, "q": "p07-"}))
        .await;
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        1
    );
    let body = app.gql(t, PRODUCTS, json!({"first": 100, "q": "%"})).await;
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        0,
        "wildcards are literal"
    );
    let body = app
        .gql(t, PRODUCTS, json!({"first": 100, "status": "DRAFT"}))
        .await;
    assert_eq!(
        body["data"]["products"]["edges"].as_array().unwrap().len(),
        20
    );
    // Another tenant sees none of it.
    let other = shop(&app, "catalog-b").await;
    let body = app
        .gql(Some(&other.s.token), PRODUCTS, json!({"first": 100}))
        .await;
    assert_eq!(body["data"]["products"]["edges"], json!([]));
}

#[tokio::test]
async fn listings_push_the_allocated_share_of_available_stock() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "listing").await;
    let store = app
        .connect_store(&sh.s, &sh.branch, "727720655", None)
        .await;
    let vs = product(&app, &sh, &["LST-1", "LST-2"]).await;
    receive(&app, &sh, &vs[0], 40).await;
    receive(&app, &sh, &vs[1], 9).await;
    let q = "mutation($i: CreateListingInput!) { createListing(input: $i) { listing { id externalItemId price { amount currencyCode } allocation { percent max buffer } pushQuantity } userErrors { field code message } } }";
    let t = Some(sh.s.token.as_str());
    let body = app
        .gql(t, q, json!({"i": {"storeId": store, "variantId": vs[0], "externalItemId": "1001", "externalModelId": "0",
            "price": {"amount": "19.90", "currencyCode": "MYR"}, "allocation": {"percent": 50, "max": 15, "buffer": 3}}}))
        .await;
    let l = &body["data"]["createListing"]["listing"];
    assert_eq!(l["pushQuantity"], 15, "min(40 × 50% − 3, 15): {body}");
    assert_eq!(
        l["price"],
        json!({"amount": "19.90", "currencyCode": "MYR"})
    );
    let body = app.gql(t, q, json!({"i": {"storeId": store, "variantId": vs[1], "allocation": {"percent": 50, "buffer": 1}}})).await;
    assert_eq!(
        body["data"]["createListing"]["listing"]["pushQuantity"], 3,
        "floor(9 × 50%) − 1"
    );
    let body = app
        .gql(t, q, json!({"i": {"storeId": store, "variantId": vs[1]}}))
        .await;
    assert_eq!(
        body["data"]["createListing"]["userErrors"][0]["code"], "CONFLICT",
        "{body}"
    );
    let body = app
        .gql(
            t,
            q,
            json!({"i": {"storeId": store, "variantId": vs[0], "allocation": {"percent": 101}}}),
        )
        .await;
    assert_eq!(
        body["data"]["createListing"]["userErrors"][0]["code"], "VALIDATION_FAILED",
        "{body}"
    );
    // Reservations lower what is pushed.
    for i in 0..30 {
        app.gql(t, RESERVE, json!({"i": {"variantId": vs[0], "locationId": sh.location, "quantity": 1, "referenceType": "ORDER_LINE", "referenceId": format!("r{i}")}})).await;
    }
    let body = app
        .gql(
            t,
            "query($s: ID!) { listings(storeId: $s) { nodes { externalItemId pushQuantity } } }",
            json!({"s": store}),
        )
        .await;
    assert_eq!(
        body["data"]["listings"]["nodes"][0],
        json!({"externalItemId": "1001", "pushQuantity": 2}),
        "10 × 50% − 3: {body}"
    );
    // The rule, price and status can change; a paused listing pushes nothing.
    let listing = l["id"].as_str().unwrap().to_owned();
    let upd = "mutation($i: UpdateListingInput!) { updateListing(input: $i) { listing { status price { amount } allocation { percent max buffer } pushQuantity } userErrors { field code message } } }";
    let body = app
        .gql(t, upd, json!({"i": {"id": listing, "allocation": {"percent": 100, "buffer": 1}, "price": {"amount": "18.50", "currencyCode": "MYR"}}}))
        .await;
    assert_eq!(
        body["data"]["updateListing"]["listing"],
        json!({"status": "ACTIVE", "price": {"amount": "18.50"}, "allocation": {"percent": 100, "max": null, "buffer": 1}, "pushQuantity": 9}),
        "10 available − 1: {body}"
    );
    let body = app
        .gql(t, upd, json!({"i": {"id": listing, "status": "PAUSED"}}))
        .await;
    assert_eq!(
        body["data"]["updateListing"]["listing"]["pushQuantity"], 0,
        "{body}"
    );
    assert_eq!(
        body["data"]["updateListing"]["listing"]["price"]["amount"],
        "18.50"
    );
    // A status that is not one of the enum's values is refused before anything runs.
    let body = app
        .gql(t, upd, json!({"i": {"id": listing, "status": "LIVE"}}))
        .await;
    assert!(body["data"].is_null(), "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .is_some_and(|m| m.contains("LIVE")),
        "{body}"
    );
    for (input, code) in [
        (
            json!({"id": listing, "allocation": {"percent": 100, "buffer": -1}}),
            "VALIDATION_FAILED",
        ),
        (
            json!({"id": listing, "price": {"amount": "1.005", "currencyCode": "MYR"}}),
            "VALIDATION_FAILED",
        ),
        (json!({"id": store, "status": "ACTIVE"}), "NOT_FOUND"),
    ] {
        let body = app.gql(t, upd, json!({"i": input})).await;
        assert_eq!(
            body["data"]["updateListing"]["userErrors"][0]["code"], code,
            "{input}: {body}"
        );
    }
    // Another tenant cannot list on this store, change its listings or read them.
    let other = shop(&app, "listing-b").await;
    let body = app
        .gql(
            Some(&other.s.token),
            upd,
            json!({"i": {"id": listing, "status": "ACTIVE"}}),
        )
        .await;
    assert_eq!(
        body["data"]["updateListing"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    let ov = product(&app, &other, &["O-1"]).await.remove(0);
    let body = app
        .gql(
            Some(&other.s.token),
            q,
            json!({"i": {"storeId": store, "variantId": ov}}),
        )
        .await;
    assert_eq!(
        body["data"]["createListing"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    let body = app
        .gql(
            Some(&other.s.token),
            "query($s: ID!) { listings(storeId: $s) { nodes { pushQuantity } } }",
            json!({"s": store}),
        )
        .await;
    assert_eq!(body["data"]["listings"]["nodes"], json!([]));
}

#[tokio::test]
async fn costs_keep_their_history_with_source() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "cost").await;
    let v = product(&app, &sh, &["COST-1"]).await.remove(0);
    let q = "mutation($i: SetVariantCostInput!) { setVariantCost(input: $i) { variant { costs { cost { amount currencyCode } source note } } userErrors { field code } } }";
    let t = Some(sh.s.token.as_str());
    app.gql(t, q, json!({"i": {"variantId": v, "cost": {"amount": "4.1", "currencyCode": "KWD"}, "note": "supplier A"}})).await;
    let body = app.gql(t, q, json!({"i": {"variantId": v, "cost": {"amount": "3.955", "currencyCode": "KWD"}, "note": "supplier B"}})).await;
    assert_eq!(
        body["data"]["setVariantCost"]["variant"]["costs"],
        json!([{"cost": {"amount": "3.955", "currencyCode": "KWD"}, "source": "MANUAL", "note": "supplier B"},
               {"cost": {"amount": "4.100", "currencyCode": "KWD"}, "source": "MANUAL", "note": "supplier A"}]),
        "{body}"
    );
    let body = app
        .gql(
            t,
            q,
            json!({"i": {"variantId": v, "cost": {"amount": "3.9551", "currencyCode": "KWD"}}}),
        )
        .await;
    assert_eq!(
        body["data"]["setVariantCost"]["userErrors"][0]["code"],
        "VALIDATION_FAILED"
    );
    let other = shop(&app, "cost-b").await;
    let body = app
        .gql(
            Some(&other.s.token),
            q,
            json!({"i": {"variantId": v, "cost": {"amount": "1", "currencyCode": "USD"}}}),
        )
        .await;
    assert_eq!(
        body["data"]["setVariantCost"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT count(*)::text FROM variant_costs").await,
        ["2"]
    );
}

#[tokio::test]
async fn the_worker_sweep_releases_lapsed_reservations_and_keeps_the_rest() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "sweep").await;
    let vs = product(&app, &sh, &["SW-1", "SW-2"]).await;
    receive(&app, &sh, &vs[0], 10).await;
    receive(&app, &sh, &vs[1], 10).await;
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for (v, qty, expires, r) in [
        (&vs[0], 3, Some(soon.as_str()), "cart-1"),
        (&vs[0], 2, None, "order-1"),
        (&vs[1], 4, Some(later.as_str()), "promo-1"),
    ] {
        reserve(&app, &sh, v, qty, r, expires).await;
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while level(&app, &sh, &vs[0]).await["reserved"] != 2 {
        assert!(
            std::time::Instant::now() < deadline,
            "the lapsed reservation was not released"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT reference_id || ' ' || status FROM reservations ORDER BY reference_id"
        )
        .await,
        ["cart-1 EXPIRED", "order-1 ACTIVE", "promo-1 ACTIVE"]
    );
    assert_eq!(level(&app, &sh, &vs[1]).await["reserved"], 4);
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT kind || ' ' || reserved_delta || ' ' || reason FROM stock_movements WHERE document_id = (SELECT id::text FROM reservations WHERE reference_id = 'cart-1') ORDER BY created_at, id").await,
        ["RESERVE 3 CART cart-1", "RELEASE -3 reservation expired"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
    // The organization is scheduled again for its next expiry (the promotion's).
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let score: Option<i64> = redis::cmd("ZSCORE")
        .arg(app.state.keys.reservations_due())
        .arg(&sh.org)
        .query_async(&mut conn)
        .await
        .unwrap();
    let expected = chrono::DateTime::parse_from_rfc3339(&later)
        .unwrap()
        .timestamp_millis();
    assert!(
        score.is_some_and(|s| (s - expected).abs() < 1000),
        "{score:?} vs {expected}"
    );
}

/// A bundle variant of `components` (variant id, quantity per bundle) in a product of its own.
async fn bundle_of(app: &TestApp, sh: &Shop, sku: &str, components: Value) -> String {
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { code } } }",
            json!({"i": {"name": format!("{sku} product"), "variants": [{"sku": format!("{sku}-PLACEHOLDER")}]}}),
        )
        .await;
    let pid = body["data"]["createProduct"]["product"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { variant { id } userErrors { code message } } }",
            json!({"i": {"productId": pid, "variant": {"sku": sku}, "components": components}}),
        )
        .await;
    body["data"]["createBundle"]["variant"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned()
}

/// One group commit, as concurrent `reserveStock` requests of one caller are written: each
/// reservation is decided alone, in arrival order, against the level as the ones before it left
/// it; each admitted one has its own row and ledger row; refusals change nothing; another
/// organization's location or variant is not found (RLS); a bundle is handed back to be reserved
/// on its own. Driven through the domain function with a fixed group, so the grouping itself does
/// not depend on timing.
#[tokio::test]
async fn a_reservation_group_decides_each_reservation_alone_in_arrival_order() {
    use mercato::domain::inventory::{Grouped, Reserve};
    use mercato::ids::{LocationId, VariantId};
    let app = TestApp::spawn().await;
    let sh = shop(&app, "group").await;
    let other = shop(&app, "group-other").await;
    let vs = product(&app, &sh, &["G-A", "G-B"]).await;
    let (a, b) = (vs[0].clone(), vs[1].clone());
    receive(&app, &sh, &a, 5).await;
    receive(&app, &sh, &b, 2).await;
    let set = bundle_of(&app, &sh, "G-SET", json!([{"variantId": a, "quantity": 1}])).await;
    let foreign = product(&app, &other, &["F-1"]).await.remove(0);
    receive(&app, &other, &foreign, 9).await;
    let uuid = |g: &str| gid_uuid(g).parse::<uuid::Uuid>().unwrap();
    let input = |v: &str, l: &str, q: i64, r: &str| Reserve {
        variant_id: VariantId(uuid(v)),
        location_id: LocationId(uuid(l)),
        quantity: q,
        reference_type: "CART".into(),
        reference_id: r.into(),
        expires_at: None,
        idempotency_key: None,
    };
    let (own, theirs) = (sh.location.as_str(), other.location.as_str());
    let inputs = vec![
        input(&a, own, 3, "c0"),
        input(&a, own, 3, "c1"), // 2 left: refused
        input(&b, own, 2, "c2"),
        input(&a, own, 2, "c3"), // fits what c1 could not
        input(&a, own, 0, "c4"),
        input(&foreign, theirs, 1, "c5"),
        input(&a, theirs, 1, "c6"),
        input(&foreign, own, 1, "c7"),
        input(&set, own, 1, "c8"),
    ];
    let outcomes = run_group(&app, &sh, &inputs).await;
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Grouped::Done(Ok(r), _) => format!("OK {}", r.quantity),
            Grouped::Done(Err(e), _) => format!("{} {}", e.code(), e.public_message()),
            Grouped::Alone => "ALONE".into(),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "OK 3",
            "INSUFFICIENT_STOCK only 2 available of 3 requested",
            "OK 2",
            "OK 2",
            "VALIDATION_FAILED must be between 1 and 1000000",
            "NOT_FOUND Location not found",
            "NOT_FOUND Location not found",
            "NOT_FOUND Variant not found",
            "ALONE",
        ],
        "{summary:?}"
    );
    // Each admitted reservation has its own row and its own ledger row, with the level's values
    // after it, in arrival order.
    let ledger = owner_rows(
        &app,
        &sh.org,
        "SELECT v.sku || ' ' || m.reserved_delta || ' ' || m.reserved_after || ' ' || m.on_hand_after || ' ' || m.reason \
         FROM stock_movements m JOIN variants v ON v.id = m.variant_id \
         WHERE m.kind = 'RESERVE' ORDER BY m.id",
    )
    .await;
    assert_eq!(
        ledger,
        [
            "G-A 3 3 5 CART c0",
            "G-B 2 2 2 CART c2",
            "G-A 2 5 5 CART c3"
        ]
    );
    let rows = owner_rows(
        &app,
        &sh.org,
        "SELECT reference_id || ' ' || quantity || ' ' || status FROM reservations ORDER BY id",
    )
    .await;
    assert_eq!(rows, ["c0 3 ACTIVE", "c2 2 ACTIVE", "c3 2 ACTIVE"]);
    assert_eq!(
        level(&app, &sh, &a).await,
        json!({"onHand": 5, "reserved": 5, "safetyStock": 0, "available": 0})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
    // The other organization is untouched.
    assert_eq!(
        owner_rows(&app, &other.org, "SELECT count(*)::text FROM reservations").await,
        ["0"]
    );
    assert_ledger_equals_levels(&app, &other.org).await;
}

/// A reservation after another stock change of the same level in one mutation document runs in
/// the operation's own transaction (which already holds the level's lock), not in a group: it
/// must neither wait on itself nor see stale stock.
#[tokio::test]
async fn a_reservation_after_an_adjustment_in_one_mutation_sees_it_and_does_not_wait_on_it() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "same-doc").await;
    let v = product(&app, &sh, &["DOC-1"]).await.remove(0);
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($a: AdjustStockInput!, $r: ReserveStockInput!) { \
               a: adjustStock(input: $a) { stockLevel { onHand } userErrors { code } } \
               r: reserveStock(input: $r) { reservation { status } userErrors { code message } } }",
            json!({
                "a": {"variantId": v, "locationId": sh.location, "kind": "RECEIVE", "quantity": 4, "reason": "delivery"},
                "r": {"variantId": v, "locationId": sh.location, "quantity": 4, "referenceType": "CART", "referenceId": "doc"}
            }),
        )
        .await;
    assert_eq!(body["data"]["a"]["stockLevel"]["onHand"], 4, "{body}");
    assert_eq!(
        body["data"]["r"]["reservation"]["status"], "ACTIVE",
        "{body}"
    );
    assert_eq!(
        level(&app, &sh, &v).await,
        json!({"onHand": 4, "reserved": 4, "safetyStock": 0, "available": 0})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

/// A reservation handed to a group commit is written by a transaction of its own: when its
/// request times out meanwhile (here: the level is locked elsewhere), the answer says the
/// reservation may still be made instead of claiming everything was rolled back — and once the
/// lock goes, it is made, whole, with its ledger row.
#[tokio::test]
async fn a_timed_out_grouped_reservation_is_reported_as_possibly_made_and_is_made_whole() {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.limits.request_timeout = std::time::Duration::from_secs(1);
    let app = TestApp::spawn_with(config, db.clone()).await;
    let sh = shop(&app, "timeout").await;
    let v = product(&app, &sh, &["SLOW-1"]).await.remove(0);
    receive(&app, &sh, &v, 5).await;
    // Another transaction holds the level's row lock.
    let owner = connect(&owner_url(&db), 1).await;
    let holder = owner.begin().await.unwrap();
    holder
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config('app.org_id', $1, true), set_config('app.branch_ids', '*', true)",
            [sh.org.clone().into()],
        ))
        .await
        .unwrap();
    let locked = holder
        .execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 FROM inventory_levels WHERE variant_id = $1 FOR UPDATE",
            [gid_uuid(&v).parse::<uuid::Uuid>().unwrap().into()],
        ))
        .await
        .unwrap();
    assert_eq!(locked.rows_affected(), 1);
    let (status, body) = app
        .post(
            Some(&sh.s.token),
            json!({"query": RESERVE, "variables": {"i": {"variantId": v, "locationId": sh.location, "quantity": 2, "referenceType": "CART", "referenceId": "slow-cart"}}}),
        )
        .await;
    assert_eq!(status, 408, "{body}");
    assert_eq!(first_error_code(&body), "REQUEST_TIMEOUT", "{body}");
    let message = body["errors"][0]["message"].as_str().unwrap();
    assert!(message.contains("may have been made"), "{message}");
    holder.rollback().await.unwrap();
    // The group goes on once the lock is released: the reservation is made, with its ledger row.
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let rows = owner_rows(
            &app,
            &sh.org,
            "SELECT reference_id || ' ' || quantity FROM reservations",
        )
        .await;
        if !rows.is_empty() {
            assert_eq!(rows, ["slow-cart 2"]);
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "the grouped reservation never landed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert_eq!(
        level(&app, &sh, &v).await,
        json!({"onHand": 5, "reserved": 2, "safetyStock": 0, "available": 3})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

/// `reserveStock` with an idempotency key reserves once, however many times and however
/// concurrently it is sent (through group commits or not): every answer names the same
/// reservation; the same key for another request is a CONFLICT; a refusal is not recorded, so
/// the key can be retried once stock arrives.
#[tokio::test]
async fn a_keyed_reservation_is_made_once_however_often_and_concurrently_it_is_sent() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "keyed").await;
    let v = product(&app, &sh, &["KEY-1"]).await.remove(0);
    receive(&app, &sh, &v, 10).await;
    let body = |key: &str, qty: i64| {
        json!({"query": RESERVE, "variables": {"i": {"variantId": v, "locationId": sh.location, "quantity": qty,
            "referenceType": "CART", "referenceId": "cart-7", "idempotencyKey": key}}})
    };
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let (client, url, token, b) = (
            reqwest::Client::new(),
            format!("{}/graphql", app.base),
            sh.s.token.clone(),
            body("checkout-7", 2),
        );
        tasks.push(tokio::spawn(async move {
            let r: Value = client
                .post(url)
                .bearer_auth(token)
                .json(&b)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            r
        }));
    }
    let mut ids = std::collections::BTreeSet::new();
    for t in tasks {
        let r = t.await.unwrap();
        let id = r["data"]["reserveStock"]["reservation"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{r}"))
            .to_owned();
        ids.insert(id);
    }
    assert_eq!(ids.len(), 1, "{ids:?}");
    let (_, again) = app.post(Some(&sh.s.token), body("checkout-7", 2)).await;
    assert_eq!(
        again["data"]["reserveStock"]["reservation"]["id"].as_str(),
        ids.first().map(String::as_str),
        "{again}"
    );
    assert_eq!(
        level(&app, &sh, &v).await,
        json!({"onHand": 10, "reserved": 2, "safetyStock": 0, "available": 8})
    );
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT count(*)::text FROM reservations").await,
        ["1"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
    // The same key for another request.
    let (_, other) = app.post(Some(&sh.s.token), body("checkout-7", 3)).await;
    assert_eq!(
        other["data"]["reserveStock"]["userErrors"][0]["code"], "CONFLICT",
        "{other}"
    );
    // A refusal is not recorded: the key works once there is stock.
    let (_, short) = app.post(Some(&sh.s.token), body("checkout-8", 9)).await;
    assert_eq!(
        short["data"]["reserveStock"]["userErrors"][0]["code"], "INSUFFICIENT_STOCK",
        "{short}"
    );
    receive(&app, &sh, &v, 1).await;
    let (_, later) = app.post(Some(&sh.s.token), body("checkout-8", 9)).await;
    assert_eq!(
        later["data"]["reserveStock"]["reservation"]["status"], "ACTIVE",
        "{later}"
    );
    assert_eq!(
        level(&app, &sh, &v).await,
        json!({"onHand": 11, "reserved": 11, "safetyStock": 0, "available": 0})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

/// In a group, keys are claimed before anything is locked: admitted reservations record their
/// result under them, refused ones leave their claim without a result (a retry runs again); a
/// key repeated in the group or already used is left to the request's own transaction
/// (`ALONE`), which returns the first result.
#[tokio::test]
async fn a_reservation_group_records_results_under_keys_and_leaves_repeats_alone() {
    use mercato::domain::inventory::{Grouped, Reserve};
    use mercato::ids::{LocationId, VariantId};
    let app = TestApp::spawn().await;
    let sh = shop(&app, "group-keys").await;
    let a = product(&app, &sh, &["GK-A"]).await.remove(0);
    receive(&app, &sh, &a, 5).await;
    let (_, first) = app
        .post(
            Some(&sh.s.token),
            json!({"query": RESERVE, "variables": {"i": {"variantId": a, "locationId": sh.location, "quantity": 1,
                "referenceType": "CART", "referenceId": "k0", "idempotencyKey": "k0"}}}),
        )
        .await;
    assert_eq!(
        first["data"]["reserveStock"]["reservation"]["status"], "ACTIVE",
        "{first}"
    );
    let uuid = |g: &str| gid_uuid(g).parse::<uuid::Uuid>().unwrap();
    let input = |q: i64, r: &str, key: Option<&str>| Reserve {
        variant_id: VariantId(uuid(&a)),
        location_id: LocationId(uuid(&sh.location)),
        quantity: q,
        reference_type: "CART".into(),
        reference_id: r.into(),
        expires_at: None,
        idempotency_key: key.map(str::to_owned),
    };
    let inputs = vec![
        input(1, "k1", Some("k1")),
        input(1, "k1", Some("k1")),
        input(100, "k2", Some("k2")),
        input(1, "k0", Some("k0")),
        input(1, "plain", None),
    ];
    let outcomes = run_group(&app, &sh, &inputs).await;
    let mut first_id = String::new();
    let summary: Vec<String> = outcomes
        .iter()
        .map(|o| match o {
            Grouped::Done(Ok(r), _) => {
                if first_id.is_empty() {
                    first_id = r.id.0.to_string();
                }
                format!("OK {}", r.quantity)
            }
            Grouped::Done(Err(e), _) => e.code().to_owned(),
            Grouped::Alone => "ALONE".into(),
        })
        .collect();
    assert_eq!(
        summary,
        ["OK 1", "ALONE", "INSUFFICIENT_STOCK", "ALONE", "OK 1"]
    );
    let keys = owner_rows(
        &app,
        &sh.org,
        "SELECT idempotency_key || ' ' || COALESCE(response->>'id', 'no result') FROM stock_requests ORDER BY idempotency_key",
    )
    .await;
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert!(
        keys[0].starts_with("k0 ") && keys[0] != "k0 no result",
        "{keys:?}"
    );
    assert_eq!(keys[1], format!("k1 {first_id}"));
    // The refused one's claim holds no result: a retry under it runs again.
    assert_eq!(keys[2], "k2 no result");
    assert_eq!(
        level(&app, &sh, &a).await,
        json!({"onHand": 5, "reserved": 3, "safetyStock": 0, "available": 2})
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

/// Writes `inputs` as one reservation group of the shop owner, in a tenant transaction of its
/// own as the runtime role, and commits it.
async fn run_group(
    app: &TestApp,
    sh: &Shop,
    inputs: &[mercato::domain::inventory::Reserve],
) -> Vec<mercato::domain::inventory::Grouped> {
    use mercato::auth::Principal;
    use mercato::ids::{OrgId, UserId};
    use mercato::tenant::{Outcome, TenantTx};
    let principal = Principal::User {
        user_id: UserId(gid_uuid(&sh.s.user_id).parse().unwrap()),
        org_id: Some(OrgId(sh.org.parse().unwrap())),
    };
    let tx = TenantTx::new(app.state.db.clone(), Some(principal), false);
    let outcomes = {
        let guard = tx.lock().await.unwrap();
        mercato::domain::inventory::reserve_group(&guard, &guard.access, inputs)
            .await
            .unwrap()
    };
    tx.finish(Outcome::Commit).await.unwrap();
    outcomes
}
