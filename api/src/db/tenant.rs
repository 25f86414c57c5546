//! The tenant transaction: one per GraphQL operation (read-only for queries), opened lazily on first
//! use, with the tenant context set once with `set_config(..., true)` — transaction-local, so a
//! pooled connection never carries it to the next request. Opening it is cancellation-safe (see
//! [`TenantTx::lock`]), and a breaker answers SERVICE_UNAVAILABLE at once while Postgres is down.
//!
//! Opening it resolves the caller's [`Access`]: their organization role and the branches they may
//! see. Row-level security reads the same values, so code and database agree on visibility.

use crate::auth::permissions::{self, Perm};
use crate::auth::{ApiTokenGrant, Principal};
use crate::effects::{Effect, Effects};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiTokenId, BranchId, OrgId, UserId};
use entity::enums::{BranchRole, OrgRole};
use sea_orm::{
    AccessMode, ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, Statement,
    TransactionTrait,
};
use std::collections::HashMap;
use std::ops::Deref;
use std::sync::Arc;
use tokio::sync::{MappedMutexGuard, Mutex, MutexGuard};
use uuid::Uuid;

/// What the caller may see and do in this transaction.
#[derive(Debug, Clone, Default)]
pub struct Access {
    /// Authenticated user, if any.
    pub user_id: Option<UserId>,
    /// Membership in the token's organization, if the user is (still) a member.
    pub org: Option<OrgAccess>,
}

/// A caller's standing in one organization: a member with roles, or a partner API token.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The organization.
    pub org_id: OrgId,
    /// Their organization role (an API token carries MEMBER here; its scopes decide).
    pub role: OrgRole,
    /// Their branch roles (only meaningful for MEMBER; OWNER/ADMIN see every branch).
    pub branches: HashMap<BranchId, BranchRole>,
    /// Set when the caller is a partner API token.
    pub token: Option<Arc<ApiTokenGrant>>,
}

impl OrgAccess {
    /// A member's access.
    pub fn member(org_id: OrgId, role: OrgRole, branches: HashMap<BranchId, BranchRole>) -> Self {
        Self {
            org_id,
            role,
            branches,
            token: None,
        }
    }

    /// A human OWNER or ADMIN (never true for API tokens).
    pub fn is_admin(&self) -> bool {
        self.token.is_none() && matches!(self.role, OrgRole::Owner | OrgRole::Admin)
    }

    /// Every branch of the organization is visible; otherwise only [`Self::visible_branches`].
    pub fn all_branches(&self) -> bool {
        match &self.token {
            Some(t) => t.branch_ids.is_none(),
            None => self.is_admin(),
        }
    }

    /// The branches visible when not [`Self::all_branches`].
    pub fn visible_branches(&self) -> Vec<BranchId> {
        match &self.token {
            Some(t) => t.branch_ids.clone().unwrap_or_default(),
            None => self.branches.keys().copied().collect(),
        }
    }

    /// Does the caller hold `perm`?
    pub fn allows(&self, perm: Perm) -> bool {
        match &self.token {
            Some(t) => permissions::token_allows(&t.scopes, t.branch_ids.as_deref(), perm),
            None => permissions::member_allows(self.role, &self.branches, perm),
        }
    }

    /// Requires `perm`, or FORBIDDEN saying what is missing.
    pub fn require(&self, perm: Perm) -> AppResult<()> {
        if self.allows(perm) {
            Ok(())
        } else {
            Err(AppError::Forbidden(perm.describe().into()))
        }
    }
}

impl Access {
    /// The authenticated user; UNAUTHENTICATED without one, FORBIDDEN for an API token.
    pub fn user(&self) -> AppResult<UserId> {
        match (self.user_id, &self.org) {
            (Some(u), _) => Ok(u),
            (None, Some(o)) if o.token.is_some() => Err(AppError::Forbidden(
                "an API token acts for an organization, not a user".into(),
            )),
            (None, _) => Err(AppError::Unauthenticated),
        }
    }

