//! Subscriptions over `/graphql/ws`. The connection is authenticated in `connection_init`; the
//! `Principal` it proved is in the subscription's data. Each subscription resolves the caller's
//! access the way a request does (membership, branch roles, token scopes) and filters what the
//! Redis fan-out ([`crate::events`]) delivers by organization and visible branches, re-checking
//! the access every 30 seconds so a removed member stops receiving.

use crate::auth::Principal;
use crate::auth::permissions::Perm;
use crate::domain::connections::StoreAlertEvent;
use crate::domain::inventory::{self, StockAlertEvent};
use crate::domain::jobs::SyncRunRow;
use crate::error::AppError;
use crate::graphql::relay::{branch_gid, location_gid, org_gid, user_gid, variant_gid};
use crate::graphql::sync::{SyncRunState, sees_branch};
use crate::ids::{BranchId, LocationId, StoreId, VariantId};
use crate::keys::Topic;
use crate::state::AppState;
use crate::tenant::{Access, Outcome, TenantTx};
use async_graphql::{Context, Enum, ID, Result, SimpleObject, Subscription};
use chrono::{DateTime, Utc};
use futures::Stream;
use prometheus_client::metrics::counter::Counter;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Caps the subscriptions open at once on one WebSocket; each subscription holds a permit for as
/// long as its stream lives.
#[derive(Clone)]
pub struct SocketSlots(pub Arc<Semaphore>);

/// Takes a subscription slot of this socket, or fails with TOO_MANY_SUBSCRIPTIONS.
fn acquire_slot(ctx: &Context<'_>) -> Result<Slot> {
    let permit = match ctx.data::<SocketSlots>() {
        Err(_) => None,
        Ok(slots) => match slots.0.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => return Err(AppError::TooManySubscriptions.into()),
        },
    };
    let open = crate::metrics::Raised::new(&crate::metrics::get().ws_subscriptions);
    Ok(Slot {
        _permit: permit,
        _open: open,
    })
}

/// A subscription's place on its socket (and in the open-subscriptions gauge) while it lives:
/// held, never read, released when dropped.
pub struct Slot {
    _permit: Option<OwnedSemaphorePermit>,
    _open: crate::metrics::Raised,
}

/// Counts each event `s` delivers under `topic`.
fn counted<S: Stream>(topic: &'static str, s: S) -> impl Stream<Item = S::Item> {
    use futures::StreamExt as _;
    let delivered = crate::metrics::get()
        .events_delivered
        .get_or_create(&crate::metrics::TopicLabels { topic })
        .clone();
    s.inspect(move |_| {
        delivered.inc();
    })
}

/// A store's connection changed.
#[derive(SimpleObject, Clone)]
pub struct StoreAlert {
    /// The store.
    pub store_id: ID,
    /// Its connection now (`AUTH_EXPIRED`: the seller must connect it again).
    pub connection: crate::graphql::stores::ConnectionStatusGql,
    /// The last error's code, when the change came from one.
    pub code: Option<String>,
    /// The last error's message (sanitised).
    pub message: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

/// A periodic tick for the authenticated subscriber.
#[derive(SimpleObject, Clone)]
pub struct Heartbeat {
    /// Sequence number, from 1.
    pub seq: i32,
    /// Server time.
    pub at: DateTime<Utc>,
    /// The subscribing user (null for an API token).
    pub user_id: Option<ID>,
    /// The organization the subscriber's token is scoped to.
    pub organization_id: Option<ID>,
}

/// Whether an alert opened or resolved.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "crate::domain::inventory::AlertState")]
pub enum AlertState {
    /// Available fell to the reorder point.
    Open,
    /// Stock recovered.
    Resolved,
}

/// What an inventory alert is about.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum AlertKind {
    /// Available fell to a level's reorder point.
    LowStock,
    /// Order lines sell a seller SKU that no variant has, so their stock is not held: create the
    /// variant (or fix the SKU on the marketplace) and the lines link and allocate.
    UnlinkedSku,
}

impl From<inventory::AlertKind> for AlertKind {
    fn from(k: inventory::AlertKind) -> Self {
        match k {
            inventory::AlertKind::LowStock => Self::LowStock,
            inventory::AlertKind::UnlinkedSku => Self::UnlinkedSku,
        }
    }
}

