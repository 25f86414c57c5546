//! Running one job: claim it under a lease, run its handler in the organization's tenant
//! transaction (as the runtime role: RLS applies), renew the lease while it runs, and finish with a
//! fenced update in that same transaction.
//!
//! The fence is `lease_token`: every claim increments it, and completion only updates the row
//! whose token is still ours. A worker that stalled past its lease (paused, partitioned, slow) and
//! was taken over finds the token changed, so its completion updates nothing and its transaction,
//! with every write the handler made, rolls back. The attempt that holds the lease is the only one
//! whose effects commit.

use crate::domain::jobs::org_tx;
use crate::domain::jobs::{
    JOB_COLUMNS, JobRow, RUN_COLUMNS, SyncRunRow, publish_run, system_access,
};
use crate::domain::schedules;
use crate::domain::{Ctx, stmt};
use crate::effects::Effects;
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::jobs::kinds;
use crate::state::AppState;
use sea_orm::{ConnectionTrait, DatabaseTransaction, FromQueryResult};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// Counts a handler reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Fetched or read.
    pub fetched: i32,
    /// Created.
    pub created: i32,
    /// Updated.
    pub updated: i32,
    /// Skipped.
    pub skipped: i32,
    /// Failed.
    pub failed: i32,
}

/// How a handler finished.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// SUCCEEDED or SKIPPED.
    pub status: &'static str,
    /// Final counts.
    pub counts: Counts,
    /// Summary for the run.
    pub message: Option<String>,
}

/// Why a handler did not finish.
#[derive(Debug, Clone, thiserror::Error)]
pub enum JobError {
    /// Worth retrying (network, timeouts, a database hiccup).
    #[error("{0}")]
    Transient(String),
    /// Retrying cannot help (bad input, missing permission, unknown kind): dead at once.
    #[error("{0}")]
    Permanent(String),
    /// Cancellation was asked for.
    #[error("cancelled")]
    Cancelled,
    /// Another worker took the lease over; this attempt must stop.
    #[error("lease lost")]
    LeaseLost,
    /// Not now (the store's circuit breaker is open): run again after the delay, without
    /// counting this as a failed attempt.
    #[error("deferred: {1}")]
    Deferred(Duration, String),
}

impl From<AppError> for JobError {
    fn from(e: AppError) -> Self {
        match e {
            AppError::Internal(detail) => Self::Transient(detail),
            AppError::Upstream(m) | AppError::Conflict(m) => Self::Transient(m),
            AppError::RateLimited { retry_after_secs }
            | AppError::Throttled { retry_after_secs } => {
                Self::Transient(format!("rate limited; retry after {retry_after_secs}s"))
            }
            other => Self::Permanent(format!("{}: {}", other.code(), other.public_message())),
        }
    }
}

impl From<sea_orm::DbErr> for JobError {
    fn from(e: sea_orm::DbErr) -> Self {
        Self::Transient(format!("database: {e}"))
    }
}

struct Progress {
    percent: u8,
    message: String,
    counts: Counts,
}

/// Signals between the handler, the lease keeper and the progress writer.
#[derive(Default)]
struct Control {
    cancel: AtomicBool,
    lost: AtomicBool,
}

/// What a handler gets.
pub struct JobCtx<'a> {
    /// The tenant transaction the handler's writes go to (they commit only with the fenced
    /// completion).
    pub c: Ctx<'a>,
    /// The job.
    pub job: &'a JobRow,
    /// Its sync run, if it records one.
    pub run: Option<&'a SyncRunRow>,
    /// Process state (config, Redis).
    pub state: &'a AppState,
    ctl: &'a Control,
    progress: mpsc::UnboundedSender<Progress>,
}

