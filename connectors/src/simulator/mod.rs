//! The marketplace simulator: one HTTP server with a prefix per platform (`/shopee`, `/tiktok`,
//! `/lazada/rest` + `/lazada/auth/rest`, `/jumia`) implementing the endpoints the connectors use,
//! with each platform's envelopes and error codes. It **rejects** any request whose signature,
//! timestamp window, token or shop identifier is wrong, the way the platform does, recomputing
//! signatures from the raw query and body bytes it received.
//!
//! Data is seeded and deterministic ([`world::World`]); orders move through their statuses as
//! time passes (real time plus an adjustable offset). Faults can be queued per platform (429 with
//! retry-after, 5xx, slow responses, token expiry mid-run, malformed JSON) and listings can
//! duplicate items across pages and return them out of order. [`push`] sends signed pushes (on
//! request, and for every order placed once a platform has a subscription), loses some on purpose
//! and lags reads behind them. `POST /_sim/faults`, `POST /_sim/quirks`, `POST /_sim/advance` and
//! `POST /_sim/push` and `POST /_sim/subscribe` expose the same controls over HTTP for
//! `mercato simulator`.

mod jumia;
mod lazada;
mod push;
mod shopee;
mod tiktok;
pub mod world;

pub use push::{PushRequest, PushTopic, SignedPush};

use crate::{Endpoints, Platform};
use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use world::World;

/// Simulated app credentials and shops.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// Seed of the generated data.
    pub seed: u64,
    /// The data's reference time (unix s): orders span the 30 days before it.
    pub epoch: i64,
    /// Products per shop.
    pub products: usize,
    /// Orders per shop.
    pub orders: usize,
    /// Shopee `partner_id`, `partner_key`, `shop_id`.
    pub shopee: (u64, String, u64),
    /// TikTok `app_key`, `app_secret`, shop id, shop cipher.
    pub tiktok: (String, String, String, String),
    /// Lazada `app_key`, `app_secret`, seller id.
    pub lazada: (String, String, String),
    /// Jumia client id, master shop id, and the Self Authorization refresh token it starts with.
    pub jumia: (String, String, String),
    /// Access-token lifetimes in seconds (Shopee 4 h, TikTok 7 d, Lazada 30 d, Jumia 1 h).
    pub access_lifetime: [i64; 4],
    /// The redirect URL registered for the TikTok app (TikTok's link carries none).
    pub tiktok_redirect: String,
    /// Freeze the data clock at this instant (tests); `None` follows the wall clock. Signature
    /// windows always use the wall clock.
    pub frozen_now: Option<i64>,
    /// How long Shopee keeps the previous access token working after a refresh (5 min on the
    /// platform; tests set 0 to prove callers moved to the new one).
    pub shopee_refresh_grace_secs: i64,
    /// Rate limits enforced per platform (the simulator serves one shop per platform): each
    /// `(requests, window ms)` must hold over the data requests that arrived, or the request
    /// gets the platform's throttle answer and is counted by [`Simulator::throttled`]. Empty:
    /// nothing enforced (tests inject throttling as faults); [`SimConfig::published_limits`]
    /// gives the platforms' numbers.
    pub rate_limits: HashMap<Platform, Vec<(u32, i64)>>,
}

impl SimConfig {
    /// The published limits (TikTok 50 per second per shop; Jumia 4 per second and 200 per
    /// minute per master shop) and, where none is published (Shopee, Lazada), 10 per second, the
    /// careful figure Mercato's quota table assumes (`marketplaces.md` §1.4, §2.4, §3.4, §4.1).
    pub fn published_limits() -> HashMap<Platform, Vec<(u32, i64)>> {
        HashMap::from([
            (Platform::Shopee, vec![(10, 1000)]),
            (Platform::TiktokShop, vec![(50, 1000)]),
            (Platform::Lazada, vec![(10, 1000)]),
            (Platform::Jumia, vec![(4, 1000), (200, 60_000)]),
        ])
    }
}

