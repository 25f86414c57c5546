//! Orders in one model: one state machine with anti-regression on the marketplace's update time
//! (a stale update is recorded and never applied, the same version changes nothing), lines linked
//! to the catalog by seller SKU, and the rows invisible to other organizations and branches.
//! Orders are applied here through the domain in a tenant transaction as the runtime role.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::status::OrderStatus as Normalized;
use connectors::{Buyer, Money, Order, OrderLine};
use entity::enums::OrderStatus;
use mercato::domain::orders::{Applied, OrderStore};
use mercato::ids::{BranchId, StoreId};
use mercato_tests::stock::{product, shop};
use mercato_tests::*;

fn myr(minor: i64) -> Money {
    Money {
        minor,
        currency: *b"MYR",
    }
}

fn order(status: Normalized, raw: &str, updated: i64) -> Order {
    Order {
        external_id: "240101ABC".into(),
        status,
        raw_status: raw.into(),
        buyer: Buyer {
            name: Some("b***r".into()),
            city: Some("Kuala Lumpur".into()),
            ..Buyer::default()
        },
        total: myr(12_345),
        shipping_fee: Some(myr(500)),
        lines: vec![
            OrderLine {
                external_item_id: "1001".into(),
                external_sku_id: "2001".into(),
                seller_sku: Some("ord-sku-1".into()),
                name: "Shirt / M".into(),
                quantity: 2,
                unit_price: myr(5_000),
                external_line_ids: vec!["L1".into()],
            },
            OrderLine {
                external_item_id: "1002".into(),
                external_sku_id: "0".into(),
                seller_sku: Some("NOT-IN-CATALOG".into()),
                name: "Mystery".into(),
                quantity: 1,
                unit_price: myr(1_845),
                external_line_ids: vec!["L2".into()],
            },
        ],
        create_time: 1_700_000_000,
        update_time: updated,
        ship_by: Some(1_700_200_000),
        terms: connectors::OrderTerms::default(),
    }
}

async fn apply(app: &TestApp, org: &str, store: OrderStore, o: &Order) -> Applied {
    mercato_tests::orders::apply_as(app, org, store, o, true).await
}

