//! The webhook inbox (DESIGN §9): verified marketplace pushes, stored with their processing job
//! in one statement before the platform is answered; what their handler recorded; the seller's
//! view of them (`webhookEvents`, `replayWebhookEvent`) and their per-store counts.
//!
//! An event's state shows its job: PENDING while the job waits or runs for the first time,
//! RETRYING after a failed attempt, DEAD when the job ran out of attempts, and otherwise what the
//! handler recorded (PROCESSED, STALE, IGNORED).

use crate::auth::permissions::Perm;
use crate::domain::page::{Page, PageArgs, fetch_sql};
use crate::domain::{Ctx, stmt};
use crate::effects::Effect;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use chrono::{DateTime, Utc};
use connectors::push::{PushEvent, PushKind};
use entity::enums::Platform;
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// Attempts a push gets (1 + retries after 60 s, 5 min, 15 min, 1 h and 3 h), then DEAD.
pub const MAX_ATTEMPTS: i32 = crate::domain::jobs::DEFAULT_MAX_ATTEMPTS;

/// Every push kind, in the order of [`kind_name`].
const KINDS: [PushKind; 7] = [
    PushKind::OrderStatus,
    PushKind::OrderCancellation,
    PushKind::AuthorizationExpiring,
    PushKind::Deauthorized,
    PushKind::StockChange,
    PushKind::ProductChange,
    PushKind::Other,
];

/// The push kind stored as `name` (OTHER for anything unknown).
pub fn kind_of(name: &str) -> PushKind {
    KINDS
        .into_iter()
        .find(|k| kind_name(*k) == name)
        .unwrap_or(PushKind::Other)
}

/// The inbox's name of a push kind.
pub fn kind_name(kind: PushKind) -> &'static str {
    match kind {
        PushKind::OrderStatus => "ORDER_STATUS",
        PushKind::OrderCancellation => "ORDER_CANCELLATION",
        PushKind::AuthorizationExpiring => "AUTHORIZATION_EXPIRING",
        PushKind::Deauthorized => "DEAUTHORIZED",
        PushKind::StockChange => "STOCK_CHANGE",
        PushKind::ProductChange => "PRODUCT_CHANGE",
        PushKind::Other => "OTHER",
    }
}

/// What storing one delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct Stored {
    /// The organization holding the shop.
    pub org_id: Uuid,
    /// The inbox row.
    pub event_id: Uuid,
    /// Its store.
    pub store_id: Uuid,
    /// First delivery; false for a duplicate.
    pub fresh: bool,
}

fn at(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// Stores a verified delivery for the connected store of `shop`, in one statement that is its own
/// transaction (`webhook_accept`: the organization holding the shop, its tenant context and the
/// inbox row, under RLS as the runtime role). A duplicate (same delivery key) only counts. `None`
/// when no organization has an active store of that shop. On return it is committed; a worker's
/// dispatcher ([`queue_jobs`]) gives it its job.
pub async fn accept(
    db: &impl ConnectionTrait,
    platform: Platform,
    shop: &str,
    event: &PushEvent,
    body: &str,
) -> AppResult<Option<Stored>> {
    Ok(Stored::find_by_statement(stmt(
        "SELECT org_id, event_id, store_id, fresh \
         FROM webhook_accept($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        vec![
            platform.into(),
            shop.to_owned().into(),
            Uuid::now_v7().into(),
            event.delivery_key.clone().into(),
            kind_name(event.kind).into(),
            event.topic.clone().into(),
            event.subject.clone().into(),
            event.status.clone().into(),
            event.updated_at.and_then(at).into(),
            at(event.sent_at).into(),
            body.to_owned().into(),
        ],
    ))
    .one(db)
    .await?)
}