/// An inventory alert opening or resolving: low stock at a location, or order lines in a branch
/// selling a seller SKU the catalog does not have.
#[derive(SimpleObject, Clone)]
pub struct InventoryAlert {
    /// Global id of the alert: the same while it is open and when it resolves, so a client
    /// cache updates one object (`node(id:)` gives its state now).
    #[graphql(owned)]
    pub id: ID,
    /// LOW_STOCK or UNLINKED_SKU.
    pub kind: AlertKind,
    /// OPEN (available fell to the reorder point / a line sells an unknown SKU) or RESOLVED
    /// (stock recovered / a variant with that SKU appeared).
    pub state: AlertState,
    /// Variant (LOW_STOCK).
    pub variant_id: Option<ID>,
    /// Location (LOW_STOCK).
    pub location_id: Option<ID>,
    /// The seller SKU no variant has (UNLINKED_SKU).
    pub seller_sku: Option<String>,
    /// Branch of the location, or of the order lines.
    pub branch_id: ID,
    /// Available quantity at that moment (LOW_STOCK).
    pub available: Option<i64>,
    /// The reorder point (LOW_STOCK).
    pub reorder_point: Option<i64>,
    /// When.
    pub at: DateTime<Utc>,
}

/// The caller's organization access now, resolved as for a request.
async fn current_access(state: &AppState, principal: &Principal) -> Result<Arc<Access>> {
    let tenant = TenantTx::new(state.db.clone(), Some(principal.clone()), true);
    let access = tenant.lock().await?.access.clone();
    tenant.finish(Outcome::Rollback).await?;
    Ok(access)
}

/// What a subscription does when it falls behind the process's event buffer (the broadcast ring
/// of [`crate::events`], `EVENT_BUFFER` events): its bounded queue overflowed.
#[derive(Clone, Copy, PartialEq, Eq)]
enum OnLag {
    /// Progress: each event carries the whole state, so skipping to the newest ones collapses a
    /// burst into its latest state (every run's last state still arrives).
    Collapse,
    /// Anything else: end the subscription with the error SUBSCRIBER_LAGGED (never a silent
    /// gap); resubscribing starts again from the current state.
    End,
}

/// Resolves the subscriber's access again (see [`rechecks`]).
type Recheck = Box<dyn Fn() -> futures::future::BoxFuture<'static, Result<Arc<Access>>> + Send>;

/// The subscriber's access resolved again as for a request.
fn rechecks(state: AppState, principal: Principal) -> Recheck {
    Box::new(move || {
        let (state, principal) = (state.clone(), principal.clone());
        Box::pin(async move { current_access(&state, &principal).await })
    })
}

/// A channel event as `T` (shared by every subscription reading it), with the subscriber's access
/// as of then and the event's sequence number.
type Delivered<T> = (Arc<T>, Arc<Access>, u64);

/// The events of one organization channel as `T`, each with the subscriber's access as of then
/// (re-checked every 30 seconds, so a removed member stops receiving): ends when the access is
/// lost or the hub closes, or with SUBSCRIBER_LAGGED (see [`OnLag`]). Unparsable payloads and
/// other channels are skipped.
fn channel_events<T: serde::de::DeserializeOwned + Send + Sync + 'static>(
    recheck: Recheck,
    access: Arc<Access>,
    mut rx: broadcast::Receiver<Arc<crate::events::Event>>,
    channel: String,
    what: &'static str,
    on_lag: OnLag,
) -> impl Stream<Item = std::result::Result<Delivered<T>, AppError>> {
    async_stream::stream! {
        let mut access = access;
        let mut checked = tokio::time::Instant::now();
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    crate::metrics::get().subscriber_lagged(what, on_lag == OnLag::Collapse);
                    if on_lag == OnLag::Collapse {
                        tracing::debug!(skipped = n, subscription = what, "subscriber collapsed a burst");
                        continue;
                    }
                    tracing::warn!(missed = n, subscription = what, "subscriber lagged; ending it");
                    yield Err(AppError::Limit {
                        code: "SUBSCRIBER_LAGGED",
                        message: format!(
                            "this subscription fell {n} events behind and was ended so that no event goes missing unnoticed; subscribe again (it starts from the current state)"
                        ),
                    });
                    break;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if event.channel != channel {
                continue;
            }
            let Some(item) = event.read::<T>() else {
                continue;
            };
            if checked.elapsed() > Duration::from_secs(30) {
                match recheck().await {
                    Ok(a) => access = a,
                    Err(_) => break,
                }
                checked = tokio::time::Instant::now();
            }
            yield Ok((item, access.clone(), event.seq));
        }
    }
}

