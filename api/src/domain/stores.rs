//! Stores: connected marketplace accounts. Credentials are encrypted before they reach the
//! database and are never returned; only `has_credentials` and their update time are readable.
//!
//! How a store is registered depends on its platform (`marketplaces::auth_style`): Shopee,
//! TikTok Shop and Lazada are authorized through the platform's redirect flow
//! (`domain::connections::begin`), so a store registered here starts DISCONNECTED with its
//! schedules paused until then; Jumia is authorized here with the refresh token of a Self
//! Authorization app, checked against the platform before anything is saved; Kilimall and the own
//! storefront have no API (FILE_ONLY).

use crate::auth::credentials::CredentialCipher;
use crate::auth::permissions::Perm;
use crate::domain::page::{self, Page, PageArgs};
use crate::domain::{Ctx, audit, branches, clean_text, connections, schedules};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrgId, StoreId};
use entity::enums::{ConnectionStatus, Platform, StoreStatus};
use entity::stores;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use secrecy::{ExposeSecret, SecretSlice};
use serde_json::{Map, Value, json};

/// Largest serialized credentials object.
pub const CREDENTIALS_MAX_BYTES: usize = 8 * 1024;

/// Credentials as submitted: a flat JSON object of strings. Its `Debug` is redacted.
pub struct Credentials(SecretSlice<u8>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials([redacted])")
    }
}

impl Credentials {
    /// Checks the shape (object of ≤ 32 string values, ≤ 8 KiB) without echoing any value.
    pub fn parse(field: &str, value: Value) -> AppResult<Self> {
        let Value::Object(map) = value else {
            return Err(AppError::invalid(field, "must be a JSON object of strings"));
        };
        if map.is_empty() || map.len() > 32 {
            return Err(AppError::invalid(
                field,
                "must have between 1 and 32 entries",
            ));
        }
        if let Some((key, _)) = map
            .iter()
            .find(|(k, v)| !v.is_string() || k.is_empty() || k.len() > 64)
        {
            let shown: String = key.chars().take(64).collect();
            return Err(AppError::invalid(
                field,
                format!("entry `{shown}` must have a string value and a 1-64 character name"),
            ));
        }
        let bytes = serde_json::to_vec(&Value::Object(map)).map_err(AppError::from_error)?;
        if bytes.len() > CREDENTIALS_MAX_BYTES {
            return Err(AppError::invalid(
                field,
                format!("must be at most {CREDENTIALS_MAX_BYTES} bytes"),
            ));
        }
        Ok(Self(bytes.into()))
    }
}

/// Input for [`connect`].
#[derive(Debug)]
pub struct ConnectStore {
    /// Owning branch.
    pub branch_id: BranchId,
    /// Marketplace.
    pub platform: Platform,
    /// Shop id on the marketplace.
    pub external_shop_id: String,
    /// Display name.
    pub name: String,
    /// ISO 3166-1 alpha-2 region.
    pub region: String,
    /// ISO 4217 currency.
    pub currency: String,
    /// Credentials to encrypt, if any (Jumia: `{ "refreshToken": … }`, checked and moved to the
    /// token vault, never stored as credentials).
    pub credentials: Option<Credentials>,
}

impl Credentials {
    /// The string value of `key`, if present.
    fn get(&self, key: &str) -> Option<String> {
        let map: Map<String, Value> = serde_json::from_slice(self.0.expose_secret()).ok()?;
        map.get(key).and_then(Value::as_str).map(str::to_owned)
    }
}

/// Input for [`update`]; `None` leaves a field unchanged.
#[derive(Debug, Default)]
pub struct UpdateStore {
    /// New name.
    pub name: Option<String>,
    /// Move to this branch.
    pub branch_id: Option<BranchId>,
    /// Replace credentials.
    pub credentials: Option<Credentials>,
}

