//! Durable jobs: takeover after a killed worker, the fence against a paused one, recovery after
//! Redis loses everything, atomicity with the API's own writes, retries to DEAD, per-store caps,
//! schedules under two workers, and tenant isolation. Real Postgres and Redis; real `mercato`
//! processes where a process is killed, paused or crashed.

#![allow(clippy::unwrap_used, missing_docs)]

use mercato::domain::jobs::JobKind;
use mercato::ids::{OrgId, StoreId};
use mercato::jobs::{NewJob, submit};
use mercato_tests::procs::{self, PrivateRedis};
use mercato_tests::stock::{Shop, shop};
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;
use uuid::Uuid;

fn org_of(sh: &Shop) -> OrgId {
    OrgId(sh.org.parse().unwrap())
}

async fn probe(app: &TestApp, sh: &Shop, store: Option<Uuid>, payload: Value) -> Uuid {
    let mut job = NewJob::new(JobKind::TestProbe, payload);
    job.store = store.map(StoreId);
    submit(&app.state, org_of(sh), job).await.unwrap().job.id
}

async fn job_col(app: &TestApp, sh: &Shop, job: Uuid, col: &str) -> String {
    owner_rows(
        app,
        &sh.org,
        &format!("SELECT ({col})::text FROM jobs WHERE id = '{job}'"),
    )
    .await
    .pop()
    .unwrap_or_default()
}

