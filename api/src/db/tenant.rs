//! The tenant transaction: one per GraphQL operation (read-only for queries), opened lazily on first
//! use, with the tenant context set once with `set_config(..., true)` — transaction-local, so a
//! pooled connection never carries it to the next request.
//!
//! Opening it resolves the caller's [`Access`]: their organization role and the branches they may
//! see. Row-level security reads the same values, so code and database agree on visibility.

use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, UserId};
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

/// A user's standing in one organization.
#[derive(Debug, Clone)]
pub struct OrgAccess {
    /// The organization.
    pub org_id: OrgId,
    /// Their organization role.
    pub role: OrgRole,
    /// Their branch roles (only meaningful for MEMBER; OWNER/ADMIN see every branch).
    pub branches: HashMap<BranchId, BranchRole>,
}

impl OrgAccess {
    /// OWNER or ADMIN.
    pub fn is_admin(&self) -> bool {
        matches!(self.role, OrgRole::Owner | OrgRole::Admin)
    }

    /// May change the branch's stores (admins, or the branch's MANAGER).
    pub fn can_manage_branch(&self, branch: BranchId) -> bool {
        self.is_admin() || self.branches.get(&branch) == Some(&BranchRole::Manager)
    }

    /// Requires OWNER or ADMIN.
    pub fn require_admin(&self) -> AppResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "requires the OWNER or ADMIN role".into(),
            ))
        }
    }
}

impl Access {
    /// The authenticated user or UNAUTHENTICATED.
    pub fn user(&self) -> AppResult<UserId> {
        self.user_id.ok_or(AppError::Unauthenticated)
    }

    /// The caller's organization standing or FORBIDDEN.
    pub fn org(&self) -> AppResult<&OrgAccess> {
        self.user()?;
        self.org.as_ref().ok_or_else(|| {
            AppError::Forbidden("no organization selected, or not a member of it".into())
        })
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
}

impl Settings {
    /// The settings that give exactly `access`.
    pub fn for_access(access: &Access) -> Self {
        match &access.org {
            Some(org) => Self {
                org_id: Some(org.org_id),
                user_id: access.user_id,
                branches: if org.is_admin() {
                    None
                } else {
                    Some(org.branches.keys().copied().collect())
                },
                auth_email: None,
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
                set_config('app.branch_ids', $3, true), set_config('app.auth_email', $4, true)",
        [
            opt(s.org_id.map(|o| o.to_string())).into(),
            opt(s.user_id.map(|u| u.to_string())).into(),
            branches.into(),
            opt(s.auth_email.clone()).into(),
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
) -> AppResult<Access> {
    let Some(p) = principal else {
        return Ok(Access::default());
    };
    let mut access = Access {
        user_id: Some(p.user_id),
        org: None,
    };
    let Some(org_id) = p.org_id else {
        apply_settings(tx, &Settings::for_access(&access)).await?;
        return Ok(access);
    };
    // Set org + user first: the membership rows are then visible through the self_read policies.
    apply_settings(
        tx,
        &Settings {
            org_id: Some(org_id),
            user_id: Some(p.user_id),
            branches: Some(Vec::new()),
            auth_email: None,
        },
    )
    .await?;
    let row = tx
        .query_one_raw(Statement::from_sql_and_values(
            DbBackend::Postgres,
            "SELECT m.role, COALESCE((SELECT array_agg(b.branch_id::text || ':' || b.role) \
                    FROM branch_members b WHERE b.org_id = m.org_id AND b.user_id = m.user_id), '{}') AS branches \
             FROM org_members m WHERE m.org_id = $1 AND m.user_id = $2",
            [org_id.uuid().into(), p.user_id.uuid().into()],
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
        access.org = Some(OrgAccess {
            org_id,
            role,
            branches,
        });
    }
    // Non-members end with no org in the context: they see nothing of it.
    apply_settings(tx, &Settings::for_access(&access)).await?;
    Ok(access)
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
    slot: Mutex<Slot>,
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
            slot: Mutex::new(Slot::Idle),
        })
    }

    /// The principal this transaction acts for.
    pub fn principal(&self) -> Option<Principal> {
        self.principal
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
            let tx = self.db.begin_with_config(None, Some(mode)).await?;
            let access = resolve_access(&tx, self.principal).await?;
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
            _outer: outer,
        })
    }

    /// Ends the transaction (no-op if it was never opened).
    pub async fn finish(&self, outcome: Outcome) -> AppResult<()> {
        let mut slot = self.slot.lock().await;
        match std::mem::replace(&mut *slot, Slot::Closed) {
            Slot::Open(tx, _) if outcome == Outcome::Commit && !self.read_only => {
                tx.commit().await?
            }
            Slot::Open(tx, _) => tx.rollback().await?,
            Slot::Idle | Slot::Closed => {}
        }
        Ok(())
    }
}

/// A savepoint inside the request transaction, holding it exclusively.
pub struct Savepoint<'a> {
    tx: DatabaseTransaction,
    /// The caller's access.
    pub access: Arc<Access>,
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
                Ok(v)
            }
            Err(e) => {
                self.tx.rollback().await?;
                Err(e)
            }
        }
    }
}