impl JobCtx<'_> {
    /// Reports progress (0-100) with a message and counts so far; written and published beside
    /// the handler's transaction, so watchers see it while the job runs.
    pub fn progress(&self, percent: u8, message: impl Into<String>, counts: Counts) {
        let _ = self.progress.send(Progress {
            percent: percent.min(99),
            message: message.into(),
            counts,
        });
    }

    /// Was cancellation asked for?
    pub fn cancel_requested(&self) -> bool {
        self.ctl.cancel.load(Ordering::Relaxed)
    }

    /// Stop here if cancellation was asked for or the lease was lost (long handlers call this
    /// between steps).
    pub fn checkpoint(&self) -> Result<(), JobError> {
        if self.ctl.lost.load(Ordering::Relaxed) {
            return Err(JobError::LeaseLost);
        }
        if self.cancel_requested() {
            return Err(JobError::Cancelled);
        }
        Ok(())
    }
}

/// A step of a long job committed on its own (see [`JobCtx::step`]): its transaction holds the
/// job's row locked, so no other worker can take the job over until it commits or rolls back.
pub struct Step {
    tx: DatabaseTransaction,
    access: crate::tenant::access::Access,
    effects: Effects,
}

impl Step {
    /// The step's tenant context (its writes commit with [`Step::commit`]).
    pub fn ctx(&self) -> Ctx<'_> {
        Ctx {
            tx: &self.tx,
            access: &self.access,
            request_id: Some("job"),
            effects: &self.effects,
        }
    }

    /// Commits the step and runs its after-commit effects.
    pub async fn commit(self, state: &AppState) -> Result<(), JobError> {
        self.tx.commit().await?;
        crate::after_commit::run(state, self.effects.take()).await;
        Ok(())
    }
}

impl JobCtx<'_> {
    /// Opens a step that commits before the job ends, so a retried or taken-over attempt finds
    /// it done (backfill windows). Fenced by the lease token: the step locks the job's row and
    /// goes on only if no other attempt has claimed the job (a claim increments the token, and
    /// cannot happen while the step holds the row: the claimer skips locked rows); a step of an
    /// attempt that was taken over is refused (`LeaseLost`, nothing written). A lease that ran
    /// out during a long step (its renewal waits for the row) is not lost unless claimed.
    pub async fn step(&self) -> Result<Step, JobError> {
        self.checkpoint()?;
        let org = OrgId(self.job.org_id);
        let tx = org_tx(&self.state.db, org).await?;
        let ours = tx
            .query_one_raw(stmt(
                "SELECT 1 AS ok FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING' \
                 FOR NO KEY UPDATE",
                vec![self.job.id.into(), self.job.lease_token.into()],
            ))
            .await?
            .is_some();
        if !ours {
            tx.rollback().await?;
            self.ctl.lost.store(true, Ordering::Relaxed);
            return Err(JobError::LeaseLost);
        }
        Ok(Step {
            tx,
            access: system_access(org),
            effects: Effects::default(),
        })
    }

    /// Awaits `work` while keeping the job's own transaction from idling out (a handler that
    /// works in [`Self::step`]s or waits on a marketplace leaves it idle): it is pinged every
    /// third of the lease. A stalled worker stops pinging, so the server still ends its
    /// transaction.
    pub async fn keep_alive<T>(&self, work: impl std::future::Future<Output = T>) -> T {
        let every = (self.state.config.jobs.lease / 3).max(Duration::from_millis(100));
        tokio::pin!(work);
        loop {
            // The ping is polled beside the work, never instead of it: the work may hold the
            // transaction's connection mid-statement when the ping comes due, and a ping awaited
            // on its own would wait for that connection forever while the work waits to be
            // polled (both jobs of a store deadlocked this way, idle in transaction).
            let ping = async {
                tokio::time::sleep(every).await;
                if let Err(e) = self.c.tx.execute_unprepared("SELECT 1").await {
                    tracing::debug!(error = %e, "the job's transaction did not answer a keep-alive");
                }
            };
            tokio::select! {
                out = &mut work => return out,
                () = ping => {}
            }
        }
    }
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The attempts `job` gets under this worker's backoff schedule.
fn attempt_limit(state: &AppState, job: &JobRow) -> i32 {
    let by_config = i32::try_from(state.config.jobs.backoff.len()).unwrap_or(20) + 1;
    job.max_attempts.min(by_config)
}

