//! Live sync progress over `/graphql/ws` and the catalog import job, end to end: queued through
//! GraphQL, run by a worker, watched by subscribers on two server processes.

#![allow(clippy::unwrap_used, missing_docs)]

use futures::SinkExt;
use mercato::domain::jobs::JobKind;
use mercato::ids::{OrgId, StoreId};
use mercato::jobs::{NewJob, submit};
use mercato_tests::procs;
use mercato_tests::stock::shop;
use mercato_tests::ws::{maybe_json, next_json, open, subscribe, subscribe_at};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

const RUN_UPDATED: &str = "subscription($id: ID!) { syncRunUpdated(id: $id) { id status progress version attempt message lastError counts { fetched created failed } } }";
const STORE_RUNS: &str =
    "subscription($s: ID!) { syncRuns(storeId: $s) { id status progress version storeId } }";

/// Events until one with a finished status.
async fn until_finished(ws: &mut mercato_tests::ws::Ws, field: &str) -> Vec<Value> {
    let mut out = Vec::new();
    loop {
        let m = next_json(ws).await;
        assert_eq!(m["type"], "next", "{m}");
        let ev = m["payload"]["data"][field].clone();
        assert!(!ev.is_null(), "{m}");
        let done = matches!(
            ev["status"].as_str(),
            Some("SUCCEEDED" | "DEAD" | "CANCELLED" | "SKIPPED")
        );
        out.push(ev);
        if done {
            return out;
        }
    }
}

fn assert_ordered(events: &[Value]) {
    let versions: Vec<i64> = events
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert!(
        versions.windows(2).all(|w| w[0] < w[1]),
        "versions {versions:?}"
    );
    let progress: Vec<i64> = events
        .iter()
        .map(|e| e["progress"].as_i64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress {progress:?}"
    );
}

#[tokio::test]
async fn run_progress_arrives_in_order_on_two_servers_and_never_crosses_tenants() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "live-a").await;
    let b = shop(&app, "live-b").await;
    let store_a = app.connect_store(&a.s, &a.branch, "live-a", None).await;
    let store_b = app.connect_store(&b.s, &b.branch, "live-b", None).await;
    let org_a = OrgId(a.org.parse().unwrap());
    let mut job = NewJob::new(
        JobKind::TestProbe,
        json!({"marker": "live", "sleep_ms": 1000, "steps": 5}),
    );
    job.store = Some(StoreId(gid_uuid(&store_a).parse().unwrap()));
    let queued = submit(&app.state, org_a, job).await.unwrap();
    let run = gid("SyncRun", &queued.run.unwrap().id.to_string());

    // Subscribers: this server and a second server process; org B on its own store and on A's run.
    let second = procs::server(&app, &[]).await;
    let mut here = subscribe(&app, &a.s.token, RUN_UPDATED, json!({"id": run})).await;
    let mut there = subscribe_at(
        second.addr.as_deref().unwrap(),
        &a.s.token,
        RUN_UPDATED,
        json!({"id": run}),
    )
    .await;
    let mut store_feed = subscribe(&app, &a.s.token, STORE_RUNS, json!({"s": store_a})).await;
    let mut other_tenant = subscribe(&app, &b.s.token, STORE_RUNS, json!({"s": store_b})).await;
    let mut peeking = subscribe(&app, &b.s.token, RUN_UPDATED, json!({"id": run})).await;
    let denied = next_json(&mut peeking).await;
    assert_eq!(denied["type"], "next", "{denied}");
    assert_eq!(
        denied["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{denied}"
    );
    let mut wrong_store = subscribe(&app, &b.s.token, STORE_RUNS, json!({"s": store_a})).await;
    let denied = next_json(&mut wrong_store).await;
    assert_eq!(
        denied["payload"]["errors"][0]["extensions"]["code"], "NOT_FOUND",
        "{denied}"
    );

    // A late subscriber first gets the state now: the run is queued, no worker runs yet.
    for ws in [&mut here, &mut there] {
        let first = next_json(ws).await;
        assert_eq!(
            first["payload"]["data"]["syncRunUpdated"]["status"], "QUEUED",
            "{first}"
        );
    }
    let first = next_json(&mut store_feed).await;
    assert_eq!(
        first["payload"]["data"]["syncRuns"]["status"], "QUEUED",
        "{first}"
    );

    let worker = procs::worker(&app, &[]).await;
    let mut seen = Vec::new();
    for (ws, field) in [
        (&mut here, "syncRunUpdated"),
        (&mut there, "syncRunUpdated"),
        (&mut store_feed, "syncRuns"),
    ] {
        let events = until_finished(ws, field).await;
        assert_ordered(&events);
        assert!(
            events.iter().any(|e| e["status"] == "RUNNING"),
            "{events:?}"
        );
        let last = events.last().unwrap();
        assert_eq!(last["status"], "SUCCEEDED", "{events:?}");
        assert_eq!(last["progress"], 100);
        seen.push(events.len());
    }
    // The run's own feed shows intermediate progress (5 steps), not only start and end.
    assert!(seen[0] >= 4, "{seen:?}");
    assert_eq!(seen[0], seen[1], "both servers delivered the same events");
    assert!(
        maybe_json(&mut other_tenant, Duration::from_millis(500))
            .await
            .is_none(),
        "org B saw org A's run"
    );
    drop(worker);
}

