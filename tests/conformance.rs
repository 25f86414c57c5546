//! What GraphQL clients and browsers expect of the HTTP surface (issue #18), checked over real
//! HTTP: the standard introspection query, CORS for configured origins, GET for queries only
//! (with CSRF prevention), compression, automatic persisted queries, typed error codes, the
//! non-null rule, one scope per piece of data, and GraphiQL served by the binary.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::stock::{self, shop};
use mercato_tests::*;
use serde_json::{Value, json};
use sha2::Digest as _;

/// `/graphql` with these URL parameters.
fn graphql_url(app: &TestApp, params: &[(&str, &str)]) -> String {
    url::Url::parse_with_params(&format!("{}/graphql", app.base), params)
        .unwrap()
        .to_string()
}

/// graphql-js 16's `getIntrospectionQuery` with every option on (what GraphiQL, codegen,
/// Postman and Insomnia send, give or take options): it nests 15 levels through `ofType`.
const INTROSPECTION: &str = include_str!("fixtures/introspection.graphql");

#[tokio::test]
async fn the_standard_introspection_query_loads_the_schema_while_real_queries_keep_their_depth_limit()
 {
    let app = TestApp::spawn().await;
    let s = app.sign_up("intro", Some("Intro Co")).await;
    for token in [None, Some(s.token.as_str())] {
        let body = app.gql(token, INTROSPECTION, json!({})).await;
        assert!(body["errors"].is_null(), "{body}");
        let types = body["data"]["__schema"]["types"].as_array().unwrap();
        assert!(types.iter().any(|t| t["name"] == "Product"), "{body}");
        assert_eq!(body["data"]["__schema"]["queryType"]["name"], "Query");
    }
    // Lists of types and fields nested inside each other are what multiplies: refused at 3, as
    // graphql-js's MaxIntrospectionDepthRule does.
    let bomb = "{ __schema { types { fields { type { fields { type { fields { name } } } } } } } }";
    let body = app.gql(Some(&s.token), bomb, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_DEPTH_EXCEEDED", "{body}");
    assert!(body["data"].is_null(), "{body}");
    // A real query 13 levels deep is still refused (the limit is 12)...
    let deep = "{ organization { branches { edges { node { stores { edges { node { branch { organization { branches { edges { node { id } } } } } } } } } } } } }";
    let body = app.gql(Some(&s.token), deep, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_DEPTH_EXCEEDED", "{body}");
    // ...and the refusal carries no `locations` (the spec's lines start at 1; it used to say 0:0).
    assert!(body["errors"][0].get("locations").is_none(), "{body}");
}

#[tokio::test]
async fn cors_answers_configured_origins_only() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.limits.allowed_origins = vec!["https://app.example.test".into()];
    let app = TestApp::spawn_with(config, db).await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, format!("{}/graphql", app.base))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header(
                "access-control-request-headers",
                "authorization,content-type",
            )
            .send()
    };
    let ok = preflight("https://app.example.test").await.unwrap();
    assert!(ok.status().is_success(), "{}", ok.status());
    let h = ok.headers();
    assert_eq!(h["access-control-allow-origin"], "https://app.example.test");
    let methods = h["access-control-allow-methods"].to_str().unwrap();
    assert!(
        methods.contains("POST") && methods.contains("GET"),
        "{methods}"
    );
    let headers = h["access-control-allow-headers"].to_str().unwrap();
    assert!(headers.contains("authorization") && headers.contains("content-type"));
    // Never credentials, never a wildcard.
    assert!(h.get("access-control-allow-credentials").is_none());

    let other = preflight("https://evil.example.test").await.unwrap();
    assert!(
        other.headers().get("access-control-allow-origin").is_none(),
        "{:?}",
        other.headers()
    );

    // The actual request carries the header too, and exposes the request id.
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("origin", "https://app.example.test")
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.headers()["access-control-allow-origin"],
        "https://app.example.test"
    );
    assert!(
        resp.headers()["access-control-expose-headers"]
            .to_str()
            .unwrap()
            .contains("x-request-id")
    );
}

