//! The GraphQL schema: thin resolvers per domain that read the request context, call the domain
//! layer and map rows to GraphQL types. Conventions (DESIGN §6): Relay ids and connections,
//! mutations with one `input` and a payload with `userErrors`, errors with stable codes.

pub mod access;
pub mod accounts;
pub mod branches;
pub mod catalog;
pub mod cost;
pub mod direct;
pub mod import;
pub mod listings;
pub mod loaders;
pub mod nulls;
pub mod orders;
pub mod organizations;
pub mod relay;
pub mod scalars;
pub mod stock;
pub mod stores;
pub mod subscriptions;
pub mod sync;
pub mod user_errors;
pub mod webhooks;

use crate::domain::Ctx;
use crate::error::AppError;
use crate::state::AppState;
use crate::tenant::{Savepoint, TenantTx, TxGuard};
use async_graphql::dataloader::{DataLoader, HashMapCache};
use async_graphql::{Context, MergedObject, Schema};
use cost::CostExtension;
use std::sync::Arc;
use tracing::Instrument as _;

/// Root query.
#[derive(MergedObject, Default)]
pub struct Query(
    accounts::AccountsQuery,
    organizations::OrganizationsQuery,
    relay::NodeQuery,
    catalog::CatalogQuery,
    stock::StockQuery,
    listings::ListingQuery,
    orders::OrderQuery,
    sync::SyncQuery,
    webhooks::WebhookQuery,
);

/// Root mutation.
#[derive(MergedObject, Default)]
pub struct Mutation(
    accounts::AccountsMutation,
    organizations::OrganizationsMutation,
    access::AccessMutation,
    branches::BranchesMutation,
    stores::StoresMutation,
    catalog::CatalogMutation,
    stock::StockMutation,
    listings::ListingMutation,
    listings::ListingLinkMutation,
    orders::OrderMutation,
    import::ImportMutation,
    sync::SyncMutation,
    webhooks::WebhookMutation,
);

/// The schema type.
pub type MercatoSchema = Schema<Query, Mutation, subscriptions::Subscription>;

/// The `DateTime` scalar's description (it is both an input and an output type).
const DATE_TIME: &str = "A point in time: an RFC 3339 string in UTC with up to microseconds, e.g. \
     `2026-11-30T16:05:00.123456Z` (input may carry any offset).";

/// The schema with its limits, without per-request data.
pub fn build_schema(state: Option<AppState>) -> MercatoSchema {
    let limits = state
        .as_ref()
        .map(|s| s.config.limits.clone())
        .unwrap_or_default();
    // Checked documents, shared by the guard extension and the HTTP path (which checks before
    // the schema sees a request): schema data, so `HttpState` reaches it through the schema.
    let documents = crate::limits::guard::Documents::default();
    let mut builder = Schema::build(
        Query::default(),
        Mutation::default(),
        subscriptions::Subscription,
    )
    // Backstops; the cost extension refuses earlier, with typed codes (its depth limit exempts
    // introspection, which async-graphql's does not, so this one is only the guard's bound).
    .limit_depth(crate::limits::guard::MAX_NESTING)
    .limit_recursive_depth(64)
    .limit_directives(limits.max_directives)
    .extension(CostExtension {
        limiter: state.as_ref().map(|s| s.cost.clone()),
        max_depth: limits.max_depth,
        max_aliases: limits.max_aliases,
    })
    // Registered after the cost extension so that it sits inside it: validation errors are
    // masked, cost refusals are not.
    .extension(crate::limits::guard::GuardExtension {
        max_selections: limits.max_selections,
        private_schema: !limits.introspection,
        documents: documents.clone(),
    })
    .extension(nulls::NullPropagation)
    // Descriptions async-graphql does not take from our doc comments: built-in scalars (its own
    // text names Rust types) and the generated connection types.
    .override_output_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
    .override_input_type_description::<chrono::DateTime<chrono::Utc>>(DATE_TIME)
    .override_output_type_description::<async_graphql::Json<serde_json::Value>>(
        "Any JSON value (objects for attributes and raw marketplace payloads).",
    )
    .override_input_type_description::<async_graphql::Upload>(
        "A file sent with the GraphQL multipart request spec (`multipart/form-data`).",
    );
    builder = connection_descriptions(builder);
    if !limits.introspection {
        builder = builder.disable_introspection();
    }
    if !limits.field_suggestions {
        builder = builder.disable_suggestions();
    }
    if let Some(state) = state {
        builder = builder.data(state);
    }
    builder.data(documents).finish()
}

