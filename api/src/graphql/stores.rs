//! Stores in GraphQL. Credentials are write-only: only `hasCredentials` and
//! `credentialsUpdatedAt` can be read. Tokens are never readable; only their expiry times, in
//! `Store.health`.

use crate::domain::connections::{self, BeginConnection};
use crate::domain::stores::{self, ConnectStore, Credentials, UpdateStore};
use crate::error::AppError;
use crate::graphql::branches::Branch;
use crate::graphql::relay::{branch_id, store_gid, store_id};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc, some};
use crate::ids::{BranchId, StoreId};
use async_graphql::{Context, Enum, ID, InputObject, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::stores as store_entity;

/// Marketplace of a store.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "Platform", remote = "entity::enums::Platform")]
pub enum PlatformGql {
    /// Shopee.
    Shopee,
    /// TikTok Shop.
    TiktokShop,
    /// Lazada.
    Lazada,
    /// Jumia.
    Jumia,
    /// Kilimall (file import/export).
    Kilimall,
    /// The seller's own storefront.
    Own,
}

/// Lifecycle of a store.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "StoreStatus", remote = "entity::enums::StoreStatus")]
pub enum StoreStatusGql {
    /// Connected.
    Active,
    /// Disconnected, kept for history.
    Archived,
}

/// Whether Mercato can call a store's platform.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "ConnectionStatus", remote = "entity::enums::ConnectionStatus")]
pub enum ConnectionStatusGql {
    /// Authorized, and the last calls succeeded.
    Connected,
    /// Authorized, but recent calls failed (the platform is down or throttling; see `lastError`
    /// and `circuit`). Jobs keep trying.
    Degraded,
    /// The platform refused the store's authorization: the seller must connect it again
    /// (`beginStoreConnection`, or `connectStore` with a new token for Jumia). Its schedules are
    /// paused until then.
    AuthExpired,
    /// Not authorized (never, or disconnected): nothing calls the platform; schedules are paused.
    Disconnected,
    /// The platform has no API (Kilimall, own storefront): data comes by file import or through
    /// Mercato's API.
    FileOnly,
}

/// A store's circuit breaker as a worker last reported it.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(name = "CircuitState", remote = "entity::enums::CircuitState")]
pub enum CircuitStateGql {
    /// Calls flow.
    Closed,
    /// Too many consecutive failures: calls are held back until `circuitOpenUntil`; jobs are
    /// deferred, not failed.
    Open,
    /// One trial call is allowed.
    HalfOpen,
}

/// The last failed platform call of a store (classified; never a token or a signed URL).
#[derive(SimpleObject, Clone, Debug)]
pub struct StoreError {
    /// `AUTH_EXPIRED`, `AUTH_REFUSED`, `RATE_LIMITED`, `UNAVAILABLE`, `REFUSED`,
    /// `INVALID_REQUEST`, `BAD_RESPONSE` or `UNSUPPORTED`.
    pub code: String,
    /// What happened, sanitised.
    pub message: String,
    /// When.
    pub at: DateTime<Utc>,
}

/// How a store's connection to its platform is doing.
#[derive(SimpleObject, Clone, Debug)]
#[graphql(complex)]
pub struct StoreHealth {
    #[graphql(skip)]
    store: StoreId,
    /// Whether Mercato can call the platform.
    pub status: ConnectionStatusGql,
    /// When the current access token expires (TOKEN_REFRESH renews it 15 minutes ahead).
    pub access_token_expires_at: Option<DateTime<Utc>>,
    /// When the refresh token expires, when the platform says (the seller must reconnect
    /// before then).
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// When the store was last authorized.
    pub connected_at: Option<DateTime<Utc>>,
    /// Last successful platform call.
    pub last_success_at: Option<DateTime<Utc>>,
    /// Last failed platform call.
    pub last_error: Option<StoreError>,
    /// The store's circuit breaker.
    pub circuit: CircuitStateGql,
    /// Until when an open breaker holds calls back.
    pub circuit_open_until: Option<DateTime<Utc>>,
    /// When the seller's authorization ends, as the platform announced in an expiry notice
    /// (reconnect the store before then).
    pub authorization_expires_at: Option<DateTime<Utc>>,
}

#[async_graphql::ComplexObject]
impl StoreHealth {
    /// The store's marketplace pushes over the last 7 days: arrived, duplicates, stale, failed,
    /// dead, and the last arrival.
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<crate::graphql::webhooks::WebhookHealth> {
        crate::graphql::webhooks::health(ctx, self.store).await
    }
}

/// A connected marketplace account.
#[derive(Clone)]
pub struct Store(pub store_entity::Model);

impl Store {
    /// The store as a directly rendered page shows it (see [`crate::graphql::direct`]): its own
    /// columns only; `health`, `branch` and the rest go to the executor.
    pub(crate) fn render<'a>(
        &self,
        env: crate::graphql::direct::Env<'a>,
        field: &'a async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> Option<async_graphql::Value> {
        use crate::graphql::direct::scalar;
        use async_graphql::Value;
        use async_graphql::resolver_utils::enum_value;
        let s = &self.0;
        env.object::<Store>(&field.node.selection_set.node, |f| {
            Some(match f.node.name.node.as_str() {
                "id" => scalar(&store_gid(StoreId(s.id))),
                "name" => Value::String(s.name.clone()),
                "platform" => enum_value(PlatformGql::from(s.platform)),
                "externalShopId" => Value::String(s.external_shop_id.clone()),
                "region" => Value::String(s.region.clone()),
                "currency" => Value::String(s.currency.clone()),
                "status" => enum_value(StoreStatusGql::from(s.status)),
                "connection" => enum_value(ConnectionStatusGql::from(s.connection)),
                _ => return None,
            })
        })
    }
}

