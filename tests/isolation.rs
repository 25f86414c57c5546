//! Tenant isolation through GraphQL and through raw SQL as the runtime role.

#![allow(clippy::unwrap_used, missing_docs)]

use entity::enums::{BranchRole, OrgRole};
use mercato_tests::*;
use serde_json::{Value, json};

const NODE: &str = "query($id: ID!) { node(id: $id) { id __typename } }";

struct Tenant {
    owner: Session,
    org: String,
    branch: String,
    store: String,
}

async fn tenant(app: &TestApp, tag: &str) -> Tenant {
    let owner = app.sign_up(tag, Some(&format!("{tag} Trading"))).await;
    let org = owner.org_id.clone().unwrap();
    let branch = app.create_branch(&owner, &format!("{tag} HQ")).await;
    let store = app
        .connect_store(&owner, &branch, &format!("{tag}-shop"), None)
        .await;
    Tenant {
        owner,
        org,
        branch,
        store,
    }
}

/// Builds a mutation's variables for a target id.
type VarsFor = fn(&str) -> Value;

fn random_gid(type_name: &str) -> String {
    gid(type_name, &uuid::Uuid::now_v7().to_string())
}

#[tokio::test]
async fn tenant_a_cannot_read_tenant_b_through_graphql_and_node_looks_like_a_missing_id() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let b = tenant(&app, "b").await;

    for (id, type_name) in [
        (&b.org, "Organization"),
        (&b.branch, "Branch"),
        (&b.store, "Store"),
        (&b.owner.user_id, "User"),
    ] {
        let theirs = app
            .gql(Some(&a.owner.token), NODE, json!({ "id": id }))
            .await;
        let missing = app
            .gql(
                Some(&a.owner.token),
                NODE,
                json!({ "id": random_gid(type_name) }),
            )
            .await;
        assert_eq!(theirs["data"], json!({ "node": null }), "{type_name}");
        assert_eq!(
            answer(&theirs),
            answer(&missing),
            "{type_name}: B's id must look exactly like a non-existent one"
        );
    }
    // A sees its own objects through node().
    let own = app
        .gql(Some(&a.owner.token), NODE, json!({ "id": a.store }))
        .await;
    assert_eq!(own["data"]["node"]["__typename"], "Store");

    let listing = app
        .gql(Some(&a.owner.token), "{ organization { id branches { edges { node { id } } } stores { edges { node { id } } } members { edges { node { user { id } } } } } }", json!({}))
        .await;
    let text = listing.to_string();
    for foreign in [&b.org, &b.branch, &b.store, &b.owner.user_id] {
        assert!(
            !text.contains(foreign.as_str()),
            "A's listing contains B's id: {text}"
        );
    }
    assert!(
        text.contains(&a.store) && text.contains(&a.branch),
        "{text}"
    );
}

#[tokio::test]
async fn tenant_a_cannot_change_tenant_b_and_gets_the_same_answer_as_for_a_missing_id() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let b = tenant(&app, "b").await;
    let t = Some(a.owner.token.as_str());

    let cases: Vec<(&str, VarsFor)> = vec![
        (
            "mutation($i: UpdateBranchInput!) { r: updateBranch(input: $i) { branch { id } userErrors { field code message } } }",
            |id: &str| json!({ "i": { "id": id, "name": "hijacked" } }),
        ),
        (
            "mutation($i: DeleteBranchInput!) { r: deleteBranch(input: $i) { deletedBranchId userErrors { field code message } } }",
            |id: &str| json!({ "i": { "id": id } }),
        ),
        (
            "mutation($i: UpdateStoreInput!) { r: updateStore(input: $i) { store { id } userErrors { field code message } } }",
            |id: &str| json!({ "i": { "id": id, "name": "hijacked" } }),
        ),
        (
            "mutation($i: ArchiveStoreInput!) { r: archiveStore(input: $i) { store { id } userErrors { field code message } } }",
            |id: &str| json!({ "i": { "id": id } }),
        ),
    ];
    for (i, (query, vars)) in cases.iter().enumerate() {
        let target = if i < 2 { &b.branch } else { &b.store };
        let type_name = if i < 2 { "Branch" } else { "Store" };
        let theirs = app.gql(t, query, vars(target)).await;
        let missing = app.gql(t, query, vars(&random_gid(type_name))).await;
        assert_eq!(answer(&theirs), answer(&missing), "{query}");
        assert_eq!(
            theirs["data"]["r"]["userErrors"][0]["code"], "NOT_FOUND",
            "{theirs}"
        );
    }
    // Connecting a store into B's branch: the branch does not exist for A.
    let body = app
        .gql(t, "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { field code } } }",
             json!({ "i": { "branchId": b.branch, "platform": "LAZADA", "externalShopId": "x1", "name": "x", "region": "MY", "currency": "MYR" } }))
        .await;
    assert_eq!(
        body["data"]["connectStore"]["userErrors"][0]["field"],
        json!(["input", "branchId"]),
        "{body}"
    );
    // A moving its own store into B's branch is refused the same way.
    let body = app
        .gql(t, "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { id } userErrors { field code } } }",
             json!({ "i": { "id": a.store, "branchId": b.branch } }))
        .await;
    assert_eq!(
        body["data"]["updateStore"]["userErrors"][0]["field"],
        json!(["input", "branchId"]),
        "{body}"
    );

    // B is unchanged.
    let mine = app
        .gql(Some(&b.owner.token), "{ organization { branches { edges { node { id name stores { edges { node { id name status } } } } } } } }", json!({}))
        .await;
    let branch = &mine["data"]["organization"]["branches"]["edges"][0]["node"];
    assert_eq!(branch["name"], "b HQ", "{mine}");
    assert_eq!(
        branch["stores"]["edges"][0]["node"]["name"], "Shop b-shop",
        "{mine}"
    );
    assert_eq!(
        branch["stores"]["edges"][0]["node"]["status"], "ACTIVE",
        "{mine}"
    );
}

