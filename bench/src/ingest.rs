//! W2 ingest: signed marketplace pushes from many concurrent senders into `POST /webhooks/tiktok`
//! (each a new TikTok order-status event for one connected shop: signature verified, timestamp
//! checked, shop found, inbox row and its job committed, job handed to Redis, then 200), next to
//! pgbench inserting the same inbox row with its unique key as the runtime role (tenant settings,
//! INSERT … ON CONFLICT DO NOTHING, COMMIT) in the same run. Then every acknowledged event is
//! counted in the inbox: zero lost. No worker runs, so the figure is the acknowledgement path
//! alone. The target: at least half of pgbench's rate, p99 ≤ 20 ms at 16 senders.

use crate::{RUN, percentile, pgbench};
use mercato_tests::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// Numbers every push of this process: each is a new event.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// A TikTok order-status push for `shop`, numbered `n` (its notification id), sent now.
fn body(shop: &str, n: u64) -> String {
    let now = chrono::Utc::now().timestamp();
    serde_json::json!({
        "type": 1,
        "tts_notification_id": format!("bench-{n}"),
        "shop_id": shop,
        "timestamp": now,
        "data": {"order_id": format!("5764863{n:011}"), "order_status": "AWAITING_SHIPMENT", "is_on_hold_order": false, "update_time": now}
    })
    .to_string()
}

struct Sent {
    acknowledged: u64,
    refused: u64,
    latencies_us: Vec<u64>,
    secs: f64,
}

/// Signed pushes for one run, made before it starts so the senders' clock measures the server
/// (the JSON and the HMAC of a push are the platform's work, not Mercato's).
fn signed(n: usize, (shop, key, secret): (&str, &str, &str)) -> Arc<Vec<(String, String)>> {
    Arc::new(
        (0..n)
            .map(|_| {
                let b = body(shop, SEQ.fetch_add(1, Ordering::Relaxed));
                let sig = connectors::tiktok::webhook_signature(key, secret, b.as_bytes());
                (b, sig)
            })
            .collect(),
    )
}

/// One keep-alive HTTP/1.1 connection that POSTs pre-signed pushes and reads each answer: a
/// minimal client (as pgbench's is), so the machine's two cores go to the server, not to a
/// general-purpose client's machinery.
struct Conn {
    stream: tokio::io::BufStream<tokio::net::TcpStream>,
    host: String,
    path: String,
}

impl Conn {
    async fn open(url: &str) -> Self {
        let u = url::Url::parse(url).unwrap();
        let host = format!("{}:{}", u.host_str().unwrap(), u.port().unwrap());
        let tcp = tokio::net::TcpStream::connect(&host).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Self {
            stream: tokio::io::BufStream::new(tcp),
            host,
            path: u.path().to_owned(),
        }
    }

    /// POSTs `body` signed `sig`; the status.
    async fn post(&mut self, body: &str, sig: &str) -> std::io::Result<u16> {
        use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};
        let head = format!(
            "POST {} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\nauthorization: {sig}\r\ncontent-length: {}\r\n\r\n",
            self.path,
            self.host,
            body.len()
        );
        self.stream.write_all(head.as_bytes()).await?;
        self.stream.write_all(body.as_bytes()).await?;
        self.stream.flush().await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            line.clear();
            self.stream.read_line(&mut line).await?;
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((k, v)) = line.split_once(':')
                && k.eq_ignore_ascii_case("content-length")
            {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        let mut rest = vec![0; length];
        self.stream.read_exact(&mut rest).await?;
        Ok(status)
    }
}

async fn send(
    url: &str,
    conc: usize,
    run: std::time::Duration,
    pushes: Arc<Vec<(String, String)>>,
) -> Sent {
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (url, next, pushes) = (url.to_owned(), next.clone(), pushes.clone());
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::open(&url).await;
            let (mut ok, mut bad, mut lat) = (0u64, 0u64, Vec::new());
            while Instant::now() < deadline {
                let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                let Some((b, sig)) = pushes.get(i) else {
                    panic!(
                        "more than {} pushes: raise the pre-signed count",
                        pushes.len()
                    );
                };
                let t = Instant::now();
                let status = match conn.post(b, sig).await {
                    Ok(s) => s,
                    Err(_) => {
                        conn = Conn::open(&url).await;
                        0
                    }
                };
                lat.push(t.elapsed().as_micros() as u64);
                if status == 200 {
                    ok += 1;
                } else {
                    bad += 1;
                }
            }
            (ok, bad, lat)
        }));
    }
    let mut out = Sent {
        acknowledged: 0,
        refused: 0,
        latencies_us: Vec::new(),
        secs: 0.0,
    };
    for t in tasks {
        let (ok, bad, mut lat) = t.await.unwrap();
        out.acknowledged += ok;
        out.refused += bad;
        out.latencies_us.append(&mut lat);
    }
    out.secs = start.elapsed().as_secs_f64();
    out.latencies_us.sort_unstable();
    out
}