/// A connected marketplace account.
#[Object]
impl Store {
    /// Global id.
    pub async fn id(&self) -> ID {
        store_gid(StoreId(self.0.id))
    }
    /// Display name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Marketplace.
    async fn platform(&self) -> PlatformGql {
        self.0.platform.into()
    }
    /// The shop's id on the marketplace.
    async fn external_shop_id(&self) -> &str {
        &self.0.external_shop_id
    }
    /// ISO 3166-1 alpha-2 region.
    async fn region(&self) -> &str {
        &self.0.region
    }
    /// ISO 4217 currency of the shop.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    /// Lifecycle.
    async fn status(&self) -> StoreStatusGql {
        self.0.status.into()
    }
    /// Whether Mercato can call the store's platform (details in `health`).
    async fn connection(&self) -> ConnectionStatusGql {
        self.0.connection.into()
    }
    /// Connection health: status, token expiry, last success and error, circuit breaker.
    async fn health(&self, ctx: &Context<'_>) -> Result<StoreHealth> {
        let s = &self.0;
        let expiry = rc(ctx)?.token_expiries.load_one(StoreId(s.id)).await?;
        let last_error = match (&s.last_error_code, &s.last_error_message, s.last_error_at) {
            (Some(code), message, Some(at)) => Some(StoreError {
                code: code.clone(),
                message: message.clone().unwrap_or_default(),
                at: at.to_utc(),
            }),
            _ => None,
        };
        Ok(StoreHealth {
            store: StoreId(s.id),
            authorization_expires_at: s.authorization_expires_at.map(|t| t.to_utc()),
            status: s.connection.into(),
            access_token_expires_at: expiry.map(|e| e.0),
            refresh_token_expires_at: expiry.and_then(|e| e.1),
            connected_at: s.connected_at.map(|t| t.to_utc()),
            last_success_at: s.last_success_at.map(|t| t.to_utc()),
            last_error,
            circuit: s.circuit.into(),
            circuit_open_until: s.circuit_open_until.map(|t| t.to_utc()),
        })
    }
    /// Whether credentials are stored (they are never returned).
    async fn has_credentials(&self) -> bool {
        self.0.credentials.is_some()
    }
    /// When credentials were last written.
    async fn credentials_updated_at(&self) -> Option<DateTime<Utc>> {
        self.0.credentials_updated_at.map(|t| t.to_utc())
    }
    /// When the store was archived.
    async fn archived_at(&self) -> Option<DateTime<Utc>> {
        self.0.archived_at.map(|t| t.to_utc())
    }
    /// Creation time.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
    /// Last change.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at.to_utc()
    }
    /// The owning branch.
    async fn branch(&self, ctx: &Context<'_>) -> Result<Branch> {
        let b = rc(ctx)?
            .branches
            .load_one(BranchId(self.0.branch_id))
            .await?;
        b.map(Branch)
            .ok_or_else(|| AppError::NotFound("Branch").into())
    }
}

