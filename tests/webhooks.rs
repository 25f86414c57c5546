//! Marketplace pushes in (`POST /webhooks/{platform}`), through the real HTTP surface, a real
//! worker process and the simulator's signed pushes: accepted and processed per platform, every
//! forgery refused with nothing stored, duplicates and late deliveries harmless, crashes of the
//! API and of the worker leaving each event processed once, retries with backoff, DEAD and
//! replay, a lost push recovered by the pull, and tenant isolation.

#![allow(clippy::unwrap_used, missing_docs)]

use connectors::Platform;
use connectors::simulator::{Fault, PushRequest, PushTopic, Running, SignedPush};
use mercato_tests::market;
use mercato_tests::procs::Proc;
use mercato_tests::stock::Shop;
use mercato_tests::*;
use serde_json::{Value, json};
use std::time::Duration;

const EVENTS: &str = "query($s: ID!, $f: WebhookEventFilter) { webhookEvents(storeId: $s, filter: $f, first: 50) {
    totalCount nodes { id kind topic subject announcedStatus status outcome attempts lastError duplicates payload job { id status attempts } } } }";

fn path(p: Platform) -> &'static str {
    match p {
        Platform::Shopee => "shopee",
        Platform::TiktokShop => "tiktok",
        _ => "lazada",
    }
}

fn name(p: Platform) -> &'static str {
    match p {
        Platform::Shopee => "SHOPEE",
        Platform::TiktokShop => "TIKTOK_SHOP",
        _ => "LAZADA",
    }
}

fn hook(app: &TestApp, p: Platform) -> String {
    format!("{}/webhooks/{}", app.base, path(p))
}

/// An organization with stores of `platforms` connected to `sim`, schedules off.
async fn setup(app: &TestApp, tag: &str, platforms: &[Platform]) -> (Shop, Vec<String>) {
    let sh = mercato_tests::stock::shop(app, tag).await;
    let mut stores = Vec::new();
    for p in platforms {
        let store = market::connect(app, &sh.s, &sh.branch, name(*p))
            .await
            .store
            .unwrap_or_else(|| panic!("{p:?} did not connect"));
        app.disable_schedules(&sh.s, &store).await;
        stores.push(store);
    }
    (sh, stores)
}

async fn worker(app: &TestApp, sim: &Running) -> Proc {
    mercato_tests::procs::worker(app, &[("MERCATO_SIMULATOR_URL", sim.base_url.as_str())]).await
}

/// A buyer orders one unit of the first SKU on `p`; the order id.
fn place(sim: &Running, p: Platform) -> String {
    let sku = sim.sim.world(p).skus[0].sku_id;
    sim.sim.place_order(p, sku, 1).expect("order placed")
}

async fn deliver(sim: &Running, push: &SignedPush) -> u16 {
    sim.sim.deliver(push).await.unwrap()
}

/// POSTs `body` signed with `authorization` to `url`; status and body.
async fn post_raw(url: &str, body: &str, authorization: &str) -> (u16, String) {
    let r = reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .header("authorization", authorization)
        .body(body.to_owned())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.text().await.unwrap_or_default())
}

async fn events(app: &TestApp, token: &str, store: &str, filter: Value) -> Value {
    let body = app
        .gql(Some(token), EVENTS, json!({ "s": store, "f": filter }))
        .await;
    assert!(body["errors"].is_null(), "{body}");
    body["data"]["webhookEvents"].clone()
}