#[tokio::test]
async fn an_unauthenticated_socket_receives_nothing() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "anon").await;
    let org_a = OrgId(a.org.parse().unwrap());
    let queued = submit(
        &app.state,
        org_a,
        NewJob::new(JobKind::TestProbe, json!({"marker": "anon"})),
    )
    .await
    .unwrap();
    let run = gid("SyncRun", &queued.run.unwrap().id.to_string());
    let mut ws = open(&app).await;
    ws.send(Message::text(
        json!({"type": "connection_init", "payload": {}}).to_string(),
    ))
    .await
    .unwrap();
    // No credentials: the server closes the socket (4403) before any subscription can start.
    match mercato_tests::ws::next_frame(&mut ws).await {
        Some(Message::Close(Some(frame))) => assert_eq!(u16::from(frame.code), 4403),
        other => panic!("expected the socket to be closed, got {other:?}"),
    }
    let _ = ws
        .send(Message::text(
            json!({"id": "1", "type": "subscribe", "payload": {"query": RUN_UPDATED, "variables": {"id": run}}}).to_string(),
        ))
        .await;
    // Nothing arrives, even once the run changes.
    let _ = mercato::jobs::submit(
        &app.state,
        org_a,
        NewJob::new(JobKind::TestProbe, json!({"marker": "anon-2"})),
    )
    .await
    .unwrap();
    assert!(matches!(
        tokio::time::timeout(
            Duration::from_millis(500),
            futures::StreamExt::next(&mut ws)
        )
        .await,
        Err(_) | Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_))))
    ));
}

#[tokio::test]
async fn a_catalog_import_runs_as_a_job_with_progress_and_per_row_results() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "imp").await;
    let csv = "product_key,product_name,sku,price_MYR,opening_stock\n\
               tee,Tee,TEE-S,19.90,5\n\
               tee,Tee,TEE-M,19.999,5\n\
               mug,Mug,MUG-1,9.50,\n";
    let q = "mutation($i: StartCatalogImportInput!) { startCatalogImport(input: $i) { job { id status } syncRun { id status kind } userErrors { field code message } } }";
    let (status, body) = app
        .upload(
            Some(&sh.s.token),
            q,
            json!({"i": {"csv": null, "locationId": sh.location, "idempotencyKey": "imp-1"}}),
            "variables.i.csv",
            csv.as_bytes(),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let p = &body["data"]["startCatalogImport"];
    assert_eq!(p["job"]["status"], "QUEUED", "{body}");
    assert_eq!(p["syncRun"]["kind"], "CATALOG_IMPORT");
    let run = p["syncRun"]["id"].as_str().unwrap().to_owned();
    // Nothing is imported until a worker runs it.
    let none = app
        .gql(
            Some(&sh.s.token),
            "{ products(first: 5) { edges { node { id } } } }",
            json!({}),
        )
        .await;
    assert_eq!(none["data"]["products"]["edges"], json!([]), "{none}");

    let mut ws = subscribe(&app, &sh.s.token, RUN_UPDATED, json!({"id": run})).await;
    let first = next_json(&mut ws).await;
    assert_eq!(
        first["payload"]["data"]["syncRunUpdated"]["status"], "QUEUED",
        "{first}"
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    let events = until_finished(&mut ws, "syncRunUpdated").await;
    assert_ordered(&events);
    let last = events.last().unwrap();
    assert_eq!(last["status"], "SUCCEEDED", "{events:?}");
    assert_eq!(
        last["counts"],
        json!({"fetched": 3, "created": 2, "failed": 1})
    );
    // Progress between start and end comes from the import's steps (coalesced when they come
    // faster than they are written).
    assert!(
        events
            .iter()
            .any(|e| e["status"] == "RUNNING" && e["progress"].as_i64().unwrap() >= 20),
        "{events:?}"
    );
    // The run is over, so is its subscription: `complete` follows the final state.
    let done = next_json(&mut ws).await;
    assert_eq!(done["type"], "complete", "{done}");
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
    // Subscribing to a finished run: its final state, then `complete` at once.
    let mut again = subscribe(&app, &sh.s.token, RUN_UPDATED, json!({"id": run})).await;
    let only = next_json(&mut again).await;
    assert_eq!(
        only["payload"]["data"]["syncRunUpdated"]["status"], "SUCCEEDED",
        "{only}"
    );
    let done = next_json(&mut again).await;
    assert_eq!(done["type"], "complete", "{done}");

    let r = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { syncRun(id: $id) { status items(first: 10) { edges { node { entity key action message } } } } products(first: 5) { edges { node { name } } } }",
            json!({"id": run}),
        )
        .await;
    assert_eq!(
        r["data"]["syncRun"]["items"]["edges"],
        json!([{"node": {"entity": "CATALOG_ROW", "key": "row 2", "action": "FAILED", "message": "price_MYR: MYR has 2 decimal places"}}]),
        "{r}"
    );
    assert_eq!(
        r["data"]["products"]["edges"].as_array().unwrap().len(),
        2,
        "{r}"
    );

    // The same key returns the same job; a bad input queues nothing.
    let (_, again) = app
        .upload(
            Some(&sh.s.token),
            q,
            json!({"i": {"csv": null, "locationId": sh.location, "idempotencyKey": "imp-1"}}),
            "variables.i.csv",
            csv.as_bytes(),
        )
        .await;
    assert_eq!(
        again["data"]["startCatalogImport"]["job"]["id"], p["job"]["id"],
        "{again}"
    );
    let (_, bad) = app
        .upload(
            Some(&sh.s.token),
            q,
            json!({"i": {"csv": null}}),
            "variables.i.csv",
            b"sku,colour_typo\nX,1\n",
        )
        .await;
    assert_eq!(
        bad["data"]["startCatalogImport"]["userErrors"][0]["code"], "VALIDATION_FAILED",
        "{bad}"
    );
    let jobs = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM jobs WHERE kind = 'CATALOG_IMPORT'",
    )
    .await;
    assert_eq!(jobs, vec!["1"]);
}