/// Events without a job, across organizations, locked for the caller's transaction (at most
/// `max`): (organization, event).
pub async fn claim(tx: &impl ConnectionTrait, max: i32) -> AppResult<Vec<(Uuid, Uuid)>> {
    let rows = tx
        .query_all_raw(stmt(
            "SELECT org_id, event_id FROM claim_webhook_events($1)",
            vec![max.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| {
            Ok((
                r.try_get::<Uuid>("", "org_id")?,
                r.try_get::<Uuid>("", "event_id")?,
            ))
        })
        .collect()
}

/// Queues a WEBHOOK job for each of `events` still without one, in the caller's tenant
/// transaction (the organization's); the jobs queued.
pub async fn queue_jobs(tx: &impl ConnectionTrait, events: &[Uuid]) -> AppResult<Vec<Uuid>> {
    let jobs: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let rows = tx
        .query_all_raw(stmt(
            "WITH c AS ( \
               UPDATE webhook_inbox w SET job_id = x.job \
               FROM unnest($1::uuid[], $2::uuid[]) AS x(event, job) \
               WHERE w.id = x.event AND w.job_id IS NULL \
               RETURNING w.id, w.job_id, w.store_id, w.branch_id \
             ) \
             INSERT INTO jobs (org_id, id, branch_id, store_id, kind, payload, max_attempts) \
             SELECT (SELECT app_org_id()), c.job_id, c.branch_id, c.store_id, 'WEBHOOK', \
                    jsonb_build_object('event', c.id), $3 \
             FROM c ORDER BY c.id \
             RETURNING id",
            vec![events.to_vec().into(), jobs.into(), MAX_ATTEMPTS.into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").map_err(AppError::from))
        .collect()
}

/// Columns of an event as [`EventRow`] reads them, with its state derived from its job.
const EVENT_SELECT: &str = "SELECT * FROM ( \
   SELECT w.id, w.org_id, w.store_id, w.branch_id, w.platform, w.delivery_key, w.kind, w.topic, w.subject, \
          w.announced_status, w.subject_updated_at, w.sent_at, w.body, w.outcome, w.duplicates, \
          w.job_id, w.received_at, w.last_duplicate_at, w.processed_at, \
          coalesce(j.attempts, 0) AS attempts, j.last_error, \
          CASE WHEN w.status <> 'RECEIVED' THEN w.status \
               WHEN j.status IN ('DEAD', 'CANCELLED') THEN 'DEAD' \
               WHEN j.attempts > 0 AND j.last_error IS NOT NULL THEN 'RETRYING' \
               ELSE 'PENDING' END AS state \
   FROM webhook_inbox w LEFT JOIN jobs j ON j.id = w.job_id) e WHERE true";

/// One inbox event.
#[derive(Debug, Clone, FromQueryResult)]
pub struct EventRow {
    /// Id (UUID v7: arrival order).
    pub id: Uuid,
    /// Organization.
    pub org_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Branch of the store.
    pub branch_id: Uuid,
    /// Platform.
    pub platform: Platform,
    /// Delivery key.
    pub delivery_key: String,
    /// Kind (`ORDER_STATUS`…).
    pub kind: String,
    /// The platform's code or type.
    pub topic: String,
    /// Order or item.
    pub subject: Option<String>,
    /// Announced raw status.
    pub announced_status: Option<String>,
    /// The subject's update time on the platform.
    pub subject_updated_at: Option<DateTime<Utc>>,
    /// When the platform sent it.
    pub sent_at: DateTime<Utc>,
    /// The verified body.
    pub body: String,
    /// What processing did.
    pub outcome: Option<String>,
    /// Extra deliveries.
    pub duplicates: i32,
    /// Its (latest) job; none until the dispatcher queued it.
    pub job_id: Option<Uuid>,
    /// First arrival.
    pub received_at: DateTime<Utc>,
    /// Last duplicate arrival.
    pub last_duplicate_at: Option<DateTime<Utc>>,
    /// When processed.
    pub processed_at: Option<DateTime<Utc>>,
    /// Attempts of its job so far.
    pub attempts: i32,
    /// Its job's last error.
    pub last_error: Option<String>,
    /// PENDING, RETRYING, PROCESSED, STALE, IGNORED or DEAD.
    pub state: String,
}

/// The event `id` (the job's handler: no permission beyond the job's own).
pub async fn load(tx: &impl ConnectionTrait, id: Uuid) -> AppResult<Option<EventRow>> {
    Ok(EventRow::find_by_statement(stmt(
        &format!("{EVENT_SELECT} AND id = $1"),
        vec![id.into()],
    ))
    .one(tx)
    .await?)
}

/// What a handler recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// Acted on.
    Processed,
    /// Older than what is stored: not applied.
    Stale,
    /// Nothing to do for this kind (kept for the record).
    Ignored,
}

impl Handled {
    fn as_str(self) -> &'static str {
        match self {
            Self::Processed => "PROCESSED",
            Self::Stale => "STALE",
            Self::Ignored => "IGNORED",
        }
    }
}

/// Records the handler's outcome (in the job's transaction: it commits with the work).
pub async fn finish(
    tx: &impl ConnectionTrait,
    id: Uuid,
    handled: Handled,
    outcome: &str,
) -> AppResult<()> {
    let outcome: String = outcome.chars().take(500).collect();
    tx.execute_raw(stmt(
        "UPDATE webhook_inbox SET status = $2, outcome = $3, processed_at = now() WHERE id = $1",
        vec![id.into(), handled.as_str().into(), outcome.into()],
    ))
    .await?;
    Ok(())
}

/// The stored update time of the store's order `external_id`, if it has one.
pub async fn stored_order_version(
    tx: &impl ConnectionTrait,
    store: StoreId,
    external_id: &str,
) -> AppResult<Option<DateTime<Utc>>> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT marketplace_updated_at FROM orders WHERE store_id = $1 AND external_id = $2",
            vec![store.uuid().into(), external_id.to_owned().into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<DateTime<Utc>>("", "marketplace_updated_at"))
        .transpose()?)
}

/// The store's listings of platform item `item`.
pub async fn item_listings(
    tx: &impl ConnectionTrait,
    store: StoreId,
    item: &str,
) -> AppResult<Vec<Uuid>> {
    let rows = tx
        .query_all_raw(stmt(
            "SELECT id FROM listings WHERE store_id = $1 AND external_item_id = $2",
            vec![store.uuid().into(), item.to_owned().into()],
        ))
        .await?;
    rows.iter()
        .map(|r| r.try_get::<Uuid>("", "id").map_err(AppError::from))
        .collect()
}

/// Records when the seller's authorization of `store` ends, as the platform announced.
pub async fn note_authorization_expiry(
    tx: &impl ConnectionTrait,
    store: StoreId,
    expires_at: DateTime<Utc>,
) -> AppResult<()> {
    tx.execute_raw(stmt(
        "UPDATE stores SET authorization_expires_at = $2, updated_at = now() WHERE id = $1",
        vec![store.uuid().into(), expires_at.into()],
    ))
    .await?;
    Ok(())
}

/// Filter of [`events`].
#[derive(Debug, Clone, Default)]
pub struct EventFilter {
    /// Only in this state.
    pub state: Option<String>,
    /// Only of this kind.
    pub kind: Option<String>,
    /// Received at or after.
    pub received_from: Option<DateTime<Utc>>,
    /// Received before.
    pub received_to: Option<DateTime<Utc>>,
}

fn read(c: &Ctx<'_>) -> AppResult<()> {
    c.access.org()?.require(Perm::SyncRead)
}

/// A store's inbox events, newest first (SYNC_READ on the store's branch).
pub async fn events(
    c: &Ctx<'_>,
    store: StoreId,
    f: EventFilter,
    args: PageArgs,
) -> AppResult<Page<EventRow>> {
    read(c)?;
    crate::domain::require_visible(c.tx, "stores", store.uuid(), "Store").await?;
    if let (Some(from), Some(to)) = (f.received_from, f.received_to)
        && to <= from
    {
        return Err(AppError::invalid(
            "filter.receivedBetween",
            "the end must be after the start",
        ));
    }
    fetch_sql(
        c.tx,
        &format!(
            "{EVENT_SELECT} AND store_id = $1 AND ($2::text IS NULL OR state = $2) \
             AND ($3::text IS NULL OR kind = $3) AND ($4::timestamptz IS NULL OR received_at >= $4) \
             AND ($5::timestamptz IS NULL OR received_at < $5)"
        ),
        vec![
            store.uuid().into(),
            f.state.into(),
            f.kind.into(),
            f.received_from.into(),
            f.received_to.into(),
        ],
        args,
        true,
    )
    .await
}

/// One event (NOT_FOUND unless visible).
pub async fn event(c: &Ctx<'_>, id: Uuid) -> AppResult<EventRow> {
    read(c)?;
    load(c.tx, id)
        .await?
        .ok_or(AppError::NotFound("WebhookEvent"))
}

/// Processes event `id` again with a new job (its earlier outcome is replaced when that job
/// finishes). SYNC_WRITE on the store's branch; an event whose job is still queued or running is
/// a CONFLICT.
pub async fn replay(c: &Ctx<'_>, id: Uuid) -> AppResult<EventRow> {
    let ev = event(c, id).await?;
    c.access
        .org()?
        .require(Perm::SyncWrite(BranchId(ev.branch_id)))?;
    let locked =
        c.tx.query_one_raw(stmt(
            "SELECT coalesce(j.status, 'QUEUED') AS status FROM webhook_inbox w \
             LEFT JOIN jobs j ON j.id = w.job_id WHERE w.id = $1 FOR UPDATE OF w",
            vec![id.into()],
        ))
        .await?
        .map(|r| r.try_get::<String>("", "status"))
        .transpose()?;
    if matches!(locked.as_deref(), Some("QUEUED" | "RUNNING")) {
        return Err(AppError::Conflict(
            "the event is being processed; replay it once its job has finished".into(),
        ));
    }
    let job = Uuid::now_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO jobs (org_id, id, branch_id, store_id, kind, payload, max_attempts, created_by) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, 'WEBHOOK', jsonb_build_object('event', $4::uuid), $5, \
                 (SELECT app_user_id()))",
        vec![
            job.into(),
            ev.branch_id.into(),
            ev.store_id.into(),
            id.into(),
            MAX_ATTEMPTS.into(),
        ],
    ))
    .await?;
    c.tx.execute_raw(stmt(
        "UPDATE webhook_inbox SET status = 'RECEIVED', outcome = NULL, processed_at = NULL, job_id = $2 \
         WHERE id = $1",
        vec![id.into(), job.into()],
    ))
    .await?;
    crate::domain::audit::record(
        c,
        c.access.org()?.org_id,
        "webhook_event.replayed",
        "WebhookEvent",
        Some(id),
        serde_json::json!({"jobId": job}),
    )
    .await?;
    c.effects.push(Effect::JobQueued {
        org: c.access.org()?.org_id,
        job,
    });
    load(c.tx, id)
        .await?
        .ok_or(AppError::NotFound("WebhookEvent"))
}