async fn wait_status(app: &TestApp, sh: &Shop, job: Uuid, status: &str, wait: Duration) {
    let end = tokio::time::Instant::now() + wait;
    loop {
        let now = job_col(app, sh, job, "status").await;
        if now == status {
            return;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "job {job} is {now}, not {status}, after {wait:?} (last error: {})",
            job_col(app, sh, job, "last_error").await
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Committed probe effects of `marker`.
async fn effects(app: &TestApp, sh: &Shop, marker: &str) -> usize {
    owner_rows(
        app,
        &sh.org,
        &format!("SELECT count(*)::text FROM sync_logs WHERE message = 'probe effect {marker}'"),
    )
    .await[0]
        .parse()
        .unwrap()
}

struct InProcessWorker {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: tokio::task::JoinHandle<mercato::error::AppResult<()>>,
}

impl InProcessWorker {
    fn start(state: &mercato::state::AppState) -> Self {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let handle = tokio::spawn(mercato::jobs::run_worker(state.clone(), async move {
            let _ = stopped.await;
        }));
        Self {
            stop: Some(stop),
            handle,
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.handle.await.unwrap().unwrap();
    }
}

async fn store_of(app: &TestApp, sh: &Shop, shop_id: &str) -> (String, Uuid) {
    let gid = app.connect_store(&sh.s, &sh.branch, shop_id, None).await;
    let uuid = gid_uuid(&gid).parse().unwrap();
    (gid, uuid)
}

#[tokio::test]
async fn a_killed_worker_is_taken_over_after_its_lease_and_the_effect_happens_once() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "k9").await;
    let mut a = procs::worker(&app, &[]).await;
    let job = probe(
        &app,
        &sh,
        None,
        json!({"marker": "k9", "sleep_ms": 4000, "sleep_attempts": 1}),
    )
    .await;
    wait_status(&app, &sh, job, "RUNNING", Duration::from_secs(10)).await;
    // Attempt 1 has written its effect (uncommitted) and is sleeping: kill it.
    tokio::time::sleep(Duration::from_millis(300)).await;
    a.kill9();
    assert_eq!(job_col(&app, &sh, job, "attempts").await, "1");
    let b = procs::worker(&app, &[]).await;
    wait_status(&app, &sh, job, "SUCCEEDED", Duration::from_secs(20)).await;
    assert_eq!(job_col(&app, &sh, job, "attempts").await, "2");
    assert_eq!(
        effects(&app, &sh, "k9").await,
        1,
        "the effect committed once"
    );
    let takeover = owner_rows(
        &app,
        &sh.org,
        &format!("SELECT l.message FROM sync_logs l JOIN sync_runs r ON r.id = l.run_id WHERE r.job_id = '{job}' AND l.level = 'WARN'"),
    )
    .await;
    assert_eq!(takeover.len(), 1, "{takeover:?}");
    assert!(takeover[0].contains("attempt 2 takes over"), "{takeover:?}");
    assert!(b.logs().contains("takes over"), "{}", b.logs());
}

#[tokio::test]
async fn a_paused_worker_resumed_after_takeover_is_refused_by_the_fence() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "stop").await;
    let a = procs::worker(&app, &[]).await;
    let job = probe(
        &app,
        &sh,
        None,
        json!({"marker": "paused", "sleep_ms": 2500, "sleep_attempts": 1}),
    )
    .await;
    wait_status(&app, &sh, job, "RUNNING", Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    a.pause();
    let owner_a = job_col(&app, &sh, job, "lease_owner").await;
    let b = procs::worker(&app, &[]).await;
    // The lease (2 s) runs out while A is stopped; B takes over and finishes.
    wait_status(&app, &sh, job, "SUCCEEDED", Duration::from_secs(20)).await;
    assert_eq!(job_col(&app, &sh, job, "attempts").await, "2");
    a.resume();
    a.wait_for_log("completion refused by the fence", Duration::from_secs(15))
        .await;
    assert_eq!(
        effects(&app, &sh, "paused").await,
        1,
        "A's work rolled back"
    );
    assert_eq!(job_col(&app, &sh, job, "status").await, "SUCCEEDED");
    assert_eq!(job_col(&app, &sh, job, "lease_owner").await, "");
    assert!(!owner_a.is_empty());
    assert!(b.logs().contains("takes over"), "{}", b.logs());
}

#[tokio::test]
async fn after_redis_flushall_a_thousand_pending_jobs_all_complete_once() {
    let redis = PrivateRedis::start().await;
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.redis_url = redis.url.clone().into();
    let app = TestApp::spawn_with(config, db).await;
    let sh = shop(&app, "flush").await;
    let mut jobs = Vec::new();
    for i in 0..1000 {
        jobs.push(probe(&app, &sh, None, json!({"marker": format!("f{i}")})).await);
    }
    let client = redis::Client::open(redis.url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let len: i64 = redis::cmd("XLEN")
        .arg(app.state.keys.jobs_stream())
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(len, 1000, "each job was handed to Redis after commit");
    let _: () = redis::cmd("FLUSHALL").query_async(&mut conn).await.unwrap();
    let worker = InProcessWorker::start(&app.state);
    let end = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let done: i64 = owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM jobs WHERE status = 'SUCCEEDED'",
        )
        .await[0]
            .parse()
            .unwrap();
        if done == 1000 {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{done} of 1000 done");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    worker.stop().await;
    let once = owner_rows(
        &app,
        &sh.org,
        "SELECT count(DISTINCT message)::text || ' ' || count(*)::text FROM sync_logs WHERE message LIKE 'probe effect f%'",
    )
    .await;
    assert_eq!(once, vec!["1000 1000"]);
    let attempts = owner_rows(&app, &sh.org, "SELECT max(attempts)::text FROM jobs").await;
    assert_eq!(attempts, vec!["1"]);
}

#[tokio::test]
async fn an_api_crash_around_commit_leaves_the_store_and_its_jobs_both_or_neither() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "crash").await;
    let connect = |shop_id: &str| {
        json!({"query": "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } } }",
               "variables": {"i": {"branchId": sh.branch, "platform": "KILIMALL", "externalShopId": shop_id,
                                   "name": "Crash shop", "region": "KE", "currency": "KES"}}})
    };
    let count =
        async |sql: &str| -> i64 { owner_rows(&app, &sh.org, sql).await[0].parse().unwrap() };

    // Dies before COMMIT: neither the store nor its schedule jobs.
    let mut before = procs::server(&app, &[("MERCATO_FAILPOINT", "commit:before")]).await;
    let sent = app
        .client
        .post(format!("http://{}/graphql", before.addr.clone().unwrap()))
        .bearer_auth(&sh.s.token)
        .json(&connect("crash-1"))
        .send()
        .await;
    assert!(sent.is_err(), "the server died without answering");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(before.exited());
    assert_eq!(
        count("SELECT count(*)::text FROM stores WHERE external_shop_id = 'crash-1'").await,
        0
    );
    assert_eq!(count("SELECT count(*)::text FROM jobs").await, 0);

    // Dies after COMMIT, before answering and before handing anything to Redis: both.
    let mut after = procs::server(&app, &[("MERCATO_FAILPOINT", "commit:after")]).await;
    let sent = app
        .client
        .post(format!("http://{}/graphql", after.addr.clone().unwrap()))
        .bearer_auth(&sh.s.token)
        .json(&connect("crash-2"))
        .send()
        .await;
    assert!(sent.is_err(), "the server died without answering");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(after.exited());
    assert_eq!(
        count("SELECT count(*)::text FROM stores WHERE external_shop_id = 'crash-2'").await,
        1
    );
    assert_eq!(
        count("SELECT count(*)::text FROM jobs j JOIN stores s ON s.id = j.store_id WHERE s.external_shop_id = 'crash-2' AND j.status = 'QUEUED'").await,
        6,
        "one queued slot per default schedule"
    );

    // A job queued by a request that died after COMMIT is not lost: the reconciler hands it out.
    let store = owner_rows(
        &app,
        &sh.org,
        "SELECT id::text FROM stores WHERE external_shop_id = 'crash-2'",
    )
    .await[0]
        .clone();
    let mut after2 = procs::server(&app, &[("MERCATO_FAILPOINT", "commit:after")]).await;
    let sent = app
        .client
        .post(format!("http://{}/graphql", after2.addr.clone().unwrap()))
        .bearer_auth(&sh.s.token)
        .json(&json!({"query": "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } } }",
                      "variables": {"i": {"storeId": gid("Store", &store), "kind": "ORDERS"}}}))
        .send()
        .await;
    assert!(sent.is_err());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(after2.exited());
    let job: Uuid = owner_rows(
        &app,
        &sh.org,
        "SELECT id::text FROM jobs WHERE schedule_id IS NULL",
    )
    .await[0]
        .parse()
        .unwrap();
    let worker = InProcessWorker::start(&app.state);
    wait_status(&app, &sh, job, "SUCCEEDED", Duration::from_secs(20)).await;
    worker.stop().await;
    let run = owner_rows(
        &app,
        &sh.org,
        &format!(
            "SELECT status || ' ' || coalesce(message, '') FROM sync_runs WHERE job_id = '{job}'"
        ),
    )
    .await;
    // The job ran its handler once: a file-only store has nothing to pull.
    assert!(
        run[0].starts_with("SKIPPED the store is FILE_ONLY"),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_poison_job_goes_dead_after_its_retries_while_others_complete() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "poison").await;
    let poison = probe(
        &app,
        &sh,
        None,
        json!({"marker": "poison", "fail": "transient"}),
    )
    .await;
    let refused = probe(
        &app,
        &sh,
        None,
        json!({"marker": "refused", "fail": "permanent"}),
    )
    .await;
    let flaky = probe(
        &app,
        &sh,
        None,
        json!({"marker": "flaky", "fail": "transient", "fail_attempts": 2}),
    )
    .await;
    let mut good = Vec::new();
    for i in 0..5 {
        good.push(probe(&app, &sh, None, json!({"marker": format!("g{i}")})).await);
    }
    let worker = InProcessWorker::start(&app.state);
    wait_status(&app, &sh, poison, "DEAD", Duration::from_secs(30)).await;
    wait_status(&app, &sh, refused, "DEAD", Duration::from_secs(10)).await;
    wait_status(&app, &sh, flaky, "SUCCEEDED", Duration::from_secs(10)).await;
    for g in &good {
        wait_status(&app, &sh, *g, "SUCCEEDED", Duration::from_secs(10)).await;
    }
    // Backoff 50 ms × 5 (test schedule): six attempts, then dead with its last error.
    assert_eq!(job_col(&app, &sh, poison, "attempts").await, "6");
    assert_eq!(
        job_col(&app, &sh, poison, "last_error").await,
        "probe poison failed"
    );
    assert_eq!(job_col(&app, &sh, refused, "attempts").await, "1");
    assert_eq!(job_col(&app, &sh, flaky, "attempts").await, "3");
    assert_eq!(
        effects(&app, &sh, "poison").await,
        0,
        "failed attempts roll back"
    );
    assert_eq!(effects(&app, &sh, "flaky").await, 1);
    let logs = owner_rows(
        &app,
        &sh.org,
        &format!("SELECT l.message FROM sync_logs l JOIN sync_runs r ON r.id = l.run_id WHERE r.job_id = '{poison}' AND l.level = 'ERROR' ORDER BY l.id"),
    )
    .await;
    assert_eq!(logs.len(), 6, "{logs:?}");
    assert!(
        logs[0].starts_with("attempt 1 of 6 failed: probe poison failed; retrying in"),
        "{logs:?}"
    );
    assert!(logs[5].ends_with("no attempts left"), "{logs:?}");

    // Visible through GraphQL, and retried by hand from attempt 1.
    let q = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { job(id: $id) { status attempts maxAttempts lastError syncRun { status state { lastError } logs(first: 10) { edges { node { level attempt } } } } } }",
            json!({"id": gid("Job", &poison.to_string())}),
        )
        .await;
    let j = &q["data"]["job"];
    assert_eq!(j["status"], "DEAD", "{q}");
    assert_eq!(j["attempts"], 6);
    assert_eq!(j["maxAttempts"], 6);
    assert_eq!(j["syncRun"]["status"], "DEAD");
    assert_eq!(j["syncRun"]["state"]["lastError"], "probe poison failed");
    assert_eq!(j["syncRun"]["logs"]["edges"].as_array().unwrap().len(), 6);
    let r = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: JobInput!) { retryJob(input: $i) { job { status attempts } userErrors { code } } }",
            json!({"i": {"id": gid("Job", &poison.to_string())}}),
        )
        .await;
    assert_eq!(r["data"]["retryJob"]["job"]["status"], "QUEUED", "{r}");
    assert_eq!(r["data"]["retryJob"]["job"]["attempts"], 0);
    wait_status(&app, &sh, poison, "DEAD", Duration::from_secs(30)).await;
    assert_eq!(job_col(&app, &sh, poison, "attempts").await, "6");
    // A finished job cannot be retried or cancelled.
    let r = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: JobInput!) { retryJob(input: $i) { job { status } userErrors { code message } } }",
            json!({"i": {"id": gid("Job", &good[0].to_string())}}),
        )
        .await;
    assert_eq!(
        r["data"]["retryJob"]["userErrors"][0]["code"], "CONFLICT",
        "{r}"
    );
    worker.stop().await;
}

