//! Accounts in GraphQL: `viewer`, `signUp`, `logIn`, `switchOrganization`.

use crate::domain::accounts;
use crate::domain::sessions;
use crate::domain::sign_in::{self, Session};
use crate::error::AppError;
use crate::graphql::organizations::{OrgRoleGql, Organization};
use crate::graphql::relay::{org_id, user_gid};
use crate::graphql::user_errors::{UserError, split};
use crate::graphql::{mutate, rc, read, some};
use crate::ids::{OrgId, UserId};
use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use entity::users;
use secrecy::{ExposeSecret, SecretString};

/// A person who can log in.
pub struct User(pub users::Model);

/// A person who can log in.
#[Object]
impl User {
    /// Global id.
    pub async fn id(&self) -> ID {
        user_gid(UserId(self.0.id))
    }
    /// E-mail address (lower-cased).
    async fn email(&self) -> &str {
        &self.0.email
    }
    /// Display name.
    async fn display_name(&self) -> &str {
        &self.0.display_name
    }
    /// When the account was created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at.to_utc()
    }
}

/// An organization the viewer belongs to, with their role there.
#[derive(SimpleObject)]
pub struct Membership {
    /// The organization.
    pub organization: Organization,
    /// The viewer's role in it.
    pub role: OrgRoleGql,
}

/// The authenticated user and their current organization.
pub struct Viewer {
    user: users::Model,
    current: Option<(entity::organizations::Model, entity::enums::OrgRole)>,
    memberships: Vec<(entity::organizations::Model, entity::enums::OrgRole)>,
}

/// The authenticated user and their current organization.
#[Object]
impl Viewer {
    /// The user.
    async fn user(&self) -> User {
        User(self.user.clone())
    }
    /// The organization the access token is scoped to, if any.
    async fn organization(&self) -> Option<Organization> {
        self.current.as_ref().map(|(o, _)| Organization(o.clone()))
    }
    /// The viewer's role in the current organization.
    async fn role(&self) -> Option<OrgRoleGql> {
        self.current.as_ref().map(|(_, r)| (*r).into())
    }
    /// Every organization the viewer belongs to.
    async fn memberships(&self) -> Vec<Membership> {
        self.memberships
            .iter()
            .map(|(o, r)| Membership {
                organization: Organization(o.clone()),
                role: (*r).into(),
            })
            .collect()
    }
}

/// Queries about the caller.
#[derive(Default)]
pub struct AccountsQuery;

#[Object]
impl AccountsQuery {
    /// The authenticated caller. UNAUTHENTICATED without a valid token.
    async fn viewer(&self, ctx: &Context<'_>) -> Result<Viewer> {
        let (user, current, memberships) = read(ctx, accounts::viewer).await?;
        Ok(Viewer {
            user,
            current,
            memberships,
        })
    }
}

/// Input of `signUp`.
#[derive(InputObject)]
pub struct SignUpInput {
    /// E-mail address; must be unused.
    pub email: String,
    /// At least 10 characters.
    #[graphql(secret)]
    pub password: String,
    /// Name shown to colleagues.
    pub display_name: String,
    /// If given, also create this organization with the new user as OWNER.
    pub organization_name: Option<String>,
}

/// Input of `logIn`.
#[derive(InputObject)]
pub struct LogInInput {
    /// E-mail address.
    pub email: String,
    /// Password.
    #[graphql(secret)]
    pub password: String,
    /// Organization to scope the token to; defaults to the oldest membership.
    pub organization_id: Option<ID>,
}

/// Input of `switchOrganization`.
#[derive(InputObject)]
pub struct SwitchOrganizationInput {
    /// An organization the caller belongs to.
    pub organization_id: ID,
}

