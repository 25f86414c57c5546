//! Real `mercato` processes (worker, serve) and a private Redis, for the tests that kill, pause or
//! crash processes. The binary is `target/debug/mercato` (scripts/test builds it first) or
//! `$MERCATO_BIN`.

use crate::TestApp;
use base64::Engine as _;
use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Path of the `mercato` binary.
pub fn mercato_bin() -> PathBuf {
    if let Ok(p) = std::env::var("MERCATO_BIN") {
        return PathBuf::from(p);
    }
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("debug").join("mercato");
    assert!(
        bin.exists(),
        "{} is missing: run `cargo build -p mercato --bin mercato` (scripts/test does)",
        bin.display()
    );
    bin
}

/// A child process whose output goes to a log file; killed when dropped.
pub struct Proc {
    child: Child,
    log: PathBuf,
    /// `host:port` for servers.
    pub addr: Option<String>,
}

impl Proc {
    /// Process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .expect("kill")
            .success();
        assert!(ok, "kill -{sig} {} failed", self.pid());
    }

    /// `kill -9`, then reaps it.
    pub fn kill9(&mut self) {
        self.signal("KILL");
        let _ = self.child.wait();
    }

    /// `kill -STOP`.
    pub fn pause(&self) {
        self.signal("STOP");
    }

    /// `kill -CONT`.
    pub fn resume(&self) {
        self.signal("CONT");
    }

    /// Everything it logged so far.
    pub fn logs(&self) -> String {
        let mut s = String::new();
        if let Ok(mut f) = std::fs::File::open(&self.log) {
            let _ = f.read_to_string(&mut s);
        }
        s
    }

    /// Waits until its log contains `needle` (panics after `wait`).
    pub async fn wait_for_log(&self, needle: &str, wait: Duration) {
        let end = tokio::time::Instant::now() + wait;
        while !self.logs().contains(needle) {
            assert!(
                tokio::time::Instant::now() < end,
                "no `{needle}` in the log within {wait:?}:\n{}",
                self.logs()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Has it exited? (Reaps it if so.)
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

/// A keyed secret as its environment variable spells it (`kid:base64`).
pub fn keyed(k: &mercato::config::KeyedSecret) -> String {
    format!(
        "{}:{}",
        k.kid,
        base64::engine::general_purpose::STANDARD.encode(&k.key)
    )
}

/// The environment that makes a process share `app`'s database, Redis, keys and job settings.
pub fn env_of(app: &TestApp) -> Vec<(String, String)> {
    use secrecy::ExposeSecret;
    let c = &app.state.config;
    let j = &c.jobs;
    let backoff: Vec<String> = j
        .backoff
        .iter()
        .map(|d| d.as_millis().to_string())
        .collect();
    vec![
        (
            "MERCATO_DATABASE_URL".into(),
            c.database_url.expose_secret().to_owned(),
        ),
        (
            "MERCATO_REDIS_URL".into(),
            c.redis_url.expose_secret().to_owned(),
        ),
        ("MERCATO_REDIS_PREFIX".into(), c.redis_prefix.clone()),
        ("MERCATO_JWT_SIGNING_KEY".into(), keyed(&c.jwt_signing_key)),
        ("MERCATO_CREDENTIALS_KEY".into(), keyed(&c.credentials_key)),
        (
            "MERCATO_JOB_LEASE_MS".into(),
            j.lease.as_millis().to_string(),
        ),
        ("MERCATO_JOB_BACKOFF_MS".into(), backoff.join(",")),
        (
            "MERCATO_JOB_RECONCILE_MS".into(),
            j.reconcile_interval.as_millis().to_string(),
        ),
        (
            "MERCATO_JOB_REDISPATCH_MS".into(),
            j.redispatch_after.as_millis().to_string(),
        ),
        (
            "MERCATO_JOB_STORE_CONCURRENCY".into(),
            j.store_concurrency.to_string(),
        ),
        (
            "MERCATO_SCHEDULE_MIN_INTERVAL_SECS".into(),
            j.schedule_min_interval.as_secs().to_string(),
        ),
        ("MERCATO_JOB_TEST_KINDS".into(), j.test_kinds.to_string()),
        ("MERCATO_RESERVATION_SWEEP_MS".into(), "1000".into()),
        ("MERCATO_RATE_LIMIT_PER_MINUTE".into(), "100000".into()),
        ("MERCATO_RATE_LIMIT_BURST".into(), "10000".into()),
        (
            "MERCATO_WEBHOOK_REFUSALS_PER_MINUTE".into(),
            "100000".into(),
        ),
        ("MERCATO_WEBHOOK_REFUSALS_BURST".into(), "10000".into()),
        ("MERCATO_AUTH_RATE_LIMIT_PER_MINUTE".into(), "100000".into()),
        ("MERCATO_AUTH_RATE_LIMIT_BURST".into(), "10000".into()),
        ("MERCATO_COST_BUCKET_MAX".into(), "100000".into()),
        ("MERCATO_COST_RESTORE_RATE".into(), "10000".into()),
        ("RUST_LOG".into(), "info,sqlx=warn,sea_orm=warn".into()),
    ]
}

fn spawn(args: &[&str], env: Vec<(String, String)>, addr: Option<String>) -> Proc {
    let log = std::env::temp_dir().join(format!(
        "mercato-proc-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    let out = std::fs::File::create(&log).unwrap();
    let err = out.try_clone().unwrap();
    let child = Command::new(mercato_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(env)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("spawn mercato");
    Proc { child, log, addr }
}

/// Starts `mercato worker` sharing `app`'s database and Redis, with `extra` variables on top.
pub async fn worker(app: &TestApp, extra: &[(&str, &str)]) -> Proc {
    let mut env = env_of(app);
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let p = spawn(&["worker"], env, None);
    p.wait_for_log("worker started", Duration::from_secs(20))
        .await;
    p
}

/// Starts `mercato serve` sharing `app`'s database and Redis on a free port; waits until ready.
pub async fn server(app: &TestApp, extra: &[(&str, &str)]) -> Proc {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr = format!("127.0.0.1:{port}");
    let mut env = env_of(app);
    env.push(("MERCATO_LISTEN".into(), addr.clone()));
    env.extend(
        extra
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    let p = spawn(&["serve"], env, Some(addr.clone()));
    let client = reqwest::Client::new();
    let end = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(r) = client.get(format!("http://{addr}/readyz")).send().await
            && r.status().is_success()
        {
            break;
        }
        assert!(
            tokio::time::Instant::now() < end,
            "server not ready:\n{}",
            p.logs()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    p
}

/// A private Redis (its own port and no persistence), for tests that flush everything.
pub struct PrivateRedis {
    child: Child,
    /// `redis://127.0.0.1:port`.
    pub url: String,
}

impl PrivateRedis {
    /// Starts `redis-server` (from `$MERCATO_REDIS_BIN` or PATH).
    pub async fn start() -> Self {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let bin = std::env::var("MERCATO_REDIS_SERVER").unwrap_or_else(|_| "redis-server".into());
        // Waited for in Drop.
        #[allow(clippy::zombie_processes)]
        let child = Command::new(bin)
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (scripts/stack installs it)");
        let url = format!("redis://127.0.0.1:{port}");
        let client = redis::Client::open(url.as_str()).unwrap();
        for _ in 0..100 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await
                && redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
            {
                return Self { child, url };
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("private redis did not start");
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