impl Default for SimConfig {
    fn default() -> Self {
        // Twelve hours ago, on the hour: the newest generated orders (up to two hours after the
        // epoch) are then always 10-12 hours old, whatever the time of day. A midnight epoch made
        // the shop depend on the clock: in the first hours of a UTC day its newest orders were
        // minutes old, or not placed yet, and appeared during a run.
        let at = chrono::Utc::now().timestamp() - 12 * 3600;
        Self {
            seed: 42,
            epoch: at - at.rem_euclid(3600),
            products: 40,
            orders: 260,
            shopee: (
                2_001_234,
                "shpk-demo-partner-key-0123456789abcdef".into(),
                727_720_655,
            ),
            tiktok: (
                "29a39d".into(),
                "e59af819cc".into(),
                "7494049642642441621".into(),
                "ROW_demo_cipher_1".into(),
            ),
            lazada: ("123456".into(), "helloworld".into(), "1234567".into()),
            jumia: (
                "mercato-demo".into(),
                "3f1c2a7e-0000-4000-8000-00000000beef".into(),
                "jumia-self-auth-refresh-0001".into(),
            ),
            access_lifetime: [4 * 3600, 7 * 86_400, 30 * 86_400, 3600],
            tiktok_redirect: "http://127.0.0.1:8080/connect/tiktok/callback".into(),
            frozen_now: None,
            shopee_refresh_grace_secs: 300,
            rate_limits: HashMap::new(),
        }
    }
}

/// A fault to apply to the next data request of a platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// The platform's throttle answer with `Retry-After` (Lazada: `ApiCallLimit` "ban will last
    /// N seconds").
    RateLimit {
        /// Seconds.
        retry_after_secs: u64,
    },
    /// An HTTP 5xx.
    ServerError {
        /// 500..599.
        status: u16,
    },
    /// Answer after a delay (0 ms: pass this request untouched).
    Slow {
        /// Milliseconds.
        millis: u64,
    },
    /// The presented access token expires now and the platform's expired-token error is returned.
    ExpireToken,
    /// A body that is not JSON.
    Malformed,
}

/// Listing misbehaviour, per platform.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub struct Quirks {
    /// Each page repeats the last item of the previous page.
    #[serde(default)]
    pub duplicate_across_pages: bool,
    /// Items within a page come in reverse order.
    #[serde(default)]
    pub out_of_order: bool,
}

#[derive(Debug, Clone)]
pub(crate) struct AccessInfo {
    expires_at: i64,
}

#[derive(Debug, Default)]
pub(crate) struct Tokens {
    counter: u64,
    codes: HashMap<String, (i64, bool)>,
    access: HashMap<String, AccessInfo>,
    refresh: HashMap<String, (i64, bool)>,
    /// The access token issued with each refresh token.
    paired: HashMap<String, String>,
    /// Every code and token handed out.
    minted: Vec<String>,
}

pub(crate) enum TokenCheck {
    Ok,
    Expired,
    Invalid,
}

impl Tokens {
    fn mint(&mut self, prefix: &str) -> String {
        self.counter += 1;
        let r: u64 = rand::random();
        let minted = format!("{prefix}{:08x}{r:016x}", self.counter);
        self.minted.push(minted.clone());
        minted
    }

    pub(crate) fn code(&mut self, prefix: &str, now: i64, lifetime: i64) -> String {
        let c = self.mint(prefix);
        self.codes.insert(c.clone(), (now + lifetime, false));
        c
    }

    /// Consumes a single-use code.
    pub(crate) fn use_code(&mut self, code: &str, now: i64) -> bool {
        match self.codes.get_mut(code) {
            Some((exp, used)) if !*used && now < *exp => {
                *used = true;
                true
            }
            _ => false,
        }
    }

    /// Issues an access + refresh token pair.
    pub(crate) fn issue(
        &mut self,
        now: i64,
        access_lifetime: i64,
        refresh_lifetime: i64,
    ) -> (String, String) {
        let a = self.mint("at");
        let r = self.mint("rt");
        self.access.insert(
            a.clone(),
            AccessInfo {
                expires_at: now + access_lifetime,
            },
        );
        self.refresh
            .insert(r.clone(), (now + refresh_lifetime, false));
        self.paired.insert(r.clone(), a.clone());
        (a, r)
    }

