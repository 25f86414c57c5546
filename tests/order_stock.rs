//! Stock that follows orders: a paid order allocates (an ORDER_LINE reservation), shipping commits
//! it (SHIP), a cancellation before shipping releases it, a received return restocks (RETURN) —
//! each once per line, even when the same version arrives three times and an attempt is rolled
//! back and retried; bundles through their components; history (orders first seen shipped) moves
//! nothing; a line without stock is SHORT; an unlinked line is linked when its SKU appears. The
//! ledger equals the levels after every step. Orders are applied through the domain as the
//! runtime role, in tenant transactions like the sync's.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::status::OrderStatus as Normalized;
use connectors::{Buyer, Money, Order, OrderLine};
use mercato::domain::orders::OrderStore;
use mercato::ids::{BranchId, StoreId};
use mercato_tests::stock::{Shop, assert_ledger_equals_levels, level, product, receive, shop};
use mercato_tests::*;
use serde_json::json;

fn myr(minor: i64) -> Money {
    Money {
        minor,
        currency: *b"MYR",
    }
}

fn order(id: &str, status: Normalized, updated: i64, lines: &[(&str, u32)]) -> Order {
    Order {
        external_id: id.into(),
        status,
        raw_status: format!("{status:?}"),
        buyer: Buyer::default(),
        total: myr(10_000),
        shipping_fee: None,
        lines: lines
            .iter()
            .enumerate()
            .map(|(i, (sku, q))| OrderLine {
                external_item_id: format!("item-{i}"),
                external_sku_id: format!("sku-{i}"),
                seller_sku: Some((*sku).into()),
                name: (*sku).into(),
                quantity: *q,
                unit_price: myr(1_000),
                external_line_ids: vec![],
            })
            .collect(),
        create_time: 1_700_000_000,
        update_time: updated,
        ship_by: None,
        terms: connectors::OrderTerms::default(),
    }
}

/// Applies `o` in one tenant transaction, committed or (a failed attempt) rolled back.
async fn apply_as(app: &TestApp, sh: &Shop, store: OrderStore, o: &Order, commit: bool) {
    mercato_tests::orders::apply_as(app, &sh.org, store, o, commit).await;
}

/// Three deliveries of the same version, one of them in an attempt that is rolled back.
async fn deliver(app: &TestApp, sh: &Shop, store: OrderStore, o: &Order) {
    apply_as(app, sh, store, o, false).await;
    apply_as(app, sh, store, o, true).await;
    apply_as(app, sh, store, o, true).await;
    apply_as(app, sh, store, o, true).await;
}

async fn setup(app: &TestApp, tag: &str) -> (Shop, OrderStore) {
    let sh = shop(app, tag).await;
    let store_gid = app.connect_store(&sh.s, &sh.branch, tag, None).await;
    let store = OrderStore {
        id: StoreId(gid_uuid(&store_gid).parse().unwrap()),
        branch: BranchId(gid_uuid(&sh.branch).parse().unwrap()),
    };
    (sh, store)
}

fn stock(v: &serde_json::Value) -> (i64, i64) {
    (
        v["onHand"].as_i64().unwrap(),
        v["reserved"].as_i64().unwrap(),
    )
}

async fn line_states(app: &TestApp, sh: &Shop, order: &str) -> Vec<String> {
    owner_rows(
        app,
        &sh.org,
        &format!(
            "SELECT i.stock FROM order_items i JOIN orders o ON o.id = i.order_id \
             WHERE o.external_id = '{order}' ORDER BY i.line_no"
        ),
    )
    .await
}

