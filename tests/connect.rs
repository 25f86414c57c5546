//! Connecting stores for real: each platform's authorization flow against the simulator over HTTP,
//! the refused states that write nothing, one shop per organization, Jumia's checked token,
//! disconnecting and reconnecting.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::simulator::SimConfig;
use mercato_tests::market::{self, RETURN_URL};
use mercato_tests::*;
use serde_json::{Value, json};

async fn count(app: &TestApp, org: &str, sql: &str) -> i64 {
    owner_rows(app, &gid_uuid(org), sql).await[0]
        .parse()
        .unwrap()
}

#[tokio::test]
async fn each_platform_connects_through_its_authorization_flow_and_reconnects_in_place() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("oauth", Some("OAuth Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "KL").await;
    for (platform, shop) in [
        ("SHOPEE", sim.sim.config().shopee.2.to_string()),
        ("TIKTOK_SHOP", sim.sim.config().tiktok.2.clone()),
        ("LAZADA", sim.sim.config().lazada.2.clone()),
    ] {
        let began = market::begin(&app, &s, &branch, platform).await;
        assert_eq!(began["userErrors"], json!([]), "{began}");
        let url = began["authorizationUrl"].as_str().unwrap();
        let state = market::query(url)
            .get("state")
            .cloned()
            .or_else(|| {
                // Shopee carries the state inside its `redirect` parameter.
                market::query(url)
                    .get("redirect")
                    .and_then(|r| market::query(r).get("state").cloned())
            })
            .unwrap();
        assert!(state.len() >= 43, "at least 256 bits: {state}");
        let done = market::arrive(&market::approve(url).await).await;
        assert_eq!(
            (done.status, done.result.as_str()),
            (303, "CONNECTED"),
            "{platform}"
        );
        let id = done.store.unwrap();
        let st = market::store(&app, &s, &id).await;
        assert_eq!(st["platform"], platform);
        assert_eq!(st["externalShopId"], shop.as_str(), "{st}");
        assert_eq!(st["connection"], "CONNECTED");
        assert_eq!(st["hasCredentials"], false);
        assert_eq!(st["health"]["status"], "CONNECTED");
        assert!(st["health"]["accessTokenExpiresAt"].is_string(), "{st}");
        assert!(st["health"]["connectedAt"].is_string(), "{st}");
        let uuid = gid_uuid(&id);
        // Tokens are sealed: the row exists, and no token-shaped text is in it.
        let sealed = owner_rows(
            &app,
            &gid_uuid(&org),
            &format!("SELECT encode(sealed, 'escape') FROM store_tokens WHERE store_id = '{uuid}'"),
        )
        .await;
        assert_eq!(sealed.len(), 1);
        for secret in sim.sim.issued_secrets() {
            assert!(!sealed[0].contains(&secret), "a token in clear");
        }
        // Only the state's hash is kept.
        let states = owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT t::text FROM connect_states t",
        )
        .await;
        assert!(states.iter().all(|r| !r.contains(&state)));
        assert!(
            owner_rows(
                &app,
                &gid_uuid(&org),
                &format!("SELECT result FROM connect_states WHERE store_id = '{uuid}'")
            )
            .await
                == vec!["CONNECTED"]
        );
        // Its schedules run: one queued slot per default schedule.
        assert_eq!(
            count(&app, &org, &format!("SELECT count(*)::text FROM jobs WHERE store_id = '{uuid}' AND status = 'QUEUED'")).await,
            6
        );

        // The same shop again: the store is re-authorized, not duplicated.
        let again = market::connect(&app, &s, &branch, platform).await;
        assert_eq!(again.result, "RECONNECTED");
        assert_eq!(again.store.as_deref(), Some(id.as_str()));
        assert_eq!(
            count(
                &app,
                &org,
                &format!("SELECT count(*)::text FROM stores WHERE platform = '{platform}'")
            )
            .await,
            1
        );
        assert_eq!(
            owner_rows(
                &app,
                &gid_uuid(&org),
                &format!("SELECT version::text FROM store_tokens WHERE store_id = '{uuid}'")
            )
            .await,
            vec!["2"]
        );
    }
    assert_eq!(
        sim.sim.rejected(),
        0,
        "every platform call was signed right"
    );
}

