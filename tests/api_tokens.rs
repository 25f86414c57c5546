//! Partner API tokens: shown once, hashed at rest, checksummed (malformed ones never reach the
//! database), scoped, branch-limited, revocable, expiring, tenant-bound, and their last use
//! recorded off the hot path.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::*;
use serde_json::json;

const STORES: &str = "{ organization { stores(first: 10) { nodes { id name } } } }";

#[tokio::test]
async fn the_secret_is_shown_once_recognisable_and_only_its_hash_is_stored() {
    use sha2::Digest as _;
    let app = TestApp::spawn().await;
    let owner = app.sign_up("tok", Some("Token Co")).await;
    let (id, secret) = app
        .create_api_token(&owner, "erp", &["STORES_READ"], None)
        .await;
    assert!(secret.starts_with("mrc_") && secret.len() == 50, "{secret}");
    let listed = app
        .gql(Some(&owner.token), "{ organization { apiTokens(first: 10) { nodes { id name displayPrefix scopes branchIds revokedAt } } } }", json!({}))
        .await;
    let node = &listed["data"]["organization"]["apiTokens"]["nodes"][0];
    assert_eq!(node["id"], id.as_str());
    assert_eq!(node["scopes"], json!(["STORES_READ"]));
    assert!(secret.starts_with(node["displayPrefix"].as_str().unwrap()));
    assert!(
        !listed.to_string().contains(&secret),
        "the secret is never listed"
    );
    let rows = owner_rows(
        &app,
        &gid_uuid(owner.org_id.as_ref().unwrap()),
        "SELECT row_to_json(t)::text FROM api_tokens t",
    )
    .await;
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains(&secret[4..]), "{}", rows[0]);
    let hash = hex::encode(sha2::Sha256::digest(secret.as_bytes()));
    assert!(rows[0].contains(&hash), "{}", rows[0]);
}

#[tokio::test]
async fn a_malformed_token_is_rejected_without_a_database_query() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("mal", Some("Mal Co")).await;
    let (_, secret) = app
        .create_api_token(&owner, "erp", &["STORES_READ"], None)
        .await;
    let before = app.state.api_tokens.lookups();
    let mut flipped = secret.clone().into_bytes();
    flipped[10] = if flipped[10] == b'a' { b'b' } else { b'a' };
    for bad in [
        String::from_utf8(flipped).unwrap(),
        secret[..secret.len() - 1].to_owned(),
        format!("{secret}x"),
        "mrc_".to_owned(),
    ] {
        let (status, body) = app.post(Some(&bad), json!({ "query": STORES })).await;
        assert_eq!(status, 401, "{bad}: {body}");
        assert_eq!(first_error_code(&body), "UNAUTHENTICATED");
    }
    assert_eq!(
        app.state.api_tokens.lookups(),
        before,
        "no lookup for malformed tokens"
    );
    // The well-formed one is looked up once, then served from the cache.
    for _ in 0..3 {
        assert_eq!(
            app.post(Some(&secret), json!({ "query": STORES })).await.0,
            200
        );
    }
    assert_eq!(app.state.api_tokens.lookups(), before + 1);
}

