//! Orders through GraphQL over HTTP and WebSocket: the `orders` connection (filters, sorts, keyset
//! pages, total), `order` and `node`, lines with their variant and stock state, history, and the
//! `orderEvents` subscription; none of it crosses organizations, branches or token scopes.
//! Orders are applied through the domain as the runtime role (as the sync does).

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::status::OrderStatus as Normalized;
use connectors::{Buyer, Money, Order, OrderLine};
use mercato::domain::orders::OrderStore;
use mercato::ids::{BranchId, StoreId};
use mercato_tests::stock::{Shop, product, receive, shop};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

fn order(id: &str, status: Normalized, placed: i64, updated: i64, buyer: &str) -> Order {
    Order {
        external_id: id.into(),
        status,
        raw_status: format!("{status:?}").to_uppercase(),
        buyer: Buyer {
            name: Some(buyer.into()),
            ..Buyer::default()
        },
        total: Money {
            minor: 12_345,
            currency: *b"MYR",
        },
        shipping_fee: Some(Money {
            minor: 500,
            currency: *b"MYR",
        }),
        lines: vec![OrderLine {
            external_item_id: "1".into(),
            external_sku_id: "1".into(),
            seller_sku: Some("API-TEE".into()),
            name: "Tee".into(),
            quantity: 2,
            unit_price: Money {
                minor: 5_000,
                currency: *b"MYR",
            },
            external_line_ids: vec![],
        }],
        create_time: placed,
        update_time: updated,
        ship_by: Some(placed + 86_400),
        terms: connectors::OrderTerms::default(),
    }
}

async fn apply(app: &TestApp, sh: &Shop, store: OrderStore, o: &Order) {
    mercato_tests::orders::apply_as(app, &sh.org, store, o, true).await;
}

struct World {
    sh: Shop,
    a: OrderStore,
    a_gid: String,
    b: OrderStore,
    branch_b: String,
}

async fn world(app: &TestApp, tag: &str) -> World {
    let sh = shop(app, tag).await;
    let v = product(app, &sh, &["API-TEE"]).await.remove(0);
    receive(app, &sh, &v, 100).await;
    let branch_b = app.create_branch(&sh.s, "Second").await;
    let a_gid = app
        .connect_store(&sh.s, &sh.branch, &format!("{tag}-a"), None)
        .await;
    let b_gid = app
        .connect_store(&sh.s, &branch_b, &format!("{tag}-b"), None)
        .await;
    let store = |g: &str, b: &str| OrderStore {
        id: StoreId(gid_uuid(g).parse().unwrap()),
        branch: BranchId(gid_uuid(b).parse().unwrap()),
    };
    let a = store(&a_gid, &sh.branch);
    let b = store(&b_gid, &branch_b);
    let base = 1_700_000_000;
    for (i, (status, buyer)) in [
        (Normalized::AwaitingFulfillment, "Aisha"),
        (Normalized::Shipped, "Budi"),
        (Normalized::Cancelled, "Chen"),
        (Normalized::Completed, "Dewi"),
        (Normalized::PendingPayment, "Aziz"),
    ]
    .into_iter()
    .enumerate()
    {
        let t = base + i64::try_from(i).unwrap() * 3_600;
        apply(
            app,
            &sh,
            a,
            &order(&format!("A-{i}"), status, t, t + 60, buyer),
        )
        .await;
    }
    for i in 0..2 {
        let t = base + 100 + i * 3_600;
        apply(
            app,
            &sh,
            b,
            &order(
                &format!("B-{i}"),
                Normalized::AwaitingFulfillment,
                t,
                t + 60,
                "Eka",
            ),
        )
        .await;
    }
    World {
        sh,
        a,
        a_gid,
        b,
        branch_b,
    }
}