/// Describes each connection type (async-graphql generates them without a description).
fn connection_descriptions(
    b: async_graphql::SchemaBuilder<Query, Mutation, subscriptions::Subscription>,
) -> async_graphql::SchemaBuilder<Query, Mutation, subscriptions::Subscription> {
    use relay::Conn;
    macro_rules! describe {
        ($b:expr, $($t:ty => $what:literal),* $(,)?) => {
            $b$(.override_output_type_description::<$t>(concat!(
                "A page of ", $what, " (Relay connection): `edges` with cursors or `nodes`, ",
                "`pageInfo`, and `totalCount` for the whole list."
            )))*
        };
    }
    describe!(b,
        Conn<access::ApiToken> => "API tokens",
        Conn<branches::Branch> => "branches",
        Conn<sync::Job> => "jobs",
        Conn<listings::Listing> => "listings",
        Conn<organizations::Member> => "members",
        Conn<catalog::Product> => "products",
        Conn<stock::StockMovement> => "ledger rows",
        Conn<stores::Store> => "stores",
        Conn<sync::SyncItem> => "sync items",
        Conn<sync::SyncLog> => "sync log lines",
        Conn<sync::SyncRun> => "sync runs",
        Conn<sync::SyncSchedule> => "sync schedules",
        Conn<webhooks::WebhookEvent> => "marketplace pushes",
        async_graphql::connection::Connection<String, orders::Order, orders::OrderPageInfo> => "orders",
    )
}

/// The schema in SDL, as committed in `schema.graphql`.
pub fn sdl() -> String {
    build_schema(None).sdl()
}

/// Everything a resolver needs about the current HTTP request.
pub struct RequestCtx {
    /// Shared services.
    pub state: AppState,
    /// The operation's tenant transaction.
    pub tenant: Arc<TenantTx>,
    /// Request id (also in logs and error responses).
    pub request_id: Option<String>,
    /// Batches branch look-ups.
    pub branches: DataLoader<loaders::BranchLoader>,
    /// Batches user look-ups.
    pub users: DataLoader<loaders::UserLoader>,
    /// Variants of products (cached for the request, so a prefetched page is not loaded twice).
    pub variants: DataLoader<loaders::VariantsByProduct, HashMapCache>,
    /// Prices of variants.
    pub prices: DataLoader<loaders::PricesByVariant, HashMapCache>,
    /// Cost history of variants.
    pub costs: DataLoader<loaders::CostsByVariant>,
    /// Stock levels of variants.
    pub levels: DataLoader<loaders::LevelsByVariant, HashMapCache>,
    /// Token expiry times of stores.
    pub token_expiries: DataLoader<loaders::TokenExpiryLoader>,
    /// Stores by id.
    pub stores: DataLoader<loaders::StoreLoader, HashMapCache>,
    /// Lines of orders.
    pub order_items: DataLoader<loaders::ItemsByOrder, HashMapCache>,
    /// History of orders.
    pub order_events: DataLoader<loaders::EventsByOrder>,
    /// Variants by id.
    pub variants_by_id:
        DataLoader<loaders::ById<crate::domain::products::VariantRow>, HashMapCache>,
    /// Listings by id.
    pub listings_by_id:
        DataLoader<loaders::ById<crate::domain::listings::ListingRow>, HashMapCache>,
    /// Key of the caller's rate and cost buckets (principal, or client IP when anonymous).
    pub limit_key: String,
    /// The client's address (after trusted proxies), when the request came over HTTP.
    pub client_ip: Option<std::net::IpAddr>,
}