/// Alerts open now, in the branches the caller sees (row-level security filters them).
async fn open_alerts(
    state: &AppState,
    principal: &Principal,
    only: Option<BranchId>,
) -> Result<Vec<InventoryAlert>> {
    let rows = read_as(state, principal, async |c| {
        crate::domain::inventory::open_alerts(&c, only).await
    })
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| InventoryAlert::from_row(r, None))
        .collect())
}

impl InventoryAlert {
    /// An alert row as the API shows it: OPEN, or RESOLVED at `resolved_at`.
    pub fn from_row(
        r: crate::domain::inventory::OpenAlert,
        resolved_at: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Self {
        InventoryAlert {
            id: crate::graphql::relay::encode_id("InventoryAlert", r.id),
            kind: if r.kind == "UNLINKED_SKU" {
                AlertKind::UnlinkedSku
            } else {
                AlertKind::LowStock
            },
            state: if resolved_at.is_some() {
                AlertState::Resolved
            } else {
                AlertState::Open
            },
            variant_id: r.variant_id.map(|v| variant_gid(VariantId(v))),
            location_id: r.location_id.map(|l| location_gid(LocationId(l))),
            seller_sku: r.seller_sku,
            branch_id: branch_gid(BranchId(r.branch_id)),
            available: r.available,
            reorder_point: r.reorder_point,
            at: resolved_at.unwrap_or(r.created_at),
        }
    }
}

/// May this access see inventory of `branch`?
fn sees(access: &Access, branch: BranchId) -> bool {
    access.org.as_ref().is_some_and(|o| {
        o.allows(Perm::InventoryRead)
            && (o.all_branches() || o.visible_branches().contains(&branch))
    })
}

/// Sync runs visible to `principal` now: `id` alone, or the unfinished runs of `store`.
async fn current_runs(
    state: &AppState,
    principal: &Principal,
    id: Option<uuid::Uuid>,
    store: Option<StoreId>,
) -> Result<Vec<SyncRunRow>> {
    let rows = read_as(state, principal, async |c| {
        crate::domain::sync::current_runs(&c, id, store).await
    })
    .await?;
    if id.is_some() && rows.is_empty() {
        return Err(AppError::NotFound("SyncRun").into());
    }
    Ok(rows)
}

/// Runs one read for `principal` in a read-only tenant transaction of its own (a subscription
/// outlives any request's transaction), then rolls it back.
async fn read_as<T>(
    state: &AppState,
    principal: &Principal,
    f: impl for<'c> AsyncFnOnce(crate::domain::Ctx<'c>) -> crate::error::AppResult<T>,
) -> Result<T> {
    let tenant = TenantTx::new(state.db.clone(), Some(principal.clone()), true);
    let out = {
        let tx = tenant.lock().await?;
        let effects = crate::effects::Effects::default();
        f(crate::domain::Ctx {
            tx: &tx,
            access: &tx.access,
            request_id: None,
            effects: &effects,
        })
        .await
    };
    tenant.finish(Outcome::Rollback).await?;
    Ok(out?)
}

/// The subscriber of an organization subscription: authenticated, and allowed `perm`.
async fn subscriber(
    ctx: &Context<'_>,
    perm: Perm,
) -> Result<(Principal, AppState, Arc<Access>, crate::ids::OrgId)> {
    let principal = ctx
        .data::<Principal>()
        .map_err(|_| AppError::Unauthenticated)?
        .clone();
    let state = ctx.data::<AppState>()?.clone();
    let access = current_access(&state, &principal).await?;
    let org = access.org()?;
    org.require(perm)?;
    let org_id = org.org_id;
    Ok((principal, state, access, org_id))
}

/// The subscriber of a sync subscription: authenticated, with sync read access.
async fn sync_subscriber(
    ctx: &Context<'_>,
) -> Result<(Principal, AppState, Arc<Access>, crate::ids::OrgId)> {
    subscriber(ctx, Perm::SyncRead).await
}