#[tokio::test]
async fn one_state_machine_with_anti_regression_on_the_marketplace_update_time() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "orders").await;
    let variant = product(&app, &sh, &["ORD-SKU-1"]).await.remove(0);
    let store_gid = app
        .connect_store(&sh.s, &sh.branch, "order-shop", None)
        .await;
    let store = OrderStore {
        id: StoreId(gid_uuid(&store_gid).parse().unwrap()),
        branch: BranchId(gid_uuid(&sh.branch).parse().unwrap()),
    };
    let rows = async |sql: &str| owner_rows(&app, &sh.org, sql).await;

    let first = apply(
        &app,
        &sh.org,
        store,
        &order(
            Normalized::AwaitingFulfillment,
            "READY_TO_SHIP",
            1_700_000_100,
        ),
    )
    .await;
    let Applied::Created { order: id, status } = first else {
        panic!("{first:?}")
    };
    assert_eq!(status, OrderStatus::AwaitingFulfillment);
    assert_eq!(
        rows("SELECT status || ' ' || raw_status || ' ' || total_minor || ' ' || currency || ' ' || (paid_at IS NOT NULL) || ' ' || (shipped_at IS NULL) FROM orders").await,
        vec!["AWAITING_FULFILLMENT READY_TO_SHIP 12345 MYR true true"]
    );
    // Lines: the catalog SKU is linked (case-insensitively), the unknown one kept unlinked.
    assert_eq!(
        rows("SELECT line_no || ' ' || quantity || ' ' || unit_price_minor || ' ' || coalesce(variant_id::text, '-') FROM order_items ORDER BY line_no").await,
        vec![format!("1 2 5000 {}", gid_uuid(&variant)), "2 1 1845 -".to_owned()]
    );

    // The same version again (a duplicated page): nothing changes.
    let again = apply(
        &app,
        &sh.org,
        store,
        &order(
            Normalized::AwaitingFulfillment,
            "READY_TO_SHIP",
            1_700_000_100,
        ),
    )
    .await;
    assert_eq!(again, Applied::Unchanged { order: id });
    assert_eq!(rows("SELECT version::text FROM orders").await, vec!["1"]);
    assert_eq!(
        rows("SELECT count(*)::text FROM order_events").await,
        vec!["1"]
    );

    // Newer: shipped.
    let shipped = apply(
        &app,
        &sh.org,
        store,
        &order(Normalized::Shipped, "SHIPPED", 1_700_000_500),
    )
    .await;
    assert_eq!(
        shipped,
        Applied::Updated {
            order: id,
            from: OrderStatus::AwaitingFulfillment,
            to: OrderStatus::Shipped
        }
    );
    assert_eq!(
        rows("SELECT status || ' ' || version || ' ' || (shipped_at = to_timestamp(1700000500))::text FROM orders").await,
        vec!["SHIPPED 2 true"]
    );

    // Older (a late page or a replayed push): recorded as stale, never applied.
    let late = apply(
        &app,
        &sh.org,
        store,
        &order(
            Normalized::AwaitingFulfillment,
            "READY_TO_SHIP",
            1_700_000_300,
        ),
    )
    .await;
    assert_eq!(
        late,
        Applied::Stale {
            order: id,
            kept: OrderStatus::Shipped,
            refused: OrderStatus::AwaitingFulfillment
        }
    );
    assert_eq!(
        rows("SELECT status || ' ' || version FROM orders").await,
        vec!["SHIPPED 2"]
    );
    assert_eq!(
        rows("SELECT coalesce(from_status, '-') || '>' || to_status || ' ' || applied || ' ' || extract(epoch FROM marketplace_updated_at)::bigint FROM order_events ORDER BY id").await,
        vec![
            "->AWAITING_FULFILLMENT true 1700000100",
            "AWAITING_FULFILLMENT>SHIPPED true 1700000500",
            "SHIPPED>AWAITING_FULFILLMENT false 1700000300",
        ]
    );
    // Newer again: delivered, then completed; two lines, not four.
    apply(
        &app,
        &sh.org,
        store,
        &order(Normalized::Delivered, "TO_CONFIRM_RECEIVE", 1_700_000_900),
    )
    .await;
    assert_eq!(
        rows("SELECT count(*)::text FROM order_items").await,
        vec!["2"]
    );
    assert_eq!(
        rows("SELECT status || ' ' || (delivered_at IS NOT NULL) FROM orders").await,
        vec!["DELIVERED true"]
    );
}

#[tokio::test]
async fn orders_are_invisible_to_other_organizations_and_branches() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "ord-iso").await;
    let other = shop(&app, "ord-iso-b").await;
    let store_gid = app.connect_store(&sh.s, &sh.branch, "iso-shop", None).await;
    let store = OrderStore {
        id: StoreId(gid_uuid(&store_gid).parse().unwrap()),
        branch: BranchId(gid_uuid(&sh.branch).parse().unwrap()),
    };
    apply(
        &app,
        &sh.org,
        store,
        &order(
            Normalized::AwaitingFulfillment,
            "READY_TO_SHIP",
            1_700_000_100,
        ),
    )
    .await;
    let second_branch = app.create_branch(&sh.s, "Elsewhere").await;
    let rt = app.runtime().await;
    for (org, branches, expect) in [
        (sh.org.clone(), "*".to_owned(), "1"),
        (sh.org.clone(), format!("{{{}}}", gid_uuid(&sh.branch)), "1"),
        (
            sh.org.clone(),
            format!("{{{}}}", gid_uuid(&second_branch)),
            "0",
        ),
        (other.org.clone(), "*".to_owned(), "0"),
    ] {
        for table in ["orders", "order_events"] {
            let n = rows_as(
                &rt,
                &[("app.org_id", &org), ("app.branch_ids", &branches)],
                &format!("SELECT count(*)::text FROM {table}"),
            )
            .await
            .unwrap();
            assert_eq!(n, vec![expect], "{table} as {org}/{branches}");
        }
    }
    // The history is append-only for the runtime role.
    for sql in [
        "UPDATE order_events SET applied = false RETURNING 1::text",
        "DELETE FROM order_events RETURNING 1::text",
    ] {
        let e = rows_as(
            &rt,
            &[("app.org_id", &sh.org), ("app.branch_ids", "*")],
            sql,
        )
        .await
        .unwrap_err();
        assert!(e.contains("permission denied"), "{sql}: {e}");
    }
}
