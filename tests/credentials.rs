//! Store credentials: encrypted at rest, bound to their org and store, never echoed anywhere.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato::domain::Ctx;
use mercato::ids::{OrgId, StoreId, UserId};
use mercato_tests::*;
use serde_json::json;
use std::io::Write;
use std::sync::{Arc, LazyLock, Mutex};

static LOGS: LazyLock<Arc<Mutex<Vec<u8>>>> = LazyLock::new(Default::default);

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOGS.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn capture_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("trace"))
        .with_writer(|| Capture)
        .try_init();
}

#[tokio::test]
async fn credential_plaintext_never_reaches_the_database_logs_or_responses() {
    capture_logs();
    let app = TestApp::spawn().await;
    let owner = app.sign_up("creds", Some("Creds Co")).await;
    let org = gid_uuid(owner.org_id.as_ref().unwrap());
    let branch = app.create_branch(&owner, "Main").await;
    let secret = format!("SENTINEL-{}", uuid::Uuid::new_v4().simple());

    let connect = app
        .gql(Some(&owner.token), "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id hasCredentials credentialsUpdatedAt } userErrors { code } } }",
             json!({ "i": { "branchId": branch, "platform": "SHOPEE", "externalShopId": "77", "name": "S", "region": "MY", "currency": "MYR",
                            "credentials": { "partner_key": secret, "partner_id": "2001" } } }))
        .await;
    let store = connect["data"]["connectStore"]["store"].clone();
    assert_eq!(store["hasCredentials"], true, "{connect}");
    assert!(store["credentialsUpdatedAt"].is_string());
    let store_id = store["id"].as_str().unwrap().to_owned();

    // Replace them, and try an invalid shape that must not echo the value either.
    let update = app
        .gql(Some(&owner.token), "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { hasCredentials } userErrors { code message } } }",
             json!({ "i": { "id": store_id, "credentials": { "partner_key": format!("{secret}-2") } } }))
        .await;
    let bad = app
        .gql(Some(&owner.token), "mutation($i: UpdateStoreInput!) { updateStore(input: $i) { store { id } userErrors { field code message } } }",
             json!({ "i": { "id": store_id, "credentials": { "partner_key": [secret.clone()] } } }))
        .await;
    assert_eq!(
        bad["data"]["updateStore"]["userErrors"][0]["field"],
        json!(["input", "credentials"]),
        "{bad}"
    );
    let read = app
        .gql(Some(&owner.token), "{ organization { stores { edges { node { id name hasCredentials credentialsUpdatedAt branch { name } } } } } }", json!({}))
        .await;
    for response in [&connect, &update, &bad, &read] {
        assert!(
            !response.to_string().contains(&secret),
            "response leaks the secret: {response}"
        );
    }

    // Every column of every table, as the owner with the tenant's context.
    for table in [
        "organizations",
        "users",
        "org_members",
        "branches",
        "branch_members",
        "stores",
        "audit_events",
    ] {
        let dump = owner_rows(&app, &org, &format!("SELECT t::text FROM {table} t"))
            .await
            .join("\n");
        assert!(!dump.contains(&secret), "{table} holds the plaintext");
        let hex = owner_rows(
            &app,
            &org,
            &format!("SELECT encode(convert_to(t::text, 'UTF8'), 'escape') FROM {table} t"),
        )
        .await
        .join("\n");
        assert!(!hex.contains(&secret), "{table} holds the plaintext bytes");
    }
    let raw = owner_rows(
        &app,
        &org,
        "SELECT encode(credentials, 'escape') FROM stores",
    )
    .await
    .join("");
    assert!(
        !raw.contains("partner_key") && !raw.is_empty(),
        "credentials are stored in clear"
    );

    let logs = String::from_utf8_lossy(&LOGS.lock().unwrap()).to_string();
    assert!(logs.contains("request"), "log capture is not working");
    assert!(!logs.contains(&secret), "logs leak the secret");
}