#[tokio::test]
async fn replayed_expired_tampered_and_foreign_states_are_refused_and_write_nothing() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let a = app.sign_up("state-a", Some("State A")).await;
    let b = app.sign_up("state-b", Some("State B")).await;
    let org = a.org_id.clone().unwrap();
    let branch = app.create_branch(&a, "Main").await;
    app.create_branch(&b, "Main").await;
    let stores = async || count(&app, &org, "SELECT count(*)::text FROM stores").await;
    let tokens = async || count(&app, &org, "SELECT count(*)::text FROM store_tokens").await;

    let began = market::begin(&app, &a, &branch, "LAZADA").await;
    let callback = market::approve(began["authorizationUrl"].as_str().unwrap()).await;
    let state = market::query(&callback)["state"].clone();

    // Tampered: one character of the random part changed.
    let mut chars: Vec<char> = state.chars().collect();
    let last = chars.len() - 1;
    chars[last] = if chars[last] == 'A' { 'B' } else { 'A' };
    let tampered: String = chars.into_iter().collect();
    // Another organization: the same random part under organization B's id.
    let b_uuid = uuid::Uuid::parse_str(&gid_uuid(b.org_id.as_ref().unwrap())).unwrap();
    use base64::Engine as _;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(&state)
        .unwrap();
    let mut foreign = b_uuid.as_bytes().to_vec();
    foreign.extend_from_slice(&raw[16..]);
    let foreign = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(foreign);
    for (bad, code) in [
        (tampered.as_str(), "INVALID_STATE"),
        (foreign.as_str(), "INVALID_STATE"),
        ("not-a-state", "INVALID_STATE"),
        ("", "INVALID_STATE"),
    ] {
        let r = market::arrive(&market::with_param(&callback, "state", bad)).await;
        assert_eq!((r.status, r.result.as_str()), (400, code), "{bad}");
    }
    // The right state on another platform's callback.
    let elsewhere = callback.replace("/connect/lazada/", "/connect/shopee/");
    let r = market::arrive(&elsewhere).await;
    assert_eq!((r.status, r.result.as_str()), (400, "INVALID_STATE"));
    assert_eq!((stores().await, tokens().await), (0, 0), "nothing written");
    assert_eq!(
        count(
            &app,
            &org,
            "SELECT count(*)::text FROM connect_states WHERE used_at IS NULL"
        )
        .await,
        1,
        "refused attempts do not spend the real state"
    );

    // The real one works once.
    let ok = market::arrive(&callback).await;
    assert_eq!((ok.status, ok.result.as_str()), (303, "CONNECTED"));
    let replay = market::arrive(&callback).await;
    assert_eq!(
        (replay.status, replay.result.as_str()),
        (400, "STATE_ALREADY_USED")
    );
    assert_eq!((stores().await, tokens().await), (1, 1));
    let versions = async || {
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT version::text FROM store_tokens",
        )
        .await
    };
    assert_eq!(versions().await, vec!["1"], "the replay changed nothing");

    // Expired: ten minutes have passed (moved back in the database).
    let began = market::begin(&app, &a, &branch, "LAZADA").await;
    let callback = market::approve(began["authorizationUrl"].as_str().unwrap()).await;
    owner_exec(
        &app,
        &gid_uuid(&org),
        "UPDATE connect_states SET expires_at = now() - interval '1 second' WHERE used_at IS NULL",
    )
    .await;
    let r = market::arrive(&callback).await;
    assert_eq!((r.status, r.result.as_str()), (400, "STATE_EXPIRED"));
    assert_eq!(versions().await, vec!["1"], "nothing written");

    // The seller refuses on the platform's page; a bad code: back with the reason, nothing
    // written.
    let began = market::begin(&app, &a, &branch, "LAZADA").await;
    let callback = market::approve(began["authorizationUrl"].as_str().unwrap()).await;
    let denied = market::with_param(&callback, "error", "access_denied");
    let r = market::arrive(&denied).await;
    assert_eq!(
        (r.status, r.result.as_str(), r.store),
        (303, "ACCESS_DENIED", None)
    );
    let began = market::begin(&app, &a, &branch, "LAZADA").await;
    let callback = market::approve(began["authorizationUrl"].as_str().unwrap()).await;
    let r = market::arrive(&market::with_param(&callback, "code", "forged-code")).await;
    assert_eq!(
        (r.status, r.result.as_str(), r.store),
        (303, "AUTH_FAILED", None)
    );
    assert_eq!((stores().await, tokens().await), (1, 1));
    assert_eq!(versions().await, vec!["1"]);
    assert_eq!(
        count(
            &app,
            b.org_id.as_ref().unwrap(),
            "SELECT count(*)::text FROM stores"
        )
        .await,
        0,
        "organization B got nothing"
    );
}

