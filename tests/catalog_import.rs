//! `importCatalog` through the real HTTP surface: a 10,000-row CSV upload with bad rows, JSON
//! upserts, whole-input refusals that write nothing, and opening stock in the ledger.
#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::*;
use mercato_tests::*;
use serde_json::{Value, json};

const IMPORT: &str = "mutation($i: ImportCatalogInput!) { importCatalog(input: $i) { import { id rowsTotal rowsImported productsCreated productsUpdated variantsCreated variantsUpdated stockCounted errors { row field message } } userErrors { field code message } } }";

fn csv_rows(n: usize, bad: &[(usize, &str)]) -> String {
    let mut out = String::from(
        "product_key,product_name,status,sku,variant_name,price_MYR,price_IDR,attr_colour,opening_stock\n",
    );
    for row in 1..=n {
        let group = row.div_ceil(2);
        let colour = if row % 2 == 0 { "blue" } else { "red" };
        let line = match bad.iter().find(|(r, _)| *r == row) {
            Some((_, line)) => (*line).to_owned(),
            None => format!(
                "P{group},Shirt {group},ACTIVE,SKU-{row:05},{colour},12.50,15000,{colour},{}",
                row % 7
            ),
        };
        out.push_str(&line);
        out.push('\n');
    }
    out
}

async fn count(app: &TestApp, org: &str, sql: &str) -> i64 {
    owner_rows(app, org, sql).await[0].parse().unwrap()
}

#[tokio::test]
async fn ten_thousand_csv_rows_with_three_bad_ones_import_9997_and_report_each_precisely() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "import-big").await;
    let csv = csv_rows(
        10_000,
        &[
            (17, "P9,Shirt 9,ACTIVE,SKU-00017,red,1.005,15000,red,1"),
            (5_000, "P2500,Shirt 2500,ACTIVE,,blue,12.50,15000,blue,1"),
            (
                9_999,
                "P5000,Shirt 5000,ACTIVE,SKU-09999,red,12.50,15000,red,-3",
            ),
        ],
    );
    assert!(csv.len() > 512 * 1024, "the file is a real upload");
    let (status, body) = app
        .upload(
            Some(&sh.s.token),
            IMPORT,
            json!({"i": {"csv": null, "locationId": sh.location}}),
            "variables.i.csv",
            csv.as_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let r = &body["data"]["importCatalog"];
    assert_eq!(r["userErrors"], json!([]), "{body}");
    let imp = &r["import"];
    assert_eq!(imp["rowsTotal"], 10_000);
    assert_eq!(imp["rowsImported"], 9_997);
    assert_eq!(imp["variantsCreated"], 9_997);
    assert_eq!(imp["variantsUpdated"], 0);
    assert_eq!(imp["productsCreated"], 5_000);
    assert_eq!(
        imp["errors"],
        json!([
            {"row": 17, "field": "price_MYR", "message": "MYR has 2 decimal places"},
            {"row": 5000, "field": "sku", "message": "is required"},
            {"row": 9999, "field": "openingStock", "message": "must be a whole number 0-1000000000"},
        ])
    );
    // What the database holds, read as the runtime role under RLS.
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM variants").await,
        9_997
    );
    assert_eq!(
        count(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM variants WHERE sku IN ('SKU-00017', 'SKU-09999')"
        )
        .await,
        0
    );
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM variant_prices").await,
        2 * 9_997
    );
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM variant_prices WHERE currency = 'IDR' AND amount_minor = 15000").await,
        9_997
    );
    let expected_stock: i64 = (1..=10_000)
        .filter(|r| ![17, 5_000, 9_999].contains(r))
        .map(|r| (r % 7) as i64)
        .sum();
    assert_eq!(
        count(
            &app,
            &sh.org,
            "SELECT sum(on_hand)::text FROM inventory_levels"
        )
        .await,
        expected_stock
    );
    assert_eq!(
        imp["stockCounted"].as_i64().unwrap(),
        (1..=10_000)
            .filter(|r| ![17, 5_000, 9_999].contains(r) && r % 7 != 0)
            .count() as i64
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
    // Variants of one product key share a product; attributes and status came through.
    let page = app
        .gql(
            Some(&sh.s.token),
            "{ products(first: 1, query: \"SKU-00003\") { edges { node { name status variants { sku name attributes prices { amount currencyCode } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        page["data"]["products"]["edges"][0]["node"],
        json!({"name": "Shirt 2", "status": "ACTIVE", "variants": [
            {"sku": "SKU-00003", "name": "red", "attributes": {"colour": "red"}, "prices": [
                {"amount": "15000", "currencyCode": "IDR"}, {"amount": "12.50", "currencyCode": "MYR"}]},
            {"sku": "SKU-00004", "name": "blue", "attributes": {"colour": "blue"}, "prices": [
                {"amount": "15000", "currencyCode": "IDR"}, {"amount": "12.50", "currencyCode": "MYR"}]},
        ]}),
        "{page}"
    );
    // The ledger says where the opening stock came from.
    let vid = owner_rows(
        &app,
        &sh.org,
        "SELECT id::text FROM variants WHERE sku = 'SKU-00003'",
    )
    .await;
    let history = app
        .gql(
            Some(&sh.s.token),
            "query($v: ID!, $l: ID!) { stockHistory(variantId: $v, locationId: $l) { nodes { kind onHandDelta onHandAfter documentType documentId } } }",
            json!({"v": gid("Variant", &vid[0]), "l": sh.location}),
        )
        .await;
    assert_eq!(
        history["data"]["stockHistory"]["nodes"],
        json!([{"kind": "COUNT", "onHandDelta": 3, "onHandAfter": 3, "documentType": "IMPORT_ROW",
                "documentId": format!("{}:3", imp["id"].as_str().unwrap())}]),
        "{history}"
    );
}

