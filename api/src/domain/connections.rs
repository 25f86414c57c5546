//! Store connections: the authorization links handed out (`connect_states`), authorizing a store
//! from the platform's grant (a new store, or the same shop re-authorized), the token vault rows,
//! store health, and pausing a store's schedules while it cannot be called.
//!
//! Tokens are sealed with the credential cipher (its own associated-data label, key rotation
//! included) and bound to their organization and store; only expiry times are readable columns.

use crate::auth::credentials::{CredentialCipher, Sealed};
use crate::auth::permissions::Perm;
use crate::config::MarketplacesConfig;
use crate::domain::{Ctx, audit, branches, schedules, stmt, stores};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, StoreId};
use crate::keys::Topic;
use crate::marketplaces::{self, AuthStyle, Registry};
use base64::Engine as _;
use chrono::{DateTime, Utc};
use connectors::{Grant, ShopIdentity, TokenSet};
use entity::enums::{CircuitState, ConnectionStatus, Platform, StoreStatus};
use entity::stores as store_entity;
use sea_orm::{ConnectionTrait, EntityTrait, FromQueryResult};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::Duration;
use uuid::Uuid;

/// How long an authorization link's `state` is good for.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);

/// Random bytes in a `state` (beside the organization id): 256 bits.
const STATE_RANDOM_BYTES: usize = 32;

/// Input of [`begin`].
#[derive(Debug)]
pub struct BeginConnection {
    /// The branch the store joins.
    pub branch_id: BranchId,
    /// Shopee, TikTok Shop or Lazada.
    pub platform: Platform,
    /// ISO 3166-1 alpha-2 region of the shop.
    pub region: String,
    /// Where the seller's browser returns (must be on the allow-list).
    pub return_url: String,
}

/// What [`begin`] hands out.
#[derive(Debug)]
pub struct Began {
    /// The platform's authorization page, with the `state` in it.
    pub authorization_url: String,
    /// When the link stops working.
    pub expires_at: DateTime<Utc>,
}

fn hash(state: &str) -> Vec<u8> {
    Sha256::digest(state.as_bytes()).to_vec()
}

/// The organization a `state` names (its first 16 bytes); `None` for anything malformed. The
/// callback opens that organization's tenant transaction and finds the state there by its hash,
/// so a changed organization part finds nothing.
pub fn org_of_state(state: &str) -> Option<OrgId> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(state.as_bytes())
        .ok()?;
    if raw.len() != 16 + STATE_RANDOM_BYTES {
        return None;
    }
    let org: [u8; 16] = raw.get(..16)?.try_into().ok()?;
    Some(OrgId(Uuid::from_bytes(org)))
}