enum Claim {
    Run(Box<(JobRow, Option<SyncRunRow>)>),
    NotDue,
    Deferred,
    Finished,
}

/// Handles one dispatch of `job`: claims it if it is due, runs it, records the outcome.
pub async fn run_dispatched(state: &AppState, worker: &str, org: OrgId, job: Uuid) {
    use tracing::Instrument as _;
    let span = tracing::info_span!("job", org_id = %org, job_id = %job, worker);
    dispatched(state, worker, org, job).instrument(span).await;
}

async fn dispatched(state: &AppState, worker: &str, org: OrgId, job: Uuid) {
    match claim(state, worker, org, job).await {
        Ok(Claim::Run(claimed)) => {
            let (job, run) = *claimed;
            if let Err(e) = execute(state, job, run).await {
                tracing::error!(error = ?e, %org, "job execution failed outside its handler");
            }
        }
        Ok(Claim::NotDue | Claim::Deferred | Claim::Finished) => {}
        Err(e) => tracing::warn!(error = ?e, %org, %job, "job claim failed"),
    }
}

async fn log(
    tx: &DatabaseTransaction,
    job: Uuid,
    attempt: i32,
    level: &str,
    message: &str,
) -> AppResult<()> {
    tx.execute_raw(stmt(
        "INSERT INTO sync_logs (org_id, id, run_id, branch_id, attempt, level, message) \
         SELECT org_id, $2, id, branch_id, $3, $4, $5 FROM sync_runs WHERE job_id = $1",
        vec![
            job.into(),
            Uuid::now_v7().into(),
            attempt.into(),
            level.into(),
            message.into(),
        ],
    ))
    .await?;
    Ok(())
}

async fn set_run(
    tx: &DatabaseTransaction,
    job: Uuid,
    status: &str,
    error: Option<&str>,
    effects: &Effects,
) -> AppResult<()> {
    let run = SyncRunRow::find_by_statement(stmt(
        &format!(
            "UPDATE sync_runs SET status = $2, last_error = COALESCE($3, last_error), \
                    finished_at = CASE WHEN $2 IN ('SUCCEEDED', 'SKIPPED', 'DEAD', 'CANCELLED') THEN now() END, \
                    version = version + 1, updated_at = now() \
             WHERE job_id = $1 RETURNING {RUN_COLUMNS}"
        ),
        vec![job.into(), status.into(), error.map(str::to_owned).into()],
    ))
    .one(tx)
    .await?;
    if let Some(run) = run {
        publish_run(effects, &run);
    }
    Ok(())
}

