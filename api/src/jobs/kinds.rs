//! Job kinds and their handlers. A handler runs inside the job's tenant transaction; what it
//! writes commits only if its attempt still holds the lease when it finishes.

use crate::domain::import;
use crate::domain::jobs::{ImportPayload, JobInput, JobKind, ProbePayload};
use crate::domain::stmt;
use crate::ids::LocationId;
use crate::jobs::runner::{Counts, JobCtx, JobError, Outcome};
use sea_orm::ConnectionTrait;
use std::time::Duration;
use uuid::Uuid;

/// Runs the handler of `jc.job`'s kind.
pub async fn run(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let test = jc.state.config.jobs.test_kinds;
    let input = JobInput::decode(jc.job.kind, &jc.job.payload).map_err(JobError::Permanent)?;
    match input {
        JobInput::CatalogImport(p) => catalog_import(jc, p).await,
        JobInput::Scheduled(k) => Ok(not_connected_yet(k)),
        JobInput::Probe(p) if test => probe(jc, p).await,
        JobInput::Noop if test => Ok(Outcome {
            status: "SUCCEEDED",
            counts: Counts::default(),
            message: None,
        }),
        other => Err(JobError::Permanent(format!(
            "job kind {} is disabled",
            other.kind()
        ))),
    }
}

/// The marketplace side of scheduled syncs arrives with the connector issues; until then a
/// scheduled slot records a SKIPPED run saying so, rather than pretending to have synced.
fn not_connected_yet(kind: JobKind) -> Outcome {
    let what = match kind {
        JobKind::Orders => "order import arrives with the orders issue",
        JobKind::Payouts => "payout reconciliation arrives with the finance issue",
        JobKind::TokenRefresh => "token refresh arrives with the marketplace connector issue",
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

async fn catalog_import(jc: &JobCtx<'_>, input: ImportPayload) -> Result<Outcome, JobError> {
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

async fn probe(jc: &JobCtx<'_>, p: ProbePayload) -> Result<Outcome, JobError> {
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