fn new_state(org: OrgId) -> String {
    use rand::RngCore as _;
    let mut raw = Vec::with_capacity(16 + STATE_RANDOM_BYTES);
    raw.extend_from_slice(org.uuid().as_bytes());
    let mut random = [0u8; STATE_RANDOM_BYTES];
    rand::rng().fill_bytes(&mut random);
    raw.extend_from_slice(&random);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

/// Starts connecting a store: checks the caller may manage stores of the branch, records the
/// hash of a fresh `state` (10 minutes, single use) and returns the platform's authorization URL.
pub async fn begin(
    c: &Ctx<'_>,
    registry: &Registry,
    config: &MarketplacesConfig,
    input: BeginConnection,
) -> AppResult<Began> {
    let org = c.access.org()?;
    let branch = branches::get(c.tx, input.branch_id)
        .await
        .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
    org.require(Perm::StoresWrite(BranchId(branch.id)))?;
    match marketplaces::auth_style(input.platform) {
        AuthStyle::Redirect => {}
        AuthStyle::PastedToken => {
            return Err(AppError::invalid(
                "input.platform",
                "Jumia is authorized with the refresh token of a Self Authorization app: use connectStore with credentials { refreshToken }",
            ));
        }
        AuthStyle::None => {
            return Err(AppError::invalid(
                "input.platform",
                "this platform has no API to authorize; use connectStore (files only)",
            ));
        }
    }
    let connector = registry.get(input.platform).ok_or_else(|| {
        AppError::invalid(
            "input.platform",
            "this platform's app is not configured on this server",
        )
    })?;
    let region = stores::region("input.region", &input.region)?;
    let return_url = input.return_url.trim();
    let parsed = url::Url::parse(return_url)
        .map_err(|_| AppError::invalid("input.returnUrl", "must be an absolute URL"))?;
    if return_url.len() > 2000 || !config.return_url_allowed(&parsed) {
        return Err(AppError::invalid(
            "input.returnUrl",
            "is not on this server's allow-list of return URLs (MERCATO_CONNECT_RETURN_URLS)",
        ));
    }
    let state = new_state(org.org_id);
    let expires_at = Utc::now()
        + chrono::Duration::from_std(STATE_TTL).unwrap_or_else(|_| chrono::Duration::minutes(10));
    let id = Uuid::now_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO connect_states (org_id, id, state_hash, user_id, branch_id, platform, region, return_url, expires_at) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, $8)",
        vec![
            id.into(),
            hash(&state).into(),
            c.access.user_id.map(|u| u.uuid()).into(),
            branch.id.into(),
            input.platform.into(),
            region.clone().into(),
            parsed.to_string().into(),
            expires_at.into(),
        ],
    ))
    .await?;
    let authorization_url = connector
        .authorize_url(
            &state,
            &config.callback_url(marketplaces::path_name(input.platform)),
        )
        .map_err(|e| AppError::internal(format!("authorization URL: {e}")))?;
    audit::record(
        c,
        org.org_id,
        "store.connect_begin",
        "Branch",
        Some(branch.id),
        serde_json::json!({ "platform": input.platform, "region": region }),
    )
    .await?;
    Ok(Began {
        authorization_url,
        expires_at,
    })
}

/// A `connect_states` row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct ConnectState {
    /// Id.
    pub id: Uuid,
    /// Organization.
    pub org_id: Uuid,
    /// Who began it.
    pub user_id: Option<Uuid>,
    /// Branch the store joins.
    pub branch_id: Uuid,
    /// Platform.
    pub platform: Platform,
    /// Region asked for.
    pub region: String,
    /// Where to send the browser back.
    pub return_url: String,
}

/// Why a presented `state` is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StateRefused {
    /// Unknown here: forged, tampered, of another organization or another platform.
    Invalid,
    /// Already used.
    Used,
    /// Older than ten minutes.
    Expired,
}

impl StateRefused {
    /// The result code shown to the seller.
    pub fn code(self) -> &'static str {
        match self {
            Self::Invalid => "INVALID_STATE",
            Self::Used => "STATE_ALREADY_USED",
            Self::Expired => "STATE_EXPIRED",
        }
    }
}

/// Takes a `state` presented to the callback of `platform`: valid (unused, fresh, this platform)
/// states are marked used in this transaction; refused ones change nothing.
pub async fn take_state(
    tx: &impl ConnectionTrait,
    state: &str,
    platform: Platform,
) -> AppResult<Result<ConnectState, StateRefused>> {
    #[derive(FromQueryResult)]
    struct Row {
        id: Uuid,
        platform: Platform,
        used: bool,
        expired: bool,
    }
    let Some(row) = Row::find_by_statement(stmt(
        "SELECT id, platform, used_at IS NOT NULL AS used, expires_at <= now() AS expired \
         FROM connect_states WHERE state_hash = $1 FOR UPDATE",
        vec![hash(state).into()],
    ))
    .one(tx)
    .await?
    else {
        return Ok(Err(StateRefused::Invalid));
    };
    if row.platform != platform {
        return Ok(Err(StateRefused::Invalid));
    }
    if row.used {
        return Ok(Err(StateRefused::Used));
    }
    if row.expired {
        return Ok(Err(StateRefused::Expired));
    }
    let taken = ConnectState::find_by_statement(stmt(
        "UPDATE connect_states SET used_at = now() WHERE id = $1 \
         RETURNING id, org_id, user_id, branch_id, platform, region, return_url",
        vec![row.id.into()],
    ))
    .one(tx)
    .await?
    .ok_or_else(|| AppError::internal("connect state vanished"))?;
    Ok(Ok(taken))
}