/// An ISO 3166-1 alpha-2 region, upper-cased, or VALIDATION_FAILED on `field`.
pub(crate) fn region(field: &str, raw: &str) -> AppResult<String> {
    let r = raw.trim().to_ascii_uppercase();
    if r.len() == 2 && r.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(r)
    } else {
        Err(AppError::invalid(
            field,
            "must be an ISO 3166-1 alpha-2 code such as MY or KE",
        ))
    }
}

fn currency(field: &str, raw: &str) -> AppResult<String> {
    connectors::money::currency(raw)
        .map(|cur| cur.code().to_owned())
        .map_err(|_| {
            AppError::invalid(
                field,
                "must be an ISO 4217 currency code such as MYR or KES",
            )
        })
}

fn external_shop_id(raw: &str) -> AppResult<String> {
    let v = raw.trim();
    if v.is_empty() || v.len() > 128 || v.chars().any(char::is_control) {
        return Err(AppError::invalid(
            "input.externalShopId",
            "must be 1-128 printable characters",
        ));
    }
    Ok(v.to_owned())
}

fn require_manager(ctx: &Ctx<'_>, branch: BranchId) -> AppResult<OrgId> {
    let org = ctx.access.org()?;
    org.require(Perm::StoresWrite(branch))?;
    Ok(org.org_id)
}

fn seal(
    cipher: &CredentialCipher,
    org: OrgId,
    store: StoreId,
    c: &Credentials,
) -> AppResult<Vec<u8>> {
    cipher
        .encrypt(org, store, c.0.expose_secret())
        .map_err(AppError::from_error)
}

fn summary(m: &stores::Model) -> Value {
    json!({
        "name": m.name, "branchId": m.branch_id, "platform": m.platform, "externalShopId": m.external_shop_id,
        "region": m.region, "currency": m.currency, "status": m.status,
        "hasCredentials": m.credentials.is_some(),
    })
}

/// Loads a store visible to the caller.
/// The visible stores with these ids (for a DataLoader).
pub async fn load_many<C: ConnectionTrait>(
    conn: &C,
    ids: &[StoreId],
) -> AppResult<Vec<stores::Model>> {
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
    Ok(stores::Entity::find()
        .filter(stores::Column::Id.is_in(ids.iter().map(|s| s.uuid())))
        .all(conn)
        .await?)
}

/// A store (NOT_FOUND unless visible).
pub async fn get<C: ConnectionTrait>(conn: &C, id: StoreId) -> AppResult<stores::Model> {
    stores::Entity::find_by_id(id.uuid())
        .one(conn)
        .await?
        .ok_or(AppError::NotFound("Store"))
}

/// Filters for [`list`].
#[derive(Debug, Default, Clone)]
pub struct StoreFilter {
    /// Only this branch.
    pub branch_id: Option<BranchId>,
    /// Only this platform.
    pub platform: Option<Platform>,
    /// Only this status.
    pub status: Option<StoreStatus>,
}

/// Stores visible to the caller.
pub async fn list(
    ctx: &Ctx<'_>,
    filter: &StoreFilter,
    args: PageArgs,
) -> AppResult<Page<stores::Model>> {
    let org = ctx.access.org()?;
    org.require(Perm::StoresRead)?;
    let mut q = stores::Entity::find().filter(stores::Column::OrgId.eq(org.org_id.uuid()));
    if let Some(b) = filter.branch_id {
        q = q.filter(stores::Column::BranchId.eq(b.uuid()));
    }
    if let Some(p) = filter.platform {
        q = q.filter(stores::Column::Platform.eq(p));
    }
    if let Some(s) = filter.status {
        q = q.filter(stores::Column::Status.eq(s));
    }
    page::fetch(ctx.tx, q, stores::Column::Id, args).await
}