#[tokio::test]
async fn get_runs_queries_never_mutations_and_needs_a_preflighted_header() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("get", Some("Get Co")).await;
    let get = |query: &str, token: Option<&str>| {
        let mut req = app.client.get(graphql_url(&app, &[("query", query)]));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    // A query with the caller's token.
    let resp = get("{ viewer { user { id } } }", Some(&s.token))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["viewer"]["user"]["id"], s.user_id.as_str());

    // Variables and the operation name travel as parameters too.
    let resp = app
        .client
        .get(graphql_url(
            &app,
            &[
                ("query", "query A($n: Int!) { products(first: $n) { edges { node { id } } } } query B { __typename }"),
                ("variables", r#"{"n": 1}"#),
                ("operationName", "A"),
            ],
        ))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert!(body["data"]["products"]["edges"].is_array(), "{body}");

    // A mutation over GET: 405, Allow: POST, and nothing happened.
    let resp = get(
        r#"mutation { createBranch(input: {name: "Sneaky"}) { branch { id } } }"#,
        Some(&s.token),
    )
    .await
    .unwrap();
    assert_eq!(resp.status(), 405);
    assert_eq!(resp.headers()["allow"], "POST");
    let body: Value = resp.json().await.unwrap();
    assert_eq!(first_error_code(&body), "METHOD_NOT_ALLOWED");
    let branches = app
        .gql(
            Some(&s.token),
            "{ organization { branches { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    assert!(!branches.to_string().contains("Sneaky"), "{branches}");

    // Without a header a cross-site link could not send (CSRF prevention): refused.
    let resp = get("{ __typename }", None).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(first_error_code(&body), "CSRF_PREVENTED");
    // With Apollo's preflight header an anonymous GET is fine.
    let resp = app
        .client
        .get(graphql_url(&app, &[("query", "{ __typename }")]))
        .header("apollo-require-preflight", "true")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
}

#[tokio::test]
async fn large_responses_are_compressed_small_ones_are_not() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("gzip", Some("Gzip Co")).await;
    for encoding in ["gzip", "br"] {
        let resp = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&s.token)
            .header("accept-encoding", encoding)
            .json(&json!({ "query": INTROSPECTION }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.headers()["content-encoding"], encoding);
        let compressed = resp.bytes().await.unwrap().len();
        let plain = app
            .client
            .post(format!("{}/graphql", app.base))
            .bearer_auth(&s.token)
            .json(&json!({ "query": INTROSPECTION }))
            .send()
            .await
            .unwrap();
        assert!(plain.headers().get("content-encoding").is_none());
        let plain = plain.bytes().await.unwrap().len();
        assert!(
            compressed * 4 < plain,
            "{encoding}: {compressed} vs {plain}"
        );
    }
    let small = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("accept-encoding", "gzip")
        .json(&json!({ "query": "{ __typename }" }))
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
}

fn apq(hash: &str, query: Option<&str>) -> Value {
    let mut body = json!({"extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}});
    if let Some(q) = query {
        body["query"] = json!(q);
    }
    body
}

#[tokio::test]
async fn persisted_queries_follow_apollos_protocol_per_organization() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("apqa", Some("Apq A")).await;
    let b = app.sign_up("apqb", Some("Apq B")).await;
    let query = format!(
        "{{ organization {{ name }} __typename # {}\n}}",
        uuid::Uuid::new_v4()
    );
    let hash = hex::encode(sha2::Sha256::digest(query.as_bytes()));

    // Unknown hash: the code Apollo's link falls back on.
    let (status, body) = app.post(Some(&a.token), apq(&hash, None)).await;
    assert_eq!(status, 200);
    assert_eq!(
        first_error_code(&body),
        "PERSISTED_QUERY_NOT_FOUND",
        "{body}"
    );
    assert_eq!(body["errors"][0]["message"], "PersistedQueryNotFound");

    // A wrong hash is refused and not stored.
    let (_, body) = app
        .post(Some(&a.token), apq(&"0".repeat(64), Some(&query)))
        .await;
    assert_eq!(first_error_code(&body), "VALIDATION_FAILED", "{body}");

    // Query and hash: runs and is remembered.
    let (_, body) = app.post(Some(&a.token), apq(&hash, Some(&query))).await;
    assert_eq!(body["data"]["organization"]["name"], "Apq A", "{body}");
    let (_, body) = app.post(Some(&a.token), apq(&hash, None)).await;
    assert_eq!(body["data"]["organization"]["name"], "Apq A", "{body}");
    // Over GET too (Apollo's useGETForHashedQueries).
    let resp = app
        .client
        .get(graphql_url(
            &app,
            &[(
                "extensions",
                &json!({"persistedQuery": {"version": 1, "sha256Hash": hash}}).to_string(),
            )],
        ))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["data"]["organization"]["name"], "Apq A", "{body}");

    // Another organization cannot use (or learn of) A's document.
    let (_, body) = app.post(Some(&b.token), apq(&hash, None)).await;
    assert_eq!(
        first_error_code(&body),
        "PERSISTED_QUERY_NOT_FOUND",
        "{body}"
    );
    // An unsupported version is a clear error.
    let (_, body) = app
        .post(
            Some(&a.token),
            json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": hash}}}),
        )
        .await;
    assert_eq!(first_error_code(&body), "VALIDATION_FAILED", "{body}");
}