async fn claim(state: &AppState, worker: &str, org: OrgId, id: Uuid) -> AppResult<Claim> {
    let tx = org_tx(&state.db, org).await?;
    let found = JobRow::find_by_statement(stmt(
        &format!(
            "SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1 \
               AND ((status = 'QUEUED' AND run_at <= now()) OR (status = 'RUNNING' AND lease_until < now())) \
             FOR UPDATE SKIP LOCKED"
        ),
        vec![id.into()],
    ))
    .one(&tx)
    .await?;
    let Some(job) = found else {
        tx.rollback().await?;
        return Ok(Claim::NotDue);
    };
    let effects = Effects::default();
    let takeover = job.status == crate::domain::jobs::JobStatus::Running;
    if takeover && (job.cancel_requested || job.attempts >= attempt_limit(state, &job)) {
        // The last allowed attempt (or a cancelled one) died with its worker: nothing more to run.
        let (status, run_status, error) = if job.cancel_requested {
            (
                "CANCELLED",
                "CANCELLED",
                "cancelled (its worker stopped)".to_owned(),
            )
        } else {
            (
                "DEAD",
                "DEAD",
                format!(
                    "attempt {} of {} stopped without finishing (worker {} lost its lease)",
                    job.attempts,
                    job.max_attempts,
                    job.lease_owner.as_deref().unwrap_or("?")
                ),
            )
        };
        tx.execute_raw(stmt(
            "UPDATE jobs SET status = $2, finished_at = now(), lease_owner = NULL, lease_until = NULL, \
                    last_error = $3, updated_at = now() WHERE id = $1",
            vec![id.into(), status.into(), error.clone().into()],
        ))
        .await?;
        set_run(&tx, id, run_status, Some(&error), &effects).await?;
        log(&tx, id, job.attempts, "ERROR", &error).await?;
        tx.commit().await?;
        crate::after_commit::run(state, effects.take()).await;
        return Ok(Claim::Finished);
    }
    if let Some(store) = job.store_id {
        // One claimer per store at a time, so the count below cannot be raced past the cap.
        tx.execute_raw(stmt(
            "SELECT pg_advisory_xact_lock(hashtextextended('mercato.jobs.store:' || $1::text, 0))",
            vec![store.into()],
        ))
        .await?;
        let running = tx
            .query_one_raw(stmt(
                "SELECT count(*) AS n FROM jobs WHERE store_id = $1 AND status = 'RUNNING' \
                   AND lease_until >= now() AND id <> $2",
                vec![store.into(), id.into()],
            ))
            .await?
            .map(|r| r.try_get::<i64>("", "n"))
            .transpose()?
            .unwrap_or(0);
        if running >= i64::from(state.config.jobs.store_concurrency) {
            // The store is at its cap: try again shortly (the reconciler hands it out when due).
            tx.execute_raw(stmt(
                "UPDATE jobs SET status = 'QUEUED', lease_owner = NULL, lease_until = NULL, \
                        run_at = now() + $2 * interval '1 millisecond', updated_at = now() WHERE id = $1",
                vec![
                    id.into(),
                    ms(state.config.jobs.reconcile_interval).into(),
                ],
            ))
            .await?;
            tx.commit().await?;
            return Ok(Claim::Deferred);
        }
    }
    let claimed = JobRow::find_by_statement(stmt(
        &format!(
            "UPDATE jobs SET status = 'RUNNING', attempts = attempts + 1, lease_owner = $2, \
                    lease_until = now() + $3 * interval '1 millisecond', lease_token = lease_token + 1, \
                    started_at = COALESCE(started_at, now()), updated_at = now() \
             WHERE id = $1 RETURNING {JOB_COLUMNS}"
        ),
        vec![
            id.into(),
            worker.into(),
            ms(state.config.jobs.lease).into(),
        ],
    ))
    .one(&tx)
    .await?
    .ok_or_else(|| AppError::internal("claimed job vanished"))?;
    let run = if claimed.kind.records_run() {
        let run = SyncRunRow::find_by_statement(stmt(
            &format!(
                "INSERT INTO sync_runs (org_id, id, job_id, branch_id, store_id, kind, status, attempt, started_at) \
                 VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, 'RUNNING', $6, now()) \
                 ON CONFLICT (job_id) DO UPDATE SET status = 'RUNNING', attempt = EXCLUDED.attempt, \
                    started_at = COALESCE(sync_runs.started_at, now()), finished_at = NULL, \
                    message = NULL, version = sync_runs.version + 1, updated_at = now() \
                 RETURNING {RUN_COLUMNS}"
            ),
            vec![
                Uuid::now_v7().into(),
                claimed.id.into(),
                claimed.branch_id.into(),
                claimed.store_id.into(),
                claimed.kind.into(),
                claimed.attempts.into(),
            ],
        ))
        .one(&tx)
        .await?;
        if let Some(r) = &run {
            publish_run(&effects, r);
        }
        run
    } else {
        None
    };
    if takeover {
        let msg = format!(
            "attempt {} stopped renewing its lease (worker {}); attempt {} takes over",
            job.attempts,
            job.lease_owner.as_deref().unwrap_or("?"),
            claimed.attempts
        );
        log(&tx, id, claimed.attempts, "WARN", &msg).await?;
        tracing::warn!(job = %id, %org, "{msg}");
    }
    if job.attempts == 0 && job.schedule_id.is_some() {
        let access = system_access(org);
        let c = Ctx {
            tx: &tx,
            access: &access,
            request_id: Some("scheduler"),
            effects: &effects,
        };
        schedules::chain_next(&c, &claimed).await?;
    }
    tx.commit().await?;
    crate::after_commit::run(state, effects.take()).await;
    Ok(Claim::Run(Box::new((claimed, run))))
}

