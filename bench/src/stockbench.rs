//! What the stock benchmarks (`push`, `flash`) share: the simulator's limits, an app whose
//! marketplaces are that simulator, percentiles and waiting for a job.

use mercato_tests::*;
use std::time::{Duration, Instant};

/// The limits the simulator enforces: the published ones, and for Shopee and Lazada, which
/// publish none, 100 a second (the per-API figure Lazada's guides quote, marketplaces.md §3.4).
pub fn sim_limits() -> std::collections::HashMap<connectors::Platform, Vec<(u32, i64)>> {
    let mut limits = connectors::simulator::SimConfig::published_limits();
    limits.insert(connectors::Platform::Shopee, vec![(100, 1000)]);
    limits.insert(connectors::Platform::Lazada, vec![(100, 1000)]);
    limits
}

/// An app on a fresh database whose marketplaces are `sim`, with `jobs` settings, abuse limits
/// out of the way, and the quota governor given the same budgets as [`sim_limits`].
pub async fn app(
    sim: &connectors::simulator::Running,
    jobs: mercato::config::JobsConfig,
    pool: u32,
) -> TestApp {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.database_pool_max = pool;
    config.jobs = jobs;
    config.limits.rate_per_minute = 100_000_000;
    config.limits.rate_burst = 10_000_000;
    config.limits.cost_bucket_max = 100_000_000;
    config.limits.cost_restore_rate = 10_000_000;
    config.marketplaces =
        mercato::config::MarketplacesConfig::simulator("http://127.0.0.1:0", &sim.base_url);
    config.marketplaces.return_urls =
        vec![url::Url::parse("https://seller.example/settings/").unwrap()];
    let mut quotas = mercato::config::QuotaTable::default();
    for (p, b) in &mut quotas.0 {
        if matches!(
            p,
            entity::enums::Platform::Shopee | entity::enums::Platform::Lazada
        ) {
            b[0].requests = 100;
        }
    }
    config.marketplaces.quotas = quotas;
    let app = TestApp::spawn_with(config, db.clone()).await;
    sim.sim
        .set_tiktok_redirect(format!("{}/connect/tiktok/callback", app.base));
    app
}

/// The `p` percentile of `sorted` (-1 when empty).
pub fn pct(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return -1;
    }
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let i = (((sorted.len() - 1) as f64) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Waits (up to 3 minutes) for `job` of `org` to finish; its status and last error.
pub async fn wait_job(app: &TestApp, org: &str, job: &str) -> String {
    let started = Instant::now();
    loop {
        let st = owner_rows(
            app,
            org,
            &format!(
                "SELECT status || ' ' || coalesce(last_error, '') FROM jobs WHERE id = '{}'",
                gid_uuid(job)
            ),
        )
        .await;
        if let Some(s) = st.first()
            && !s.starts_with("QUEUED")
            && !s.starts_with("RUNNING")
        {
            return s.clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(180),
            "job {job} still not finished"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