/// Records the outcome of a used state (its result code and store).
pub async fn finish_state(
    tx: &impl ConnectionTrait,
    id: Uuid,
    result: &str,
    store: Option<StoreId>,
) -> AppResult<()> {
    tx.execute_raw(stmt(
        "UPDATE connect_states SET result = $2, store_id = $3 WHERE id = $1",
        vec![
            id.into(),
            result.to_owned().into(),
            store.map(StoreId::uuid).into(),
        ],
    ))
    .await?;
    Ok(())
}

/// Whether the user who began the connection may (still: membership can change in ten minutes)
/// manage stores of `branch` — the link's branch, or the branch of the store the shop already is
/// when that is another one. A partner API token's state has no user and is not re-checked.
pub async fn may_still_connect(
    tx: &impl ConnectionTrait,
    st: &ConnectState,
    branch: Uuid,
) -> AppResult<bool> {
    let Some(user) = st.user_id else {
        return Ok(true);
    };
    let row = tx
        .query_one_raw(stmt(
            "SELECT EXISTS (SELECT 1 FROM org_members m WHERE m.user_id = $1 AND m.org_id = (SELECT app_org_id()) \
               AND (m.role IN ('OWNER', 'ADMIN') OR EXISTS (SELECT 1 FROM branch_members b \
                    WHERE b.user_id = $1 AND b.branch_id = $2 AND b.role = 'MANAGER'))) AS ok",
            vec![user.into(), branch.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<bool>("", "ok"))
        .transpose()?
        .unwrap_or(false))
}

/// The shop a grant is for, as Mercato stores it: (external shop id, region, currency).
pub fn shop_fields(
    identity: &ShopIdentity,
    fallback_region: &str,
) -> AppResult<(String, String, String)> {
    let currency_of = |region: &str| -> AppResult<String> {
        connectors::shopee::region_currency(region)
            .or(match region {
                "GB" => Some("GBP"),
                "US" => Some("USD"),
                "KE" => Some("KES"),
                "NG" => Some("NGN"),
                "EG" => Some("EGP"),
                "MA" => Some("MAD"),
                "GH" => Some("GHS"),
                "UG" => Some("UGX"),
                _ => None,
            })
            .map(str::to_owned)
            .ok_or_else(|| AppError::Upstream(format!("unsupported shop region {region}")))
    };
    let pick = |r: &str| {
        let r = r.trim().to_ascii_uppercase();
        if r.len() == 2 {
            r
        } else {
            fallback_region.to_owned()
        }
    };
    match identity {
        ShopIdentity::Shopee { shop_id, region } => {
            let region = pick(region);
            Ok((shop_id.to_string(), region.clone(), currency_of(&region)?))
        }
        ShopIdentity::Tiktok {
            shop_id, region, ..
        } => {
            let region = pick(region);
            Ok((shop_id.clone(), region.clone(), currency_of(&region)?))
        }
        ShopIdentity::Lazada { seller_id, country } => {
            let region = pick(country);
            let currency = connectors::lazada::country_currency(country)
                .map(str::to_owned)
                .map_or_else(|| currency_of(&region), Ok)?;
            Ok((seller_id.clone(), region, currency))
        }
        ShopIdentity::Jumia { shop_id } => {
            let region = pick(fallback_region);
            Ok((shop_id.clone(), region.clone(), currency_of(&region)?))
        }
        ShopIdentity::File { label } => Err(AppError::internal(format!(
            "a file store ({label}) has no grant"
        ))),
    }
}

/// The branch of the store the shop of `identity` already is in this organization, if any.
pub async fn existing_branch(
    tx: &impl ConnectionTrait,
    platform: Platform,
    identity: &ShopIdentity,
) -> AppResult<Option<Uuid>> {
    let (shop, _, _) = match shop_fields(identity, "ZZ") {
        Ok(f) => f,
        Err(_) => return Ok(None),
    };
    let row = tx
        .query_one_raw(stmt(
            "SELECT branch_id FROM stores WHERE platform = $1 AND external_shop_id = $2",
            vec![platform.into(), shop.into()],
        ))
        .await?;
    Ok(row
        .map(|r| r.try_get::<Uuid>("", "branch_id"))
        .transpose()?)
}

/// What [`authorize_store`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authorized {
    /// A new store.
    Created(StoreId),
    /// The shop was already a store of this organization: it is authorized again.
    Reconnected(StoreId),
}