/// Rendered results of live events, shared by the subscriptions that asked for the same thing:
/// keyed by the event and the subscription's [`Shape`], the most recent [`MEMO_ENTRIES`] kept.
/// The first subscription to reach a key renders it while the others wait for that result, so
/// each (event, shape) is rendered once however the subscriptions interleave.
struct Memo {
    cells: HashMap<MemoKey, Arc<tokio::sync::OnceCell<Arc<Rendered>>>>,
    order: std::collections::VecDeque<MemoKey>,
}

/// One live event rendered for one [`Shape`]: the value, and the JSON of the message payload
/// carrying it, written by the first socket to send it and then copied by every other.
pub struct Rendered {
    value: async_graphql::Value,
    payload: std::sync::OnceLock<Box<str>>,
}

/// Where a subscription's resolver leaves the shared rendering of the item it just produced, for
/// the socket sending that item (see [`payload`]). One per operation, in its request data.
#[derive(Clone, Default)]
pub struct PayloadTap(Arc<std::sync::Mutex<Option<Arc<Rendered>>>>);

impl PayloadTap {
    fn put(&self, rendered: Arc<Rendered>) {
        *self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(rendered);
    }

    /// The shared rendering of the item just produced, if it was one.
    pub fn take(&self) -> Option<Arc<Rendered>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }
}