    /// Seeds a refresh token (Jumia's Self Authorization token).
    pub(crate) fn seed_refresh(&mut self, token: &str, expires_at: i64) {
        self.refresh
            .entry(token.to_owned())
            .or_insert((expires_at, false));
    }

    /// Uses a refresh token; `single_use` marks it spent.
    pub(crate) fn use_refresh(&mut self, token: &str, now: i64, single_use: bool) -> bool {
        match self.refresh.get_mut(token) {
            Some((exp, used)) if !*used && now < *exp => {
                if single_use {
                    *used = true;
                }
                true
            }
            _ => false,
        }
    }

    /// The access token issued together with refresh token `token`.
    pub(crate) fn paired_access(&self, token: &str) -> Option<String> {
        self.paired.get(token).cloned()
    }

    pub(crate) fn refresh_expiry(&self, token: &str) -> Option<i64> {
        self.refresh.get(token).map(|(e, _)| *e)
    }

    pub(crate) fn check(&self, token: &str, now: i64) -> TokenCheck {
        match self.access.get(token) {
            None => TokenCheck::Invalid,
            Some(i) if now >= i.expires_at => TokenCheck::Expired,
            Some(_) => TokenCheck::Ok,
        }
    }

    /// Ends an access token's life now (fault injection) or shortly (Shopee keeps the old one 5 min).
    pub(crate) fn expire(&mut self, token: &str, at: i64) {
        if let Some(i) = self.access.get_mut(token) {
            i.expires_at = i.expires_at.min(at);
        }
    }
}

/// Shared simulator state.
pub(crate) struct SimState {
    pub(crate) config: SimConfig,
    worlds: Mutex<HashMap<Platform, World>>,
    tokens: Mutex<HashMap<Platform, Tokens>>,
    faults: Mutex<HashMap<Platform, VecDeque<Fault>>>,
    quirks: Mutex<HashMap<Platform, Quirks>>,
    offset: AtomicI64,
    requests: Mutex<HashMap<(Platform, String), u64>>,
    rejected: AtomicU64,
    /// Requests refused for exceeding [`SimConfig::rate_limits`].
    throttled: AtomicU64,
    /// Where each refusal was decided (source location and platform path), for test messages.
    rejections: Mutex<Vec<String>>,
    auth_delay_ms: AtomicU64,
    revoked: Mutex<HashMap<Platform, bool>>,
    tiktok_redirect: Mutex<String>,
    data_times: Mutex<HashMap<Platform, Vec<i64>>>,
    /// Every data request: platform, path and query, in arrival order.
    data_log: Mutex<Vec<LoggedRequest>>,
    /// Webhook subscriptions, suppressed pushes and lagging reads ([`push`]).
    pub(crate) pushes: Mutex<push::PushState>,
    http: reqwest::Client,
}

/// The simulated buyers' default pace on one listing ([`Simulator::buyers`]): one order a second,
/// so a 100-unit sale on three listings sells out in about half a minute.
pub const DEFAULT_BUYER_RATE: f64 = 1.0;

