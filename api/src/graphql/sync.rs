//! Jobs, sync runs (with their items and logs) and store schedules.

use crate::domain::jobs::{JobRow, Queued, SyncRunRow};
use crate::domain::schedules::{self as schedule, ScheduleRow, UpdateSchedule};
use crate::domain::sync::{self, RunFilter, SyncItemRow, SyncLogRow};
use crate::error::AppError;
use crate::graphql::relay::{
    Conn, connection, encode_id, job_gid, job_id, page_args, store_gid, store_id, sync_run_gid,
    sync_run_id, sync_schedule_gid,
};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read, some};
use crate::ids::{BranchId, JobId, StoreId, SyncRunId, SyncScheduleId};
use crate::state::AppState;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

/// What a job or sync run does.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::JobKind")]
pub enum SyncKind {
    /// A catalog import.
    CatalogImport,
    /// Orders of a store.
    Orders,
    /// Payouts of a store.
    Payouts,
    /// Refresh of a store's marketplace tokens.
    TokenRefresh,
    /// Return SLA clocks of a store.
    ReturnSla,
    /// Test kind (only with `MERCATO_JOB_TEST_KINDS`).
    TestProbe,
    /// Test kind that does nothing (only with `MERCATO_JOB_TEST_KINDS`).
    Noop,
    /// Test kind that calls a store's platform (only with `MERCATO_JOB_TEST_KINDS`).
    TestCalls,
    /// Orders of a file-only store (Kilimall, own storefront) from a seller-center export.
    OrderImport,
    /// A store's marketplace products, read into listings and linked to variants by SKU.
    Products,
    /// A store's pending stock pushes (queued by every stock change; `pushStock` forces one).
    StockPush,
    /// Comparison of a store's marketplace stock with what was pushed, correcting differences.
    StockDrift,
    /// Processing of one marketplace push (queued when it arrives; see `webhookEvents`).
    Webhook,
}

/// What a sync did to one entity.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::SyncItemAction")]
pub enum SyncItemAction {
    /// Read from the marketplace.
    Fetched,
    /// Created here.
    Created,
    /// Updated here.
    Updated,
    /// Nothing to change.
    Skipped,
    /// Refused (its message says why).
    Failed,
}

/// Severity of a sync log line.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::LogLevel")]
pub enum LogLevel {
    /// Information.
    Info,
    /// Something went wrong and was handled (a retry, a cancellation).
    Warn,
    /// An attempt failed.
    Error,
}

/// Lifecycle of a job.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::JobStatus")]
pub enum JobStatus {
    /// Waiting (or waiting to retry).
    Queued,
    /// A worker holds its lease.
    Running,
    /// Done.
    Succeeded,
    /// No attempts left, or a permanent error.
    Dead,
    /// Cancelled.
    Cancelled,
}

/// Lifecycle of a sync run.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::SyncRunStatus")]
pub enum SyncRunStatus {
    /// Waiting to start.
    Queued,
    /// Running.
    Running,
    /// An attempt failed; another is due.
    Retrying,
    /// Done.
    Succeeded,
    /// Nothing to do (its message says why).
    Skipped,
    /// No attempts left, or a permanent error.
    Dead,
    /// Cancelled.
    Cancelled,
}

/// What a sync run or job did, in numbers.
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncCounts {
    /// Entities fetched from the marketplace (imports: rows read).
    pub fetched: i32,
    /// Created.
    pub created: i32,
    /// Updated.
    pub updated: i32,
    /// Skipped (nothing to change).
    pub skipped: i32,
    /// Failed (see the run's FAILED items for why).
    pub failed: i32,
}