#[tokio::test]
async fn an_id_of_another_type_is_not_found() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let body = app
        .gql(Some(&a.owner.token), "mutation($i: UpdateBranchInput!) { updateBranch(input: $i) { branch { id } userErrors { code } } }",
             json!({ "i": { "id": a.store, "name": "x" } }))
        .await;
    assert_eq!(
        body["data"]["updateBranch"]["userErrors"][0]["code"], "NOT_FOUND",
        "{body}"
    );
    let garbage = app
        .gql(Some(&a.owner.token), NODE, json!({ "id": "%%%not-an-id" }))
        .await;
    assert_eq!(garbage["data"], json!({ "node": null }));
}

#[tokio::test]
async fn runtime_role_without_tenant_context_sees_zero_rows() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let _b = tenant(&app, "b").await;
    let rt = app.runtime().await;
    for table in [
        "organizations",
        "users",
        "org_members",
        "branches",
        "branch_members",
        "stores",
        "audit_events",
    ] {
        let rows = rows_as(&rt, &[], &format!("SELECT count(*)::text FROM {table}"))
            .await
            .unwrap();
        assert_eq!(rows, vec!["0"], "{table} visible without context");
    }
    // With A's context, A's rows are there (so the zero above is RLS, not an empty database).
    let org = gid_uuid(&a.org);
    let rows = rows_as(
        &rt,
        &[("app.org_id", &org), ("app.branch_ids", "*")],
        "SELECT count(*)::text FROM stores",
    )
    .await
    .unwrap();
    assert_eq!(rows, vec!["1"]);
}

#[tokio::test]
async fn runtime_role_cannot_insert_rows_for_another_tenant() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let b = tenant(&app, "b").await;
    let rt = app.runtime().await;
    let (a_org, b_org) = (gid_uuid(&a.org), gid_uuid(&b.org));
    let sql = format!(
        "INSERT INTO branches (org_id, id, name) VALUES ('{b_org}', gen_random_uuid(), 'planted') RETURNING id::text"
    );
    let err = rows_as(
        &rt,
        &[("app.org_id", &a_org), ("app.branch_ids", "*")],
        &sql,
    )
    .await
    .unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
    // Without any context the insert fails too.
    let err = rows_as(&rt, &[], &sql).await.unwrap_err();
    assert!(err.contains("row-level security"), "{err}");
    // Updating B's rows from A's context touches nothing.
    let sql = format!("UPDATE stores SET name = 'x' WHERE org_id = '{b_org}' RETURNING id::text");
    assert!(
        rows_as(
            &rt,
            &[("app.org_id", &a_org), ("app.branch_ids", "*")],
            &sql
        )
        .await
        .unwrap()
        .is_empty()
    );
    let names = owner_rows(&app, &b_org, "SELECT name FROM stores").await;
    assert_eq!(names, vec!["Shop b-shop"]);
}