impl Authorized {
    /// The store.
    pub fn store(self) -> StoreId {
        match self {
            Self::Created(s) | Self::Reconnected(s) => s,
        }
    }
}

/// How a new store is named when the platform does not say.
#[derive(Debug, Clone)]
pub struct Naming {
    /// Region when the platform names none.
    pub region: String,
    /// Display name (else the platform's shop name, else "<Platform> <shop id>").
    pub name: Option<String>,
    /// Currency (else the region's).
    pub currency: Option<String>,
}

/// Makes a store of `grant` in `branch` connected: the same shop already in this organization is
/// re-authorized (whatever its branch, archived or not), otherwise a new store is created with its
/// default schedules. Tokens are sealed into the vault, paused schedules resume. A shop held by
/// another organization fails with SHOP_CONNECTED_ELSEWHERE and writes nothing.
pub async fn authorize_store(
    c: &Ctx<'_>,
    cipher: &CredentialCipher,
    platform: Platform,
    branch: BranchId,
    naming: &Naming,
    grant: &Grant,
) -> AppResult<Authorized> {
    let org = c.access.org()?.org_id;
    let (shop, region, currency) = match (&grant.shop, &naming.currency) {
        (ShopIdentity::Jumia { shop_id }, Some(cur)) => {
            (shop_id.clone(), naming.region.clone(), cur.clone())
        }
        (identity, _) => shop_fields(identity, &naming.region)?,
    };
    let identity = serde_json::to_value(&grant.shop).map_err(AppError::from_error)?;
    let existing = store_entity::Model::find_by_statement(stmt(
        "SELECT * FROM stores WHERE platform = $1 AND external_shop_id = $2 FOR UPDATE",
        vec![platform.into(), shop.clone().into()],
    ))
    .one(c.tx)
    .await?;
    let outcome = match existing {
        Some(store) => {
            let id = StoreId(store.id);
            // Re-authorizing a store of another branch needs the right to manage that branch.
            if store.branch_id != branch.uuid() {
                c.access
                    .org()?
                    .require(Perm::StoresWrite(BranchId(store.branch_id)))?;
            }
            c.tx.execute_raw(stmt(
                "UPDATE stores SET connection = 'CONNECTED', shop_identity = $2, status = 'ACTIVE', \
                        archived_at = NULL, connected_at = now(), last_error_code = NULL, \
                        last_error_message = NULL, last_error_at = NULL, circuit = 'CLOSED', \
                        circuit_open_until = NULL, updated_at = now() \
                 WHERE id = $1",
                vec![store.id.into(), identity.into()],
            ))
            .await?;
            schedules::resume(c, id).await?;
            Authorized::Reconnected(id)
        }
        None => {
            let name = naming
                .name
                .as_deref()
                .or(grant.shop_name.as_deref())
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(|n| n.chars().take(200).collect::<String>())
                .unwrap_or_else(|| format!("{} {shop}", platform_label(platform)));
            let id = StoreId::new_v7();
            c.tx.execute_raw(stmt(
                "INSERT INTO stores (org_id, id, branch_id, platform, external_shop_id, name, region, currency, \
                                     connection, shop_identity, connected_at) \
                 VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, 'CONNECTED', $8, now())",
                vec![
                    id.uuid().into(),
                    branch.uuid().into(),
                    platform.into(),
                    shop.clone().into(),
                    name.into(),
                    region.into(),
                    currency.into(),
                    identity.into(),
                ],
            ))
            .await?;
            schedules::install_defaults(c, id, branch).await?;
            Authorized::Created(id)
        }
    };
    save_tokens(c.tx, cipher, org, outcome.store(), &grant.tokens).await?;
    audit::record(
        c,
        org,
        match outcome {
            Authorized::Created(_) => "store.connect",
            Authorized::Reconnected(_) => "store.reconnect",
        },
        "Store",
        Some(outcome.store().uuid()),
        serde_json::json!({ "platform": platform, "externalShopId": shop }),
    )
    .await?;
    publish_alert(c, outcome.store()).await?;
    Ok(outcome)
}