/// Waits until the store's event about `subject` (or its only event) reaches `status`.
async fn wait_status(
    app: &TestApp,
    token: &str,
    store: &str,
    subject: Option<&str>,
    status: &str,
    worker: &Proc,
) -> Value {
    let end = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = events(app, token, store, json!({})).await;
        let found = list["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| subject.is_none_or(|s| e["subject"] == s))
            .cloned();
        if let Some(e) = &found
            && e["status"] == status
        {
            return e.clone();
        }
        assert!(
            tokio::time::Instant::now() < end,
            "no event reached {status}: {list}\n{}",
            worker.logs()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The stored order `external` of the organization: status and how many status events it has.
async fn order(app: &TestApp, sh: &Shop, external: &str) -> Option<(String, i64)> {
    let rows = owner_rows(
        app,
        &sh.org,
        &format!(
            "SELECT o.status || ' ' || (SELECT count(*) FROM order_events e WHERE e.order_id = o.id) \
             FROM orders o WHERE o.external_id = '{external}'"
        ),
    )
    .await;
    rows.first().map(|r| {
        let (s, n) = r.split_once(' ').unwrap();
        (s.to_owned(), n.parse().unwrap())
    })
}

async fn inbox_rows(app: &TestApp, sh: &Shop) -> i64 {
    owner_rows(app, &sh.org, "SELECT count(*)::text FROM webhook_inbox").await[0]
        .parse()
        .unwrap()
}

fn with_shop(body: &str, from: &str, to: &str) -> String {
    assert!(body.contains(from), "{body} names {from}");
    body.replace(from, to)
}

#[tokio::test]
async fn each_platforms_signed_push_is_processed_and_every_forgery_is_refused_storing_nothing() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let platforms = [Platform::Shopee, Platform::TiktokShop, Platform::Lazada];
    let (sh, stores) = setup(&app, "wh-each", &platforms).await;
    let w = worker(&app, &sim).await;
    let cfg = sim.sim.config().clone();
    for (i, (p, store)) in platforms.iter().zip(&stores).enumerate() {
        let p = *p;
        let url = hook(&app, p);
        let id = place(&sim, p);
        let push = sim
            .sim
            .signed_push(&PushRequest::order(p, url.clone(), id.clone()))
            .unwrap();

        // One byte of the body changed (a digit of the timestamp), the signature kept.
        let tampered = {
            let mut b = push.body.clone().into_bytes();
            let at = push.body.find("\"timestamp\":").unwrap() + 13;
            b[at] = if b[at] == b'9' { b'8' } else { b[at] + 1 };
            String::from_utf8(b).unwrap()
        };
        assert_eq!(post_raw(&url, &tampered, &push.authorization).await.0, 401);
        // The signature changed by one hex digit.
        let mut sig = push.authorization.clone().into_bytes();
        sig[0] = if sig[0] == b'a' { b'b' } else { b'a' };
        let sig = String::from_utf8(sig).unwrap();
        let (status, body) = post_raw(&url, &push.body, &sig).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("BAD_SIGNATURE"), "{body}");
        // No signature at all.
        assert_eq!(post_raw(&url, &push.body, "").await.0, 401);
        // Signed right, but sent six minutes ago.
        let mut old = PushRequest::order(p, url.clone(), id.clone());
        old.sent_at = Some(chrono::Utc::now().timestamp() - 360);
        let old = sim.sim.signed_push(&old).unwrap();
        let (status, body) = post_raw(&url, &old.body, &old.authorization).await;
        assert_eq!(status, 401, "{body}");
        assert!(body.contains("STALE"), "{body}");
        // Signed with another app's key.
        let other = match p {
            Platform::Shopee => connectors::shopee::push_signature(
                "another-partner-key",
                &url,
                push.body.as_bytes(),
            ),
            Platform::TiktokShop => connectors::tiktok::webhook_signature(
                &cfg.tiktok.0,
                "another-secret",
                push.body.as_bytes(),
            ),
            _ => connectors::lazada::push_signature("654321", &cfg.lazada.1, push.body.as_bytes()),
        };
        assert_eq!(post_raw(&url, &push.body, &other).await.0, 401);
        // Signed right, for a shop no organization connected.
        let shop = match p {
            Platform::Shopee => cfg.shopee.2.to_string(),
            Platform::TiktokShop => cfg.tiktok.2.clone(),
            _ => cfg.lazada.2.clone(),
        };
        let unknown = with_shop(&push.body, &shop, "4242");
        let unknown_sig = match p {
            Platform::Shopee => {
                connectors::shopee::push_signature(&cfg.shopee.1, &url, unknown.as_bytes())
            }
            Platform::TiktokShop => connectors::tiktok::webhook_signature(
                &cfg.tiktok.0,
                &cfg.tiktok.1,
                unknown.as_bytes(),
            ),
            _ => {
                connectors::lazada::push_signature(&cfg.lazada.0, &cfg.lazada.1, unknown.as_bytes())
            }
        };
        let (status, body) = post_raw(&url, &unknown, &unknown_sig).await;
        assert_eq!(status, 404, "{body}");
        assert_eq!(
            inbox_rows(&app, &sh).await,
            i as i64,
            "{p:?}: a refusal stored something"
        );

        // The real push: 200 with an empty body, then processed into the order.
        let (status, body) = post_raw(&url, &push.body, &push.authorization).await;
        assert_eq!((status, body.as_str()), (200, ""), "{p:?}");
        let ev = wait_status(&app, &sh.s.token, store, Some(&id), "PROCESSED", &w).await;
        assert_eq!(ev["kind"], "ORDER_STATUS");
        assert_eq!(ev["job"]["status"], "SUCCEEDED");
        assert!(ev["outcome"].as_str().unwrap().contains("created"), "{ev}");
        assert_eq!(
            ev["payload"],
            serde_json::from_str::<Value>(&push.body).unwrap()
        );
        let (status, changes) = order(&app, &sh, &id).await.expect("order stored");
        assert_eq!((status.as_str(), changes), ("PENDING_PAYMENT", 1), "{p:?}");
        // Shopee signs the URL: the same body delivered to another URL is not Shopee's push.
        if p == Platform::Shopee {
            let (status, _) =
                post_raw(&format!("{url}?x=1"), &push.body, &push.authorization).await;
            assert_eq!(status, 401);
        }
    }
    assert_eq!(inbox_rows(&app, &sh).await, 3);
    // A body over the limit is refused before anything reads it.
    let big = format!("{{\"pad\":\"{}\"}}", "x".repeat(300 * 1024));
    assert_eq!(
        post_raw(&hook(&app, Platform::Shopee), &big, "00").await.0,
        413
    );
    // A platform without pushes, and a malformed body correctly signed.
    assert_eq!(
        post_raw(&format!("{}/webhooks/jumia", app.base), "{}", "00")
            .await
            .0,
        404
    );
    let junk = "{\"type\":1}";
    let sig = connectors::tiktok::webhook_signature(&cfg.tiktok.0, &cfg.tiktok.1, junk.as_bytes());
    assert_eq!(
        post_raw(&hook(&app, Platform::TiktokShop), junk, &sig)
            .await
            .0,
        400
    );
    assert_eq!(inbox_rows(&app, &sh).await, 3);
}

#[tokio::test]
async fn five_concurrent_deliveries_of_one_push_store_one_event_and_change_the_order_once() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let (sh, stores) = setup(&app, "wh-dup", &[Platform::Shopee]).await;
    let w = worker(&app, &sim).await;
    let id = place(&sim, Platform::Shopee);
    let push = sim
        .sim
        .signed_push(&PushRequest::order(
            Platform::Shopee,
            hook(&app, Platform::Shopee),
            id.clone(),
        ))
        .unwrap();
    let all = futures::future::join_all((0..5).map(|_| deliver(&sim, &push))).await;
    assert_eq!(all, vec![200; 5]);
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert_eq!(ev["duplicates"], 4);
    assert_eq!(inbox_rows(&app, &sh).await, 1);
    let jobs = owner_rows(
        &app,
        &sh.org,
        "SELECT count(*)::text FROM jobs WHERE kind = 'WEBHOOK'",
    )
    .await;
    assert_eq!(jobs, vec!["1"]);
    // A sixth delivery after processing changes nothing either.
    assert_eq!(deliver(&sim, &push).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(order(&app, &sh, &id).await.unwrap().1, 1);
    let health = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { node(id: $id) { ... on Store { health { webhooks { arrived duplicates stale failed dead lastArrivalAt } } } } }",
            json!({ "id": stores[0] }),
        )
        .await;
    let wh = &health["data"]["node"]["health"]["webhooks"];
    assert_eq!(
        (wh["arrived"].as_i64(), wh["duplicates"].as_i64()),
        (Some(1), Some(5)),
        "{health}"
    );
    assert!(wh["lastArrivalAt"].is_string(), "{health}");
}

