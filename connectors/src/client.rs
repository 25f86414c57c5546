//! What every platform client shares: the store a call is made for (tokens through a
//! caller-supplied store, a quota hook consulted before every call, a per-store circuit breaker,
//! retry policy), the refresh-once rule and the HTTP plumbing.

use crate::Platform;
use crate::error::{AuthFailure, Error};
use crate::model::ShopIdentity;
use crate::resilience::{CircuitBreaker, RetryPolicy, with_retries};
use crate::tokens::{TokenSet, UnixSecs};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Where time comes from (signatures need wall-clock unix time).
pub trait Clock: Send + Sync {
    /// Unix seconds.
    fn now(&self) -> UnixSecs {
        self.now_ms() / 1000
    }
    /// Unix milliseconds.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The platform call that turns a token set into a fresh one (given to [`TokenStore::refresh`]).
pub type RefreshCall<'a> = &'a (
        dyn Fn(TokenSet) -> Pin<Box<dyn Future<Output = Result<TokenSet, Error>> + Send + 'a>>
            + Send
            + Sync
    );

/// The error of a refresh that cannot happen because the refresh token itself has expired.
pub fn refresh_expired() -> Error {
    Error::Auth {
        kind: AuthFailure::Invalid,
        message: "the refresh token has expired; the seller must reconnect the store".into(),
    }
}

/// Keeps a store's tokens (the server keeps them encrypted in Postgres). Implementations must make
/// `save` durable before returning: Shopee and Jumia refresh tokens are single use, so a refreshed
/// set that is lost locks the store out.
#[async_trait::async_trait]
pub trait TokenStore: Send + Sync {
    /// The current tokens.
    async fn load(&self) -> Result<TokenSet, Error>;
    /// Replaces the tokens after a refresh.
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error>;
    /// Refreshes the tokens unless someone already replaced `failed` (then their tokens are the
    /// ones to use). A store shared by several processes overrides this to hold a lock on the
    /// tokens from the comparison to the save, so one single-use refresh token is spent once; the
    /// default suits a store used by one process (callers serialise within it).
    async fn refresh(
        &self,
        failed: &TokenSet,
        now: UnixSecs,
        call: RefreshCall<'_>,
    ) -> Result<(), Error> {
        let current = self.load().await?;
        if current.access_token != failed.access_token {
            return Ok(());
        }
        if !current.refreshable(now) {
            return Err(refresh_expired());
        }
        let next = call(current).await?;
        self.save(&next).await
    }
}

/// Tokens kept in memory (tests, the simulator, one-off tools).
#[derive(Debug)]
pub struct MemoryTokenStore(Mutex<TokenSet>);

impl MemoryTokenStore {
    /// Starts with `tokens`.
    pub fn new(tokens: TokenSet) -> Self {
        Self(Mutex::new(tokens))
    }

    /// The current tokens.
    pub fn current(&self) -> Option<TokenSet> {
        self.0.lock().ok().map(|t| t.clone())
    }
}

#[async_trait::async_trait]
impl TokenStore for MemoryTokenStore {
    async fn load(&self) -> Result<TokenSet, Error> {
        self.current()
            .ok_or_else(|| Error::Transient("token store poisoned".into()))
    }
    async fn save(&self, tokens: &TokenSet) -> Result<(), Error> {
        let mut t = self
            .0
            .lock()
            .map_err(|_| Error::Transient("token store poisoned".into()))?;
        *t = tokens.clone();
        Ok(())
    }
}

/// The answer of a [`QuotaHook`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// Go ahead: the call has been counted.
    Granted,
    /// Ask again after this long.
    Wait(Duration),
}

/// Which calls go first when a store's budget is short.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Priority {
    /// Stock pushes and anything a seller waits on: may use the whole budget.
    High,
    /// Bulk pulls (order and catalog syncs, backfills): leave a share of the budget to `High`.
    #[default]
    Bulk,
}

/// Consulted before every platform call so one store never exceeds its platform budget. The server
/// backs it with Redis so every process shares the budget.
#[async_trait::async_trait]
pub trait QuotaHook: Send + Sync {
    /// May `store_key` call `api` on `platform` now, at `priority`?
    async fn acquire(
        &self,
        platform: Platform,
        store_key: &str,
        api: &str,
        priority: Priority,
    ) -> Quota;