fn platform_label(p: Platform) -> &'static str {
    match p {
        Platform::Shopee => "Shopee",
        Platform::TiktokShop => "TikTok Shop",
        Platform::Lazada => "Lazada",
        Platform::Jumia => "Jumia",
        Platform::Kilimall => "Kilimall",
        Platform::Own => "Storefront",
    }
}

/// The sealed part of a token set.
#[derive(Serialize, Deserialize)]
struct SealedTokens {
    a: String,
    r: String,
}

fn at(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(secs, 0).unwrap_or_else(Utc::now)
}

/// Seals `tokens` into the vault row of `store` (created or replaced); returns its new version.
pub async fn save_tokens(
    tx: &impl ConnectionTrait,
    cipher: &CredentialCipher,
    org: OrgId,
    store: StoreId,
    tokens: &TokenSet,
) -> AppResult<i64> {
    let plain = serde_json::to_vec(&SealedTokens {
        a: tokens.access_token.clone(),
        r: tokens.refresh_token.clone(),
    })
    .map_err(AppError::from_error)?;
    let sealed = cipher
        .encrypt_as(Sealed::Tokens, org, store, &plain)
        .map_err(AppError::from_error)?;
    let row = tx
        .query_one_raw(stmt(
            "INSERT INTO store_tokens (org_id, store_id, sealed, access_expires_at, refresh_expires_at, refresh_single_use) \
             VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5) \
             ON CONFLICT (store_id) DO UPDATE SET sealed = EXCLUDED.sealed, \
                 access_expires_at = EXCLUDED.access_expires_at, refresh_expires_at = EXCLUDED.refresh_expires_at, \
                 refresh_single_use = EXCLUDED.refresh_single_use, version = store_tokens.version + 1, \
                 refreshed_at = now(), updated_at = now() \
             RETURNING version",
            vec![
                store.uuid().into(),
                sealed.into(),
                at(tokens.access_expires_at).into(),
                tokens.refresh_expires_at.map(at).into(),
                tokens.refresh_single_use.into(),
            ],
        ))
        .await?
        .ok_or_else(|| AppError::internal("token upsert returned nothing"))?;
    Ok(row.try_get("", "version")?)
}

/// A store's tokens as read from the vault.
#[derive(Debug)]
pub struct Vaulted {
    /// The tokens.
    pub tokens: TokenSet,
    /// Row version.
    pub version: i64,
}

/// Reads (and with `lock`, locks until the transaction ends) the tokens of `store`.
pub async fn load_tokens(
    tx: &impl ConnectionTrait,
    cipher: &CredentialCipher,
    org: OrgId,
    store: StoreId,
    lock: bool,
) -> AppResult<Option<Vaulted>> {
    #[derive(FromQueryResult)]
    struct Row {
        sealed: Vec<u8>,
        access_expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
        refresh_single_use: bool,
        version: i64,
    }
    let sql = format!(
        "SELECT sealed, access_expires_at, refresh_expires_at, refresh_single_use, version \
         FROM store_tokens WHERE store_id = $1{}",
        if lock { " FOR UPDATE" } else { "" }
    );
    let Some(row) = Row::find_by_statement(stmt(&sql, vec![store.uuid().into()]))
        .one(tx)
        .await?
    else {
        return Ok(None);
    };
    let plain = cipher
        .decrypt_as(Sealed::Tokens, org, store, &row.sealed)
        .map_err(|e| AppError::internal(format!("store {store} tokens: {e}")))?;
    let t: SealedTokens = serde_json::from_slice(plain.expose_secret())
        .map_err(|_| AppError::internal(format!("store {store} tokens are not JSON")))?;
    Ok(Some(Vaulted {
        tokens: TokenSet {
            access_token: t.a,
            access_expires_at: row.access_expires_at.timestamp(),
            refresh_token: t.r,
            refresh_expires_at: row.refresh_expires_at.map(|d| d.timestamp()),
            refresh_single_use: row.refresh_single_use,
        },
        version: row.version,
    }))
}

