//! Authentication: password hashing, access tokens, the authenticated principal, and the
//! encryption of marketplace credentials at rest.

pub mod credentials;
pub mod jwt;
pub mod password;

use crate::ids::{OrgId, UserId};

/// Who is calling, as proven by a verified access token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Principal {
    /// The user.
    pub user_id: UserId,
    /// The organization the token is scoped to, if any.
    pub org_id: Option<OrgId>,
}