impl RequestCtx {
    /// Context for one operation.
    pub fn new(
        state: AppState,
        tenant: Arc<TenantTx>,
        request_id: Option<String>,
        limit_key: String,
    ) -> Self {
        // Only read-only operations use the cache: a mutation reads its own uncommitted rows.
        let catalog_cache = tenant.is_read_only().then(|| {
            Arc::new(crate::cache::CatalogCache::new(
                state.redis_guard.clone(),
                state.keys.clone(),
                state.config.catalog_cache_ttl,
            ))
        });
        Self {
            limit_key,
            client_ip: None,
            branches: DataLoader::new(loaders::BranchLoader(tenant.clone()), tokio::spawn),
            users: DataLoader::new(loaders::UserLoader(tenant.clone()), tokio::spawn),
            token_expiries: DataLoader::new(
                loaders::TokenExpiryLoader(tenant.clone()),
                tokio::spawn,
            ),
            variants: DataLoader::with_cache(
                loaders::Grouped::new(tenant.clone()).cached(catalog_cache.clone(), "variants"),
                tokio::spawn,
                HashMapCache::default(),
            ),
            prices: DataLoader::with_cache(
                loaders::Grouped::new(tenant.clone()).cached(catalog_cache, "prices"),
                tokio::spawn,
                HashMapCache::default(),
            ),
            costs: DataLoader::new(loaders::Grouped::new(tenant.clone()), tokio::spawn),
            stores: DataLoader::with_cache(
                loaders::StoreLoader(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            order_items: DataLoader::with_cache(
                loaders::Grouped::new(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            order_events: DataLoader::new(loaders::Grouped::new(tenant.clone()), tokio::spawn),
            variants_by_id: DataLoader::with_cache(
                loaders::ById::new(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            listings_by_id: DataLoader::with_cache(
                loaders::ById::new(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            levels: DataLoader::with_cache(
                loaders::Grouped::new(tenant.clone()),
                tokio::spawn,
                HashMapCache::default(),
            ),
            state,
            tenant,
            request_id,
        }
    }

    /// Key of the caller's cost bucket.
    pub fn limit_key(&self) -> String {
        self.limit_key.clone()
    }

    /// Domain context over a read guard.
    pub fn read<'a>(&'a self, guard: &'a TxGuard<'_>) -> Ctx<'a> {
        Ctx {
            tx: guard,
            access: &guard.access,
            request_id: self.request_id.as_deref(),
            effects: self.tenant.effects(),
        }
    }

    /// Domain context over a mutation's savepoint.
    pub fn write<'a>(&'a self, sp: &'a Savepoint<'_>) -> Ctx<'a> {
        Ctx {
            tx: sp,
            access: &sp.access,
            request_id: self.request_id.as_deref(),
            effects: &sp.effects,
        }
    }
}

/// The request context of a resolver.
pub fn rc<'a>(ctx: &Context<'a>) -> Result<&'a RequestCtx, AppError> {
    ctx.data::<RequestCtx>()
        .map_err(|_| AppError::internal("request context missing"))
}

/// Runs a read on the request's tenant transaction (opened on first use).
pub async fn read<T>(
    ctx: &Context<'_>,
    f: impl for<'c> AsyncFnOnce(Ctx<'c>) -> crate::error::AppResult<T>,
) -> async_graphql::Result<T> {
    let rc = rc(ctx)?;
    let span = tracing::debug_span!("domain", field = ctx.field().name());
    let guard = rc.tenant.lock().instrument(span.clone()).await?;
    Ok(f(rc.read(&guard)).instrument(span).await?)
}

/// A mutation's payload as the schema gives it: nullable, as Relay and Shopify have it, so that
/// a mutation refused with a top-level error (FORBIDDEN, RATE_LIMITED, …) nulls its own field
/// and not the results of the other mutations of the same request, which did commit.
pub async fn some<T>(
    payload: impl Future<Output = async_graphql::Result<T>>,
) -> async_graphql::Result<Option<T>> {
    payload.await.map(Some)
}

/// Runs one mutation in its own savepoint: kept if `f` succeeds, rolled back if it fails. Expected
/// failures come back as `userErrors`; others (FORBIDDEN, INTERNAL, …) as top-level errors.
pub async fn mutate<T>(
    ctx: &Context<'_>,
    f: impl for<'c> AsyncFnOnce(Ctx<'c>) -> crate::error::AppResult<T>,
) -> async_graphql::Result<(Option<T>, Vec<user_errors::UserError>)> {
    let rc = rc(ctx)?;
    let span = tracing::debug_span!("domain", field = ctx.field().name());
    let sp = rc.tenant.savepoint().instrument(span.clone()).await?;
    let r = f(rc.write(&sp)).instrument(span).await;
    user_errors::split(sp.finish(r).await)
}
