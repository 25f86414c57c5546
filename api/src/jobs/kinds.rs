//! Job kinds and their handlers. A handler runs inside the job's tenant transaction; what it
//! writes commits only if its attempt still holds the lease when it finishes.

use crate::connect::{self, Calling, NotCallable};
use crate::domain::jobs::{CallsPayload, ImportPayload, JobInput, JobKind, ProbePayload};
use crate::domain::stmt;
use crate::domain::{connections, import};
use crate::ids::LocationId;
use crate::ids::StoreId;
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
        JobInput::Scheduled(JobKind::TokenRefresh) => token_refresh(jc).await,
        JobInput::Orders(p) => super::orders::run(jc, p).await,
        JobInput::OrderImport(p) => super::order_import::run(jc, p).await,
        JobInput::Scheduled(JobKind::Products) => super::stock::products(jc).await,
        JobInput::Scheduled(JobKind::StockDrift) => super::stock::drift(jc).await,
        JobInput::StockPush(p) => super::stock::push(jc, p).await,
        JobInput::Webhook(p) => super::webhooks::run(jc, p).await,
        JobInput::Scheduled(k) => Ok(not_connected_yet(k)),
        JobInput::Probe(p) if test => probe(jc, p).await,
        JobInput::Calls(p) if test => calls(jc, p).await,
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
        JobKind::Payouts => "payout reconciliation arrives with the finance issue",
        _ => "return SLA checks arrive with the returns issue",
    };
    Outcome {
        status: "SKIPPED",
        counts: Counts::default(),
        message: Some(format!("nothing to do yet: {what}")),
    }
}

/// The store of a store job, ready to call its platform at `priority`; `Err(outcome)` when there
/// is nothing to do (not connected) and a deferral when its breaker is open.
pub(super) async fn store_for(
    jc: &JobCtx<'_>,
    priority: connectors::Priority,
) -> Result<Result<Calling, Outcome>, JobError> {
    let store = jc
        .job
        .store_id
        .ok_or_else(|| JobError::Permanent(format!("{} needs a store", jc.job.kind)))?;
    let s = connections::store(jc.c.tx, StoreId(store)).await?;
    match connect::calling(jc.state, &s, priority)? {
        Ok(c) => Ok(Ok(c)),
        Err(NotCallable::NotConnected(status)) => Ok(Err(Outcome {
            status: "SKIPPED",
            counts: Counts::default(),
            message: Some(format!(
                "the store is {}: nothing to call",
                serde_json::to_value(status)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            )),
        })),
        Err(NotCallable::CircuitOpen(until)) => Err(JobError::Deferred(
            (until - chrono::Utc::now())
                .to_std()
                .unwrap_or(Duration::from_secs(1)),
            "the store's circuit breaker is open".into(),
        )),
    }
}

/// A connector failure as a job error: an open breaker defers, throttling and outages retry,
/// an authorization refusal (the vault already marked the store AUTH_EXPIRED) and anything else
/// is final. Messages are sanitised.
pub(super) fn job_error(c: &Calling, e: &connectors::Error) -> JobError {
    let (code, message) = crate::marketplaces::classify(e);
    if c.ctx.breaker.state() == connectors::resilience::Circuit::Open {
        return JobError::Deferred(
            crate::limits::quota::STORE_BREAKER_COOL_DOWN,
            format!("the store's circuit breaker opened: {code}"),
        );
    }
    match e {
        connectors::Error::RateLimited { .. } | connectors::Error::Transient(_) => {
            JobError::Transient(format!("{code}: {message}"))
        }
        connectors::Error::Auth { .. } => JobError::Permanent(format!(
            "{code}: the platform refused the store's authorization; the seller must connect it again"
        )),
        _ => JobError::Permanent(format!("{code}: {message}")),
    }
}

/// Now on the marketplaces' clock (ours in production).
pub(super) fn now_secs(jc: &JobCtx<'_>) -> i64 {
    use connectors::Clock as _;
    jc.state.marketplaces.clock().now()
}