#[tokio::test]
async fn cancel_stops_queued_and_running_jobs_and_rolls_back_their_work() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "cancel").await;
    let queued = {
        let mut j = NewJob::new(JobKind::TestProbe, json!({"marker": "later"}));
        j.run_at = Some(chrono::Utc::now() + chrono::Duration::hours(1));
        submit(&app.state, org_of(&sh), j).await.unwrap().job.id
    };
    let running = probe(
        &app,
        &sh,
        None,
        json!({"marker": "long", "sleep_ms": 20000, "steps": 200}),
    )
    .await;
    let worker = InProcessWorker::start(&app.state);
    wait_status(&app, &sh, running, "RUNNING", Duration::from_secs(10)).await;
    for id in [queued, running] {
        let r = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: JobInput!) { cancelJob(input: $i) { job { status cancelRequested } userErrors { code } } }",
                json!({"i": {"id": gid("Job", &id.to_string())}}),
            )
            .await;
        assert!(
            r["data"]["cancelJob"]["userErrors"]
                .as_array()
                .unwrap()
                .is_empty(),
            "{r}"
        );
    }
    assert_eq!(job_col(&app, &sh, queued, "status").await, "CANCELLED");
    // The running one stops at its next lease renewal (a third of the 2 s lease).
    wait_status(&app, &sh, running, "CANCELLED", Duration::from_secs(10)).await;
    assert_eq!(effects(&app, &sh, "long").await, 0);
    worker.stop().await;
}

