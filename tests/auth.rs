//! Sign-up, log-in, access tokens, and organization scoping of tokens.

#![allow(clippy::unwrap_used, missing_docs)]

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use mercato_tests::*;
use serde_json::{Value, json};

const VIEWER: &str = "{ viewer { user { id email } role organization { id } memberships { role organization { name } } } }";

#[tokio::test]
async fn sign_up_log_in_and_viewer() {
    let app = TestApp::spawn().await;
    let email = unique_email("Ama");
    let s = app.sign_up_email(&email.to_uppercase()).await;
    let me = app.gql(Some(&s.token), VIEWER, json!({})).await;
    assert_eq!(
        me["data"]["viewer"]["user"]["email"],
        email.to_lowercase(),
        "{me}"
    );
    assert_eq!(me["data"]["viewer"]["organization"], Value::Null);

    let login = app.log_in(&email, None).await;
    assert!(login["data"]["logIn"]["accessToken"].is_string(), "{login}");

    let unauth = app.gql(None, VIEWER, json!({})).await;
    assert_eq!(first_error_code(&unauth), "UNAUTHENTICATED");
}

#[tokio::test]
async fn sign_up_rejects_bad_input_with_typed_user_errors_and_writes_nothing() {
    let app = TestApp::spawn().await;
    let email = unique_email("dup");
    app.sign_up_email(&email).await;
    let q = "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } userErrors { field code message } } }";
    let orphan_email = unique_email("o");
    let cases = [
        (
            json!({ "email": email, "password": PASSWORD, "displayName": "x" }),
            json!(["input", "email"]),
            "CONFLICT",
        ),
        (
            json!({ "email": "not-an-email", "password": PASSWORD, "displayName": "x" }),
            json!(["input", "email"]),
            "VALIDATION_FAILED",
        ),
        (
            json!({ "email": unique_email("w"), "password": "short", "displayName": "x" }),
            json!(["input", "password"]),
            "VALIDATION_FAILED",
        ),
        (
            json!({ "email": unique_email("b"), "password": PASSWORD, "displayName": "   " }),
            json!(["input", "displayName"]),
            "VALIDATION_FAILED",
        ),
        (
            json!({ "email": orphan_email, "password": PASSWORD, "displayName": "x", "organizationName": "" }),
            json!(["input", "organizationName"]),
            "VALIDATION_FAILED",
        ),
    ];
    for (input, field, code) in cases {
        let body = app.gql(None, q, json!({ "i": input })).await;
        let p = &body["data"]["signUp"];
        assert_eq!(p["accessToken"], Value::Null, "{body}");
        let errs = p["userErrors"]
            .as_array()
            .unwrap_or_else(|| panic!("{body}"));
        assert_eq!(errs[0]["code"], code, "{body}");
        if code != "CONFLICT" {
            assert_eq!(errs[0]["field"], field, "{body}");
        }
    }
    // The sign-up whose organization name was bad left no user behind (one savepoint).
    let orphan = app.log_in(&orphan_email, None).await;
    assert_eq!(
        orphan["data"]["logIn"]["userErrors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
}

#[tokio::test]
async fn wrong_password_and_unknown_email_give_the_same_answer() {
    let app = TestApp::spawn().await;
    let email = unique_email("pw");
    app.sign_up_email(&email).await;
    let q = "mutation($i: LogInInput!) { logIn(input: $i) { accessToken userErrors { field code message } } }";
    let wrong = app
        .gql(
            None,
            q,
            json!({ "i": { "email": email, "password": "definitely wrong" } }),
        )
        .await;
    let unknown = app
        .gql(
            None,
            q,
            json!({ "i": { "email": unique_email("nobody"), "password": "definitely wrong" } }),
        )
        .await;
    assert_eq!(wrong, unknown);
    assert_eq!(
        wrong["data"]["logIn"]["userErrors"][0]["code"],
        "INVALID_CREDENTIALS"
    );
}

fn claims(app: &TestApp, sub: &str, org: Option<&str>) -> Value {
    let _ = app;
    let now = chrono::Utc::now().timestamp();
    json!({ "iss": "mercato", "aud": "mercato-api", "sub": gid_uuid(sub), "org": org.map(gid_uuid), "iat": now, "nbf": now, "exp": now + 600, "jti": uuid::Uuid::now_v7() })
}

fn sign(app: &TestApp, kid: Option<&str>, key: &[u8], claims: &Value) -> String {
    let _ = app;
    let mut header = Header::new(Algorithm::HS256);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(key)).unwrap()
}

#[tokio::test]
async fn every_malformed_or_misissued_token_is_the_same_401() {
    use base64::Engine as _;
    let db = fresh_database().await;
    let config = test_config(&db);
    let key = config.jwt_signing_key.key.clone();
    let app = TestApp::spawn_with(config, db).await;
    let s = app.sign_up("jwt", Some("Jwt Co")).await;
    let good = claims(&app, &s.user_id, s.org_id.as_deref());
    assert_eq!(
        app.post(
            Some(&sign(&app, Some("k1"), &key, &good)),
            json!({ "query": VIEWER })
        )
        .await
        .0,
        200
    );

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = good.clone();
        f(&mut c);
        c
    };
    let now = chrono::Utc::now().timestamp();
    let b64 = |v: &Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string());
    let tokens = vec![
        (
            "expired",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| {
                    c["exp"] = json!(now - 120);
                    c["nbf"] = json!(now - 600);
                }),
            ),
        ),
        (
            "future nbf",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| c["nbf"] = json!(now + 600)),
            ),
        ),
        (
            "string exp",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| c["exp"] = json!((now + 600).to_string())),
            ),
        ),
        (
            "wrong iss",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| c["iss"] = json!("someone-else")),
            ),
        ),
        (
            "missing iss",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("iss");
                }),
            ),
        ),
        (
            "wrong aud",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| c["aud"] = json!("other-api")),
            ),
        ),
        (
            "missing aud",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("aud");
                }),
            ),
        ),
        (
            "missing sub",
            sign(
                &app,
                Some("k1"),
                &key,
                &with(&|c| {
                    c.as_object_mut().unwrap().remove("sub");
                }),
            ),
        ),
        ("unknown kid", sign(&app, Some("k9"), &key, &good)),
        ("no kid", sign(&app, None, &key, &good)),
        ("wrong key", sign(&app, Some("k1"), &[7u8; 32], &good)),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(&json!({ "alg": "none", "typ": "JWT", "kid": "k1" })),
                b64(&good)
            ),
        ),
        ("garbage", "not.a.jwt".to_owned()),
        (
            // Algorithm confusion: same secret, another HMAC algorithm chosen by the token.
            "HS512 with the right key",
            {
                let mut h = Header::new(Algorithm::HS512);
                h.kid = Some("k1".into());
                jsonwebtoken::encode(&h, &good, &EncodingKey::from_secret(&key)).unwrap()
            },
        ),
        (
            // An asymmetric algorithm in the header, "signed" with the HMAC secret.
            "RS256 header",
            {
                use hmac_sign::sign_raw;
                let head = b64(&json!({ "alg": "RS256", "typ": "JWT", "kid": "k1" }));
                let body = b64(&good);
                let sig = sign_raw(&key, format!("{head}.{body}").as_bytes());
                format!("{head}.{body}.{sig}")
            },
        ),
        ("api-token-shaped garbage", "mrc_garbage".to_owned()),
    ];
    for (what, token) in tokens {
        let (status, body) = app.post(Some(&token), json!({ "query": VIEWER })).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"], "UNAUTHENTICATED",
            "{what}"
        );
        assert_eq!(
            body["errors"][0]["message"], "authentication required",
            "{what}"
        );
    }
}

