//! Per-store schedules. A schedule is an interval (slots aligned to multiples of it since the Unix
//! epoch, UTC) or a five-field cron expression (UTC). Each slot is one job row whose idempotency
//! key names the schedule, its revision and the slot, so however many workers or schedulers run,
//! a slot exists once and runs once. Claiming a slot's job queues the next slot (in the same
//! transaction); a slot missed while no worker ran runs late, once, and the next slot is the first
//! one after now (missed slots are not replayed one by one).

use crate::auth::permissions::Perm;
use crate::domain::jobs::{self as queue, DEFAULT_MAX_ATTEMPTS, JobKind, JobRow, NewJob};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, FromQueryResult};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// Default schedules of a new store: (kind, every seconds, cron).
pub const DEFAULTS: [(JobKind, Option<i32>, Option<&str>); 6] = [
    (JobKind::Orders, Some(600), None),
    (JobKind::Payouts, None, Some("0 3 * * *")),
    (JobKind::TokenRefresh, Some(600), None),
    (JobKind::ReturnSla, None, Some("0 1 * * *")),
    // New and changed listings, and new links, every 6 hours (startSync PRODUCTS any time).
    (JobKind::Products, Some(21_600), None),
    // Marketplace stock against what was pushed, hourly.
    (JobKind::StockDrift, Some(3_600), None),
];

const COLUMNS: &str = "org_id, id, branch_id, store_id, kind, every_seconds, cron, enabled, next_run_at, \
     last_run_at, created_at, updated_at, paused";

/// A schedule.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ScheduleRow {
    /// Organization.
    pub org_id: Uuid,
    /// Id.
    pub id: Uuid,
    /// Branch of the store.
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// One of [`JobKind::SCHEDULED`].
    pub kind: JobKind,
    /// Interval, if an interval schedule.
    pub every_seconds: Option<i32>,
    /// Cron expression, if a cron schedule.
    pub cron: Option<String>,
    /// Enabled.
    pub enabled: bool,
    /// Next slot.
    pub next_run_at: Option<DateTime<Utc>>,
    /// Last slot started.
    pub last_run_at: Option<DateTime<Utc>>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last change (its revision).
    pub updated_at: DateTime<Utc>,
    /// Why the schedule is held (the store's authorization expired, or it is disconnected).
    pub paused: Option<String>,
}

/// Why a store's schedules are held.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paused {
    /// The platform refused the store's authorization.
    AuthExpired,
    /// The store is not connected.
    Disconnected,
}

impl Paused {
    fn as_str(self) -> &'static str {
        match self {
            Self::AuthExpired => "AUTH_EXPIRED",
            Self::Disconnected => "DISCONNECTED",
        }
    }
}

/// Holds every schedule of `store` (their queued slots are cancelled); the seller's own
/// `enabled` switch is kept for when they resume.
pub async fn pause(c: &Ctx<'_>, store: StoreId, why: Paused) -> AppResult<()> {
    c.tx.execute_raw(stmt(
        "UPDATE jobs SET status = 'CANCELLED', finished_at = now(), updated_at = now(), \
                last_error = $2 \
         WHERE store_id = $1 AND schedule_id IS NOT NULL AND status = 'QUEUED'",
        vec![
            store.uuid().into(),
            format!("paused: store {}", why.as_str()).into(),
        ],
    ))
    .await?;
    c.tx.execute_raw(stmt(
        "UPDATE sync_schedules SET paused = $2, next_run_at = NULL, updated_at = clock_timestamp() \
         WHERE store_id = $1",
        vec![store.uuid().into(), why.as_str().into()],
    ))
    .await?;
    Ok(())
}

/// Releases the schedules of `store` held by [`pause`]: each enabled one queues its next slot.
pub async fn resume(c: &Ctx<'_>, store: StoreId) -> AppResult<()> {
    let held = ScheduleRow::find_by_statement(stmt(
        &format!(
            "UPDATE sync_schedules SET paused = NULL, updated_at = clock_timestamp() \
             WHERE store_id = $1 AND paused IS NOT NULL RETURNING {COLUMNS}"
        ),
        vec![store.uuid().into()],
    ))
    .all(c.tx)
    .await?;
    let now = Utc::now();
    for s in held.into_iter().filter(|s| s.enabled) {
        let next = spec_of(&s)?.next_after(now)?;
        c.tx.execute_raw(stmt(
            "UPDATE sync_schedules SET next_run_at = $2 WHERE id = $1",
            vec![s.id.into(), next.into()],
        ))
        .await?;
        let s = ScheduleRow {
            next_run_at: Some(next),
            ..s
        };
        queue_slot(c, &s, next).await?;
    }
    Ok(())
}

/// When a schedule fires.
#[derive(Debug, Clone)]
pub enum Spec {
    /// Every so many seconds, aligned to the epoch.
    Every(i64),
    /// A cron expression, UTC.
    Cron(Box<croner::Cron>),
}

