//! Refresh-token sessions: rotation on every use, reuse revokes the family, concurrent double
//! refresh, log out, and only hashes at rest.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato_tests::*;
use serde_json::json;

fn code(payload: &serde_json::Value) -> String {
    payload["userErrors"][0]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn logged_in(app: &TestApp) -> (String, serde_json::Value) {
    let email = unique_email("sess");
    let s = app.sign_up_email(&email).await;
    let _ = s;
    let p = app.log_in_full(&email).await;
    assert!(
        p["refreshToken"].as_str().unwrap().starts_with("mrt_"),
        "{p}"
    );
    (email, p)
}

#[tokio::test]
async fn refresh_rotates_and_a_reused_token_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    let (_, first) = logged_in(&app).await;
    let r0 = first["refreshToken"].as_str().unwrap().to_owned();

    let second = app.refresh(&r0).await;
    let r1 = second["refreshToken"].as_str().unwrap().to_owned();
    assert_ne!(r0, r1);
    let access = second["accessToken"].as_str().unwrap();
    let viewer = app
        .gql(Some(access), "{ viewer { user { id } } }", json!({}))
        .await;
    assert!(
        viewer["data"]["viewer"]["user"]["id"].is_string(),
        "{viewer}"
    );

    let third = app.refresh(&r1).await;
    let r2 = third["refreshToken"].as_str().unwrap().to_owned();

    // r0 was already used: presenting it again is theft or a bug; the whole family dies.
    let reuse = app.refresh(&r0).await;
    assert_eq!(code(&reuse), "INVALID_REFRESH_TOKEN", "{reuse}");
    assert!(reuse["accessToken"].is_null());
    let after = app.refresh(&r2).await;
    assert_eq!(
        code(&after),
        "INVALID_REFRESH_TOKEN",
        "the newest token of the family is revoked too: {after}"
    );
}

#[tokio::test]
async fn a_concurrent_double_refresh_admits_one_and_then_revokes_the_family() {
    let app = TestApp::spawn().await;
    let (_, first) = logged_in(&app).await;
    let r0 = first["refreshToken"].as_str().unwrap().to_owned();
    let (a, b) = tokio::join!(app.refresh(&r0), app.refresh(&r0));
    let winners: Vec<_> = [&a, &b]
        .into_iter()
        .filter(|p| p["refreshToken"].is_string())
        .collect();
    assert_eq!(winners.len(), 1, "exactly one refresh succeeds: {a} {b}");
    let loser = if a["refreshToken"].is_string() {
        &b
    } else {
        &a
    };
    assert_eq!(code(loser), "INVALID_REFRESH_TOKEN");
    let winner_next = winners[0]["refreshToken"].as_str().unwrap();
    assert_eq!(
        code(&app.refresh(winner_next).await),
        "INVALID_REFRESH_TOKEN"
    );
}

#[tokio::test]
async fn log_out_ends_the_session_and_is_idempotent() {
    let app = TestApp::spawn().await;
    let (_, first) = logged_in(&app).await;
    let r0 = first["refreshToken"].as_str().unwrap().to_owned();
    let r1 = app.refresh(&r0).await["refreshToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let out = |t: String| {
        let app = &app;
        async move {
            app.gql(
                None,
                "mutation($i: LogOutInput!) { logOut(input: $i) { revoked userErrors { code } } }",
                json!({ "i": { "refreshToken": t } }),
            )
            .await["data"]["logOut"]
                .clone()
        }
    };
    assert_eq!(out(r1.clone()).await["revoked"], true);
    assert_eq!(code(&app.refresh(&r1).await), "INVALID_REFRESH_TOKEN");
    assert_eq!(out(r1).await["revoked"], false);
    let garbage = out("mrt_not-a-token".into()).await;
    assert_eq!(code(&garbage), "INVALID_REFRESH_TOKEN");
}

#[tokio::test]
async fn malformed_or_unknown_refresh_tokens_are_typed_errors() {
    let app = TestApp::spawn().await;
    let (_, first) = logged_in(&app).await;
    let good = first["refreshToken"].as_str().unwrap();
    let mut flipped = good.to_owned().into_bytes();
    let last = flipped.len() - 1;
    flipped[last] = if flipped[last] == b'a' { b'b' } else { b'a' };
    for bad in [
        "".to_owned(),
        "eyJhbGciOi.not.refresh".to_owned(),
        String::from_utf8(flipped).unwrap(),
    ] {
        let p = app.refresh(&bad).await;
        assert_eq!(code(&p), "INVALID_REFRESH_TOKEN", "{bad}: {p}");
    }
    // The good one still works: failures wrote nothing.
    assert!(app.refresh(good).await["refreshToken"].is_string());
}

#[tokio::test]
async fn only_a_hash_of_the_refresh_token_is_stored() {
    use sha2::Digest as _;
    let app = TestApp::spawn().await;
    let (_, first) = logged_in(&app).await;
    let token = first["refreshToken"].as_str().unwrap();
    let owner = app.owner().await;
    // Forced RLS applies to the owner too; the lookup setting exposes exactly this row.
    let hash = hex::encode(sha2::Sha256::digest(token.as_bytes()));
    let rows = rows_as(
        &owner,
        &[("app.token_hash", &hash)],
        "SELECT row_to_json(r)::text FROM refresh_tokens r",
    )
    .await
    .unwrap();
    assert_eq!(rows.len(), 1);
    assert!(!rows[0].contains(token), "{}", rows[0]);
    assert!(rows[0].contains(&hash), "{}", rows[0]);
}

#[tokio::test]
async fn refresh_keeps_the_session_organization_and_can_switch() {
    let app = TestApp::spawn().await;
    let owner = app.sign_up("so", Some("Session Co")).await;
    let other = app.gql(
        Some(&owner.token),
        "mutation { createOrganization(input: { name: \"Second Co\" }) { organization { id } } }",
        json!({}),
    )
    .await["data"]["createOrganization"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let email = app
        .gql(
            Some(&owner.token),
            "{ viewer { user { email } } }",
            json!({}),
        )
        .await["data"]["viewer"]["user"]["email"]
        .as_str()
        .unwrap()
        .to_owned();
    let p = app.log_in_full(&email).await;
    assert_eq!(p["organization"]["id"], owner.org_id.clone().unwrap());
    let r = app.refresh(p["refreshToken"].as_str().unwrap()).await;
    assert_eq!(r["organization"]["id"], owner.org_id.clone().unwrap());
    let switched = app
        .gql(
            None,
            "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { organization { id } refreshToken userErrors { code } } }",
            json!({ "i": { "refreshToken": r["refreshToken"], "organizationId": other } }),
        )
        .await["data"]["refreshSession"]
        .clone();
    assert_eq!(switched["organization"]["id"], other.as_str());
    // A stranger's organization is refused, and the presented token stays usable.
    let stranger = app.sign_up("st", Some("Stranger Co")).await;
    let refused = app
        .gql(
            None,
            "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { refreshToken userErrors { field code } } }",
            json!({ "i": { "refreshToken": switched["refreshToken"], "organizationId": stranger.org_id } }),
        )
        .await["data"]["refreshSession"]
        .clone();
    assert_eq!(code(&refused), "VALIDATION_FAILED", "{refused}");
    assert!(
        app.refresh(switched["refreshToken"].as_str().unwrap())
            .await["refreshToken"]
            .is_string()
    );
}