async fn execute(state: &AppState, job: JobRow, run: Option<SyncRunRow>) -> AppResult<()> {
    let org = OrgId(job.org_id);
    let access = system_access(org);
    let lease = state.config.jobs.lease;
    let tx = org_tx(&state.db, org).await?;
    // A job may run longer than a request; if its worker stalls inside the transaction, the server
    // ends it rather than letting its locks outlive the lease for long.
    tx.execute_raw(stmt(
        "SELECT set_config('statement_timeout', $1, true), \
                set_config('idle_in_transaction_session_timeout', $2, true)",
        vec![
            format!("{}ms", ms(lease.max(Duration::from_secs(600)))).into(),
            format!("{}ms", ms(lease * 4)).into(),
        ],
    ))
    .await?;
    let effects = Effects::default();
    let m = crate::metrics::get();
    let kind = crate::metrics::KindLabels {
        kind: job.kind.as_str(),
    };
    let due_for = (chrono::Utc::now() - job.run_at)
        .to_std()
        .unwrap_or_default();
    m.job_queue_seconds
        .get_or_create(&kind)
        .observe(due_for.as_secs_f64());
    let started = std::time::Instant::now();
    let ctl = Arc::new(Control::default());
    let (progress_tx, progress_rx) = mpsc::unbounded_channel();
    let (stop_tx, stop_rx) = oneshot::channel();
    let keeper = tokio::spawn(keep_lease(
        state.clone(),
        job.clone(),
        Arc::clone(&ctl),
        progress_rx,
        stop_rx,
    ));
    let result = {
        let jc = JobCtx {
            c: Ctx {
                tx: &tx,
                access: &access,
                request_id: Some("job"),
                effects: &effects,
            },
            job: &job,
            run: run.as_ref(),
            state,
            ctl: &ctl,
            progress: progress_tx,
        };
        jc.keep_alive(kinds::run(&jc)).await
    };
    let _ = stop_tx.send(());
    let _ = keeper.await;
    m.job_run_seconds
        .get_or_create(&kind)
        .observe(started.elapsed().as_secs_f64());
    let outcome = match &result {
        Ok(o) if o.status == "SKIPPED" => "skipped",
        Ok(_) => "succeeded",
        Err(JobError::Transient(_)) => "failed_transient",
        Err(JobError::Permanent(_)) => "failed_permanent",
        Err(JobError::Cancelled) => "cancelled",
        Err(JobError::LeaseLost) => "lease_lost",
        Err(JobError::Deferred(..)) => "deferred",
    };
    m.jobs
        .get_or_create(&crate::metrics::JobLabels {
            kind: job.kind.as_str(),
            outcome,
        })
        .inc();
    match result {
        Ok(outcome) => complete(state, tx, &job, outcome, effects).await,
        Err(e) => {
            tx.rollback().await?;
            fail(state, &job, e).await
        }
    }
}

async fn complete(
    state: &AppState,
    tx: DatabaseTransaction,
    job: &JobRow,
    outcome: Outcome,
    effects: Effects,
) -> AppResult<()> {
    let fenced = tx
        .execute_raw(stmt(
            "UPDATE jobs SET status = 'SUCCEEDED', finished_at = now(), lease_owner = NULL, \
                    lease_until = NULL, last_error = NULL, updated_at = now() \
             WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING'",
            vec![job.id.into(), job.lease_token.into()],
        ))
        .await?
        .rows_affected();
    if fenced == 0 {
        tx.rollback().await?;
        tracing::warn!(
            job = %job.id,
            lease_token = job.lease_token,
            "completion refused by the fence: the lease was taken over; this attempt's work is rolled back"
        );
        return Ok(());
    }
    let c = outcome.counts;
    let run = SyncRunRow::find_by_statement(stmt(
        &format!(
            "UPDATE sync_runs SET status = $2, progress = 100, fetched = $3, created = $4, updated = $5, \
                    skipped = $6, failed = $7, message = $8, finished_at = now(), \
                    version = version + 1, updated_at = now() \
             WHERE job_id = $1 RETURNING {RUN_COLUMNS}"
        ),
        vec![
            job.id.into(),
            outcome.status.into(),
            c.fetched.into(),
            c.created.into(),
            c.updated.into(),
            c.skipped.into(),
            c.failed.into(),
            outcome.message.into(),
        ],
    ))
    .one(&tx)
    .await?;
    if let Some(run) = run {
        publish_run(&effects, &run);
    }
    tx.commit().await?;
    crate::after_commit::run(state, effects.take()).await;
    Ok(())
}

