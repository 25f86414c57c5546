//! Configuration from environment variables (documented in README and `.env.example`), validated
//! once at start-up so a bad value stops the process with a clear message instead of failing later.

/// Default budget of selections (fields, fragment spreads, inline fragments) after expansion.
pub const DEFAULT_MAX_SELECTIONS: usize = 2_000;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use std::net::SocketAddr;
use std::time::Duration;

/// Raw settings as read by clap from flags or `MERCATO_*` variables.
#[derive(clap::Args, Debug, Clone)]
pub struct ConfigArgs {
    /// Address the HTTP server listens on.
    #[arg(long, env = "MERCATO_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Postgres URL of the runtime role (no superuser, no BYPASSRLS).
    #[arg(long, env = "MERCATO_DATABASE_URL", hide_env_values = true)]
    pub database_url: String,
    /// Postgres URL of the owner role; used only by `migrate` and `dev`.
    #[arg(long, env = "MERCATO_MIGRATION_DATABASE_URL", hide_env_values = true)]
    pub migration_database_url: Option<String>,
    /// Maximum connections in the runtime pool.
    #[arg(long, env = "MERCATO_DATABASE_POOL_MAX", default_value_t = 20)]
    pub database_pool_max: u32,
    /// Redis URL.
    #[arg(long, env = "MERCATO_REDIS_URL", hide_env_values = true)]
    pub redis_url: String,
    /// Prefix of every Redis key this process writes.
    #[arg(long, env = "MERCATO_REDIS_PREFIX", default_value = "mercato")]
    pub redis_prefix: String,
    /// JWT signing key as `kid:base64-secret` (secret at least 32 bytes).
    #[arg(long, env = "MERCATO_JWT_SIGNING_KEY", hide_env_values = true)]
    pub jwt_signing_key: String,
    /// Extra JWT verification keys for rotation, `kid:base64,kid:base64`.
    #[arg(
        long,
        env = "MERCATO_JWT_VERIFY_KEYS",
        default_value = "",
        hide_env_values = true
    )]
    pub jwt_verify_keys: String,
    /// JWT `iss` claim.
    #[arg(long, env = "MERCATO_JWT_ISSUER", default_value = "mercato")]
    pub jwt_issuer: String,
    /// JWT `aud` claim.
    #[arg(long, env = "MERCATO_JWT_AUDIENCE", default_value = "mercato-api")]
    pub jwt_audience: String,
    /// Access token lifetime in seconds.
    #[arg(long, env = "MERCATO_ACCESS_TOKEN_TTL_SECS", default_value_t = 900)]
    pub access_token_ttl_secs: u64,
    /// Store-credential encryption key as `kid:base64-32-bytes`.
    #[arg(long, env = "MERCATO_CREDENTIALS_KEY", hide_env_values = true)]
    pub credentials_key: String,
    /// Older credential keys still accepted for decryption, `kid:base64,kid:base64`.
    #[arg(
        long,
        env = "MERCATO_CREDENTIALS_OLD_KEYS",
        default_value = "",
        hide_env_values = true
    )]
    pub credentials_old_keys: String,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "MERCATO_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,
    /// Largest accepted multipart body (GraphQL file uploads such as catalog CSVs) in bytes.
    #[arg(long, env = "MERCATO_MAX_UPLOAD_BYTES", default_value_t = 16_777_216)]
    pub max_upload_bytes: usize,
    /// How often the worker releases lapsed reservations, in milliseconds.
    #[arg(long, env = "MERCATO_RESERVATION_SWEEP_MS", default_value_t = 15_000)]
    pub reservation_sweep_ms: u64,
    /// Job lease in milliseconds: a worker renews it every third of this while a job runs; a job
    /// whose lease expired is taken over.
    #[arg(long, env = "MERCATO_JOB_LEASE_MS", default_value_t = 30_000)]
    pub job_lease_ms: u64,
    /// Retry delays after failed attempts, in milliseconds (comma-separated); after the last the
    /// job is DEAD. Each delay is jittered by ±20%.
    #[arg(
        long,
        env = "MERCATO_JOB_BACKOFF_MS",
        default_value = "60000,300000,900000,3600000,10800000"
    )]
    pub job_backoff_ms: String,
    /// How often each worker's reconciler looks for due jobs Redis does not have, in milliseconds.
    #[arg(long, env = "MERCATO_JOB_RECONCILE_MS", default_value_t = 1_000)]
    pub job_reconcile_ms: u64,
    /// A due job handed to Redis this long ago (ms) and still not started is handed again.
    #[arg(long, env = "MERCATO_JOB_REDISPATCH_MS", default_value_t = 30_000)]
    pub job_redispatch_ms: u64,
    /// How often each worker hands out stores with pending stock pushes, in milliseconds (the
    /// changes of one period go out in one push per store).
    #[arg(long, env = "MERCATO_PUSH_DISPATCH_MS", default_value_t = 100)]
    pub push_dispatch_ms: u64,
    /// Pending stock pushes handed out this long ago (ms) and still queued are handed out again.
    #[arg(long, env = "MERCATO_PUSH_REDISPATCH_MS", default_value_t = 60_000)]
    pub push_redispatch_ms: u64,
    /// How often each worker queues the jobs of newly received marketplace pushes, in
    /// milliseconds (the pushes of one period are queued in one transaction per organization).
    #[arg(long, env = "MERCATO_WEBHOOK_DISPATCH_MS", default_value_t = 100)]
    pub webhook_dispatch_ms: u64,
    /// Jobs one store may run at once (across all workers).
    #[arg(long, env = "MERCATO_JOB_STORE_CONCURRENCY", default_value_t = 2)]
    pub job_store_concurrency: u32,
    /// Jobs one worker process runs at once.
    #[arg(long, env = "MERCATO_WORKER_CONCURRENCY", default_value_t = 8)]
    pub worker_concurrency: u32,
    /// Shortest interval a schedule may be set to, in seconds.
    #[arg(long, env = "MERCATO_SCHEDULE_MIN_INTERVAL_SECS", default_value_t = 60)]
    pub schedule_min_interval_secs: u32,
    /// Enables the TEST_PROBE and NOOP job kinds (tests and benchmarks only).
    #[arg(long, env = "MERCATO_JOB_TEST_KINDS", default_value_t = false, action = clap::ArgAction::Set)]
    pub job_test_kinds: bool,
    /// Test-only crash point: `commit:before` or `commit:after` aborts the process around the
    /// commit of a mutation's transaction. Never set it in production.
    #[arg(long, env = "MERCATO_FAILPOINT", hide = true)]
    pub failpoint: Option<String>,
    /// Seconds cached catalog reads live in Redis (0 turns the cache off).
    #[arg(long, env = "MERCATO_CATALOG_CACHE_TTL_SECS", default_value_t = 300)]
    pub catalog_cache_ttl_secs: u64,
    /// Render the `products` and `orders` pages straight from their rows instead of through the
    /// per-field executor (the answer is the same; `false` is for comparing the two).
    #[arg(long, env = "MERCATO_DIRECT_RENDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub direct_render: bool,
    /// `development` or `production`. Production turns GraphiQL, introspection and field
    /// suggestions off unless they are explicitly enabled.
    #[arg(long, env = "MERCATO_PROFILE", default_value = "development")]
    pub profile: String,
    /// Serve GraphiQL on `GET /graphql` (default: on in development, off in production).
    #[arg(long, env = "MERCATO_GRAPHIQL", action = clap::ArgAction::Set)]
    pub graphiql: Option<bool>,
    /// Answer introspection queries (default: on in development, off in production).
    #[arg(long, env = "MERCATO_INTROSPECTION", action = clap::ArgAction::Set)]
    pub introspection: Option<bool>,
    /// Suggest field names in validation errors (default: on in development, off in production).
    #[arg(long, env = "MERCATO_FIELD_SUGGESTIONS", action = clap::ArgAction::Set)]
    pub field_suggestions: Option<bool>,
    /// Refresh token lifetime in seconds (each use rotates it and restarts the clock).
    #[arg(long, env = "MERCATO_REFRESH_TOKEN_TTL_SECS", default_value_t = 30 * 86_400)]
    pub refresh_token_ttl_secs: u64,
    /// Requests per minute per user or API token.
    #[arg(long, env = "MERCATO_RATE_LIMIT_PER_MINUTE", default_value_t = 600)]
    pub rate_limit_per_minute: u32,
    /// Burst allowance per user or API token.
    #[arg(long, env = "MERCATO_RATE_LIMIT_BURST", default_value_t = 60)]
    pub rate_limit_burst: u32,
    /// Unauthenticated requests (log in, sign up, refresh) per minute per client IP.
    #[arg(long, env = "MERCATO_AUTH_RATE_LIMIT_PER_MINUTE", default_value_t = 30)]
    pub auth_rate_limit_per_minute: u32,
    /// Burst allowance per client IP for unauthenticated requests.
    #[arg(long, env = "MERCATO_AUTH_RATE_LIMIT_BURST", default_value_t = 10)]
    pub auth_rate_limit_burst: u32,
    /// Proxies (comma-separated IPs or CIDRs) whose `X-Forwarded-For` is believed.
    #[arg(long, env = "MERCATO_TRUSTED_PROXIES", default_value = "")]
    pub trusted_proxies: String,
    /// Query cost bucket size per principal.
    #[arg(long, env = "MERCATO_COST_BUCKET_MAX", default_value_t = 1000)]
    pub cost_bucket_max: u32,
    /// Query cost points restored per second.
    #[arg(long, env = "MERCATO_COST_RESTORE_RATE", default_value_t = 50)]
    pub cost_restore_rate: u32,
    /// Postgres `statement_timeout` of request and worker transactions, in milliseconds.
    #[arg(long, env = "MERCATO_STATEMENT_TIMEOUT_MS", default_value_t = 15_000)]
    pub statement_timeout_ms: u64,
    /// Whole-request timeout in seconds (HTTP 408 after it).
    #[arg(long, env = "MERCATO_REQUEST_TIMEOUT_SECS", default_value_t = 30)]
    pub request_timeout_secs: u64,
    /// Time allowed to send the request headers (slowloris guard), in seconds.
    #[arg(long, env = "MERCATO_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,
    /// Subscriptions open at once on one WebSocket.
    #[arg(long, env = "MERCATO_WS_MAX_SUBSCRIPTIONS", default_value_t = 20)]
    pub ws_max_subscriptions: usize,
    /// Most selections (fields, fragment spreads, inline fragments) in one document once its
    /// fragments are expanded.
    #[arg(long, env = "MERCATO_MAX_SELECTIONS", default_value_t = 2_000)]
    pub max_selections: usize,
    /// Largest WebSocket message (and frame) a client may send, in bytes.
    #[arg(long, env = "MERCATO_WS_MAX_MESSAGE_BYTES", default_value_t = 65_536)]
    pub ws_max_message_bytes: usize,
    /// WebSockets open at once per user or API token (per process).
    #[arg(
        long,
        env = "MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL",
        default_value_t = 16
    )]
    pub ws_max_sockets_per_principal: usize,
    /// Browser origins (comma-separated, e.g. `https://app.example.com`) allowed to call the API
    /// from another origin (CORS) and to open WebSockets besides the server's own origin;
    /// requests without `Origin` (non-browser clients) are not affected.
    #[arg(long, env = "MERCATO_ALLOWED_ORIGINS", default_value = "")]
    pub allowed_origins: String,
    /// Log-in attempts per minute per account (e-mail), whatever the batching or aliasing.
    #[arg(long, env = "MERCATO_LOGIN_ATTEMPTS_PER_MINUTE", default_value_t = 10)]
    pub login_attempts_per_minute: u32,
    /// Log-in attempts at once per account.
    #[arg(long, env = "MERCATO_LOGIN_ATTEMPTS_BURST", default_value_t = 5)]
    pub login_attempts_burst: u32,
    /// Log-in attempts per minute per client IP.
    #[arg(
        long,
        env = "MERCATO_LOGIN_IP_ATTEMPTS_PER_MINUTE",
        default_value_t = 30
    )]
    pub login_ip_attempts_per_minute: u32,
    /// Log-in attempts at once per client IP.
    #[arg(long, env = "MERCATO_LOGIN_IP_ATTEMPTS_BURST", default_value_t = 10)]
    pub login_ip_attempts_burst: u32,
    /// Largest marketplace push body accepted on `/webhooks/{platform}` (bytes); larger: 413.
    #[arg(
        long,
        env = "MERCATO_WEBHOOK_MAX_BODY_BYTES",
        default_value_t = 262_144
    )]
    pub webhook_max_body_bytes: u64,
    /// How far a push's timestamp may be from now (seconds, at most 300).
    #[arg(long, env = "MERCATO_WEBHOOK_WINDOW_SECS", default_value_t = 300)]
    pub webhook_window_secs: u64,
    /// Refused pushes (bad signature, stale, unknown shop) per minute per client IP before
    /// further refusals get 429.
    #[arg(
        long,
        env = "MERCATO_WEBHOOK_REFUSALS_PER_MINUTE",
        default_value_t = 30
    )]
    pub webhook_refusals_per_minute: u32,
    /// Refused pushes at once per client IP.
    #[arg(long, env = "MERCATO_WEBHOOK_REFUSALS_BURST", default_value_t = 10)]
    pub webhook_refusals_burst: u32,
    /// Tests only: after a push is committed, wait this long (ms) before handing its job to the
    /// workers and answering, so a crash test can kill the process in between. 0 (default): off.
    #[arg(long, env = "MERCATO_TEST_WEBHOOK_PAUSE_MS", default_value_t = 0)]
    pub test_webhook_pause_ms: u64,
    /// Deadline of one Redis call on the request path (rate, cost, cache, post-commit effects),
    /// in milliseconds; past it the call is abandoned and the local fallback stands.
    #[arg(long, env = "MERCATO_REDIS_DEADLINE_MS", default_value_t = 100)]
    pub redis_deadline_ms: u64,
    /// Longest wait for a pooled Postgres connection, in milliseconds; past it the request gets
    /// SERVICE_UNAVAILABLE (HTTP 503).
    #[arg(
        long,
        env = "MERCATO_DATABASE_ACQUIRE_TIMEOUT_MS",
        default_value_t = 3_000
    )]
    pub database_acquire_timeout_ms: u64,
    /// Marketplace apps, connect flow and quotas.
    #[command(flatten)]
    pub marketplaces: MarketplaceArgs,
}