const PAGE: &str = "query($f: OrderFilterInput, $s: OrderSortKey, $r: Boolean, $n: Int, $a: String) {
  orders(filter: $f, sortKey: $s, reverse: $r, first: $n, after: $a) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { id externalId status marketplaceStatus buyerName isLate currencyCode unlinkedLines
      store { name } totals { total { amount currencyCode } shippingFee { amount } }
      items { sellerSku quantity unitPrice { amount currencyCode } stockState linked variant { sku } }
      events { fromStatus toStatus applied source } } }
  }
}";

async fn page(app: &TestApp, token: &str, vars: Value) -> Value {
    let body = app.gql(Some(token), PAGE, vars).await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["orders"].clone()
}

fn ids(p: &Value) -> Vec<String> {
    p["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["externalId"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn orders_filter_sort_page_and_resolve_their_lines() {
    let app = TestApp::spawn().await;
    let w = world(&app, "oapi").await;
    let token = &w.sh.s.token;

    // Every order, newest first, two at a time: no gap, no repeat.
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let p = page(&app, token, json!({ "n": 2, "a": after })).await;
        assert_eq!(p["totalCount"], 7);
        seen.extend(ids(&p));
        if !p["pageInfo"]["hasNextPage"].as_bool().unwrap() {
            break;
        }
        after = p["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, ["A-4", "A-3", "A-2", "B-1", "A-1", "B-0", "A-0"]);

    let first = page(&app, token, json!({ "n": 1, "f": { "query": "a-0" } })).await;
    let o = &first["edges"][0]["node"];
    assert_eq!(o["externalId"], "A-0");
    assert_eq!(o["status"], "AWAITING_FULFILLMENT");
    assert_eq!(o["marketplaceStatus"], "AWAITINGFULFILLMENT");
    assert_eq!(o["store"]["name"], "Shop oapi-a");
    assert_eq!(
        o["totals"]["total"],
        json!({ "amount": "123.45", "currencyCode": "MYR" })
    );
    assert_eq!(o["totals"]["shippingFee"]["amount"], "5.00");
    // Its ship-by (placed + 1 day, in 2023) has passed and it is not shipped.
    assert_eq!(o["isLate"], true);
    assert_eq!(o["unlinkedLines"], 0);
    assert_eq!(
        o["items"],
        json!([{ "sellerSku": "API-TEE", "quantity": 2, "unitPrice": { "amount": "50.00", "currencyCode": "MYR" },
                 "stockState": "ALLOCATED", "linked": true, "variant": { "sku": "API-TEE" } }])
    );
    assert_eq!(
        o["events"],
        json!([{ "fromStatus": null, "toStatus": "AWAITING_FULFILLMENT", "applied": true, "source": "PULL" }])
    );

    // Filters.
    let only_a = page(&app, token, json!({ "f": { "storeIds": [w.a_gid] } })).await;
    assert_eq!(only_a["totalCount"], 5);
    let only_b = page(&app, token, json!({ "f": { "branchIds": [w.branch_b] } })).await;
    assert_eq!(ids(&only_b), ["B-1", "B-0"]);
    let st = page(
        &app,
        token,
        json!({ "f": { "statuses": ["CANCELLED", "SHIPPED"] } }),
    )
    .await;
    assert_eq!(ids(&st), ["A-2", "A-1"]);
    let buyer = page(&app, token, json!({ "f": { "query": "az" } })).await;
    assert_eq!(ids(&buyer), ["A-4"]);
    let between = page(
        &app,
        token,
        json!({ "f": { "createdBetween": { "from": "2023-11-14T23:00:00Z", "to": "2023-11-15T01:00:00Z" } } }),
    )
    .await;
    assert_eq!(ids(&between), ["A-2", "B-1", "A-1"]);
    let since = page(
        &app,
        token,
        json!({ "f": { "updatedSince": "2023-11-15T00:00:00Z" } }),
    )
    .await;
    assert_eq!(since["totalCount"], 3);
    // Sorts.
    let oldest = page(&app, token, json!({ "n": 2, "r": true })).await;
    assert_eq!(ids(&oldest), ["A-0", "B-0"]);
    let ship_by = page(&app, token, json!({ "n": 3, "s": "SHIP_BY" })).await;
    assert_eq!(ids(&ship_by), ["A-0", "B-0", "A-1"]);

    // One order, by `order` and by `node`; nonsense ids are null.
    let id = o["id"].as_str().unwrap();
    let one = app
        .gql(
            Some(token),
            "query($id: ID!) { order(id: $id) { externalId } node(id: $id) { id ... on Order { externalId } } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(one["data"]["order"]["externalId"], "A-0", "{one}");
    assert_eq!(one["data"]["node"]["externalId"], "A-0", "{one}");
    for bad in [
        gid("Order", &uuid::Uuid::now_v7().to_string()),
        "garbage".to_owned(),
        w.a_gid.clone(),
    ] {
        let r = app
            .gql(
                Some(token),
                "query($id: ID!) { order(id: $id) { id } }",
                json!({ "id": bad }),
            )
            .await;
        assert!(r["data"]["order"].is_null(), "{r}");
    }
    // Bad arguments are typed errors.
    for vars in [
        json!({ "n": 101 }),
        json!({ "a": "not-a-cursor" }),
        json!({ "f": { "storeIds": ["x"] } }),
    ] {
        let r = app.gql(Some(token), PAGE, vars.clone()).await;
        assert_eq!(first_error_code(&r), "VALIDATION_FAILED", "{vars}: {r}");
    }
}

#[tokio::test]
async fn orders_are_invisible_across_organizations_branches_and_token_scopes() {
    let app = TestApp::spawn().await;
    let w = world(&app, "oiso").await;
    let other = shop(&app, "oiso-other").await;
    let a0 = page(&app, &w.sh.s.token, json!({ "f": { "query": "A-0" } })).await["edges"][0]["node"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let by_id = "query($id: ID!) { order(id: $id) { id } node(id: $id) { id } }";

    // Another organization: nothing.
    let p = page(&app, &other.s.token, json!({})).await;
    assert_eq!((p["totalCount"].clone(), ids(&p).len()), (json!(0), 0));
    let p = page(
        &app,
        &other.s.token,
        json!({ "f": { "storeIds": [w.a_gid] } }),
    )
    .await;
    assert_eq!(p["totalCount"], 0);
    let r = app
        .gql(Some(&other.s.token), by_id, json!({ "id": a0 }))
        .await;
    assert!(
        r["data"]["order"].is_null() && r["data"]["node"].is_null(),
        "{r}"
    );

    // A manager of the second branch only: that branch's orders.
    let manager = joined_member(
        &app,
        &w.sh.s,
        "oiso-mgr",
        "MEMBER",
        json!([{ "branchId": w.branch_b, "role": "MANAGER" }]),
    )
    .await;
    let p = page(&app, &manager.token, json!({})).await;
    assert_eq!(ids(&p), ["B-1", "B-0"]);
    assert_eq!(p["totalCount"], 2);
    let r = app
        .gql(Some(&manager.token), by_id, json!({ "id": a0 }))
        .await;
    assert!(
        r["data"]["order"].is_null() && r["data"]["node"].is_null(),
        "{r}"
    );

    // Partner tokens: orders:read sees them; a token without it is refused.
    let (_, reader) = app
        .create_api_token(&w.sh.s, "orders", &["ORDERS_READ"], None)
        .await;
    assert_eq!(page(&app, &reader, json!({})).await["totalCount"], 7);
    let (_, stores_only) = app
        .create_api_token(&w.sh.s, "stores", &["STORES_READ"], None)
        .await;
    let r = app.gql(Some(&stores_only), PAGE, json!({})).await;
    assert_eq!(first_error_code(&r), "FORBIDDEN", "{r}");
    let r = app
        .gql(Some(&stores_only), by_id, json!({ "id": a0 }))
        .await;
    assert!(r["data"]["order"].is_null(), "{r}");

    // Subscriptions: another organization's and another branch's store are NOT_FOUND.
    for token in [&other.s.token, &manager.token] {
        let mut ws = ws::subscribe(
            &app,
            token,
            "subscription($s: ID!) { orderEvents(storeId: $s) { orderId } }",
            json!({ "s": w.a_gid }),
        )
        .await;
        let msg = ws::next_json(&mut ws).await;
        assert!(msg["payload"]["data"].is_null(), "{msg}");
        assert_eq!(
            msg["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
            "{msg}"
        );
    }
}

#[tokio::test]
async fn order_events_arrive_when_orders_are_created_and_change_status() {
    let app = TestApp::spawn().await;
    let w = world(&app, "oev").await;
    let mut ws = ws::subscribe(
        &app,
        &w.sh.s.token,
        "subscription($s: ID!) { orderEvents(storeId: $s) { kind externalId fromStatus toStatus storeId } }",
        json!({ "s": w.a_gid }),
    )
    .await;
    // Until the subscription is live, probe with new orders; then what follows is exact.
    let mut n = 0;
    loop {
        n += 1;
        let id = format!("PROBE-{n}");
        apply(
            &app,
            &w.sh,
            w.a,
            &order(
                &id,
                Normalized::PendingPayment,
                1_700_100_000,
                1_700_100_000,
                "P",
            ),
        )
        .await;
        if let Some(m) = ws::maybe_json(&mut ws, Duration::from_millis(300)).await {
            assert_eq!(m["payload"]["data"]["orderEvents"]["externalId"], id, "{m}");
            break;
        }
        assert!(n < 40, "the subscription never delivered");
    }
    // Another store's order is not delivered; this store's creation and change are, in order.
    apply(
        &app,
        &w.sh,
        w.b,
        &order(
            "B-9",
            Normalized::AwaitingFulfillment,
            1_700_200_000,
            1_700_200_000,
            "X",
        ),
    )
    .await;
    apply(
        &app,
        &w.sh,
        w.a,
        &order(
            "A-9",
            Normalized::PendingPayment,
            1_700_200_000,
            1_700_200_000,
            "Y",
        ),
    )
    .await;
    apply(
        &app,
        &w.sh,
        w.a,
        &order(
            "A-9",
            Normalized::AwaitingFulfillment,
            1_700_200_000,
            1_700_200_100,
            "Y",
        ),
    )
    .await;
    // The same version again changes nothing and says nothing.
    apply(
        &app,
        &w.sh,
        w.a,
        &order(
            "A-9",
            Normalized::AwaitingFulfillment,
            1_700_200_000,
            1_700_200_100,
            "Y",
        ),
    )
    .await;
    apply(
        &app,
        &w.sh,
        w.a,
        &order(
            "A-9",
            Normalized::Shipped,
            1_700_200_000,
            1_700_200_200,
            "Y",
        ),
    )
    .await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let m = ws::next_json(&mut ws).await;
        let e = &m["payload"]["data"]["orderEvents"];
        assert_eq!(e["storeId"], w.a_gid.as_str(), "{m}");
        got.push(format!(
            "{} {} {} {}",
            e["kind"].as_str().unwrap(),
            e["externalId"].as_str().unwrap(),
            e["fromStatus"],
            e["toStatus"].as_str().unwrap()
        ));
    }
    assert_eq!(
        got,
        [
            "CREATED A-9 null PENDING_PAYMENT",
            "STATUS_CHANGED A-9 \"PENDING_PAYMENT\" AWAITING_FULFILLMENT",
            "STATUS_CHANGED A-9 \"AWAITING_FULFILLMENT\" SHIPPED",
        ]
    );
    assert!(
        ws::maybe_json(&mut ws, Duration::from_millis(300))
            .await
            .is_none()
    );
}