#[tokio::test]
async fn begin_refuses_bad_input_with_typed_errors() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("begin", Some("Begin Co")).await;
    let other = app.sign_up("begin-other", Some("Other Co")).await;
    let branch = app.create_branch(&s, "Main").await;
    let foreign_branch = app.create_branch(&other, "Theirs").await;
    let q = "mutation($i: BeginStoreConnectionInput!) { beginStoreConnection(input: $i) { authorizationUrl userErrors { field code } } }";
    let base = json!({ "branchId": branch, "platform": "SHOPEE", "region": "MY", "returnUrl": RETURN_URL });
    for (key, value, field) in [
        (
            "returnUrl",
            json!("https://evil.example/steal"),
            "returnUrl",
        ),
        (
            "returnUrl",
            json!("https://seller.example.evil.example/settings/"),
            "returnUrl",
        ),
        (
            "returnUrl",
            json!("https://seller.example/other/"),
            "returnUrl",
        ),
        ("returnUrl", json!("not a url"), "returnUrl"),
        ("platform", json!("JUMIA"), "platform"),
        ("platform", json!("KILIMALL"), "platform"),
        ("region", json!("Malaysia"), "region"),
        ("branchId", json!(foreign_branch), "branchId"),
    ] {
        let mut i = base.clone();
        i[key] = value.clone();
        let body = app.gql(Some(&s.token), q, json!({ "i": i })).await;
        let p = &body["data"]["beginStoreConnection"];
        assert_eq!(p["authorizationUrl"], Value::Null, "{value}: {body}");
        assert_eq!(
            p["userErrors"][0]["code"], "VALIDATION_FAILED",
            "{value}: {body}"
        );
        assert_eq!(
            p["userErrors"][0]["field"],
            json!(["input", field]),
            "{value}: {body}"
        );
    }
    assert_eq!(
        count(
            &app,
            s.org_id.as_ref().unwrap(),
            "SELECT count(*)::text FROM connect_states"
        )
        .await,
        0
    );
    // A platform whose app is not configured on this server.
    let plain = TestApp::spawn().await;
    let t = plain.sign_up("no-apps", Some("No Apps")).await;
    let b = plain.create_branch(&t, "Main").await;
    let body = plain
        .gql(Some(&t.token), q, json!({ "i": { "branchId": b, "platform": "SHOPEE", "region": "MY", "returnUrl": RETURN_URL } }))
        .await;
    assert_eq!(
        body["data"]["beginStoreConnection"]["userErrors"][0]["field"],
        json!(["input", "platform"]),
        "{body}"
    );
}

