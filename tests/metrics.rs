//! `GET /metrics`: after real requests and a real job, the Prometheus text lists every documented
//! series with the values those requests produced, and no tenant data.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato::domain::jobs::JobKind;
use mercato::ids::OrgId;
use mercato::jobs::{NewJob, submit};
use mercato_tests::stock::{product, receive, reserve, shop};
use mercato_tests::*;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;

/// Sample lines (`name{labels} value`) by their name-and-labels.
fn samples(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

async fn scrape(app: &TestApp) -> (String, String) {
    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let ctype = resp
        .headers()
        .get("content-type")
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    (ctype, resp.text().await.unwrap())
}

#[tokio::test]
async fn metrics_show_requests_transactions_limits_jobs_and_pools() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "metrics").await;
    let t = Some(sh.s.token.as_str());
    // A query, a mutation, and a query refused for its depth.
    let body = app.gql(t, "{ viewer { user { id } } }", json!({})).await;
    assert!(body["errors"].is_null(), "{body}");
    let body = app
        .gql(
            t,
            "mutation { createBranch(input: {name: \"Second\"}) { branch { id } userErrors { code } } }",
            json!({}),
        )
        .await;
    assert!(body["errors"].is_null(), "{body}");
    // A reservation: written by a group commit.
    let v = product(&app, &sh, &["METRIC-1"]).await.remove(0);
    receive(&app, &sh, &v, 3).await;
    reserve(&app, &sh, &v, 1, "metrics-cart", None).await;
    let deep = format!("{{ viewer {}{} }}", "{ user ".repeat(14), "}".repeat(14));
    let body = app.gql(t, &deep, json!({})).await;
    assert_eq!(first_error_code(&body), "MAX_DEPTH_EXCEEDED", "{body}");
    // A job, run by a worker in this process.
    let org = OrgId(sh.org.parse().unwrap());
    let job = submit(
        &app.state,
        org,
        NewJob::new(JobKind::TestProbe, json!({"marker": "metrics"})),
    )
    .await
    .unwrap()
    .job
    .id;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let status = owner_rows(
            &app,
            &sh.org,
            &format!("SELECT status FROM jobs WHERE id = '{job}'"),
        )
        .await
        .pop()
        .unwrap_or_default();
        if status == "SUCCEEDED" {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "job is {status}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop.send(());
    worker.await.unwrap().unwrap();

    let (ctype, text) = scrape(&app).await;
    assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
    assert!(text.ends_with("# EOF\n"));
    let s = samples(&text);
    let at_least = |key: &str, min: f64| {
        let v = s.get(key).copied().unwrap_or(-1.0);
        assert!(v >= min, "{key} = {v}, expected at least {min}\n{text}");
    };
    at_least(
        r#"mercato_graphql_operations_total{kind="query",outcome="ok"}"#,
        1.0,
    );
    at_least(
        r#"mercato_graphql_operations_total{kind="mutation",outcome="ok"}"#,
        1.0,
    );
    at_least(
        r#"mercato_graphql_operations_total{kind="query",outcome="MAX_DEPTH_EXCEEDED"}"#,
        1.0,
    );
    at_least(
        r#"mercato_graphql_operation_duration_seconds_count{kind="mutation",outcome="ok"}"#,
        1.0,
    );
    at_least(r#"mercato_limit_refusals_total{limit="depth"}"#, 1.0);
    at_least(
        r#"mercato_http_requests_total{route="/graphql",status="200"}"#,
        4.0,
    );
    at_least(
        r#"mercato_http_request_duration_seconds_count{route="/graphql",status="200"}"#,
        4.0,
    );
    at_least(
        r#"mercato_tenant_transactions_total{mode="write",outcome="commit"}"#,
        1.0,
    );
    at_least(
        r#"mercato_tenant_transactions_total{mode="read",outcome="rollback"}"#,
        1.0,
    );
    at_least("mercato_reservation_group_size_count", 1.0);
    at_least("mercato_db_pool_connections", 1.0);
    at_least("mercato_db_pool_in_use", 0.0);
    at_least("mercato_db_pool_waiting", 0.0);
    at_least(
        r#"mercato_jobs_total{kind="TEST_PROBE",outcome="succeeded"}"#,
        1.0,
    );
    at_least(
        r#"mercato_job_queue_latency_seconds_count{kind="TEST_PROBE"}"#,
        1.0,
    );
    at_least(
        r#"mercato_job_run_duration_seconds_count{kind="TEST_PROBE"}"#,
        1.0,
    );
    at_least("mercato_ws_subscriptions", 0.0);
    at_least("mercato_ws_sockets", 0.0);
    for user in ["rate", "cost", "cache", "effects"] {
        at_least(
            &format!(r#"mercato_redis_errors_total{{user="{user}"}}"#),
            0.0,
        );
    }
    for user in ["rate", "cost", "cache"] {
        at_least(
            &format!(r#"mercato_redis_fallbacks_total{{user="{user}"}}"#),
            0.0,
        );
    }
    for topic in ["sync_runs", "inventory_alerts", "heartbeat"] {
        at_least(
            &format!(r#"mercato_events_delivered_total{{topic="{topic}"}}"#),
            0.0,
        );
    }
    // Labels are kinds and outcomes: no organization, user or job id appears.
    for id in [&sh.org, &gid_uuid(&sh.s.user_id), &job.to_string()] {
        assert!(!text.contains(id.as_str()), "{id} leaked into /metrics");
    }
    // The scrape itself is counted for the next one.
    let (_, again) = scrape(&app).await;
    assert!(
        samples(&again)
            .get(r#"mercato_http_requests_total{route="/metrics",status="200"}"#)
            .is_some_and(|v| *v >= 1.0)
    );
}