/// Marketplace settings as read from flags or `MERCATO_*` variables (README "Connecting stores").
#[derive(clap::Args, Debug, Clone, Default)]
pub struct MarketplaceArgs {
    /// This server's public base URL as the seller's browser reaches it; the platforms redirect
    /// to `<it>/connect/<platform>/callback` (default `http://<MERCATO_LISTEN>`).
    #[arg(long, env = "MERCATO_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// Where `beginStoreConnection` may send the seller back: comma-separated URL prefixes
    /// (scheme, host, port and a path prefix), e.g. `https://app.example.com/settings/`.
    #[arg(long, env = "MERCATO_CONNECT_RETURN_URLS", default_value = "")]
    pub connect_return_urls: String,
    /// Point every platform that is not configured below at this marketplace simulator, with its
    /// demo app credentials (development and tests only).
    #[arg(long, env = "MERCATO_SIMULATOR_URL")]
    pub simulator_url: Option<String>,
    /// Shopee `partner_id`.
    #[arg(long, env = "MERCATO_SHOPEE_PARTNER_ID")]
    pub shopee_partner_id: Option<u64>,
    /// Shopee `partner_key`.
    #[arg(long, env = "MERCATO_SHOPEE_PARTNER_KEY", hide_env_values = true)]
    pub shopee_partner_key: Option<String>,
    /// Shopee host.
    #[arg(
        long,
        env = "MERCATO_SHOPEE_URL",
        default_value = "https://partner.shopeemobile.com"
    )]
    pub shopee_url: String,
    /// TikTok Shop `app_key`.
    #[arg(long, env = "MERCATO_TIKTOK_APP_KEY")]
    pub tiktok_app_key: Option<String>,
    /// TikTok Shop `app_secret`.
    #[arg(long, env = "MERCATO_TIKTOK_APP_SECRET", hide_env_values = true)]
    pub tiktok_app_secret: Option<String>,
    /// TikTok Shop API host.
    #[arg(
        long,
        env = "MERCATO_TIKTOK_API_URL",
        default_value = "https://open-api.tiktokglobalshop.com"
    )]
    pub tiktok_api_url: String,
    /// TikTok Shop authorization host.
    #[arg(
        long,
        env = "MERCATO_TIKTOK_AUTH_URL",
        default_value = "https://auth.tiktok-shops.com"
    )]
    pub tiktok_auth_url: String,
    /// Lazada `app_key`.
    #[arg(long, env = "MERCATO_LAZADA_APP_KEY")]
    pub lazada_app_key: Option<String>,
    /// Lazada `app_secret`.
    #[arg(long, env = "MERCATO_LAZADA_APP_SECRET", hide_env_values = true)]
    pub lazada_app_secret: Option<String>,
    /// Lazada API host of the sellers' country, ending in `/rest`.
    #[arg(
        long,
        env = "MERCATO_LAZADA_API_URL",
        default_value = "https://api.lazada.com.my/rest"
    )]
    pub lazada_api_url: String,
    /// Lazada authorization host, ending in `/rest`.
    #[arg(
        long,
        env = "MERCATO_LAZADA_AUTH_URL",
        default_value = "https://auth.lazada.com/rest"
    )]
    pub lazada_auth_url: String,
    /// Jumia Vendor API client id (of a Self Authorization app).
    #[arg(long, env = "MERCATO_JUMIA_CLIENT_ID")]
    pub jumia_client_id: Option<String>,
    /// Jumia Vendor API host.
    #[arg(
        long,
        env = "MERCATO_JUMIA_URL",
        default_value = "https://vendor-api.jumia.com"
    )]
    pub jumia_url: String,
    /// Overrides of the quota table: `PLATFORM=N/Ss[+N/Ss]` separated by `;`, e.g.
    /// `SHOPEE=20/1s;JUMIA=4/1s+200/60s`.
    #[arg(long, env = "MERCATO_QUOTAS", default_value = "")]
    pub quotas: String,
    /// How far the marketplaces' clock runs ahead of this machine's, in seconds (0 in
    /// production; tests that move the simulator's clock forward start workers with it).
    #[arg(
        long,
        env = "MERCATO_MARKETPLACE_CLOCK_OFFSET_SECS",
        default_value_t = 0,
        allow_hyphen_values = true
    )]
    pub marketplace_clock_offset_secs: i64,
}