    /// The caller's organization standing or FORBIDDEN.
    pub fn org(&self) -> AppResult<&OrgAccess> {
        // Requests always carry a user or an API token with their organization; an organization
        // without either is a job acting for the organization as a whole (`jobs::queue::system_access`).
        if self.user_id.is_none() && self.org.is_none() {
            return Err(AppError::Unauthenticated);
        }
        self.org.as_ref().ok_or_else(|| {
            AppError::Forbidden("no organization selected, or not a member of it".into())
        })
    }

    /// The API token acting, if any.
    pub fn api_token(&self) -> Option<ApiTokenId> {
        self.org
            .as_ref()
            .and_then(|o| o.token.as_ref())
            .map(|t| t.id)
    }
}

/// Values written into the transaction's settings; RLS policies read them.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// `app.org_id`.
    pub org_id: Option<OrgId>,
    /// `app.user_id`.
    pub user_id: Option<UserId>,
    /// `app.branch_ids`: `None` = every branch of the org, `Some(list)` = only these.
    pub branches: Option<Vec<BranchId>>,
    /// `app.auth_email`: lets the log-in lookup see exactly one user row.
    pub auth_email: Option<String>,
    /// `app.token_hash` (hex SHA-256): lets authentication see exactly the token row presented.
    pub token_hash: Option<String>,
}

impl Settings {
    /// The settings that give exactly `access`.
    pub fn for_access(access: &Access) -> Self {
        match &access.org {
            Some(org) => Self {
                org_id: Some(org.org_id),
                user_id: access.user_id,
                branches: if org.all_branches() {
                    None
                } else {
                    Some(org.visible_branches())
                },
                auth_email: None,
                token_hash: None,
            },
            None => Self {
                user_id: access.user_id,
                branches: Some(Vec::new()),
                ..Self::default()
            },
        }
    }
}

/// Writes `settings` into the current transaction (transaction-local).
pub async fn apply_settings<C: ConnectionTrait>(conn: &C, s: &Settings) -> AppResult<()> {
    apply_with_timeout(conn, s, None).await
}

