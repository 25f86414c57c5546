//! Authentication: password hashing, access tokens, refresh sessions, partner API tokens, the
//! authenticated principal, the permission matrix, and the encryption of marketplace credentials.

pub mod credentials;
pub mod jwt;
pub mod password;
pub mod permissions;
pub mod secrets;

use crate::ids::{ApiTokenId, BranchId, OrgId, UserId};
use permissions::Scope;
use std::sync::Arc;

/// Who is calling, as proven by a verified access token or API token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A person, through a JWT access token.
    User {
        /// The user.
        user_id: UserId,
        /// The organization the token is scoped to, if any.
        org_id: Option<OrgId>,
    },
    /// A partner integration, through an API token.
    ApiToken(Arc<ApiTokenGrant>),
}

/// What a valid, unrevoked API token grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenGrant {
    /// The token row.
    pub id: ApiTokenId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its scopes.
    pub scopes: Vec<Scope>,
    /// Branches it is limited to; `None` = every branch.
    pub branch_ids: Option<Vec<BranchId>>,
}

impl Principal {
    /// A user principal.
    pub fn user(user_id: UserId, org_id: Option<OrgId>) -> Self {
        Principal::User { user_id, org_id }
    }

    /// The organization the principal acts in.
    pub fn org_id(&self) -> Option<OrgId> {
        match self {
            Principal::User { org_id, .. } => *org_id,
            Principal::ApiToken(g) => Some(g.org_id),
        }
    }

    /// Key for per-principal rate limits and cost buckets.
    pub fn limit_key(&self) -> String {
        match self {
            Principal::User { user_id, .. } => format!("u:{user_id}"),
            Principal::ApiToken(g) => format!("t:{}", g.id),
        }
    }
}
