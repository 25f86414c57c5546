//! Relay plumbing: opaque global ids that carry their type, cursors, connections and `node(id:)`.

use crate::domain;
use crate::domain::page::{Page, PageArgs};
use crate::error::{AppError, AppResult};
use crate::graphql::access::ApiToken;
use crate::graphql::accounts::User;
use crate::graphql::branches::Branch;
use crate::graphql::catalog::{Product, Variant};
use crate::graphql::listings::Listing;
use crate::graphql::organizations::Organization;
use crate::graphql::rc;
use crate::graphql::stock::{Location, Reservation};
use crate::graphql::stores::Store;
use crate::graphql::sync::{Job, SyncRun, SyncSchedule};
use crate::ids::{
    ApiTokenId, BranchId, JobId, ListingId, LocationId, OrderId, OrgId, ProductId, ReservationId,
    StoreId, SyncRunId, SyncScheduleId, UserId, VariantId,
};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, ID, Interface, Object};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use uuid::Uuid;

/// Encodes a global id for `type_name`.
pub fn encode_id(type_name: &str, id: Uuid) -> ID {
    ID(URL_SAFE_NO_PAD.encode(format!("{type_name}:{id}")))
}

/// Decodes a global id into `(type name, uuid)`; garbage is NOT_FOUND, like a missing row.
pub fn decode_any(id: &ID) -> AppResult<(String, Uuid)> {
    let raw = URL_SAFE_NO_PAD
        .decode(id.as_str())
        .map_err(|_| AppError::NotFound("object"))?;
    let text = String::from_utf8(raw).map_err(|_| AppError::NotFound("object"))?;
    let (t, u) = text.split_once(':').ok_or(AppError::NotFound("object"))?;
    let uuid = Uuid::parse_str(u).map_err(|_| AppError::NotFound("object"))?;
    Ok((t.to_owned(), uuid))
}

/// Decodes a global id that must be of `type_name`; any other type is NOT_FOUND.
pub fn decode_typed(id: &ID, type_name: &'static str) -> AppResult<Uuid> {
    match decode_any(id) {
        Ok((t, u)) if t == type_name => Ok(u),
        _ => Err(AppError::NotFound(type_name)),
    }
}

macro_rules! id_codec {
    ($($fn_enc:ident, $fn_dec:ident, $ty:ident;)*) => {$(
        /// Global id of this typed id.
        pub fn $fn_enc(id: $ty) -> ID {
            encode_id($ty::TYPE_NAME, id.uuid())
        }
        /// Parses a global id of this type.
        pub fn $fn_dec(id: &ID) -> AppResult<$ty> {
            decode_typed(id, $ty::TYPE_NAME).map($ty)
        }
    )*};
}

id_codec! {
    org_gid, org_id, OrgId;
    user_gid, user_id, UserId;
    branch_gid, branch_id, BranchId;
    store_gid, store_id, StoreId;
    api_token_gid, api_token_id, ApiTokenId;
    product_gid, product_id, ProductId;
    variant_gid, variant_id, VariantId;
    location_gid, location_id, LocationId;
    reservation_gid, reservation_id, ReservationId;
    job_gid, job_id, JobId;
    sync_run_gid, sync_run_id, SyncRunId;
    sync_schedule_gid, sync_schedule_id, SyncScheduleId;
    listing_gid, listing_id, ListingId;
    order_gid, order_id, OrderId;
}

fn encode_cursor(id: Uuid) -> String {
    URL_SAFE_NO_PAD.encode(id.as_bytes())
}

fn decode_cursor(field: &str, c: &str) -> AppResult<Uuid> {
    URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| Uuid::from_slice(&b).ok())
        .ok_or_else(|| AppError::invalid(field, "invalid cursor"))
}

/// Validates Relay arguments (`first`/`last` capped at 100).
pub fn page_args(
    after: Option<String>,
    before: Option<String>,
    first: Option<i32>,
    last: Option<i32>,
) -> AppResult<PageArgs> {
    let after = after.map(|c| decode_cursor("after", &c)).transpose()?;
    let before = before.map(|c| decode_cursor("before", &c)).transpose()?;
    PageArgs::new(after, before, first, last)
}