mod hmac_sign {
    /// HMAC-SHA256 over `msg`, base64url: what a verifier confused about algorithms would accept.
    pub fn sign_raw(key: &[u8], msg: &[u8]) -> String {
        let key = jsonwebtoken::EncodingKey::from_secret(key);
        jsonwebtoken::crypto::sign(msg, &key, jsonwebtoken::Algorithm::HS256).unwrap()
    }
}

#[tokio::test]
async fn a_second_verification_key_allows_rotation() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    // Before rotation: k1 signs.
    let app = TestApp::spawn_with(config.clone(), db.clone()).await;
    let s = app.sign_up("rot", Some("Rot Co")).await;
    drop(app);
    // After rotation: k2 signs, k1 still verifies.
    config.jwt_verify_keys = vec![config.jwt_signing_key.clone()];
    config.jwt_signing_key = mercato::config::KeyedSecret {
        kid: "k2".into(),
        key: vec![9u8; 48],
    };
    let app = TestApp::spawn_with(config.clone(), db.clone()).await;
    assert_eq!(
        app.post(Some(&s.token), json!({ "query": VIEWER })).await.0,
        200
    );
    let fresh = app.switch(&s, s.org_id.as_deref().unwrap()).await;
    let header = jsonwebtoken::decode_header(&fresh).unwrap();
    assert_eq!(header.kid.as_deref(), Some("k2"));
    drop(app);
    // Once k1 is retired, its tokens stop working.
    config.jwt_verify_keys.clear();
    let app = TestApp::spawn_with(config, db).await;
    assert_eq!(
        app.post(Some(&s.token), json!({ "query": VIEWER })).await.0,
        401
    );
    assert_eq!(
        app.post(Some(&fresh), json!({ "query": VIEWER })).await.0,
        200
    );
}

