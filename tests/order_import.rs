//! Kilimall (file-only) orders: `importMarketplaceOrders` checks the store and the file as a whole
//! (nothing queued when they are wrong), then a job reads the export with the store's mapping:
//! good orders come in through the same state machine and stock rules as synced ones, each bad
//! row is a FAILED item with its line and reason and its whole order is left out, and importing
//! the same file again changes nothing.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::{level, product, receive, shop};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const IMPORT: &str = "mutation($i: ImportMarketplaceOrdersInput!) { importMarketplaceOrders(input: $i) { job { id } userErrors { field code message } } }";

const FILE: &str = "Order No,Order Status,Order Time,Seller SKU,Product Name,Quantity,Unit Price,Shipping Fee,Customer Name,City
K-1,Paid,2026-11-20 10:00:00,KM-TEE,Tee,2,500.00,100.00,Wanjiru,Nairobi
K-1,Paid,2026-11-20 10:00:00,KM-CAP,Cap,1,300.00,100.00,Wanjiru,Nairobi
K-2,Shipped,2026-11-21 09:00:00,KM-TEE,Tee,1,500.00,0,Otieno,Mombasa
K-3,Paid,2026-11-22 08:00:00,KM-TEE,Tee,abc,500.00,0,Achieng,Kisumu
K-3,Paid,2026-11-22 08:00:00,KM-CAP,Cap,1,300.00,0,Achieng,Kisumu
K-4,Cancelled,not a date,KM-TEE,Tee,1,500.00,0,Kamau,Nakuru
";

async fn import(app: &TestApp, token: &str, store: &str, file: &str, key: &str) -> Value {
    let (_, body) = app
        .upload(
            Some(token),
            IMPORT,
            json!({ "i": { "storeId": store, "file": null, "idempotencyKey": key } }),
            "variables.i.file",
            file.as_bytes(),
        )
        .await;
    body["data"]["importMarketplaceOrders"].clone()
}

async fn done(app: &TestApp, org: &str, job: &str) -> String {
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let r = owner_rows(
            app,
            org,
            &format!(
                "SELECT j.status || ' ' || r.fetched || ' ' || r.created || ' ' || r.updated || ' ' || r.skipped || ' ' || r.failed \
                 FROM jobs j JOIN sync_runs r ON r.job_id = j.id WHERE j.id = '{}'",
                gid_uuid(job)
            ),
        )
        .await;
        if let Some(row) = r.first()
            && !row.starts_with("QUEUED")
            && !row.starts_with("RUNNING")
        {
            return row.clone();
        }
        assert!(tokio::time::Instant::now() < end, "{r:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_kilimall_export_imports_good_orders_and_reports_bad_rows_by_line() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "kimport").await;
    let skus = product(&app, &sh, &["KM-TEE", "KM-CAP"]).await;
    receive(&app, &sh, &skus[0], 10).await;
    receive(&app, &sh, &skus[1], 10).await;
    let store = app.connect_store(&sh.s, &sh.branch, "kili", None).await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));

    let p = import(&app, &sh.s.token, &store, FILE, "k-1").await;
    let job = p["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{p}"))
        .to_owned();
    // 2 orders in, 2 rows refused (each leaving its whole order out).
    assert_eq!(done(&app, &sh.org, &job).await, "SUCCEEDED 2 2 0 0 2");
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT external_id || ' ' || status || ' ' || total_minor || ' ' || currency || ' ' || (SELECT count(*) FROM order_items i WHERE i.order_id = o.id) FROM orders o ORDER BY external_id").await,
        ["K-1 AWAITING_FULFILLMENT 140000 KES 2", "K-2 SHIPPED 50000 KES 1"]
    );
    let failed = owner_rows(
        &app,
        &sh.org,
        "SELECT external_key || ': ' || message FROM sync_items WHERE action = 'FAILED' ORDER BY external_key",
    )
    .await;
    assert_eq!(failed.len(), 2, "{failed:?}");
    assert!(failed[0].starts_with("line 5: "), "{failed:?}");
    assert!(failed[1].starts_with("line 7: "), "{failed:?}");
    // The paid order holds its stock; the one first seen shipped is history.
    assert_eq!(level(&app, &sh, &skus[0]).await["reserved"], 2);
    assert_eq!(level(&app, &sh, &skus[1]).await["reserved"], 1);
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT DISTINCT source FROM order_events").await,
        ["IMPORT"]
    );

    // The same file again: nothing changes, no stock moves twice.
    let movements = "SELECT count(*)::text FROM stock_movements";
    let before = owner_rows(&app, &sh.org, movements).await;
    let p = import(&app, &sh.s.token, &store, FILE, "k-2").await;
    let job = p["job"]["id"].as_str().unwrap().to_owned();
    assert_eq!(done(&app, &sh.org, &job).await, "SUCCEEDED 2 0 0 2 2");
    assert_eq!(owner_rows(&app, &sh.org, movements).await, before);
    mercato_tests::stock::assert_ledger_equals_levels(&app, &sh.org).await;

    // Wrong files and wrong stores are refused whole, and queue nothing.
    let jobs = "SELECT count(*)::text FROM jobs WHERE kind = 'ORDER_IMPORT'";
    let queued = owner_rows(&app, &sh.org, jobs).await;
    for (file, field) in [
        ("Order No,Quantity\nK-9,1\n", "file"),
        ("", "file"),
        (
            "Order No,Order Status,Order Time,Seller SKU,Quantity,Unit Price\n",
            "file",
        ),
    ] {
        let p = import(&app, &sh.s.token, &store, file, "bad").await;
        assert!(p["job"].is_null(), "{p}");
        assert_eq!(p["userErrors"][0]["code"], "VALIDATION_FAILED", "{p}");
        assert_eq!(p["userErrors"][0]["field"], json!(["input", field]), "{p}");
    }
    let api_store = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { code message } } }",
            json!({ "i": { "branchId": sh.branch, "platform": "SHOPEE", "externalShopId": "sp-1", "name": "Shopee",
                           "region": "MY", "currency": "MYR" } }),
        )
        .await;
    let api_store = api_store["data"]["connectStore"]["store"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{api_store}"))
        .to_owned();
    let p = import(&app, &sh.s.token, &api_store, FILE, "api").await;
    assert_eq!(
        p["userErrors"][0]["field"],
        json!(["input", "storeId"]),
        "{p}"
    );
    let other = shop(&app, "kimport-other").await;
    let p = import(&app, &other.s.token, &store, FILE, "other").await;
    assert!(p["job"].is_null(), "{p}");
    assert_eq!(p["userErrors"][0]["code"], "NOT_FOUND", "{p}");
    assert_eq!(owner_rows(&app, &sh.org, jobs).await, queued);
    let _ = stop.send(());
    let _ = worker.await;
}