/// Validates forward-only Relay arguments.
pub fn forward_args(after: Option<String>, first: Option<i32>) -> AppResult<PageArgs> {
    page_args(after, None, first, None)
}

/// A Relay connection of `T`, with `totalCount`.
pub type Conn<T> = Connection<String, T, Counted>;

/// The connection's own fields beyond Relay's: `totalCount`, counted only when asked for.
pub struct Counted {
    all: Option<sea_orm::Statement>,
}

impl Counted {
    /// Counts the rows `all` selects (the whole list) when `totalCount` is asked for.
    pub fn new(all: Option<sea_orm::Statement>) -> Self {
        Self { all }
    }
}

#[Object]
impl Counted {
    /// Items in the whole list, all pages (one count query, run only when asked for).
    async fn total_count(&self, ctx: &Context<'_>) -> async_graphql::Result<i64> {
        let Some(all) = &self.all else {
            return Ok(0);
        };
        crate::graphql::read(ctx, async |c| domain::page::count(c.tx, all).await).await
    }
}

/// Builds a connection from a page; `key` gives each row's cursor key.
pub fn connection<M, T>(page: Page<M>, key: impl Fn(&M) -> Uuid, to: impl Fn(M) -> T) -> Conn<T>
where
    T: async_graphql::OutputType,
{
    let mut c = Connection::with_additional_fields(
        page.has_previous,
        page.has_next,
        Counted::new(page.all),
    );
    c.edges.extend(
        page.items
            .into_iter()
            .map(|m| Edge::new(encode_cursor(key(&m)), to(m))),
    );
    c
}

/// An object with a global id.
#[derive(Interface)]
#[graphql(field(
    name = "id",
    ty = "ID",
    desc = "Opaque global id; encodes the object's type."
))]
pub enum Node {
    /// An organization.
    Organization(Organization),
    /// A branch.
    Branch(Branch),
    /// A store.
    Store(Store),
    /// A user.
    User(User),
    /// A partner API token.
    ApiToken(ApiToken),
    /// A product.
    Product(Product),
    /// A variant.
    Variant(Variant),
    /// A stock location.
    Location(Location),
    /// A reservation.
    Reservation(Reservation),
    /// A listing.
    Listing(Listing),
    /// An order.
    Order(crate::graphql::orders::Order),
    /// A job.
    Job(Job),
    /// A sync run.
    SyncRun(SyncRun),
    /// A store's sync schedule.
    SyncSchedule(SyncSchedule),
    /// What a sync run did to one entity.
    SyncItem(crate::graphql::sync::SyncItem),
    /// A sync run's log line.
    SyncLog(crate::graphql::sync::SyncLog),
    /// A low-stock or unlinked-SKU alert.
    InventoryAlert(crate::graphql::subscriptions::InventoryAlert),
    /// A marketplace push.
    WebhookEvent(crate::graphql::webhooks::WebhookEvent),
}

/// `node(id:)`.
#[derive(Default)]
pub struct NodeQuery;