#[tokio::test]
async fn scopes_decide_and_missing_ones_are_forbidden() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("sc", Some("Scope Co")).await;
    let b = app.create_branch(&owner, "Main").await;
    let store = app.connect_store(&owner, &b, "s1", None).await;
    let (_, orders_only) = app
        .create_api_token(&owner, "orders", &["ORDERS_READ"], None)
        .await;
    let (_, reader) = app
        .create_api_token(&owner, "reader", &["STORES_READ"], None)
        .await;
    let (_, writer) = app
        .create_api_token(&owner, "writer", &["STORES_WRITE"], None)
        .await;

    let denied = app.gql(Some(&orders_only), STORES, json!({})).await;
    assert_eq!(first_error_code(&denied), "FORBIDDEN", "{denied}");
    let node = app
        .gql(
            Some(&orders_only),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": store }),
        )
        .await;
    assert_eq!(first_error_code(&node), "FORBIDDEN", "{node}");
    let ok = app.gql(Some(&reader), STORES, json!({})).await;
    assert_eq!(
        ok["data"]["organization"]["stores"]["nodes"][0]["id"],
        store.as_str()
    );

    let rename = "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { name } userErrors { code } } }";
    let vars = json!({ "i": { "id": store, "name": "Renamed by ERP" } });
    assert_eq!(
        first_error_code(&app.gql(Some(&reader), rename, vars.clone()).await),
        "FORBIDDEN"
    );
    let done = app.gql(Some(&writer), rename, vars).await;
    assert_eq!(
        done["data"]["updateStore"]["store"]["name"], "Renamed by ERP",
        "{done}"
    );
    // The audit trail names the token as the actor.
    let actors = owner_rows(
        &app,
        &gid_uuid(owner.org_id.as_ref().unwrap()),
        "SELECT (actor_api_token_id IS NOT NULL AND actor_user_id IS NULL)::text FROM audit_events WHERE action = 'store.update'",
    )
    .await;
    assert_eq!(actors, vec!["true"]);

    // Tokens never manage access, whatever their scopes, and have no viewer.
    let t = app
        .gql(
            Some(&writer),
            "mutation { createApiToken(input: { name: \"x\", scopes: [STORES_READ] }) { secret } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&t), "FORBIDDEN", "{t}");
    let v = app
        .gql(Some(&writer), "{ viewer { user { id } } }", json!({}))
        .await;
    assert_eq!(first_error_code(&v), "FORBIDDEN", "{v}");
}

#[tokio::test]
async fn only_owners_and_admins_manage_tokens_and_input_is_validated() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("mg", Some("Manage Co")).await;
    let x = app.create_branch(&owner, "X").await;
    let manager = joined_member(
        &app,
        &owner,
        "m",
        "MEMBER",
        json!([{ "branchId": x, "role": "MANAGER" }]),
    )
    .await;
    let create = "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { secret userErrors { field code } } }";
    let by_member = app
        .gql(
            Some(&manager.token),
            create,
            json!({ "i": { "name": "m", "scopes": ["STORES_READ"] } }),
        )
        .await;
    assert_eq!(first_error_code(&by_member), "FORBIDDEN");
    let list = app
        .gql(
            Some(&manager.token),
            "{ organization { apiTokens { nodes { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&list), "FORBIDDEN", "{list}");

    let other = app.sign_up("o", Some("Other Co")).await;
    let foreign = app.create_branch(&other, "Theirs").await;
    let cases = [
        (
            json!({ "name": " ", "scopes": ["STORES_READ"] }),
            json!(["input", "name"]),
        ),
        (
            json!({ "name": "n", "scopes": [] }),
            json!(["input", "scopes"]),
        ),
        (
            json!({ "name": "n", "scopes": ["STORES_READ"], "branchIds": [] }),
            json!(["input", "branchIds"]),
        ),
        (
            json!({ "name": "n", "scopes": ["STORES_READ"], "branchIds": [foreign] }),
            json!(["input", "branchIds"]),
        ),
        (
            json!({ "name": "n", "scopes": ["STORES_READ"], "expiresAt": "2020-01-01T00:00:00Z" }),
            json!(["input", "expiresAt"]),
        ),
    ];
    for (input, field) in cases {
        let r = app
            .gql(Some(&owner.token), create, json!({ "i": input }))
            .await;
        let p = &r["data"]["createApiToken"];
        assert!(p["secret"].is_null(), "{r}");
        assert_eq!(p["userErrors"][0]["field"], field, "{r}");
    }
    let rows = owner_rows(
        &app,
        &gid_uuid(owner.org_id.as_ref().unwrap()),
        "SELECT count(*)::text FROM api_tokens",
    )
    .await;
    assert_eq!(rows, vec!["0"], "failed creations wrote nothing");
}

