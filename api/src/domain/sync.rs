//! Jobs and sync runs as sellers and partners see them: listing, starting, cancelling and
//! retrying. Row-level security decides visibility (a branch's jobs are its members'; jobs of the
//! organization as a whole are every member's); these functions check the permissions.

use crate::auth::permissions::Perm;
use crate::domain::import::{self, RawRow, RowError};
use crate::domain::jobs::{
    self as queue, ImportPayload, JOB_COLUMNS, JobInput, JobKind, JobRow, JobStatus, NewJob,
    Queued, RUN_COLUMNS, SyncRunRow, SyncRunStatus,
};
use crate::domain::page::{Page, PageArgs, fetch_sql};
use crate::domain::{Ctx, stmt};
use crate::effects::Effect;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, JobId, LocationId, StoreId, SyncRunId};
use chrono::{DateTime, Utc};
use sea_orm::ActiveEnum as _;
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// A sync run's item.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SyncItemRow {
    /// Id.
    pub id: Uuid,
    /// Entity (e.g. CATALOG_ROW, ORDER).
    pub entity: String,
    /// Its key (external id, SKU, row).
    pub external_key: String,
    /// What happened to it.
    pub action: entity::enums::SyncItemAction,
    /// Why (for FAILED and SKIPPED).
    pub message: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// A sync run's log line.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SyncLogRow {
    /// Id.
    pub id: Uuid,
    /// Attempt it belongs to.
    pub attempt: i32,
    /// Severity.
    pub level: entity::enums::LogLevel,
    /// Text.
    pub message: String,
    /// When.
    pub created_at: DateTime<Utc>,
}

fn read(c: &Ctx<'_>) -> AppResult<()> {
    c.access.org()?.require(Perm::SyncRead)
}

/// Filter of [`runs`].
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Only this store's.
    pub store: Option<StoreId>,
    /// Only this kind.
    pub kind: Option<JobKind>,
    /// Only this status.
    pub status: Option<SyncRunStatus>,
}

/// Sync runs, newest first.
pub async fn runs(c: &Ctx<'_>, f: RunFilter, args: PageArgs) -> AppResult<Page<SyncRunRow>> {
    read(c)?;
    if let Some(s) = f.store {
        crate::domain::require_visible(c.tx, "stores", s.uuid(), "Store").await?;
    }
    fetch_sql(
        c.tx,
        &format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE ($1::uuid IS NULL OR store_id = $1) \
               AND ($2::text IS NULL OR kind = $2) AND ($3::text IS NULL OR status = $3)"
        ),
        vec![
            f.store.map(StoreId::uuid).into(),
            f.kind.map(|k| k.to_value()).into(),
            f.status.map(|s| s.to_value()).into(),
        ],
        args,
        true,
    )
    .await
}