#[tokio::test]
async fn pushes_delivered_newest_first_keep_the_newest_status_and_record_the_older_as_stale() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::TiktokShop;
    let (sh, stores) = setup(&app, "wh-order", &[p]).await;
    let w = worker(&app, &sim).await;
    let id = place(&sim, p);
    let created = sim.sim.world(p).order(&id).unwrap().created;
    // Twelve minutes later the order is paid (stage change at +10 min).
    sim.sim.advance(720);
    let url = hook(&app, p);
    let mut older = PushRequest::order(p, url.clone(), id.clone());
    older.at = Some(created + 60);
    let older = sim.sim.signed_push(&older).unwrap();
    let newer = sim
        .sim
        .signed_push(&PushRequest::order(p, url, id.clone()))
        .unwrap();
    assert_ne!(older.body, newer.body);
    assert_eq!(deliver(&sim, &newer).await, 200);
    wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert_eq!(deliver(&sim, &older).await, 200);
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let list = events(&app, &sh.s.token, &stores[0], json!({"status": "STALE"})).await;
        // `nodes`, not `totalCount`: the count is a second statement and may see a later commit.
        if list["nodes"].as_array().unwrap().len() == 1 {
            assert_eq!(list["nodes"][0]["announcedStatus"], "UNPAID", "{list}");
            assert!(
                list["nodes"][0]["outcome"]
                    .as_str()
                    .unwrap()
                    .contains("older")
            );
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{list}\n{}", w.logs());
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, changes) = order(&app, &sh, &id).await.unwrap();
    assert_eq!((status.as_str(), changes), ("AWAITING_FULFILLMENT", 1));
    // The filters: by type and by arrival time.
    let processed = events(
        &app,
        &sh.s.token,
        &stores[0],
        json!({"status": "PROCESSED", "type": "ORDER_STATUS"}),
    )
    .await;
    assert_eq!(processed["totalCount"], 1);
    let future = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let none = events(
        &app,
        &sh.s.token,
        &stores[0],
        json!({"receivedBetween": {"from": future}}),
    )
    .await;
    assert_eq!(none["totalCount"], 0);
    let bad = app
        .gql(
            Some(&sh.s.token),
            EVENTS,
            json!({"s": stores[0], "f": {"receivedBetween": {"from": future, "to": chrono::Utc::now().to_rfc3339()}}}),
        )
        .await;
    assert_eq!(first_error_code(&bad), "VALIDATION_FAILED", "{bad}");
}