/// Connects a store (OWNER/ADMIN, or MANAGER of its branch). `jumia` is the Jumia connector,
/// which checks a Jumia refresh token before anything is written.
pub async fn connect(
    ctx: &Ctx<'_>,
    cipher: &CredentialCipher,
    input: ConnectStore,
    jumia: Option<&dyn connectors::Connector>,
) -> AppResult<stores::Model> {
    let org = ctx.access.org()?.org_id;
    let branch = branches::get(ctx.tx, input.branch_id)
        .await
        .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
    require_manager(ctx, BranchId(branch.id))?;
    let name = clean_text("input.name", &input.name, 200)?;
    let shop = external_shop_id(&input.external_shop_id)?;
    let region = region("input.region", &input.region)?;
    let currency = currency("input.currency", &input.currency)?;
    if input.platform == Platform::Jumia {
        return connect_jumia(
            ctx,
            cipher,
            &input,
            BranchId(branch.id),
            name,
            region,
            jumia,
        )
        .await;
    }
    let connection = connections::initial_connection(input.platform);
    let id = StoreId::new_v7();
    let now = chrono::Utc::now();
    let sealed = input
        .credentials
        .as_ref()
        .map(|c| seal(cipher, org, id, c))
        .transpose()?;
    let model = stores::ActiveModel {
        org_id: Set(org.uuid()),
        id: Set(id.uuid()),
        branch_id: Set(branch.id),
        platform: Set(input.platform),
        external_shop_id: Set(shop),
        name: Set(name),
        region: Set(region),
        currency: Set(currency),
        status: Set(StoreStatus::Active),
        credentials_updated_at: Set(sealed.as_ref().map(|_| now.into())),
        credentials: Set(sealed),
        archived_at: Set(None),
        created_at: Set(now.into()),
        updated_at: Set(now.into()),
        connection: Set(connection),
        shop_identity: Set(None),
        connected_at: Set(None),
        last_success_at: Set(None),
        last_error_code: Set(None),
        last_error_message: Set(None),
        last_error_at: Set(None),
        circuit: Set(entity::enums::CircuitState::Closed),
        circuit_open_until: Set(None),
        orders_synced_to: Set(None),
        authorization_expires_at: Set(None),
    }
    .insert(ctx.tx)
    .await
    .map_err(|e| match AppError::from(e) {
        AppError::Conflict(_) => AppError::Conflict(
            "this marketplace shop is already a store of this organization".into(),
        ),
        other => other,
    })?;
    // Its default sync schedules (orders, payouts, token refresh, return SLA), with their first
    // slots queued in this same transaction; held until the store is authorized.
    schedules::install_defaults(ctx, id, BranchId(branch.id)).await?;
    if connection == ConnectionStatus::Disconnected {
        schedules::pause(ctx, id, schedules::Paused::Disconnected).await?;
    }
    audit::record(
        ctx,
        org,
        "store.connect",
        "Store",
        Some(id.uuid()),
        json!({ "after": summary(&model) }),
    )
    .await?;
    Ok(model)
}

/// Jumia: the pasted refresh token is exchanged at the platform (which rotates it) and the shop
/// named by the platform is connected, or re-authorized when it is already a store here.
async fn connect_jumia(
    ctx: &Ctx<'_>,
    cipher: &CredentialCipher,
    input: &ConnectStore,
    branch: BranchId,
    name: String,
    region: String,
    jumia: Option<&dyn connectors::Connector>,
) -> AppResult<stores::Model> {
    let token = input
        .credentials
        .as_ref()
        .and_then(|c| c.get("refreshToken"))
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            AppError::invalid(
                "input.credentials",
                "Jumia needs { \"refreshToken\": … } from Vendor Center → Settings → Applications (Self Authorization)",
            )
        })?;
    let jumia = jumia.ok_or_else(|| {
        AppError::invalid(
            "input.platform",
            "the Jumia app is not configured on this server",
        )
    })?;
    let callback = connectors::AuthCallback {
        code: token,
        ..Default::default()
    };
    let grant = jumia
        .exchange_code(&callback, "")
        .await
        .map_err(|e| match e {
            connectors::Error::Auth { .. } => AppError::MarketplaceAuth(
                "Jumia refused the refresh token (used, expired or revoked); create a new one in Vendor Center".into(),
            ),
            other => AppError::Upstream(crate::marketplaces::classify(&other).1),
        })?;
    let done = connections::authorize_store(
        ctx,
        cipher,
        Platform::Jumia,
        branch,
        &connections::Naming {
            region: region.clone(),
            name: Some(name),
            currency: Some(currency("input.currency", &input.currency)?),
        },
        &grant,
    )
    .await?;
    get(ctx.tx, done.store()).await
}

