//! The PostGraphile v5 peer (`bench/peer/`, installed by `scripts/bench` with its `install.sh`):
//! the best-known "GraphQL over Postgres with RLS" server, serving the benchmark's own database as
//! the runtime role, with the tenant context taken from the same Mercato access tokens. Started
//! per comparison so that every ratio in the README is measured in one run.

use mercato_tests::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// A running peer; killed on drop.
pub struct Peer {
    child: std::process::Child,
    /// Its GraphQL endpoint.
    pub url: String,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The peer's directory: `MERCATO_PEER_DIR`, else `bench/peer`.
fn dir() -> std::path::PathBuf {
    std::env::var("MERCATO_PEER_DIR").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("peer"),
        std::path::PathBuf::from,
    )
}

impl Peer {
    /// Starts PostGraphile on `db` as the runtime role and waits until `probe` (sent with
    /// `token`) answers without errors. `None`, said on stdout, when it is not installed.
    pub async fn start(app: &TestApp, db: &str, token: &str, probe: &str) -> Option<Self> {
        let dir = dir();
        if !dir.join("node_modules").exists() {
            println!(
                "PostGraphile peer not installed in {} (scripts/bench installs it; or run its install.sh): its column is empty",
                dir.display()
            );
            return None;
        }
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let c = &app.state.config;
        let child = std::process::Command::new(dir.join("node.sh"))
            .arg("server.mjs")
            .current_dir(&dir)
            .env("DATABASE_URL", runtime_url(db))
            .env("PEER_PORT", port.to_string())
            .env("POOL_MAX", "20")
            .env("GRAPHILE_ENV", "production")
            .env(
                "MERCATO_JWT_SIGNING_KEY",
                mercato_tests::procs::keyed(&c.jwt_signing_key),
            )
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => {
                println!("PostGraphile peer did not start ({e}): its column is empty");
                return None;
            }
        };
        let peer = Self {
            child,
            url: format!("http://127.0.0.1:{port}/graphql"),
        };
        let client = reqwest::Client::new();
        let end = Instant::now() + Duration::from_secs(90);
        loop {
            let r = client
                .post(&peer.url)
                .bearer_auth(token)
                .json(&json!({ "query": probe }))
                .send()
                .await;
            if let Ok(r) = r {
                let body = r.text().await.unwrap_or_default();
                assert!(
                    body.starts_with(r#"{"data":"#) && !body.contains("\"errors\""),
                    "PostGraphile answered: {}",
                    &body[..body.len().min(600)]
                );
                return Some(peer);
            }
            assert!(Instant::now() < end, "PostGraphile did not start");
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// Its resident memory in MiB (Linux `/proc`), for the tables.
    pub fn rss_mib(&self) -> f64 {
        rss_mib(self.child.id())
    }
}

/// Resident memory of process `pid` in MiB, 0 when unknown.
pub fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<f64>().ok())
        })
        .map_or(0.0, |kb| kb / 1024.0)
}