/// The state of a sync run at one moment (subscriptions deliver these).
#[derive(SimpleObject, Clone, Debug)]
pub struct SyncRunState {
    /// The run.
    pub id: ID,
    /// Its job.
    pub job_id: ID,
    /// What it does.
    pub kind: SyncKind,
    /// Lifecycle.
    pub status: SyncRunStatus,
    /// 0-100.
    pub progress: i32,
    /// Attempt number (1-based once started).
    pub attempt: i32,
    /// Counts so far.
    pub counts: SyncCounts,
    /// What it is doing or did.
    pub message: Option<String>,
    /// Error of the last failed attempt.
    pub last_error: Option<String>,
    /// The store synced (null for catalog imports).
    pub store_id: Option<ID>,
    /// Grows with every change: a client keeps the highest it has seen.
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

impl From<&SyncRunRow> for SyncRunState {
    fn from(r: &SyncRunRow) -> Self {
        Self {
            id: sync_run_gid(SyncRunId(r.id)),
            job_id: job_gid(JobId(r.job_id)),
            kind: r.kind.into(),
            status: r.status.into(),
            progress: i32::from(r.progress),
            attempt: r.attempt,
            counts: SyncCounts {
                fetched: r.fetched,
                created: r.created,
                updated: r.updated,
                skipped: r.skipped,
                failed: r.failed,
            },
            message: r.message.clone(),
            last_error: r.last_error.clone(),
            store_id: r.store_id.map(|s| store_gid(StoreId(s))),
            version: r.version,
            created_at: r.created_at,
            started_at: r.started_at,
            finished_at: r.finished_at,
            updated_at: r.updated_at,
        }
    }
}

/// A sync run: one job's work as sellers see it.
pub struct SyncRun(pub SyncRunRow);

/// A sync run: one job's work as sellers see it.
#[Object]
impl SyncRun {
    /// Global id.
    pub async fn id(&self) -> ID {
        sync_run_gid(SyncRunId(self.0.id))
    }
    /// Its state now.
    async fn state(&self) -> SyncRunState {
        SyncRunState::from(&self.0)
    }
    /// What it does.
    async fn kind(&self) -> SyncKind {
        self.0.kind.into()
    }
    /// Lifecycle (see `SyncRunState.status`).
    async fn status(&self) -> SyncRunStatus {
        self.0.status.into()
    }
    /// 0-100.
    async fn progress(&self) -> i32 {
        i32::from(self.0.progress)
    }
    /// The store synced (null for catalog imports).
    async fn store_id(&self) -> Option<ID> {
        self.0.store_id.map(|s| store_gid(StoreId(s)))
    }
    /// The job running it.
    async fn job(&self, ctx: &Context<'_>) -> Result<Job> {
        let id = JobId(self.0.job_id);
        Ok(Job(read(ctx, async |c| sync::job(&c, id).await).await?))
    }
    /// Per-entity results (what was created, updated, skipped, and what failed and why).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn items(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<SyncItem>> {
        let args = page_args(after, before, first, last)?;
        let run = self.0.id;
        let page = read(ctx, async |c| sync::items(&c, run, args).await).await?;
        Ok(connection(page, |i| i.id, SyncItem))
    }
    /// Log lines, oldest first (each attempt's start, failure and retry).
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    async fn logs(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<SyncLog>> {
        let args = page_args(after, before, first, last)?;
        let run = self.0.id;
        let page = read(ctx, async |c| sync::logs(&c, run, args).await).await?;
        Ok(connection(page, |l| l.id, SyncLog))
    }
}

/// What a sync item is about (a job that records a new kind of item adds it here).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum SyncEntity {
    /// A row of a catalog import (`key`: its row number).
    CatalogRow,
    /// A marketplace product read into a listing (`key`: its item id).
    Listing,
    /// A listing's stock push or drift check (`key`: its item/model id).
    ListingStock,
    /// A row of an order file import (`key`: its row number).
    OrderRow,
    /// A time window of an order sync (`key`: `from..to` in Unix seconds).
    OrderWindow,
}

/// One entity a run handled.
pub struct SyncItem(pub SyncItemRow);

/// One entity a run handled.
#[Object]
impl SyncItem {
    /// Id.
    pub async fn id(&self) -> ID {
        encode_id("SyncItem", self.0.id)
    }
    /// What kind of thing it is.
    async fn entity(&self) -> Result<SyncEntity> {
        Ok(match self.0.entity.as_str() {
            "CATALOG_ROW" => SyncEntity::CatalogRow,
            "LISTING" => SyncEntity::Listing,
            "LISTING_STOCK" => SyncEntity::ListingStock,
            "ORDER_ROW" => SyncEntity::OrderRow,
            "ORDER_WINDOW" => SyncEntity::OrderWindow,
            other => {
                return Err(
                    AppError::internal(format!("sync item of unknown entity {other}")).into(),
                );
            }
        })
    }
    /// Its key (external id, SKU or row).
    async fn key(&self) -> &str {
        &self.0.external_key
    }
    /// What happened to it.
    async fn action(&self) -> SyncItemAction {
        self.0.action.into()
    }
    /// Why (FAILED, SKIPPED).
    async fn message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }
    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A log line of a run.