/// Input of `connectStore`. Shopee, TikTok Shop and Lazada are authorized on the platform's own
/// page (`beginStoreConnection`); a store of theirs registered here starts DISCONNECTED until
/// then. Jumia is authorized here: `credentials` holds `{ "refreshToken": … }` of a Self
/// Authorization app (Vendor Center → Settings → Applications), checked with Jumia before the store
/// is saved (the shop id comes from Jumia; connecting the same shop again re-authorizes it).
/// Kilimall and the own storefront have no API (FILE_ONLY).
#[derive(InputObject)]
pub struct ConnectStoreInput {
    /// Owning branch.
    pub branch_id: ID,
    /// Marketplace.
    pub platform: PlatformGql,
    /// The shop's id on the marketplace (unique per platform in the organization).
    pub external_shop_id: String,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 region, e.g. `MY`.
    pub region: String,
    /// ISO 4217 currency, e.g. `MYR`.
    pub currency: String,
    /// Marketplace credentials: a flat JSON object of strings. Encrypted at rest, never returned.
    #[graphql(secret)]
    pub credentials: Option<Json<serde_json::Value>>,
}

/// Input of `updateStore`; omitted fields are unchanged.
#[derive(InputObject)]
pub struct UpdateStoreInput {
    /// The store.
    pub id: ID,
    /// New name.
    pub name: Option<String>,
    /// Move to this branch.
    pub branch_id: Option<ID>,
    /// Replace the credentials.
    #[graphql(secret)]
    pub credentials: Option<Json<serde_json::Value>>,
}

/// Input of `archiveStore`.
#[derive(InputObject)]
pub struct ArchiveStoreInput {
    /// The store.
    pub id: ID,
}

/// Input of `disconnectStore`.
#[derive(InputObject)]
pub struct DisconnectStoreInput {
    /// The store.
    pub id: ID,
}

/// Input of `beginStoreConnection`.
#[derive(InputObject)]
pub struct BeginStoreConnectionInput {
    /// The branch the store joins (when the shop is already a store of the organization, that
    /// store is re-authorized where it is).
    pub branch_id: ID,
    /// SHOPEE, TIKTOK_SHOP or LAZADA.
    pub platform: PlatformGql,
    /// ISO 3166-1 alpha-2 region of the shop, e.g. `MY` (used when the platform does not say).
    pub region: String,
    /// Where the seller's browser returns after the platform: must start with one of the
    /// server's allowed return URLs (`MERCATO_CONNECT_RETURN_URLS`). Mercato appends `result`
    /// (`CONNECTED`, `RECONNECTED`, `ACCESS_DENIED`, `AUTH_FAILED`, `PLATFORM_ERROR`,
    /// `SHOP_CONNECTED_ELSEWHERE`, `FORBIDDEN`, `PLATFORM_NOT_CONFIGURED`) and, on success,
    /// `storeId`.
    pub return_url: String,
}