impl Spec {
    /// Checks a schedule definition (exactly one of the two).
    pub fn parse(every_seconds: Option<i32>, cron: Option<&str>, min: Duration) -> AppResult<Self> {
        match (every_seconds, cron) {
            (Some(s), None) => {
                let min_secs = i64::try_from(min.as_secs()).unwrap_or(60);
                if i64::from(s) < min_secs || s > 2_678_400 {
                    return Err(AppError::invalid(
                        "input.everySeconds",
                        format!("must be between {min_secs} and 2678400 (31 days)"),
                    ));
                }
                Ok(Self::Every(i64::from(s)))
            }
            (None, Some(c)) => {
                let c = c.trim();
                if c.split_whitespace().count() != 5 {
                    return Err(AppError::invalid(
                        "input.cron",
                        "use five fields: minute hour day-of-month month day-of-week (UTC)",
                    ));
                }
                croner::Cron::from_str(c)
                    .map(|c| Self::Cron(Box::new(c)))
                    .map_err(|e| {
                        AppError::invalid("input.cron", format!("not a cron expression: {e}"))
                    })
            }
            _ => Err(AppError::invalid(
                "input",
                "give either everySeconds or cron (exactly one)",
            )),
        }
    }

    /// The first slot strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> AppResult<DateTime<Utc>> {
        match self {
            Self::Every(s) => {
                let t = after.timestamp();
                DateTime::from_timestamp((t.div_euclid(*s) + 1) * s, 0)
                    .ok_or_else(|| AppError::internal("schedule slot out of range"))
            }
            Self::Cron(c) => c
                .find_next_occurrence(&after, false)
                .map_err(|e| AppError::internal(format!("cron has no next slot: {e}"))),
        }
    }
}

fn spec_of(s: &ScheduleRow) -> AppResult<Spec> {
    // Stored schedules were checked when written; the minimum interval is not re-applied.
    Spec::parse(s.every_seconds, s.cron.as_deref(), Duration::from_secs(1))
}

/// Queues the job of `s`'s slot `slot` (idempotent).
async fn queue_slot(c: &Ctx<'_>, s: &ScheduleRow, slot: DateTime<Utc>) -> AppResult<()> {
    queue::enqueue(
        c,
        NewJob {
            kind: s.kind,
            payload: serde_json::json!({ "scheduleId": s.id, "slot": slot }),
            branch: Some(BranchId(s.branch_id)),
            store: Some(StoreId(s.store_id)),
            idempotency_key: Some(format!(
                "schedule:{}:{}:{}",
                s.id,
                s.updated_at.timestamp_micros(),
                slot.timestamp()
            )),
            run_at: Some(slot),
            with_run: false,
            slot: Some((s.id, slot)),
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        },
    )
    .await?;
    Ok(())
}

/// Creates the default schedules of a new store and queues their first slots.
pub async fn install_defaults(c: &Ctx<'_>, store: StoreId, branch: BranchId) -> AppResult<()> {
    let now = Utc::now();
    for (kind, every, cron) in DEFAULTS {
        let spec = Spec::parse(every, cron, Duration::from_secs(1))?;
        let next = spec.next_after(now)?;
        let row = ScheduleRow::find_by_statement(stmt(
            &format!(
                "INSERT INTO sync_schedules (org_id, id, branch_id, store_id, kind, every_seconds, cron, next_run_at) \
                 VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
            ),
            vec![
                Uuid::now_v7().into(),
                branch.uuid().into(),
                store.uuid().into(),
                kind.into(),
                every.into(),
                cron.map(str::to_owned).into(),
                next.into(),
            ],
        ))
        .one(c.tx)
        .await?
        .ok_or_else(|| AppError::internal("schedule insert returned nothing"))?;
        queue_slot(c, &row, next).await?;
    }
    Ok(())
}

/// Called when `job` (a schedule's slot) is claimed for the first time: queues the next slot.
pub async fn chain_next(c: &Ctx<'_>, job: &JobRow) -> AppResult<()> {
    let (Some(schedule), Some(slot)) = (job.schedule_id, job.slot_at) else {
        return Ok(());
    };
    // SKIP LOCKED: a schedule being edited right now queues its own next slot.
    let Some(s) = ScheduleRow::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM sync_schedules WHERE id = $1 FOR UPDATE SKIP LOCKED"),
        vec![schedule.into()],
    ))
    .one(c.tx)
    .await?
    else {
        return Ok(());
    };
    if !s.enabled || s.paused.is_some() || s.next_run_at != Some(slot) {
        return Ok(()); // changed since this slot was queued
    }
    let next = spec_of(&s)?.next_after(slot.max(Utc::now()))?;
    c.tx.execute_raw(stmt(
        "UPDATE sync_schedules SET next_run_at = $2, last_run_at = $3 WHERE id = $1",
        vec![s.id.into(), next.into(), slot.into()],
    ))
    .await?;
    queue_slot(c, &s, next).await
}