#[tokio::test]
async fn one_store_at_its_cap_does_not_hold_back_another_store() {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.jobs.store_concurrency = 1;
    let app = TestApp::spawn_with(config, db).await;
    let sh = shop(&app, "cap").await;
    let (_, busy) = store_of(&app, &sh, "busy").await;
    let (_, other) = store_of(&app, &sh, "other").await;
    let mut backfill = Vec::new();
    for i in 0..3 {
        backfill.push(
            probe(
                &app,
                &sh,
                Some(busy),
                json!({"marker": format!("b{i}"), "sleep_ms": 700}),
            )
            .await,
        );
    }
    let small = probe(
        &app,
        &sh,
        Some(other),
        json!({"marker": "small", "sleep_ms": 100}),
    )
    .await;
    let worker = InProcessWorker::start(&app.state);
    for j in backfill.iter().chain([&small]) {
        wait_status(&app, &sh, *j, "SUCCEEDED", Duration::from_secs(30)).await;
    }
    worker.stop().await;
    // The busy store's jobs ran one at a time; the other store's job did not wait for them.
    let spans = owner_rows(
        &app,
        &sh.org,
        &format!("SELECT extract(epoch FROM started_at)::text || ' ' || extract(epoch FROM finished_at)::text FROM jobs WHERE store_id = '{busy}' AND kind = 'TEST_PROBE' ORDER BY started_at"),
    )
    .await;
    let spans: Vec<(f64, f64)> = spans
        .iter()
        .map(|s| {
            let (a, b) = s.split_once(' ').unwrap();
            (a.parse().unwrap(), b.parse().unwrap())
        })
        .collect();
    for w in spans.windows(2) {
        assert!(w[1].0 >= w[0].1, "overlapping runs of one store: {spans:?}");
    }
    let small_done: f64 = job_col(&app, &sh, small, "extract(epoch FROM finished_at)")
        .await
        .parse()
        .unwrap();
    assert!(
        small_done < spans[2].1,
        "the other store waited for the backfill"
    );
}