/// Limits that keep the API safe on the open internet.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Answer introspection queries.
    pub introspection: bool,
    /// Suggest field names in validation errors.
    pub field_suggestions: bool,
    /// Refresh token lifetime.
    pub refresh_token_ttl: Duration,
    /// Requests per minute per principal.
    pub rate_per_minute: u32,
    /// Burst per principal.
    pub rate_burst: u32,
    /// Unauthenticated requests per minute per client IP.
    pub auth_rate_per_minute: u32,
    /// Burst per client IP.
    pub auth_rate_burst: u32,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Query cost bucket size.
    pub cost_bucket_max: u32,
    /// Query cost restored per second.
    pub cost_restore_rate: u32,
    /// Deepest selection nesting.
    pub max_depth: usize,
    /// Most aliased fields in one document.
    pub max_aliases: usize,
    /// Most selections in one document once its fragments are expanded.
    pub max_selections: usize,
    /// Largest WebSocket message a client may send.
    pub ws_max_message_bytes: usize,
    /// WebSockets per principal.
    pub ws_max_sockets_per_principal: usize,
    /// Browser origins allowed besides the server's own (`scheme://host[:port]`, lower case).
    pub allowed_origins: Vec<String>,
    /// Log-in attempts per account: sustained per minute and burst.
    pub login_per_account: (u32, u32),
    /// Log-in attempts per client IP: sustained per minute and burst.
    pub login_per_ip: (u32, u32),
    /// Largest push body on `/webhooks/{platform}`.
    pub webhook_max_body: usize,
    /// How far a push's timestamp may be from now.
    pub webhook_window: Duration,
    /// Refused pushes per client IP: sustained per minute and burst.
    pub webhook_refusals: (u32, u32),
    /// Tests only: a pause between a push's commit and its answer.
    pub test_webhook_pause: Duration,
    /// Deadline of one request-path Redis call.
    pub redis_deadline: Duration,
    /// Longest wait for a pooled Postgres connection.
    pub db_acquire_timeout: Duration,
    /// Most operations in one batch.
    pub max_batch: usize,
    /// Most directives on one field.
    pub max_directives: usize,
    /// Postgres statement timeout.
    pub statement_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
    /// Header read timeout.
    pub header_read_timeout: Duration,
    /// `connection_init` must arrive within this on a WebSocket.
    pub ws_init_timeout: Duration,
    /// Subscriptions per WebSocket.
    pub ws_max_subscriptions: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            introspection: true,
            field_suggestions: true,
            refresh_token_ttl: Duration::from_secs(30 * 86_400),
            rate_per_minute: 600,
            rate_burst: 60,
            auth_rate_per_minute: 30,
            auth_rate_burst: 10,
            trusted_proxies: Vec::new(),
            cost_bucket_max: 1000,
            cost_restore_rate: 50,
            max_depth: 12,
            max_aliases: 50,
            max_selections: DEFAULT_MAX_SELECTIONS,
            ws_max_message_bytes: 65_536,
            ws_max_sockets_per_principal: 16,
            allowed_origins: Vec::new(),
            login_per_account: (10, 5),
            login_per_ip: (30, 10),
            webhook_max_body: 262_144,
            webhook_window: Duration::from_secs(300),
            webhook_refusals: (30, 10),
            test_webhook_pause: Duration::ZERO,
            redis_deadline: Duration::from_millis(100),
            db_acquire_timeout: Duration::from_secs(3),
            max_batch: 10,
            max_directives: 10,
            statement_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(30),
            header_read_timeout: Duration::from_secs(10),
            ws_init_timeout: Duration::from_secs(10),
            ws_max_subscriptions: 20,
        }
    }
}