/// A store's push counts over a period, and its last arrival.
#[derive(Debug, Clone, Default, FromQueryResult)]
pub struct Counts {
    /// Distinct events received.
    pub arrived: i64,
    /// Extra deliveries of them.
    pub duplicates: i64,
    /// Recorded as older than the stored state.
    pub stale: i64,
    /// Failing now (retrying).
    pub failed: i64,
    /// Out of attempts.
    pub dead: i64,
    /// Last arrival (first or duplicate delivery), whenever it was.
    pub last_arrival_at: Option<DateTime<Utc>>,
}

/// `store`'s counts since `since`.
pub async fn counts(
    tx: &impl ConnectionTrait,
    store: StoreId,
    since: DateTime<Utc>,
) -> AppResult<Counts> {
    let row = Counts::find_by_statement(stmt(
        &format!(
            "SELECT count(*) FILTER (WHERE received_at >= $2) AS arrived, \
                    coalesce(sum(duplicates) FILTER (WHERE received_at >= $2), 0)::bigint AS duplicates, \
                    count(*) FILTER (WHERE received_at >= $2 AND state = 'STALE') AS stale, \
                    count(*) FILTER (WHERE received_at >= $2 AND state = 'RETRYING') AS failed, \
                    count(*) FILTER (WHERE received_at >= $2 AND state = 'DEAD') AS dead, \
                    greatest((SELECT max(received_at) FROM webhook_inbox WHERE store_id = $1), \
                             max(last_duplicate_at)) AS last_arrival_at \
             FROM ({EVENT_SELECT} AND store_id = $1 AND received_at >= $2) x"
        ),
        vec![store.uuid().into(), since.into()],
    ))
    .one(tx)
    .await?;
    Ok(row.unwrap_or_default())
}
