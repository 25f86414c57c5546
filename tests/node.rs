//! `node(id:)` resolves every type with a global id, for its tenant only: another organization's
//! id, a wrong type and garbage all answer the same `null`.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::{product, receive, reserve, shop};
use mercato_tests::*;
use serde_json::{Value, json};

const NODE: &str = "query($id: ID!) { node(id: $id) { __typename id } }";

async fn node(app: &TestApp, token: &str, id: &str) -> Value {
    let body = app.gql(Some(token), NODE, json!({ "id": id })).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["node"].clone()
}

fn text(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("not a string: {v}"))
        .to_owned()
}

#[tokio::test]
async fn every_global_id_resolves_through_node_and_only_for_its_tenant() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "node-a").await;
    let b = shop(&app, "node-b").await;
    let t = a.s.token.as_str();
    let variant = product(&app, &a, &["NODE-1"]).await.remove(0);
    receive(&app, &a, &variant, 5).await;
    let reservation = reserve(&app, &a, &variant, 1, "cart-1", None).await;
    let store = app.connect_store(&a.s, &a.branch, "node-shop", None).await;
    let body = app
        .gql(
            Some(t),
            "{ products(first: 1) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    let product_id = text(&body["data"]["products"]["edges"][0]["node"]["id"]);
    let body = app
        .gql(
            Some(t),
            "mutation($i: CreateListingInput!) { createListing(input: $i) { listing { id } userErrors { code } } }",
            json!({"i": {"storeId": store, "variantId": variant, "externalItemId": "1"}}),
        )
        .await;
    let listing = text(&body["data"]["createListing"]["listing"]["id"]);
    let body = app
        .gql(
            Some(t),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } syncRun { id } userErrors { code } } }",
            json!({"i": {"storeId": store, "kind": "ORDERS"}}),
        )
        .await;
    let job = text(&body["data"]["startSync"]["job"]["id"]);
    let run = text(&body["data"]["startSync"]["syncRun"]["id"]);
    let body = app
        .gql(
            Some(t),
            "query($s: ID!) { syncSchedules(storeId: $s) { nodes { id } } }",
            json!({"s": store}),
        )
        .await;
    let schedule = text(&body["data"]["syncSchedules"]["nodes"][0]["id"]);
    let (token_id, _) = app
        .create_api_token(&a.s, "node", &["CATALOG_READ"], None)
        .await;
    // A run's item and log line (written as a worker would), and a low-stock alert.
    let (item, log) = (uuid::Uuid::now_v7(), uuid::Uuid::now_v7());
    let (org, run_uuid, branch) = (&a.org, gid_uuid(&run), gid_uuid(&a.branch));
    owner_exec(
        &app,
        org,
        &format!(
            "INSERT INTO sync_items (org_id, id, run_id, branch_id, entity, external_key, action, message) \
             VALUES ('{org}', '{item}', '{run_uuid}', '{branch}', 'CATALOG_ROW', 'row 2', 'FAILED', 'bad price')"
        ),
    )
    .await;
    owner_exec(
        &app,
        org,
        &format!(
            "INSERT INTO sync_logs (org_id, id, run_id, branch_id, attempt, level, message) \
             VALUES ('{org}', '{log}', '{run_uuid}', '{branch}', 1, 'INFO', 'started')"
        ),
    )
    .await;
    let body = app
        .gql(
            Some(t),
            "mutation($i: SetStockThresholdsInput!) { setStockThresholds(input: $i) { userErrors { code } } }",
            json!({"i": {"variantId": variant, "locationId": a.location, "reorderPoint": 10}}),
        )
        .await;
    assert_eq!(
        body["data"]["setStockThresholds"]["userErrors"],
        json!([]),
        "{body}"
    );
    // The next change at or below the reorder point opens the alert.
    let body = app
        .gql(
            Some(t),
            mercato_tests::stock::ADJUST,
            json!({"i": {"variantId": variant, "locationId": a.location, "kind": "ADJUST", "quantity": -1, "reason": "r"}}),
        )
        .await;
    assert_eq!(
        body["data"]["adjustStock"]["userErrors"],
        json!([]),
        "{body}"
    );
    let alert = owner_rows(&app, &a.org, "SELECT id::text FROM stock_alerts").await;
    assert_eq!(alert.len(), 1, "an alert opened: {alert:?}");

    let ids = [
        ("Organization", a.s.org_id.clone().unwrap()),
        ("Branch", a.branch.clone()),
        ("Store", store.clone()),
        ("User", a.s.user_id.clone()),
        ("ApiToken", token_id),
        ("Product", product_id),
        ("Variant", variant.clone()),
        ("Location", a.location.clone()),
        ("Reservation", reservation),
        ("Listing", listing),
        ("Job", job),
        ("SyncRun", run),
        ("SyncSchedule", schedule),
        ("SyncItem", gid("SyncItem", &item.to_string())),
        ("SyncLog", gid("SyncLog", &log.to_string())),
        ("InventoryAlert", gid("InventoryAlert", &alert[0])),
    ];
    for (type_name, id) in &ids {
        let found = node(&app, t, id).await;
        assert_eq!(found["__typename"], *type_name, "{id}: {found}");
        assert_eq!(found["id"], *id.as_str());
        // Another organization's owner gets exactly what a missing id gives.
        let other = node(&app, &b.s.token, id).await;
        assert!(other.is_null(), "{type_name} crossed tenants: {other}");
    }
    // A wrong type name in an otherwise valid id, and garbage, are null too.
    let forged = gid("Product", &gid_uuid(&variant));
    assert!(node(&app, t, &forged).await.is_null());
    assert!(node(&app, t, "not-an-id").await.is_null());
}