/// A named secret key (for rotation the id travels with what it protects).
#[derive(Clone)]
pub struct KeyedSecret {
    /// Key id.
    pub kid: String,
    /// Raw key bytes.
    pub key: Vec<u8>,
}

impl std::fmt::Debug for KeyedSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyedSecret({}, [redacted])", self.kid)
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Listen address.
    pub listen: SocketAddr,
    /// Runtime-role database URL.
    pub database_url: SecretString,
    /// Owner-role database URL, if configured.
    pub migration_database_url: Option<SecretString>,
    /// Runtime pool size.
    pub database_pool_max: u32,
    /// Redis URL.
    pub redis_url: SecretString,
    /// Redis key prefix.
    pub redis_prefix: String,
    /// JWT signing key.
    pub jwt_signing_key: KeyedSecret,
    /// JWT keys accepted for verification besides the signing key.
    pub jwt_verify_keys: Vec<KeyedSecret>,
    /// JWT issuer.
    pub jwt_issuer: String,
    /// JWT audience.
    pub jwt_audience: String,
    /// Access token lifetime.
    pub access_token_ttl: Duration,
    /// Active credential key.
    pub credentials_key: KeyedSecret,
    /// Decrypt-only credential keys.
    pub credentials_old_keys: Vec<KeyedSecret>,
    /// Body size limit.
    pub max_body_bytes: usize,
    /// Multipart (upload) body size limit.
    pub max_upload_bytes: usize,
    /// Lifetime of cached catalog reads (zero: no cache).
    pub catalog_cache_ttl: Duration,
    /// Render hot pages straight from their rows (see `graphql::direct`).
    pub direct_render: bool,
    /// Period of the worker's reservation expiry sweep.
    pub reservation_sweep_interval: Duration,
    /// GraphiQL enabled.
    pub graphiql: bool,
    /// Abuse limits.
    pub limits: Limits,
    /// Background jobs.
    pub jobs: JobsConfig,
    /// Marketplace apps, connect flow and quotas.
    pub marketplaces: MarketplacesConfig,
}

/// One budget of a quota: at most `requests` calls in any `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Calls allowed.
    pub requests: u32,
    /// Sliding window.
    pub window: Duration,
}

/// Each platform's budgets per store (every budget must hold). The defaults are the table in the
/// README ("Quota table"), from `marketplaces.md`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaTable(pub Vec<(entity::enums::Platform, Vec<Budget>)>);