/// TOKEN_REFRESH: refreshes the store's tokens when they expire within the configured margin
/// (15 minutes), through the vault's lock, then proves the tokens with one cheap call.
async fn token_refresh(jc: &JobCtx<'_>) -> Result<Outcome, JobError> {
    let c = match store_for(jc, connectors::Priority::High).await? {
        Ok(c) => c,
        Err(skipped) => return Ok(skipped),
    };
    let margin = i64::try_from(jc.state.config.marketplaces.refresh_ahead.as_secs()).unwrap_or(900);
    let connector = c.connector.clone();
    let shop = c.ctx.shop.clone();
    let refreshed = c
        .ctx
        .refresh_if_expiring(jc.state.marketplaces.clock(), margin, move |t| {
            let connector = connector.clone();
            let shop = shop.clone();
            async move { connector.refresh(&shop, &t).await }
        })
        .await;
    let refreshed = match refreshed {
        Ok(r) => r,
        Err(e) => {
            connect::record(jc.state, &c, Err(&e)).await;
            return Err(job_error(&c, &e));
        }
    };
    jc.checkpoint()?;
    let now = now_secs(jc);
    let probe = c
        .connector
        .list_orders(
            &c.ctx,
            connectors::Window {
                from: now - 300,
                to: now,
            },
        )
        .await;
    connect::record(jc.state, &c, probe.as_ref().map(|_| ())).await;
    tracing::info!(store = %c.store, refreshed, ok = probe.is_ok(), "store token check done");
    if let Err(e) = probe {
        return Err(job_error(&c, &e));
    }
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: 1,
            updated: i32::from(refreshed),
            ..Counts::default()
        },
        message: Some(if refreshed {
            "tokens refreshed and checked with the platform".into()
        } else {
            "tokens still valid; checked with the platform".into()
        }),
    })
}

/// TEST_CALLS: `calls` cheap platform calls for the job's store, through its quota.
async fn calls(jc: &JobCtx<'_>, p: CallsPayload) -> Result<Outcome, JobError> {
    let priority = if p.high_priority {
        connectors::Priority::High
    } else {
        connectors::Priority::Bulk
    };
    let c = match store_for(jc, priority).await? {
        Ok(c) => c,
        Err(skipped) => return Ok(skipped),
    };
    // A window long before any order: one request per call on every platform.
    let window = connectors::Window { from: 0, to: 60 };
    for i in 0..p.calls {
        if let Err(e) = c.connector.list_orders(&c.ctx, window).await {
            connect::record(jc.state, &c, Err(&e)).await;
            return Err(job_error(&c, &e));
        }
        if i % 10 == 9 {
            jc.checkpoint()?;
        }
    }
    connect::record(jc.state, &c, Ok(())).await;
    Ok(Outcome {
        status: "SUCCEEDED",
        counts: Counts {
            fetched: i32::try_from(p.calls).unwrap_or(i32::MAX),
            ..Counts::default()
        },
        message: Some(format!("{} calls made", p.calls)),
    })
}

/// Records one item per entity on the job's run.
pub(super) async fn record_items(
    jc: &JobCtx<'_>,
    entity: &str,
    rows: Vec<(String, &'static str, String)>,
) -> Result<(), JobError> {
    let Some(run) = jc.run else { return Ok(()) };
    if rows.is_empty() {
        return Ok(());
    }
    let list: Vec<serde_json::Value> = rows
        .into_iter()
        .map(|(key, action, message)| {
            let key: String = key.chars().take(200).collect();
            serde_json::json!({"id": Uuid::now_v7(), "key": if key.is_empty() { "?".into() } else { key }, "action": action, "message": message})
        })
        .collect();
    jc.c.tx
        .execute_raw(stmt(
            "INSERT INTO sync_items (org_id, id, run_id, branch_id, entity, external_key, action, message) \
             SELECT (SELECT app_org_id()), u.id, $1, $2, $3, u.key, u.action, u.message \
             FROM jsonb_to_recordset($4) AS u(id uuid, key text, action text, message text)",
            vec![
                run.id.into(),
                jc.job.branch_id.into(),
                entity.into(),
                serde_json::Value::Array(list).into(),
            ],
        ))
        .await?;
    Ok(())
}

pub(super) fn n(v: usize) -> i32 {
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
    // One item per refused row: which row, which field, why.
    let failed = report
        .errors
        .iter()
        .map(|e| {
            let message = match &e.field {
                Some(f) => format!("{f}: {}", e.message),
                None => e.message.clone(),
            };
            (format!("row {}", e.row), "FAILED", message)
        })
        .collect();
    record_items(jc, "CATALOG_ROW", failed).await?;
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
