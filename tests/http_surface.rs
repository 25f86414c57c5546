//! The HTTP surface: health, readiness, GraphiQL, request ids, body limit, content types, and

#![allow(clippy::unwrap_used, missing_docs)]
//! internal errors masked with the request id.

use mercato_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_forced_database_error_reaches_the_client_as_internal_error_with_its_request_id() {
    let app = TestApp::spawn().await;
    let s = app.sign_up("err", Some("Err Co")).await;
    app.create_branch(&s, "Main").await;
    // Break the schema under the running app (this test has its own database).
    exec(
        &app.owner().await,
        "ALTER TABLE branches RENAME COLUMN name TO name_broken",
    )
    .await;

    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth(&s.token)
        .json(&json!({ "query": "{ organization { branches { edges { node { name } } } } }" }))
        .send()
        .await
        .unwrap();
    let header_id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    let err = &body["errors"][0];
    assert_eq!(err["message"], "internal error", "{body}");
    assert_eq!(err["extensions"]["code"], "INTERNAL");
    assert_eq!(err["extensions"]["requestId"], header_id.as_str());
    assert!(
        !body.to_string().contains("name_broken") && !body.to_string().contains("does not exist"),
        "{body}"
    );
}

#[tokio::test]
async fn health_and_readiness_report_both_services() {
    let app = TestApp::spawn().await;
    let health = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        ready.json::<serde_json::Value>().await.unwrap(),
        json!({ "postgres": "ok", "redis": "ok", "circuits": { "postgres": "closed", "redis": "closed" } })
    );
}

#[tokio::test]
async fn readiness_fails_fast_when_redis_is_unreachable() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    // Nothing listens on port 1.
    config.redis_url = "redis://127.0.0.1:1".to_owned().into();
    let app = TestApp::spawn_with(config, db).await;
    let started = std::time::Instant::now();
    let ready = app
        .client
        .get(format!("{}/readyz", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let body = ready.json::<serde_json::Value>().await.unwrap();
    assert_eq!(
        (&body["postgres"], &body["redis"]),
        (&json!("ok"), &json!("unavailable"))
    );
    // Not a timing assertion on the happy path: only that a dead dependency does not hang the probe.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}

#[tokio::test]
async fn graphiql_is_served_on_get() {
    let app = TestApp::spawn().await;
    let page = app
        .client
        .get(format!("{}/graphql", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .to_lowercase()
            .contains("graphiql")
    );
}

#[tokio::test]
async fn oversized_bodies_are_refused_with_413() {
    let app = TestApp::spawn().await;
    let huge = format!(
        "{{\"query\":\"{{ __typename }}\",\"variables\":{{\"pad\":\"{}\"}}}}",
        "x".repeat(2 * 1024 * 1024)
    );
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 413);
}

#[tokio::test]
async fn wrong_content_type_malformed_json_and_huge_batches_are_refused() {
    let app = TestApp::spawn().await;
    let url = format!("{}/graphql", app.base);
    let text = app
        .client
        .post(&url)
        .header("content-type", "text/plain")
        .body("{\"query\":\"{ __typename }\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), 415);
    let bad = app
        .client
        .post(&url)
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["code"], "VALIDATION_FAILED");
    let batch: Vec<_> = (0..11)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, _) = app.post(None, json!(batch)).await;
    assert_eq!(status, 400);
    let small: Vec<_> = (0..2)
        .map(|_| json!({ "query": "{ __typename }" }))
        .collect();
    let (status, body) = app.post(None, json!(small)).await;
    assert_eq!(status, 200);
    for one in body.as_array().unwrap() {
        assert_eq!(one["data"], json!({ "__typename": "Query" }));
    }
    assert_eq!(body.as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let resp = app
        .client
        .get(format!("{}/healthz", app.base))
        .send()
        .await
        .unwrap();
    assert!(resp.headers().get("x-request-id").is_some());
    let resp = app
        .client
        .post(format!("{}/graphql", app.base))
        .bearer_auth("garbage")
        .json(&json!({ "query": "{ viewer { user { id } } }" }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    let id = resp
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap()
        .to_owned();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["errors"][0]["extensions"]["requestId"], id.as_str());
}