    /// The platform throttled a call of `store_key` (429, a ban, a daily quota): every caller
    /// sharing that budget should wait `retry_after` (the platform's figure, when it gave one).
    async fn throttled(
        &self,
        _platform: Platform,
        _store_key: &str,
        _api: &str,
        _retry_after: Option<Duration>,
    ) {
    }
}

/// No budget at all (tests and tools).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unlimited;

#[async_trait::async_trait]
impl QuotaHook for Unlimited {
    async fn acquire(&self, _: Platform, _: &str, _: &str, _: Priority) -> Quota {
        Quota::Granted
    }
}

/// One connected store as the connectors see it.
pub struct StoreContext {
    /// A stable key for quotas and logs (the server uses the store id).
    pub store_key: String,
    /// Who the store is on its platform.
    pub shop: ShopIdentity,
    /// Its tokens.
    pub tokens: Arc<dyn TokenStore>,
    /// Its budget.
    pub quota: Arc<dyn QuotaHook>,
    /// Its breaker (keep one per store for the life of the process).
    pub breaker: Arc<CircuitBreaker>,
    /// Retry policy for transient failures.
    pub retry: RetryPolicy,
    /// Refresh this long before the access token's expiry.
    pub refresh_margin_secs: i64,
    /// The quota class of this context's calls.
    pub priority: Priority,
    refresh_gate: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for StoreContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreContext")
            .field("store_key", &self.store_key)
            .field("shop", &self.shop)
            .finish_non_exhaustive()
    }
}

impl StoreContext {
    /// A store with default retries, a breaker opening after 5 failures for 30 s, no quota.
    pub fn new(
        store_key: impl Into<String>,
        shop: ShopIdentity,
        tokens: Arc<dyn TokenStore>,
    ) -> Self {
        Self {
            store_key: store_key.into(),
            shop,
            tokens,
            quota: Arc::new(Unlimited),
            breaker: Arc::new(CircuitBreaker::new(5, Duration::from_secs(30))),
            retry: RetryPolicy::default(),
            refresh_margin_secs: 60,
            priority: Priority::Bulk,
            refresh_gate: tokio::sync::Mutex::new(()),
        }
    }

    /// Uses `quota` before every call.
    pub fn with_quota(mut self, quota: Arc<dyn QuotaHook>) -> Self {
        self.quota = quota;
        self
    }

    /// Uses `policy` for retries.
    pub fn with_retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Uses `breaker` (share one per store).
    pub fn with_breaker(mut self, breaker: Arc<CircuitBreaker>) -> Self {
        self.breaker = breaker;
        self
    }

    /// Makes this context's calls `priority`.
    pub fn with_priority(mut self, priority: Priority) -> Self {
        self.priority = priority;
        self
    }

    /// Refreshes this long before expiry.
    pub fn with_refresh_margin(mut self, secs: i64) -> Self {
        self.refresh_margin_secs = secs;
        self
    }

    async fn wait_for_quota(&self, platform: Platform, api: &str) {
        loop {
            match self
                .quota
                .acquire(platform, &self.store_key, api, self.priority)
                .await
            {
                Quota::Granted => return,
                Quota::Wait(d) => tokio::time::sleep(d.max(Duration::from_millis(1))).await,
            }
        }
    }

