//! Test harness: the real app on a real Postgres (one database per test, cloned from a migrated
//! template) and a real Redis (a random key prefix per test). The app's pool connects as the
//! runtime role, so row-level security is exercised by every test.
//!
//! Services come from `scripts/stack up test`; `MERCATO_TEST_PG_HOST/PORT` and `MERCATO_REDIS_URL`
//! override the defaults.

#![allow(missing_docs, clippy::unwrap_used)]

pub mod market;
pub mod orders;
pub mod procs;
pub mod proxy;
pub mod stock;
pub mod ws;

use base64::Engine as _;
use mercato::AppState;
use mercato::config::{Config, KeyedSecret};
use rand::RngCore;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;

pub const OWNER_ROLE: &str = "mercato_owner";
pub const OWNER_PASSWORD: &str = "mercato_owner_local";
pub const RUNTIME_ROLE: &str = "mercato_app";
pub const RUNTIME_PASSWORD: &str = "mercato_app_local";

fn pg_host() -> String {
    std::env::var("MERCATO_TEST_PG_HOST").unwrap_or_else(|_| "127.0.0.1".into())
}

fn pg_port() -> String {
    std::env::var("MERCATO_TEST_PG_PORT").unwrap_or_else(|_| "54330".into())
}

pub fn redis_url() -> String {
    std::env::var("MERCATO_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:63800".into())
}

pub fn owner_url(db: &str) -> String {
    format!(
        "postgres://{OWNER_ROLE}:{OWNER_PASSWORD}@{}:{}/{db}",
        pg_host(),
        pg_port()
    )
}

pub fn runtime_url(db: &str) -> String {
    format!(
        "postgres://{RUNTIME_ROLE}:{RUNTIME_PASSWORD}@{}:{}/{db}",
        pg_host(),
        pg_port()
    )
}

pub async fn connect(url: &str, max: u32) -> DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(url.to_owned());
    opts.max_connections(max)
        .min_connections(0)
        .sqlx_logging(false)
        .acquire_timeout(Duration::from_secs(20));
    Database::connect(opts)
        .await
        .unwrap_or_else(|e| panic!("cannot connect to Postgres ({e}); run scripts/stack up test"))
}

pub async fn exec(conn: &impl ConnectionTrait, sql: &str) {
    conn.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// Name of the migrated template for the current set of migrations.
fn template_name() -> String {
    use migration::MigratorTrait;
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for m in migration::Migrator::migrations() {
        m.name().hash(&mut h);
    }
    // Migration bodies change during development: hash every source file of the crate, so an
    // edit to any migration builds a new template instead of reusing a stale one.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("migration/src");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("migration sources")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    files.sort();
    for f in files {
        f.file_name().hash(&mut h);
        std::fs::read(&f).expect("migration source").hash(&mut h);
    }
    format!("mercato_tpl_{:016x}", h.finish())
}

/// Creates the migrated template once (cross-process safe through an advisory lock).
async fn ensure_template() -> String {
    let name = template_name();
    let admin = connect(&owner_url("mercato"), 1).await;
    exec(&admin, "SELECT pg_advisory_lock(727271)").await;
    let exists = admin
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT 1 AS x FROM pg_database WHERE datname = $1",
            [name.clone().into()],
        ))
        .await
        .unwrap()
        .is_some();
    if !exists {
        let building = format!("{name}_build");
        exec(&admin, &format!("DROP DATABASE IF EXISTS {building}")).await;
        exec(&admin, &format!("CREATE DATABASE {building}")).await;
        mercato::migrate_up(&owner_url(&building).into())
            .await
            .expect("migrate template");
        exec(
            &admin,
            &format!("ALTER DATABASE {building} RENAME TO {name}"),
        )
        .await;
    }
    exec(&admin, "SELECT pg_advisory_unlock(727271)").await;
    admin.close().await.ok();
    name
}

/// A fresh database cloned from the migrated template.
pub async fn fresh_database() -> String {
    let template = ensure_template().await;
    let name = format!("mercato_t_{}", uuid::Uuid::new_v4().simple());
    let admin = connect(&owner_url("mercato"), 1).await;
    exec(
        &admin,
        &format!("CREATE DATABASE {name} TEMPLATE {template}"),
    )
    .await;
    exec(&admin, &format!("REVOKE ALL ON DATABASE {name} FROM PUBLIC; GRANT CONNECT ON DATABASE {name} TO {RUNTIME_ROLE}")).await;
    admin.close().await.ok();
    name
}