/// A store's connection as the worker needs it.
pub async fn store(tx: &impl ConnectionTrait, id: StoreId) -> AppResult<store_entity::Model> {
    store_entity::Entity::find_by_id(id.uuid())
        .one(tx)
        .await?
        .ok_or(AppError::NotFound("Store"))
}

/// The result of platform calls made for a store, for its health.
#[derive(Debug, Clone)]
pub enum CallOutcome {
    /// The calls succeeded.
    Success,
    /// A call failed: classified code and sanitised message.
    Failure {
        /// Stable code (see [`marketplaces::classify`]).
        code: &'static str,
        /// Message safe to store and show.
        message: String,
    },
}

/// Records calls made for `store` and its breaker as this worker sees it: success brings a
/// DEGRADED store back to CONNECTED; a failure that is not about authorization makes a CONNECTED
/// store DEGRADED. Authorization failures are [`mark_auth_expired`]'s.
pub async fn record_calls(
    tx: &impl ConnectionTrait,
    store: StoreId,
    outcome: &CallOutcome,
    circuit: CircuitState,
    open_until: Option<DateTime<Utc>>,
) -> AppResult<()> {
    match outcome {
        CallOutcome::Success => {
            tx.execute_raw(stmt(
                "UPDATE stores SET last_success_at = now(), circuit = $2, circuit_open_until = $3, \
                        connection = CASE WHEN connection = 'DEGRADED' THEN 'CONNECTED' ELSE connection END \
                 WHERE id = $1",
                vec![store.uuid().into(), circuit.into(), open_until.into()],
            ))
            .await?;
        }
        CallOutcome::Failure { code, message } => {
            tx.execute_raw(stmt(
                "UPDATE stores SET last_error_code = $2, last_error_message = $3, last_error_at = now(), \
                        circuit = $4, circuit_open_until = $5, \
                        connection = CASE WHEN connection = 'CONNECTED' THEN 'DEGRADED' ELSE connection END \
                 WHERE id = $1",
                vec![
                    store.uuid().into(),
                    (*code).to_owned().into(),
                    message.clone().into(),
                    circuit.into(),
                    open_until.into(),
                ],
            ))
            .await?;
        }
    }
    Ok(())
}

/// The platform refused the store's authorization: AUTH_EXPIRED, schedules paused, an alert
/// published. Returns false when the store was not connected (nothing changed, no alert).
pub async fn mark_auth_expired(
    c: &Ctx<'_>,
    store: StoreId,
    code: &str,
    message: &str,
) -> AppResult<bool> {
    let changed = c
        .tx
        .execute_raw(stmt(
            "UPDATE stores SET connection = 'AUTH_EXPIRED', last_error_code = $2, last_error_message = $3, \
                    last_error_at = now(), updated_at = now() \
             WHERE id = $1 AND connection IN ('CONNECTED', 'DEGRADED')",
            vec![
                store.uuid().into(),
                code.to_owned().into(),
                message.to_owned().into(),
            ],
        ))
        .await?
        .rows_affected();
    if changed == 0 {
        return Ok(false);
    }
    schedules::pause(c, store, schedules::Paused::AuthExpired).await?;
    publish_alert(c, store).await?;
    Ok(true)
}

