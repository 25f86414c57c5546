//! The permission matrix, table-driven: every mutation tried by every role and by a branch-limited
//! API token. Allowed calls succeed; the others fail with FORBIDDEN and write nothing.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::*;
use serde_json::{Value, json};

struct Fixture {
    owner: Session,
    x: String,
    y: String,
}

const MUTATIONS: &[&str] = &[
    "updateOrganization",
    "createBranch",
    "updateBranch",
    "deleteBranch",
    "connectStoreX",
    "connectStoreY",
    "updateStoreX",
    "archiveStoreX",
    "addMember",
    "addOwner",
    "changeMemberRole",
    "removeMember",
    "setBranchRole",
    "createApiToken",
    "revokeApiToken",
];

/// Who may call what: OWNER, ADMIN, MANAGER of X, OPERATOR of X, VIEWER of X, token (all scopes, X).
fn allowed(principal: &str, mutation: &str) -> bool {
    match principal {
        "OWNER" => true,
        "ADMIN" => mutation != "addOwner",
        "MANAGER_X" | "TOKEN_X" => {
            matches!(mutation, "connectStoreX" | "updateStoreX" | "archiveStoreX")
        }
        "OPERATOR_X" | "VIEWER_X" => false,
        other => panic!("unknown principal {other}"),
    }
}

async fn fresh_member(app: &TestApp, fx: &Fixture) -> String {
    joined_member(app, &fx.owner, "fresh", "MEMBER", json!([]))
        .await
        .user_id
}

/// Builds the owner-side fixture for one attempt and returns (mutation name, query, variables).
async fn prepare(app: &TestApp, fx: &Fixture, m: &str) -> (String, Value) {
    let n = uuid::Uuid::new_v4().simple().to_string();
    let store_in_x = async || {
        app.connect_store(&fx.owner, &fx.x, &format!("s{n}"), None)
            .await
    };
    match m {
        "updateOrganization" => (
            "mutation($i: UpdateOrganizationInput!) { updateOrganization(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "name": format!("Org {n}") } }),
        ),
        "createBranch" => (
            "mutation($i: CreateBranchInput!) { createBranch(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "name": format!("B {n}") } }),
        ),
        "updateBranch" => (
            "mutation($i: UpdateBranchInput!) { updateBranch(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "id": app.create_branch(&fx.owner, &format!("U {n}")).await, "name": format!("U2 {n}") } }),
        ),
        "deleteBranch" => (
            "mutation($i: DeleteBranchInput!) { deleteBranch(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "id": app.create_branch(&fx.owner, &format!("D {n}")).await } }),
        ),
        "connectStoreX" | "connectStoreY" => (
            "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "branchId": if m == "connectStoreX" { &fx.x } else { &fx.y }, "platform": "LAZADA",
                           "externalShopId": format!("e{n}"), "name": format!("S {n}"), "region": "MY", "currency": "MYR" } }),
        ),
        "updateStoreX" => (
            "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "id": store_in_x().await, "name": format!("Renamed {n}") } }),
        ),
        "archiveStoreX" => (
            "mutation($i: ArchiveStoreInput!) { archiveStore(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "id": store_in_x().await } }),
        ),
        "addMember" | "addOwner" => {
            let email = unique_email("new");
            app.sign_up_email(&email).await;
            (
                "mutation($i: AddMemberInput!) { addMember(input: $i) { userErrors { code message } } }".into(),
                json!({ "i": { "email": email, "role": if m == "addOwner" { "OWNER" } else { "MEMBER" } } }),
            )
        }
        "changeMemberRole" => (
            "mutation($i: ChangeMemberRoleInput!) { changeMemberRole(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "userId": fresh_member(app, fx).await, "role": "ADMIN" } }),
        ),
        "removeMember" => (
            "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "userId": fresh_member(app, fx).await } }),
        ),
        "setBranchRole" => (
            "mutation($i: SetBranchRoleInput!) { setBranchRole(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "userId": fresh_member(app, fx).await, "branchId": fx.x, "role": "VIEWER" } }),
        ),
        "createApiToken" => (
            "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "name": format!("T {n}"), "scopes": ["ORDERS_READ"] } }),
        ),
        "revokeApiToken" => (
            "mutation($i: RevokeApiTokenInput!) { revokeApiToken(input: $i) { userErrors { code message } } }".into(),
            json!({ "i": { "id": app.create_api_token(&fx.owner, &format!("R {n}"), &["ORDERS_READ"], None).await.0 } }),
        ),
        other => panic!("unknown mutation {other}"),
    }
}

