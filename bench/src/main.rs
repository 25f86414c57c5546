//! Mercato benchmarks against the real stack (`scripts/bench`, which starts the test services).
//!
//! `mercato-bench [catalog|reservations|import|all]`:
//! - catalog: `products(first: 50)` with variants, prices and stock levels over 100 orgs × 2,000
//!   products × 3 variants, at concurrency 16 and 64 (Redis cache on, then off), next to pgbench
//!   running the same SQL under the same RLS as the runtime role in the same run;
//! - reservations: reservations/s on one hot SKU and spread over 1,000 SKUs, then a sell-out
//!   race, each checked for oversell against the database;
//! - import: a 10,000-row CSV `importCatalog` (create, then update);
//! - orders (W1): `orders(first: 50)` with items and store over 100 orgs × 10,000 orders × 3
//!   items, next to pgbench's best single SQL and PostGraphile v5 (`orders.rs`);
//! - backfill (W3): 100,000 simulator orders into an empty store, next to COPY (`backfill.rs`);
//! - push: stock changes to ~1,000 listings on four simulated platforms, commit to acknowledgement
//!   (`push.rs`).
//! - flash: a 100-unit flash sale on three simulated platforms; the cross-channel oversell against
//!   the loop latency (`flash.rs`).
//! - ingest (W2): signed marketplace pushes into `/webhooks/tiktok` at 16 and 64 senders, next to
//!   pgbench inserting the same inbox row as the runtime role; every acknowledged event counted
//!   in the inbox (`ingest.rs`).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod backfill;
mod client;
mod flash;
mod ingest;
mod jobs;
mod orders;
mod peer;
mod push;
mod stockbench;

use mercato_tests::stock::{Shop, shop};
use mercato_tests::*;
use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// The same allocator as the `mercato` binary, so the in-process server is measured as shipped.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ORGS: usize = 100;
const PRODUCTS: usize = 2_000;
/// Seconds per measured run: 10, or `MERCATO_BENCH_SECS` (longer runs for profiling).
static RUN: std::sync::LazyLock<Duration> = std::sync::LazyLock::new(|| {
    Duration::from_secs(
        std::env::var("MERCATO_BENCH_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(10),
    )
});
const PAGE: &str = "{ products(first: 50) { edges { node { id name variants(first: 10) { id sku prices { amount currencyCode } stockLevels { onHand reserved available } } } } } }";
const RESERVE: &str = "mutation($i: ReserveStockInput!) { reserveStock(input: $i) { reservation { id } userErrors { code } } }";

struct Figures {
    ok: u64,
    failed: u64,
    latencies_us: Vec<u64>,
    elapsed: Duration,
}

impl Figures {
    fn rate(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
    fn pct(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p)
    }
}

fn percentile(sorted_us: &[u64], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return 0.0;
    }
    let i = ((sorted_us.len() as f64 - 1.0) * p).round() as usize;
    sorted_us[i] as f64 / 1000.0
}