pub struct SyncLog(pub SyncLogRow);

/// A log line of a run.
#[Object]
impl SyncLog {
    /// Id.
    pub async fn id(&self) -> ID {
        encode_id("SyncLog", self.0.id)
    }
    /// Attempt.
    async fn attempt(&self) -> i32 {
        self.0.attempt
    }
    /// Severity.
    async fn level(&self) -> LogLevel {
        self.0.level.into()
    }
    /// Text.
    async fn message(&self) -> &str {
        &self.0.message
    }
    /// When.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A background job.
pub struct Job(pub JobRow);

/// A background job.
#[Object]
impl Job {
    /// Global id.
    pub async fn id(&self) -> ID {
        job_gid(JobId(self.0.id))
    }
    /// What it does.
    async fn kind(&self) -> SyncKind {
        self.0.kind.into()
    }
    /// Lifecycle: QUEUED (waiting, or waiting to retry), RUNNING, SUCCEEDED, DEAD or CANCELLED.
    async fn status(&self) -> JobStatus {
        self.0.status.into()
    }
    /// Attempts started.
    async fn attempts(&self) -> i32 {
        self.0.attempts
    }
    /// Attempts allowed.
    async fn max_attempts(&self) -> i32 {
        self.0.max_attempts
    }
    /// Not before (the next retry, for a job waiting to retry).
    async fn run_at(&self) -> DateTime<Utc> {
        self.0.run_at
    }
    /// Error of the last failed attempt.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }
    /// Cancellation was asked for while it runs.
    async fn cancel_requested(&self) -> bool {
        self.0.cancel_requested
    }
    /// The store, if a store's job.
    async fn store_id(&self) -> Option<ID> {
        self.0.store_id.map(|s| store_gid(StoreId(s)))
    }
    /// The schedule slot it runs, if scheduled.
    async fn slot_at(&self) -> Option<DateTime<Utc>> {
        self.0.slot_at
    }
    /// Queued at.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// First attempt started at.
    async fn started_at(&self) -> Option<DateTime<Utc>> {
        self.0.started_at
    }
    /// Finished at.
    async fn finished_at(&self) -> Option<DateTime<Utc>> {
        self.0.finished_at
    }
    /// Its sync run (none until a scheduled job starts).
    async fn sync_run(&self, ctx: &Context<'_>) -> Result<Option<SyncRun>> {
        let id = self.0.id;
        let run = read(ctx, async |c| crate::domain::jobs::run_of(&c, id).await).await?;
        Ok(run.map(SyncRun))
    }
}

/// A lookup by id: not found is `null` (as `node`, `product` and `order` answer), other errors
/// stay errors.
fn found<T>(r: Result<T, AppError>) -> Result<Option<T>, AppError> {
    match r {
        Ok(v) => Ok(Some(v)),
        Err(AppError::NotFound(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// When a store syncs one kind of data.
pub struct SyncSchedule(pub ScheduleRow);

/// When a store syncs one kind of data.
#[Object]
impl SyncSchedule {
    /// Global id.
    pub async fn id(&self) -> ID {
        sync_schedule_gid(SyncScheduleId(self.0.id))
    }
    /// The store.
    async fn store_id(&self) -> ID {
        store_gid(StoreId(self.0.store_id))
    }
    /// A scheduled kind: ORDERS, PAYOUTS, TOKEN_REFRESH, RETURN_SLA, PRODUCTS or STOCK_DRIFT.
    async fn kind(&self) -> SyncKind {
        self.0.kind.into()
    }
    /// Interval in seconds (slots aligned to the Unix epoch), if an interval schedule.
    async fn every_seconds(&self) -> Option<i32> {
        self.0.every_seconds
    }
    /// Five-field cron expression (UTC), if a cron schedule.
    async fn cron(&self) -> Option<&str> {
        self.0.cron.as_deref()
    }
    /// On or off.
    async fn enabled(&self) -> bool {
        self.0.enabled
    }
    /// Next slot (null when off).
    async fn next_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_run_at
    }
    /// Last slot started.
    async fn last_run_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_run_at
    }
}

/// Sync queries.
#[derive(Default)]
pub struct SyncQuery;

#[Object]
impl SyncQuery {
    /// Sync runs the caller may see, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn sync_runs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: Option<ID>,
        #[graphql(desc = "Only runs of this kind.")] kind: Option<SyncKind>,
        #[graphql(desc = "Only items in this state.")] status: Option<SyncRunStatus>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<SyncRun>> {
        let args = page_args(after, before, first, last)?;
        let store = store_id
            .as_ref()
            .map(crate::graphql::relay::store_id)
            .transpose()?;
        let filter = RunFilter {
            store,
            kind: kind.map(Into::into),
            status: status.map(Into::into),
        };
        let page = read(ctx, async |c| sync::runs(&c, filter, args).await).await?;
        Ok(connection(page, |r| r.id, SyncRun))
    }

    /// One sync run, or null when none with this id is visible to the caller.
    async fn sync_run(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> Result<Option<SyncRun>> {
        let Ok(id) = sync_run_id(&id) else {
            return Ok(None);
        };
        Ok(read(ctx, async |c| found(sync::run(&c, id).await))
            .await?
            .map(SyncRun))
    }

    /// Background jobs the caller may see, newest first.
    #[graphql(complexity = "first.or(last).unwrap_or(20).max(1) as usize * child_complexity")]
    #[allow(clippy::too_many_arguments)]
    async fn jobs(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Only items in this state.")] status: Option<JobStatus>,
        #[graphql(desc = "The store (global id).")] store_id: Option<ID>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<Job>> {
        let args = page_args(after, before, first, last)?;
        let store = store_id.as_ref().map(store_id_of).transpose()?;
        let status = status.map(Into::into);
        let page = read(ctx, async |c| sync::jobs(&c, status, store, args).await).await?;
        Ok(connection(page, |j| j.id, Job))
    }

    /// One job, or null when none with this id is visible to the caller.
    async fn job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> Result<Option<Job>> {
        let Ok(id) = job_id(&id) else {
            return Ok(None);
        };
        Ok(read(ctx, async |c| found(sync::job(&c, id).await))
            .await?
            .map(Job))
    }

    /// A store's sync schedules.
    async fn sync_schedules(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<Conn<SyncSchedule>> {
        let args = page_args(after, before, first, last)?;
        let store = store_id_of(&store_id)?;
        let page = read(ctx, async |c| schedule::list(&c, store, args).await).await?;
        Ok(connection(page, |r| r.id, SyncSchedule))
    }
}

fn store_id_of(id: &ID) -> crate::error::AppResult<StoreId> {
    store_id(id)
}

/// Input of `startSync`.
#[derive(InputObject)]
pub struct StartSyncInput {
    /// The store.
    pub store_id: ID,
    /// A scheduled kind: ORDERS, PAYOUTS, TOKEN_REFRESH, RETURN_SLA, PRODUCTS or STOCK_DRIFT.
    pub kind: SyncKind,
    /// ORDERS only: backfill the orders updated from this time (split into the platform's
    /// windows, each committed once; a retried job resumes after the last committed window).
    /// Without it, ORDERS reads what changed since the store's last sync.
    pub since: Option<DateTime<Utc>>,
    /// ORDERS backfill only: up to this time (default: now).
    pub until: Option<DateTime<Utc>>,
    /// Retrying with the same key returns the job the first call queued.
    pub idempotency_key: Option<String>,
}

/// Result of a mutation that queues a job.
#[derive(SimpleObject)]
pub struct JobPayload {
    /// The job.
    pub job: Option<Job>,
    /// Its sync run (subscribe with `syncRunUpdated(id)`).
    pub sync_run: Option<SyncRun>,
    /// Problems with the input (nothing was queued).
    pub user_errors: Vec<UserError>,
}

/// Builds the payload of a mutation that queued a job.
pub fn queued_payload(q: Option<Queued>, user_errors: Vec<UserError>) -> JobPayload {
    JobPayload {
        job: q.as_ref().map(|q| Job(q.job.clone())),
        sync_run: q.and_then(|q| q.run).map(SyncRun),
        user_errors,
    }
}

/// Input of `cancelJob` and `retryJob`.
#[derive(InputObject)]
pub struct JobInput {
    /// The job.
    pub id: ID,
}

/// Input of `updateSyncSchedule`.
#[derive(InputObject)]
pub struct UpdateSyncScheduleInput {
    /// The store.
    pub store_id: ID,
    /// A scheduled kind: ORDERS, PAYOUTS, TOKEN_REFRESH, RETURN_SLA, PRODUCTS or STOCK_DRIFT.
    pub kind: SyncKind,
    /// New interval in seconds (replaces a cron expression).
    pub every_seconds: Option<i32>,
    /// New five-field cron expression, UTC (replaces an interval).
    pub cron: Option<String>,
    /// Turn the schedule on or off.
    pub enabled: Option<bool>,
}

/// Result of `updateSyncSchedule`.
#[derive(SimpleObject)]
pub struct SyncSchedulePayload {
    /// The schedule.
    pub schedule: Option<SyncSchedule>,
    /// Problems with the input (nothing changed).
    pub user_errors: Vec<UserError>,
}

/// Sync mutations.
#[derive(Default)]
pub struct SyncMutation;

#[Object]
impl SyncMutation {
    /// Starts a sync of a store now, besides its schedule. Needs sync write on the store's branch.
    async fn start_sync(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: StartSyncInput,
    ) -> Result<Option<JobPayload>> {
        some(async {
            let (q, errs) = mutate(ctx, async |c| {
                let store = crate::graphql::relay::store_id(&input.store_id)
                    .map_err(|_| AppError::invalid("input.storeId", "store not found"))?;
                let range = match (input.since, input.until) {
                    (Some(since), until) => Some(sync::SyncRange { since, until }),
                    (None, Some(_)) => {
                        return Err(AppError::invalid("input.since", "until needs since"));
                    }
                    (None, None) => None,
                };
                sync::start_sync(&c, store, input.kind.into(), range, input.idempotency_key).await
            })
            .await?;
            Ok(queued_payload(q, errs))
        })
        .await
    }

    /// Cancels a queued job at once, or a running one at its next lease renewal (its work is
    /// rolled back).
    async fn cancel_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: JobInput,
    ) -> Result<Option<JobPayload>> {
        some(async {
            let (job, errs) = mutate(ctx, async |c| {
                let id = job_id(&input.id)?;
                sync::cancel(&c, id).await
            })
            .await?;
            Ok(job_payload(job, errs))
        })
        .await
    }

    /// Runs a DEAD or CANCELLED job again from its first attempt.
    async fn retry_job(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: JobInput,
    ) -> Result<Option<JobPayload>> {
        some(async {
            let (job, errs) = mutate(ctx, async |c| {
                let id = job_id(&input.id)?;
                sync::retry(&c, id).await
            })
            .await?;
            Ok(job_payload(job, errs))
        })
        .await
    }

    /// Changes a store's schedule of one kind: its queued slot is replaced by the next slot
    /// under the new definition.
    async fn update_sync_schedule(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateSyncScheduleInput,
    ) -> Result<Option<SyncSchedulePayload>> {
        some(async {
            let min = ctx.data::<AppState>()?.config.jobs.schedule_min_interval;
            let (row, user_errors) = mutate(ctx, async |c| {
                let store = crate::graphql::relay::store_id(&input.store_id)?;
                let kind = input.kind.into();
                schedule::update(
                    &c,
                    UpdateSchedule {
                        store,
                        kind,
                        every_seconds: input.every_seconds,
                        cron: input.cron,
                        enabled: input.enabled,
                    },
                    min,
                )
                .await
            })
            .await?;
            Ok(SyncSchedulePayload {
                schedule: row.map(SyncSchedule),
                user_errors,
            })
        })
        .await
    }
}

fn job_payload(job: Option<JobRow>, user_errors: Vec<UserError>) -> JobPayload {
    JobPayload {
        job: job.map(Job),
        sync_run: None,
        user_errors,
    }
}

/// May `access` see sync runs of `branch` (None: organization-wide)?
pub fn sees_branch(access: &crate::tenant::Access, branch: Option<BranchId>) -> bool {
    access.org.as_ref().is_some_and(|o| {
        o.allows(crate::auth::permissions::Perm::SyncRead)
            && branch.is_none_or(|b| o.all_branches() || o.visible_branches().contains(&b))
    })
}