/// The counters of `family` labelled `hows`, taken once (then counted without a look-up).
fn counter_pair(
    family: &prometheus_client::metrics::family::Family<crate::metrics::RenderLabels, Counter>,
    hows: [&'static str; 2],
) -> [Counter; 2] {
    hows.map(|how| {
        family
            .get_or_create(&crate::metrics::RenderLabels { how })
            .clone()
    })
}

/// The JSON of a result's message payload, given to `f`. A result that is exactly a shared
/// rendering (no errors, no extensions: the `data` alone, which its [`Shape`] fixes) is
/// serialized once per process and its bytes reused by every socket; anything else is serialized
/// for this socket.
pub fn payload<R>(
    shared: Option<Arc<Rendered>>,
    response: &async_graphql::Response,
    f: impl FnOnce(&str) -> R,
) -> R {
    static COUNTERS: std::sync::LazyLock<[Counter; 2]> = std::sync::LazyLock::new(|| {
        counter_pair(
            &crate::metrics::get().subscription_payloads,
            ["serialized", "shared"],
        )
    });
    let serialize = || {
        serde_json::to_string(response).unwrap_or_else(|_| {
            r#"{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL"}}]}"#.into()
        })
    };
    match shared {
        Some(r) if response.errors.is_empty() && response.extensions.is_empty() => {
            let mut serialized = false;
            let json = r.payload.get_or_init(|| {
                serialized = true;
                serialize().into_boxed_str()
            });
            COUNTERS[usize::from(!serialized)].inc();
            f(json)
        }
        _ => {
            COUNTERS[0].inc();
            f(&serialize())
        }
    }
}

/// (event sequence number, shape).
type MemoKey = (u64, [u8; 16]);

/// Rendered results kept (a few seconds of a busy process's events × distinct selections).
const MEMO_ENTRIES: usize = 4096;

static MEMO: std::sync::LazyLock<std::sync::Mutex<Memo>> = std::sync::LazyLock::new(|| {
    std::sync::Mutex::new(Memo {
        cells: HashMap::new(),
        order: std::collections::VecDeque::new(),
    })
});

/// The cell of `key`, created if new (and the oldest dropped past [`MEMO_ENTRIES`]).
fn memo_cell(key: MemoKey) -> Arc<tokio::sync::OnceCell<Arc<Rendered>>> {
    let mut m = MEMO
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(cell) = m.cells.get(&key) {
        return cell.clone();
    }
    let cell = Arc::new(tokio::sync::OnceCell::new());
    m.cells.insert(key, cell.clone());
    m.order.push_back(key);
    while m.order.len() > MEMO_ENTRIES {
        if let Some(old) = m.order.pop_front() {
            m.cells.remove(&old);
        }
    }
    cell
}

/// What makes two subscriptions' results for the same event identical: the same principal (so
/// the same access, which any resolver may consult) and the same operation — its parsed
/// definition, fragments and variables, compared through a SHA-256 of them (truncated to 128
/// bits). Computed once per subscription.
#[derive(Clone, Copy)]
struct Shape([u8; 16]);

impl Shape {
    fn of(ctx: &Context<'_>, principal: &Principal) -> Self {
        use sha2::{Digest, Sha256};
        let env = &ctx.query_env;
        let mut fragments: Vec<_> = env.fragments.iter().collect();
        fragments.sort_by(|a, b| a.0.cmp(b.0));
        let mut h = Sha256::new();
        h.update(principal.limit_key().as_bytes());
        h.update([0]);
        h.update(format!("{:?}", env.operation).as_bytes());
        h.update([0]);
        h.update(format!("{fragments:?}").as_bytes());
        h.update([0]);
        h.update(format!("{:?}", env.variables).as_bytes());
        let mut out = [0; 16];
        out.copy_from_slice(&h.finalize()[..16]);
        Self(out)
    }
}

/// A sync run's state as a subscription delivers it: rendered (the subscriber's selection over
/// [`SyncRunState`]) once per live event and [`Shape`], then shared by every subscription of that
/// shape, and so is the message payload's JSON (see [`PayloadTap`]). The states a subscription
/// starts with are rendered for it alone.
pub struct RunUpdate {
    row: Arc<SyncRunRow>,
    /// (event, shape) for a live event.
    memo: Option<(u64, [u8; 16])>,
}

impl async_graphql::OutputType for RunUpdate {
    fn type_name() -> std::borrow::Cow<'static, str> {
        SyncRunState::type_name()
    }

    fn create_type_info(registry: &mut async_graphql::registry::Registry) -> String {
        SyncRunState::create_type_info(registry)
    }

    async fn resolve(
        &self,
        ctx: &async_graphql::ContextSelectionSet<'_>,
        field: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<async_graphql::Value> {
        let Some(key) = self.memo else {
            return SyncRunState::from(&*self.row).resolve(ctx, field).await;
        };
        static COUNTERS: std::sync::LazyLock<[Counter; 2]> = std::sync::LazyLock::new(|| {
            counter_pair(
                &crate::metrics::get().subscription_renders,
                ["rendered", "shared"],
            )
        });
        let mut rendered = false;
        let shared = memo_cell(key)
            .get_or_try_init(|| {
                rendered = true;
                let state = SyncRunState::from(&*self.row);
                async move {
                    let value = state.resolve(ctx, field).await?;
                    let payload = std::sync::OnceLock::new();
                    Ok::<_, async_graphql::ServerError>(Arc::new(Rendered { value, payload }))
                }
            })
            .await?
            .clone();
        COUNTERS[usize::from(!rendered)].inc();
        let value = shared.value.clone();
        if let Some(tap) = ctx.data_opt::<PayloadTap>() {
            tap.put(shared);
        }
        Ok(value)
    }
}

/// Live sync run changes matching `wanted`, after `current`; each run's changes in version order
/// (an event older than what was sent is dropped).
#[allow(clippy::too_many_arguments)]
fn run_stream(
    state: AppState,
    principal: Principal,
    access: Arc<Access>,
    org_id: crate::ids::OrgId,
    rx: broadcast::Receiver<Arc<crate::events::Event>>,
    current: Vec<SyncRunRow>,
    permit: Slot,
    wanted: impl Fn(&SyncRunRow) -> bool + Send + 'static,
    end_when_finished: bool,
    shape: Shape,
) -> impl Stream<Item = RunUpdate> {
    use futures::StreamExt as _;
    let channel = state.keys.channel(Topic::SyncRuns(org_id));
    let events = channel_events::<SyncRunRow>(
        rechecks(state, principal),
        access,
        rx,
        channel,
        "syncRuns",
        OnLag::Collapse,
    );
    counted(
        "sync_runs",
        async_stream::stream! {
            let _permit = permit;
            let mut seen: std::collections::HashMap<uuid::Uuid, i64> = std::collections::HashMap::new();
            for run in current {
                seen.insert(run.id, run.version);
                let status = run.status;
                yield RunUpdate { row: Arc::new(run), memo: None };
                if end_when_finished && finished(status) {
                    return;
                }
            }
            futures::pin_mut!(events);
            while let Some(Ok((run, access, seq))) = events.next().await {
                if run.org_id != org_id.uuid() || !wanted(&run) {
                    continue;
                }
                if seen.get(&run.id).is_some_and(|v| *v >= run.version) {
                    continue;
                }
                if !sees_branch(&access, run.branch_id.map(BranchId)) {
                    continue;
                }
                seen.insert(run.id, run.version);
                let status = run.status;
                yield RunUpdate { row: run, memo: Some((seq, shape.0)) };
                if end_when_finished && finished(status) {
                    return;
                }
            }
        },
    )
}

/// A run that will not change again (a RETRYING run will).
fn finished(status: entity::enums::SyncRunStatus) -> bool {
    use entity::enums::SyncRunStatus as S;
    match status {
        S::Succeeded | S::Skipped | S::Dead | S::Cancelled => true,
        S::Queued | S::Running | S::Retrying => false,
    }
}

/// What happened to an order.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum OrderChangeKind {
    /// First seen.
    Created,
    /// Its status changed.
    StatusChanged,
}