/// Result of `beginStoreConnection`.
#[derive(SimpleObject)]
pub struct BeginStoreConnectionPayload {
    /// Open this in the seller's browser: the platform's page where they approve Mercato. Its
    /// `state` is single use.
    pub authorization_url: Option<String>,
    /// When the link stops working (10 minutes).
    pub expires_at: Option<DateTime<Utc>>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of store mutations.
#[derive(SimpleObject)]
pub struct StorePayload {
    /// The store, on success.
    pub store: Option<Store>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

fn creds(
    field: &str,
    v: Option<Json<serde_json::Value>>,
) -> crate::error::AppResult<Option<Credentials>> {
    v.map(|Json(v)| Credentials::parse(field, v)).transpose()
}

/// Store mutations (OWNER/ADMIN, or MANAGER of the store's branch).
#[derive(Default)]
pub struct StoresMutation;

#[Object]
impl StoresMutation {
    /// Connects a marketplace account to a branch.
    async fn connect_store(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ConnectStoreInput,
    ) -> Result<Option<StorePayload>> {
        some(async {
            let state = rc(ctx)?.state.clone();
            let cipher = state.cipher.clone();
            let jumia = state.marketplaces.get(entity::enums::Platform::Jumia);
            let (store, user_errors) = mutate(ctx, async |c| {
                let branch = branch_id(&input.branch_id)
                    .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
                let connect = ConnectStore {
                    branch_id: branch,
                    platform: input.platform.into(),
                    external_shop_id: input.external_shop_id,
                    name: input.name,
                    region: input.region,
                    currency: input.currency,
                    credentials: creds("input.credentials", input.credentials)?,
                };
                stores::connect(&c, &cipher, connect, jumia.as_deref()).await
            })
            .await?;
            Ok(StorePayload {
                store: store.map(Store),
                user_errors,
            })
        })
        .await
    }

    /// Renames a store, moves it to another branch, or replaces its credentials.
    async fn update_store(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateStoreInput,
    ) -> Result<Option<StorePayload>> {
        some(async {
            let cipher = rc(ctx)?.state.cipher.clone();
            let (store, user_errors) = mutate(ctx, async |c| {
                let id = store_id(&input.id)?;
                let branch = input
                    .branch_id
                    .as_ref()
                    .map(branch_id)
                    .transpose()
                    .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
                let update = UpdateStore {
                    name: input.name,
                    branch_id: branch,
                    credentials: creds("input.credentials", input.credentials)?,
                };
                stores::update(&c, &cipher, id, update).await
            })
            .await?;
            Ok(StorePayload {
                store: store.map(Store),
                user_errors,
            })
        })
        .await
    }

    /// Starts connecting a Shopee, TikTok Shop or Lazada shop: returns the platform's page where
    /// the seller approves Mercato. The platform then sends the browser to
    /// `/connect/{platform}/callback`, which creates the store (or re-authorizes the same shop)
    /// and returns the browser to `returnUrl`. OWNER/ADMIN, or MANAGER of the branch.
    async fn begin_store_connection(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: BeginStoreConnectionInput,
    ) -> Result<Option<BeginStoreConnectionPayload>> {
        some(async {
            let state = rc(ctx)?.state.clone();
            let (began, user_errors) = mutate(ctx, async |c| {
                let branch = branch_id(&input.branch_id)
                    .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
                connections::begin(
                    &c,
                    &state.marketplaces,
                    &state.config.marketplaces,
                    BeginConnection {
                        branch_id: branch,
                        platform: input.platform.into(),
                        region: input.region,
                        return_url: input.return_url,
                    },
                )
                .await
            })
            .await?;
            Ok(BeginStoreConnectionPayload {
                authorization_url: began.as_ref().map(|b| b.authorization_url.clone()),
                expires_at: began.map(|b| b.expires_at),
                user_errors,
            })
        })
        .await
    }

    /// Disconnects a store: its tokens are erased, its schedules paused, its history (orders,
    /// sync runs, listings) kept, and the shop released. Connect it again to resume.
    async fn disconnect_store(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: DisconnectStoreInput,
    ) -> Result<Option<StorePayload>> {
        some(async {
            let (store, user_errors) = mutate(ctx, async |c| match store_id(&input.id) {
                Ok(id) => connections::disconnect(&c, id).await,
                Err(e) => Err(e),
            })
            .await?;
            Ok(StorePayload {
                store: store.map(Store),
                user_errors,
            })
        })
        .await
    }

    /// Archives a store: syncing stops and its credentials are erased.
    async fn archive_store(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ArchiveStoreInput,
    ) -> Result<Option<StorePayload>> {
        some(async {
            let (store, user_errors) = mutate(ctx, async |c| match store_id(&input.id) {
                Ok(id) => stores::archive(&c, id).await,
                Err(e) => Err(e),
            })
            .await?;
            Ok(StorePayload {
                store: store.map(Store),
                user_errors,
            })
        })
        .await
    }
}
