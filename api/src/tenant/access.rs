//! The caller's access: their organization role, branch roles or API token grant, resolved once
//! per tenant transaction and written into its RLS settings, so code and database agree on what
//! the caller may see.

use crate::auth::permissions::{self, Perm};
use crate::auth::{ApiTokenGrant, Principal};
use crate::db::rls::{Settings, apply_settings, apply_with_timeout};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiTokenId, BranchId, OrgId, UserId};
use entity::enums::{BranchRole, OrgRole};
use sea_orm::{ConnectionTrait, DatabaseTransaction, DbBackend, Statement};
use std::collections::HashMap;
use std::sync::Arc;
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

/// The settings that give exactly `access`.
pub fn settings_for(access: &Access) -> Settings {
    match &access.org {
        Some(org) => Settings {
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
        None => Settings {
            user_id: access.user_id,
            branches: Some(Vec::new()),
            ..Settings::default()
        },
    }
}

/// Runs `f` with temporary settings, then restores those of `access`, whatever `f` returned.
pub async fn with_settings<C: ConnectionTrait, T>(
    conn: &C,
    access: &Access,
    temp: Settings,
    f: impl AsyncFnOnce() -> AppResult<T>,
) -> AppResult<T> {
    crate::db::rls::with_settings(conn, &settings_for(access), temp, f).await
}

pub(crate) async fn resolve_access(
    tx: &DatabaseTransaction,
    principal: Option<Principal>,
    timeout: Option<std::time::Duration>,
) -> AppResult<Access> {
    let (user_id, org_id) = match principal {
        None => {
            if timeout.is_some() {
                apply_with_timeout(tx, &settings_for(&Access::default()), timeout).await?;
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
            apply_with_timeout(tx, &settings_for(&access), timeout).await?;
            return Ok(access);
        }
        Some(Principal::User { user_id, org_id }) => (user_id, org_id),
    };
    let mut access = Access {
        user_id: Some(user_id),
        org: None,
    };
    let Some(org_id) = org_id else {
        apply_with_timeout(tx, &settings_for(&access), timeout).await?;
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
    apply_settings(tx, &settings_for(&access)).await?;
    Ok(access)
}
