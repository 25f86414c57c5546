//! The caller's access: their organization role, branch roles or API token grant, resolved once
//! per tenant transaction and written into its RLS settings, so code and database agree on what
//! the caller may see.

use crate::auth::permissions::{self, Perm};
use crate::auth::{ApiTokenGrant, Principal};
use crate::db::rls::{Settings, apply_opening};
use crate::error::{AppError, AppResult};
use crate::ids::{ApiTokenId, BranchId, OrgId, UserId};
use entity::enums::{BranchRole, OrgRole};
use sea_orm::{ActiveEnum as _, ConnectionTrait, DatabaseTransaction};
use std::collections::HashMap;
use std::sync::Arc;

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
    read_only: bool,
) -> AppResult<Access> {
    let (user_id, org_id) = match principal {
        None => {
            if timeout.is_some() || read_only {
                apply_opening(tx, &settings_for(&Access::default()), timeout, read_only).await?;
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
            apply_opening(tx, &settings_for(&access), timeout, read_only).await?;
            return Ok(access);
        }
        Some(Principal::User { user_id, org_id }) => (user_id, org_id),
    };
    let mut access = Access {
        user_id: Some(user_id),
        org: None,
    };
    let Some(org_id) = org_id else {
        apply_opening(tx, &settings_for(&access), timeout, read_only).await?;
        return Ok(access);
    };
    // One round trip: `tenant_open` sets org + user (the membership rows are then visible
    // through their self-read policies), reads the roles, and sets the branches they give.
    // Non-members end with no org in the context: they see nothing of it.
    if let Some((role, raw)) =
        crate::db::rls::open_member(tx, org_id.uuid(), user_id.uuid(), timeout, read_only).await?
    {
        let role = OrgRole::try_from_value(&role).map_err(AppError::from_error)?;
        let mut branches = HashMap::new();
        for (id, role) in raw {
            let role = BranchRole::try_from_value(&role).map_err(AppError::from_error)?;
            branches.insert(BranchId(id), role);
        }
        access.org = Some(OrgAccess::member(org_id, role, branches));
    }
    Ok(access)
}