/// The schedules of `store` (NOT_FOUND unless the store is visible).
pub async fn list(
    c: &Ctx<'_>,
    store: StoreId,
    args: crate::domain::page::PageArgs,
) -> AppResult<crate::domain::page::Page<ScheduleRow>> {
    c.access.org()?.require(Perm::SyncRead)?;
    crate::domain::require_visible(c.tx, "stores", store.uuid(), "Store").await?;
    crate::domain::page::fetch_sql(
        c.tx,
        &format!("SELECT {COLUMNS} FROM sync_schedules WHERE store_id = $1"),
        vec![store.uuid().into()],
        args,
        false,
    )
    .await
}

/// A schedule (NOT_FOUND unless its store is visible).
pub async fn get(c: &Ctx<'_>, id: crate::ids::SyncScheduleId) -> AppResult<ScheduleRow> {
    c.access.org()?.require(Perm::SyncRead)?;
    ScheduleRow::find_by_statement(stmt(
        &format!("SELECT {COLUMNS} FROM sync_schedules WHERE id = $1"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("SyncSchedule"))
}

/// A change to a schedule.
#[derive(Debug, Clone)]
pub struct UpdateSchedule {
    /// Store.
    pub store: StoreId,
    /// Kind.
    pub kind: JobKind,
    /// New interval (replaces a cron expression).
    pub every_seconds: Option<i32>,
    /// New cron expression (replaces an interval).
    pub cron: Option<String>,
    /// Turn on or off.
    pub enabled: Option<bool>,
}

/// Changes a schedule: its queued slot is cancelled and the next slot under the new definition
/// queued, in this transaction.
pub async fn update(c: &Ctx<'_>, input: UpdateSchedule, min: Duration) -> AppResult<ScheduleRow> {
    let org = c.access.org()?;
    let branch =
        c.tx.query_one_raw(stmt(
            "SELECT branch_id FROM stores WHERE id = $1",
            vec![input.store.uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound("Store"))?
        .try_get::<Uuid>("", "branch_id")?;
    org.require(Perm::SyncWrite(BranchId(branch)))?;
    if !input.kind.is_scheduled() {
        return Err(AppError::invalid(
            "input.kind",
            "one of ORDERS, PAYOUTS, TOKEN_REFRESH, RETURN_SLA, PRODUCTS, STOCK_DRIFT",
        ));
    }
    let current = ScheduleRow::find_by_statement(stmt(
        &format!(
            "SELECT {COLUMNS} FROM sync_schedules WHERE store_id = $1 AND kind = $2 FOR UPDATE"
        ),
        vec![input.store.uuid().into(), input.kind.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("SyncSchedule"))?;
    let changed = input.every_seconds.is_some() || input.cron.is_some();
    let (every, cron) = match (input.every_seconds, input.cron) {
        (Some(_), Some(_)) => {
            return Err(AppError::invalid(
                "input",
                "give either everySeconds or cron, not both",
            ));
        }
        (Some(e), None) => (Some(e), None),
        (None, Some(cr)) => (None, Some(cr.trim().to_owned())),
        (None, None) => (current.every_seconds, current.cron.clone()),
    };
    let spec = if changed {
        Spec::parse(every, cron.as_deref(), min)?
    } else {
        spec_of(&current)?
    };
    let enabled = input.enabled.unwrap_or(current.enabled);
    let next = if enabled && current.paused.is_none() {
        Some(spec.next_after(Utc::now())?)
    } else {
        None
    };
    c.tx.execute_raw(stmt(
        "UPDATE jobs SET status = 'CANCELLED', finished_at = now(), \
                last_error = 'replaced: the schedule changed', updated_at = now() \
         WHERE schedule_id = $1 AND status = 'QUEUED'",
        vec![current.id.into()],
    ))
    .await?;
    let row = ScheduleRow::find_by_statement(stmt(
        &format!(
            "UPDATE sync_schedules SET every_seconds = $2, cron = $3, enabled = $4, next_run_at = $5, \
                    updated_at = clock_timestamp() WHERE id = $1 RETURNING {COLUMNS}"
        ),
        vec![
            current.id.into(),
            every.into(),
            cron.into(),
            enabled.into(),
            next.into(),
        ],
    ))
    .one(c.tx)
    .await?
    .ok_or_else(|| AppError::internal("schedule update returned nothing"))?;
    if let Some(next) = next {
        queue_slot(c, &row, next).await?;
    }
    crate::domain::audit::record(
        c,
        org.org_id,
        "sync_schedule.update",
        "SyncSchedule",
        Some(row.id),
        serde_json::json!({ "kind": row.kind, "everySeconds": row.every_seconds, "cron": row.cron, "enabled": row.enabled }),
    )
    .await?;
    Ok(row)
}