#[tokio::test]
async fn a_token_for_one_org_gives_no_access_to_another() {
    let db = fresh_database().await;
    let config = test_config(&db);
    let key = config.jwt_signing_key.key.clone();
    let app = TestApp::spawn_with(config, db).await;
    let a = app.sign_up("a", Some("A Co")).await;
    let b = app.sign_up("b", Some("B Co")).await;
    let b_branch = app.create_branch(&b, "B main").await;
    let b_store = app.connect_store(&b, &b_branch, "b1", None).await;

    // A validly signed token that claims B's org for A, who is not a member of B.
    let forged = sign(
        &app,
        Some("k1"),
        &key,
        &claims(&app, &a.user_id, b.org_id.as_deref()),
    );
    let org = app
        .gql(Some(&forged), "{ organization { id name } }", json!({}))
        .await;
    assert_eq!(first_error_code(&org), "FORBIDDEN", "{org}");
    let node = app
        .gql(
            Some(&forged),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": b_store }),
        )
        .await;
    assert_eq!(node["data"], json!({ "node": null }));
    let write = app
        .gql(
            Some(&forged),
            "mutation { createBranch(input: { name: \"planted\" }) { branch { id } } }",
            json!({}),
        )
        .await;
    assert_eq!(first_error_code(&write), "FORBIDDEN", "{write}");
    let switch = app
        .gql(Some(&a.token), "mutation($i: SwitchOrganizationInput!) { switchOrganization(input: $i) { accessToken userErrors { code } } }",
             json!({ "i": { "organizationId": b.org_id } }))
        .await;
    assert_eq!(
        switch["data"]["switchOrganization"]["userErrors"][0]["code"], "NOT_FOUND",
        "{switch}"
    );
    // B's branch list is untouched.
    let list = app
        .gql(
            Some(&b.token),
            "{ organization { branches { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(
        list["data"]["organization"]["branches"]["edges"]
            .as_array()
            .unwrap()
            .len(),
        1,
        "{list}"
    );
}

#[tokio::test]
async fn a_member_of_two_orgs_sees_only_the_org_their_token_is_scoped_to() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("multi", Some("First Co")).await;
    let first = s.org_id.clone().unwrap();
    app.create_branch(&s, "First branch").await;
    let created = app
        .gql(Some(&s.token), "mutation { createOrganization(input: { name: \"Second Co\" }) { organization { id name } userErrors { code } } }", json!({}))
        .await;
    let second = created["data"]["createOrganization"]["organization"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Still scoped to the first org.
    let me = app.gql(Some(&s.token), VIEWER, json!({})).await;
    assert_eq!(me["data"]["viewer"]["organization"]["id"], first.as_str());
    assert_eq!(
        me["data"]["viewer"]["memberships"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{me}"
    );
    // Contents of the other org need a token scoped to it.
    let other = app.gql(Some(&s.token), "query($id: ID!) { node(id: $id) { ... on Organization { name branches { edges { node { id } } } } } }", json!({ "id": second })).await;
    assert_eq!(first_error_code(&other), "FORBIDDEN", "{other}");

    let token2 = app.switch(&s, &second).await;
    let branches = app
        .gql(
            Some(&token2),
            "{ viewer { role } organization { name branches { edges { node { name } } } } }",
            json!({}),
        )
        .await;
    assert_eq!(branches["data"]["organization"]["name"], "Second Co");
    assert_eq!(branches["data"]["viewer"]["role"], "OWNER");
    assert_eq!(
        branches["data"]["organization"]["branches"]["edges"],
        json!([])
    );
}
