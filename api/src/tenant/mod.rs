//! The tenant transaction: one per GraphQL operation (read-only for queries), opened lazily on first
//! use, with the tenant context set once (see [`crate::db::rls`]) — transaction-local, so a
//! pooled connection never carries it to the next request. Opening it is cancellation-safe (see
//! [`TenantTx::lock`]), and a breaker answers SERVICE_UNAVAILABLE at once while Postgres is down.
//!
//! Opening it resolves the caller's [`Access`]: their organization role and the branches they may
//! see. Row-level security reads the same values, so code and database agree on visibility.

pub mod access;

pub use access::{Access, OrgAccess, settings_for, with_settings};

use crate::auth::Principal;
use crate::effects::{Effect, Effects};
use crate::error::{AppError, AppResult};
use sea_orm::{AccessMode, DatabaseConnection, DatabaseTransaction, TransactionTrait};
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};

/// BEGIN, then the caller's access and the tenant context (see [`TenantTx::lock`]).
async fn open(
    db: DatabaseConnection,
    mode: AccessMode,
    principal: Option<Principal>,
    timeout: Option<std::time::Duration>,
) -> AppResult<(DatabaseTransaction, Access)> {
    let tx = db.begin().await?;
    // The statement timeout and the read-only mode are set with the tenant context, in the same
    // statement (BEGIN READ ONLY would cost a `SET TRANSACTION` round trip of its own).
    let read_only = mode == AccessMode::ReadOnly;
    match access::resolve_access(&tx, principal, timeout, read_only).await {
        Ok(access) => Ok((tx, access)),
        Err(e) => {
            // Best effort: the error is what matters; dropping the transaction rolls back anyway.
            let _ = tx.rollback().await;
            Err(e)
        }
    }
}

enum Slot {
    Idle,
    Open(DatabaseTransaction, Arc<Access>),
    Closed,
}

/// How the transaction ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Keep the work.
    Commit,
    /// Discard it.
    Rollback,
}

/// A lazily opened, shared tenant transaction.
pub struct TenantTx {
    db: DatabaseConnection,
    principal: Option<Principal>,
    read_only: bool,
    statement_timeout: Option<std::time::Duration>,
    opened: Option<Arc<std::sync::atomic::AtomicU64>>,
    breaker: Option<Arc<crate::breaker::Breaker>>,
    slot: Mutex<Slot>,
    effects: Effects,
    /// Work of this operation was handed to a transaction of its own (a reservation group).
    outside: std::sync::atomic::AtomicBool,
}

/// Exclusive use of the open transaction, with the caller's access.
pub struct TxGuard<'a> {
    tx: MappedMutexGuard<'a, DatabaseTransaction>,
    /// The caller's access.
    pub access: Arc<Access>,
}