/// A new access token and who it is for.
#[derive(SimpleObject, Default)]
pub struct AuthPayload {
    /// Bearer token for `Authorization: Bearer …`.
    pub access_token: Option<String>,
    /// When the token expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// Opaque refresh token for `refreshSession`, shown once; rotated on every use. Not returned
    /// by `switchOrganization` (the session's refresh token stays valid).
    pub refresh_token: Option<String>,
    /// When the refresh token expires.
    pub refresh_token_expires_at: Option<DateTime<Utc>>,
    /// The user.
    pub user: Option<User>,
    /// The organization the token is scoped to.
    pub organization: Option<Organization>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

impl AuthPayload {
    fn build(
        ctx: &Context<'_>,
        (session, user_errors): (Option<Session>, Vec<UserError>),
    ) -> Result<Self> {
        let Some(s) = session else {
            return Ok(Self {
                user_errors,
                ..Self::default()
            });
        };
        let token = rc(ctx)?
            .state
            .jwt
            .issue(UserId(s.user.id), s.org.as_ref().map(|o| OrgId(o.id)))?;
        let (refresh_token, refresh_token_expires_at) = match s.refresh {
            Some(r) => (Some(r.token.expose_secret().to_owned()), Some(r.expires_at)),
            None => (None, None),
        };
        Ok(Self {
            access_token: Some(token.token),
            expires_at: Some(token.expires_at),
            refresh_token,
            refresh_token_expires_at,
            user: Some(User(s.user)),
            organization: s.org.map(Organization),
            user_errors,
        })
    }
}

/// Parses an optional `input.organizationId`; a malformed id reads as "not found".
/// Counts one log-in attempt against the client IP and the account, before the password is
/// looked at: every `logIn` counts, however many share one HTTP request (aliases, batches).
async fn login_attempt(rc: &crate::graphql::RequestCtx, email: &str) -> Result<(), AppError> {
    use crate::limits::rate::{LimitKey, retry_after_secs};
    let refuse = |wait| AppError::RateLimited {
        retry_after_secs: retry_after_secs(wait),
    };
    if let Some(ip) = rc.client_ip {
        rc.state
            .login
            .check(&LimitKey::Ip(ip))
            .await
            .map_err(refuse)?;
    }
    let account = format!("email:{}", email.trim().to_lowercase());
    rc.state
        .login
        .check(&LimitKey::Principal(account))
        .await
        .map_err(refuse)
}

fn wanted_org(id: Option<&ID>) -> crate::error::AppResult<Option<OrgId>> {
    id.map(org_id)
        .transpose()
        .map_err(|_| AppError::invalid("input.organizationId", "organization not found"))
}

/// Account mutations.
#[derive(Default)]
pub struct AccountsMutation;

#[Object]
impl AccountsMutation {
    /// Creates an account (and optionally an organization) and logs in.
    async fn sign_up(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SignUpInput,
    ) -> Result<Option<AuthPayload>> {
        some(async {
            let ttl = rc(ctx)?.state.config.limits.refresh_token_ttl;
            let input = sign_in::SignUp {
                email: input.email,
                password: SecretString::from(input.password),
                display_name: input.display_name,
                organization_name: input.organization_name,
            };
            let result = mutate(ctx, async |c| sign_in::sign_up(&c, input, ttl).await).await?;
            AuthPayload::build(ctx, result)
        })
        .await
    }

    /// Logs in with e-mail and password. Wrong e-mail and wrong password are the same error.
    async fn log_in(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: LogInInput,
    ) -> Result<Option<AuthPayload>> {
        some(async {
            let rc = rc(ctx)?;
            login_attempt(rc, &input.email).await?;
            let ttl = rc.state.config.limits.refresh_token_ttl;
            let password = SecretString::from(input.password);
            let result = mutate(ctx, async |c| {
                let wanted = wanted_org(input.organization_id.as_ref())?;
                sign_in::log_in(&c, &input.email, password, wanted, ttl).await
            })
            .await?;
            AuthPayload::build(ctx, result)
        })
        .await
    }

    /// Issues a token scoped to another organization the caller belongs to.
    async fn switch_organization(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SwitchOrganizationInput,
    ) -> Result<Option<AuthPayload>> {
        some(async {
            let result = mutate(ctx, async |c| {
                c.access.user()?;
                let wanted = org_id(&input.organization_id)
                    .map_err(|_| AppError::NotFound("Organization"))?;
                sign_in::switch(&c, wanted).await
            })
            .await?;
            AuthPayload::build(ctx, result)
        })
        .await
    }

    /// Exchanges a refresh token for a new access token and a new refresh token (the presented one
    /// stops working). Presenting an already-used refresh token revokes the whole session.
    async fn refresh_session(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: RefreshSessionInput,
    ) -> Result<Option<AuthPayload>> {
        some(async {
            let ttl = rc(ctx)?.state.config.limits.refresh_token_ttl;
            // A reused token is reported as a failure, but its family's revocation is kept: the
            // domain answers `None` (the savepoint is kept) rather than an error (it would roll back).
            let (session, user_errors) = mutate(ctx, async |c| {
                let wanted = wanted_org(input.organization_id.as_ref())?;
                sign_in::refresh(&c, &input.refresh_token, wanted, ttl).await
            })
            .await?;
            let result = match session {
                Some(None) => split(Err(AppError::InvalidRefreshToken))?,
                other => (other.flatten(), user_errors),
            };
            AuthPayload::build(ctx, result)
        })
        .await
    }

    /// Ends the session of a refresh token: it and every token rotated from it stop working.
    /// Access tokens already issued stay valid until they expire (15 minutes by default).
    async fn log_out(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: LogOutInput,
    ) -> Result<Option<LogOutPayload>> {
        some(async {
            let (revoked, user_errors) = mutate(ctx, async |c| {
                sessions::revoke(c.tx, c.access, &input.refresh_token).await
            })
            .await?;
            Ok(LogOutPayload {
                revoked: revoked.unwrap_or(false),
                user_errors,
            })
        })
        .await
    }
}

/// Input of `refreshSession`.
#[derive(InputObject)]
pub struct RefreshSessionInput {
    /// The refresh token from `logIn`, `signUp` or the previous `refreshSession`.
    #[graphql(secret)]
    pub refresh_token: String,
    /// Switch the session to this organization (must be a member); defaults to the session's.
    pub organization_id: Option<ID>,
}

/// Input of `logOut`.
#[derive(InputObject)]
pub struct LogOutInput {
    /// The session's current refresh token.
    #[graphql(secret)]
    pub refresh_token: String,
}

/// Result of `logOut`.
#[derive(SimpleObject)]
pub struct LogOutPayload {
    /// Whether an active session was ended (false if it had already ended).
    pub revoked: bool,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}