/// Delay before the retry after attempt `attempt` (1-based), jittered by ±20%.
fn retry_delay(state: &AppState, attempt: i32) -> Duration {
    let i = usize::try_from(attempt.max(1) - 1).unwrap_or(0);
    let base = state
        .config
        .jobs
        .backoff
        .get(i)
        .copied()
        .unwrap_or(Duration::ZERO);
    base.mul_f64(rand::random_range(0.8..=1.2))
}

async fn fail(state: &AppState, job: &JobRow, error: JobError) -> AppResult<()> {
    let attempt = job.attempts;
    let limit = attempt_limit(state, job);
    let (status, run_status, delay, message) = match &error {
        JobError::LeaseLost => {
            tracing::warn!(job = %job.id, "attempt stopped: the lease was taken over; its work is rolled back");
            return Ok(());
        }
        JobError::Cancelled => (
            "CANCELLED",
            "CANCELLED",
            Duration::ZERO,
            "cancelled while running; its work was rolled back".to_owned(),
        ),
        JobError::Permanent(e) => (
            "DEAD",
            "DEAD",
            Duration::ZERO,
            format!("attempt {attempt} of {limit} failed permanently: {e}"),
        ),
        JobError::Transient(e) if attempt >= limit => (
            "DEAD",
            "DEAD",
            Duration::ZERO,
            format!("attempt {attempt} of {limit} failed: {e}; no attempts left"),
        ),
        JobError::Deferred(delay, why) => (
            "QUEUED",
            "RETRYING",
            *delay,
            format!(
                "deferred ({why}); runs again in {} s, not counted as an attempt",
                delay.as_secs()
            ),
        ),
        JobError::Transient(e) => {
            let delay = retry_delay(state, attempt);
            (
                "QUEUED",
                "RETRYING",
                delay,
                format!(
                    "attempt {attempt} of {limit} failed: {e}; retrying in {} s",
                    delay.as_secs()
                ),
            )
        }
    };
    let error_text = match &error {
        JobError::Transient(e) | JobError::Permanent(e) => e.clone(),
        other => other.to_string(),
    };
    let refund_attempt = matches!(error, JobError::Deferred(..));
    let tx = org_tx(&state.db, OrgId(job.org_id)).await?;
    let fenced = tx
        .execute_raw(stmt(
            "UPDATE jobs SET status = $3, \
                    run_at = CASE WHEN $3 = 'QUEUED' THEN now() + $4 * interval '1 millisecond' ELSE run_at END, \
                    finished_at = CASE WHEN $3 = 'QUEUED' THEN NULL ELSE now() END, \
                    lease_owner = NULL, lease_until = NULL, cancel_requested = false, \
                    last_error = $5, updated_at = now(), \
                    attempts = CASE WHEN $6 THEN greatest(attempts - 1, 0) ELSE attempts END \
             WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING'",
            vec![
                job.id.into(),
                job.lease_token.into(),
                status.into(),
                ms(delay).into(),
                error_text.clone().into(),
                refund_attempt.into(),
            ],
        ))
        .await?
        .rows_affected();
    if fenced == 0 {
        tx.rollback().await?;
        tracing::warn!(job = %job.id, "failure not recorded: the lease was taken over");
        return Ok(());
    }
    let effects = Effects::default();
    set_run(&tx, job.id, run_status, Some(&error_text), &effects).await?;
    let level = if refund_attempt {
        "INFO"
    } else if status == "CANCELLED" {
        "WARN"
    } else {
        "ERROR"
    };
    log(&tx, job.id, attempt, level, &message).await?;
    tx.commit().await?;
    crate::after_commit::run(state, effects.take()).await;
    if status == "DEAD" {
        tracing::warn!(job = %job.id, kind = %job.kind, "{message}");
    } else {
        tracing::info!(job = %job.id, kind = %job.kind, "{message}");
    }
    Ok(())
}