impl Deref for TxGuard<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl TenantTx {
    /// A transaction for `principal`, not yet opened.
    pub fn new(db: DatabaseConnection, principal: Option<Principal>, read_only: bool) -> Arc<Self> {
        Arc::new(Self {
            db,
            principal,
            read_only,
            statement_timeout: None,
            opened: None,
            breaker: None,
            slot: Mutex::new(Slot::Idle),
            effects: Effects::default(),
            outside: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Changes a setting before first use (a shared handle is returned unchanged).
    fn configure(self: Arc<Self>, f: impl FnOnce(&mut Self)) -> Arc<Self> {
        match Arc::try_unwrap(self) {
            Ok(mut inner) => {
                f(&mut inner);
                Arc::new(inner)
            }
            Err(shared) => shared,
        }
    }

    /// Counts the transactions actually opened into `counter` (call before first use).
    pub fn with_counter(self: Arc<Self>, counter: Arc<std::sync::atomic::AtomicU64>) -> Arc<Self> {
        self.configure(|t| t.opened = Some(counter))
    }

    /// Fails fast with SERVICE_UNAVAILABLE while `breaker` is open, and feeds it the outcome of
    /// every BEGIN (call before first use).
    pub fn with_breaker(self: Arc<Self>, breaker: Arc<crate::breaker::Breaker>) -> Arc<Self> {
        self.configure(|t| t.breaker = Some(breaker))
    }

    /// Sets a transaction-local Postgres `statement_timeout` (call before first use).
    pub fn with_statement_timeout(self: Arc<Self>, timeout: std::time::Duration) -> Arc<Self> {
        self.configure(|t| t.statement_timeout = Some(timeout))
    }

    /// A read-only (query) transaction?
    pub fn is_read_only(&self) -> bool {
        self.read_only
    }

    /// Notes that work of this operation is being written by a transaction of its own (a
    /// reservation group), which rolling this one back does not undo.
    pub fn note_outside_write(&self) {
        self.outside
            .store(true, std::sync::atomic::Ordering::Relaxed);
    }

    /// Was work of this operation handed to a transaction of its own?
    pub fn wrote_outside(&self) -> bool {
        self.outside.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Not opened yet: nothing of this operation is uncommitted.
    pub async fn is_idle(&self) -> bool {
        matches!(*self.slot.lock().await, Slot::Idle)
    }

    /// The principal this transaction acts for.
    pub fn principal(&self) -> Option<&Principal> {
        self.principal.as_ref()
    }

    /// Opens the transaction if needed and returns exclusive use of it. Do not hold the guard
    /// across a DataLoader call: loaders take the same lock.
    pub async fn lock(&self) -> AppResult<TxGuard<'_>> {
        let mut slot = self.slot.lock().await;
        if matches!(*slot, Slot::Idle) {
            let mode = if self.read_only {
                AccessMode::ReadOnly
            } else {
                AccessMode::ReadWrite
            };
            let db = self.db.clone();
            let principal = self.principal.clone();
            let timeout = self.statement_timeout;
            let permit = match &self.breaker {
                Some(b) => Some(b.permit().ok_or_else(|| AppError::Unavailable {
                    retry_after_secs: b.retry_after_secs(),
                })?),
                None => None,
            };
            // BEGIN and the tenant context run on a task of their own, so that dropping this
            // future (a client gone, a timeout) can never leave BEGIN executed on a connection
            // nobody owns: the task always ends holding the transaction, and if nobody takes it,
            // dropping it rolls back before the connection returns to the pool.
            let waiting = crate::metrics::Raised::new(&crate::metrics::get().db_pool_waiting);
            let opened = tokio::spawn(open(db, mode, principal, timeout))
                .await
                .map_err(AppError::from_error)?;
            drop(waiting);
            if let Some(p) = permit {
                // Any answer from the database closes the breaker; only unreachability opens it.
                match &opened {
                    Err(AppError::Unavailable { .. }) => p.failure(),
                    _ => p.success(),
                }
            }
            let (tx, access) = opened?;
            if let Some(c) = &self.opened {
                c.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            *slot = Slot::Open(tx, Arc::new(access));
        }
        let access = match &*slot {
            Slot::Open(_, access) => access.clone(),
            Slot::Idle | Slot::Closed => {
                return Err(AppError::internal("tenant transaction already finished"));
            }
        };
        let tx = MutexGuard::try_map(slot, |s| match s {
            Slot::Open(tx, _) => Some(tx),
            Slot::Idle | Slot::Closed => None,
        })
        .map_err(|_| AppError::internal("tenant transaction unavailable"))?;
        Ok(TxGuard { tx, access })
    }

    /// Opens a savepoint for one mutation: its work is kept only if it succeeds.
    pub async fn savepoint(&self) -> AppResult<Savepoint<'_>> {
        let outer = self.lock().await?;
        let tx = outer.begin().await?;
        let access = outer.access.clone();
        Ok(Savepoint {
            tx,
            access,
            effects: Effects::default(),
            parent: &self.effects,
            _outer: outer,
        })
    }

    /// Effects recorded directly on the transaction (outside any savepoint).
    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    /// Ends the transaction (no-op if it was never opened). Returns the effects to run now that
    /// it committed (none after a rollback).
    pub async fn finish(&self, outcome: Outcome) -> AppResult<Vec<Effect>> {
        let mut slot = self.slot.lock().await;
        let effects = self.effects.take();
        let count = |outcome: &'static str| {
            let mode = if self.read_only { "read" } else { "write" };
            crate::metrics::get()
                .tenant_transactions
                .get_or_create(&crate::metrics::TxLabels { mode, outcome })
                .inc();
        };
        match std::mem::replace(&mut *slot, Slot::Closed) {
            Slot::Open(tx, _) if outcome == Outcome::Commit && !self.read_only => {
                tx.commit().await?;
                count("commit");
                return Ok(effects);
            }
            Slot::Open(tx, _) => {
                tx.rollback().await?;
                count("rollback");
            }
            Slot::Idle | Slot::Closed => {}
        }
        Ok(Vec::new())
    }
}

/// A savepoint inside the request transaction, holding it exclusively.
pub struct Savepoint<'a> {
    tx: DatabaseTransaction,
    /// The caller's access.
    pub access: Arc<Access>,
    /// Effects of this mutation: kept with it, dropped if it rolls back.
    pub effects: Effects,
    parent: &'a Effects,
    _outer: TxGuard<'a>,
}

impl Deref for Savepoint<'_> {
    type Target = DatabaseTransaction;
    fn deref(&self) -> &DatabaseTransaction {
        &self.tx
    }
}

impl Savepoint<'_> {
    /// Releases the savepoint on success, rolls back to it on failure; returns `result`.
    pub async fn finish<T>(self, result: AppResult<T>) -> AppResult<T> {
        match result {
            Ok(v) => {
                self.tx.commit().await?;
                self.parent.absorb(&self.effects);
                Ok(v)
            }
            Err(e) => {
                self.tx.rollback().await?;
                Err(e)
            }
        }
    }
}