#[tokio::test]
async fn one_marketplace_shop_belongs_to_one_organization() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let a = app.sign_up("claim-a", Some("Claim A")).await;
    let b = app.sign_up("claim-b", Some("Claim B")).await;
    let ba = app.create_branch(&a, "A").await;
    let bb = app.create_branch(&b, "B").await;
    let first = market::connect(&app, &a, &ba, "SHOPEE").await;
    assert_eq!(first.result, "CONNECTED");
    // B authorizes the same shop: refused, nothing written in B, nothing said about A.
    let second = market::connect(&app, &b, &bb, "SHOPEE").await;
    assert_eq!(
        (second.status, second.result.as_str(), second.store),
        (303, "SHOP_CONNECTED_ELSEWHERE", None)
    );
    assert_eq!(
        count(
            &app,
            b.org_id.as_ref().unwrap(),
            "SELECT count(*)::text FROM stores"
        )
        .await,
        0
    );
    assert_eq!(
        count(
            &app,
            b.org_id.as_ref().unwrap(),
            "SELECT count(*)::text FROM store_tokens"
        )
        .await,
        0
    );
    // B registering it by hand and then authorizing it: the authorization is refused the same way.
    let shop = sim.sim.config().shopee.2.to_string();
    let body = app
        .gql(
            Some(&b.token),
            "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id connection } userErrors { code message } } }",
            json!({ "i": { "branchId": bb, "platform": "SHOPEE", "externalShopId": shop, "name": "Mine?", "region": "MY", "currency": "MYR" } }),
        )
        .await;
    let registered = &body["data"]["connectStore"]["store"];
    assert_eq!(registered["connection"], "DISCONNECTED", "{body}");
    let again = market::connect(&app, &b, &bb, "SHOPEE").await;
    assert_eq!(again.result, "SHOP_CONNECTED_ELSEWHERE");
    let message = owner_rows(
        &app,
        &gid_uuid(b.org_id.as_ref().unwrap()),
        "SELECT connection FROM stores",
    )
    .await;
    assert_eq!(message, vec!["DISCONNECTED"]);

    // A disconnects: the shop is free, and B's store of it can be authorized.
    let body = app
        .gql(
            Some(&a.token),
            "mutation($i: DisconnectStoreInput!) { disconnectStore(input: $i) { store { connection } userErrors { code } } }",
            json!({ "i": { "id": first.store.clone().unwrap() } }),
        )
        .await;
    assert_eq!(
        body["data"]["disconnectStore"]["store"]["connection"], "DISCONNECTED",
        "{body}"
    );
    let taken_over = market::connect(&app, &b, &bb, "SHOPEE").await;
    assert_eq!(taken_over.result, "RECONNECTED");
    assert_eq!(
        taken_over.store.as_ref(),
        registered["id"].as_str().map(str::to_owned).as_ref()
    );
    // Now A cannot take it back.
    let back = market::connect(&app, &a, &ba, "SHOPEE").await;
    assert_eq!(back.result, "SHOP_CONNECTED_ELSEWHERE");
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(a.org_id.as_ref().unwrap()),
            "SELECT connection FROM stores"
        )
        .await,
        vec!["DISCONNECTED"],
        "A's store is kept, disconnected"
    );
}

