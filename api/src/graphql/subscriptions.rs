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

/// The events of one organization channel as `T`, each with the subscriber's access as of then
/// (re-checked every 30 seconds, so a removed member stops receiving): ends when the access is
/// lost or the hub closes. Unparsable payloads and other channels are skipped.
fn channel_events<T: serde::de::DeserializeOwned + Send + 'static>(
    state: AppState,
    principal: Principal,
    access: Arc<Access>,
    mut rx: broadcast::Receiver<Arc<crate::events::Event>>,
    channel: String,
    what: &'static str,
) -> impl Stream<Item = (T, Arc<Access>)> {
    async_stream::stream! {
        let mut access = access;
        let mut checked = tokio::time::Instant::now();
        loop {
            let event = match rx.recv().await {
                Ok(e) => e,
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, subscription = what, "subscriber lagged");
                    continue;
                }
                Err(broadcast::error::RecvError::Closed) => break,
            };
            if event.channel != channel {
                continue;
            }
            let Ok(item) = serde_json::from_str::<T>(&event.payload) else {
                continue;
            };
            if checked.elapsed() > Duration::from_secs(30) {
                match current_access(&state, &principal).await {
                    Ok(a) => access = a,
                    Err(_) => break,
                }
                checked = tokio::time::Instant::now();
            }
            yield (item, access.clone());
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
) -> impl Stream<Item = SyncRunState> {
    use futures::StreamExt as _;
    let channel = state.keys.channel(Topic::SyncRuns(org_id));
    let events = channel_events::<SyncRunRow>(state, principal, access, rx, channel, "syncRuns");
    counted(
        "sync_runs",
        async_stream::stream! {
            let _permit = permit;
            let mut seen: std::collections::HashMap<uuid::Uuid, i64> = std::collections::HashMap::new();
            for run in current {
                seen.insert(run.id, run.version);
                yield SyncRunState::from(&run);
                if end_when_finished && finished(run.status) {
                    return;
                }
            }
            futures::pin_mut!(events);
            while let Some((run, access)) = events.next().await {
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
                yield SyncRunState::from(&run);
                if end_when_finished && finished(run.status) {
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
    ) -> Result<impl Stream<Item = InventoryAlert> + use<>> {
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
            state,
            principal,
            access,
            rx,
            channel,
            "inventoryAlerts",
        );
        Ok(counted(
            "inventory_alerts",
            async_stream::stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                let opened: std::collections::HashSet<ID> = current.iter().map(|a| a.id.clone()).collect();
                for alert in current {
                    yield alert;
                }
                futures::pin_mut!(events);
                while let Some((alert, access)) = events.next().await {
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
                        seller_sku: alert.seller_sku,
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
    ) -> Result<impl Stream<Item = SyncRunState> + use<>> {
        let (principal, state, access, org_id) = sync_subscriber(ctx).await?;
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
        ))
    }

    /// The sync runs of a store: first those queued or running now, then every change of any
    /// run of the store as it happens. NOT_FOUND unless the caller may see the store; needs sync
    /// read access.
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
    ) -> Result<impl Stream<Item = SyncRunState> + use<>> {
        let (principal, state, access, org_id) = sync_subscriber(ctx).await?;
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
    ) -> Result<impl Stream<Item = StoreAlert> + use<>> {
        let (principal, state, access, org_id) = subscriber(ctx, Perm::StoresRead).await?;
        let only = store_id
            .as_ref()
            .map(crate::graphql::relay::store_id)
            .transpose()?;
        let permit = acquire_slot(ctx)?;
        let channel = state.keys.channel(Topic::StoreAlerts(org_id));
        let rx = state.events.subscribe().await?;
        let events =
            channel_events::<StoreAlertEvent>(state, principal, access, rx, channel, "storeAlerts");
        Ok(counted(
            "store_alerts",
            async_stream::stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                futures::pin_mut!(events);
                while let Some((alert, access)) = events.next().await {
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
                        code: alert.code,
                        message: alert.message,
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
    ) -> Result<impl Stream<Item = OrderChange> + use<>> {
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
            state,
            principal,
            access,
            rx,
            channel,
            "orderEvents",
        );
        Ok(counted(
            "order_events",
            async_stream::stream! {
                use futures::StreamExt as _;
                let _permit = permit;
                futures::pin_mut!(events);
                while let Some((e, access)) = events.next().await {
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
                        external_id: e.external_id,
                        from_status: e.from.map(Into::into),
                        to_status: e.to.into(),
                        marketplace_updated_at: e.marketplace_updated_at,
                    };
                }
            },
        ))
    }
}
