//! Direct rendering of the `products` and `orders` pages (`api/src/graphql/direct.rs`): two
//! servers on one database, one rendering pages straight from their rows and one with
//! `MERCATO_DIRECT_RENDER=false` (async-graphql's per-field executor), must answer every query
//! with the same data, errors and cost; the metric shows which path answered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use mercato_tests::stock::{Shop, product, receive, reserve, shop};
use mercato_tests::*;
use serde_json::{Value, json};

/// Pages rendered by `how` so far in this process (both servers share the registry).
fn renders(page: &'static str, how: &'static str) -> u64 {
    mercato::metrics::get()
        .page_renders
        .get_or_create(&mercato::metrics::PageRenderLabels { page, how })
        .get()
}

/// Posts `query` and returns the raw body text and its JSON.
async fn raw(app: &TestApp, token: &str, query: &str, variables: Value) -> (String, Value) {
    let text = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(token)
        .json(&json!({"query": query, "variables": variables}))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (text, body)
}

/// What must be equal between the two paths: data, errors and the cost figures that do not
/// depend on the bucket's state.
fn comparable(body: &Value) -> Value {
    let cost = &body["extensions"]["cost"];
    json!({
        "data": body["data"],
        "errors": body["errors"],
        "requestedQueryCost": cost["requestedQueryCost"],
        "actualQueryCost": cost["actualQueryCost"],
    })
}

/// Runs `query` on both servers; asserts equal answers and that `direct` answered it the way
/// `expect` says (`direct` or `executor`). Returns the direct server's raw text and JSON.
async fn same(
    direct: &TestApp,
    executor: &TestApp,
    token: &str,
    page: &'static str,
    expect: &'static str,
    query: &str,
    variables: Value,
) -> (String, Value) {
    let before = renders(page, expect);
    let (text, a) = raw(direct, token, query, variables.clone()).await;
    assert_eq!(
        renders(page, expect),
        before + 1,
        "{query} was not answered by the {expect} path: {text}"
    );
    let before = renders(page, "executor");
    let (_, b) = raw(executor, token, query, variables).await;
    assert_eq!(renders(page, "executor"), before + 1, "{query}");
    assert_eq!(comparable(&a), comparable(&b), "{query}");
    (text, a)
}

/// Two servers on one database with the same keys (a token of one is good on the other).
async fn servers() -> (TestApp, TestApp) {
    let db = fresh_database().await;
    let config = test_config(&db);
    let direct = TestApp::spawn_with(config.clone(), db.clone()).await;
    let mut off = config;
    off.direct_render = false;
    let executor = TestApp::spawn_with(off, db).await;
    (direct, executor)
}

/// A catalog with what every field shows: several currencies, attributes, images, a product
/// draft, stock at two locations with thresholds and a reservation.
async fn catalog(app: &TestApp) -> Shop {
    let sh = shop(app, "direct").await;
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { code field message } } }",
            json!({"i": {
                "name": "Kettle \"Deluxe\" ☕", "status": "ACTIVE", "description": "1.7 l\nsteel",
                "imageUrls": ["https://img.example/k1.jpg", "https://img.example/k2.jpg"],
                "attributes": {"brand": "Acme", "watts": 2200, "tags": ["kitchen", null]},
                "variants": [
                    {"sku": "K-RED", "name": "Red", "attributes": {"colour": "red"},
                     "prices": [{"amount": "12.50", "currencyCode": "USD"},
                                {"amount": "1.250", "currencyCode": "KWD"},
                                {"amount": "15000", "currencyCode": "IDR"}]},
                    {"sku": "K-BLUE", "name": "Blue", "prices": []}
                ]}}),
        )
        .await;
    assert!(
        body["data"]["createProduct"]["product"]["id"].is_string(),
        "{body}"
    );
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } userErrors { code field message } } }",
            json!({"i": {"name": "A draft", "variants": [{"sku": "DRAFT-1"}]}}),
        )
        .await;
    assert!(
        body["data"]["createProduct"]["product"]["id"].is_string(),
        "{body}"
    );
    let mut variants = Vec::new();
    for i in 0..4 {
        variants.extend(product(app, &sh, &[&format!("T-{i}-A"), &format!("T-{i}-B")]).await);
    }
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateLocationInput!) { createLocation(input: $i) { location { id } userErrors { code } } }",
            json!({"i": {"branchId": sh.branch, "name": "Overflow", "kind": "THIRD_PARTY"}}),
        )
        .await;
    let floor = body["data"]["createLocation"]["location"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    for (i, v) in variants.iter().enumerate() {
        receive(app, &sh, v, 10 + i as i64).await;
    }
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: SetStockThresholdsInput!) { setStockThresholds(input: $i) { userErrors { code } } }",
            json!({"i": {"variantId": variants[0], "locationId": floor, "safetyStock": 2, "reorderPoint": 5}}),
        )
        .await;
    assert_eq!(
        body["data"]["setStockThresholds"]["userErrors"],
        json!([]),
        "{body}"
    );
    reserve(app, &sh, &variants[1], 3, "cart-1", None).await;
    sh
}