/// Changes a store's name, branch or credentials.
pub async fn update(
    ctx: &Ctx<'_>,
    cipher: &CredentialCipher,
    id: StoreId,
    input: UpdateStore,
) -> AppResult<stores::Model> {
    let before = get(ctx.tx, id).await?;
    let org = require_manager(ctx, BranchId(before.branch_id))?;
    if before.status == StoreStatus::Archived {
        return Err(AppError::Conflict(
            "an archived store cannot be changed".into(),
        ));
    }
    let mut active: stores::ActiveModel = before.clone().into();
    if let Some(name) = &input.name {
        active.name = Set(clean_text("input.name", name, 200)?);
    }
    if let Some(target) = input.branch_id {
        let branch = branches::get(ctx.tx, target)
            .await
            .map_err(|_| AppError::invalid("input.branchId", "branch not found"))?;
        require_manager(ctx, BranchId(branch.id))?;
        active.branch_id = Set(branch.id);
    }
    let now = chrono::Utc::now();
    if let Some(c) = &input.credentials {
        active.credentials = Set(Some(seal(cipher, org, id, c)?));
        active.credentials_updated_at = Set(Some(now.into()));
    }
    active.updated_at = Set(now.into());
    let after = active.update(ctx.tx).await?;
    let mut after_summary = summary(&after);
    if let (Some(obj), true) = (after_summary.as_object_mut(), input.credentials.is_some()) {
        obj.insert("credentialsReplaced".into(), Value::Bool(true));
    }
    audit::record(
        ctx,
        org,
        "store.update",
        "Store",
        Some(id.uuid()),
        json!({ "before": summary(&before), "after": after_summary }),
    )
    .await?;
    Ok(after)
}

/// Archives a store: it stops syncing and its credentials are erased.
pub async fn archive(ctx: &Ctx<'_>, id: StoreId) -> AppResult<stores::Model> {
    let before = get(ctx.tx, id).await?;
    let org = require_manager(ctx, BranchId(before.branch_id))?;
    if before.status == StoreStatus::Archived {
        return Err(AppError::Conflict("the store is already archived".into()));
    }
    let now = chrono::Utc::now();
    connections::erase(ctx, id).await?;
    let mut active: stores::ActiveModel = get(ctx.tx, id).await?.into();
    active.status = Set(StoreStatus::Archived);
    active.archived_at = Set(Some(now.into()));
    active.updated_at = Set(now.into());
    let after = active.update(ctx.tx).await?;
    audit::record(
        ctx,
        org,
        "store.archive",
        "Store",
        Some(id.uuid()),
        json!({ "before": summary(&before), "after": summary(&after) }),
    )
    .await?;
    Ok(after)
}

/// Decrypts a store's credentials for a connector call (OWNER/ADMIN or the branch's MANAGER).
pub async fn credentials(
    ctx: &Ctx<'_>,
    cipher: &CredentialCipher,
    id: StoreId,
) -> AppResult<Option<Map<String, Value>>> {
    let store = get(ctx.tx, id).await?;
    let org = require_manager(ctx, BranchId(store.branch_id))?;
    let Some(envelope) = store.credentials else {
        return Ok(None);
    };
    let plain = cipher
        .decrypt(org, id, &envelope)
        .map_err(|e| AppError::internal(format!("store {id} credentials: {e}")))?;
    serde_json::from_slice(plain.expose_secret())
        .map(Some)
        .map_err(|_| AppError::internal("credentials are not JSON"))
}