#[tokio::test]
async fn stock_is_allocated_shipped_released_and_restocked_once_per_line() {
    let app = TestApp::spawn().await;
    let (sh, store) = setup(&app, "ostock").await;
    let v = product(&app, &sh, &["OS-TEE"]).await.remove(0);
    receive(&app, &sh, &v, 10).await;

    // Paid: 3 units held.
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::AwaitingFulfillment, 100, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 3));
    assert_eq!(line_states(&app, &sh, "A").await, ["ALLOCATED"]);
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT reference_type || ' ' || quantity || ' ' || status FROM reservations"
        )
        .await,
        ["ORDER_LINE 3 ACTIVE"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;

    // Ready to ship: still held, nothing moves.
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::ReadyToShip, 150, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 3));

    // Shipped: committed once (on hand and reserved both down).
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::Shipped, 200, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (7, 0));
    assert_eq!(line_states(&app, &sh, "A").await, ["SHIPPED"]);
    assert_ledger_equals_levels(&app, &sh.org).await;

    // Delivered, then returned: back on hand once.
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::Delivered, 300, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (7, 0));
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::Returned, 400, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 0));
    assert_eq!(line_states(&app, &sh, "A").await, ["RETURNED"]);
    assert_ledger_equals_levels(&app, &sh.org).await;
    // A late, older version changes nothing.
    deliver(
        &app,
        &sh,
        store,
        &order("A", Normalized::Shipped, 250, &[("os-tee", 3)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 0));

    // Paid then cancelled before shipping: held, then released.
    deliver(
        &app,
        &sh,
        store,
        &order("B", Normalized::AwaitingFulfillment, 100, &[("OS-TEE", 4)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 4));
    deliver(
        &app,
        &sh,
        store,
        &order("B", Normalized::Cancelled, 200, &[("OS-TEE", 4)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 0));
    assert_eq!(line_states(&app, &sh, "B").await, ["RELEASED"]);

    // History: an order first seen completed moves nothing.
    deliver(
        &app,
        &sh,
        store,
        &order("C", Normalized::Completed, 100, &[("OS-TEE", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 0));
    assert_eq!(line_states(&app, &sh, "C").await, ["NONE"]);

    // Unpaid holds already (the marketplace took the unit off the listing at checkout); paid
    // later keeps the same hold.
    deliver(
        &app,
        &sh,
        store,
        &order("D", Normalized::PendingPayment, 100, &[("OS-TEE", 1)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1));
    assert_eq!(line_states(&app, &sh, "D").await, ["ALLOCATED"]);
    deliver(
        &app,
        &sh,
        store,
        &order("D", Normalized::AwaitingFulfillment, 200, &[("OS-TEE", 1)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1));
    // An unpaid order that expires arrives cancelled and gives its units back.
    deliver(
        &app,
        &sh,
        store,
        &order("U", Normalized::PendingPayment, 100, &[("OS-TEE", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 3));
    deliver(
        &app,
        &sh,
        store,
        &order("U", Normalized::Cancelled, 200, &[("OS-TEE", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1));
    assert_eq!(line_states(&app, &sh, "U").await, ["RELEASED"]);

    // More than available: SHORT, nothing held; the sale does not oversell the others.
    deliver(
        &app,
        &sh,
        store,
        &order("E", Normalized::AwaitingFulfillment, 100, &[("OS-TEE", 50)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1));
    assert_eq!(line_states(&app, &sh, "E").await, ["SHORT"]);
    // Stock arrives; the next version of the order holds it.
    receive(&app, &sh, &v, 45).await;
    deliver(
        &app,
        &sh,
        store,
        &order("E", Normalized::ReadyToShip, 200, &[("OS-TEE", 50)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (55, 51));
    assert_eq!(line_states(&app, &sh, "E").await, ["ALLOCATED"]);
    assert_ledger_equals_levels(&app, &sh.org).await;
    // Every movement of order lines is in the ledger once per transition.
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT kind || ' ' || count(*) FROM stock_movements GROUP BY kind ORDER BY kind"
        )
        .await,
        ["RECEIVE 2", "RELEASE 2", "RESERVE 5", "RETURN 1", "SHIP 1"]
    );
}

#[tokio::test]
async fn bundles_hold_their_components_and_unlinked_lines_link_when_their_sku_appears() {
    let app = TestApp::spawn().await;
    let (sh, store) = setup(&app, "obundle").await;
    let parts = product(&app, &sh, &["OB-CUP", "OB-SAUCER"]).await;
    receive(&app, &sh, &parts[0], 10).await;
    receive(&app, &sh, &parts[1], 10).await;
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { code message } } }",
            json!({"i": {"name": "Cup set", "status": "ACTIVE", "variants": [{"sku": "OB-SET-SINGLE", "prices": []}]}}),
        )
        .await;
    let set = body["data"]["createProduct"]["product"]["id"].clone();
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { variant { id } userErrors { code message } } }",
            json!({"i": {"productId": set, "variant": {"sku": "OB-SET", "prices": []}, "components": [
                {"variantId": parts[0], "quantity": 1}, {"variantId": parts[1], "quantity": 2}]}}),
        )
        .await;
    assert!(
        body["data"]["createBundle"]["variant"]["id"].is_string(),
        "{body}"
    );

    deliver(
        &app,
        &sh,
        store,
        &order("S", Normalized::AwaitingFulfillment, 100, &[("OB-SET", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &parts[0]).await), (10, 2));
    assert_eq!(stock(&level(&app, &sh, &parts[1]).await), (10, 4));
    deliver(
        &app,
        &sh,
        store,
        &order("S", Normalized::Shipped, 200, &[("OB-SET", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &parts[0]).await), (8, 0));
    assert_eq!(stock(&level(&app, &sh, &parts[1]).await), (6, 0));
    deliver(
        &app,
        &sh,
        store,
        &order("S", Normalized::Returned, 300, &[("OB-SET", 2)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &parts[0]).await), (10, 0));
    assert_eq!(stock(&level(&app, &sh, &parts[1]).await), (10, 0));
    assert_ledger_equals_levels(&app, &sh.org).await;

    // A paid line whose SKU is not in the catalog is kept, unlinked, holding nothing...
    deliver(
        &app,
        &sh,
        store,
        &order(
            "U",
            Normalized::AwaitingFulfillment,
            100,
            &[("OB-MUG", 1), ("OB-CUP", 1)],
        ),
    )
    .await;
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT coalesce(i.variant_id::text, '-') || ' ' || i.stock FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.external_id = 'U' ORDER BY line_no").await,
        ["- NONE".to_owned(), format!("{} ALLOCATED", gid_uuid(&parts[0]))]
    );
    // ...until the SKU appears: linked (and held once stock can be).
    let mug = product(&app, &sh, &["OB-MUG"]).await.remove(0);
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT coalesce(i.variant_id::text, '-') || ' ' || i.stock FROM order_items i JOIN orders o ON o.id = i.order_id WHERE o.external_id = 'U' ORDER BY line_no").await[0],
        format!("{} SHORT", gid_uuid(&mug))
    );
    receive(&app, &sh, &mug, 5).await;
    deliver(
        &app,
        &sh,
        store,
        &order(
            "U",
            Normalized::ReadyToShip,
            200,
            &[("OB-MUG", 1), ("OB-CUP", 1)],
        ),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &mug).await), (5, 1));
    assert_eq!(
        line_states(&app, &sh, "U").await,
        ["ALLOCATED", "ALLOCATED"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn orders_the_marketplace_fulfils_never_move_the_sellers_stock() {
    let app = TestApp::spawn().await;
    let (sh, store) = setup(&app, "ofbm").await;
    let v = product(&app, &sh, &["FB-TEE"]).await.remove(0);
    receive(&app, &sh, &v, 10).await;
    let by_marketplace = |status, updated| {
        let mut o = order("M", status, updated, &[("FB-TEE", 2)]);
        o.terms.fulfilment = connectors::Fulfilment::Marketplace;
        o
    };
    // The same SKU in a seller-fulfilled order is held, as a control.
    deliver(
        &app,
        &sh,
        store,
        &order("S", Normalized::AwaitingFulfillment, 100, &[("FB-TEE", 1)]),
    )
    .await;
    assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1));
    for (status, updated) in [
        (Normalized::AwaitingFulfillment, 100),
        (Normalized::Shipped, 200),
        (Normalized::Returned, 300),
    ] {
        deliver(&app, &sh, store, &by_marketplace(status, updated)).await;
        assert_eq!(stock(&level(&app, &sh, &v).await), (10, 1), "{status:?}");
        assert_eq!(line_states(&app, &sh, "M").await, ["NONE"], "{status:?}");
    }
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT fulfilled_by FROM orders WHERE external_id = 'M'"
        )
        .await,
        ["MARKETPLACE"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

const ALERTS: &str = "subscription { inventoryAlerts { kind state sellerSku variantId locationId branchId available } }";

fn unlinked_alert(msg: &serde_json::Value) -> serde_json::Value {
    assert_eq!(msg["type"], "next", "{msg}");
    msg["payload"]["data"]["inventoryAlerts"].clone()
}

#[tokio::test]
async fn a_line_selling_an_unknown_sku_opens_one_alert_until_the_sku_appears() {
    use mercato_tests::ws::{maybe_json, next_json, subscribe};
    use std::time::Duration;
    let app = TestApp::spawn().await;
    let (sh, store) = setup(&app, "ounl").await;
    let other = shop(&app, "ounl-other").await;
    let known = product(&app, &sh, &["UL-OK"]).await.remove(0);
    receive(&app, &sh, &known, 5).await;
    let mut sub = subscribe(&app, &sh.s.token, ALERTS, json!({})).await;
    let mut sub_other = subscribe(&app, &other.s.token, ALERTS, json!({})).await;
    // Two orders sell the unknown SKU (spelled differently), each delivered four times with one
    // attempt rolled back: one alert, opened once.
    deliver(
        &app,
        &sh,
        store,
        &order(
            "G1",
            Normalized::AwaitingFulfillment,
            100,
            &[("UL-OK", 1), ("UL-GHOST", 2)],
        ),
    )
    .await;
    deliver(
        &app,
        &sh,
        store,
        &order(
            "G2",
            Normalized::AwaitingFulfillment,
            100,
            &[("ul-ghost", 1)],
        ),
    )
    .await;
    assert_eq!(
        unlinked_alert(&next_json(&mut sub).await),
        json!({"kind": "UNLINKED_SKU", "state": "OPEN", "sellerSku": "UL-GHOST", "variantId": null,
               "locationId": null, "branchId": sh.branch, "available": null})
    );
    assert_eq!(maybe_json(&mut sub, Duration::from_millis(300)).await, None);
    assert_eq!(
        maybe_json(&mut sub_other, Duration::from_millis(200)).await,
        None
    );
    // A subscriber arriving now first receives it as open.
    let mut late = subscribe(&app, &sh.s.token, ALERTS, json!({})).await;
    assert_eq!(
        unlinked_alert(&next_json(&mut late).await)["sellerSku"],
        "UL-GHOST"
    );
    // The SKU appears in the catalog: the lines link (and are SHORT until stock arrives), the
    // alert resolves.
    let ghost = product(&app, &sh, &["UL-GHOST"]).await.remove(0);
    let resolved = unlinked_alert(&next_json(&mut sub).await);
    assert_eq!(
        (
            resolved["kind"].clone(),
            resolved["state"].clone(),
            resolved["sellerSku"].clone()
        ),
        (json!("UNLINKED_SKU"), json!("RESOLVED"), json!("UL-GHOST"))
    );
    assert_eq!(line_states(&app, &sh, "G1").await, ["ALLOCATED", "SHORT"]);
    assert_eq!(line_states(&app, &sh, "G2").await, ["SHORT"]);
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT kind || ' ' || seller_sku || ' ' || (resolved_at IS NOT NULL) FROM stock_alerts"
        )
        .await,
        ["UNLINKED_SKU UL-GHOST true"]
    );
    // Another order with it now links at once: no new alert.
    receive(&app, &sh, &ghost, 10).await;
    deliver(
        &app,
        &sh,
        store,
        &order(
            "G3",
            Normalized::AwaitingFulfillment,
            100,
            &[("UL-GHOST", 1)],
        ),
    )
    .await;
    assert_eq!(line_states(&app, &sh, "G3").await, ["ALLOCATED"]);
    assert_eq!(maybe_json(&mut sub, Duration::from_millis(300)).await, None);
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn a_changed_quantity_before_shipping_holds_the_new_quantity_once() {
    let app = TestApp::spawn().await;
    let (sh, store) = setup(&app, "oqty").await;
    let v = product(&app, &sh, &["QT-TEE"]).await.remove(0);
    receive(&app, &sh, &v, 10).await;
    let versions = [
        (Normalized::AwaitingFulfillment, 100, 3, (10, 3)),
        // Two of three units cancelled on the marketplace: one stays held.
        (Normalized::AwaitingFulfillment, 200, 1, (10, 1)),
        // Back up to two before packing.
        (Normalized::ReadyToShip, 300, 2, (10, 2)),
        (Normalized::Shipped, 400, 2, (8, 0)),
    ];
    for (status, updated, qty, expected) in versions {
        deliver(
            &app,
            &sh,
            store,
            &order("Q", status, updated, &[("QT-TEE", qty)]),
        )
        .await;
        assert_eq!(
            stock(&level(&app, &sh, &v).await),
            expected,
            "{status:?} ×{qty}"
        );
    }
    assert_eq!(line_states(&app, &sh, "Q").await, ["SHIPPED"]);
    assert_eq!(
        owner_rows(
            &app,
            &sh.org,
            "SELECT quantity || ' ' || status FROM reservations ORDER BY created_at"
        )
        .await,
        ["3 RELEASED", "1 RELEASED", "2 COMMITTED"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}
