//! Branch and store mutations: validation, conflicts, audit trail, atomicity and pagination.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::*;
use serde_json::{Value, json};

async fn audit_actions(app: &TestApp, org_gid: &str) -> Vec<String> {
    owner_rows(
        app,
        &gid_uuid(org_gid),
        "SELECT action FROM audit_events ORDER BY id",
    )
    .await
}

#[tokio::test]
async fn branch_crud_validates_input_and_audits_every_change() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("crud", Some("Crud Co")).await;
    let org = s.org_id.clone().unwrap();
    let t = Some(s.token.as_str());
    let b = app.create_branch(&s, "Nairobi").await;

    let q = "mutation($i: CreateBranchInput!) { createBranch(input: $i) { branch { id } userErrors { field code message } } }";
    let dup = app
        .gql(t, q, json!({ "i": { "name": "  nairobi " } }))
        .await;
    assert_eq!(
        dup["data"]["createBranch"]["userErrors"][0]["code"], "CONFLICT",
        "{dup}"
    );
    let blank = app.gql(t, q, json!({ "i": { "name": "   " } })).await;
    assert_eq!(
        blank["data"]["createBranch"]["userErrors"][0]["field"],
        json!(["input", "name"]),
        "{blank}"
    );
    let long = app
        .gql(t, q, json!({ "i": { "name": "x".repeat(121) } }))
        .await;
    assert_eq!(
        long["data"]["createBranch"]["userErrors"][0]["code"], "VALIDATION_FAILED",
        "{long}"
    );

    let upd = app
        .gql(t, "mutation($i: UpdateBranchInput!) { updateBranch(input: $i) { branch { name } userErrors { code } } }", json!({ "i": { "id": b, "name": "Nairobi CBD" } }))
        .await;
    assert_eq!(upd["data"]["updateBranch"]["branch"]["name"], "Nairobi CBD");

    let store = app.connect_store(&s, &b, "s1", None).await;
    let del_q = "mutation($i: DeleteBranchInput!) { deleteBranch(input: $i) { deletedBranchId userErrors { code message } } }";
    let busy = app.gql(t, del_q, json!({ "i": { "id": b } })).await;
    assert_eq!(
        busy["data"]["deleteBranch"]["userErrors"][0]["code"], "CONFLICT",
        "{busy}"
    );
    let other = app.create_branch(&s, "Mombasa").await;
    app.gql(
        t,
        "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { id } } }",
        json!({ "i": { "id": store, "branchId": other } }),
    )
    .await;
    let gone = app.gql(t, del_q, json!({ "i": { "id": b } })).await;
    assert_eq!(
        gone["data"]["deleteBranch"]["deletedBranchId"],
        b.as_str(),
        "{gone}"
    );

    assert_eq!(
        audit_actions(&app, &org).await,
        [
            "organization.create",
            "branch.create",
            "branch.update",
            "store.connect",
            "branch.create",
            "store.update",
            "branch.delete"
        ]
    );
}

#[tokio::test]
async fn connect_store_rejects_bad_input_and_leaves_nothing_half_written() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("stores", Some("Store Co")).await;
    let org = s.org_id.clone().unwrap();
    let t = Some(s.token.as_str());
    let b = app.create_branch(&s, "Main").await;
    app.connect_store(&s, &b, "taken", None).await;
    let before = audit_actions(&app, &org).await;

    let q = "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { field code message } } }";
    let base = json!({ "branchId": b, "platform": "TIKTOK_SHOP", "externalShopId": "new", "name": "N", "region": "MY", "currency": "MYR" });
    let with = |k: &str, v: Value| {
        let mut i = base.clone();
        i[k] = v;
        json!({ "i": i })
    };
    let cases = [
        (
            with("currency", json!("XYZ")),
            Some(json!(["input", "currency"])),
            "VALIDATION_FAILED",
        ),
        (
            with("region", json!("Malaysia")),
            Some(json!(["input", "region"])),
            "VALIDATION_FAILED",
        ),
        (
            with("name", json!("")),
            Some(json!(["input", "name"])),
            "VALIDATION_FAILED",
        ),
        (
            with("externalShopId", json!("")),
            Some(json!(["input", "externalShopId"])),
            "VALIDATION_FAILED",
        ),
        (
            with("credentials", json!("a string")),
            Some(json!(["input", "credentials"])),
            "VALIDATION_FAILED",
        ),
        (
            with("credentials", json!({})),
            Some(json!(["input", "credentials"])),
            "VALIDATION_FAILED",
        ),
        (
            with(
                "branchId",
                json!(gid("Branch", &uuid::Uuid::now_v7().to_string())),
            ),
            Some(json!(["input", "branchId"])),
            "VALIDATION_FAILED",
        ),
        (
            {
                // The shop the helper registered (a Kilimall store): already a store here.
                let mut v = with("externalShopId", json!("taken"));
                v["i"]["platform"] = json!("KILIMALL");
                v
            },
            None,
            "CONFLICT",
        ),
    ];
    for (vars, field, code) in cases {
        let body = app.gql(t, q, vars.clone()).await;
        let p = &body["data"]["connectStore"];
        assert_eq!(p["store"], Value::Null, "{vars} -> {body}");
        assert_eq!(p["userErrors"][0]["code"], code, "{vars} -> {body}");
        if let Some(f) = field {
            assert_eq!(p["userErrors"][0]["field"], f, "{vars} -> {body}");
        }
    }
    let stores = owner_rows(&app, &gid_uuid(&org), "SELECT external_shop_id FROM stores").await;
    assert_eq!(stores, vec!["taken"]);
    assert_eq!(
        audit_actions(&app, &org).await,
        before,
        "a failed mutation wrote an audit event"
    );

    // Lower-case codes are normalised; a valid currency without minor units is fine.
    let ok = app.gql(t, q, json!({ "i": { "branchId": b, "platform": "SHOPEE", "externalShopId": "id-1", "name": "Shopee ID", "region": "id", "currency": "idr" } })).await;
    assert!(
        ok["data"]["connectStore"]["store"]["id"].is_string(),
        "{ok}"
    );
}