#[tokio::test]
async fn a_pooled_connection_reused_without_context_sees_nothing() {
    let app = TestApp::spawn().await;
    let a = tenant(&app, "a").await;
    let org = gid_uuid(&a.org);
    // One connection, so the second transaction necessarily reuses the first one's session.
    let rt = connect(&runtime_url(&app.db_name), 1).await;
    let pid_a = rows_as(
        &rt,
        &[("app.org_id", &org), ("app.branch_ids", "*")],
        "SELECT pg_backend_pid()::text",
    )
    .await
    .unwrap();
    let seen = rows_as(
        &rt,
        &[("app.org_id", &org), ("app.branch_ids", "*")],
        "SELECT count(*)::text FROM branches",
    )
    .await
    .unwrap();
    assert_eq!(seen, vec!["1"]);
    let pid_b = rows_as(&rt, &[], "SELECT pg_backend_pid()::text")
        .await
        .unwrap();
    assert_eq!(pid_a, pid_b, "expected the same pooled session");
    let after = rows_as(&rt, &[], "SELECT count(*)::text || ':' || coalesce(current_setting('app.org_id', true), '') FROM branches").await.unwrap();
    assert_eq!(after, vec!["0:"]);
}

#[tokio::test]
async fn a_member_of_branch_x_cannot_see_or_touch_stores_of_branch_y() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("owner", Some("Two Branch Co")).await;
    let org = owner.org_id.clone().unwrap();
    let x = app.create_branch(&owner, "X").await;
    let y = app.create_branch(&owner, "Y").await;
    let store_x = app.connect_store(&owner, &x, "shop-x", None).await;
    let store_y = app.connect_store(&owner, &y, "shop-y", None).await;

    let email = unique_email("member");
    let member = app.sign_up_email(&email).await;
    add_member(
        &app,
        &org,
        &owner.user_id,
        &member.user_id,
        OrgRole::Member,
        Some((&x, BranchRole::Manager)),
    )
    .await;
    let login = app.log_in(&email, Some(&org)).await;
    let token = login["data"]["logIn"]["accessToken"]
        .as_str()
        .unwrap_or_else(|| panic!("{login}"))
        .to_owned();
    let t = Some(token.as_str());

    let body = app.gql(t, "{ organization { branches { edges { node { id } } } stores { edges { node { id } } } } }", json!({})).await;
    let text = body.to_string();
    assert!(text.contains(&store_x) && text.contains(&x), "{text}");
    assert!(!text.contains(&store_y) && !text.contains(&y), "{text}");
    assert_eq!(
        app.gql(t, NODE, json!({ "id": store_y })).await["data"],
        json!({ "node": null })
    );
    assert_eq!(
        app.gql(t, NODE, json!({ "id": y })).await["data"],
        json!({ "node": null })
    );

    let upd = app
        .gql(t, "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { id } userErrors { code } } }", json!({ "i": { "id": store_y, "name": "mine now" } }))
        .await;
    assert_eq!(
        upd["data"]["updateStore"]["userErrors"][0]["code"], "NOT_FOUND",
        "{upd}"
    );
    // As MANAGER of X the member may connect a store there, but not into Y.
    let ok = app
        .connect_store(
            &Session {
                token: token.clone(),
                user_id: member.user_id.clone(),
                org_id: Some(org.clone()),
            },
            &x,
            "shop-x2",
            None,
        )
        .await;
    assert!(!ok.is_empty());
    let into_y = app
        .gql(t, "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { field code } } }",
             json!({ "i": { "branchId": y, "platform": "JUMIA", "externalShopId": "j1", "name": "j", "region": "KE", "currency": "KES" } }))
        .await;
    assert_eq!(
        into_y["data"]["connectStore"]["userErrors"][0]["field"],
        json!(["input", "branchId"]),
        "{into_y}"
    );
    // And a MEMBER cannot manage branches at all: a typed FORBIDDEN, not a silent null.
    let forbidden = app
        .gql(t, "mutation { createBranch(input: { name: \"Z\" }) { branch { id } userErrors { code } } }", json!({}))
        .await;
    assert_eq!(first_error_code(&forbidden), "FORBIDDEN", "{forbidden}");
}