#[tokio::test]
async fn errors_carry_codes_and_failed_fields_follow_the_non_null_rule() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("errs", Some("Errs Co")).await;
    // Validation and parse errors have codes clients can branch on.
    let body = app.gql(Some(&s.token), "{ nope }", json!({})).await;
    assert_eq!(
        first_error_code(&body),
        "GRAPHQL_VALIDATION_FAILED",
        "{body}"
    );
    let body = app.gql(Some(&s.token), "{ nope ", json!({})).await;
    assert_eq!(first_error_code(&body), "GRAPHQL_PARSE_FAILED", "{body}");

    // A lookup by id that finds nothing is null, like `node`, `product` and `order`.
    let missing = gid("SyncRun", &uuid::Uuid::new_v4().to_string());
    let body = app
        .gql(
            Some(&s.token),
            "query($id: ID!) { viewer { user { id } } syncRun(id: $id) { id } job(id: $id) { id } }",
            json!({"id": missing}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    let data = body["data"].as_object().unwrap();
    assert!(
        data["syncRun"].is_null() && data.contains_key("syncRun"),
        "{body}"
    );
    assert!(data["job"].is_null() && data.contains_key("job"), "{body}");

    // A failing non-null root field nulls the whole `data` (it used to drop only its key).
    let body = app
        .gql(
            Some(&s.token),
            r#"{ viewer { user { id } } stockLevel(variantId: "x", locationId: "y") { onHand } }"#,
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&body), "NOT_FOUND", "{body}");
    assert!(body["data"].is_null(), "{body}");
    assert_eq!(body["errors"][0]["path"], json!(["stockLevel"]));

    // A failure under a nullable field nulls that field, present in `data`, and its siblings stay.
    let sh = shop(&app, "errs2").await;
    let token = app
        .create_api_token(&sh.s, "catalog only", &["CATALOG_READ"], None)
        .await
        .1;
    let product = app
        .gql(
            Some(&sh.s.token),
            r#"mutation { createProduct(input: {name: "P", variants: [{sku: "E-1"}]}) { product { id } } }"#,
            json!({}),
        )
        .await["data"]["createProduct"]["product"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let body = app
        .gql(
            Some(&token),
            "query($id: ID!) { product(id: $id) { name variants { sku stockLevels { onHand } } } organization { name } }",
            json!({"id": product}),
        )
        .await;
    assert_eq!(first_error_code(&body), "FORBIDDEN", "{body}");
    // The error is reported where it happened...
    assert_eq!(
        body["errors"][0]["path"],
        json!(["product", "variants", 0, "stockLevels"]),
        "{body}"
    );
    // ...and `stockLevels: [StockLevel!]!` (non-null) nulls its variant, which (non-null in the
    // non-null `variants`) nulls the product: `product` is nullable, so it is the one set to null.
    let data = body["data"].as_object().unwrap();
    assert!(
        data.contains_key("product") && data["product"].is_null(),
        "{body}"
    );
    assert_eq!(data["organization"]["name"], "errs2 Co", "{body}");
}

#[tokio::test]
async fn every_path_to_stock_needs_inventory_read() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "scope").await;
    let v = stock::product(&app, &sh, &["S-1"]).await;
    stock::receive(&app, &sh, &v[0], 7).await;
    let catalog = app
        .create_api_token(&sh.s, "catalog", &["CATALOG_READ"], None)
        .await
        .1;
    let both = app
        .create_api_token(&sh.s, "both", &["CATALOG_READ", "INVENTORY_READ"], None)
        .await
        .1;
    let q = "{ products(first: 5) { edges { node { variants { sku stockLevels { onHand } } } } } }";
    let body = app.gql(Some(&catalog), q, json!({})).await;
    assert_eq!(first_error_code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("\"onHand\":7"), "{body}");
    let body = app.gql(Some(&both), q, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert!(body.to_string().contains("\"onHand\":7"), "{body}");
    // The same through node(id:) on the variant.
    let body = app
        .gql(
            Some(&catalog),
            "query($id: ID!) { node(id: $id) { ... on Variant { sku stockLevels { onHand } } } }",
            json!({"id": v[0]}),
        )
        .await;
    assert_eq!(first_error_code(&body), "FORBIDDEN", "{body}");
    assert!(!body.to_string().contains("\"onHand\":7"), "{body}");
    // Catalog fields alone are fine with catalog:read.
    let body = app
        .gql(
            Some(&catalog),
            "{ products(first: 5) { edges { node { variants { sku prices { amount } } } } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
}

#[tokio::test]
async fn graphiql_is_served_by_the_binary_with_nothing_from_elsewhere() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.unwrap();
    // Every script and stylesheet comes from this server.
    let mut assets = Vec::new();
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let url = part.split('"').next().unwrap();
            assert!(url.starts_with('/'), "external asset {url}");
            assets.push(url.to_owned());
        }
    }
    assert!(assets.len() >= 6, "{assets:?}");
    for url in assets {
        let resp = app
            .client
            .get(format!("{}{url}", app.base))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{url}");
        assert!(!resp.bytes().await.unwrap().is_empty(), "{url}");
    }
    // The SDL for codegen and the page's link (introspection is on in tests).
    let sdl = app
        .client
        .get(format!("{}/graphql/schema.graphql", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(sdl.contains("type Query"), "{sdl}");
}

/// The catalog page of the README and the benchmarks: 50 products with their variants, prices and
/// stock levels.
const PRODUCT_PAGE: &str = "{ products(first: 50) { edges { cursor node { id name status variants(first: 10) { id sku prices { amount currencyCode } stockLevels { onHand reserved available } } } } pageInfo { hasNextPage endCursor } } }";
/// The order list: 50 orders with totals, lines and store.
const ORDER_PAGE: &str = "{ orders(first: 50) { edges { node { id externalId status placedAt totals { total { amount currencyCode } } items { sellerSku name quantity unitPrice { amount } } store { name } } } } }";

#[tokio::test]
async fn the_common_screens_fit_in_one_request_under_the_default_cost_limit() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    let defaults = mercato::config::Limits::default();
    config.limits.cost_bucket_max = defaults.cost_bucket_max;
    config.limits.cost_restore_rate = defaults.cost_restore_rate;
    assert_eq!(config.limits.cost_bucket_max, 1000);
    let app = TestApp::spawn_with(config, db).await;
    let sh = shop(&app, "screens").await;
    let variants = stock::product(&app, &sh, &["SC-1", "SC-2", "SC-3"]).await;
    stock::receive(&app, &sh, &variants[0], 5).await;
    let cost = |body: &Value, key: &str| body["extensions"]["cost"][key].as_u64().unwrap();

    // 2 (connection) + 50 × (1 product + 10 × 1 variant); prices and levels are values.
    let body = app.gql(Some(&sh.s.token), PRODUCT_PAGE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(cost(&body, "requestedQueryCost"), 552, "{body}");
    // What it really held: the connection, 1 product, 3 variants.
    assert_eq!(cost(&body, "actualQueryCost"), 6, "{body}");
    assert_eq!(
        body["data"]["products"]["edges"][0]["node"]["variants"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    // `first` on variants truncates, oldest first.
    let body = app
        .gql(
            Some(&sh.s.token),
            "{ products(first: 1) { nodes { variants(first: 2) { sku } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        body["data"]["products"]["nodes"][0]["variants"],
        json!([{"sku": "SC-1"}, {"sku": "SC-2"}]),
        "{body}"
    );

    // 2 + 50 × (1 order + 1 store); totals and lines are values.
    let body = app.gql(Some(&sh.s.token), ORDER_PAGE, json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    assert_eq!(cost(&body, "requestedQueryCost"), 102, "{body}");

    // Without `first` on variants the estimate assumes 100 of them: refused, with the way out.
    let no_first = "{ products(first: 50) { edges { node { variants { sku } } } } }";
    let body = app.gql(Some(&sh.s.token), no_first, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_COST_EXCEEDED", "{body}");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("first/last"),
        "{body}"
    );
}

#[tokio::test]
async fn connections_page_both_ways_and_count_their_items() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "relay").await;
    for i in 0..5 {
        app.gql(
            Some(&sh.s.token),
            "mutation($i: CreateProductInput!) { createProduct(input: $i) { product { id } } }",
            json!({"i": {"name": format!("P{i}"), "variants": [{"sku": format!("R-{i}")}]}}),
        )
        .await;
    }
    let names = |body: &Value| -> Vec<String> {
        body["data"]["products"]["edges"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["node"]["name"].as_str().unwrap().to_owned())
            .collect()
    };
    let page = "query($f: Int, $a: String, $l: Int, $b: String, $s: ProductSortKey, $r: Boolean) { products(first: $f, after: $a, last: $l, before: $b, sortKey: $s, reverse: $r) { totalCount edges { cursor node { name } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }";
    for (sort, reverse) in [("CREATED_AT", false), ("NAME", true), ("UPDATED_AT", false)] {
        let all = app
            .gql(
                Some(&sh.s.token),
                page,
                json!({"f": 5, "s": sort, "r": reverse}),
            )
            .await;
        let every = names(&all);
        assert_eq!(every.len(), 5, "{all}");
        assert_eq!(all["data"]["products"]["totalCount"], 5);
        // The last 2, then the 2 before them, then the 1 before those.
        let last = app
            .gql(
                Some(&sh.s.token),
                page,
                json!({"l": 2, "s": sort, "r": reverse}),
            )
            .await;
        assert_eq!(names(&last), every[3..], "{sort}: {last}");
        let info = &last["data"]["products"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], true);
        let before = app
            .gql(
                Some(&sh.s.token),
                page,
                json!({"l": 2, "b": info["startCursor"], "s": sort, "r": reverse}),
            )
            .await;
        assert_eq!(names(&before), every[1..3], "{sort}: {before}");
        let info = &before["data"]["products"]["pageInfo"];
        assert_eq!(info["hasPreviousPage"], true);
        assert_eq!(info["hasNextPage"], true);
        let first = app
            .gql(
                Some(&sh.s.token),
                page,
                json!({"l": 2, "b": info["startCursor"], "s": sort, "r": reverse}),
            )
            .await;
        assert_eq!(names(&first), every[..1], "{sort}: {first}");
        assert_eq!(
            first["data"]["products"]["pageInfo"]["hasPreviousPage"],
            false
        );
        // Forwards from the first page's end meets the same items.
        let next = app
            .gql(
                Some(&sh.s.token),
                page,
                json!({"f": 2, "a": first["data"]["products"]["pageInfo"]["endCursor"], "s": sort, "r": reverse}),
            )
            .await;
        assert_eq!(names(&next), every[1..3], "{sort}: {next}");
    }
    // first and last together are a typed error.
    let both = app
        .gql(Some(&sh.s.token), page, json!({"f": 1, "l": 1}))
        .await;
    assert_eq!(first_error_code(&both), "VALIDATION_FAILED", "{both}");
    // totalCount follows the filter.
    let body = app
        .gql(
            Some(&sh.s.token),
            r#"{ products(first: 1, query: "P3") { totalCount } }"#,
            json!({}),
        )
        .await;
    assert_eq!(body["data"]["products"]["totalCount"], 1, "{body}");
    // A product is a Node.
    let id = app
        .gql(
            Some(&sh.s.token),
            "{ products(first: 1) { nodes { id } } }",
            json!({}),
        )
        .await["data"]["products"]["nodes"][0]["id"]
        .clone();
    let body = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { node(id: $id) { __typename ... on Product { name } } }",
            json!({"id": id}),
        )
        .await;
    assert_eq!(body["data"]["node"]["__typename"], "Product", "{body}");
}

#[tokio::test]
async fn every_request_leaves_one_info_line_with_status_latency_and_request_id() {
    let app = TestApp::spawn().await;
    let server = mercato_tests::procs::server(&app, &[("MERCATO_LOG_FORMAT", "json")]).await;
    let addr = server.addr.clone().unwrap();
    let rid = uuid::Uuid::new_v4().to_string();
    let resp = app
        .client
        .post(format!("http://{addr}/graphql"))
        .header("x-request-id", &rid)
        .json(&json!({"query": "{ __typename }"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    server
        .wait_for_log(&rid, std::time::Duration::from_secs(10))
        .await;
    // The default filter (`info`) keeps it: one line per request, at INFO.
    let line = server
        .logs()
        .lines()
        .find(|l| l.contains(&rid) && l.contains("finished processing request"))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no request line for {rid}:\n{}", server.logs()));
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["level"], "INFO", "{line}");
    assert_eq!(v["fields"]["status"], 200, "{line}");
    assert!(v["fields"]["latency"].is_string(), "{line}");
    assert_eq!(v["span"]["path"], "/graphql", "{line}");
    assert_eq!(v["span"]["method"], "POST", "{line}");
}