/// Renews the lease every third of it and writes progress as it comes, until told to stop.
async fn keep_lease(
    state: AppState,
    job: JobRow,
    ctl: Arc<Control>,
    mut progress: mpsc::UnboundedReceiver<Progress>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut tick = tokio::time::interval(state.config.jobs.lease / 3);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            biased;
            _ = &mut stop => break,
            _ = tick.tick(), if !ctl.lost.load(Ordering::Relaxed) => {
                match renew(&state, &job).await {
                    Ok(Some(cancel)) => {
                        if cancel {
                            ctl.cancel.store(true, Ordering::Relaxed);
                        }
                    }
                    Ok(None) => {
                        ctl.lost.store(true, Ordering::Relaxed);
                        tracing::warn!(job = %job.id, "lease lost: another worker took the job over");
                    }
                    Err(e) => tracing::warn!(error = ?e, job = %job.id, "lease renewal failed"),
                }
            }
            Some(mut p) = progress.recv() => {
                while let Ok(next) = progress.try_recv() {
                    p = next;
                }
                if let Err(e) = write_progress(&state, &job, &p).await {
                    tracing::warn!(error = ?e, job = %job.id, "progress not recorded");
                }
            }
        }
    }
    // Progress sent just before the handler returned is written before the final state.
    let mut last = None;
    while let Ok(p) = progress.try_recv() {
        last = Some(p);
    }
    if let Some(p) = last
        && let Err(e) = write_progress(&state, &job, &p).await
    {
        tracing::warn!(error = ?e, job = %job.id, "progress not recorded");
    }
}

/// Extends the lease if it is still ours: `Some(cancel_requested)`, or `None` when it was lost.
async fn renew(state: &AppState, job: &JobRow) -> AppResult<Option<bool>> {
    let tx = org_tx(&state.db, OrgId(job.org_id)).await?;
    let row = tx
        .query_one_raw(stmt(
            "UPDATE jobs SET lease_until = now() + $3 * interval '1 millisecond', updated_at = now() \
             WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING' RETURNING cancel_requested",
            vec![
                job.id.into(),
                job.lease_token.into(),
                ms(state.config.jobs.lease).into(),
            ],
        ))
        .await?;
    tx.commit().await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "cancel_requested"))
        .transpose()?)
}

async fn write_progress(state: &AppState, job: &JobRow, p: &Progress) -> AppResult<()> {
    let tx = org_tx(&state.db, OrgId(job.org_id)).await?;
    let run = SyncRunRow::find_by_statement(stmt(
        &format!(
            "UPDATE sync_runs SET progress = $3, message = $4, fetched = $5, created = $6, updated = $7, \
                    skipped = $8, failed = $9, version = version + 1, updated_at = now() \
             WHERE job_id = $1 AND status = 'RUNNING' \
               AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND lease_token = $2 AND status = 'RUNNING') \
             RETURNING {RUN_COLUMNS}"
        ),
        vec![
            job.id.into(),
            job.lease_token.into(),
            i16::from(p.percent).into(),
            p.message.clone().into(),
            p.counts.fetched.into(),
            p.counts.created.into(),
            p.counts.updated.into(),
            p.counts.skipped.into(),
            p.counts.failed.into(),
        ],
    ))
    .one(&tx)
    .await?;
    tx.commit().await?;
    if let Some(run) = run {
        let effects = Effects::default();
        publish_run(&effects, &run);
        crate::after_commit::run(state, effects.take()).await;
    }
    Ok(())
}