/// Live run events are rendered once per selection and shared by the subscriptions that asked
/// for exactly the same thing (same principal, operation, fragments and variables); every
/// subscriber still gets exactly its own selection — a different field list, or the same text
/// with other variables, is rendered for itself.
#[tokio::test]
async fn shared_rendering_gives_every_subscriber_exactly_its_own_selection() {
    use mercato::keys::Topic;
    let app = TestApp::spawn().await;
    let a = shop(&app, "shared-render").await;
    let org = OrgId(a.org.parse().unwrap());
    let queued = submit(
        &app.state,
        org,
        NewJob::new(JobKind::TestProbe, json!({"marker": "shared"})),
    )
    .await
    .unwrap();
    let row = queued.run.unwrap();
    let run = gid("SyncRun", &row.id.to_string());
    let progress = "subscription($id: ID!) { syncRunUpdated(id: $id) { version progress } }";
    let message = "subscription($id: ID!) { syncRunUpdated(id: $id) { version message } }";
    let maybe = "subscription($id: ID!, $p: Boolean!) { syncRunUpdated(id: $id) { version progress @include(if: $p) } }";
    let mut subs = Vec::new();
    for (query, vars, keys) in [
        (progress, json!({"id": run}), vec!["version", "progress"]),
        (progress, json!({"id": run}), vec!["version", "progress"]),
        (message, json!({"id": run}), vec!["version", "message"]),
        (maybe, json!({"id": run, "p": false}), vec!["version"]),
        (
            maybe,
            json!({"id": run, "p": true}),
            vec!["version", "progress"],
        ),
    ] {
        let mut ws = subscribe(&app, &a.s.token, query, vars).await;
        let first = next_json(&mut ws).await;
        assert_eq!(
            first["payload"]["data"]["syncRunUpdated"]["version"], row.version,
            "{first}"
        );
        subs.push((ws, keys));
    }
    let renders = async || {
        let text = reqwest::get(format!("{}/metrics", app.base))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        let count = |what: &str, how: &str| {
            let key = format!("mercato_subscription_{what}_total{{how=\"{how}\"}} ");
            text.lines()
                .find_map(|l| l.strip_prefix(&key))
                .map_or(0, |v| v.trim().parse::<u64>().unwrap())
        };
        [
            count("renders", "rendered"),
            count("renders", "shared"),
            count("payloads", "serialized"),
            count("payloads", "shared"),
        ]
    };
    let before = renders().await;
    let client = redis::Client::open(redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = app.state.keys.channel(Topic::SyncRuns(org));
    let mut live = row.clone();
    for i in 1..=3i64 {
        live.version = row.version + i;
        live.status = mercato::domain::jobs::SyncRunStatus::Running;
        live.progress = i16::try_from(i * 10).unwrap();
        live.message = Some(format!("step {i}"));
        let _: () = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(serde_json::to_string(&live).unwrap())
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    for (ws, keys) in &mut subs {
        for i in 1..=3i64 {
            let m = next_json(ws).await;
            let ev = m["payload"]["data"]["syncRunUpdated"]
                .as_object()
                .unwrap_or_else(|| panic!("{m}"))
                .clone();
            let mut got: Vec<&str> = ev.keys().map(String::as_str).collect();
            let mut want = keys.clone();
            got.sort_unstable();
            want.sort_unstable();
            assert_eq!(got, want, "{m}");
            assert_eq!(ev["version"], row.version + i, "{m}");
            if keys.contains(&"progress") {
                assert_eq!(ev["progress"], i * 10, "{m}");
            }
            if keys.contains(&"message") {
                assert_eq!(ev["message"], format!("step {i}"), "{m}");
            }
        }
    }
    // Four distinct shapes (the two identical subscriptions are one) × 3 events rendered, and
    // their payloads serialized; the identical one shared each of its 3 renderings and payloads.
    let after = renders().await;
    let delta: Vec<u64> = after.iter().zip(before).map(|(a, b)| a - b).collect();
    assert_eq!(delta, [12, 3, 12, 3]);
}
