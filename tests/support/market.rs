//! Marketplace helpers: an app whose platforms are a simulator in this process, and the seller's
//! side of the authorization redirects (a browser that does not follow them by itself).

use crate::procs::Proc;
use crate::stock::Shop;
use crate::{Session, TestApp, fresh_database, gid_uuid, rows_as, test_config};
use connectors::simulator::{Running, SimConfig, Simulator};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::time::Duration;

/// The only return URL the test apps allow.
pub const RETURN_URL: &str = "https://seller.example/settings/stores";

/// A simulator on a free port.
pub async fn simulator(config: SimConfig) -> Running {
    Simulator::new(config)
        .start("127.0.0.1:0".parse().unwrap())
        .await
        .expect("simulator")
}

/// A simulator on a free port, served by a thread of its own: it notes each request when it
/// arrives even while the test's own thread is busy (rate-limit checks count arrivals).
pub fn simulator_thread(config: SimConfig) -> Running {
    let sim = Simulator::new(config);
    let serve = sim.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("simulator runtime");
        rt.block_on(async move {
            let running = serve
                .start("127.0.0.1:0".parse().unwrap())
                .await
                .expect("simulator");
            tx.send(running.base_url.clone())
                .expect("simulator address");
            std::future::pending::<()>().await;
            drop(running);
        });
    });
    Running::detached(rx.recv().expect("simulator started"), sim)
}

/// An app whose marketplace apps are `sim`'s (and TikTok's registered redirect points at it).
pub async fn app_with(sim: &Running) -> TestApp {
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.marketplaces =
        mercato::config::MarketplacesConfig::simulator("http://127.0.0.1:0", &sim.base_url);
    config.marketplaces.return_urls =
        vec![url::Url::parse("https://seller.example/settings/").unwrap()];
    let app = TestApp::spawn_with(config, db).await;
    sim.sim
        .set_tiktok_redirect(format!("{}/connect/tiktok/callback", app.base));
    app
}

/// A client that does not follow redirects (the test plays the browser).
pub fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// GETs `url`: status, `Location` and body.
pub async fn get(url: &str) -> (u16, String, String) {
    let r = browser().get(url).send().await.expect("get");
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    (status, location, r.text().await.unwrap_or_default())
}

/// The query pairs of `url`.
pub fn query(url: &str) -> HashMap<String, String> {
    url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Replaces (or adds) query parameter `key` of `url`.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let mut u = url::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .into_owned()
        .filter(|(k, _)| k != key)
        .collect();
    {
        let mut q = u.query_pairs_mut();
        q.clear();
        for (k, v) in &pairs {
            q.append_pair(k, v);
        }
        q.append_pair(key, value);
    }
    u.to_string()
}

/// `beginStoreConnection` as `s`; returns its payload.
pub async fn begin(app: &TestApp, s: &Session, branch: &str, platform: &str) -> Value {
    let body = app
        .gql(
            Some(&s.token),
            "mutation($i: BeginStoreConnectionInput!) { beginStoreConnection(input: $i) { authorizationUrl expiresAt userErrors { field code message } } }",
            json!({ "i": { "branchId": branch, "platform": platform, "region": "MY", "returnUrl": RETURN_URL } }),
        )
        .await;
    body["data"]["beginStoreConnection"].clone()
}

/// The seller approves on the platform's page: returns the callback URL it redirects to.
pub async fn approve(authorization_url: &str) -> String {
    let (status, location, body) = get(authorization_url).await;
    assert!(
        (300..400).contains(&status),
        "the platform's page should redirect: {status} {body}"
    );
    location
}

/// What the callback did: `result` and `storeId` of the return URL, or the error page.
#[derive(Debug)]
pub struct Callback {
    /// HTTP status of the callback.
    pub status: u16,
    /// `result` of the return URL (303) or the error code (400).
    pub result: String,
    /// `storeId`, when a store was written.
    pub store: Option<String>,
}

/// The browser arrives at the callback URL.
pub async fn arrive(callback_url: &str) -> Callback {
    let (status, location, body) = get(callback_url).await;
    if status == 303 {
        assert!(
            location.starts_with(RETURN_URL),
            "back to the return URL: {location}"
        );
        let q = query(&location);
        let keys: Vec<&String> = q.keys().collect();
        assert!(
            keys.iter().all(|k| *k == "result" || *k == "storeId"),
            "only a result code and the store id go back: {location}"
        );
        Callback {
            status,
            result: q.get("result").cloned().unwrap_or_default(),
            store: q.get("storeId").cloned(),
        }
    } else {
        let v: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        Callback {
            status,
            result: v["error"]["code"].as_str().unwrap_or_default().to_owned(),
            store: None,
        }
    }
}

/// The whole flow: begin, approve on the platform, back through the callback.
pub async fn connect(app: &TestApp, s: &Session, branch: &str, platform: &str) -> Callback {
    let began = begin(app, s, branch, platform).await;
    let url = began["authorizationUrl"]
        .as_str()
        .unwrap_or_else(|| panic!("{began}"));
    arrive(&approve(url).await).await
}

/// A store's connection, health and identity as GraphQL shows them.
pub async fn store(app: &TestApp, s: &Session, id: &str) -> Value {
    let body = app
        .gql(
            Some(&s.token),
            "query($id: ID!) { node(id: $id) { ... on Store { id platform externalShopId status connection hasCredentials
                health { status accessTokenExpiresAt refreshTokenExpiresAt connectedAt lastSuccessAt lastError { code message } circuit } } } }",
            json!({ "id": id }),
        )
        .await;
    body["data"]["node"].clone()
}

/// Waits for `job` of `org` to finish; its status, run message and last error.
pub async fn job_end(app: &TestApp, worker: &Proc, org: &str, job: &str) -> String {
    let owner = app.owner().await;
    let end = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let r = rows_as(
            &owner,
            &[("app.org_id", org), ("app.branch_ids", "*")],
            &format!(
                "SELECT j.status || ' ' || coalesce(r.message, '') || ' ' || coalesce(j.last_error, '') \
                 FROM jobs j LEFT JOIN sync_runs r ON r.job_id = j.id WHERE j.id = '{}'",
                gid_uuid(job)
            ),
        )
        .await
        .unwrap();
        if let Some(row) = r.first()
            && !row.starts_with("QUEUED")
            && !row.starts_with("RUNNING")
        {
            return row.clone();
        }
        assert!(
            tokio::time::Instant::now() < end,
            "job {job} did not finish: {r:?}\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs a `kind` sync of `store` now and waits for it to succeed; its end line.
pub async fn sync(app: &TestApp, worker: &Proc, sh: &Shop, store: &str, kind: &str) -> String {
    let body = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: StartSyncInput!) { startSync(input: $i) { job { id } userErrors { code message } } }",
            json!({ "i": { "storeId": store, "kind": kind } }),
        )
        .await;
    let job = body["data"]["startSync"]["job"]["id"]
        .as_str()
        .unwrap_or_else(|| panic!("{body}"))
        .to_owned();
    let end = job_end(app, worker, &sh.org, &job).await;
    assert!(end.starts_with("SUCCEEDED"), "{kind}: {end}");
    end
}