#[tokio::test]
async fn a_ciphertext_moved_to_another_store_or_tenant_fails_to_decrypt() {
    let app = TestApp::spawn().await;
    let a = app.sign_up("a", Some("A Co")).await;
    let b = app.sign_up("b", Some("B Co")).await;
    let (a_org, b_org) = (
        gid_uuid(a.org_id.as_ref().unwrap()),
        gid_uuid(b.org_id.as_ref().unwrap()),
    );
    let a_branch = app.create_branch(&a, "A1").await;
    let b_branch = app.create_branch(&b, "B1").await;
    let s1 = app
        .connect_store(
            &a,
            &a_branch,
            "one",
            Some(json!({ "token": "first-secret" })),
        )
        .await;
    let s2 = app
        .connect_store(
            &a,
            &a_branch,
            "two",
            Some(json!({ "token": "second-secret" })),
        )
        .await;
    let s3 = app
        .connect_store(
            &b,
            &b_branch,
            "three",
            Some(json!({ "token": "third-secret" })),
        )
        .await;
    let (s1u, s2u, s3u) = (gid_uuid(&s1), gid_uuid(&s2), gid_uuid(&s3));

    let read = |org: String, user: String, store: String| {
        let app = &app;
        async move {
            use sea_orm::TransactionTrait;
            let access = mercato::tenant::Access {
                user_id: Some(UserId(uuid::Uuid::parse_str(&gid_uuid(&user)).unwrap())),
                org: Some(mercato::tenant::OrgAccess::member(
                    OrgId(uuid::Uuid::parse_str(&org).unwrap()),
                    entity::enums::OrgRole::Owner,
                    Default::default(),
                )),
            };
            let tx = app.state.db.begin().await.unwrap();
            mercato::db::rls::apply_settings(&tx, &mercato::tenant::settings_for(&access))
                .await
                .unwrap();
            let ctx = Ctx {
                tx: &tx,
                access: &access,
                request_id: None,
                effects: &Default::default(),
            };
            let r = mercato::domain::stores::credentials(
                &ctx,
                &app.state.cipher,
                StoreId(uuid::Uuid::parse_str(&store).unwrap()),
            )
            .await;
            tx.rollback().await.unwrap();
            r
        }
    };
    let ok = read(a_org.clone(), a.user_id.clone(), s1u.clone())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok["token"], "first-secret");

    // Copy store one's envelope over store two's (same tenant), and over tenant B's store.
    let owner = app.owner().await;
    let envelope = owner_rows(
        &app,
        &a_org,
        &format!("SELECT encode(credentials, 'hex') FROM stores WHERE id = '{s1u}'"),
    )
    .await
    .remove(0);
    for (org, id) in [(&a_org, &s2u), (&b_org, &s3u)] {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let tx = owner.begin().await.unwrap();
        tx.execute_unprepared(&format!("SELECT set_config('app.org_id', '{org}', true), set_config('app.branch_ids', '*', true)")).await.unwrap();
        let n = tx
            .execute_unprepared(&format!(
                "UPDATE stores SET credentials = decode('{envelope}', 'hex') WHERE id = '{id}'"
            ))
            .await
            .unwrap();
        assert_eq!(n.rows_affected(), 1);
        tx.commit().await.unwrap();
    }
    let moved = read(a_org.clone(), a.user_id.clone(), s2u).await;
    assert_eq!(
        moved.unwrap_err().code(),
        "INTERNAL",
        "a moved ciphertext must not decrypt"
    );
    let crossed = read(b_org, b.user_id.clone(), s3u).await;
    assert_eq!(
        crossed.unwrap_err().code(),
        "INTERNAL",
        "a ciphertext from another tenant must not decrypt"
    );
}

#[tokio::test]
async fn credentials_are_write_only_in_the_schema() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("schema", None).await;
    let body = app
        .gql(
            Some(&s.token),
            "{ __type(name: \"Store\") { fields { name } } }",
            json!({}),
        )
        .await;
    let names: Vec<String> = body["data"]["__type"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_owned())
        .collect();
    let readable: Vec<&String> = names
        .iter()
        .filter(|n| n.to_lowercase().contains("credential"))
        .collect();
    assert_eq!(readable, ["hasCredentials", "credentialsUpdatedAt"]);
}