impl Default for QuotaTable {
    fn default() -> Self {
        use entity::enums::Platform as P;
        let b = |requests, secs| Budget {
            requests,
            window: Duration::from_secs(secs),
        };
        Self(vec![
            // Unpublished (rate_limit [0,0,0] in the API JSON): a careful default.
            (P::Shopee, vec![b(10, 1)]),
            // 50 QPS per API per (app, shop): held per store across all APIs.
            (P::TiktokShop, vec![b(50, 1)]),
            // Per-API QPS, unpublished in general ("ApiCallLimit", 1 s ban): a careful default.
            (P::Lazada, vec![b(10, 1)]),
            // 4 per second and 200 per minute per master shop.
            (P::Jumia, vec![b(4, 1), b(200, 60)]),
        ])
    }
}

impl QuotaTable {
    /// The budgets of `platform` (none: the platform has no API).
    pub fn of(&self, platform: entity::enums::Platform) -> &[Budget] {
        self.0
            .iter()
            .find(|(p, _)| *p == platform)
            .map(|(_, b)| b.as_slice())
            .unwrap_or(&[])
    }
}

/// Marketplace apps (a platform without one cannot be connected), the connect flow's URLs, quotas.
#[derive(Debug, Clone)]
pub struct MarketplacesConfig {
    /// Base of the callback URLs.
    pub public_url: String,
    /// Allowed `returnUrl` prefixes.
    pub return_urls: Vec<url::Url>,
    /// Shopee app.
    pub shopee: Option<connectors::shopee::ShopeeApp>,
    /// TikTok Shop app.
    pub tiktok: Option<connectors::tiktok::TiktokApp>,
    /// Lazada app.
    pub lazada: Option<connectors::lazada::LazadaApp>,
    /// Jumia app.
    pub jumia: Option<connectors::jumia::JumiaApp>,
    /// Quota budgets.
    pub quotas: QuotaTable,
    /// TOKEN_REFRESH refreshes tokens that expire within this.
    pub refresh_ahead: Duration,
    /// How far the marketplaces' clock runs ahead of ours (seconds; 0 but in tests).
    pub clock_offset_secs: i64,
}

impl MarketplacesConfig {
    /// No platform configured; callbacks on `public_url`.
    pub fn none(public_url: impl Into<String>) -> Self {
        Self {
            public_url: public_url.into(),
            return_urls: Vec::new(),
            shopee: None,
            tiktok: None,
            lazada: None,
            jumia: None,
            quotas: QuotaTable::default(),
            refresh_ahead: Duration::from_secs(15 * 60),
            clock_offset_secs: 0,
        }
    }

    /// Every platform on the simulator at `base`, with its demo app credentials.
    pub fn simulator(public_url: impl Into<String>, base: &str) -> Self {
        let mut c = Self::none(public_url);
        c.fill_from_simulator(base);
        c
    }

    fn fill_from_simulator(&mut self, base: &str) {
        use connectors::Endpoints;
        let base = base.trim_end_matches('/');
        let sim = connectors::simulator::SimConfig::default();
        self.shopee
            .get_or_insert_with(|| connectors::shopee::ShopeeApp {
                partner_id: sim.shopee.0,
                partner_key: sim.shopee.1.clone(),
                endpoints: Endpoints::same(format!("{base}/shopee")),
            });
        self.tiktok
            .get_or_insert_with(|| connectors::tiktok::TiktokApp {
                app_key: sim.tiktok.0.clone(),
                app_secret: sim.tiktok.1.clone(),
                endpoints: Endpoints::same(format!("{base}/tiktok")),
            });
        self.lazada
            .get_or_insert_with(|| connectors::lazada::LazadaApp {
                app_key: sim.lazada.0.clone(),
                app_secret: sim.lazada.1.clone(),
                endpoints: Endpoints {
                    api: format!("{base}/lazada/rest"),
                    auth: format!("{base}/lazada/auth/rest"),
                },
            });
        self.jumia
            .get_or_insert_with(|| connectors::jumia::JumiaApp {
                client_id: sim.jumia.0.clone(),
                endpoints: Endpoints::same(format!("{base}/jumia")),
                feed_poll: (Duration::from_millis(200), 50),
            });
    }

    /// Whether `url` is on the allow-list (or is this server's own `/connect/done`): same scheme,
    /// host and port as an entry, and its path starts with the entry's path. Credentials in the
    /// URL and fragments are refused.
    pub fn return_url_allowed(&self, url: &url::Url) -> bool {
        // This server's own landing page is always allowed.
        let own = url::Url::parse(&format!(
            "{}/connect/done",
            self.public_url.trim_end_matches('/')
        ))
        .ok();
        url.username().is_empty()
            && url.password().is_none()
            && url.fragment().is_none()
            && own.iter().chain(self.return_urls.iter()).any(|allowed| {
                allowed.scheme() == url.scheme()
                    && allowed.host_str() == url.host_str()
                    && allowed.port_or_known_default() == url.port_or_known_default()
                    && url.path().starts_with(allowed.path())
            })
    }

    /// The callback URL of `platform` (`snake` name in the path).
    pub fn callback_url(&self, platform_path: &str) -> String {
        format!(
            "{}/connect/{platform_path}/callback",
            self.public_url.trim_end_matches('/')
        )
    }
}

fn parse_quotas(raw: &str) -> Result<QuotaTable, ConfigError> {
    use entity::enums::Platform as P;
    const NAME: &str = "MERCATO_QUOTAS";
    let mut table = QuotaTable::default();
    for entry in raw.split(';').map(str::trim).filter(|e| !e.is_empty()) {
        let (name, budgets) = entry
            .split_once('=')
            .ok_or_else(|| invalid(NAME, format!("`{entry}`: expected PLATFORM=N/Ss")))?;
        let platform = match name.trim() {
            "SHOPEE" => P::Shopee,
            "TIKTOK_SHOP" => P::TiktokShop,
            "LAZADA" => P::Lazada,
            "JUMIA" => P::Jumia,
            other => {
                return Err(invalid(
                    NAME,
                    format!("`{other}` is not SHOPEE, TIKTOK_SHOP, LAZADA or JUMIA"),
                ));
            }
        };
        let parsed = budgets
            .split('+')
            .map(|b| {
                let (n, w) = b.trim().split_once('/')?;
                let requests: u32 = n.trim().parse().ok().filter(|n| *n > 0)?;
                let secs: u64 = w
                    .trim()
                    .strip_suffix('s')?
                    .parse()
                    .ok()
                    .filter(|s| *s > 0)?;
                Some(Budget {
                    requests,
                    window: Duration::from_secs(secs),
                })
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| {
                invalid(
                    NAME,
                    format!("`{budgets}`: expected N/Ss[+N/Ss], e.g. 4/1s+200/60s"),
                )
            })?;
        if let Some(slot) = table.0.iter_mut().find(|(p, _)| *p == platform) {
            slot.1 = parsed;
        }
    }
    Ok(table)
}

fn parse_return_urls(raw: &str) -> Result<Vec<url::Url>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| {
            url::Url::parse(u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https") && p.host().is_some())
                .ok_or_else(|| {
                    invalid(
                        "MERCATO_CONNECT_RETURN_URLS",
                        format!(
                            "`{u}` is not an http(s) URL such as https://app.example.com/settings/"
                        ),
                    )
                })
        })
        .collect()
}

