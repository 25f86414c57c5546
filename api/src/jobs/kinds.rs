//! Job kinds and their handlers. A handler runs inside the job's tenant transaction; what it
//! writes commits only if its attempt still holds the lease when it finishes.

use crate::domain::import::{self, RawRow, RowError};
use crate::domain::stmt;
use crate::ids::LocationId;
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use sea_orm::ConnectionTrait;
use serde::{Deserialize, Serialize};
use std::time::Duration;
use uuid::Uuid;

/// A catalog import run as a job.
pub const CATALOG_IMPORT: &str = "CATALOG_IMPORT";
/// Kinds a store schedule queues.
pub const SCHEDULED: [&str; 4] = ["ORDERS", "PAYOUTS", "TOKEN_REFRESH", "RETURN_SLA"];
/// Test kind (enabled by `MERCATO_JOB_TEST_KINDS`): writes a marker, sleeps, fails on request.
pub const TEST_PROBE: &str = "TEST_PROBE";
/// Test kind: does nothing (benchmarks of the queue itself).
pub const NOOP: &str = "NOOP";

/// Does a job of `kind` keep a sync run?
pub fn records_run(kind: &str) -> bool {
    kind != NOOP
}

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

/// Runs the handler of `jc.job`'s kind.
pub async fn run(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let test = jc.state.config.jobs.test_kinds;
    match jc.job.kind.as_str() {
        CATALOG_IMPORT => catalog_import(jc).await,
        k if SCHEDULED.contains(&k) => Ok(not_connected_yet(k)),
        TEST_PROBE if test => probe(jc).await,
        NOOP if test => Ok(Outcome {
            status: "SUCCEEDED",
            counts: Counts::default(),
            message: None,
        }),
        other => Err(JobError::Permanent(format!("unknown job kind {other}"))),
    }
}

/// The marketplace side of scheduled syncs arrives with the connector issues; until then a
/// scheduled slot records a SKIPPED run saying so, rather than pretending to have synced.
fn not_connected_yet(kind: &str) -> Outcome {
    let what = match kind {
        "ORDERS" => "order import arrives with the orders issue",
        "PAYOUTS" => "payout reconciliation arrives with the finance issue",
        "TOKEN_REFRESH" => "token refresh arrives with the marketplace connector issue",
        _ => "return SLA checks arrive with the returns issue",
    };
    Outcome {
        status: "SKIPPED",
        counts: Counts::default(),
        message: Some(format!("nothing to do yet: {what}")),
    }
}

fn n(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

async fn catalog_import(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let input: ImportPayload = serde_json::from_value(jc.job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("bad import payload: {e}")))?;
    let total = input.rows.len();
    jc.progress(
        5,
        format!("importing {total} rows"),
        Counts {
            fetched: n(total),
            ..Counts::default()
        },
    );
    let report_progress = |percent: u8, step: &'static str| {
        jc.progress(
            percent,
            step,
            Counts {
                fetched: n(total),
                ..Counts::default()
            },
        );
    };
    let report = import::import_with_progress(
        &jc.c,
        input.rows,
        input.errors,
        input.location_id.map(LocationId),
        &report_progress,
    )
    .await?;
    jc.checkpoint()?;
    let run = jc.run.map(|r| r.id);
    if let Some(run) = run {
        // One item per refused row: which row, which field, why.
        let failed: Vec<serde_json::Value> = report
            .errors
            .iter()
            .map(|e| {
                serde_json::json!({
                    "id": Uuid::now_v7(),
                    "key": format!("row {}", e.row),
                    "message": match &e.field {
                        Some(f) => format!("{f}: {}", e.message),
                        None => e.message.clone(),
                    },
                })
            })
            .collect();
        if !failed.is_empty() {
            jc.c.tx
                .execute_raw(stmt(
                    "INSERT INTO sync_items (org_id, id, run_id, branch_id, entity, external_key, action, message) \
                     SELECT (SELECT app_org_id()), u.id, $1, $2, 'CATALOG_ROW', u.key, 'FAILED', u.message \
                     FROM jsonb_to_recordset($3) AS u(id uuid, key text, message text)",
                    vec![
                        run.into(),
                        jc.job.branch_id.into(),
                        serde_json::Value::Array(failed).into(),
                    ],
                ))
                .await?;
        }
    }
    let created = report.variants_created;
    let updated = report.variants_updated;
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: n(report.rows_total),
            created: n(created),
            updated: n(updated),
            skipped: 0,
            failed: n(report.errors.len()),
        },
        message: Some(format!(
            "import {}: {} of {} rows imported; products {} created, {} updated; variants {created} created, {updated} updated; {} stock levels counted",
            report.id,
            report.rows_imported,
            report.rows_total,
            report.products_created,
            report.products_updated,
            report.stock_counted
        )),
    })
}

async fn probe(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let p: ProbePayload = serde_json::from_value(jc.job.payload.clone())
        .map_err(|e| JobError::Permanent(format!("bad probe payload: {e}")))?;
    let attempt = jc.job.attempts;
    // The effect: a row written in the job's transaction, so it commits with the fenced completion
    // or not at all.
    jc.c.tx
        .execute_raw(stmt(
            "INSERT INTO sync_logs (org_id, id, run_id, branch_id, attempt, level, message) \
             SELECT org_id, $2, id, branch_id, $3, 'INFO', $4 FROM sync_runs WHERE job_id = $1",
            vec![
                jc.job.id.into(),
                Uuid::now_v7().into(),
                attempt.into(),
                format!("probe effect {}", p.marker).into(),
            ],
        ))
        .await?;
    let steps = p.steps.unwrap_or(1).max(1);
    if p.sleep_attempts.is_none_or(|n| attempt <= n) {
        let each = Duration::from_millis(p.sleep_ms) / steps;
        for i in 1..=steps {
            tokio::time::sleep(each).await;
            // Cancellation is honoured; a lost lease is deliberately not checked here, so that a
            // stalled attempt runs on into its fenced completion (the fence is what refuses it).
            if jc.cancel_requested() {
                return Err(JobError::Cancelled);
            }
            let percent = u8::try_from(i * 100 / steps).unwrap_or(100);
            jc.progress(percent, format!("step {i} of {steps}"), Counts::default());
        }
    }
    if p.fail_attempts.is_none_or(|n| attempt <= n) {
        match p.fail.as_deref() {
            Some("transient") => {
                return Err(JobError::Transient(format!("probe {} failed", p.marker)));
            }
            Some("permanent") => {
                return Err(JobError::Permanent(format!("probe {} refused", p.marker)));
            }
            _ => {}
        }
    }
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: 1,
            ..Counts::default()
        },
        message: Some(format!("probe {} done", p.marker)),
    })
}