#[tokio::test]
async fn a_push_committed_by_an_api_killed_before_answering_is_processed_once_by_the_worker() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::TiktokShop;
    let (sh, stores) = setup(&app, "wh-crash-api", &[p]).await;
    let mut api = mercato_tests::procs::server(
        &app,
        &[
            ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
            ("MERCATO_TEST_WEBHOOK_PAUSE_MS", "60000"),
        ],
    )
    .await;
    let id = place(&sim, p);
    let url = format!("http://{}/webhooks/tiktok", api.addr.clone().unwrap());
    let push = sim
        .sim
        .signed_push(&PushRequest::order(p, url, id.clone()))
        .unwrap();
    let sending = tokio::spawn({
        let sim = sim.sim.clone();
        let push = push.clone();
        async move { sim.deliver(&push).await }
    });
    api.wait_for_log("webhook committed", Duration::from_secs(20))
        .await;
    // Committed, not yet handed to the workers nor answered: the process dies here.
    api.kill9();
    assert!(
        sending.await.unwrap().is_err(),
        "the platform got no answer"
    );
    assert_eq!(inbox_rows(&app, &sh).await, 1);
    // The worker finds the committed job without the hand-off, and the platform's retry (to a
    // live API) is a duplicate.
    let w = worker(&app, &sim).await;
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert_eq!(ev["attempts"], 1);
    let retry = PushRequest::order(p, hook(&app, p), id.clone());
    let retry = SignedPush {
        url: retry.url.clone(),
        ..push.clone()
    };
    assert_eq!(deliver(&sim, &retry).await, 200);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(order(&app, &sh, &id).await.unwrap().1, 1);
    assert_eq!(inbox_rows(&app, &sh).await, 1);
}