#[tokio::test]
async fn a_jumia_store_is_saved_only_with_a_token_the_platform_accepts() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("jumia", Some("Jumia Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "Nairobi").await;
    let q = "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id externalShopId connection hasCredentials health { accessTokenExpiresAt refreshTokenExpiresAt } } userErrors { field code message } } }";
    let input = |creds: Value| json!({ "i": { "branchId": branch, "platform": "JUMIA", "externalShopId": "typed-by-hand", "name": "Jumia KE", "region": "KE", "currency": "KES", "credentials": creds } });
    let seeded = sim.sim.config().jumia.2.clone();
    for (creds, code) in [
        (
            json!({ "refreshToken": "not-a-jumia-token" }),
            "MARKETPLACE_AUTH_FAILED",
        ),
        (json!({ "something": "else" }), "VALIDATION_FAILED"),
    ] {
        let body = app.gql(Some(&s.token), q, input(creds)).await;
        assert_eq!(
            body["data"]["connectStore"]["userErrors"][0]["code"], code,
            "{body}"
        );
    }
    assert_eq!(
        count(&app, &org, "SELECT count(*)::text FROM stores").await,
        0
    );
    let body = app
        .gql(Some(&s.token), q, input(json!({ "refreshToken": seeded })))
        .await;
    let st = &body["data"]["connectStore"]["store"];
    assert_eq!(st["connection"], "CONNECTED", "{body}");
    assert_eq!(
        st["externalShopId"],
        sim.sim.config().jumia.1.as_str(),
        "the platform names the shop"
    );
    assert_eq!(
        st["hasCredentials"], false,
        "the token went to the vault, not to credentials"
    );
    assert!(st["health"]["accessTokenExpiresAt"].is_string());
    // The pasted token was single use: Jumia refuses it now, and nothing changes.
    let body = app
        .gql(Some(&s.token), q, input(json!({ "refreshToken": seeded })))
        .await;
    assert_eq!(
        body["data"]["connectStore"]["userErrors"][0]["code"], "MARKETPLACE_AUTH_FAILED",
        "{body}"
    );
    assert_eq!(
        count(&app, &org, "SELECT count(*)::text FROM stores").await,
        1
    );
    // Kilimall has no API: files only.
    let body = app
        .gql(Some(&s.token), q, json!({ "i": { "branchId": branch, "platform": "KILIMALL", "externalShopId": "K-1", "name": "Kili", "region": "KE", "currency": "KES" } }))
        .await;
    assert_eq!(
        body["data"]["connectStore"]["store"]["connection"], "FILE_ONLY",
        "{body}"
    );
}

#[tokio::test]
async fn disconnecting_erases_tokens_pauses_schedules_and_keeps_history() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("disc", Some("Disc Co")).await;
    let org = s.org_id.clone().unwrap();
    let branch = app.create_branch(&s, "Main").await;
    let c = market::connect(&app, &s, &branch, "TIKTOK_SHOP").await;
    let id = c.store.unwrap();
    let uuid = gid_uuid(&id);
    let queued = async || {
        count(
            &app,
            &org,
            &format!(
                "SELECT count(*)::text FROM jobs WHERE store_id = '{uuid}' AND status = 'QUEUED'"
            ),
        )
        .await
    };
    assert_eq!(queued().await, 6, "one slot per default schedule");
    let q = "mutation($i: DisconnectStoreInput!) { disconnectStore(input: $i) { store { id connection health { accessTokenExpiresAt } } userErrors { code } } }";
    let body = app
        .gql(Some(&s.token), q, json!({ "i": { "id": id } }))
        .await;
    let st = &body["data"]["disconnectStore"]["store"];
    assert_eq!(st["connection"], "DISCONNECTED", "{body}");
    assert_eq!(st["health"]["accessTokenExpiresAt"], Value::Null);
    assert_eq!(
        count(&app, &org, "SELECT count(*)::text FROM store_tokens").await,
        0
    );
    assert_eq!(queued().await, 0, "no slot left queued");
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT DISTINCT paused FROM sync_schedules"
        )
        .await,
        vec!["DISCONNECTED"]
    );
    // History stays: the store, its schedules and its audit trail.
    assert_eq!(
        count(&app, &org, "SELECT count(*)::text FROM sync_schedules").await,
        6
    );
    assert!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT action FROM audit_events WHERE action = 'store.disconnect'"
        )
        .await
        .len()
            == 1
    );
    let again = app
        .gql(Some(&s.token), q, json!({ "i": { "id": id } }))
        .await;
    assert_eq!(
        again["data"]["disconnectStore"]["userErrors"][0]["code"],
        "CONFLICT"
    );
    // Reconnecting resumes it.
    let back = market::connect(&app, &s, &branch, "TIKTOK_SHOP").await;
    assert_eq!(
        (back.result.as_str(), back.store.as_deref()),
        ("RECONNECTED", Some(id.as_str()))
    );
    assert_eq!(queued().await, 6);
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT count(*)::text FROM sync_schedules WHERE paused IS NULL"
        )
        .await,
        vec!["6"]
    );
    assert_eq!(
        market::store(&app, &s, &id).await["connection"],
        "CONNECTED"
    );
}

#[tokio::test]
async fn store_tokens_and_connect_states_stay_in_their_organization() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let a = app.sign_up("iso-a", Some("Iso A")).await;
    let b = app.sign_up("iso-b", Some("Iso B")).await;
    let branch = app.create_branch(&a, "A").await;
    app.create_branch(&b, "B").await;
    assert_eq!(
        market::connect(&app, &a, &branch, "LAZADA").await.result,
        "CONNECTED"
    );
    market::begin(&app, &a, &branch, "SHOPEE").await;
    let rt = app.runtime().await;
    let a_org = gid_uuid(a.org_id.as_ref().unwrap());
    let b_org = gid_uuid(b.org_id.as_ref().unwrap());
    for (org, expect) in [(&a_org, "1"), (&b_org, "0")] {
        for table in ["store_tokens", "stores"] {
            let n = rows_as(
                &rt,
                &[("app.org_id", org), ("app.branch_ids", "*")],
                &format!("SELECT count(*)::text FROM {table}"),
            )
            .await
            .unwrap();
            assert_eq!(n, vec![expect], "{table} as {org}");
        }
    }
    let states = |org: &str| {
        let org = org.to_owned();
        let rt = &rt;
        async move {
            rows_as(
                rt,
                &[("app.org_id", &org), ("app.branch_ids", "*")],
                "SELECT count(*)::text FROM connect_states",
            )
            .await
            .unwrap()
        }
    };
    assert_eq!(states(&a_org).await, vec!["2"]);
    assert_eq!(states(&b_org).await, vec!["0"]);
    // Writing another organization's rows is refused by the policies.
    let e = rows_as(
        &rt,
        &[("app.org_id", &b_org), ("app.branch_ids", "*")],
        &format!("INSERT INTO store_tokens (org_id, store_id, sealed, access_expires_at, refresh_single_use) SELECT '{a_org}', gen_random_uuid(), '\\x00', now(), false RETURNING 1::text"),
    )
    .await
    .unwrap_err();
    assert!(e.contains("row-level security"), "{e}");
}