impl MarketplaceArgs {
    /// Validates the marketplace settings (`listen` gives the default public URL).
    pub fn validate(self, listen: SocketAddr) -> Result<MarketplacesConfig, ConfigError> {
        let public_url = match self.public_url {
            Some(u) => url::Url::parse(&u)
                .ok()
                .filter(|p| matches!(p.scheme(), "http" | "https"))
                .map(|_| u.trim_end_matches('/').to_owned())
                .ok_or_else(|| invalid("MERCATO_PUBLIC_URL", "must be an http(s) URL"))?,
            None => format!("http://{listen}"),
        };
        let mut c = MarketplacesConfig::none(public_url);
        c.return_urls = parse_return_urls(&self.connect_return_urls)?;
        c.quotas = parse_quotas(&self.quotas)?;
        c.clock_offset_secs = self.marketplace_clock_offset_secs;
        let pair = |a: Option<String>, b: Option<String>, name: &'static str| match (a, b) {
            (Some(a), Some(b)) => Ok(Some((a, b))),
            (None, None) => Ok(None),
            _ => Err(invalid(
                name,
                "give both the key and the secret, or neither",
            )),
        };
        if let (Some(id), key) = (self.shopee_partner_id, self.shopee_partner_key.clone()) {
            let key = key.ok_or_else(|| {
                invalid(
                    "MERCATO_SHOPEE_PARTNER_KEY",
                    "required with MERCATO_SHOPEE_PARTNER_ID",
                )
            })?;
            c.shopee = Some(connectors::shopee::ShopeeApp {
                partner_id: id,
                partner_key: key,
                endpoints: connectors::Endpoints::same(self.shopee_url.clone()),
            });
        }
        if let Some((key, secret)) = pair(
            self.tiktok_app_key,
            self.tiktok_app_secret,
            "MERCATO_TIKTOK_APP_KEY",
        )? {
            c.tiktok = Some(connectors::tiktok::TiktokApp {
                app_key: key,
                app_secret: secret,
                endpoints: connectors::Endpoints {
                    api: self.tiktok_api_url.clone(),
                    auth: self.tiktok_auth_url.clone(),
                },
            });
        }
        if let Some((key, secret)) = pair(
            self.lazada_app_key,
            self.lazada_app_secret,
            "MERCATO_LAZADA_APP_KEY",
        )? {
            c.lazada = Some(connectors::lazada::LazadaApp {
                app_key: key,
                app_secret: secret,
                endpoints: connectors::Endpoints {
                    api: self.lazada_api_url.clone(),
                    auth: self.lazada_auth_url.clone(),
                },
            });
        }
        if let Some(id) = self.jumia_client_id {
            c.jumia = Some(connectors::jumia::JumiaApp {
                client_id: id,
                endpoints: connectors::Endpoints::same(self.jumia_url.clone()),
                feed_poll: (Duration::from_secs(2), 60),
            });
        }
        if let Some(sim) = self.simulator_url.filter(|s| !s.is_empty()) {
            c.fill_from_simulator(&sim);
        }
        Ok(c)
    }
}

/// Background job settings.
#[derive(Debug, Clone)]
pub struct JobsConfig {
    /// Lease length.
    pub lease: Duration,
    /// Delay before each retry; its length + 1 is the number of attempts.
    pub backoff: Vec<Duration>,
    /// Reconciler period.
    pub reconcile_interval: Duration,
    /// Re-dispatch a due job handed to Redis this long ago.
    pub redispatch_after: Duration,
    /// Stock push dispatcher period.
    pub push_dispatch_interval: Duration,
    /// Hand out again pending pushes handed out this long ago.
    pub push_redispatch_after: Duration,
    /// Webhook job dispatcher period.
    pub webhook_dispatch_interval: Duration,
    /// Jobs per store at once.
    pub store_concurrency: u32,
    /// Jobs per worker process at once.
    pub worker_concurrency: u32,
    /// Shortest schedule interval.
    pub schedule_min_interval: Duration,
    /// TEST_PROBE and NOOP kinds enabled.
    pub test_kinds: bool,
    /// Test-only crash point (see `MERCATO_FAILPOINT`).
    pub failpoint: Option<String>,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            lease: Duration::from_secs(30),
            backoff: [60, 300, 900, 3600, 10_800]
                .into_iter()
                .map(Duration::from_secs)
                .collect(),
            reconcile_interval: Duration::from_secs(1),
            redispatch_after: Duration::from_secs(30),
            push_dispatch_interval: Duration::from_millis(100),
            push_redispatch_after: Duration::from_secs(60),
            webhook_dispatch_interval: Duration::from_millis(100),
            store_concurrency: 2,
            worker_concurrency: 8,
            schedule_min_interval: Duration::from_secs(60),
            test_kinds: false,
            failpoint: None,
        }
    }
}