/// A small distinct number per platform (order id prefixes).
fn platform_index(p: Platform) -> u64 {
    match p {
        Platform::Shopee => 0,
        Platform::TiktokShop => 1,
        Platform::Lazada => 2,
        _ => 3,
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl SimState {
    /// Wall-clock now (signature windows use it).
    pub(crate) fn wall(&self) -> i64 {
        chrono::Utc::now().timestamp()
    }

    /// Wall-clock now in ms.
    pub(crate) fn wall_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }

    /// The data's now (wall clock plus the advance offset).
    pub(crate) fn now(&self) -> i64 {
        self.config.frozen_now.unwrap_or_else(|| self.wall()) + self.offset.load(Ordering::Relaxed)
    }

    pub(crate) fn world<R>(&self, p: Platform, f: impl FnOnce(&mut World) -> R) -> R {
        let mut w = lock(&self.worlds);
        match w.get_mut(&p) {
            Some(world) => f(world),
            None => f(&mut World::generate(0, 0, 0, 0, "USD", 100)),
        }
    }

    pub(crate) fn tokens<R>(&self, p: Platform, f: impl FnOnce(&mut Tokens) -> R) -> R {
        f(lock(&self.tokens).entry(p).or_default())
    }

    pub(crate) fn quirks(&self, p: Platform) -> Quirks {
        lock(&self.quirks).get(&p).copied().unwrap_or_default()
    }

    fn count(&self, p: Platform, path: &str) {
        *lock(&self.requests)
            .entry((p, path.to_owned()))
            .or_default() += 1;
    }

    #[track_caller]
    pub(crate) fn reject(&self) {
        self.rejected.fetch_add(1, Ordering::Relaxed);
        let at = std::panic::Location::caller();
        let mut list = lock(&self.rejections);
        if list.len() < 100 {
            list.push(format!("{}:{} at {}", at.file(), at.line(), self.wall()));
        }
    }

    /// Counts a token-endpoint request and applies the configured delay (tests widen the window in
    /// which two callers race to refresh).
    pub(crate) async fn auth_request(&self, p: Platform, path: &str) {
        self.count(p, path);
        let ms = self.auth_delay_ms.load(Ordering::Relaxed);
        if ms > 0 {
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
    }

    /// The redirect URL registered for the TikTok app.
    pub(crate) fn tiktok_redirect(&self) -> String {
        lock(&self.tiktok_redirect).clone()
    }

    /// Whether the seller revoked the app's authorization on `p`: every refresh is refused.
    pub(crate) fn revoked(&self, p: Platform) -> bool {
        lock(&self.revoked).get(&p).copied().unwrap_or(false)
    }

    /// Whether a data request of `p` arriving now exceeds its rate limits; when it does not,
    /// its arrival is counted.
    fn over_limit(&self, p: Platform) -> bool {
        let now = self.wall_ms();
        let limits = self.config.rate_limits.get(&p);
        let mut times = lock(&self.data_times);
        let list = times.entry(p).or_default();
        for (requests, window) in limits.into_iter().flatten() {
            let within = list.iter().rev().take_while(|t| **t > now - window).count();
            if within >= *requests as usize {
                return true;
            }
        }
        list.push(now);
        false
    }

    /// The next queued fault of `p`, applying a slow response in place; the platform's throttle
    /// answer when the request exceeds its rate limit.
    pub(crate) async fn next_fault(&self, p: Platform, r: &Req) -> Option<Fault> {
        let path = r.path.as_str();
        self.count(p, path);
        if self.over_limit(p) {
            self.throttled.fetch_add(1, Ordering::Relaxed);
            let mut list = lock(&self.rejections);
            if list.len() < 100 {
                list.push(format!(
                    "throttled {p:?} {} at {} ms",
                    r.path,
                    self.wall_ms()
                ));
            }
            return Some(Fault::RateLimit {
                retry_after_secs: 1,
            });
        }
        lock(&self.data_log).push((p, r.path.clone(), r.query.clone()));
        let f = lock(&self.faults).get_mut(&p).and_then(VecDeque::pop_front);
        if let Some(Fault::Slow { millis }) = f {
            tokio::time::sleep(Duration::from_millis(millis)).await;
            return None;
        }
        f
    }
}

/// The simulator (cheap to clone).
#[derive(Clone)]
pub struct Simulator {
    state: Arc<SimState>,
}

impl std::fmt::Debug for Simulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Simulator")
            .field("seed", &self.state.config.seed)
            .finish_non_exhaustive()
    }
}

/// A simulator serving on a local port.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:port`.
    pub base_url: String,
    /// Controls.
    pub sim: Simulator,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(t) = &self.task {
            t.abort();
        }
    }
}

impl Running {
    /// A handle to a simulator served elsewhere (another thread's runtime).
    pub fn detached(base_url: String, sim: Simulator) -> Self {
        Self {
            base_url,
            sim,
            task: None,
        }
    }