#[tokio::test]
async fn in_one_operation_a_failed_mutation_rolls_back_alone() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("atomic", Some("Atomic Co")).await;
    let org = s.org_id.clone().unwrap();
    let body = app
        .gql(Some(&s.token), "mutation { a: createBranch(input: { name: \"One\" }) { branch { id } userErrors { code } }
                                      b: createBranch(input: { name: \"one\" }) { branch { id } userErrors { code } }
                                      c: createBranch(input: { name: \"Two\" }) { branch { id } userErrors { code } } }", json!({}))
        .await;
    assert!(body["data"]["a"]["branch"]["id"].is_string());
    assert_eq!(body["data"]["b"]["userErrors"][0]["code"], "CONFLICT");
    assert!(body["data"]["c"]["branch"]["id"].is_string());
    let names = owner_rows(
        &app,
        &gid_uuid(&org),
        "SELECT name FROM branches ORDER BY id",
    )
    .await;
    assert_eq!(names, ["One", "Two"]);
}

#[tokio::test]
async fn archive_erases_credentials_and_cannot_be_repeated() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("arch", Some("Arch Co")).await;
    let b = app.create_branch(&s, "Main").await;
    let store = app
        .connect_store(&s, &b, "a1", Some(json!({ "k": "v" })))
        .await;
    let q = "mutation($i: ArchiveStoreInput!) { archiveStore(input: $i) { store { status hasCredentials archivedAt } userErrors { code } } }";
    let first = app
        .gql(Some(&s.token), q, json!({ "i": { "id": store } }))
        .await;
    let st = &first["data"]["archiveStore"]["store"];
    assert_eq!(
        (st["status"].clone(), st["hasCredentials"].clone()),
        (json!("ARCHIVED"), json!(false)),
        "{first}"
    );
    assert!(st["archivedAt"].is_string());
    let again = app
        .gql(Some(&s.token), q, json!({ "i": { "id": store } }))
        .await;
    assert_eq!(
        again["data"]["archiveStore"]["userErrors"][0]["code"],
        "CONFLICT"
    );
    let filtered = app
        .gql(
            Some(&s.token),
            "{ organization { stores(filter: { status: ACTIVE }) { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        filtered["data"]["organization"]["stores"]["edges"],
        json!([])
    );
}

#[tokio::test]
async fn connections_page_forwards_and_backwards_and_cap_at_100() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("page", Some("Page Co")).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_branch(&s, &format!("B{i}")).await);
    }
    let q = "query($f: Int, $a: String, $l: Int, $b: String) { organization { branches(first: $f, after: $a, last: $l, before: $b) {
               edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } } }";
    let page = |v: Value| {
        let app = &app;
        let t = s.token.clone();
        async move { app.gql(Some(&t), q, v).await["data"]["organization"]["branches"].clone() }
    };
    let p1 = page(json!({ "f": 2 })).await;
    let got: Vec<_> = p1["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids[..2]);
    assert_eq!(p1["pageInfo"]["hasNextPage"], true);
    let p2 = page(json!({ "f": 2, "a": p1["pageInfo"]["endCursor"] })).await;
    let got: Vec<_> = p2["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids[2..4]);
    let p3 = page(json!({ "f": 2, "a": p2["pageInfo"]["endCursor"] })).await;
    assert_eq!(p3["edges"].as_array().unwrap().len(), 1);
    assert_eq!(p3["pageInfo"]["hasNextPage"], false);
    let back = page(json!({ "l": 2, "b": p3["pageInfo"]["startCursor"] })).await;
    let got: Vec<_> = back["edges"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["node"]["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(got, ids[2..4]);
    assert_eq!(back["pageInfo"]["hasPreviousPage"], true);

    let too_many = app
        .gql(
            Some(&s.token),
            "{ organization { branches(first: 101) { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        first_error_code(&too_many),
        "VALIDATION_FAILED",
        "{too_many}"
    );
    let bad_cursor = app
        .gql(
            Some(&s.token),
            "{ organization { branches(after: \"@@\") { edges { node { id } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        first_error_code(&bad_cursor),
        "VALIDATION_FAILED",
        "{bad_cursor}"
    );
}