#[tokio::test]
async fn revoked_and_expired_tokens_stop_working() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("rv", Some("Revoke Co")).await;
    let (id, secret) = app
        .create_api_token(&owner, "erp", &["STORES_READ"], None)
        .await;
    assert_eq!(
        app.post(Some(&secret), json!({ "query": STORES })).await.0,
        200
    );
    let r = app
        .gql(Some(&owner.token), "mutation($i: RevokeApiTokenInput!) { revokeApiToken(input: $i) { apiToken { revokedAt } userErrors { code } } }", json!({ "i": { "id": id } }))
        .await;
    assert!(
        r["data"]["revokeApiToken"]["apiToken"]["revokedAt"].is_string(),
        "{r}"
    );
    // Same process: the cache entry is dropped at once.
    assert_eq!(
        app.post(Some(&secret), json!({ "query": STORES })).await.0,
        401
    );

    // Expiry is checked on use, also for a token whose expiry passed after creation.
    let (_, expiring) = app
        .create_api_token(&owner, "short", &["STORES_READ"], None)
        .await;
    owner_exec(
        &app,
        &gid_uuid(owner.org_id.as_ref().unwrap()),
        "UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE name = 'short'",
    )
    .await;
    assert_eq!(
        app.post(Some(&expiring), json!({ "query": STORES }))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn revocation_reaches_another_server_process_within_the_cache_lifetime() {
    let db = fresh_database().await;
    let one = TestApp::spawn_with(test_config(&db), db.clone()).await;
    let two = TestApp::spawn_with(test_config(&db), db).await;
    // Both processes share the database; tokens do not depend on the JWT key.
    let owner = one.sign_up("two", Some("Two Co")).await;
    let (id, secret) = one
        .create_api_token(&owner, "erp", &["STORES_READ"], None)
        .await;
    assert_eq!(
        two.post(Some(&secret), json!({ "query": STORES })).await.0,
        200,
        "cached as valid in two"
    );
    one.gql(
        Some(&owner.token),
        "mutation($i: RevokeApiTokenInput!) { revokeApiToken(input: $i) { userErrors { code } } }",
        json!({ "i": { "id": id } }),
    )
    .await;
    tokio::time::sleep(
        mercato::domain::token_auth::CACHE_TTL + std::time::Duration::from_millis(500),
    )
    .await;
    assert_eq!(
        two.post(Some(&secret), json!({ "query": STORES })).await.0,
        401
    );
}

#[tokio::test]
async fn a_token_never_reaches_another_tenant() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("ta", Some("A Co")).await;
    let b = app.sign_up("tb", Some("B Co")).await;
    let bb = app.create_branch(&b, "B main").await;
    let b_store = app.connect_store(&b, &bb, "b1", None).await;
    let (_, token) = app
        .create_api_token(&a, "a-erp", &["STORES_WRITE"], None)
        .await;
    let node = app
        .gql(
            Some(&token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": b_store }),
        )
        .await;
    assert_eq!(node["data"], json!({ "node": null }));
    let write = app
        .gql(Some(&token), "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { id } userErrors { code } } }",
             json!({ "i": { "id": b_store, "name": "hijacked" } }))
        .await;
    assert_eq!(
        write["data"]["updateStore"]["userErrors"][0]["code"], "NOT_FOUND",
        "{write}"
    );
    let planted = app
        .gql(Some(&token), "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { code message } } }",
             json!({ "i": { "branchId": bb, "platform": "JUMIA", "externalShopId": "p", "name": "planted", "region": "KE", "currency": "KES" } }))
        .await;
    assert!(
        planted["data"]["connectStore"]["store"].is_null(),
        "{planted}"
    );
    let names = owner_rows(
        &app,
        &gid_uuid(b.org_id.as_ref().unwrap()),
        "SELECT name FROM stores",
    )
    .await;
    assert_eq!(names, vec!["Shop b1"]);
}

#[tokio::test]
async fn last_used_at_is_recorded_in_batches() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("lu", Some("Used Co")).await;
    let (_, secret) = app
        .create_api_token(&owner, "erp", &["STORES_READ"], None)
        .await;
    let last_used = async || {
        app.gql(
            Some(&owner.token),
            "{ organization { apiTokens { nodes { lastUsedAt } } } }",
            json!({}),
        )
        .await["data"]["organization"]["apiTokens"]["nodes"][0]["lastUsedAt"]
            .clone()
    };
    assert!(last_used().await.is_null());
    app.post(Some(&secret), json!({ "query": STORES })).await;
    assert!(
        last_used().await.is_null(),
        "not written on the request path"
    );
    assert_eq!(app.state.api_tokens.flush_last_used().await.unwrap(), 1);
    assert!(last_used().await.is_string());
}