/// A query's tenant transaction is read-only (set with the tenant settings, not by a separate
/// `SET TRANSACTION`), a mutation's is not, for an anonymous caller and for a member alike.
#[tokio::test]
async fn query_transactions_are_read_only_and_mutation_transactions_are_not() {
    use mercato::auth::Principal;
    use mercato::ids::{OrgId, UserId};
    use mercato::tenant::{Outcome, TenantTx};
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn().await;
    let s = app.sign_up("ro", Some("Read Only Co")).await;
    let member = Principal::User {
        user_id: UserId(gid_uuid(&s.user_id).parse().unwrap()),
        org_id: Some(OrgId(gid_uuid(s.org_id.as_ref().unwrap()).parse().unwrap())),
    };
    for principal in [None, Some(member)] {
        for read_only in [true, false] {
            let tx = TenantTx::new(app.state.db.clone(), principal.clone(), read_only)
                .with_statement_timeout(std::time::Duration::from_secs(5));
            let guard = tx.lock().await.unwrap();
            let row = guard
                .query_one_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "SELECT current_setting('transaction_read_only') AS ro, \
                            current_setting('statement_timeout') AS timeout",
                ))
                .await
                .unwrap()
                .unwrap();
            let ro: String = row.try_get("", "ro").unwrap();
            let timeout: String = row.try_get("", "timeout").unwrap();
            assert_eq!(ro, if read_only { "on" } else { "off" });
            assert_eq!(timeout, "5s");
            let write = guard
                .execute_raw(Statement::from_string(
                    DbBackend::Postgres,
                    "UPDATE stores SET name = name WHERE false",
                ))
                .await;
            assert_eq!(write.is_err(), read_only, "{write:?}");
            drop(guard);
            tx.finish(Outcome::Rollback).await.unwrap();
        }
    }
}

/// `tenant_open` decides the branch visibility in SQL; `tenant::access` decides it again in Rust
/// from the rows it returns. Both must agree for every kind of caller, or code and RLS would see
/// different things.
#[tokio::test]
async fn the_one_round_trip_opening_sets_exactly_the_context_rust_resolves() {
    use mercato::auth::Principal;
    use mercato::ids::{OrgId, UserId};
    use mercato::tenant::{Outcome, TenantTx, settings_for};
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let app = TestApp::spawn().await;
    let owner = app.sign_up("open-owner", Some("Open Co")).await;
    let org = owner.org_id.clone().unwrap();
    let x = app.create_branch(&owner, "X").await;
    let y = app.create_branch(&owner, "Y").await;
    let mut callers = vec![("owner", owner.user_id.clone())];
    for (tag, role, branches) in [
        ("admin", "ADMIN", json!([])),
        (
            "two-branch member",
            "MEMBER",
            json!([{"branchId": x, "role": "MANAGER"}, {"branchId": y, "role": "VIEWER"}]),
        ),
        (
            "one-branch member",
            "MEMBER",
            json!([{"branchId": y, "role": "OPERATOR"}]),
        ),
        ("member of no branch", "MEMBER", json!([])),
    ] {
        let email = unique_email("open");
        let m = app.sign_up_email(&email).await;
        let added = app
            .add_member_by_email(&owner, &email, role, branches)
            .await;
        assert!(
            added["userErrors"].as_array().is_some_and(Vec::is_empty),
            "{added}"
        );
        callers.push((tag, m.user_id));
    }
    let outsider = app.sign_up("open-outsider", Some("Elsewhere Co")).await;
    callers.push(("non-member", outsider.user_id.clone()));
    let org_id = OrgId(gid_uuid(&org).parse().unwrap());
    for (tag, user) in callers {
        let principal = Principal::User {
            user_id: UserId(gid_uuid(&user).parse().unwrap()),
            org_id: Some(org_id),
        };
        let tx = TenantTx::new(app.state.db.clone(), Some(principal), true);
        let guard = tx.lock().await.unwrap();
        let row = guard
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                "SELECT current_setting('app.org_id') AS org, current_setting('app.user_id') AS uid, \
                        current_setting('app.branch_ids') AS branches, \
                        (SELECT count(*) FROM branches) AS visible",
            ))
            .await
            .unwrap()
            .unwrap();
        let want = settings_for(&guard.access);
        let got_org: String = row.try_get("", "org").unwrap();
        let got_user: String = row.try_get("", "uid").unwrap();
        let got_branches: String = row.try_get("", "branches").unwrap();
        let visible: i64 = row.try_get("", "visible").unwrap();
        assert_eq!(
            got_org,
            want.org_id.map(|o| o.to_string()).unwrap_or_default(),
            "{tag}"
        );
        assert_eq!(
            got_user,
            want.user_id.map(|u| u.to_string()).unwrap_or_default(),
            "{tag}"
        );
        let parse = |s: &str| -> Option<std::collections::BTreeSet<String>> {
            (s != "*").then(|| {
                s.trim_matches(|c| c == '{' || c == '}')
                    .split(',')
                    .filter(|p| !p.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
        };
        let want_branches = want
            .branches
            .as_ref()
            .map(|ids| ids.iter().map(ToString::to_string).collect());
        assert_eq!(parse(&got_branches), want_branches, "{tag}: {got_branches}");
        let expected_visible = match tag {
            "owner" | "admin" | "two-branch member" => 2,
            "one-branch member" => 1,
            _ => 0,
        };
        assert_eq!(visible, expected_visible, "{tag}");
        drop(guard);
        tx.finish(Outcome::Rollback).await.unwrap();
    }
}