    /// Refreshes after `failed` was refused (or is about to expire), once per token: a concurrent
    /// caller that already refreshed is detected by the changed access token.
    async fn refresh_once<R, RF>(
        &self,
        failed: &TokenSet,
        now: UnixSecs,
        refresh: &R,
    ) -> Result<(), Error>
    where
        R: Fn(TokenSet) -> RF + Send + Sync,
        RF: Future<Output = Result<TokenSet, Error>> + Send,
    {
        let _gate = self.refresh_gate.lock().await;
        let call =
            |t: TokenSet| -> Pin<Box<dyn Future<Output = Result<TokenSet, Error>> + Send + '_>> {
                Box::pin(refresh(t))
            };
        self.tokens.refresh(failed, now, &call).await
    }

    /// Refreshes the tokens now if they expire within `margin` seconds (the TOKEN_REFRESH job);
    /// returns whether a refresh was needed. Another process that refreshed first counts as done.
    pub async fn refresh_if_expiring<R, RF>(
        &self,
        clock: &dyn Clock,
        margin: i64,
        refresh: R,
    ) -> Result<bool, Error>
    where
        R: Fn(TokenSet) -> RF + Send + Sync,
        RF: Future<Output = Result<TokenSet, Error>> + Send,
    {
        let tokens = self.tokens.load().await?;
        let now = clock.now();
        if !tokens.needs_refresh(now, margin) {
            return Ok(false);
        }
        self.refresh_once(&tokens, now, &refresh).await?;
        Ok(true)
    }

    /// Makes one logical call: refreshes ahead of expiry, waits for quota before every attempt,
    /// retries transient failures (honouring retry-after) through the breaker, and on an expired
    /// token refreshes once and repeats the call.
    pub(crate) async fn call<T, S, SF, R, RF>(
        &self,
        platform: Platform,
        api: &str,
        clock: &dyn Clock,
        refresh: R,
        send: S,
    ) -> Result<T, Error>
    where
        S: Fn(TokenSet) -> SF,
        SF: Future<Output = Result<T, Error>>,
        R: Fn(TokenSet) -> RF + Send + Sync,
        RF: Future<Output = Result<TokenSet, Error>> + Send,
    {
        let mut refreshed = false;
        loop {
            let tokens = self.tokens.load().await?;
            let now = clock.now();
            if !refreshed
                && tokens.needs_refresh(now, self.refresh_margin_secs)
                && tokens.refreshable(now)
            {
                self.refresh_once(&tokens, now, &refresh).await?;
                refreshed = true;
                continue;
            }
            let outcome = with_retries(&self.retry, &self.breaker, |_| {
                let attempt = send(tokens.clone());
                async move {
                    self.wait_for_quota(platform, api).await;
                    let result = attempt.await;
                    if let Err(Error::RateLimited { retry_after, .. }) = &result {
                        self.quota
                            .throttled(platform, &self.store_key, api, *retry_after)
                            .await;
                    }
                    result
                }
            })
            .await;
            match outcome {
                Err(e) if e.needs_refresh() && !refreshed => {
                    tracing::info!(store = %self.store_key, api, "access token refused; refreshing once");
                    self.refresh_once(&tokens, clock.now(), &refresh).await?;
                    refreshed = true;
                }
                other => return other,
            }
        }
    }
}

/// A response read in full.
#[derive(Debug)]
pub(crate) struct Raw {
    pub status: u16,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// The shared HTTP client.
pub(crate) fn http_client(timeout: Option<Duration>) -> reqwest::Client {
    let mut b = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("mercato-connectors/", env!("CARGO_PKG_VERSION")));
    if let Some(t) = timeout {
        b = b.timeout(t);
    }
    b.build().unwrap_or_else(|_| reqwest::Client::new())
}

/// Sends and reads the whole body; network failures are transient. Errors never carry the URL:
/// its query holds signatures, access tokens and (TikTok's token endpoint) the app secret.
pub(crate) async fn send(req: reqwest::RequestBuilder) -> Result<Raw, Error> {
    let resp = req
        .send()
        .await
        .map_err(|e| Error::Transient(format!("network: {}", e.without_url())))?;
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    let body = resp
        .bytes()
        .await
        .map_err(|e| {
            Error::Transient(format!(
                "network while reading the body: {}",
                e.without_url()
            ))
        })?
        .to_vec();
    Ok(Raw {
        status,
        retry_after,
        body,
    })
}

/// Decodes JSON, or says what came back.
pub(crate) fn json<T: serde::de::DeserializeOwned>(raw: &Raw) -> Result<T, Error> {
    serde_json::from_slice(&raw.body).map_err(|e| {
        let head = String::from_utf8_lossy(&raw.body[..raw.body.len().min(120)]).into_owned();
        Error::Decode(format!("HTTP {}: {e}; body starts {head:?}", raw.status))
    })
}

