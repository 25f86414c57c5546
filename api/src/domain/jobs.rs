//! The job ledger: job and sync-run rows, their kinds and payloads, and queuing. The worker runtime
//! that claims and runs jobs is `crate::jobs`; this module is what domain code and resolvers use.
//!
//! A job row is written in the caller's tenant transaction, next to the change that
//! needs it, so both commit or neither does. After COMMIT the job is handed to Redis (a stream
//! read by the workers' consumer group); if that hand-off is lost, the reconciler finds the job
//! through `job_dispatch` and hands it again. Postgres is the record, Redis only a doorbell.

use crate::db::rls::apply_settings;
use crate::domain::import::{RawRow, RowError};
use crate::domain::{Ctx, stmt};
use crate::effects::Effect;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, StoreId};
use crate::keys::Topic;
use crate::tenant::{Access, OrgAccess};
use chrono::{DateTime, Utc};
use entity::enums::OrgRole;
pub use entity::enums::{JobKind, JobStatus, SyncRunStatus};
use sea_orm::{DatabaseConnection, FromQueryResult, TransactionTrait};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Input of a CATALOG_IMPORT job.
#[derive(Debug, Serialize, Deserialize)]
pub struct ImportPayload {
    /// Rows to import.
    pub rows: Vec<RawRow>,
    /// Rows the CSV parser already refused.
    #[serde(default)]
    pub errors: Vec<RowError>,
    /// Where opening stock is counted.
    pub location_id: Option<Uuid>,
}

/// Input of a TEST_PROBE job.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct ProbePayload {
    /// Written as `probe effect {marker}` to the run's log in the job's transaction.
    pub marker: String,
    /// Time to spend, in progress steps.
    #[serde(default)]
    pub sleep_ms: u64,
    /// Only attempts up to this one sleep (default: all).
    #[serde(default)]
    pub sleep_attempts: Option<i32>,
    /// Progress steps (default 1).
    #[serde(default)]
    pub steps: Option<u32>,
    /// `transient` or `permanent`: fail after the work.
    #[serde(default)]
    pub fail: Option<String>,
    /// Only attempts up to this one fail (default: all).
    #[serde(default)]
    pub fail_attempts: Option<i32>,
}

/// Input of a TEST_CALLS job: `calls` cheap platform calls for the job's store.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct CallsPayload {
    /// How many calls.
    pub calls: u32,
    /// Make them as stock pushes (high priority) rather than bulk pulls.
    #[serde(default)]
    pub high_priority: bool,
}

/// Input of an ORDERS job: nothing for the incremental sync (from the store's watermark), or a
/// backfill range in unix seconds (split into the platform's windows, each committed once).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrdersPayload {
    /// Backfill from (inclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Backfill to (exclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// Started by hand.
    #[serde(default)]
    pub manual: bool,
}

/// Input of a STOCK_PUSH job: the store's pending pushes, plus `listings` sent even where the
/// platform already accepted the quantity (`pushStock`); `force` sends every pending one so.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StockPushPayload {
    /// Send unchanged quantities of pending listings too.
    #[serde(default)]
    pub force: bool,
    /// Listings to send whether or not they are pending or changed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub listings: Vec<Uuid>,
}

/// Input of an ORDER_IMPORT job: a file-only store's order export (CSV text, read again by the
/// job with the store's column mapping).
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct OrderImportPayload {
    /// The export, as UTF-8 text.
    pub csv: String,
}

/// Input of a WEBHOOK job: the inbox row to process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookPayload {
    /// `webhook_inbox.id`.
    pub event: Uuid,
}

/// A job's input, typed by its kind.
#[derive(Debug)]
pub enum JobInput {
    /// CATALOG_IMPORT.
    CatalogImport(ImportPayload),
    /// One of the scheduled kinds (no payload).
    Scheduled(JobKind),
    /// TEST_PROBE.
    Probe(ProbePayload),
    /// NOOP.
    Noop,
    /// TEST_CALLS.
    Calls(CallsPayload),
    /// ORDERS: incremental, or a backfill range.
    Orders(OrdersPayload),
    /// ORDER_IMPORT.
    OrderImport(OrderImportPayload),
    /// STOCK_PUSH.
    StockPush(StockPushPayload),
    /// WEBHOOK.
    Webhook(WebhookPayload),
}

impl JobInput {
    /// Its kind.
    pub fn kind(&self) -> JobKind {
        match self {
            Self::CatalogImport(_) => JobKind::CatalogImport,
            Self::Scheduled(k) => *k,
            Self::Probe(_) => JobKind::TestProbe,
            Self::Noop => JobKind::Noop,
            Self::Calls(_) => JobKind::TestCalls,
            Self::Orders(_) => JobKind::Orders,
            Self::OrderImport(_) => JobKind::OrderImport,
            Self::StockPush(_) => JobKind::StockPush,
            Self::Webhook(_) => JobKind::Webhook,
        }
    }