    /// Shopee endpoints on this simulator.
    pub fn shopee(&self) -> Endpoints {
        Endpoints::same(format!("{}/shopee", self.base_url))
    }
    /// TikTok endpoints.
    pub fn tiktok(&self) -> Endpoints {
        Endpoints::same(format!("{}/tiktok", self.base_url))
    }
    /// Lazada endpoints (`api` and `auth` both end in `/rest`).
    pub fn lazada(&self) -> Endpoints {
        Endpoints {
            api: format!("{}/lazada/rest", self.base_url),
            auth: format!("{}/lazada/auth/rest", self.base_url),
        }
    }
    /// Jumia endpoints.
    pub fn jumia(&self) -> Endpoints {
        Endpoints::same(format!("{}/jumia", self.base_url))
    }
}

impl Simulator {
    /// A simulator with `config`; data is generated now.
    pub fn new(config: SimConfig) -> Self {
        let mut worlds = HashMap::new();
        let (s, e, p, o) = (config.seed, config.epoch, config.products, config.orders);
        worlds.insert(Platform::Shopee, World::generate(s, e, p, o, "MYR", 100));
        worlds.insert(
            Platform::TiktokShop,
            World::generate(s + 1, e, p, o, "IDR", 1),
        );
        worlds.insert(
            Platform::Lazada,
            World::generate(s + 2, e, p, o, "PHP", 100),
        );
        let mut jumia_world = World::generate(s + 3, e, p, o, "KES", 100);
        for order in &mut jumia_world.orders {
            order.id = jumia::uuid_of(&order.id);
        }
        jumia_world.reindex();
        worlds.insert(Platform::Jumia, jumia_world);
        let mut tokens: HashMap<Platform, Tokens> = HashMap::new();
        tokens
            .entry(Platform::Jumia)
            .or_default()
            .seed_refresh(&config.jumia.2, i64::MAX);
        let tiktok_redirect = config.tiktok_redirect.clone();
        Self {
            state: Arc::new(SimState {
                config,
                worlds: Mutex::new(worlds),
                tokens: Mutex::new(tokens),
                faults: Mutex::new(HashMap::new()),
                quirks: Mutex::new(HashMap::new()),
                offset: AtomicI64::new(0),
                requests: Mutex::new(HashMap::new()),
                rejected: AtomicU64::new(0),
                throttled: AtomicU64::new(0),
                rejections: Mutex::new(Vec::new()),
                auth_delay_ms: AtomicU64::new(0),
                revoked: Mutex::new(HashMap::new()),
                tiktok_redirect: Mutex::new(tiktok_redirect),
                data_times: Mutex::new(HashMap::new()),
                data_log: Mutex::new(Vec::new()),
                pushes: Mutex::new(push::PushState::default()),
                http: reqwest::Client::new(),
            }),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SimConfig {
        &self.state.config
    }

    /// The router (mount it anywhere).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/shopee/{*rest}", any(shopee::handle))
            .route("/tiktok/{*rest}", any(tiktok::handle))
            .route("/lazada/{*rest}", any(lazada::handle))
            .route("/jumia/{*rest}", any(jumia::handle))
            .route("/_sim/faults", post(admin_faults))
            .route("/_sim/quirks", post(admin_quirks))
            .route("/_sim/advance", post(admin_advance))
            .route("/_sim/push", post(admin_push))
            .route("/_sim/subscribe", post(admin_subscribe))
            .with_state(self.state.clone())
    }

    /// Serves on `addr` (port 0 picks one) in a background task.
    pub async fn start(self, addr: SocketAddr) -> std::io::Result<Running> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let app = self.router();
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "simulator server stopped");
            }
        });
        Ok(Running {
            base_url: format!("http://{local}"),
            sim: self,
            task: Some(task),
        })
    }

    /// Queues `fault` `times` times for the next data requests of `platform`.
    pub fn inject(&self, platform: Platform, fault: Fault, times: usize) {
        let mut f = lock(&self.state.faults);
        let q = f.entry(platform).or_default();
        for _ in 0..times {
            q.push_back(fault.clone());
        }
    }

    /// Queues `fault` for the `nth` next data request of `platform` (1 = the next one); the
    /// requests before it pass untouched.
    pub fn inject_at(&self, platform: Platform, nth: usize, fault: Fault) {
        let mut f = lock(&self.state.faults);
        let q = f.entry(platform).or_default();
        for _ in 1..nth {
            q.push_back(Fault::Slow { millis: 0 });
        }
        q.push_back(fault);
    }

    /// Registers another redirect URL for the TikTok app (TikTok's authorization link carries
    /// none: the app's registered one is used).
    pub fn set_tiktok_redirect(&self, url: impl Into<String>) {
        *lock(&self.state.tiktok_redirect) = url.into();
    }

    /// Delays every token-endpoint answer by `millis`.
    pub fn set_auth_delay(&self, millis: u64) {
        self.state.auth_delay_ms.store(millis, Ordering::Relaxed);
    }

    /// The seller revokes (`true`) or restores the app's authorization on `platform`: refreshes
    /// are refused with the platform's authorization error while revoked.
    pub fn set_revoked(&self, platform: Platform, revoked: bool) {
        lock(&self.state.revoked).insert(platform, revoked);
    }

    /// Sets the listing quirks of `platform`.
    pub fn set_quirks(&self, platform: Platform, quirks: Quirks) {
        lock(&self.state.quirks).insert(platform, quirks);
    }

    /// Moves the data clock forward (orders advance; signature windows still use the wall clock).
    pub fn advance(&self, secs: i64) {
        self.state.offset.fetch_add(secs, Ordering::Relaxed);
    }

    /// The data clock.
    pub fn now(&self) -> i64 {
        self.state.now()
    }

    /// The data requests `platform` received for `path`, oldest first, as their query pairs.
    pub fn data_requests(&self, platform: Platform, path: &str) -> Vec<Vec<(String, String)>> {
        lock(&self.state.data_log)
            .iter()
            .filter(|(p, at, _)| *p == platform && at == path)
            .map(|(_, _, q)| q.clone())
            .collect()
    }

    /// Requests received on `platform` whose path ends with `suffix` (signed or not).
    pub fn requests_ending(&self, platform: Platform, suffix: &str) -> u64 {
        lock(&self.state.requests)
            .iter()
            .filter(|((p, path), _)| *p == platform && path.ends_with(suffix))
            .map(|(_, n)| *n)
            .sum()
    }

    /// Requests received for `path` on `platform` (signed or not).
    pub fn requests(&self, platform: Platform, path: &str) -> u64 {
        lock(&self.state.requests)
            .get(&(platform, path.to_owned()))
            .copied()
            .unwrap_or(0)
    }

    /// Every authorization code, access token and refresh token the simulator handed out, on
    /// every platform (tests scan logs, responses, Redis and the database for them).
    pub fn issued_secrets(&self) -> Vec<String> {
        lock(&self.state.tokens)
            .values()
            .flat_map(|t| t.minted.iter().cloned())
            .collect()
    }

    /// When each authenticated data request of `platform` arrived (unix ms, in arrival order).
    pub fn data_request_times(&self, platform: Platform) -> Vec<i64> {
        lock(&self.state.data_times)
            .get(&platform)
            .cloned()
            .unwrap_or_default()
    }

    /// Requests refused for a bad signature, timestamp, token or shop.
    pub fn rejected(&self) -> u64 {
        self.state.rejected.load(Ordering::Relaxed)
    }

    /// Requests refused for exceeding the configured rate limits.
    pub fn throttled(&self) -> u64 {
        self.state.throttled.load(Ordering::Relaxed)
    }

    /// Sets the sellable stock of the SKU with platform id `sku_id` as if the seller changed it
    /// on the platform (drift); `false` when there is no such SKU. Not recorded as a stock update.
    pub fn set_stock(&self, platform: Platform, sku_id: u64, quantity: i64) -> bool {
        self.state.world(platform, |w| match w.sku_index(sku_id) {
            Some(i) => {
                w.skus[i].stock = quantity;
                true
            }
            None => false,
        })
    }

    /// A buyer on `platform` orders `quantity` of the SKU with platform id `sku_id` now, as the
    /// platform's checkout does: `None` when there is no such SKU or its listing shows fewer units
    /// (the checkout refuses), otherwise the sellable stock drops at once and the id of the new,
    /// unpaid order is returned. Orders list and fetch like the generated ones.
    pub fn place_order(&self, platform: Platform, sku_id: u64, quantity: u32) -> Option<String> {
        let now = self.state.now();
        let prefix = 25_000_000 + self.state.config.seed % 1000 + platform_index(platform);
        let placed = self.state.world(platform, |w| {
            let i = w.sku_index(sku_id)?;
            let raw = format!("{prefix}{:06}", w.orders.len());
            let id = if platform == Platform::Jumia {
                jumia::uuid_of(&raw)
            } else {
                raw
            };
            w.place(i, quantity, now, id)
        })?;
        self.announce(platform, &placed);
        Some(placed)
    }

    /// Simulated buyers: on each of `listings` (platform, SKU id), one-unit orders arrive as a
    /// Poisson process of `per_second` (seeded by `seed`, so a run can be repeated), each placed
    /// with [`Self::place_order`] (refused when the listing shows nothing), until `stop` resolves.
    /// Returns every order placed: platform, order id, wall-clock ms.
    pub async fn buyers(
        &self,
        listings: &[(Platform, u64)],
        per_second: f64,
        seed: u64,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Vec<(Platform, String, i64)> {
        use rand::{Rng as _, SeedableRng as _};
        let (tx, rx) = tokio::sync::watch::channel(false);
        let stopper = tokio::spawn(async move {
            stop.await;
            let _ = tx.send(true);
        });
        let mut tasks = Vec::new();
        for (n, &(platform, sku)) in listings.iter().enumerate() {
            let sim = self.clone();
            let mut rx = rx.clone();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(n as u64));
            tasks.push(tokio::spawn(async move {
                let mut placed = Vec::new();
                loop {
                    // Exponential gaps: the time to the next arrival of a Poisson process.
                    let u: f64 = rng.random_range(f64::EPSILON..1.0);
                    let gap = Duration::from_secs_f64(-u.ln() / per_second.max(1e-6));
                    tokio::select! {
                        () = tokio::time::sleep(gap) => {}
                        _ = rx.changed() => break,
                    }
                    if *rx.borrow() {
                        break;
                    }
                    if let Some(id) = sim.place_order(platform, sku, 1) {
                        placed.push((platform, id, sim.state.wall_ms()));
                    }
                }
                placed
            }));
        }
        let mut all = Vec::new();
        for t in tasks {
            if let Ok(mut v) = t.await {
                all.append(&mut v);
            }
        }
        stopper.abort();
        all.sort_by_key(|p| p.2);
        all
    }

    /// Where the refusals counted by [`Self::rejected`] were decided and which requests
    /// [`Self::throttled`] counts (the first 100 in all), with the wall-clock time of each.
    pub fn rejections(&self) -> Vec<String> {
        lock(&self.state.rejections).clone()
    }

    /// A copy of a platform's data, for assertions.
    pub fn world(&self, platform: Platform) -> World {
        self.state.world(platform, |w| w.clone())
    }
}