async fn import_rows(app: &TestApp, sh: &Shop, rows: Value) -> Value {
    let body = app
        .gql(
            Some(&sh.s.token),
            IMPORT,
            json!({"i": {"rows": rows, "locationId": sh.location}}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["importCatalog"].clone()
}

#[tokio::test]
async fn json_rows_upsert_by_sku_and_bad_rows_never_half_apply() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "import-json").await;
    let first = import_rows(
        &app,
        &sh,
        json!([
            {"productKey": "mug", "productName": "Mug", "sku": "MUG-W", "variantName": "White",
             "prices": [{"amount": "9.90", "currencyCode": "MYR"}], "openingStock": 10,
             "imageUrls": ["https://cdn.example/mug.jpg"], "description": "Stoneware"},
        ]),
    )
    .await;
    assert_eq!(first["import"]["variantsCreated"], 1, "{first}");
    let mug = owner_rows(
        &app,
        &sh.org,
        "SELECT id::text FROM variants WHERE sku = 'MUG-W'",
    )
    .await[0]
        .clone();
    let mug = gid("Variant", &mug);
    // Reserve 4, then re-import: a new price, a second variant joining the product, a recount,
    // a row counting below what is reserved, and a row with a bad price.
    let body = app
        .gql(
            Some(&sh.s.token),
            RESERVE,
            json!({"i": {"variantId": mug, "locationId": sh.location, "quantity": 4, "referenceType": "CART", "referenceId": "c1"}}),
        )
        .await;
    assert_eq!(
        body["data"]["reserveStock"]["userErrors"],
        json!([]),
        "{body}"
    );
    let second = import_rows(
        &app,
        &sh,
        json!([
            {"productKey": "mug", "productName": "Mug (new)", "sku": "MUG-W",
             "prices": [{"amount": "10.50", "currencyCode": "MYR"}], "openingStock": 12},
            {"productKey": "mug", "productName": "Mug (new)", "sku": "MUG-B", "variantName": "Black",
             "prices": [{"amount": "10.50", "currencyCode": "MYR"}], "openingStock": 5},
            {"productKey": "cup", "productName": "Cup", "sku": "CUP", "openingStock": 0},
            {"productKey": "mug", "productName": "Mug (new)", "sku": "MUG-W2", "openingStock": 1,
             "prices": [{"amount": "10.505", "currencyCode": "MYR"}]},
            {"productKey": "mug", "productName": "Mug (new)", "sku": "MUG-B", "openingStock": 1},
        ]),
    )
    .await;
    let imp = &second["import"];
    assert_eq!(
        (
            imp["rowsImported"].clone(),
            imp["variantsCreated"].clone(),
            imp["variantsUpdated"].clone()
        ),
        (json!(3), json!(2), json!(1)),
        "{second}"
    );
    assert_eq!(
        (
            imp["productsCreated"].clone(),
            imp["productsUpdated"].clone()
        ),
        (json!(1), json!(1))
    );
    assert_eq!(
        imp["errors"],
        json!([
            {"row": 4, "field": "price_MYR", "message": "MYR has 2 decimal places"},
            {"row": 5, "field": "sku", "message": "SKU MUG-B is already on row 2"},
        ])
    );
    // The existing variant kept its name, got the new price, and was counted to 12 (4 reserved).
    let product = app
        .gql(
            Some(&sh.s.token),
            "{ products(first: 5, sortKey: NAME) { edges { node { name description imageUrls variants { sku name prices { amount } } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        product["data"]["products"]["edges"],
        json!([
            {"node": {"name": "Cup", "description": "", "imageUrls": [], "variants": [{"sku": "CUP", "name": "", "prices": []}]}},
            {"node": {"name": "Mug (new)", "description": "Stoneware", "imageUrls": ["https://cdn.example/mug.jpg"], "variants": [
                {"sku": "MUG-W", "name": "White", "prices": [{"amount": "10.50"}]},
                {"sku": "MUG-B", "name": "Black", "prices": [{"amount": "10.50"}]}]}},
        ]),
        "{product}"
    );
    assert_eq!(
        level(&app, &sh, &mug).await,
        json!({"onHand": 12, "reserved": 4, "safetyStock": 0, "available": 8})
    );
    // Counting below the reserved units is a row error, and nothing of that row is written.
    let third = import_rows(
        &app,
        &sh,
        json!([
            {"productName": "Mug (new)", "sku": "MUG-W", "variantName": "Renamed",
             "prices": [{"amount": "1.00", "currencyCode": "MYR"}], "openingStock": 3},
            {"productName": "Tea", "sku": "TEA", "openingStock": 2},
        ]),
    )
    .await;
    assert_eq!(
        third["import"]["errors"],
        json!([{"row": 1, "field": "openingStock", "message": "3 is below the 4 units reserved at this location"}]),
        "{third}"
    );
    assert_eq!(
        owner_rows(&app, &sh.org, "SELECT v.name || ' ' || p.amount_minor FROM variants v JOIN variant_prices p ON p.variant_id = v.id WHERE v.sku = 'MUG-W'").await,
        ["White 1050"]
    );
    assert_ledger_equals_levels(&app, &sh.org).await;
}