fn parse_backoff(raw: &str) -> Result<Vec<Duration>, ConfigError> {
    let delays = raw
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<u64>().map(Duration::from_millis).map_err(|_| {
                invalid(
                    "MERCATO_JOB_BACKOFF_MS",
                    format!("`{s}` is not a number of milliseconds"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if delays.len() > 20 {
        return Err(invalid("MERCATO_JOB_BACKOFF_MS", "at most 20 retries"));
    }
    Ok(delays)
}

/// A configuration value that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("invalid configuration {name}: {reason}")]
pub struct ConfigError {
    name: &'static str,
    reason: String,
}

fn invalid(name: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        name,
        reason: reason.into(),
    }
}

fn parse_keyed(
    name: &'static str,
    raw: &str,
    min_len: usize,
    exact: bool,
) -> Result<KeyedSecret, ConfigError> {
    let (kid, b64) = raw
        .split_once(':')
        .ok_or_else(|| invalid(name, "expected `kid:base64`"))?;
    if kid.is_empty()
        || kid.len() > 32
        || !kid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(invalid(
            name,
            "key id must be 1-32 characters of [A-Za-z0-9_-]",
        ));
    }
    let key = STANDARD
        .decode(b64.trim())
        .map_err(|_| invalid(name, "key is not valid base64"))?;
    if key.len() < min_len || (exact && key.len() != min_len) {
        let want = if exact { "exactly" } else { "at least" };
        return Err(invalid(name, format!("key must be {want} {min_len} bytes")));
    }
    Ok(KeyedSecret {
        kid: kid.to_owned(),
        key,
    })
}

fn parse_proxies(raw: &str) -> Result<Vec<ipnet::IpNet>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse::<ipnet::IpNet>()
                .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    invalid(
                        "MERCATO_TRUSTED_PROXIES",
                        format!("`{s}` is not an IP or CIDR"),
                    )
                })
        })
        .collect()
}

fn parse_keyed_list(
    name: &'static str,
    raw: &str,
    min_len: usize,
    exact: bool,
) -> Result<Vec<KeyedSecret>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| parse_keyed(name, s, min_len, exact))
        .collect()
}

impl ConfigArgs {
    /// Validates every setting.
    pub fn validate(self) -> Result<Config, ConfigError> {
        if self.access_token_ttl_secs == 0 || self.access_token_ttl_secs > 86_400 {
            return Err(invalid(
                "MERCATO_ACCESS_TOKEN_TTL_SECS",
                "must be 1..=86400",
            ));
        }
        if self.max_body_bytes < 1024 {
            return Err(invalid("MERCATO_MAX_BODY_BYTES", "must be at least 1024"));
        }
        if self.max_upload_bytes < self.max_body_bytes {
            return Err(invalid(
                "MERCATO_MAX_UPLOAD_BYTES",
                "must be at least MERCATO_MAX_BODY_BYTES",
            ));
        }
        if self.database_pool_max == 0 {
            return Err(invalid("MERCATO_DATABASE_POOL_MAX", "must be positive"));
        }
        let production = match self.profile.as_str() {
            "development" => false,
            "production" => true,
            _ => {
                return Err(invalid(
                    "MERCATO_PROFILE",
                    "must be `development` or `production`",
                ));
            }
        };
        let positive = |name: &'static str, v: u64| {
            if v == 0 {
                Err(invalid(name, "must be positive"))
            } else {
                Ok(v)
            }
        };
        let limits = Limits {
            introspection: self.introspection.unwrap_or(!production),
            field_suggestions: self.field_suggestions.unwrap_or(!production),
            refresh_token_ttl: Duration::from_secs(positive(
                "MERCATO_REFRESH_TOKEN_TTL_SECS",
                self.refresh_token_ttl_secs,
            )?),
            rate_per_minute: positive(
                "MERCATO_RATE_LIMIT_PER_MINUTE",
                self.rate_limit_per_minute.into(),
            )? as u32,
            rate_burst: positive("MERCATO_RATE_LIMIT_BURST", self.rate_limit_burst.into())? as u32,
            auth_rate_per_minute: positive(
                "MERCATO_AUTH_RATE_LIMIT_PER_MINUTE",
                self.auth_rate_limit_per_minute.into(),
            )? as u32,
            auth_rate_burst: positive(
                "MERCATO_AUTH_RATE_LIMIT_BURST",
                self.auth_rate_limit_burst.into(),
            )? as u32,
            trusted_proxies: parse_proxies(&self.trusted_proxies)?,
            cost_bucket_max: positive("MERCATO_COST_BUCKET_MAX", self.cost_bucket_max.into())?
                as u32,
            cost_restore_rate: positive("MERCATO_COST_RESTORE_RATE", self.cost_restore_rate.into())?
                as u32,
            statement_timeout: Duration::from_millis(positive(
                "MERCATO_STATEMENT_TIMEOUT_MS",
                self.statement_timeout_ms,
            )?),
            request_timeout: Duration::from_secs(positive(
                "MERCATO_REQUEST_TIMEOUT_SECS",
                self.request_timeout_secs,
            )?),
            header_read_timeout: Duration::from_secs(positive(
                "MERCATO_HEADER_READ_TIMEOUT_SECS",
                self.header_read_timeout_secs,
            )?),
            ws_max_subscriptions: positive(
                "MERCATO_WS_MAX_SUBSCRIPTIONS",
                self.ws_max_subscriptions as u64,
            )? as usize,
            max_selections: positive("MERCATO_MAX_SELECTIONS", self.max_selections as u64)?
                as usize,
            ws_max_message_bytes: positive(
                "MERCATO_WS_MAX_MESSAGE_BYTES",
                self.ws_max_message_bytes as u64,
            )? as usize,
            ws_max_sockets_per_principal: positive(
                "MERCATO_WS_MAX_SOCKETS_PER_PRINCIPAL",
                self.ws_max_sockets_per_principal as u64,
            )? as usize,
            allowed_origins: parse_origins(&self.allowed_origins)?,
            login_per_account: (
                positive(
                    "MERCATO_LOGIN_ATTEMPTS_PER_MINUTE",
                    self.login_attempts_per_minute.into(),
                )? as u32,
                positive(
                    "MERCATO_LOGIN_ATTEMPTS_BURST",
                    self.login_attempts_burst.into(),
                )? as u32,
            ),
            login_per_ip: (
                positive(
                    "MERCATO_LOGIN_IP_ATTEMPTS_PER_MINUTE",
                    self.login_ip_attempts_per_minute.into(),
                )? as u32,
                positive(
                    "MERCATO_LOGIN_IP_ATTEMPTS_BURST",
                    self.login_ip_attempts_burst.into(),
                )? as u32,
            ),
            webhook_max_body: usize::try_from(positive(
                "MERCATO_WEBHOOK_MAX_BODY_BYTES",
                self.webhook_max_body_bytes,
            )?)
            .unwrap_or(usize::MAX),
            webhook_window: match self.webhook_window_secs {
                1..=300 => Duration::from_secs(self.webhook_window_secs),
                _ => {
                    return Err(invalid(
                        "MERCATO_WEBHOOK_WINDOW_SECS",
                        "must be between 1 and 300",
                    ));
                }
            },
            test_webhook_pause: Duration::from_millis(self.test_webhook_pause_ms),
            webhook_refusals: (
                positive(
                    "MERCATO_WEBHOOK_REFUSALS_PER_MINUTE",
                    self.webhook_refusals_per_minute.into(),
                )? as u32,
                positive(
                    "MERCATO_WEBHOOK_REFUSALS_BURST",
                    self.webhook_refusals_burst.into(),
                )? as u32,
            ),
            redis_deadline: Duration::from_millis(positive(
                "MERCATO_REDIS_DEADLINE_MS",
                self.redis_deadline_ms,
            )?),
            db_acquire_timeout: Duration::from_millis(positive(
                "MERCATO_DATABASE_ACQUIRE_TIMEOUT_MS",
                self.database_acquire_timeout_ms,
            )?),
            ..Limits::default()
        };
        Ok(Config {
            listen: self.listen,
            database_url: self.database_url.into(),
            migration_database_url: self.migration_database_url.map(Into::into),
            database_pool_max: self.database_pool_max,
            redis_url: self.redis_url.into(),
            redis_prefix: self.redis_prefix,
            jwt_signing_key: parse_keyed(
                "MERCATO_JWT_SIGNING_KEY",
                &self.jwt_signing_key,
                32,
                false,
            )?,
            jwt_verify_keys: parse_keyed_list(
                "MERCATO_JWT_VERIFY_KEYS",
                &self.jwt_verify_keys,
                32,
                false,
            )?,
            jwt_issuer: self.jwt_issuer,
            jwt_audience: self.jwt_audience,
            access_token_ttl: Duration::from_secs(self.access_token_ttl_secs),
            credentials_key: parse_keyed(
                "MERCATO_CREDENTIALS_KEY",
                &self.credentials_key,
                32,
                true,
            )?,
            credentials_old_keys: parse_keyed_list(
                "MERCATO_CREDENTIALS_OLD_KEYS",
                &self.credentials_old_keys,
                32,
                true,
            )?,
            max_body_bytes: self.max_body_bytes,
            max_upload_bytes: self.max_upload_bytes,
            catalog_cache_ttl: Duration::from_secs(self.catalog_cache_ttl_secs),
            direct_render: self.direct_render,
            reservation_sweep_interval: Duration::from_millis(positive(
                "MERCATO_RESERVATION_SWEEP_MS",
                self.reservation_sweep_ms,
            )?),
            graphiql: self.graphiql.unwrap_or(!production),
            limits,
            jobs: JobsConfig {
                lease: Duration::from_millis(positive("MERCATO_JOB_LEASE_MS", self.job_lease_ms)?),
                backoff: parse_backoff(&self.job_backoff_ms)?,
                reconcile_interval: Duration::from_millis(positive(
                    "MERCATO_JOB_RECONCILE_MS",
                    self.job_reconcile_ms,
                )?),
                redispatch_after: Duration::from_millis(positive(
                    "MERCATO_JOB_REDISPATCH_MS",
                    self.job_redispatch_ms,
                )?),
                push_dispatch_interval: Duration::from_millis(positive(
                    "MERCATO_PUSH_DISPATCH_MS",
                    self.push_dispatch_ms,
                )?),
                push_redispatch_after: Duration::from_millis(positive(
                    "MERCATO_PUSH_REDISPATCH_MS",
                    self.push_redispatch_ms,
                )?),
                webhook_dispatch_interval: Duration::from_millis(positive(
                    "MERCATO_WEBHOOK_DISPATCH_MS",
                    self.webhook_dispatch_ms,
                )?),
                store_concurrency: u32::try_from(positive(
                    "MERCATO_JOB_STORE_CONCURRENCY",
                    u64::from(self.job_store_concurrency),
                )?)
                .unwrap_or(u32::MAX),
                worker_concurrency: u32::try_from(positive(
                    "MERCATO_WORKER_CONCURRENCY",
                    u64::from(self.worker_concurrency),
                )?)
                .unwrap_or(u32::MAX),
                schedule_min_interval: Duration::from_secs(positive(
                    "MERCATO_SCHEDULE_MIN_INTERVAL_SECS",
                    u64::from(self.schedule_min_interval_secs),
                )?),
                test_kinds: self.job_test_kinds,
                failpoint: self.failpoint.filter(|f| !f.is_empty()),
            },
            marketplaces: self.marketplaces.validate(self.listen)?,
        })
    }
}