#[tokio::test]
async fn a_worker_killed_while_processing_a_push_leaves_it_to_be_processed_once_after_takeover() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::Lazada;
    let (sh, stores) = setup(&app, "wh-crash-worker", &[p]).await;
    let mut a = worker(&app, &sim).await;
    let id = place(&sim, p);
    // The platform answers the first order read slowly: the job is mid-way when A dies.
    sim.sim.inject(p, Fault::Slow { millis: 4000 }, 1);
    let push = sim
        .sim
        .signed_push(&PushRequest::order(p, hook(&app, p), id.clone()))
        .unwrap();
    assert_eq!(deliver(&sim, &push).await, 200);
    let end = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let running = owner_rows(
            &app,
            &sh.org,
            "SELECT count(*)::text FROM jobs WHERE kind = 'WEBHOOK' AND status = 'RUNNING'",
        )
        .await;
        if running == vec!["1"] {
            break;
        }
        assert!(tokio::time::Instant::now() < end, "{}", a.logs());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    a.kill9();
    let b = worker(&app, &sim).await;
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &b).await;
    assert_eq!(
        ev["job"]["attempts"], 2,
        "taken over after the lease lapsed: {ev}"
    );
    assert_eq!(order(&app, &sh, &id).await.unwrap().1, 1);
}

#[tokio::test]
async fn a_transient_failure_retries_with_backoff_then_succeeds() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::Shopee;
    let (sh, stores) = setup(&app, "wh-retry", &[p]).await;
    // Retries 3 s apart, so the waiting retry can be seen.
    let w = mercato_tests::procs::worker(
        &app,
        &[
            ("MERCATO_SIMULATOR_URL", sim.base_url.as_str()),
            ("MERCATO_JOB_BACKOFF_MS", "3000,3000,3000,3000,3000"),
        ],
    )
    .await;
    let id = place(&sim, p);
    // The platform's first read lags an hour behind its push: the order is not there yet.
    sim.sim.lag_reads(p, 1, 3600);
    let push = sim
        .sim
        .signed_push(&PushRequest::order(p, hook(&app, p), id.clone()))
        .unwrap();
    assert_eq!(deliver(&sim, &push).await, 200);
    let waiting = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "RETRYING", &w).await;
    assert_eq!(waiting["attempts"], 1, "{waiting}");
    assert!(
        waiting["lastError"]
            .as_str()
            .unwrap()
            .contains("does not show order"),
        "{waiting}"
    );
    assert_eq!(waiting["job"]["status"], "QUEUED");
    assert!(order(&app, &sh, &id).await.is_none());
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert_eq!(ev["attempts"], 2, "{ev}");
    assert!(ev["lastError"].is_null(), "{ev}");
    assert_eq!(order(&app, &sh, &id).await.unwrap().1, 1);
}

#[tokio::test]
async fn a_poison_push_goes_dead_and_replay_processes_it_once_the_cause_is_fixed() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::Shopee;
    let (sh, stores) = setup(&app, "wh-dead", &[p]).await;
    let w = worker(&app, &sim).await;
    let id = place(&sim, p);
    let created = sim.sim.world(p).order(&id).unwrap().created;
    // A push announcing the payment ten minutes ahead: the platform's reads never show it.
    let mut ahead = PushRequest::order(p, hook(&app, p), id.clone());
    ahead.at = Some(created + 600);
    let ahead = sim.sim.signed_push(&ahead).unwrap();
    assert_eq!(deliver(&sim, &ahead).await, 200);
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "DEAD", &w).await;
    assert_eq!(ev["attempts"], 6, "{ev}");
    assert!(
        ev["lastError"]
            .as_str()
            .unwrap()
            .contains("older than the push announced"),
        "{ev}"
    );
    let dead = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { node(id: $id) { ... on Store { health { webhooks { dead failed arrived } } } } }",
            json!({ "id": stores[0] }),
        )
        .await;
    assert_eq!(
        dead["data"]["node"]["health"]["webhooks"]["dead"], 1,
        "{dead}"
    );
    assert!(order(&app, &sh, &id).await.is_none());
    // The cause goes away: the platform now shows the payment.
    sim.sim.advance(700);
    let replayed = app
        .gql(
            Some(&sh.s.token),
            "mutation($i: ReplayWebhookEventInput!) { replayWebhookEvent(input: $i) { event { id status } userErrors { code message } } }",
            json!({ "i": { "id": ev["id"] } }),
        )
        .await;
    let r = &replayed["data"]["replayWebhookEvent"];
    assert_eq!(r["userErrors"], json!([]), "{replayed}");
    assert!(
        matches!(r["event"]["status"].as_str(), Some("PENDING" | "PROCESSED")),
        "{replayed}"
    );
    let done = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert_ne!(done["job"]["id"], ev["job"]["id"]);
    let (status, changes) = order(&app, &sh, &id).await.unwrap();
    assert_eq!((status.as_str(), changes), ("AWAITING_FULFILLMENT", 1));
}