    /// Reads the payload stored with a job of `kind`.
    pub fn decode(kind: JobKind, payload: &serde_json::Value) -> Result<Self, String> {
        let bad = |e: serde_json::Error| format!("bad {kind} payload: {e}");
        Ok(match kind {
            JobKind::CatalogImport => {
                Self::CatalogImport(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            JobKind::TestProbe => {
                Self::Probe(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            JobKind::Noop => Self::Noop,
            JobKind::TestCalls => {
                Self::Calls(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            JobKind::Orders => Self::Orders(serde_json::from_value(payload.clone()).map_err(bad)?),
            JobKind::OrderImport => {
                Self::OrderImport(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            JobKind::StockPush => {
                Self::StockPush(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            JobKind::Webhook => {
                Self::Webhook(serde_json::from_value(payload.clone()).map_err(bad)?)
            }
            k => Self::Scheduled(k),
        })
    }

    fn payload(&self) -> serde_json::Value {
        let json = match self {
            Self::CatalogImport(p) => serde_json::to_value(p),
            Self::Probe(p) => serde_json::to_value(p),
            Self::Calls(p) => serde_json::to_value(p),
            Self::Orders(p) => serde_json::to_value(p),
            Self::OrderImport(p) => serde_json::to_value(p),
            Self::StockPush(p) => serde_json::to_value(p),
            Self::Webhook(p) => serde_json::to_value(p),
            Self::Scheduled(_) | Self::Noop => Ok(serde_json::json!({})),
        };
        json.unwrap_or_default()
    }
}

/// Attempts a job gets unless its kind says otherwise (1 + the five retries of the default
/// backoff: 60 s, 5 min, 15 min, 1 h, 3 h).
pub const DEFAULT_MAX_ATTEMPTS: i32 = 6;

/// Columns of `jobs` as [`JobRow`] reads them.
pub const JOB_COLUMNS: &str = "org_id, id, branch_id, store_id, kind, payload, idempotency_key, status, attempts, \
     max_attempts, run_at, lease_owner, lease_until, lease_token, cancel_requested, last_error, \
     schedule_id, slot_at, created_at, started_at, finished_at";

/// Columns of `sync_runs` as [`SyncRunRow`] reads them.
pub const RUN_COLUMNS: &str = "org_id, id, job_id, branch_id, store_id, kind, status, attempt, progress, fetched, \
     created, updated, skipped, failed, message, last_error, version, created_at, started_at, \
     finished_at, updated_at";

/// A job.
#[derive(Debug, Clone, FromQueryResult)]
pub struct JobRow {
    /// Organization.
    pub org_id: Uuid,
    /// Id.
    pub id: Uuid,
    /// Branch it belongs to (visibility), if any.
    pub branch_id: Option<Uuid>,
    /// Store it works for, if any (per-store concurrency cap).
    pub store_id: Option<Uuid>,
    /// Kind.
    pub kind: JobKind,
    /// Input of the handler.
    pub payload: serde_json::Value,
    /// Idempotency key (unique per organization and kind).
    pub idempotency_key: Option<String>,
    /// Lifecycle.
    pub status: JobStatus,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Not before.
    pub run_at: DateTime<Utc>,
    /// Worker holding the lease.
    pub lease_owner: Option<String>,
    /// Lease end.
    pub lease_until: Option<DateTime<Utc>>,
    /// Fencing token of the current lease.
    pub lease_token: i64,
    /// Cancellation asked while running.
    pub cancel_requested: bool,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Schedule that queued it.
    pub schedule_id: Option<Uuid>,
    /// Its schedule slot.
    pub slot_at: Option<DateTime<Utc>>,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// First attempt started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
}

/// A sync run: what a job did, as sellers see it. Also the body of the events published on the
/// organization's `sync-runs` channel.
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult, Serialize, Deserialize)]
pub struct SyncRunRow {
    /// Organization.
    pub org_id: Uuid,
    /// Id.
    pub id: Uuid,
    /// Its job.
    pub job_id: Uuid,
    /// Branch.
    pub branch_id: Option<Uuid>,
    /// Store.
    pub store_id: Option<Uuid>,
    /// Kind.
    pub kind: JobKind,
    /// Lifecycle.
    pub status: SyncRunStatus,
    /// Attempt number (1-based once started).
    pub attempt: i32,
    /// 0-100.
    pub progress: i16,
    /// Entities fetched (or rows read).
    pub fetched: i32,
    /// Created.
    pub created: i32,
    /// Updated.
    pub updated: i32,
    /// Skipped.
    pub skipped: i32,
    /// Failed.
    pub failed: i32,
    /// What it is doing or did.
    pub message: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// Grows with each change.
    pub version: i64,
    /// Queued at.
    pub created_at: DateTime<Utc>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Finished at.
    pub finished_at: Option<DateTime<Utc>>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
}

/// A job to queue.
#[derive(Debug, Clone)]
pub struct NewJob {
    /// Kind.
    pub kind: JobKind,
    /// Handler input.
    pub payload: serde_json::Value,
    /// Branch (visibility).
    pub branch: Option<BranchId>,
    /// Store.
    pub store: Option<StoreId>,
    /// Idempotency key: a second job with the same key and kind is the first one.
    pub idempotency_key: Option<String>,
    /// Not before (default now).
    pub run_at: Option<DateTime<Utc>>,
    /// Record a sync run now (sellers can watch it from the start).
    pub with_run: bool,
    /// Schedule and slot that queue it.
    pub slot: Option<(Uuid, DateTime<Utc>)>,
    /// Attempts allowed.
    pub max_attempts: i32,
}

impl NewJob {
    /// A job for `input`, due now, with a sync run (unless its kind keeps none).
    pub fn of(input: &JobInput) -> Self {
        Self::new(input.kind(), input.payload())
    }

    /// A job of `kind` with a raw `payload` (tests and benchmarks; [`Self::of`] is typed).
    pub fn new(kind: JobKind, payload: serde_json::Value) -> Self {
        Self {
            kind,
            payload,
            branch: None,
            store: None,
            idempotency_key: None,
            run_at: None,
            with_run: true,
            slot: None,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
        }
    }
}

/// A queued job and its run.
#[derive(Debug, Clone)]
pub struct Queued {
    /// The job.
    pub job: JobRow,
    /// Its sync run, if recorded.
    pub run: Option<SyncRunRow>,
    /// The idempotency key matched an earlier job: this is that job.
    pub existing: bool,
}

/// Queues `job` in `c`'s transaction; it is handed to the workers after COMMIT.
pub async fn enqueue(c: &Ctx<'_>, job: NewJob) -> AppResult<Queued> {
    let id = Uuid::now_v7();
    let inserted = JobRow::find_by_statement(stmt(
        &format!(
            "INSERT INTO jobs (org_id, id, branch_id, store_id, kind, payload, idempotency_key, \
                               max_attempts, run_at, schedule_id, slot_at, created_by) \
             VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, COALESCE($8, now()), $9, $10, \
                     (SELECT app_user_id())) \
             ON CONFLICT (org_id, kind, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING {JOB_COLUMNS}"
        ),
        vec![
            id.into(),
            job.branch.map(BranchId::uuid).into(),
            job.store.map(StoreId::uuid).into(),
            job.kind.into(),
            job.payload.clone().into(),
            job.idempotency_key.clone().into(),
            job.max_attempts.into(),
            job.run_at.into(),
            job.slot.map(|s| s.0).into(),
            job.slot.map(|s| s.1).into(),
        ],
    ))
    .one(c.tx)
    .await?;
    let Some(row) = inserted else {
        // The key was used before: that job is the answer, if it was asked with the same input.
        let first = JobRow::find_by_statement(stmt(
            &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE kind = $1 AND idempotency_key = $2"),
            vec![job.kind.into(), job.idempotency_key.clone().into()],
        ))
        .one(c.tx)
        .await?
        .ok_or_else(|| AppError::internal("idempotent job vanished"))?;
        if first.payload != job.payload || first.store_id != job.store.map(StoreId::uuid) {
            return Err(AppError::Conflict(
                "this idempotency key was used for a different job".into(),
            ));
        }
        let run = run_of(c, first.id).await?;
        return Ok(Queued {
            job: first,
            run,
            existing: true,
        });
    };
    let run = if job.with_run {
        let run = SyncRunRow::find_by_statement(stmt(
            &format!(
                "INSERT INTO sync_runs (org_id, id, job_id, branch_id, store_id, kind) \
                 VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5) RETURNING {RUN_COLUMNS}"
            ),
            vec![
                Uuid::now_v7().into(),
                row.id.into(),
                row.branch_id.into(),
                row.store_id.into(),
                row.kind.into(),
            ],
        ))
        .one(c.tx)
        .await?
        .ok_or_else(|| AppError::internal("sync run insert returned nothing"))?;
        publish_run(c.effects, &run);
        Some(run)
    } else {
        None
    };
    if row.run_at <= Utc::now() {
        c.effects.push(Effect::JobQueued {
            org: OrgId(row.org_id),
            job: row.id,
        });
    }
    Ok(Queued {
        job: row,
        run,
        existing: false,
    })
}

/// The sync run of `job`, if any.
pub async fn run_of(c: &Ctx<'_>, job: Uuid) -> AppResult<Option<SyncRunRow>> {
    Ok(SyncRunRow::find_by_statement(stmt(
        &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE job_id = $1"),
        vec![job.into()],
    ))
    .one(c.tx)
    .await?)
}

/// The access jobs act with: the organization as a whole (every branch), no user.
pub fn system_access(org: OrgId) -> Access {
    Access {
        user_id: None,
        org: Some(OrgAccess::member(org, OrgRole::Owner, HashMap::new())),
    }
}

/// Opens `org`'s tenant transaction as the runtime role, acting for the organization.
pub async fn org_tx(
    db: &DatabaseConnection,
    org: OrgId,
) -> AppResult<sea_orm::DatabaseTransaction> {
    let tx = db.begin().await?;
    apply_settings(&tx, &crate::tenant::settings_for(&system_access(org))).await?;
    Ok(tx)
}

/// Records "publish `run`'s new state on its organization's channel" (after commit).
pub fn publish_run(effects: &crate::effects::Effects, run: &SyncRunRow) {
    effects.publish(Topic::SyncRuns(OrgId(run.org_id)), run);
}