/// One sync run.
pub async fn run(c: &Ctx<'_>, id: SyncRunId) -> AppResult<SyncRunRow> {
    read(c)?;
    SyncRunRow::find_by_statement(stmt(
        &format!("SELECT {RUN_COLUMNS} FROM sync_runs WHERE id = $1"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("SyncRun"))
}

/// Items of a run, in the order they were recorded.
pub async fn items(c: &Ctx<'_>, run: Uuid, args: PageArgs) -> AppResult<Page<SyncItemRow>> {
    read(c)?;
    fetch_sql(
        c.tx,
        "SELECT id, entity, external_key, action, message, created_at FROM sync_items WHERE run_id = $1",
        vec![run.into()],
        args,
        false,
    )
    .await
}

/// One item of a run (NOT_FOUND unless visible), for `node(id:)`.
pub async fn item(c: &Ctx<'_>, id: Uuid) -> AppResult<SyncItemRow> {
    read(c)?;
    SyncItemRow::find_by_statement(stmt(
        "SELECT id, entity, external_key, action, message, created_at FROM sync_items WHERE id = $1",
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("SyncItem"))
}

/// One log line of a run (NOT_FOUND unless visible), for `node(id:)`.
pub async fn log(c: &Ctx<'_>, id: Uuid) -> AppResult<SyncLogRow> {
    read(c)?;
    SyncLogRow::find_by_statement(stmt(
        "SELECT id, attempt, level, message, created_at FROM sync_logs WHERE id = $1",
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("SyncLog"))
}

/// Log lines of a run, oldest first.
pub async fn logs(c: &Ctx<'_>, run: Uuid, args: PageArgs) -> AppResult<Page<SyncLogRow>> {
    read(c)?;
    fetch_sql(
        c.tx,
        "SELECT id, attempt, level, message, created_at FROM sync_logs WHERE run_id = $1",
        vec![run.into()],
        args,
        false,
    )
    .await
}

/// Jobs, newest first.
pub async fn jobs(
    c: &Ctx<'_>,
    status: Option<JobStatus>,
    store: Option<StoreId>,
    args: PageArgs,
) -> AppResult<Page<JobRow>> {
    read(c)?;
    fetch_sql(
        c.tx,
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE ($1::text IS NULL OR status = $1) \
               AND ($2::uuid IS NULL OR store_id = $2)"
        ),
        vec![
            status.map(|s| s.to_value()).into(),
            store.map(StoreId::uuid).into(),
        ],
        args,
        true,
    )
    .await
}

/// One job.
pub async fn job(c: &Ctx<'_>, id: JobId) -> AppResult<JobRow> {
    read(c)?;
    JobRow::find_by_statement(stmt(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Job"))
}

/// Requires the right to start or stop jobs of `branch` (organization-wide jobs: catalog write).
fn require_write(c: &Ctx<'_>, branch: Option<Uuid>) -> AppResult<()> {
    let org = c.access.org()?;
    match branch {
        Some(b) => org.require(Perm::SyncWrite(BranchId(b))),
        None => org.require(Perm::CatalogWrite),
    }
}

async fn locked_job(c: &Ctx<'_>, id: JobId) -> AppResult<JobRow> {
    read(c)?;
    let job = JobRow::find_by_statement(stmt(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 FOR UPDATE"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Job"))?;
    require_write(c, job.branch_id)?;
    Ok(job)
}

async fn run_status(
    c: &Ctx<'_>,
    job: Uuid,
    sql: &str,
    values: Vec<sea_orm::Value>,
) -> AppResult<()> {
    let mut all = vec![job.into()];
    all.extend(values);
    if let Some(run) = SyncRunRow::find_by_statement(stmt(
        &format!("{sql} WHERE job_id = $1 RETURNING {RUN_COLUMNS}"),
        all,
    ))
    .one(c.tx)
    .await?
    {
        queue::publish_run(c.effects, &run);
    }
    Ok(())
}

async fn job_log(c: &Ctx<'_>, job: &JobRow, level: &str, message: &str) -> AppResult<()> {
    c.tx.execute_raw(stmt(
        "INSERT INTO sync_logs (org_id, id, run_id, branch_id, attempt, level, message) \
         SELECT org_id, $2, id, branch_id, $3, $4, $5 FROM sync_runs WHERE job_id = $1",
        vec![
            job.id.into(),
            Uuid::now_v7().into(),
            job.attempts.into(),
            level.into(),
            message.into(),
        ],
    ))
    .await?;
    Ok(())
}

async fn reload(c: &Ctx<'_>, id: Uuid) -> AppResult<JobRow> {
    JobRow::find_by_statement(stmt(
        &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Job"))
}

/// Cancels a job: a queued one at once, a running one at its next lease renewal (its work is
/// rolled back). Finished jobs cannot be cancelled.
pub async fn cancel(c: &Ctx<'_>, id: JobId) -> AppResult<JobRow> {
    let job = locked_job(c, id).await?;
    match job.status {
        JobStatus::Queued => {
            c.tx.execute_raw(stmt(
                "UPDATE jobs SET status = 'CANCELLED', finished_at = now(), updated_at = now() WHERE id = $1",
                vec![job.id.into()],
            ))
            .await?;
            run_status(
                c,
                job.id,
                "UPDATE sync_runs SET status = 'CANCELLED', finished_at = now(), version = version + 1, updated_at = now()",
                vec![],
            )
            .await?;
            job_log(c, &job, "WARN", "cancelled before it ran").await?;
        }
        JobStatus::Running => {
            c.tx.execute_raw(stmt(
                "UPDATE jobs SET cancel_requested = true, updated_at = now() WHERE id = $1",
                vec![job.id.into()],
            ))
            .await?;
        }
        other => {
            return Err(AppError::Conflict(format!(
                "the job is {}; only QUEUED or RUNNING jobs can be cancelled",
                other.to_value()
            )));
        }
    }
    reload(c, job.id).await
}

/// Runs a DEAD or CANCELLED job again from its first attempt.
pub async fn retry(c: &Ctx<'_>, id: JobId) -> AppResult<JobRow> {
    let job = locked_job(c, id).await?;
    if !matches!(job.status, JobStatus::Dead | JobStatus::Cancelled) {
        return Err(AppError::Conflict(format!(
            "the job is {}; only DEAD or CANCELLED jobs can be retried",
            job.status.to_value()
        )));
    }
    if job.schedule_id.is_some() {
        return Err(AppError::Conflict(
            "a scheduled slot is not retried; start a sync of the store instead".into(),
        ));
    }
    c.tx.execute_raw(stmt(
        "UPDATE jobs SET status = 'QUEUED', attempts = 0, run_at = now(), finished_at = NULL, \
                cancel_requested = false, updated_at = now() WHERE id = $1",
        vec![job.id.into()],
    ))
    .await?;
    run_status(
        c,
        job.id,
        "UPDATE sync_runs SET status = 'QUEUED', attempt = 0, progress = 0, finished_at = NULL, \
                version = version + 1, updated_at = now()",
        vec![],
    )
    .await?;
    job_log(
        c,
        &job,
        "INFO",
        "retried by hand: starting again from attempt 1",
    )
    .await?;
    c.effects.push(Effect::JobQueued {
        org: crate::ids::OrgId(job.org_id),
        job: job.id,
    });
    reload(c, job.id).await
}

fn check_key(key: Option<String>) -> AppResult<Option<String>> {
    match key {
        Some(k) if k.trim().is_empty() || k.len() > 200 => Err(AppError::invalid(
            "input.idempotencyKey",
            "must be 1-200 characters",
        )),
        other => Ok(other),
    }
}

/// A backfill range of [`start_sync`]: from `since` to `until` (default: now).
#[derive(Debug, Clone, Copy)]
pub struct SyncRange {
    /// From.
    pub since: DateTime<Utc>,
    /// To (default: now).
    pub until: Option<DateTime<Utc>>,
}

/// The longest backfill one job takes (a longer history is several jobs).
pub const MAX_BACKFILL_DAYS: i64 = 366;

impl SyncRange {
    /// The range in unix seconds, checked: `since` before `until`, `until` not in the future,
    /// at most [`MAX_BACKFILL_DAYS`] long.
    pub fn check(self, now: DateTime<Utc>) -> AppResult<(i64, i64)> {
        let until = self.until.unwrap_or(now);
        if until > now + chrono::Duration::minutes(5) {
            return Err(AppError::invalid(
                "input.until",
                "must not be in the future",
            ));
        }
        let until = until.min(now);
        if self.since >= until {
            return Err(AppError::invalid("input.since", "must be before until"));
        }
        if until - self.since > chrono::Duration::days(MAX_BACKFILL_DAYS) {
            return Err(AppError::invalid(
                "input.since",
                "a backfill covers at most 366 days; start several",
            ));
        }
        Ok((self.since.timestamp(), until.timestamp()))
    }
}

/// Starts a sync of `kind` for a store now (besides its schedule).
pub async fn start_sync(
    c: &Ctx<'_>,
    store: StoreId,
    kind: JobKind,
    range: Option<SyncRange>,
    idempotency_key: Option<String>,
) -> AppResult<Queued> {
    read(c)?;
    let branch =
        c.tx.query_one_raw(stmt(
            "SELECT branch_id, status FROM stores WHERE id = $1",
            vec![store.uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound("Store"))?;
    let status: String = branch.try_get("", "status")?;
    let branch: Uuid = branch.try_get("", "branch_id")?;
    require_write(c, Some(branch))?;
    if !kind.is_scheduled() {
        return Err(AppError::invalid(
            "input.kind",
            "one of ORDERS, PAYOUTS, TOKEN_REFRESH, RETURN_SLA, PRODUCTS, STOCK_DRIFT (stock pushes: pushStock)",
        ));
    }
    if status != "ACTIVE" {
        return Err(AppError::Conflict("the store is archived".into()));
    }
    let payload = match (kind, range) {
        (JobKind::Orders, range) => {
            let (since, until) = match range {
                Some(r) => {
                    let (since, until) = r.check(Utc::now())?;
                    (Some(since), Some(until))
                }
                None => (None, None),
            };
            serde_json::to_value(queue::OrdersPayload {
                since,
                until,
                manual: true,
            })
            .map_err(|e| AppError::internal(e.to_string()))?
        }
        (_, Some(_)) => {
            return Err(AppError::invalid(
                "input.since",
                "a range applies to ORDERS only",
            ));
        }
        (_, None) => serde_json::json!({ "manual": true }),
    };
    let mut job = NewJob::new(kind, payload);
    job.branch = Some(BranchId(branch));
    job.store = Some(store);
    job.idempotency_key = check_key(idempotency_key)?;
    queue::enqueue(c, job).await
}

/// Queues a catalog import (checked as a whole now; rows are checked by the job, which reports
/// each refused row as a FAILED item of its run).
pub async fn start_import(
    c: &Ctx<'_>,
    rows: Vec<RawRow>,
    errors: Vec<RowError>,
    location: Option<LocationId>,
    idempotency_key: Option<String>,
) -> AppResult<Queued> {
    let branch = import::check_start(c, rows.len(), location).await?;
    let mut job = NewJob::of(&JobInput::CatalogImport(ImportPayload {
        rows,
        errors,
        location_id: location.map(LocationId::uuid),
    }));
    job.branch = branch;
    job.idempotency_key = check_key(idempotency_key)?;
    queue::enqueue(c, job).await
}

/// Sync runs visible now: `id` alone, or the unfinished runs of `store` (NOT_FOUND unless the
/// store is visible). At most 500.
pub async fn current_runs(
    c: &Ctx<'_>,
    id: Option<Uuid>,
    store: Option<StoreId>,
) -> AppResult<Vec<SyncRunRow>> {
    if let Some(s) = store {
        crate::domain::require_visible(c.tx, "stores", s.uuid(), "Store").await?;
    }
    Ok(SyncRunRow::find_by_statement(stmt(
        &format!(
            "SELECT {RUN_COLUMNS} FROM sync_runs WHERE ($1::uuid IS NULL OR id = $1) \
               AND ($2::uuid IS NULL OR (store_id = $2 AND status IN ('QUEUED', 'RUNNING', 'RETRYING'))) \
             ORDER BY id LIMIT 500"
        ),
        vec![id.into(), store.map(StoreId::uuid).into()],
    ))
    .all(c.tx)
    .await?)
}