#[tokio::test]
async fn two_workers_run_each_schedule_slot_once() {
    let app = TestApp::spawn().await;
    let sh = shop(&app, "slots").await;
    let (store_gid, store) = store_of(&app, &sh, "slots").await;
    let schedules = app
        .gql(
            Some(&sh.s.token),
            "query($s: ID!) { syncSchedules(storeId: $s) { nodes { kind everySeconds cron enabled nextRunAt } } }",
            json!({"s": store_gid}),
        )
        .await;
    let mut kinds: Vec<(String, Value, Value)> = schedules["data"]["syncSchedules"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["kind"].as_str().unwrap().to_owned(),
                s["everySeconds"].clone(),
                s["cron"].clone(),
            )
        })
        .collect();
    kinds.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        kinds,
        vec![
            ("ORDERS".into(), json!(600), Value::Null),
            ("PAYOUTS".into(), Value::Null, json!("0 3 * * *")),
            ("PRODUCTS".into(), json!(21600), Value::Null),
            ("RETURN_SLA".into(), Value::Null, json!("0 1 * * *")),
            ("STOCK_DRIFT".into(), json!(3600), Value::Null),
            ("TOKEN_REFRESH".into(), json!(600), Value::Null),
        ]
    );
    // Bad definitions are refused with typed errors and change nothing.
    for (input, field) in [
        (json!({"everySeconds": 0}), json!(["input", "everySeconds"])),
        (json!({"cron": "every day"}), json!(["input", "cron"])),
        (
            json!({"everySeconds": 5, "cron": "* * * * *"}),
            json!(["input"]),
        ),
    ] {
        let mut i = json!({"storeId": store_gid, "kind": "ORDERS"});
        i.as_object_mut()
            .unwrap()
            .extend(input.as_object().unwrap().clone());
        let r = app
            .gql(
                Some(&sh.s.token),
                "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { schedule { everySeconds } userErrors { field code } } }",
                json!({"i": i}),
            )
            .await;
        assert_eq!(
            r["data"]["updateSyncSchedule"]["userErrors"][0]["field"], field,
            "{r}"
        );
    }
    let w1 = procs::worker(&app, &[]).await;
    let w2 = procs::worker(&app, &[]).await;
    let r = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { schedule { everySeconds nextRunAt } userErrors { code } } }",
            json!({"i": {"storeId": store_gid, "kind": "ORDERS", "everySeconds": 1}}),
        )
        .await;
    assert_eq!(
        r["data"]["updateSyncSchedule"]["schedule"]["everySeconds"], 1,
        "{r}"
    );
    tokio::time::sleep(Duration::from_secs(5)).await;
    let r = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { schedule { enabled nextRunAt } } }",
            json!({"i": {"storeId": store_gid, "kind": "ORDERS", "enabled": false}}),
        )
        .await;
    assert_eq!(
        r["data"]["updateSyncSchedule"]["schedule"]["nextRunAt"],
        Value::Null,
        "{r}"
    );
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let slots = owner_rows(
        &app,
        &sh.org,
        &format!(
            "SELECT j.slot_at::text || ' ' || count(*)::text || ' ' || string_agg(j.status, ',') || ' ' || coalesce(max(r.attempt), 0)::text \
             FROM jobs j LEFT JOIN sync_runs r ON r.job_id = j.id \
             WHERE j.store_id = '{store}' AND j.kind = 'ORDERS' AND j.status <> 'CANCELLED' GROUP BY j.slot_at ORDER BY j.slot_at"
        ),
    )
    .await;
    assert!(slots.len() >= 3, "slots ran: {slots:?}");
    for s in &slots {
        assert!(
            s.ends_with(" 1 SUCCEEDED 1"),
            "each slot once, one attempt: {slots:?}"
        );
    }
    let runs = owner_rows(
        &app,
        &sh.org,
        &format!("SELECT count(*)::text FROM sync_runs WHERE store_id = '{store}' AND kind = 'ORDERS' AND status = 'SKIPPED'"),
    )
    .await;
    assert_eq!(runs[0], slots.len().to_string());
    drop((w1, w2));
}