/// A store's connection changed: tell the organization's `storeAlerts` subscribers.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StoreAlertEvent {
    /// Organization.
    pub org_id: Uuid,
    /// Branch of the store (visibility).
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Its connection now.
    pub connection: ConnectionStatus,
    /// Last error code, if any.
    pub code: Option<String>,
    /// Last error message (sanitised), if any.
    pub message: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
}

async fn publish_alert(c: &Ctx<'_>, id: StoreId) -> AppResult<()> {
    let s = store(c.tx, id).await?;
    let event = StoreAlertEvent {
        org_id: s.org_id,
        branch_id: s.branch_id,
        store_id: s.id,
        connection: s.connection,
        code: s.last_error_code,
        message: s.last_error_message,
        at: Utc::now(),
    };
    c.effects
        .publish(Topic::StoreAlerts(OrgId(s.org_id)), &event);
    Ok(())
}

/// Disconnects a store: tokens erased, schedules paused, history (orders, runs, listings) kept;
/// the shop is released for another organization. OWNER/ADMIN or the branch's MANAGER.
pub async fn disconnect(c: &Ctx<'_>, id: StoreId) -> AppResult<store_entity::Model> {
    let before = stores::get(c.tx, id).await?;
    let org = c.access.org()?;
    org.require(Perm::StoresWrite(BranchId(before.branch_id)))?;
    if before.connection == ConnectionStatus::Disconnected {
        return Err(AppError::Conflict(
            "the store is already disconnected".into(),
        ));
    }
    erase(c, id).await?;
    audit::record(
        c,
        org.org_id,
        "store.disconnect",
        "Store",
        Some(id.uuid()),
        serde_json::json!({ "platform": before.platform, "externalShopId": before.external_shop_id, "connectionBefore": before.connection }),
    )
    .await?;
    publish_alert(c, id).await?;
    stores::get(c.tx, id).await
}

/// Erases a store's tokens and pasted credentials and pauses its schedules (disconnect and
/// archive).
pub async fn erase(c: &Ctx<'_>, id: StoreId) -> AppResult<()> {
    c.tx.execute_raw(stmt(
        "DELETE FROM store_tokens WHERE store_id = $1",
        vec![id.uuid().into()],
    ))
    .await?;
    c.tx.execute_raw(stmt(
        "UPDATE stores SET connection = 'DISCONNECTED', credentials = NULL, credentials_updated_at = NULL, \
                circuit = 'CLOSED', circuit_open_until = NULL, updated_at = now() WHERE id = $1",
        vec![id.uuid().into()],
    ))
    .await?;
    schedules::pause(c, id, schedules::Paused::Disconnected).await
}

/// The connection a store registered through `connectStore` starts in.
pub fn initial_connection(platform: Platform) -> ConnectionStatus {
    match marketplaces::auth_style(platform) {
        AuthStyle::None => ConnectionStatus::FileOnly,
        AuthStyle::Redirect | AuthStyle::PastedToken => ConnectionStatus::Disconnected,
    }
}

/// Whether jobs of a store may call its platform now.
pub fn callable(s: &store_entity::Model) -> bool {
    s.status == StoreStatus::Active
        && matches!(
            s.connection,
            ConnectionStatus::Connected | ConnectionStatus::Degraded
        )
}

/// Token expiry times of `stores` (those that hold tokens): (store, access, refresh).
pub async fn token_expiries(
    tx: &impl ConnectionTrait,
    stores: &[StoreId],
) -> AppResult<Vec<(Uuid, DateTime<Utc>, Option<DateTime<Utc>>)>> {
    #[derive(FromQueryResult)]
    struct Row {
        store_id: Uuid,
        access_expires_at: DateTime<Utc>,
        refresh_expires_at: Option<DateTime<Utc>>,
    }
    let ids: Vec<Uuid> = stores.iter().map(|s| s.uuid()).collect();
    let rows = Row::find_by_statement(stmt(
        "SELECT store_id, access_expires_at, refresh_expires_at FROM store_tokens WHERE store_id = ANY($1)",
        vec![ids.into()],
    ))
    .all(tx)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.store_id, r.access_expires_at, r.refresh_expires_at))
        .collect())
}