#[tokio::test]
async fn a_lost_push_is_brought_by_the_next_incremental_pull() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::Shopee;
    let (sh, stores) = setup(&app, "wh-lost", &[p]).await;
    let w = worker(&app, &sim).await;
    sim.sim.subscribe(p, hook(&app, p));
    // Pushed by the platform itself when the buyer orders.
    let pushed = place(&sim, p);
    wait_status(
        &app,
        &sh.s.token,
        &stores[0],
        Some(&pushed),
        "PROCESSED",
        &w,
    )
    .await;
    // The next push is lost.
    sim.sim.suppress_pushes(p, 1);
    let lost = place(&sim, p);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(sim.sim.pushes_sent(p), (1, 1));
    assert!(order(&app, &sh, &lost).await.is_none());
    // The pull's window ends at the current second (exclusive): let the order's second pass.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    market::sync(&app, &w, &sh, &stores[0], "ORDERS").await;
    let (status, _) = order(&app, &sh, &lost).await.expect("pulled");
    assert_eq!(status, "PENDING_PAYMENT");
    assert_eq!(inbox_rows(&app, &sh).await, 1);
}

#[tokio::test]
async fn deauthorization_expiry_and_stock_notices_act_on_the_store() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let (sh, stores) = setup(
        &app,
        "wh-notices",
        &[Platform::Shopee, Platform::TiktokShop],
    )
    .await;
    let w = worker(&app, &sim).await;
    // Shopee: the expiry notice dates the end of the authorization.
    let mut expiring = PushRequest::order(Platform::Shopee, hook(&app, Platform::Shopee), "");
    expiring.topic = PushTopic::AuthorizationExpiring;
    let expiring = sim.sim.signed_push(&expiring).unwrap();
    assert_eq!(deliver(&sim, &expiring).await, 200);
    wait_status(&app, &sh.s.token, &stores[0], None, "PROCESSED", &w).await;
    let shopee = app
        .gql(
            Some(&sh.s.token),
            "query($id: ID!) { node(id: $id) { ... on Store { connection health { authorizationExpiresAt } } } }",
            json!({ "id": stores[0] }),
        )
        .await;
    let at = shopee["data"]["node"]["health"]["authorizationExpiresAt"]
        .as_str()
        .unwrap_or_else(|| panic!("{shopee}"));
    let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
    let days = (at.timestamp() - sim.sim.now()) / 86_400;
    assert!((6..=7).contains(&days), "{shopee}");
    assert_eq!(shopee["data"]["node"]["connection"], "CONNECTED");
    // Shopee: a stock change on the platform is answered with Mercato's quantity again.
    market::sync(&app, &w, &sh, &stores[0], "PRODUCTS").await;
    let sku = sim.sim.world(Platform::Shopee).skus[0].sku_id;
    let mut stock = PushRequest::order(Platform::Shopee, hook(&app, Platform::Shopee), "");
    stock.topic = PushTopic::StockChange;
    stock.sku_id = Some(sku);
    let stock = sim.sim.signed_push(&stock).unwrap();
    assert_eq!(deliver(&sim, &stock).await, 200);
    let list = {
        let end = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let l = events(
                &app,
                &sh.s.token,
                &stores[0],
                json!({"type": "STOCK_CHANGE", "status": "PROCESSED"}),
            )
            .await;
            if l["nodes"].as_array().unwrap().len() == 1 {
                break l;
            }
            assert!(tokio::time::Instant::now() < end, "{l}\n{}", w.logs());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let outcome = list["nodes"][0]["outcome"].as_str().unwrap();
    assert!(!outcome.starts_with("0 listing"), "{outcome}");
    // TikTok: the seller withdrew the authorization.
    let mut gone = PushRequest::order(Platform::TiktokShop, hook(&app, Platform::TiktokShop), "");
    gone.topic = PushTopic::Deauthorized;
    let gone = sim.sim.signed_push(&gone).unwrap();
    assert_eq!(deliver(&sim, &gone).await, 200);
    wait_status(&app, &sh.s.token, &stores[1], None, "PROCESSED", &w).await;
    let tiktok = market::store(&app, &sh.s, &stores[1]).await;
    assert_eq!(tiktok["connection"], "AUTH_EXPIRED", "{tiktok}");
}