#[tokio::test]
async fn jobs_and_runs_stay_inside_their_tenant() {
    let app = TestApp::spawn().await;
    let a = shop(&app, "tenant-a").await;
    let b = shop(&app, "tenant-b").await;
    let (store_a, _) = store_of(&app, &a, "ta").await;
    let start = |store: &str, key: &str| json!({"i": {"storeId": store, "kind": "ORDERS", "idempotencyKey": key}});
    let m = "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id status } syncRun { id status } userErrors { field code } } }";
    let first = app.gql(Some(&a.s.token), m, start(&store_a, "k1")).await;
    let again = app.gql(Some(&a.s.token), m, start(&store_a, "k1")).await;
    let job = first["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        again["data"]["startSync"]["job"]["id"], job,
        "same key, same job"
    );
    let run = first["data"]["startSync"]["syncRun"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // B cannot start, see, cancel or retry A's.
    let r = app.gql(Some(&b.s.token), m, start(&store_a, "k2")).await;
    assert_eq!(
        r["data"]["startSync"]["userErrors"][0]["code"], "NOT_FOUND",
        "{r}"
    );
    // Another tenant's job and run are not there: null, as for an id that never existed.
    for (q, v, field) in [
        (
            "query($id: ID!) { job(id: $id) { id } }",
            json!({"id": job}),
            "job",
        ),
        (
            "query($id: ID!) { syncRun(id: $id) { id } }",
            json!({"id": run}),
            "syncRun",
        ),
    ] {
        let r = app.gql(Some(&b.s.token), q, v).await;
        assert!(r["errors"].is_null(), "{r}");
        let data = r["data"].as_object().unwrap();
        assert!(data.contains_key(field) && data[field].is_null(), "{r}");
    }
    let r = app
        .gql(
            Some(&b.s.token),
            "mutation($i: JobInput!) { cancelJob(input: $i) { userErrors { code } } }",
            json!({"i": {"id": job}}),
        )
        .await;
    assert_eq!(
        r["data"]["cancelJob"]["userErrors"][0]["code"], "NOT_FOUND",
        "{r}"
    );
    let r = app.gql(Some(&b.s.token), "{ jobs(first: 50) { edges { node { id } } } syncRuns(first: 50) { edges { node { id } } } }", json!({})).await;
    assert_eq!(r["data"]["jobs"]["edges"], json!([]), "{r}");
    assert_eq!(r["data"]["syncRuns"]["edges"], json!([]), "{r}");
    let r = app.gql(Some(&a.s.token), "{ jobs(first: 50) { edges { node { id } } } syncRuns(first: 50) { edges { node { id kind status } } } }", json!({})).await;
    assert_eq!(
        r["data"]["syncRuns"]["edges"].as_array().unwrap().len(),
        1,
        "{r}"
    );
    assert!(
        r["data"]["jobs"]["edges"].as_array().unwrap().len() >= 5,
        "4 schedule slots + the manual sync: {r}"
    );

    // As the runtime role in SQL: B's context sees none of A's rows; the dispatch index is not
    // readable at all; the reconciler's function only hands out (org, job) pairs.
    let rt = app.runtime().await;
    for table in ["jobs", "sync_runs", "sync_schedules"] {
        let n = rows_as(
            &rt,
            &[("app.org_id", &b.org), ("app.branch_ids", "*")],
            &format!("SELECT count(*)::text FROM {table}"),
        )
        .await
        .unwrap();
        assert_eq!(n, vec!["0"], "{table}");
    }
    let denied = rows_as(&rt, &[], "SELECT count(*)::text FROM job_dispatch")
        .await
        .unwrap_err();
    assert!(denied.contains("permission denied"), "{denied}");
    let forged = rows_as(
        &rt,
        &[("app.org_id", &b.org), ("app.branch_ids", "*")],
        &format!(
            "UPDATE jobs SET status = 'CANCELLED' WHERE id = '{}' RETURNING id::text",
            gid_uuid(&job)
        ),
    )
    .await
    .unwrap();
    assert!(forged.is_empty());
}