#[tokio::test]
async fn whole_input_problems_are_refused_and_write_nothing() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "import-refused").await;
    let other = shop(&app, "import-other").await;
    let t = Some(sh.s.token.as_str());
    let row = json!({"productName": "A", "sku": "A-1", "openingStock": 1});
    let cases = [
        (json!({}), "input"),
        (json!({"rows": []}), "input"),
        (
            json!({"rows": [row], "locationId": other.location}),
            "NOT_FOUND",
        ),
        (
            json!({"rows": [row], "locationId": "not-an-id"}),
            "NOT_FOUND",
        ),
    ];
    for (input, expected) in cases {
        let body = app.gql(t, IMPORT, json!({"i": input})).await;
        let e = &body["data"]["importCatalog"]["userErrors"][0];
        let field: Vec<&str> = e["field"]
            .as_array()
            .map(|f| f.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        assert!(
            field.join(".") == expected || e["code"] == expected,
            "{input}: {body}"
        );
        assert!(body["data"]["importCatalog"]["import"].is_null());
    }
    // Opening stock without a location is a row error; the row is not written.
    let body = app.gql(t, IMPORT, json!({"i": {"rows": [row]}})).await;
    assert_eq!(
        body["data"]["importCatalog"]["import"]["errors"],
        json!([{"row": 1, "field": "openingStock", "message": "opening stock needs input.locationId"}])
    );
    // CSV: an unknown column and more than 10,000 rows are refused outright.
    for (csv, message) in [
        (
            "product_name,sku,colour\nA,A-1,red\n".to_owned(),
            "unknown column",
        ),
        (
            format!("product_name,sku\n{}", "A,B\n".repeat(10_001)),
            "at most 10000 rows",
        ),
    ] {
        let (status, body) = app
            .upload(
                t,
                IMPORT,
                json!({"i": {"csv": null}}),
                "variables.i.csv",
                csv.as_bytes(),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        let e = &body["data"]["importCatalog"]["userErrors"][0];
        assert!(e["message"].as_str().unwrap().contains(message), "{body}");
    }
    // An anonymous upload is refused before the body is read.
    let (status, _) = app
        .upload(
            None,
            IMPORT,
            json!({"i": {"csv": null}}),
            "variables.i.csv",
            b"product_name,sku\n",
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM products").await,
        0
    );
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM stock_movements").await,
        0
    );
}

#[tokio::test]
async fn importing_into_a_bundle_sku_cannot_set_its_derived_stock() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "import-bundle").await;
    let parts = product(&app, &sh, &["PART"]).await;
    let pid = owner_rows(
        &app,
        &sh.org,
        "SELECT product_id::text FROM variants WHERE sku = 'PART'",
    )
    .await;
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: CreateBundleInput!) { createBundle(input: $i) { variant { id } userErrors { code message } } }",
            json!({"i": {"productId": gid("Product", &pid[0]), "variant": {"sku": "KIT"}, "components": [{"variantId": parts[0], "quantity": 2}]}}),
        )
        .await;
    assert_eq!(
        body["data"]["createBundle"]["userErrors"],
        json!([]),
        "{body}"
    );
    let r = import_rows(
        &app,
        &sh,
        json!([{"productName": "Thing", "sku": "KIT", "openingStock": 5}]),
    )
    .await;
    assert_eq!(
        r["import"]["errors"],
        json!([{"row": 1, "field": "openingStock", "message": "the SKU is a bundle: its stock is derived from its components"}])
    );
    assert_eq!(
        count(&app, &sh.org, "SELECT count(*)::text FROM inventory_levels").await,
        0
    );
}