const PAGE: &str = "{ products(first: 50) { edges { node { id name variants(first: 10) { id sku prices { amount currencyCode } stockLevels { onHand reserved available } } } } } }";

const EVERYTHING: &str = "query($n: Int!, $v: Int!) {
  products(first: $n, sortKey: NAME) {
    __typename
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor __typename }
    edges { __typename cursor node { __typename ...P } }
  }
}
fragment P on Product {
  id name status description imageUrls attributes createdAt updatedAt
  variants(first: $v) {
    __typename id sku name isBundle attributes
    prices { __typename amount currencyCode }
    stockLevels { __typename variantId locationId onHand reserved safetyStock reorderPoint available }
  }
}";

#[tokio::test]
async fn a_products_page_rendered_from_its_rows_is_the_executors_page() {
    let (direct, executor) = servers().await;
    let sh = catalog(&direct).await;
    let t = sh.s.token.as_str();
    let (d, e) = (&direct, &executor);

    // The benchmark's page, and every field the renderer knows, over several page sizes.
    let (_, body) = same(d, e, t, "products", "direct", PAGE, json!({})).await;
    let edges = body["data"]["products"]["edges"].as_array().unwrap();
    assert_eq!(edges.len(), 6, "{body}");
    let kettle = edges
        .iter()
        .find(|n| n["node"]["name"] == "Kettle \"Deluxe\" ☕")
        .unwrap();
    let mut amounts: Vec<&str> = kettle["node"]["variants"][0]["prices"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["amount"].as_str().unwrap())
        .collect();
    amounts.sort_unstable();
    assert_eq!(amounts, ["1.250", "12.50", "15000"], "{kettle}");
    let mut floor_levels = 0;
    for (n, v) in [(1, 250), (3, 1), (10, 0), (10, 2)] {
        let (_, body) = same(
            d,
            e,
            t,
            "products",
            "direct",
            EVERYTHING,
            json!({"n": n, "v": v}),
        )
        .await;
        floor_levels += body.to_string().matches(r#""reorderPoint":5"#).count();
    }
    assert!(floor_levels > 0, "a level with thresholds was rendered");

    // Aliases, inline fragments, @skip/@include by variable, `nodes`, reverse order; the raw
    // text keeps the selection's order.
    let aliased = "query($yes: Boolean!) { p: products(first: 2, reverse: true) {
        all: nodes { ... on Product { title: name vs: variants { s: sku id } } }
        info: pageInfo @include(if: $yes) { endCursor hasNextPage }
        edges @skip(if: $yes) { cursor } } }";
    for yes in [true, false] {
        let (text, body) = same(d, e, t, "products", "direct", aliased, json!({"yes": yes})).await;
        assert_eq!(body["data"]["p"]["all"].as_array().unwrap().len(), 2);
        assert_eq!(body["data"]["p"]["info"].is_object(), yes, "{body}");
        assert_eq!(body["data"]["p"]["edges"].is_array(), !yes, "{body}");
        let (s, id) = (
            text.find(r#""s":"#).unwrap(),
            text.find(r#""id":"#).unwrap(),
        );
        assert!(s < id, "selection order kept: {text}");
    }

    // Paging both ways from a cursor, an empty page, no variants asked.
    let (_, body) = same(
        d,
        e,
        t,
        "products",
        "direct",
        "{ products(first: 2) { pageInfo { endCursor } } }",
        json!({}),
    )
    .await;
    let cursor = body["data"]["products"]["pageInfo"]["endCursor"].clone();
    for q in [
        "query($c: String) { products(first: 2, after: $c) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } edges { cursor node { name } } } }",
        "query($c: String) { products(last: 1, before: $c) { pageInfo { hasNextPage hasPreviousPage startCursor endCursor } nodes { name variants(first: 0) { id } } } }",
        "query($c: String) { products(first: 5, query: \"no such thing\", after: $c) { pageInfo { startCursor endCursor hasNextPage } edges { node { id } } } }",
        "query($c: String) { products(first: 5, query: \"T-2\", before: $c) { nodes { name variants { sku } } pageInfo { hasNextPage } } c: __typename }",
    ] {
        same(d, e, t, "products", "direct", q, json!({"c": cursor})).await;
    }

    // What the renderer leaves to the executor: the answer is still the same.
    for q in [
        "{ products(first: 3) { totalCount nodes { id } } }",
        "{ products(first: 3) { nodes { variants { costs { source } } } } }",
        "{ products(first: 3) { nodes { name name: name } } }",
        "{ products(first: 3) { nodes { ... on Node { id } } } }",
        "{ products(first: 3) { nodes { variants(first: 300) { id } } } }",
        "{ products(first: 3) { nodes { variants { sku } variants { id } } } }",
    ] {
        same(d, e, t, "products", "executor", q, json!({})).await;
    }
}

#[tokio::test]
async fn a_directly_rendered_page_shows_only_the_callers_tenant() {
    let (direct, _executor) = servers().await;
    let mine = catalog(&direct).await;
    let other = shop(&direct, "other").await;
    product(&direct, &other, &["OTHER-1"]).await;
    let before = renders("products", "direct");
    let body = direct.gql(Some(&other.s.token), PAGE, json!({})).await;
    assert_eq!(renders("products", "direct"), before + 1);
    let text = body.to_string();
    assert!(text.contains("OTHER-1"), "{body}");
    assert!(!text.contains("K-RED") && !text.contains("T-0-A"), "{body}");
    let body = direct.gql(Some(&mine.s.token), PAGE, json!({})).await;
    assert!(!body.to_string().contains("OTHER-1"), "{body}");
}

fn kes(minor: i64) -> connectors::Money {
    connectors::Money {
        minor,
        currency: *b"KES",
    }
}

fn line(sku: &str, quantity: u32, unit: i64) -> connectors::OrderLine {
    connectors::OrderLine {
        external_item_id: format!("item-{sku}"),
        external_sku_id: format!("sku-{sku}"),
        seller_sku: Some(sku.into()),
        name: format!("Line {sku}"),
        quantity,
        unit_price: kes(unit),
        external_line_ids: vec![],
    }
}

/// A store with orders that show every field: linked and unlinked lines, COD, discounts, tax,
/// cancelled and paid orders, ship-by in the past and in the future.
async fn orders(app: &TestApp) -> Shop {
    use connectors::status::OrderStatus as S;
    let sh = shop(app, "orders").await;
    product(app, &sh, &["TEE"]).await;
    let store = app.connect_store(&sh.s, &sh.branch, "direct-a", None).await;
    let store = mercato::domain::orders::OrderStore {
        id: mercato::ids::StoreId(gid_uuid(&store).parse().unwrap()),
        branch: mercato::ids::BranchId(gid_uuid(&sh.branch).parse().unwrap()),
    };
    let now = chrono::Utc::now().timestamp();
    for (i, status) in [
        S::AwaitingFulfillment,
        S::Shipped,
        S::Cancelled,
        S::PendingPayment,
        S::ReadyToShip,
    ]
    .into_iter()
    .enumerate()
    {
        let i = i as i64;
        let placed = now - 86_400 * 3 + i * 3_600;
        let terms = connectors::OrderTerms {
            subtotal: Some(kes(20_000 + i)),
            seller_discount: (i % 2 == 0).then(|| kes(150)),
            tax: (i == 1).then(|| kes(1_600)),
            payment_method: (i != 3).then(|| "M-Pesa".to_owned()),
            cod: i == 4,
            paid_time: (i != 3).then_some(placed + 60),
            cancel_reason: (status == S::Cancelled).then(|| "buyer asked".to_owned()),
            ..connectors::OrderTerms::default()
        };
        let o = connectors::Order {
            external_id: format!("D-{i}"),
            status,
            raw_status: format!("{status:?}").to_uppercase(),
            buyer: connectors::Buyer {
                name: (i != 2).then(|| format!("Buyer {i}")),
                ..connectors::Buyer::default()
            },
            total: kes(21_000 + i),
            shipping_fee: (i != 0).then(|| kes(300)),
            lines: vec![line("TEE", 2, 5_000), line(&format!("NOPE-{i}"), 1, 10_000)],
            create_time: placed,
            update_time: placed + 120,
            // Orders 0 and 4 are late (ship-by a day ago); the others are due tomorrow.
            ship_by: Some(if i % 4 == 0 {
                now - 86_400
            } else {
                now + 86_400
            }),
            terms,
        };
        mercato_tests::orders::apply_as(app, &sh.org, store, &o, true).await;
    }
    sh
}

const ORDERS_PAGE: &str = "{ orders(first: 50) { edges { node { id externalId status placedAt \
     totals { total { amount currencyCode } } items { sellerSku name quantity unitPrice { amount } } \
     store { name } } } } }";

const EVERY_ORDER_FIELD: &str = "query($n: Int!) { orders(first: $n, sortKey: PLACED_AT, reverse: true) {
  __typename pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  edges { cursor node { ...O } }
}}
fragment O on Order {
  __typename id externalId storeId branchId status marketplaceStatus marketplaceUpdatedAt buyerName
  shipCity currencyCode paymentMethod isCod fulfilledBy placedAt paidAt shipBy isLate shippedAt
  deliveredAt cancelledAt cancelReason version unlinkedLines
  totals { __typename subtotal { amount currencyCode } shippingFee { amount } sellerDiscount { amount }
           platformDiscount { amount } tax { amount } total { amount currencyCode } codAmount { amount } }
  items { __typename lineNo externalItemId externalSkuId sellerSku name quantity unitPrice { amount currencyCode }
          discount { amount } stockState linked }
  store { __typename id name platform externalShopId region currency status connection }
}";