/// Runs `conc` clients for `RUN`, each sending `body()` as `token()`; counts OK vs failed by
/// `ok(response)`.
async fn drive(
    url: &str,
    conc: usize,
    tokens: Arc<Vec<String>>,
    body: Arc<dyn Fn(usize) -> Value + Send + Sync>,
    ok: fn(&[u8]) -> bool,
    run: Duration,
) -> Figures {
    let auths: Arc<Vec<String>> = Arc::new(tokens.iter().map(|t| format!("Bearer {t}")).collect());
    let seq = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + run;
    let mut tasks = Vec::new();
    for _ in 0..conc {
        let (url, auths, body, seq) = (url.to_owned(), auths.clone(), body.clone(), seq.clone());
        tasks.push(tokio::spawn(async move {
            let (mut good, mut bad, mut lat) = (0u64, 0u64, Vec::new());
            let mut conn = client::Conn::open(&url).await.ok();
            let mut answer = Vec::with_capacity(64 * 1024);
            while Instant::now() < deadline {
                let n = seq.fetch_add(1, Ordering::Relaxed) as usize;
                let auth = &auths[rand::random_range(0..auths.len())];
                let payload = serde_json::to_vec(&body(n)).unwrap();
                let t = Instant::now();
                if conn.is_none() {
                    conn = client::Conn::open(&url).await.ok();
                }
                let status = match conn.as_mut() {
                    Some(c) => c.post(auth, &payload, &mut answer).await.unwrap_or(0),
                    None => 0,
                };
                if status == 0 {
                    conn = None;
                }
                lat.push(t.elapsed().as_micros() as u64);
                // Checked on the bytes: parsing every response would charge the client's work to
                // the server (both share this machine's two cores).
                if status == 200 && ok(&answer) {
                    good += 1;
                } else {
                    bad += 1;
                }
            }
            (good, bad, lat)
        }));
    }
    let mut f = Figures {
        ok: 0,
        failed: 0,
        latencies_us: Vec::new(),
        elapsed: Duration::ZERO,
    };
    for t in tasks {
        let (g, b, l) = t.await.unwrap();
        f.ok += g;
        f.failed += b;
        f.latencies_us.extend(l);
    }
    f.elapsed = start.elapsed();
    f.latencies_us.sort_unstable();
    f
}

fn count(haystack: &[u8], needle: &[u8]) -> usize {
    match (std::str::from_utf8(haystack), std::str::from_utf8(needle)) {
        (Ok(h), Ok(n)) => h.matches(n).count(),
        _ => 0,
    }
}

async fn owner_tx_exec(owner: &sea_orm::DatabaseConnection, org: &str, sqls: &[String]) {
    let tx = owner.begin().await.unwrap();
    tx.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.org_id', $1, true), set_config('app.branch_ids', '*', true)",
        [org.into()],
    ))
    .await
    .unwrap();
    for sql in sqls {
        tx.execute_raw(Statement::from_string(DbBackend::Postgres, sql.clone()))
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

/// 2,000 ACTIVE products × 3 variants, two prices each, 100 on hand at the org's warehouse (with
/// the ledger rows that explain it).
async fn seed_catalog(owner: &sea_orm::DatabaseConnection, sh: &Shop) {
    let loc = gid_uuid(&sh.location);
    let branch = gid_uuid(&sh.branch);
    let org = &sh.org;
    let sqls = vec![
        format!(
            "INSERT INTO products (org_id, id, name, status) \
             SELECT '{org}', gen_random_uuid(), 'Product ' || g, 'ACTIVE' FROM generate_series(1, {PRODUCTS}) g"
        ),
        format!(
            "INSERT INTO variants (org_id, id, product_id, sku, name) \
             SELECT p.org_id, gen_random_uuid(), p.id, 'SKU-' || substr(p.name, 9) || '-' || s, 'Size ' || s \
             FROM products p, generate_series(1, 3) s WHERE p.org_id = '{org}'"
        ),
        format!(
            "INSERT INTO variant_prices (org_id, variant_id, currency, amount_minor) \
             SELECT v.org_id, v.id, c.cur, c.amount FROM variants v, \
               (VALUES ('MYR', 4990), ('IDR', 159000)) AS c(cur, amount) WHERE v.org_id = '{org}'"
        ),
        format!(
            "INSERT INTO inventory_levels (org_id, variant_id, location_id, branch_id, on_hand) \
             SELECT org_id, id, '{loc}', '{branch}', 100 FROM variants WHERE org_id = '{org}'"
        ),
        format!(
            "INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, on_hand_delta, \
               reserved_delta, on_hand_after, reserved_after, reason, document_type) \
             SELECT org_id, gen_random_uuid(), variant_id, location_id, branch_id, 'RECEIVE', 100, 0, 100, 0, \
               'bench seed', 'MANUAL' FROM inventory_levels WHERE org_id = '{org}'"
        ),
    ];
    owner_tx_exec(owner, org, &sqls).await;
}

/// PostGraphile's single statement for the catalog page (`bench/peer/pgbench/`), as one pgbench
/// script per organization with its tenant settings inlined (pgbench picks a script at random per
/// transaction): `BEGIN; set_config ×3; the page; COMMIT` as the runtime role — the database
/// limit for that page, with no extra statement to choose the organization.
fn pgbench_scripts(dir: &std::path::Path, shops: &[Shop]) -> Vec<std::path::PathBuf> {
    let page = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peer/pgbench/postgraphile-page.sql"),
    )
    .unwrap();
    let page: String = page
        .lines()
        .filter(|l| !l.starts_with("--"))
        .collect::<Vec<_>>()
        .join(" ");
    shops
        .iter()
        .enumerate()
        .map(|(i, sh)| {
            let path = dir.join(format!("catalog_{i}.sql"));
            std::fs::write(
                &path,
                format!(
                    "BEGIN;\nSELECT set_config('app.org_id', '{}', true), set_config('app.user_id', '{}', true), set_config('app.branch_ids', '*', true);\n{page}\nCOMMIT;\n",
                    sh.org,
                    gid_uuid(&sh.s.user_id)
                ),
            )
            .unwrap();
            path
        })
        .collect()
}