#[tokio::test]
async fn tokens_sealed_with_an_old_key_are_read_after_rotation_and_resealed_with_the_new_one() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let s = app.sign_up("rotate", Some("Rotate Co")).await;
    let org = gid_uuid(s.org_id.as_ref().unwrap());
    let branch = app.create_branch(&s, "Main").await;
    let store = market::connect(&app, &s, &branch, "TIKTOK_SHOP")
        .await
        .store
        .unwrap();
    let kid = async |app: &TestApp| {
        owner_rows(app, &org, "SELECT convert_from(substring(sealed from 3 for get_byte(sealed, 1)), 'UTF8') FROM store_tokens").await
    };
    assert_eq!(kid(&app).await, vec!["c1"]);
    // The same database served with a new active key and the old one kept for reading.
    let mut config = app.state.config.as_ref().clone();
    config.credentials_old_keys = vec![config.credentials_key.clone()];
    config.credentials_key = mercato::config::KeyedSecret {
        kid: "c2".into(),
        key: vec![9u8; 32],
    };
    let rotated = TestApp::spawn_with(config, app.db_name.clone()).await;
    sim.sim
        .set_tiktok_redirect(format!("{}/connect/tiktok/callback", rotated.base));
    // A worker on the rotated app refreshes: it reads the old envelope and writes a new one.
    owner_exec(
        &rotated,
        &org,
        "UPDATE store_tokens SET access_expires_at = now() + interval '1 minute'",
    )
    .await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(
        rotated.state.clone(),
        async move {
            let _ = stopped.await;
        },
    ));
    let body = rotated
        .gql(
            Some(&s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code } } }",
            json!({ "i": { "storeId": store, "kind": "TOKEN_REFRESH", "idempotencyKey": "rotate" } }),
        )
        .await;
    assert!(body["data"]["startSync"]["job"]["id"].is_string(), "{body}");
    let end = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let st = owner_rows(
            &rotated,
            &org,
            "SELECT status FROM jobs WHERE kind = 'TOKEN_REFRESH' AND schedule_id IS NULL",
        )
        .await;
        if st == vec!["SUCCEEDED"] {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{st:?}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        kid(&rotated).await,
        vec!["c2"],
        "resealed with the active key"
    );
    let _ = stop.send(());
    worker.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_branch_manager_cannot_reauthorize_a_store_of_another_branch() {
    let sim = market::simulator(SimConfig::default()).await;
    let app = market::app_with(&sim).await;
    let owner = app.sign_up("branches", Some("Branch Co")).await;
    let org = owner.org_id.clone().unwrap();
    let a = app.create_branch(&owner, "A").await;
    let b = app.create_branch(&owner, "B").await;
    let store = market::connect(&app, &owner, &b, "LAZADA").await;
    assert_eq!(store.result, "CONNECTED");
    let manager = joined_member(
        &app,
        &owner,
        "mgr-a",
        "MEMBER",
        json!([{ "branchId": a, "role": "MANAGER" }]),
    )
    .await;
    // The manager of A authorizes the same Lazada shop: it is B's store, which they cannot manage.
    let r = market::connect(&app, &manager, &a, "LAZADA").await;
    assert_eq!((r.result.as_str(), r.store), ("FORBIDDEN", None));
    assert_eq!(
        owner_rows(
            &app,
            &gid_uuid(&org),
            "SELECT version::text FROM store_tokens"
        )
        .await,
        vec!["1"],
        "B's store keeps its tokens"
    );
    // The owner may: the store is re-authorized where it is.
    let again = market::connect(&app, &owner, &a, "LAZADA").await;
    assert_eq!(
        (again.result.as_str(), again.store),
        ("RECONNECTED", store.store)
    );
    assert_eq!(
        owner_rows(&app, &gid_uuid(&org), "SELECT branch_id::text FROM stores").await,
        vec![gid_uuid(&b)]
    );
}
