//! Background work (DESIGN §7). `mercato worker` runs three loops until shutdown:
//!
//! - the consumer: reads the Redis stream `{prefix}:jobs` as a member of the `workers` consumer
//!   group (blocking read, so a queued job starts within milliseconds) and runs each dispatched
//!   job ([`runner`]), at most `MERCATO_WORKER_CONCURRENCY` at once;
//! - the reconciler: hands Redis again every due job it does not have — retries whose backoff
//!   ended, deferred jobs, jobs whose worker died (lease expired) and jobs whose hand-off Redis
//!   lost (flush, restart);
//! - the reservation expiry sweep ([`sweep`]);
//! - the stock push dispatcher ([`pushes`]);
//! - the webhook dispatcher, which queues the jobs of newly received pushes ([`webhooks`]).
//!
//! Entries are acknowledged as soon as they are read: Postgres, not the stream's pending list, is
//! the record, and a job whose entry was read by a worker that died before claiming it is found
//! again by the reconciler.

pub mod kinds;
pub mod order_import;
pub mod orders;
pub mod pushes;
pub mod runner;
pub mod stock;
pub mod sweep;
pub mod webhooks;

pub use crate::domain::jobs::{NewJob, Queued};

use crate::effects::Effect;
use crate::error::{AppError, AppResult};
use crate::ids::OrgId;
use crate::state::AppState;
use redis::AsyncCommands;
use redis::streams::{StreamReadOptions, StreamReadReply};
use sea_orm::FromQueryResult;
use secrecy::ExposeSecret;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Semaphore, watch};
use uuid::Uuid;

/// Consumer group of the workers on the job stream.
pub const GROUP: &str = "workers";

/// Queues `job` for `org` in a transaction of its own, as the runtime role under `org`'s tenant
/// context, and hands it to the workers. For system callers (tests, benchmarks, the scheduler).
pub async fn submit(state: &AppState, org: OrgId, job: NewJob) -> AppResult<Queued> {
    use crate::domain::jobs;
    let access = jobs::system_access(org);
    let tx = jobs::org_tx(&state.db, org).await?;
    let effects = crate::effects::Effects::default();
    let c = crate::domain::Ctx {
        tx: &tx,
        access: &access,
        request_id: Some("system"),
        effects: &effects,
    };
    let queued = jobs::enqueue(&c, job).await?;
    tx.commit().await?;
    crate::after_commit::run(state, effects.take()).await;
    Ok(queued)
}

/// A name for this worker process, unique enough to tell workers apart in leases and logs.
pub fn worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
    let tag = Uuid::new_v4().simple().to_string();
    format!("{host}-{}-{}", std::process::id(), &tag[..8])
}

/// Runs the worker until `shutdown` resolves; jobs already running are finished first.
pub async fn run_worker(state: AppState, shutdown: impl Future<Output = ()>) -> AppResult<()> {
    crate::db::ensure_runtime_role(&state.db).await?;
    let name = worker_name();
    // A running job holds its work transaction's connection and briefly needs a second one for
    // lease renewal and progress; keep two spare for claims and the reconciler, so renewals never
    // wait for the pool while jobs hold it (a starved renewal would let leases lapse).
    let pool = usize::try_from(state.config.database_pool_max).unwrap_or(20);
    let by_pool = (pool.saturating_sub(2) / 2).max(1);
    let concurrency = usize::try_from(state.config.jobs.worker_concurrency)
        .unwrap_or(8)
        .min(by_pool);
    tracing::info!(worker = name, concurrency, "worker started");
    let (stop_tx, stop_rx) = watch::channel(false);
    let slots = Arc::new(Semaphore::new(concurrency));
    let consumer = tokio::spawn(consume(
        state.clone(),
        name.clone(),
        Arc::clone(&slots),
        stop_rx.clone(),
    ));
    let reconciler = tokio::spawn(reconcile_loop(state.clone(), stop_rx.clone()));
    let sweeper = tokio::spawn(sweep_loop(state.clone(), stop_rx.clone()));
    let pusher = tokio::spawn(push_loop(state.clone(), stop_rx.clone()));
    let hooks = tokio::spawn(webhook_loop(state.clone(), stop_rx));
    shutdown.await;
    tracing::info!("worker stopping: finishing running jobs");
    let _ = stop_tx.send(true);
    let _ = consumer.await;
    let _ = reconciler.await;
    let _ = sweeper.await;
    let _ = pusher.await;
    let _ = hooks.await;
    // Every permit back = every running job finished (bounded by one lease: after that the job is
    // someone else's anyway).
    let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(state.config.jobs.lease, slots.acquire_many(all)).await;
    tracing::info!("worker stopped");
    Ok(())
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    while !*stop.borrow() {
        if stop.changed().await.is_err() {
            return;
        }
    }
}

async fn sweep_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.reservation_sweep_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = tick.tick() => match sweep::sweep_due(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(expired = n, "released lapsed reservations"),
                Err(e) => tracing::warn!(error = ?e, "reservation sweep failed"),
            },
        }
    }
}

async fn push_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.jobs.push_dispatch_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = tick.tick() => match pushes::dispatch_once(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(jobs = n, "stock pushes handed out"),
                Err(e) => tracing::warn!(error = ?e, "stock push dispatch failed"),
            },
        }
    }
}