#[tokio::test]
async fn pushes_stay_in_their_tenant_and_payloads_are_for_owners_and_admins() {
    let sim = market::simulator_thread(connectors::simulator::SimConfig::default());
    let app = market::app_with(&sim).await;
    let p = Platform::TiktokShop;
    let (sh, stores) = setup(&app, "wh-tenant", &[p]).await;
    let w = worker(&app, &sim).await;
    let id = place(&sim, p);
    let push = sim
        .sim
        .signed_push(&PushRequest::order(p, hook(&app, p), id.clone()))
        .unwrap();
    assert_eq!(deliver(&sim, &push).await, 200);
    let ev = wait_status(&app, &sh.s.token, &stores[0], Some(&id), "PROCESSED", &w).await;
    assert!(ev["payload"].is_object());
    // A manager of the branch sees the event, not its payload.
    let manager = joined_member(
        &app,
        &sh.s,
        "wh-manager",
        "MEMBER",
        json!([{ "branchId": sh.branch, "role": "MANAGER" }]),
    )
    .await;
    let seen = events(&app, &manager.token, &stores[0], json!({})).await;
    assert_eq!(seen["totalCount"], 1);
    assert!(seen["nodes"][0]["payload"].is_null(), "{seen}");
    // Another organization: the event id is null, the store is not found, and its runtime-role
    // transactions see no row.
    let other = mercato_tests::stock::shop(&app, "wh-other").await;
    let node = app
        .gql(
            Some(&other.s.token),
            "query($id: ID!) { node(id: $id) { id } }",
            json!({ "id": ev["id"] }),
        )
        .await;
    assert!(node["data"]["node"].is_null(), "{node}");
    let list = app
        .gql(Some(&other.s.token), EVENTS, json!({ "s": stores[0] }))
        .await;
    assert_eq!(first_error_code(&list), "NOT_FOUND", "{list}");
    let runtime = app.runtime().await;
    let rows = rows_as(
        &runtime,
        &[("app.org_id", &other.org), ("app.branch_ids", "*")],
        "SELECT count(*)::text FROM webhook_inbox",
    )
    .await
    .unwrap();
    assert_eq!(rows, vec!["0"]);
    let mine = rows_as(
        &runtime,
        &[("app.org_id", &sh.org), ("app.branch_ids", "*")],
        "SELECT count(*)::text FROM webhook_inbox",
    )
    .await
    .unwrap();
    assert_eq!(mine, vec!["1"]);
    // Without a tenant the inbox shows nothing; the cross-tenant dispatch index is closed to the
    // runtime role, which reaches it only through the functions that return ids.
    let none = rows_as(&runtime, &[], "SELECT count(*)::text FROM webhook_inbox").await;
    assert_eq!(none.unwrap(), vec!["0"]);
    for sql in [
        "SELECT count(*)::text FROM webhook_dispatch",
        "DELETE FROM webhook_dispatch RETURNING event_id::text",
    ] {
        let refused = rows_as(&runtime, &[], sql).await;
        assert!(refused.unwrap_err().contains("permission denied"), "{sql}");
    }
    let org = rows_as(
        &runtime,
        &[],
        &format!(
            "SELECT webhook_shop_org('TIKTOK_SHOP', '{}')::text",
            sim.sim.config().tiktok.2
        ),
    )
    .await
    .unwrap();
    assert_eq!(org, vec![sh.org.clone()]);
}

#[tokio::test]
async fn refused_deliveries_from_one_address_are_rate_limited() {
    let sim = market::simulator(connectors::simulator::SimConfig::default()).await;
    let db = fresh_database().await;
    let mut config = test_config(&db);
    config.marketplaces =
        mercato::config::MarketplacesConfig::simulator("http://127.0.0.1:0", &sim.base_url);
    config.limits.webhook_refusals = (2, 2);
    let app = TestApp::spawn_with(config, db).await;
    let url = hook(&app, Platform::Lazada);
    let codes = {
        let mut v = Vec::new();
        for _ in 0..4 {
            v.push(post_raw(&url, "{}", "00").await.0);
        }
        v
    };
    assert_eq!(codes, vec![401, 401, 429, 429]);
}