/// The items of every page of every window, in order: for each `(from, to)` window, `fetch` is
/// called with the first page token, then with the token it returned, until it returns none.
/// The one window-and-page loop of the platforms (time windows capped by the platform, cursor,
/// page-number or offset paging inside each).
pub(crate) async fn paged_windows<P, T, F, Fut>(
    windows: Vec<(i64, i64)>,
    first: P,
    mut fetch: F,
) -> Result<Vec<T>, Error>
where
    P: Clone,
    F: FnMut(i64, i64, P) -> Fut,
    Fut: std::future::Future<Output = Result<(Vec<T>, Option<P>), Error>>,
{
    let mut out = Vec::new();
    for (from, to) in windows {
        let mut page = first.clone();
        loop {
            let (items, next) = fetch(from, to, page).await?;
            out.extend(items);
            match next {
                Some(n) => page = n,
                None => break,
            }
        }
    }
    Ok(out)
}

/// Splits `items` into chunks of at most `size` (platform batch limits).
pub(crate) fn batches<T>(items: &[T], size: usize) -> impl Iterator<Item = &[T]> {
    items.chunks(size.max(1))
}

/// Keeps the newest of each id, in first-seen order (pages can overlap and arrive out of order).
pub(crate) fn dedupe_refs(refs: Vec<crate::model::OrderRef>) -> Vec<crate::model::OrderRef> {
    let mut out: Vec<crate::model::OrderRef> = Vec::with_capacity(refs.len());
    let mut index = std::collections::HashMap::new();
    for r in refs {
        match index.get(&r.external_id) {
            Some(&i) => {
                let kept: &mut crate::model::OrderRef = &mut out[i];
                if r.update_time > kept.update_time {
                    kept.update_time = r.update_time;
                }
            }
            None => {
                index.insert(r.external_id.clone(), out.len());
                out.push(r);
            }
        }
    }
    out
}

/// A float amount (Shopee) as exact minor units, through its shortest decimal text.
pub(crate) fn money_from_f64(value: f64, currency: &str) -> Result<crate::Money, Error> {
    let exp = crate::money::exponent(currency).map_err(|e| Error::Decode(e.to_string()))?;
    let text = format!("{value:.prec$}", prec = usize::try_from(exp).unwrap_or(2));
    crate::Money::parse(&text, currency).map_err(|e| Error::Decode(e.to_string()))
}

/// A decimal string amount (TikTok, Lazada, Jumia) as exact minor units; an empty string is 0.
pub(crate) fn money_from_str(text: &str, currency: &str) -> Result<crate::Money, Error> {
    let t = if text.trim().is_empty() { "0" } else { text };
    crate::Money::parse(t, currency).map_err(|e| Error::Decode(e.to_string()))
}

/// Defines a platform connector type: its app (whose own `Debug` hides secrets), an HTTP client
/// and a clock, with a `Debug` that shows only the app and the three constructors every connector
/// has (`new`, `with_clock`, and `with_http` for tests on a paused clock).
macro_rules! connector_type {
    ($(#[$doc:meta])* $name:ident, $app:ty) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name {
            app: $app,
            http: reqwest::Client,
            clock: std::sync::Arc<dyn crate::Clock>,
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    .field("app", &self.app)
                    .finish_non_exhaustive()
            }
        }

        impl $name {
            /// A connector on the system clock.
            pub fn new(app: $app) -> Self {
                Self::with_clock(app, std::sync::Arc::new(crate::SystemClock))
            }

            /// A connector with its own HTTP client (tests use one without timers so a paused
            /// clock only moves when the connector sleeps).
            pub fn with_http(
                app: $app,
                clock: std::sync::Arc<dyn crate::Clock>,
                http: reqwest::Client,
            ) -> Self {
                Self { app, http, clock }
            }

            /// A connector with an explicit clock.
            pub fn with_clock(app: $app, clock: std::sync::Arc<dyn crate::Clock>) -> Self {
                Self {
                    app,
                    http: crate::client::http_client(Some(std::time::Duration::from_secs(30))),
                    clock,
                }
            }
        }
    };
}
pub(crate) use connector_type;