async fn webhook_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.jobs.webhook_dispatch_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = tick.tick() => match webhooks::dispatch_once(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(jobs = n, "webhook jobs queued"),
                Err(e) => tracing::warn!(error = ?e, "webhook dispatch failed"),
            },
        }
    }
}

#[derive(FromQueryResult)]
struct Due {
    org_id: Uuid,
    job_id: Uuid,
}

/// Hands Redis the due jobs it does not have; returns how many.
pub async fn reconcile_once(state: &AppState) -> AppResult<usize> {
    let due = Due::find_by_statement(crate::domain::stmt(
        "SELECT org_id, job_id FROM claim_due_jobs($1, $2 * interval '1 millisecond')",
        vec![
            1000_i32.into(),
            i64::try_from(state.config.jobs.redispatch_after.as_millis())
                .unwrap_or(i64::MAX)
                .into(),
        ],
    ))
    .all(&state.db)
    .await?;
    if due.is_empty() {
        return Ok(0);
    }
    let handed: Vec<Effect> = due
        .iter()
        .map(|d| Effect::JobQueued {
            org: OrgId(d.org_id),
            job: d.job_id,
        })
        .collect();
    let pipe = crate::after_commit::pipeline(&state.keys, &handed);
    let mut conn = state.redis.get().await.map_err(AppError::from_error)?;
    pipe.query_async::<()>(&mut conn)
        .await
        .map_err(AppError::from_error)?;
    Ok(due.len())
}

async fn reconcile_loop(state: AppState, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(state.config.jobs.reconcile_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = stopped(&mut stop) => break,
            _ = tick.tick() => match reconcile_once(&state).await {
                Ok(0) => {}
                Ok(n) => tracing::debug!(jobs = n, "reconciler handed due jobs to Redis"),
                Err(e) => tracing::warn!(error = ?e, "reconciler failed"),
            },
        }
    }
}

async fn ensure_group(conn: &mut redis::aio::MultiplexedConnection, key: &str) -> AppResult<()> {
    let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(key, GROUP, "0").await;
    match created {
        Ok(()) => Ok(()),
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        Err(e) => Err(AppError::internal(e)),
    }
}

async fn connect_stream(state: &AppState) -> AppResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(state.config.redis_url.expose_secret())
        .map_err(AppError::from_error)?;
    // Blocking reads wait longer than any response timeout would allow.
    let config = redis::AsyncConnectionConfig::new().set_response_timeout(None);
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .map_err(AppError::from_error)
}

async fn consume(
    state: AppState,
    name: String,
    slots: Arc<Semaphore>,
    mut stop: watch::Receiver<bool>,
) {
    let key = state.keys.jobs_stream();
    let mut wait = Duration::from_millis(100);
    'connect: loop {
        let mut conn = match connect_stream(&state).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = ?e, "job stream: Redis unavailable; retrying");
                tokio::select! {
                    () = stopped(&mut stop) => return,
                    () = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if let Err(e) = ensure_group(&mut conn, &key).await {
            tracing::warn!(error = ?e, "job stream: cannot create the consumer group");
        }
        wait = Duration::from_millis(100);
        loop {
            let first = tokio::select! {
                () = stopped(&mut stop) => return,
                p = Arc::clone(&slots).acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let count = slots.available_permits().min(63) + 1;
            let opts = StreamReadOptions::default()
                .group(GROUP, &name)
                .count(count)
                .block(1000);
            let keys = [key.as_str()];
            let read: redis::RedisResult<Option<StreamReadReply>> = tokio::select! {
                () = stopped(&mut stop) => return,
                r = conn.xread_options(&keys, &[">"], &opts) => r,
            };
            let reply = match read {
                Ok(r) => r.unwrap_or_default(),
                Err(e) if e.code() == Some("NOGROUP") => {
                    // Redis lost the stream (flush, restart): recreate it; the reconciler hands
                    // the lost entries again.
                    tracing::warn!("job stream or group missing; recreating");
                    if let Err(e) = ensure_group(&mut conn, &key).await {
                        tracing::warn!(error = ?e, "job stream: cannot recreate the group");
                    }
                    continue;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "job stream read failed; reconnecting");
                    tokio::time::sleep(wait).await;
                    continue 'connect;
                }
            };
            let entries: Vec<_> = reply.keys.into_iter().flat_map(|k| k.ids).collect();
            if entries.is_empty() {
                continue;
            }
            let ids: Vec<&str> = entries.iter().map(|e| e.id.as_str()).collect();
            let acked: redis::RedisResult<i64> = conn.xack(&key, GROUP, &ids).await;
            if let Err(e) = acked {
                tracing::warn!(error = %e, "job stream ack failed");
            }
            let mut permit = Some(first);
            for entry in entries {
                let org = entry
                    .get::<String>("o")
                    .and_then(|o| o.parse::<Uuid>().ok());
                let job = entry
                    .get::<String>("j")
                    .and_then(|j| j.parse::<Uuid>().ok());
                let (Some(org), Some(job)) = (org, job) else {
                    tracing::warn!(id = entry.id, "dropping a malformed job stream entry");
                    continue;
                };
                let p = match permit.take() {
                    Some(p) => p,
                    None => match Arc::clone(&slots).acquire_owned().await {
                        Ok(p) => p,
                        Err(_) => return,
                    },
                };
                let state = state.clone();
                let name = name.clone();
                tokio::spawn(async move {
                    let _slot = p;
                    runner::run_dispatched(&state, &name, OrgId(org), job).await;
                });
            }
        }
    }
}