#[derive(serde::Deserialize)]
struct FaultsBody {
    platform: Platform,
    faults: Vec<Fault>,
}

async fn admin_faults(
    State(st): State<Arc<SimState>>,
    axum::Json(b): axum::Json<FaultsBody>,
) -> StatusCode {
    lock(&st.faults)
        .entry(b.platform)
        .or_default()
        .extend(b.faults);
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct QuirksBody {
    platform: Platform,
    #[serde(flatten)]
    quirks: Quirks,
}

async fn admin_quirks(
    State(st): State<Arc<SimState>>,
    axum::Json(b): axum::Json<QuirksBody>,
) -> StatusCode {
    lock(&st.quirks).insert(b.platform, b.quirks);
    StatusCode::NO_CONTENT
}

#[derive(serde::Deserialize)]
struct AdvanceBody {
    seconds: i64,
}

async fn admin_advance(
    State(st): State<Arc<SimState>>,
    axum::Json(b): axum::Json<AdvanceBody>,
) -> StatusCode {
    st.offset.fetch_add(b.seconds, Ordering::Relaxed);
    StatusCode::NO_CONTENT
}

async fn admin_push(
    State(st): State<Arc<SimState>>,
    axum::Json(b): axum::Json<PushRequest>,
) -> Response {
    let sim = Simulator { state: st };
    match sim.push(&b).await {
        Ok(status) => (
            StatusCode::OK,
            axum::Json(serde_json::json!({"status": status, "suppressed": status.is_none()})),
        )
            .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SubscribeBody {
    platform: Platform,
    url: String,
}

async fn admin_subscribe(
    State(st): State<Arc<SimState>>,
    axum::Json(b): axum::Json<SubscribeBody>,
) -> StatusCode {
    Simulator { state: st }.subscribe(b.platform, b.url);
    StatusCode::NO_CONTENT
}

/// A data request as the log keeps it: platform, path, query pairs.
type LoggedRequest = (Platform, String, Vec<(String, String)>);

/// A request as received: decoded query pairs, headers and the raw body.
pub(crate) struct Req {
    pub path: String,
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Req {
    pub(crate) fn new(
        uri: &axum::http::Uri,
        prefix: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Self {
        let path = uri
            .path()
            .strip_prefix(prefix)
            .unwrap_or(uri.path())
            .to_owned();
        let query = url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        Self {
            path,
            query,
            headers,
            body,
        }
    }

    pub(crate) fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }

    pub(crate) fn pairs(&self) -> Vec<(&str, &str)> {
        self.query
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    pub(crate) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }

    pub(crate) fn header(&self, k: &str) -> Option<&str> {
        self.headers.get(k).and_then(|v| v.to_str().ok())
    }
}

/// Constant-time comparison of exact strings (case matters: each platform prints its own case).
pub(crate) fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// A page of `items` starting at `offset`, with the platform's quirks applied.
pub(crate) fn page<T: Clone>(
    items: &[T],
    offset: usize,
    size: usize,
    quirks: Quirks,
) -> (Vec<T>, bool) {
    let end = (offset + size).min(items.len());
    let start = offset.min(end);
    let mut out: Vec<T> = Vec::with_capacity(size + 1);
    if quirks.duplicate_across_pages && start > 0 {
        out.push(items[start - 1].clone());
    }
    out.extend_from_slice(&items[start..end]);
    if quirks.out_of_order {
        out.reverse();
    }
    (out, end < items.len())
}

/// An opaque cursor for an offset.
pub(crate) fn cursor(offset: usize) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("o:{offset}"))
}

/// The offset of a cursor (`""` is 0); `None` when it is not ours.
pub(crate) fn uncursor(c: &str) -> Option<usize> {
    use base64::Engine as _;
    if c.is_empty() {
        return Some(0);
    }
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()?;
    std::str::from_utf8(&raw)
        .ok()?
        .strip_prefix("o:")?
        .parse()
        .ok()
}

/// A JSON response.
pub(crate) fn reply(status: u16, v: serde_json::Value) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        axum::Json(v),
    )
        .into_response()
}

/// A malformed body.
pub(crate) fn malformed() -> Response {
    (
        StatusCode::OK,
        [("content-type", "application/json")],
        "{\"code\": 0, \"data\": {\"orders\": [",
    )
        .into_response()
}

/// A 5xx with an HTML body, as gateways send.
pub(crate) fn gateway(status: u16) -> Response {
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY),
        [("content-type", "text/html")],
        "<html><body>upstream error</body></html>",
    )
        .into_response()
}

/// Adds `Retry-After`.
pub(crate) fn with_retry_after(mut r: Response, secs: u64) -> Response {
    if let Ok(v) = axum::http::HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
    }
    r
}