fn random_key(kid: &str) -> KeyedSecret {
    let mut key = vec![0u8; 32];
    rand::rng().fill_bytes(&mut key);
    KeyedSecret {
        kid: kid.into(),
        key,
    }
}

/// Configuration for a test app on database `db`.
pub fn test_config(db: &str) -> Config {
    Config {
        listen: "127.0.0.1:0".parse().unwrap(),
        database_url: runtime_url(db).into(),
        migration_database_url: Some(owner_url(db).into()),
        database_pool_max: 8,
        redis_url: redis_url().into(),
        redis_prefix: format!("test-{}", uuid::Uuid::new_v4().simple()),
        jwt_signing_key: random_key("k1"),
        jwt_verify_keys: Vec::new(),
        jwt_issuer: "mercato".into(),
        jwt_audience: "mercato-api".into(),
        access_token_ttl: Duration::from_secs(900),
        credentials_key: random_key("c1"),
        credentials_old_keys: Vec::new(),
        max_body_bytes: 1024 * 1024,
        max_upload_bytes: 16 * 1024 * 1024,
        catalog_cache_ttl: Duration::from_secs(300),
        direct_render: true,
        reservation_sweep_interval: Duration::from_millis(100),
        jobs: mercato::config::JobsConfig {
            lease: Duration::from_secs(2),
            backoff: vec![Duration::from_millis(50); 5],
            reconcile_interval: Duration::from_millis(100),
            redispatch_after: Duration::from_millis(1000),
            schedule_min_interval: Duration::from_secs(1),
            test_kinds: true,
            ..mercato::config::JobsConfig::default()
        },
        graphiql: true,
        // Generous request quotas: tests of other behaviour must not trip them. Tests of the
        // limits themselves set their own.
        limits: mercato::config::Limits {
            rate_per_minute: 100_000,
            rate_burst: 10_000,
            auth_rate_per_minute: 100_000,
            auth_rate_burst: 10_000,
            cost_bucket_max: 100_000,
            cost_restore_rate: 10_000,
            login_per_account: (100_000, 10_000),
            login_per_ip: (100_000, 10_000),
            webhook_refusals: (100_000, 10_000),
            ..mercato::config::Limits::default()
        },
        // No marketplace app unless a test points them at its simulator; callbacks on the test
        // server's own address (set when it binds).
        marketplaces: mercato::config::MarketplacesConfig::none("http://127.0.0.1:0"),
    }
}

/// A running app.
pub struct TestApp {
    pub addr: SocketAddr,
    pub base: String,
    pub db_name: String,
    pub state: AppState,
    pub client: reqwest::Client,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A logged-in user of a test.
#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub user_id: String,
    pub org_id: Option<String>,
}

pub fn unique_email(tag: &str) -> String {
    format!("{tag}-{}@example.test", uuid::Uuid::new_v4().simple())
}

pub const PASSWORD: &str = "a long enough password";

impl TestApp {
    pub async fn spawn() -> Self {
        let db = fresh_database().await;
        Self::spawn_with(test_config(&db), db).await
    }

    pub async fn spawn_with(mut config: Config, db_name: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        config.marketplaces.public_url = format!("http://{addr}");
        let state = mercato::build_state(config).await.expect("state");
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let served = state.clone();
        tokio::spawn(async move {
            mercato::serve(served, listener, async move {
                let _ = rx.await;
            })
            .await
            .expect("serve");
        });
        Self {
            addr,
            base: format!("http://{addr}"),
            db_name,
            state,
            client: reqwest::Client::new(),
            shutdown: Some(tx),
        }
    }

    /// Owner-role connection to this test's database (bypasses nothing: the owner is subject to
    /// forced RLS too, so use it for DDL and catalog checks).
    pub async fn owner(&self) -> DatabaseConnection {
        connect(&owner_url(&self.db_name), 2).await
    }

    /// Runtime-role connection to this test's database.
    pub async fn runtime(&self) -> DatabaseConnection {
        connect(&runtime_url(&self.db_name), 2).await
    }

