//! Job queue and live-progress fan-out benchmarks.

use futures::StreamExt;
use mercato::domain::jobs::{JobKind, SyncRunRow};
use mercato::ids::OrgId;
use mercato::jobs::{NewJob, submit};
use mercato::keys::Topic;
use mercato_tests::stock::{self, Shop};
use mercato_tests::ws::{next_json, subscribe_at};
use mercato_tests::{TestApp, gid, owner_rows, procs};
use serde_json::json;
use std::time::{Duration, Instant};

fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn noop(app: &TestApp, org: OrgId) {
    let mut job = NewJob::new(JobKind::Noop, json!({}));
    job.with_run = false;
    submit(&app.state, org, job).await.unwrap();
}

async fn count(app: &TestApp, sh: &Shop, sql: &str) -> i64 {
    owner_rows(app, &sh.org, sql).await[0].parse().unwrap()
}

/// Enqueue → start latency with idle workers, and no-op throughput.
pub async fn jobs(app: &TestApp, sh: &Shop) {
    let org = OrgId(sh.org.parse().unwrap());
    println!(
        "\n## Jobs (in-process worker, {} job slots)",
        app.state.config.jobs.worker_concurrency
    );

    // Throughput: 5,000 no-op jobs queued (and handed to Redis) before the worker starts.
    const N: i64 = 5_000;
    let t = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let state = app.state.clone();
        tasks.spawn(async move {
            for _ in 0..N / 16 + 1 {
                let mut job = NewJob::new(JobKind::Noop, json!({}));
                job.with_run = false;
                submit(&state, org, job).await.unwrap();
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap();
    }
    let queued = count(
        app,
        sh,
        "SELECT count(*)::text FROM jobs WHERE kind = 'NOOP'",
    )
    .await;
    println!(
        "enqueue: {queued} jobs by 16 callers in {:.2}s = {:.0} jobs/s (each its own transaction + XADD)",
        t.elapsed().as_secs_f64(),
        queued as f64 / t.elapsed().as_secs_f64()
    );
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let worker = tokio::spawn(mercato::jobs::run_worker(app.state.clone(), async move {
        let _ = stopped.await;
    }));
    let t = Instant::now();
    loop {
        let done = count(
            app,
            sh,
            "SELECT count(*)::text FROM jobs WHERE kind = 'NOOP' AND status = 'SUCCEEDED'",
        )
        .await;
        if done == queued {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(600),
            "only {done} of {queued} done"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let secs = t.elapsed().as_secs_f64();
    println!(
        "throughput: {queued} no-op jobs (claim + run + fenced completion, 2 transactions each) in {secs:.2}s = {:.0} jobs/s",
        queued as f64 / secs
    );

    // Latency with idle workers: one job at a time, 25 ms apart.
    let before = count(app, sh, "SELECT count(*)::text FROM jobs").await;
    for _ in 0..300 {
        noop(app, org).await;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let lat = owner_rows(
        app,
        &sh.org,
        "SELECT (extract(epoch FROM (started_at - created_at)) * 1000)::text FROM jobs \
         WHERE kind = 'NOOP' AND started_at IS NOT NULL ORDER BY created_at DESC LIMIT 300",
    )
    .await;
    let mut ms: Vec<f64> = lat.iter().map(|v| v.parse().unwrap()).collect();
    ms.sort_by(f64::total_cmp);
    println!(
        "enqueue → start (jobs.created_at at the enqueuing transaction's start → started_at at the claim), {} jobs, idle workers: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target ~50 ms); {before} jobs in the table",
        ms.len(),
        pct(&ms, 0.5),
        pct(&ms, 0.99),
        ms.last().copied().unwrap_or(f64::NAN)
    );
    stop.send(()).unwrap();
    worker.await.unwrap().unwrap();
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// 1,000 WebSocket subscribers of one run on one server process; 100 events/s published to Redis.
pub async fn fanout(app: &TestApp, sh: &Shop) {
    const SUBSCRIBERS: usize = 1000;
    const RATE: u64 = 100;
    const SECONDS: u64 = 10;
    println!(
        "\n## Live progress fan-out ({SUBSCRIBERS} WebSocket subscribers, one `mercato serve` process)"
    );
    let org = OrgId(sh.org.parse().unwrap());
    let queued = submit(
        &app.state,
        org,
        NewJob::new(JobKind::TestProbe, json!({"marker": "fanout"})),
    )
    .await
    .unwrap();
    let run = queued.run.unwrap();
    let run_gid = gid("SyncRun", &run.id.to_string());
    // One client address opens every socket: lift the anonymous per-IP limit on upgrades.
    let server = procs::server(
        app,
        &[
            ("MERCATO_AUTH_RATE_LIMIT_PER_MINUTE", "1000000"),
            ("MERCATO_AUTH_RATE_LIMIT_BURST", "100000"),
            // Every socket is the same principal's here.
            ("MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL", "100000"),
        ],
    )
    .await;
    let addr = server.addr.clone().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server_pid(&server);
    let rss_before = rss_kib(pid);
    let query = "subscription($id: ID!) { syncRunUpdated(id: $id) { version updatedAt } }";
    let mut sockets = Vec::with_capacity(SUBSCRIBERS);
    for chunk in 0..SUBSCRIBERS / 50 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..50 {
            let addr = addr.clone();
            let token = sh.s.token.clone();
            let run_gid = run_gid.clone();
            set.spawn(async move {
                let mut ws = subscribe_at(&addr, &token, query, json!({"id": run_gid})).await;
                let first = next_json(&mut ws).await;
                assert_eq!(first["type"], "next", "{first}");
                ws
            });
        }
        while let Some(ws) = set.join_next().await {
            sockets.push(ws.unwrap());
        }
        let _ = chunk;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_after = rss_kib(pid);
    println!(
        "server RSS: {} MiB before, {} MiB with {SUBSCRIBERS} subscriptions = {:.1} KiB per subscriber",
        rss_before / 1024,
        rss_after / 1024,
        (rss_after.saturating_sub(rss_before)) as f64 / SUBSCRIBERS as f64
    );
    // Receivers: each socket records the delay of every event (updatedAt = publish time) in a list
    // of its own, handed back at the end (one shared channel would be a point of contention).
    let total = (RATE * SECONDS) as usize;
    let mut receivers = Vec::with_capacity(SUBSCRIBERS);
    for ws in sockets {
        receivers.push(tokio::spawn(async move {
            let mut ws = ws;
            let mut got = 0;
            let mut delays = Vec::with_capacity(total);
            while got < total {
                let Ok(Some(Ok(msg))) =
                    tokio::time::timeout(Duration::from_secs(15), ws.next()).await
                else {
                    break;
                };
                let now = chrono::Utc::now();
                let Ok(text) = msg.to_text() else { continue };
                // Only the timestamp is read (a full JSON parse of 100,000 messages a second would
                // take the core the server needs: both run on this 2-core machine).
                let Some(at) = text
                    .split_once(r#""updatedAt":""#)
                    .and_then(|(_, rest)| rest.split_once('"'))
                    .map(|(at, _)| at)
                else {
                    continue;
                };
                let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
                got += 1;
                delays.push((now - at.with_timezone(&chrono::Utc)).as_seconds_f64() * 1000.0);
            }
            delays
        }));
    }
    let client = redis::Client::open(mercato_tests::redis_url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let channel = app.state.keys.channel(Topic::SyncRuns(org));
    let mut tick = tokio::time::interval(Duration::from_millis(1000 / RATE));
    let mut row: SyncRunRow = run.clone();
    let started = Instant::now();
    for i in 0..total {
        tick.tick().await;
        row.version = run.version + 1 + i as i64;
        row.status = mercato::domain::jobs::SyncRunStatus::Running;
        row.progress = i16::try_from(i * 100 / total).unwrap_or(99);
        row.updated_at = chrono::Utc::now();
        let _: () = redis::cmd("PUBLISH")
            .arg(&channel)
            .arg(serde_json::to_string(&row).unwrap())
            .query_async(&mut conn)
            .await
            .unwrap();
    }
    let publish_secs = started.elapsed().as_secs_f64();
    let mut delays = Vec::with_capacity(total * SUBSCRIBERS);
    for r in receivers {
        delays.extend(r.await.unwrap());
    }
    delays.sort_by(f64::total_cmp);
    let expected = total * SUBSCRIBERS;
    println!(
        "{total} events in {publish_secs:.1}s ({RATE}/s) to {SUBSCRIBERS} subscribers: {} of {expected} deliveries; publish → client delay p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms (target p99 ≤ 50 ms; clients share the 2 cores with the server)",
        delays.len(),
        pct(&delays, 0.5),
        pct(&delays, 0.99),
        delays.last().copied().unwrap_or(f64::NAN)
    );
    drop(server);
    idle_subscribers(app).await;
}

/// 10,000 idle subscriptions (one per socket) on a fresh `mercato serve`: its memory before and
/// after.
async fn idle_subscribers(app: &TestApp) {
    const IDLE: usize = 10_000;
    let sh = stock::shop(app, "bench-idle").await;
    let server = procs::server(
        app,
        &[
            ("MERCATO_AUTH_RATE_LIMIT_PER_MINUTE", "10000000"),
            ("MERCATO_AUTH_RATE_LIMIT_BURST", "1000000"),
            ("MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL", "100000"),
        ],
    )
    .await;
    let addr = server.addr.clone().unwrap();
    // The runs of a store with none: the subscriptions stay idle.
    let store = app
        .connect_store(&sh.s, &sh.branch, "idle-shop", None)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let pid = server.pid();
    let before = rss_kib(pid);
    let query = "subscription($s: ID!) { syncRuns(storeId: $s) { id status progress version } }";
    let started = Instant::now();
    let mut sockets = Vec::with_capacity(IDLE);
    for _ in 0..IDLE / 100 {
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..100 {
            let (addr, token, store) = (addr.clone(), sh.s.token.clone(), store.clone());
            set.spawn(async move { subscribe_at(&addr, &token, query, json!({"s": store})).await });
        }
        while let Some(ws) = set.join_next().await {
            sockets.push(ws.unwrap());
        }
    }
    let opened = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = rss_kib(pid);
    println!(
        "{IDLE} idle subscriptions (one socket each) opened in {opened:.1}s: server RSS {} MiB before, {} MiB after = {:.1} KiB per subscriber (target ≤ 50 KB)",
        before / 1024,
        after / 1024,
        after.saturating_sub(before) as f64 / IDLE as f64
    );
    drop(sockets);
    drop(server);
}

fn server_pid(p: &procs::Proc) -> u32 {
    p.pid()
}