/// `MERCATO_ALLOWED_ORIGINS`: comma-separated `scheme://host[:port]` origins, no path.
fn parse_origins(raw: &str) -> Result<Vec<String>, ConfigError> {
    raw.split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .map(|o| {
            let ok = (o.starts_with("https://") || o.starts_with("http://"))
                && !o
                    .split_once("://")
                    .is_some_and(|(_, rest)| rest.contains('/') || rest.is_empty());
            if ok {
                Ok(o.trim_end_matches('/').to_ascii_lowercase())
            } else {
                Err(invalid(
                    "MERCATO_ALLOWED_ORIGINS",
                    "each origin must look like https://app.example.com (scheme and host, no path)",
                ))
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_secret_rejects_short_keys_and_bad_ids() {
        let short = STANDARD.encode([1u8; 16]);
        assert!(parse_keyed("X", &format!("k1:{short}"), 32, false).is_err());
        let ok = STANDARD.encode([1u8; 32]);
        assert!(parse_keyed("X", &format!("k1:{ok}"), 32, true).is_ok());
        assert!(parse_keyed("X", &format!("bad id:{ok}"), 32, true).is_err());
        assert!(parse_keyed("X", &ok, 32, true).is_err());
        let long = STANDARD.encode([1u8; 33]);
        assert!(parse_keyed("X", &format!("k1:{long}"), 32, true).is_err());
    }

    #[test]
    fn keyed_secret_debug_is_redacted() {
        let k = KeyedSecret {
            kid: "k1".into(),
            key: b"super-secret-key-material-xxxxxx".to_vec(),
        };
        assert_eq!(format!("{k:?}"), "KeyedSecret(k1, [redacted])");
    }
}