/// An order created or changing status.
#[derive(SimpleObject, Clone, Debug)]
pub struct OrderChange {
    /// What happened.
    pub kind: OrderChangeKind,
    /// The order (fetch it with `order(id:)` or `node`).
    pub order_id: ID,
    /// Its store.
    pub store_id: ID,
    /// The platform's order id.
    pub external_id: String,
    /// Status before (null when created).
    pub from_status: Option<crate::graphql::orders::OrderStatus>,
    /// Status now.
    pub to_status: crate::graphql::orders::OrderStatus,
    /// The platform's update time.
    pub marketplace_updated_at: chrono::DateTime<chrono::Utc>,
}

/// Root subscription.
pub struct Subscription;

/// Root subscription.
#[Subscription]
impl Subscription {
    /// Inventory alerts of the caller's organization (low stock, and order lines selling a
    /// seller SKU no variant has), for the branches the caller may see (optionally one of them):
    /// first every alert open now, then each opening and resolving as it happens. Needs
    /// inventory read access.
    async fn inventory_alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only this branch (global id).")] branch_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<InventoryAlert>> + use<>> {
        let (principal, state, access, org_id) = subscriber(ctx, Perm::InventoryRead).await?;
        let only = match &branch_id {
            Some(id) => {
                let b = crate::graphql::relay::branch_id(id)?;
                if !sees(&access, b) {
                    return Err(AppError::NotFound("Branch").into());
                }
                Some(b)
            }
            None => None,
        };
        let permit = acquire_slot(ctx)?;
        let channel = state.keys.channel(Topic::InventoryAlerts(org_id));
        // Listen first, then read what is open: nothing falls between the two.
        let rx = state.events.subscribe().await?;
        let current = open_alerts(&state, &principal, only).await?;
        let events = channel_events::<StockAlertEvent>(
            rechecks(state, principal),
            access,
            rx,
            channel,
            "inventoryAlerts",
            OnLag::End,
        );
        Ok(counted(
            "inventory_alerts",
            async_stream::try_stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                let opened: std::collections::HashSet<ID> = current.iter().map(|a| a.id.clone()).collect();
                for alert in current {
                    yield alert;
                }
                futures::pin_mut!(events);
                while let Some(next) = events.next().await {
                    let (alert, access, _) = next?;
                    if alert.org_id != org_id || only.is_some_and(|b| b != alert.branch_id) {
                        continue;
                    }
                    if !sees(&access, alert.branch_id) {
                        continue;
                    }
                    let id = crate::graphql::relay::encode_id("InventoryAlert", alert.alert_id);
                    if alert.state == inventory::AlertState::Open && opened.contains(&id) {
                        continue;
                    }
                    yield InventoryAlert {
                        id,
                        kind: alert.kind.into(),
                        state: alert.state.into(),
                        variant_id: alert.variant_id.map(|v| variant_gid(VariantId(v))),
                        location_id: alert.location_id.map(|l| location_gid(LocationId(l))),
                        seller_sku: alert.seller_sku.clone(),
                        branch_id: branch_gid(alert.branch_id),
                        available: alert.available,
                        reorder_point: alert.reorder_point,
                        at: alert.at,
                    };
                }
            },
        ))
    }

    /// One sync run: first its state now, then every change (progress, retries, the end), in
    /// order; the subscription completes after the run's final state (SUCCEEDED, SKIPPED, DEAD
    /// or CANCELLED), at once for a run that has already finished. NOT_FOUND unless the caller
    /// may see the run (its store's branch, or any member for organization-wide runs); needs
    /// sync read access.
    async fn sync_run_updated(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> Result<impl Stream<Item = RunUpdate> + use<>> {
        let (principal, state, access, org_id) = sync_subscriber(ctx).await?;
        let shape = Shape::of(ctx, &principal);
        let run = crate::graphql::relay::sync_run_id(&id)?.uuid();
        let permit = acquire_slot(ctx)?;
        // Listen first, then read the state: nothing falls between the two.
        let rx = state.events.subscribe().await?;
        let current = current_runs(&state, &principal, Some(run), None).await?;
        Ok(run_stream(
            state,
            principal,
            access,
            org_id,
            rx,
            current,
            permit,
            move |r| r.id == run,
            true,
            shape,
        ))
    }

    /// The sync runs of a store: first those queued or running now, then every change of any
    /// run of the store as it happens. NOT_FOUND unless the caller may see the store; needs sync
    /// read access.
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
    ) -> Result<impl Stream<Item = RunUpdate> + use<>> {
        let (principal, state, access, org_id) = sync_subscriber(ctx).await?;
        let shape = Shape::of(ctx, &principal);
        let store = crate::graphql::relay::store_id(&store_id)?;
        let permit = acquire_slot(ctx)?;
        let rx = state.events.subscribe().await?;
        let current = current_runs(&state, &principal, None, Some(store)).await?;
        let wanted = store.uuid();
        Ok(run_stream(
            state,
            principal,
            access,
            org_id,
            rx,
            current,
            permit,
            move |r| r.store_id == Some(wanted),
            false,
            shape,
        ))
    }

    /// Ticks every `intervalSeconds` (1-60). Requires an authenticated connection.
    async fn heartbeat(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "Seconds between ticks (1 to 60).",
            default = 5,
            validator(minimum = 1, maximum = 60)
        )]
        interval_seconds: i32,
    ) -> Result<impl Stream<Item = Heartbeat> + use<>> {
        let principal = ctx
            .data::<Principal>()
            .map_err(|_| AppError::Unauthenticated)?;
        let permit = acquire_slot(ctx)?;
        let (user_id, organization_id) = match principal {
            Principal::User { user_id, org_id } => (Some(user_gid(*user_id)), org_id.map(org_gid)),
            Principal::ApiToken(g) => (None, Some(org_gid(g.org_id))),
        };
        let secs = u64::try_from(interval_seconds).unwrap_or(5);
        Ok(counted(
            "heartbeat",
            async_stream::stream! {
                let _permit = permit;
                let mut tick = tokio::time::interval(Duration::from_secs(secs));
                tick.tick().await;
                let mut seq = 0;
                loop {
                    seq += 1;
                    yield Heartbeat {
                        seq,
                        at: Utc::now(),
                        user_id: user_id.clone(),
                        organization_id: organization_id.clone(),
                    };
                    tick.tick().await;
                }
            },
        ))
    }

    /// Store connection alerts of the caller's organization (optionally one store): each time a
    /// store's authorization expires (the platform refused a refresh; its schedules pause), it is
    /// connected or reconnected, or disconnected. Needs stores read access; only stores of the
    /// branches the caller sees.
    async fn store_alerts(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: Option<ID>,
    ) -> Result<impl Stream<Item = Result<StoreAlert>> + use<>> {
        let (principal, state, access, org_id) = subscriber(ctx, Perm::StoresRead).await?;
        let only = store_id
            .as_ref()
            .map(crate::graphql::relay::store_id)
            .transpose()?;
        let permit = acquire_slot(ctx)?;
        let channel = state.keys.channel(Topic::StoreAlerts(org_id));
        let rx = state.events.subscribe().await?;
        let events = channel_events::<StoreAlertEvent>(
            rechecks(state, principal),
            access,
            rx,
            channel,
            "storeAlerts",
            OnLag::End,
        );
        Ok(counted(
            "store_alerts",
            async_stream::try_stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                futures::pin_mut!(events);
                while let Some(next) = events.next().await {
                    let (alert, access, _) = next?;
                    if alert.org_id != org_id.uuid() || only.is_some_and(|s| s.uuid() != alert.store_id) {
                        continue;
                    }
                    let visible = access.org.as_ref().is_some_and(|o| {
                        o.allows(Perm::StoresRead)
                            && (o.all_branches() || o.visible_branches().contains(&BranchId(alert.branch_id)))
                    });
                    if !visible {
                        continue;
                    }
                    yield StoreAlert {
                        store_id: crate::graphql::relay::store_gid(StoreId(alert.store_id)),
                        connection: alert.connection.into(),
                        code: alert.code.clone(),
                        message: alert.message.clone(),
                        at: alert.at,
                    };
                }
            },
        ))
    }

    /// Orders of a store created or changing status, as they are applied (sync, push, import).
    /// Needs `orders:read` and the store's branch; another organization's or branch's store is
    /// NOT_FOUND. Access is checked again for every event.
    async fn order_events(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
    ) -> Result<impl Stream<Item = Result<OrderChange>> + use<>> {
        let (principal, state, access, org_id) = subscriber(ctx, Perm::OrdersRead).await?;
        let store =
            crate::graphql::relay::store_id(&store_id).map_err(|_| AppError::NotFound("Store"))?;
        read_as(&state, &principal, async |c| {
            crate::domain::order_reads::watchable_store(c.tx, store).await
        })
        .await?;
        let permit = acquire_slot(ctx)?;
        let channel = state.keys.channel(Topic::Orders(org_id));
        let rx = state.events.subscribe().await?;
        let events = channel_events::<crate::domain::orders::OrderChangeEvent>(
            rechecks(state, principal),
            access,
            rx,
            channel,
            "orderEvents",
            OnLag::End,
        );
        Ok(counted(
            "order_events",
            async_stream::try_stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                futures::pin_mut!(events);
                while let Some(next) = events.next().await {
                    let (e, access, _) = next?;
                    if e.org_id != org_id.uuid() || e.store_id != store.uuid() {
                        continue;
                    }
                    let visible = access.org.as_ref().is_some_and(|o| {
                        o.allows(Perm::OrdersRead)
                            && (o.all_branches() || o.visible_branches().contains(&BranchId(e.branch_id)))
                    });
                    if !visible {
                        continue;
                    }
                    yield OrderChange {
                        kind: if e.from.is_none() { OrderChangeKind::Created } else { OrderChangeKind::StatusChanged },
                        order_id: crate::graphql::relay::order_gid(crate::ids::OrderId(e.order_id)),
                        store_id: crate::graphql::relay::store_gid(StoreId(e.store_id)),
                        external_id: e.external_id.clone(),
                        from_status: e.from.map(Into::into),
                        to_status: e.to.into(),
                        marketplace_updated_at: e.marketplace_updated_at,
                    };
                }
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt as _;

    /// Five events into a buffer of two, before the subscriber reads any: it has lagged.
    async fn lagging(on_lag: OnLag) -> Vec<std::result::Result<u64, String>> {
        let (tx, rx) = broadcast::channel(2);
        for seq in 1..=5 {
            let body = format!(r#"{{"n": {seq}}}"#);
            tx.send(Arc::new(crate::events::Event::new(seq, "c".into(), body)))
                .unwrap();
        }
        drop(tx);
        let recheck: Recheck = Box::new(|| Box::pin(async { Ok(Arc::new(Access::default())) }));
        let events = channel_events::<serde_json::Value>(
            recheck,
            Arc::new(Access::default()),
            rx,
            "c".into(),
            "test",
            on_lag,
        );
        events
            .map(|e| match e {
                Ok((v, _, seq)) => {
                    assert_eq!(v["n"], seq);
                    Ok(seq)
                }
                Err(e) => Err(e.code().to_owned()),
            })
            .collect()
            .await
    }

    #[tokio::test]
    async fn progress_collapses_to_its_newest_states_and_anything_else_ends_with_an_error() {
        assert_eq!(lagging(OnLag::Collapse).await, [Ok(4), Ok(5)]);
        assert_eq!(
            lagging(OnLag::End).await,
            [Err("SUBSCRIBER_LAGGED".to_owned())]
        );
    }
}