#[Object]
impl NodeQuery {
    /// Fetches any object by global id. Ids of other tenants, of the wrong type, or of nothing
    /// all give the same `null`.
    async fn node(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> async_graphql::Result<Option<Node>> {
        let Ok((type_name, uuid)) = decode_any(&id) else {
            return Ok(None);
        };
        let rc = rc(ctx)?;
        let guard = rc.tenant.lock().await?;
        let c = rc.read(&guard);
        if c.access.api_token().is_none() {
            c.access.user()?;
        }
        let found = match type_name.as_str() {
            OrgId::TYPE_NAME => crate::domain::organizations::get(c.tx, OrgId(uuid))
                .await
                .map(|m| Node::Organization(Organization(m))),
            BranchId::TYPE_NAME => crate::domain::branches::get(c.tx, BranchId(uuid))
                .await
                .map(|m| Node::Branch(Branch(m))),
            StoreId::TYPE_NAME => {
                if let Some(org) = &c.access.org {
                    org.require(crate::auth::permissions::Perm::StoresRead)?;
                }
                crate::domain::stores::get(c.tx, StoreId(uuid))
                    .await
                    .map(|m| Node::Store(Store(m)))
            }
            UserId::TYPE_NAME => crate::domain::accounts::get_user(c.tx, UserId(uuid))
                .await
                .map(|m| Node::User(User(m))),
            ApiTokenId::TYPE_NAME => domain::api_tokens::get(&c, ApiTokenId(uuid))
                .await
                .map(|m| Node::ApiToken(ApiToken(m))),
            ProductId::TYPE_NAME => domain::products::get(&c, ProductId(uuid))
                .await
                .map(|r| Node::Product(Product(r))),
            VariantId::TYPE_NAME => {
                domain::require_catalog_read(&c)?;
                domain::products::variant(&c, VariantId(uuid))
                    .await
                    .map(|r| Node::Variant(Variant(r)))
            }
            LocationId::TYPE_NAME => domain::inventory::location_row(&c, LocationId(uuid))
                .await
                .map(|r| Node::Location(r.into())),
            ReservationId::TYPE_NAME => domain::inventory::reservation(&c, ReservationId(uuid))
                .await
                .map(|r| Node::Reservation(r.into())),
            ListingId::TYPE_NAME => {
                domain::listings::readable(&c)?;
                domain::listings::get(&c, uuid)
                    .await
                    .map(|r| Node::Listing(Listing(r)))
            }
            OrderId::TYPE_NAME => domain::order_reads::get(&c, OrderId(uuid))
                .await
                .map(|r| Node::Order(crate::graphql::orders::Order(r))),
            JobId::TYPE_NAME => domain::sync::job(&c, JobId(uuid))
                .await
                .map(|r| Node::Job(Job(r))),
            SyncRunId::TYPE_NAME => domain::sync::run(&c, SyncRunId(uuid))
                .await
                .map(|r| Node::SyncRun(SyncRun(r))),
            SyncScheduleId::TYPE_NAME => domain::schedules::get(&c, SyncScheduleId(uuid))
                .await
                .map(|r| Node::SyncSchedule(SyncSchedule(r))),
            "SyncItem" => domain::sync::item(&c, uuid)
                .await
                .map(|r| Node::SyncItem(crate::graphql::sync::SyncItem(r))),
            "SyncLog" => domain::sync::log(&c, uuid)
                .await
                .map(|r| Node::SyncLog(crate::graphql::sync::SyncLog(r))),
            "InventoryAlert" => domain::inventory::alert(&c, uuid)
                .await
                .map(|(r, resolved)| {
                    Node::InventoryAlert(crate::graphql::subscriptions::InventoryAlert::from_row(
                        r, resolved,
                    ))
                }),
            crate::graphql::webhooks::TYPE_NAME => domain::webhooks::event(&c, uuid)
                .await
                .map(|r| Node::WebhookEvent(crate::graphql::webhooks::WebhookEvent(r))),
            _ => Err(AppError::NotFound("object")),
        };
        match found {
            Ok(node) => Ok(Some(node)),
            Err(AppError::NotFound(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// `r`, with a malformed id reported as VALIDATION_FAILED on `field` (NOT_FOUND stays).
pub fn field_id<T>(field: &str, r: AppResult<T>) -> AppResult<T> {
    r.map_err(|e| match e {
        AppError::NotFound(what) => AppError::NotFound(what),
        _ => AppError::invalid(field, "is not a valid id"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_carry_their_type() {
        let s = StoreId::new_v7();
        let gid = store_gid(s);
        assert_eq!(store_id(&gid).ok(), Some(s));
        assert_eq!(branch_id(&gid).err(), Some(AppError::NotFound("Branch")));
        assert!(decode_any(&ID("not base64!".into())).is_err());
    }

    #[test]
    fn page_args_cap_at_100_and_reject_bad_cursors() {
        assert!(page_args(None, None, Some(100), None).is_ok());
        assert!(page_args(None, None, Some(101), None).is_err());
        assert!(page_args(None, None, Some(-1), None).is_err());
        assert!(page_args(None, None, Some(1), Some(1)).is_err());
        assert!(page_args(Some("zz".into()), None, None, None).is_err());
        let c = encode_cursor(Uuid::now_v7());
        assert!(page_args(Some(c), None, Some(5), None).is_ok());
    }
}