/// [`apply_settings`], also setting a transaction-local `statement_timeout` (in the same
/// statement: one round trip fewer per request).
async fn apply_with_timeout<C: ConnectionTrait>(
    conn: &C,
    s: &Settings,
    timeout: Option<std::time::Duration>,
) -> AppResult<()> {
    let branches = match &s.branches {
        None => "*".to_owned(),
        Some(ids) => {
            let inner: Vec<String> = ids.iter().map(ToString::to_string).collect();
            format!("{{{}}}", inner.join(","))
        }
    };
    let opt = |v: Option<String>| v.unwrap_or_default();
    conn.execute_raw(Statement::from_sql_and_values(
        DbBackend::Postgres,
        "SELECT set_config('app.org_id', $1, true), set_config('app.user_id', $2, true), \
                set_config('app.branch_ids', $3, true), set_config('app.auth_email', $4, true), \
                set_config('app.token_hash', $5, true), \
                set_config('statement_timeout', COALESCE(NULLIF($6, ''), current_setting('statement_timeout')), true)",
        [
            opt(s.org_id.map(|o| o.to_string())).into(),
            opt(s.user_id.map(|u| u.to_string())).into(),
            branches.into(),
            opt(s.auth_email.clone()).into(),
            opt(s.token_hash.clone()).into(),
            opt(timeout.map(|t| format!("{}ms", t.as_millis()))).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Runs `f` with temporary settings, then restores those of `access`, whatever `f` returned.
pub async fn with_settings<C: ConnectionTrait, T>(
    conn: &C,
    access: &Access,
    temp: Settings,
    f: impl AsyncFnOnce() -> AppResult<T>,
) -> AppResult<T> {
    apply_settings(conn, &temp).await?;
    let out = f().await;
    let restored = apply_settings(conn, &Settings::for_access(access)).await;
    match out {
        Ok(v) => restored.map(|()| v),
        // A failed statement aborts the (sub)transaction, so restoring fails too; the caller's
        // rollback to its savepoint reverts these transaction-local settings anyway. Report the
        // original error, not the restore's.
        Err(e) => Err(e),
    }
}

async fn resolve_access(
    tx: &DatabaseTransaction,
    principal: Option<Principal>,
    timeout: Option<std::time::Duration>,
) -> AppResult<Access> {
    let (user_id, org_id) = match principal {
        None => {
            if timeout.is_some() {
                apply_with_timeout(tx, &Settings::for_access(&Access::default()), timeout).await?;
            }
            return Ok(Access::default());
        }
        Some(Principal::ApiToken(grant)) => {
            let access = Access {
                user_id: None,
                org: Some(OrgAccess {
                    org_id: grant.org_id,
                    role: OrgRole::Member,
                    branches: HashMap::new(),
                    token: Some(grant),
                }),
            };
            apply_with_timeout(tx, &Settings::for_access(&access), timeout).await?;
            return Ok(access);
        }
        Some(Principal::User { user_id, org_id }) => (user_id, org_id),
    };
    let mut access = Access {
        user_id: Some(user_id),
        org: None,
    };
    let Some(org_id) = org_id else {
        apply_with_timeout(tx, &Settings::for_access(&access), timeout).await?;
        return Ok(access);
    };
    // Set org + user first: the membership rows are then visible through the self_read policies.
    apply_with_timeout(
        tx,
        &Settings {
            org_id: Some(org_id),
            user_id: Some(user_id),
            branches: Some(Vec::new()),
            auth_email: None,
            token_hash: None,
        },
        timeout,
    )
    .await?;
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT m.role, COALESCE((SELECT array_agg(b.branch_id::text || ':' || b.role) \
                    FROM branch_members b WHERE b.org_id = m.org_id AND b.user_id = m.user_id), '{}') AS branches \
             FROM org_members m WHERE m.org_id = $1 AND m.user_id = $2",
            [org_id.uuid().into(), user_id.uuid().into()],
        ))
        .await?;
    if let Some(row) = row {
        let role: OrgRole = row.try_get("", "role")?;
        let raw: Vec<String> = row.try_get("", "branches")?;
        let mut branches = HashMap::new();
        for entry in raw {
            let parsed = entry.split_once(':').and_then(|(id, role)| {
                let id = Uuid::parse_str(id).ok()?;
                let role = match role {
                    "MANAGER" => BranchRole::Manager,
                    "OPERATOR" => BranchRole::Operator,
                    "VIEWER" => BranchRole::Viewer,
                    _ => return None,
                };
                Some((BranchId(id), role))
            });
            let (id, role) = parsed
                .ok_or_else(|| AppError::internal(format!("bad branch membership {entry}")))?;
            branches.insert(id, role);
        }
        access.org = Some(OrgAccess::member(org_id, role, branches));
    }
    // Non-members end with no org in the context: they see nothing of it.
    apply_settings(tx, &Settings::for_access(&access)).await?;
    Ok(access)
}

/// BEGIN, then the caller's access and the tenant context (see [`TenantTx::lock`]).
async fn open(
    db: DatabaseConnection,
    mode: AccessMode,
    principal: Option<Principal>,
    timeout: Option<std::time::Duration>,
) -> AppResult<(DatabaseTransaction, Access)> {
    let tx = db.begin_with_config(None, Some(mode)).await?;
    // The statement timeout is set with the tenant context, in the same statement.
    match resolve_access(&tx, principal, timeout).await {
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
            let opened = tokio::spawn(open(db, mode, principal, timeout))
                .await
                .map_err(AppError::internal)?;
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
        match std::mem::replace(&mut *slot, Slot::Closed) {
            Slot::Open(tx, _) if outcome == Outcome::Commit && !self.read_only => {
                tx.commit().await?;
                return Ok(effects);
            }
            Slot::Open(tx, _) => tx.rollback().await?,
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