/// Runs pgbench at `conc` clients for `RUN`; returns (tps, p50 ms, p99 ms).
fn pgbench(db: &str, script: &std::path::Path, conc: usize) -> (f64, f64, f64) {
    pgbench_mix(db, std::slice::from_ref(&script.to_path_buf()), conc)
}

/// [`pgbench`] over several scripts, one picked at random per transaction.
fn pgbench_mix(db: &str, scripts: &[std::path::PathBuf], conc: usize) -> (f64, f64, f64) {
    let dir = scripts[0].parent().unwrap();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("pgbench_log") {
            std::fs::remove_file(e.path()).unwrap();
        }
    }
    let bin =
        std::env::var("PGBENCH").unwrap_or_else(|_| "/usr/lib/postgresql/15/bin/pgbench".into());
    let out = std::process::Command::new(bin)
        .current_dir(dir)
        .args([
            "-n",
            "-M",
            "prepared",
            "-j",
            "2",
            "--log",
            "--log-prefix=pgbench_log",
        ])
        .arg(format!("-c{conc}"))
        .arg(format!("-T{}", RUN.as_secs()))
        .args(
            scripts
                .iter()
                .flat_map(|s| [std::ffi::OsStr::new("-f"), s.as_os_str()]),
        )
        .arg(runtime_url(db))
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps = "))
        .and_then(|l| l[6..].split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no tps in pgbench output: {text}"));
    let mut lat = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_name().to_string_lossy().starts_with("pgbench_log") {
            for line in std::fs::read_to_string(e.path()).unwrap().lines() {
                if let Some(us) = line
                    .split_whitespace()
                    .nth(2)
                    .and_then(|v| v.parse::<u64>().ok())
                {
                    lat.push(us);
                }
            }
        }
    }
    lat.sort_unstable();
    (tps, percentile(&lat, 0.5), percentile(&lat, 0.99))
}

/// PostGraphile's query for the same page (its inflection; the README of `bench/peer`).
const PEER_PAGE: &str = "{ allProducts(first: 50) { edges { node { id name variantsByOrgIdAndProductId { nodes { id sku \
     variantPricesByOrgIdAndVariantId { nodes { amountMinor currency } } \
     inventoryLevelsByOrgIdAndVariantId { nodes { onHand reserved safetyStock } } } } } } } }";

/// A read benchmark's `mercato serve` settings: the server measured, not its abuse limits (rate
/// and cost), with PostGraphile's pool size.
const UNLIMITED: &[(&str, &str)] = &[
    ("MERCATO_RATE_LIMIT_PER_MINUTE", "100000000"),
    ("MERCATO_RATE_LIMIT_BURST", "10000000"),
    ("MERCATO_COST_BUCKET_MAX", "100000000"),
    ("MERCATO_COST_RESTORE_RATE", "10000000"),
    ("MERCATO_DATABASE_POOL_MAX", "20"),
    ("RUST_LOG", "warn"),
];