#[tokio::test]
async fn an_orders_page_rendered_from_its_rows_is_the_executors_page() {
    let (direct, executor) = servers().await;
    let sh = orders(&direct).await;
    let t = sh.s.token.as_str();
    let (d, e) = (&direct, &executor);

    let (_, body) = same(d, e, t, "orders", "direct", ORDERS_PAGE, json!({})).await;
    assert_eq!(
        body["data"]["orders"]["edges"].as_array().unwrap().len(),
        5,
        "{body}"
    );
    for n in [1, 2, 5] {
        let (_, body) = same(
            d,
            e,
            t,
            "orders",
            "direct",
            EVERY_ORDER_FIELD,
            json!({"n": n}),
        )
        .await;
        assert_eq!(
            body["data"]["orders"]["edges"].as_array().unwrap().len(),
            n as usize
        );
    }
    let (_, body) = same(
        d,
        e,
        t,
        "orders",
        "direct",
        EVERY_ORDER_FIELD,
        json!({"n": 5}),
    )
    .await;
    let text = body.to_string();
    assert!(
        text.contains(r#""isLate":true"#) && text.contains(r#""isLate":false"#),
        "{body}"
    );
    assert!(
        text.contains(r#""unlinkedLines":1"#) && text.contains(r#""cancelReason":"buyer asked""#)
    );

    let (_, body) = same(
        d,
        e,
        t,
        "orders",
        "direct",
        "{ orders(first: 2) { pageInfo { endCursor } } }",
        json!({}),
    )
    .await;
    let cursor = body["data"]["orders"]["pageInfo"]["endCursor"].clone();
    for q in [
        "query($c: String) { orders(first: 2, after: $c) { pageInfo { hasNextPage hasPreviousPage endCursor } nodes { externalId o: items { n: lineNo } } } }",
        "query($c: String) { orders(first: 5, after: $c, filter: { statuses: [CANCELLED] }) { nodes { externalId } edges { cursor } } }",
        "query($c: String) { none: orders(first: 5, after: $c, filter: { query: \"no such order\" }) { nodes { id } pageInfo { startCursor } } }",
    ] {
        same(d, e, t, "orders", "direct", q, json!({"c": cursor})).await;
    }

    for q in [
        "{ orders(first: 3) { totalCount } }",
        "{ orders(first: 3) { nodes { events { toStatus } } } }",
        "{ orders(first: 3) { nodes { items { variant { sku } } } } }",
        "{ orders(first: 3) { nodes { store { health { status } } } } }",
        "{ orders(first: 3) { nodes { ... on Node { id } } } }",
    ] {
        same(d, e, t, "orders", "executor", q, json!({})).await;
    }
}