fn pgbench_script(
    dir: &std::path::Path,
    org: &str,
    store: &str,
    branch: &str,
) -> std::path::PathBuf {
    // As hex: pgbench would read the JSON's `:name` sequences as its own variables.
    let sample = body("7494049642642441621", 1)
        .bytes()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    let script = format!(
        r"\set k random(1, 1000000000000)
BEGIN;
SELECT set_config('app.org_id', '{org}', true), set_config('app.user_id', '', true), set_config('app.branch_ids', '*', true), set_config('app.auth_email', '', true), set_config('app.token_hash', '', true), set_config('statement_timeout', current_setting('statement_timeout'), true);
INSERT INTO webhook_inbox (org_id, id, store_id, branch_id, platform, delivery_key, kind, topic, subject, announced_status, subject_updated_at, sent_at, body, job_id) VALUES ('{org}', gen_random_uuid(), '{store}', '{branch}', 'TIKTOK_SHOP', 'pgbench-' || :client_id || '-' || :k, 'ORDER_STATUS', '1', '576486300000000001', 'AWAITING_SHIPMENT', now(), now(), convert_from(decode('{sample}', 'hex'), 'UTF8'), gen_random_uuid()) ON CONFLICT (org_id, platform, delivery_key) DO NOTHING;
COMMIT;
"
    );
    let path = dir.join("webhook_insert.sql");
    std::fs::write(&path, script).unwrap();
    path
}

/// The W2 ingest benchmark.
pub async fn ingest() {
    use connectors::simulator::SimConfig;
    let sim = mercato_tests::market::simulator_thread(SimConfig {
        products: 5,
        orders: 5,
        ..SimConfig::default()
    });
    let app = crate::stockbench::app(&sim, mercato::config::JobsConfig::default(), 32).await;
    let sh = mercato_tests::stock::shop(&app, "ingest").await;
    let store = mercato_tests::market::connect(&app, &sh.s, &sh.branch, "TIKTOK_SHOP")
        .await
        .store
        .unwrap();
    owner_exec(&app, &sh.org, "UPDATE sync_schedules SET enabled = false").await;
    let cfg = sim.sim.config().clone();
    let (key, secret, shop) = (
        cfg.tiktok.0.clone(),
        cfg.tiktok.1.clone(),
        cfg.tiktok.2.clone(),
    );
    let url = format!("{}/webhooks/tiktok", app.base);
    println!("\n## W2 ingest: signed pushes into POST /webhooks/tiktok");
    println!(
        "one TikTok shop, a new order-status event per request; {}s per run; no worker (acknowledgement path only)",
        RUN.as_secs()
    );
    // Warm the pools.
    let creds = (shop.as_str(), key.as_str(), secret.as_str());
    let _ = send(
        &url,
        4,
        std::time::Duration::from_secs(2),
        signed(50_000, creds),
    )
    .await;
    let dir = std::env::temp_dir().join(format!("mercato-bench-ingest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let branch = gid_uuid(&sh.branch);
    let script = pgbench_script(&dir, &sh.org, &gid_uuid(&store), &branch);
    println!(
        "\n| senders | accepted/s | p50 ms | p99 ms | refused | pgbench tps | pgbench p50 ms | pgbench p99 ms | server / pgbench | inbox rows = acknowledged |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for conc in [16, 64] {
        let before: i64 = owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM webhook_inbox WHERE delivery_key LIKE 'tts:bench-%'",
        )
        .await[0]
            .parse()
            .unwrap();
        // Ten thousand a second is more than this machine serves.
        let pushes = signed(10_000 * RUN.as_secs() as usize + 10_000, creds);
        let s = send(&url, conc, *RUN, pushes).await;
        let after: i64 = owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM webhook_inbox WHERE delivery_key LIKE 'tts:bench-%'",
        )
        .await[0]
            .parse()
            .unwrap();
        let (tps, p50, p99) = pgbench(&app.db_name, &script, conc);
        let rate = s.acknowledged as f64 / s.secs;
        let stored = after - before;
        println!(
            "| {conc} | {rate:.0} | {:.2} | {:.2} | {} | {tps:.0} | {p50:.2} | {p99:.2} | {:.0}% | {} ({stored} of {}) |",
            percentile(&s.latencies_us, 0.5),
            percentile(&s.latencies_us, 0.99),
            s.refused,
            rate / tps * 100.0,
            if stored == s.acknowledged as i64 {
                "yes"
            } else {
                "NO: LOST"
            },
            s.acknowledged
        );
    }
    // What a worker's dispatcher then does with the backlog: one WEBHOOK job per event.
    let started = Instant::now();
    let mut queued = 0;
    loop {
        match mercato::jobs::webhooks::dispatch_once(&app.state)
            .await
            .unwrap()
        {
            0 => break,
            n => queued += n,
        }
    }
    let secs = started.elapsed().as_secs_f64();
    let jobs = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM jobs WHERE kind = 'WEBHOOK'",
    )
    .await;
    let rows = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM webhook_inbox WHERE job_id IS NULL",
    )
    .await;
    println!(
        "\nThe dispatcher then queued {queued} WEBHOOK jobs in {secs:.1} s ({:.0}/s, batches of 1,000); jobs: {}, events without a job: {}",
        queued as f64 / secs,
        jobs[0],
        rows[0]
    );
}