    /// POSTs a GraphQL request and returns status and JSON body.
    pub async fn post(&self, token: Option<&str>, body: Value) -> (u16, Value) {
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        let body = resp.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// Sends an operation with one file (GraphQL multipart request spec) bound to the variable at
    /// `file_path` (e.g. `variables.i.csv`); returns status and body.
    pub async fn upload(
        &self,
        token: Option<&str>,
        query: &str,
        variables: Value,
        file_path: &str,
        file: &[u8],
    ) -> (u16, Value) {
        let boundary = format!("mercato-{}", uuid::Uuid::new_v4().simple());
        let operations = json!({ "query": query, "variables": variables }).to_string();
        let map = json!({ "0": [file_path] }).to_string();
        let mut body = Vec::with_capacity(file.len() + 1024);
        for (name, value) in [("operations", operations), ("map", map)] {
            body.extend_from_slice(
                format!("--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"\r\n\r\n{value}\r\n").as_bytes(),
            );
        }
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"0\"; filename=\"catalog.csv\"\r\nContent-Type: text/csv\r\n\r\n").as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        let mut req = self
            .client
            .post(format!("{}/graphql", self.base))
            .header(
                "content-type",
                format!("multipart/form-data; boundary={boundary}"),
            )
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await.expect("send");
        let status = resp.status().as_u16();
        (status, resp.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Runs a GraphQL operation and returns the body (asserting HTTP 200).
    pub async fn gql(&self, token: Option<&str>, query: &str, variables: Value) -> Value {
        let (status, body) = self
            .post(token, json!({ "query": query, "variables": variables }))
            .await;
        assert_eq!(status, 200, "{body}");
        body
    }

    /// Signs up a new user, optionally with an organization, and returns the session.
    pub async fn sign_up(&self, tag: &str, org_name: Option<&str>) -> Session {
        let body = self
            .gql(
                None,
                "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } organization { id } userErrors { field code message } } }",
                json!({ "i": { "email": unique_email(tag), "password": PASSWORD, "displayName": tag, "organizationName": org_name } }),
            )
            .await;
        let p = &body["data"]["signUp"];
        assert!(
            p["userErrors"].as_array().is_some_and(|e| e.is_empty()),
            "{body}"
        );
        Session {
            token: p["accessToken"].as_str().expect("token").to_owned(),
            user_id: p["user"]["id"].as_str().unwrap().to_owned(),
            org_id: p["organization"]["id"].as_str().map(str::to_owned),
        }
    }

    /// Creates a branch as `s` and returns its id.
    /// Turns off a store's default schedules: their slots are aligned to wall-clock multiples of
    /// their interval, so a test that crosses such a boundary would otherwise see a scheduled
    /// ORDERS sync or TOKEN_REFRESH run next to its own jobs.
    pub async fn disable_schedules(&self, s: &Session, store: &str) {
        for kind in [
            "ORDERS",
            "PAYOUTS",
            "TOKEN_REFRESH",
            "RETURN_SLA",
            "PRODUCTS",
            "STOCK_DRIFT",
        ] {
            let body = self
                .gql(
                    Some(&s.token),
                    "mutation($i: UpdateSyncScheduleInput!) { updateSyncSchedule(input: $i) { schedule { enabled } userErrors { code } } }",
                    json!({ "i": { "storeId": store, "kind": kind, "enabled": false } }),
                )
                .await;
            assert_eq!(
                body["data"]["updateSyncSchedule"]["schedule"]["enabled"], false,
                "{body}"
            );
        }
    }

    pub async fn create_branch(&self, s: &Session, name: &str) -> String {
        let body = self
            .gql(
                Some(&s.token),
                "mutation($i: CreateBranchInput!) { createBranch(input: $i) { branch { id } userErrors { code message } } }",
                json!({ "i": { "name": name } }),
            )
            .await;
        body["data"]["createBranch"]["branch"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }

    /// Registers a file-only (Kilimall) store as `s` and returns its id: its schedules run from
    /// the start (marketplace stores with an API wait for their authorization).
    pub async fn connect_store(
        &self,
        s: &Session,
        branch: &str,
        shop: &str,
        credentials: Option<Value>,
    ) -> String {
        let body = self
            .gql(
                Some(&s.token),
                "mutation($i: ConnectStoreInput!) { connectStore(input: $i) { store { id } userErrors { field code message } } }",
                json!({ "i": { "branchId": branch, "platform": "KILIMALL", "externalShopId": shop, "name": format!("Shop {shop}"),
                               "region": "KE", "currency": "KES", "credentials": credentials } }),
            )
            .await;
        body["data"]["connectStore"]["store"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }
}

/// Runs `sql` as the runtime role inside a transaction with the given context settings,
/// returning the first column of each row as text.
pub async fn rows_as(
    conn: &DatabaseConnection,
    settings: &[(&str, &str)],
    sql: &str,
) -> Result<Vec<String>, String> {
    use sea_orm::TransactionTrait;
    let tx = conn.begin().await.map_err(|e| e.to_string())?;
    for (k, v) in settings {
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [(*k).into(), (*v).into()],
        ))
        .await
        .map_err(|e| e.to_string())?;
    }
    let rows = tx
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .map_err(|e| e.to_string())?;
    let out = rows
        .iter()
        .map(|r| {
            r.try_get_by_index::<Option<String>>(0)
                .map(|v| v.unwrap_or_default())
                .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>();
    tx.rollback().await.map_err(|e| e.to_string())?;
    out
}

/// Decodes the UUID inside a global id.
pub fn gid_uuid(gid: &str) -> String {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(gid)
        .unwrap();
    String::from_utf8(raw)
        .unwrap()
        .split_once(':')
        .unwrap()
        .1
        .to_owned()
}

/// Builds a global id for a type name and UUID (for forged-id tests).
pub fn gid(type_name: &str, uuid: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{type_name}:{uuid}"))
}

/// Adds `member` (a user id) to `org` with `role`, and to `branch` with `branch_role`, acting as
/// the org's owner through the domain layer (RLS applies: runtime role, tenant context set).
pub async fn add_member(
    app: &TestApp,
    org_gid: &str,
    owner_gid: &str,
    member_gid: &str,
    role: entity::enums::OrgRole,
    branch: Option<(&str, entity::enums::BranchRole)>,
) {
    use mercato::db::rls::apply_settings;
    use mercato::ids::{BranchId, OrgId, UserId};
    use mercato::tenant::{Access, OrgAccess};
    use sea_orm::TransactionTrait;
    let uuid = |g: &str| uuid::Uuid::parse_str(&gid_uuid(g)).unwrap();
    let access = Access {
        user_id: Some(UserId(uuid(owner_gid))),
        org: Some(OrgAccess::member(
            OrgId(uuid(org_gid)),
            entity::enums::OrgRole::Owner,
            Default::default(),
        )),
    };
    let tx = app.state.db.begin().await.unwrap();
    apply_settings(&tx, &mercato::tenant::settings_for(&access))
        .await
        .unwrap();
    let ctx = mercato::domain::Ctx {
        tx: &tx,
        access: &access,
        request_id: Some("test"),
        effects: &Default::default(),
    };
    mercato::domain::members::add(&ctx, UserId(uuid(member_gid)), role)
        .await
        .unwrap();
    if let Some((b, r)) = branch {
        mercato::domain::members::add_to_branch(
            &ctx,
            BranchId(uuid(b)),
            UserId(uuid(member_gid)),
            r,
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
}

impl TestApp {
    /// Logs in with e-mail/password, scoping the token to `org` when given.
    pub async fn log_in(&self, email: &str, org: Option<&str>) -> Value {
        self.gql(
            None,
            "mutation($i: LogInInput!) { logIn(input: $i) { accessToken organization { id } userErrors { field code message } } }",
            json!({ "i": { "email": email, "password": PASSWORD, "organizationId": org } }),
        )
        .await
    }

    /// Signs up a user with a known e-mail (no organization).
    pub async fn sign_up_email(&self, email: &str) -> Session {
        let body = self
            .gql(
                None,
                "mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } userErrors { code message } } }",
                json!({ "i": { "email": email, "password": PASSWORD, "displayName": "Someone" } }),
            )
            .await;
        let p = &body["data"]["signUp"];
        Session {
            token: p["accessToken"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
            user_id: p["user"]["id"].as_str().unwrap().to_owned(),
            org_id: None,
        }
    }

    /// Switches `s` to `org`, returning the new token.
    pub async fn switch(&self, s: &Session, org: &str) -> String {
        let body = self
            .gql(
                Some(&s.token),
                "mutation($i: SwitchOrganizationInput!) { switchOrganization(input: $i) { accessToken userErrors { code message } } }",
                json!({ "i": { "organizationId": org } }),
            )
            .await;
        body["data"]["switchOrganization"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("{body}"))
            .to_owned()
    }
}

/// What a response answers (`data` and `errors`), without `extensions`: the cost counters there
/// depend on timing, so tests that compare two responses compare this.
pub fn answer(body: &Value) -> Value {
    json!({ "data": body["data"], "errors": body["errors"] })
}

/// The `code` extension of the first top-level error.
pub fn first_error_code(body: &Value) -> String {
    body["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Runs SQL as the table owner with a tenant context (forced RLS applies to the owner too).
pub async fn owner_rows(app: &TestApp, org_uuid: &str, sql: &str) -> Vec<String> {
    let owner = app.owner().await;
    rows_as(
        &owner,
        &[("app.org_id", org_uuid), ("app.branch_ids", "*")],
        sql,
    )
    .await
    .unwrap()
}

impl TestApp {
    /// Logs in and returns the whole `logIn` payload (access and refresh tokens).
    pub async fn log_in_full(&self, email: &str) -> Value {
        let body = self
            .gql(
                None,
                "mutation($i: LogInInput!) { logIn(input: $i) { accessToken refreshToken refreshTokenExpiresAt organization { id } userErrors { field code message } } }",
                json!({ "i": { "email": email, "password": PASSWORD } }),
            )
            .await;
        body["data"]["logIn"].clone()
    }

    /// Calls `refreshSession` and returns its payload.
    pub async fn refresh(&self, refresh_token: &str) -> Value {
        let body = self
            .gql(
                None,
                "mutation($i: RefreshSessionInput!) { refreshSession(input: $i) { accessToken refreshToken organization { id } userErrors { field code message } } }",
                json!({ "i": { "refreshToken": refresh_token } }),
            )
            .await;
        body["data"]["refreshSession"].clone()
    }

    /// Adds an existing account to `s`'s organization through GraphQL; returns the payload.
    pub async fn add_member_by_email(
        &self,
        s: &Session,
        email: &str,
        role: &str,
        branch_roles: Value,
    ) -> Value {
        let body = self
            .gql(
                Some(&s.token),
                "mutation($i: AddMemberInput!) { addMember(input: $i) { member { role user { id } } userErrors { field code message } } }",
                json!({ "i": { "email": email, "role": role, "branchRoles": branch_roles } }),
            )
            .await;
        body["data"]["addMember"].clone()
    }

    /// Creates an API token as `s`; returns (token id, secret).
    pub async fn create_api_token(
        &self,
        s: &Session,
        name: &str,
        scopes: &[&str],
        branch_ids: Option<Vec<&str>>,
    ) -> (String, String) {
        let body = self
            .gql(
                Some(&s.token),
                "mutation($i: CreateApiTokenInput!) { createApiToken(input: $i) { apiToken { id } secret userErrors { field code message } } }",
                json!({ "i": { "name": name, "scopes": scopes, "branchIds": branch_ids } }),
            )
            .await;
        let p = &body["data"]["createApiToken"];
        (
            p["apiToken"]["id"]
                .as_str()
                .unwrap_or_else(|| panic!("{body}"))
                .to_owned(),
            p["secret"].as_str().unwrap().to_owned(),
        )
    }
}

/// A user with a known e-mail who joined `owner`'s organization with `role` (and branch roles),
/// logged in with a token scoped to that organization.
pub async fn joined_member(
    app: &TestApp,
    owner: &Session,
    tag: &str,
    role: &str,
    branch_roles: Value,
) -> Session {
    let email = unique_email(tag);
    let s = app.sign_up_email(&email).await;
    let added = app
        .add_member_by_email(owner, &email, role, branch_roles)
        .await;
    assert!(
        added["userErrors"].as_array().is_some_and(|e| e.is_empty()),
        "{added}"
    );
    let org = owner.org_id.clone().unwrap();
    let token = app.switch(&s, &org).await;
    Session {
        token,
        user_id: s.user_id,
        org_id: Some(org),
    }
}

/// Runs a statement as the table owner with a tenant context, and commits it.
pub async fn owner_exec(app: &TestApp, org_uuid: &str, sql: &str) {
    use sea_orm::TransactionTrait;
    let owner = app.owner().await;
    let tx = owner.begin().await.unwrap();
    for (k, v) in [("app.org_id", org_uuid), ("app.branch_ids", "*")] {
        tx.execute_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT set_config($1, $2, true)",
            [k.into(), v.into()],
        ))
        .await
        .unwrap();
    }
    let r = tx
        .execute_raw(Statement::from_string(DbBackend::Postgres, sql))
        .await
        .unwrap();
    assert!(r.rows_affected() > 0, "{sql} changed nothing");
    tx.commit().await.unwrap();
}