async fn audit_count(app: &TestApp, org_gid: &str) -> String {
    owner_rows(
        app,
        &gid_uuid(org_gid),
        "SELECT count(*)::text FROM audit_events",
    )
    .await[0]
        .clone()
}

#[tokio::test]
async fn every_mutation_by_every_role_follows_the_matrix() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner", Some("Matrix Co")).await;
    let x = app.create_branch(&owner, "X").await;
    let y = app.create_branch(&owner, "Y").await;
    let fx = Fixture {
        owner: owner.clone(),
        x: x.clone(),
        y,
    };
    let admin = joined_member(&app, &owner, "admin", "ADMIN", json!([])).await;
    let manager = joined_member(
        &app,
        &owner,
        "mgr",
        "MEMBER",
        json!([{ "branchId": x, "role": "MANAGER" }]),
    )
    .await;
    let operator = joined_member(
        &app,
        &owner,
        "op",
        "MEMBER",
        json!([{ "branchId": x, "role": "OPERATOR" }]),
    )
    .await;
    let viewer = joined_member(
        &app,
        &owner,
        "view",
        "MEMBER",
        json!([{ "branchId": x, "role": "VIEWER" }]),
    )
    .await;
    let all_scopes = [
        "CATALOG_WRITE",
        "INVENTORY_WRITE",
        "ORDERS_WRITE",
        "STORES_WRITE",
        "SYNC_WRITE",
    ];
    let (_, token_x) = app
        .create_api_token(&owner, "all-x", &all_scopes, Some(vec![&x]))
        .await;
    let principals = [
        ("OWNER", owner.token.clone()),
        ("ADMIN", admin.token.clone()),
        ("MANAGER_X", manager.token.clone()),
        ("OPERATOR_X", operator.token.clone()),
        ("VIEWER_X", viewer.token.clone()),
        ("TOKEN_X", token_x),
    ];
    let org = owner.org_id.clone().unwrap();
    let mut mismatches = Vec::new();
    for (who, token) in &principals {
        for m in MUTATIONS {
            let (query, vars) = prepare(&app, &fx, m).await;
            let before = audit_count(&app, &org).await;
            let body = app.gql(Some(token), &query, vars).await;
            let after = audit_count(&app, &org).await;
            let payload = body["data"]
                .as_object()
                .and_then(|d| d.values().next())
                .cloned();
            let ok = body["errors"].is_null()
                && payload
                    .as_ref()
                    .is_some_and(|p| p["userErrors"] == json!([]));
            // A branch the caller cannot see answers like a missing one (no existence leak).
            let invisible = m == &"connectStoreY"
                && payload
                    .as_ref()
                    .is_some_and(|p| p["userErrors"][0]["message"] == "branch not found");
            let forbidden =
                (first_error_code(&body) == "FORBIDDEN" || invisible) && before == after;
            let expected = allowed(who, m);
            if (expected && !ok) || (!expected && !forbidden) {
                mismatches.push(format!(
                    "{who} {m}: expected {} got {body} (audit {before}->{after})",
                    if expected {
                        "success"
                    } else {
                        "FORBIDDEN, nothing written"
                    }
                ));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[tokio::test]
async fn the_last_owner_can_be_neither_removed_nor_demoted() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("lo", Some("Last Owner Co")).await;
    let admin = joined_member(&app, &owner, "adm", "ADMIN", json!([])).await;
    let change = |token: String, user: String, role: &'static str| {
        let app = &app;
        async move {
            app.gql(Some(&token),
                "mutation($i: ChangeMemberRoleInput!) { changeMemberRole(input: $i) { member { role } userErrors { code message } } }",
                json!({ "i": { "userId": user, "role": role } })).await
        }
    };
    let remove = |token: String, user: String| {
        let app = &app;
        async move {
            app.gql(Some(&token),
                "mutation($i: RemoveMemberInput!) { removeMember(input: $i) { removedUserId userErrors { code message } } }",
                json!({ "i": { "userId": user } })).await
        }
    };
    let demote = change(owner.token.clone(), owner.user_id.clone(), "ADMIN").await;
    assert_eq!(
        demote["data"]["changeMemberRole"]["userErrors"][0]["code"], "CONFLICT",
        "{demote}"
    );
    let gone = remove(owner.token.clone(), owner.user_id.clone()).await;
    assert_eq!(
        gone["data"]["removeMember"]["userErrors"][0]["code"], "CONFLICT",
        "{gone}"
    );
    // An ADMIN cannot touch an OWNER at all.
    let by_admin = remove(admin.token.clone(), owner.user_id.clone()).await;
    assert_eq!(first_error_code(&by_admin), "FORBIDDEN", "{by_admin}");
    // With a second OWNER, the first may step down.
    let promoted = change(owner.token.clone(), admin.user_id.clone(), "OWNER").await;
    assert_eq!(
        promoted["data"]["changeMemberRole"]["member"]["role"], "OWNER",
        "{promoted}"
    );
    let stepped = change(owner.token.clone(), owner.user_id.clone(), "MEMBER").await;
    assert_eq!(
        stepped["data"]["changeMemberRole"]["member"]["role"], "MEMBER",
        "{stepped}"
    );
    // Now the former admin is the last OWNER.
    let last = remove(admin.token.clone(), admin.user_id.clone()).await;
    assert_eq!(
        last["data"]["removeMember"]["userErrors"][0]["code"], "CONFLICT",
        "{last}"
    );
}

#[tokio::test]
async fn add_member_validates_its_input() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("am", Some("Add Co")).await;
    let nobody = app
        .add_member_by_email(&owner, "nobody@example.test", "MEMBER", json!([]))
        .await;
    assert_eq!(
        nobody["userErrors"][0]["field"],
        json!(["input", "email"]),
        "{nobody}"
    );
    let email = unique_email("twice");
    app.sign_up_email(&email).await;
    let first = app
        .add_member_by_email(&owner, &email, "MEMBER", json!([]))
        .await;
    assert_eq!(first["userErrors"], json!([]));
    let again = app
        .add_member_by_email(&owner, &email, "MEMBER", json!([]))
        .await;
    assert_eq!(again["userErrors"][0]["code"], "CONFLICT", "{again}");
    // A branch of another organization is "not found", and nothing is half-written.
    let other = app.sign_up("other", Some("Other Co")).await;
    let foreign = app.create_branch(&other, "Theirs").await;
    let email2 = unique_email("half");
    app.sign_up_email(&email2).await;
    let bad = app
        .add_member_by_email(
            &owner,
            &email2,
            "MEMBER",
            json!([{ "branchId": foreign, "role": "VIEWER" }]),
        )
        .await;
    assert_eq!(bad["userErrors"][0]["code"], "NOT_FOUND", "{bad}");
    let members = app
        .gql(
            Some(&owner.token),
            "{ organization { members(first: 50) { nodes { user { email } } } } }",
            json!({}),
        )
        .await;
    assert!(!members.to_string().contains(&email2), "{members}");
}

#[tokio::test]
async fn branch_roles_limit_what_members_and_tokens_see() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("vis", Some("Vis Co")).await;
    let x = app.create_branch(&owner, "X").await;
    let y = app.create_branch(&owner, "Y").await;
    let sx = app.connect_store(&owner, &x, "sx", None).await;
    let sy = app.connect_store(&owner, &y, "sy", None).await;
    let viewer = joined_member(
        &app,
        &owner,
        "v",
        "MEMBER",
        json!([{ "branchId": x, "role": "VIEWER" }]),
    )
    .await;
    let (_, token) = app
        .create_api_token(&owner, "x-only", &["STORES_READ"], Some(vec![&x]))
        .await;
    for t in [&viewer.token, &token] {
        let stores = app
            .gql(
                Some(t),
                "{ organization { stores(first: 10) { nodes { id } } } }",
                json!({}),
            )
            .await;
        assert_eq!(
            stores["data"]["organization"]["stores"]["nodes"],
            json!([{ "id": sx }]),
            "{stores}"
        );
        let node = app
            .gql(
                Some(t),
                "query($id: ID!) { node(id: $id) { id } }",
                json!({ "id": sy }),
            )
            .await;
        assert_eq!(node["data"], json!({ "node": null }));
    }
}