/// One measured pass of a server: warm-up, then `RUN`; with its RSS at the end (MiB).
async fn pass(
    url: &str,
    conc: usize,
    tokens: &Arc<Vec<String>>,
    query: &'static str,
    ok: fn(&[u8]) -> bool,
    pid: Option<u32>,
) -> (Figures, f64) {
    let body: Arc<dyn Fn(usize) -> Value + Send + Sync> =
        Arc::new(move |_| json!({ "query": query }));
    drive(
        url,
        conc,
        tokens.clone(),
        body.clone(),
        ok,
        Duration::from_secs(2),
    )
    .await;
    let f = drive(url, conc, tokens.clone(), body, ok, *RUN).await;
    (f, pid.map_or(0.0, peer::rss_mib))
}

/// The catalog page: Mercato (`mercato serve`, release, cache off and on) vs PostGraphile v5 vs
/// pgbench running PostGraphile's single statement, all as the runtime role under the same RLS,
/// alternated in one run.
async fn catalog(app: &TestApp, shops: &[Shop], db: &str) {
    println!("\n## Catalog read: products(first: 50) with variants, prices and stock levels");
    println!(
        "{ORGS} orgs × {PRODUCTS} products × 3 variants; a random organization per request; {}s per pass",
        RUN.as_secs()
    );
    let dir = std::env::temp_dir().join(format!("mercato-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let scripts = pgbench_scripts(&dir, shops);
    let tokens = Arc::new(shops.iter().map(|s| s.s.token.clone()).collect::<Vec<_>>());
    let mut off_env = UNLIMITED.to_vec();
    off_env.push(("MERCATO_CATALOG_CACHE_TTL_SECS", "0"));
    let off = procs::server(app, &off_env).await;
    let on = procs::server(app, UNLIMITED).await;
    let peer = peer::Peer::start(app, db, &tokens[0], PEER_PAGE).await;
    let page_ok: fn(&[u8]) -> bool = |b| {
        b.starts_with(br#"{"data":{"products":{"edges":["#)
            && count(b, br#""errors""#) == 0
            && count(b, br#""name":"#) == 50
            && count(b, br#""sku":"#) == 150
    };
    let peer_ok: fn(&[u8]) -> bool = |b| {
        b.starts_with(br#"{"data":{"allProducts":"#)
            && count(b, br#""errors""#) == 0
            && count(b, br#""sku":"#) == 150
    };
    println!(
        "\n| concurrency | server | req/s | p50 ms | p99 ms | failed | RSS MiB | vs PostGraphile | vs pgbench |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    for conc in [16, 64] {
        let (tps, pg50, pg99) = pgbench_mix(db, &scripts, conc);
        let url = |p: &procs::Proc| format!("http://{}/graphql", p.addr.as_deref().unwrap());
        let (m_off, rss_off) =
            pass(&url(&off), conc, &tokens, PAGE, page_ok, Some(off.pid())).await;
        let theirs = match &peer {
            Some(p) => Some(
                pass(&p.url, conc, &tokens, PEER_PAGE, peer_ok, None)
                    .await
                    .0,
            )
            .map(|f| (f, p.rss_mib())),
            None => None,
        };
        let (m_on, rss_on) = pass(&url(&on), conc, &tokens, PAGE, page_ok, Some(on.pid())).await;
        let peer_rate = theirs.as_ref().map_or(0.0, |(f, _)| f.rate());
        let ratio = |r: f64| {
            if peer_rate > 0.0 {
                format!("{:.2}×", r / peer_rate)
            } else {
                "-".into()
            }
        };
        println!(
            "| {conc} | pgbench: PostGraphile's single SQL | {tps:.0} | {pg50:.1} | {pg99:.1} | 0 | - | - | 100% |"
        );
        if let Some((p, rss)) = &theirs {
            println!(
                "| {conc} | PostGraphile 5 (one Node process) | {:.0} | {:.1} | {:.1} | {} | {rss:.0} | 1.00× | {:.0}% |",
                p.rate(),
                p.pct(0.5),
                p.pct(0.99),
                p.failed,
                100.0 * p.rate() / tps
            );
        }
        for (label, f, rss) in [
            ("Mercato, cache off", &m_off, rss_off),
            ("Mercato, cache on", &m_on, rss_on),
        ] {
            println!(
                "| {conc} | {label} | {:.0} | {:.1} | {:.1} | {} | {rss:.0} | {} | {:.0}% |",
                f.rate(),
                f.pct(0.5),
                f.pct(0.99),
                f.failed,
                ratio(f.rate()),
                100.0 * f.rate() / tps
            );
        }
    }
    drop(peer);
    std::fs::remove_dir_all(&dir).ok();
}

async fn reserved_and_ledger(app: &TestApp, org: &str) -> (i64, i64, i64, String) {
    let rows = owner_rows(
        app,
        org,
        "SELECT sum(reserved)::text || ' ' || sum(on_hand)::text || ' ' || \
           (SELECT count(*) FROM reservations WHERE status = 'ACTIVE')::text || ' ' || \
           (SELECT count(*) FROM inventory_levels l LEFT JOIN (SELECT variant_id, location_id, sum(on_hand_delta) oh, \
              sum(reserved_delta) rs FROM stock_movements GROUP BY 1, 2) m USING (variant_id, location_id) \
            WHERE l.on_hand <> COALESCE(m.oh, 0) OR l.reserved <> COALESCE(m.rs, 0) OR l.reserved > l.on_hand)::text \
         FROM inventory_levels",
    )
    .await;
    let v: Vec<&str> = rows[0].split(' ').collect();
    (
        v[0].parse().unwrap(),
        v[1].parse().unwrap(),
        v[2].parse().unwrap(),
        v[3].to_owned(),
    )
}

async fn reservations(app: &TestApp, shops: &[Shop]) {
    println!(
        "\n## Reservations (reserveStock through GraphQL, 1 unit each), {}s per run",
        RUN.as_secs()
    );
    println!(
        "\n| case | concurrency | reservations/s | p50 ms | p99 ms | refused | groups | mean group | check |"
    );
    println!("|---|---|---|---|---|---|---|---|---|");
    let url = format!("{}/graphql", app.base);
    let ok: fn(&[u8]) -> bool =
        |b| b.starts_with(br#"{"data":{"reserveStock":{"reservation":{"id":"#);
    for (case, sh, skus) in [
        ("hot SKU", &shops[0], 1usize),
        ("1,000 SKUs", &shops[1], 1000),
    ] {
        // The org's first `skus` variants; the hot one gets a deep stock.
        let ids = owner_rows(
            app,
            &sh.org,
            &format!("SELECT id::text FROM variants ORDER BY id LIMIT {skus}"),
        )
        .await;
        if skus == 1 {
            owner_exec_stock(app, sh, &ids[0], 10_000_000).await;
        }
        let variants: Arc<Vec<String>> = Arc::new(ids.iter().map(|u| gid("Variant", u)).collect());
        let location = sh.location.clone();
        for conc in [16, 64] {
            let (before, _, _, _) = reserved_and_ledger(app, &sh.org).await;
            let groups_before = group_counts(app).await;
            let (vs, loc) = (variants.clone(), location.clone());
            let f = drive(
                &url,
                conc,
                Arc::new(vec![sh.s.token.clone()]),
                Arc::new(move |n| {
                    let v = &vs[n % vs.len()];
                    json!({"query": RESERVE, "variables": {"i": {"variantId": v, "locationId": loc, "quantity": 1, "referenceType": "CART", "referenceId": format!("bench-{conc}-{n}")}}})
                }),
                ok,
                *RUN,
            )
            .await;
            let (after, on_hand, _, bad) = reserved_and_ledger(app, &sh.org).await;
            let check = if after - before == f.ok as i64 && after <= on_hand && bad == "0" {
                "reserved = successes, ledger = levels".to_owned()
            } else {
                format!(
                    "MISMATCH: reserved +{} vs {} successes, ledger mismatches {bad}",
                    after - before,
                    f.ok
                )
            };
            let groups_after = group_counts(app).await;
            let (groups, written) = (
                groups_after.0 - groups_before.0,
                groups_after.1 - groups_before.1,
            );
            println!(
                "| {case} | {conc} | {:.0} | {:.1} | {:.1} | {} | {groups:.0} | {:.1} | {check} |",
                f.rate(),
                f.pct(0.5),
                f.pct(0.99),
                f.failed,
                if groups > 0.0 { written / groups } else { 0.0 }
            );
        }
    }
    // Sell-out race: 64 clients on 1,000 units.
    let sh = &shops[2];
    let id = owner_rows(
        app,
        &sh.org,
        "SELECT id::text FROM variants ORDER BY id LIMIT 1",
    )
    .await
    .remove(0);
    owner_exec_stock(app, sh, &id, 1_000).await;
    let v = gid("Variant", &id);
    let loc = sh.location.clone();
    let f = drive(
        &url,
        64,
        Arc::new(vec![sh.s.token.clone()]),
        Arc::new(move |n| json!({"query": RESERVE, "variables": {"i": {"variantId": v, "locationId": loc, "quantity": 1, "referenceType": "CART", "referenceId": format!("sellout-{n}")}}})),
        ok,
        Duration::from_secs(10),
    )
    .await;
    let (reserved, _, _, bad) = reserved_and_ledger(app, &sh.org).await;
    println!(
        "\nSell-out race: 64 clients on 1,000 units for 10 s: {} reservations succeeded, {} refused with INSUFFICIENT_STOCK; reserved in the database: {reserved}; ledger mismatches: {bad}{}",
        f.ok,
        f.failed,
        if f.ok == 1_000 && reserved == 1_000 && bad == "0" {
            " (no oversell)"
        } else {
            " (OVERSOLD OR LOST)"
        }
    );
}

/// Group commits so far and the reservations they wrote, from the app's `/metrics`.
async fn group_counts(app: &TestApp) -> (f64, f64) {
    let text = reqwest::get(format!("{}/metrics", app.base))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let value = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    (
        value("mercato_reservation_group_size_count"),
        value("mercato_reservation_group_size_sum"),
    )
}

/// Sets a variant's on-hand at the shop's warehouse to `qty` through a COUNT (adjustStock).
async fn owner_exec_stock(app: &TestApp, sh: &Shop, variant_uuid: &str, qty: i64) {
    let body = app
        .gql(
            Some(&sh.s.token),
            mercato_tests::stock::ADJUST,
            json!({"i": {"variantId": gid("Variant", variant_uuid), "locationId": sh.location, "kind": "COUNT", "quantity": qty, "reason": "bench"}}),
        )
        .await;
    assert!(
        body["data"]["adjustStock"]["userErrors"]
            .as_array()
            .is_some_and(Vec::is_empty),
        "{body}"
    );
}

async fn import(app: &TestApp) {
    println!(
        "\n## Import: importCatalog with a 10,000-row CSV upload (prices in 2 currencies, opening stock)"
    );
    println!("\n| run | rows | seconds | rows/s | result |");
    println!("|---|---|---|---|---|");
    let sh = shop(app, "bench-import").await;
    let q = "mutation($i: ImportCatalogInput!) { importCatalog(input: $i) { import { rowsImported variantsCreated variantsUpdated errors { row } } userErrors { message } } }";
    for (run, price) in [
        ("create", "12.50"),
        ("update (same SKUs, new prices and counts)", "13.75"),
    ] {
        let mut csv = String::from(
            "product_key,product_name,status,sku,variant_name,price_MYR,price_IDR,attr_size,opening_stock\n",
        );
        for row in 1..=10_000usize {
            let group = row.div_ceil(2);
            csv.push_str(&format!(
                "P{group},Product {group},ACTIVE,IMP-{row:05},Size {row},{price},150000,{row},{}\n",
                row % 50 + usize::from(price != "12.50")
            ));
        }
        let t = Instant::now();
        let (status, body) = app
            .upload(
                Some(&sh.s.token),
                q,
                json!({"i": {"csv": null, "locationId": sh.location}}),
                "variables.i.csv",
                csv.as_bytes(),
            )
            .await;
        let secs = t.elapsed().as_secs_f64();
        let r = &body["data"]["importCatalog"]["import"];
        println!(
            "| {run} | 10000 | {secs:.2} | {:.0} | HTTP {status}, imported {}, created {}, updated {}, row errors {} |",
            10_000.0 / secs,
            r["rowsImported"],
            r["variantsCreated"],
            r["variantsUpdated"],
            r["errors"].as_array().map_or(0, Vec::len)
        );
    }
}

#[tokio::main]
async fn main() {
    let which = std::env::args().nth(1).unwrap_or_else(|| "all".into());
    if which == "backfill" {
        backfill::backfill().await;
        return;
    }
    if which == "push" {
        push::push().await;
        return;
    }
    if which == "flash" {
        flash::flash().await;
        return;
    }
    if which == "ingest" {
        ingest::ingest().await;
        return;
    }
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.database_pool_max = 32;
    // Production job settings (the test config shortens them).
    config.jobs = mercato::config::JobsConfig {
        test_kinds: true,
        ..mercato::config::JobsConfig::default()
    };
    // Measure the server, not its abuse limits.
    config.limits.rate_per_minute = 100_000_000;
    config.limits.rate_burst = 10_000_000;
    config.limits.cost_bucket_max = 100_000_000;
    config.limits.cost_restore_rate = 10_000_000;
    let app = TestApp::spawn_with(config, db.clone()).await;
    let owner = connect(&owner_url(&db), 4).await;
    println!("# Mercato benchmarks ({})", std::env::consts::ARCH);
    println!("database {db}; server and pgbench on this machine; release build");
    let started = Instant::now();
    let count = match which.as_str() {
        "import" => 0,
        "jobs" | "fanout" => 1,
        _ => ORGS,
    };
    let mut shops = Vec::with_capacity(count);
    for i in 0..count {
        shops.push(shop(&app, &format!("bench-{i}")).await);
    }
    if which == "all" || which == "catalog" || which == "reservations" {
        let owner = Arc::new(owner.clone());
        let mut pending = Vec::new();
        for sh in &shops {
            pending.push((
                owner.clone(),
                sh.org.clone(),
                sh.location.clone(),
                sh.branch.clone(),
            ));
        }
        let mut tasks = tokio::task::JoinSet::new();
        for chunk in pending.chunks(ORGS.div_ceil(4)) {
            let chunk: Vec<_> = chunk.to_vec();
            tasks.spawn(async move {
                for (owner, org, location, branch) in chunk {
                    let sh = Shop {
                        s: Session {
                            token: String::new(),
                            user_id: String::new(),
                            org_id: None,
                        },
                        org,
                        branch,
                        location,
                    };
                    seed_catalog(&owner, &sh).await;
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
        owner
            .execute_raw(Statement::from_string(
                DbBackend::Postgres,
                "ANALYZE".to_owned(),
            ))
            .await
            .unwrap();
        println!(
            "seeded {ORGS} orgs in {:.0}s",
            started.elapsed().as_secs_f64()
        );
    }
    if which == "all" || which == "catalog" {
        catalog(&app, &shops, &db).await;
    }
    if which == "all" || which == "orders" {
        orders::seed(&app, &owner, &shops).await;
        orders::orders(&app, &db, &shops, &owner).await;
    }
    if which == "all" || which == "reservations" {
        reservations(&app, &shops).await;
    }
    if which == "all" || which == "import" {
        import(&app).await;
    }
    if which == "all" || which == "jobs" {
        jobs::jobs(&app, &shops[0]).await;
    }
    if which == "all" || which == "fanout" {
        jobs::fanout(&app, &shops[0]).await;
    }
    drop(app);
    let admin = connect(&owner_url("mercato"), 1).await;
    owner.close().await.ok();
    tokio::time::sleep(Duration::from_millis(500)).await;
    admin
        .execute_raw(Statement::from_string(
            DbBackend::Postgres,
            format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"),
        ))
        .await
        .ok();
}
