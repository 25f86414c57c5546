//! Reading orders: the filtered, sorted, keyset-paged list with its total, one order, and the
//! lines and history of many orders at once (for DataLoaders). Row-level security limits every
//! statement to the caller's organization and visible branches; `orders:read` is required.

use crate::auth::permissions::Perm;
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, OrderId, StoreId};
use chrono::{DateTime, Utc};
use entity::enums::{LineStock, OrderEventSource, OrderStatus};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Columns of `orders` as [`OrderRow`] reads them (`o` is the table's alias).
pub(crate) const ORDER_COLUMNS: &str = "o.id, o.branch_id, o.store_id, o.external_id, o.status, o.raw_status, \
     o.marketplace_updated_at, o.version, o.buyer_name, o.ship_city, o.currency, o.subtotal_minor, \
     o.shipping_fee_minor, o.seller_discount_minor, o.platform_discount_minor, o.tax_minor, o.total_minor, \
     o.cod_amount_minor, o.payment_method, o.is_cod, o.fulfilled_by, o.placed_at, o.paid_at, o.ship_by, \
     o.shipped_at, o.delivered_at, o.cancelled_at, o.cancel_reason, o.created_at, o.updated_at";

crate::domain::rows::by_position! {
/// An order as the API shows it.
#[derive(Debug, Clone)]
pub struct OrderRow {
    /// Id.
    pub id: Uuid,
    /// Branch (its store's).
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// The platform's order id.
    pub external_id: String,
    /// Normalized status.
    pub status: OrderStatus,
    /// The platform's status, verbatim.
    pub raw_status: String,
    /// The platform's update time of this version.
    pub marketplace_updated_at: DateTime<Utc>,
    /// Versions applied.
    pub version: i64,
    /// Buyer display name.
    pub buyer_name: Option<String>,
    /// Ship-to city.
    pub ship_city: Option<String>,
    /// ISO currency of the amounts.
    pub currency: String,
    /// Items subtotal (minor units).
    pub subtotal_minor: Option<i64>,
    /// Shipping fee.
    pub shipping_fee_minor: Option<i64>,
    /// Seller discount.
    pub seller_discount_minor: Option<i64>,
    /// Platform discount / voucher.
    pub platform_discount_minor: Option<i64>,
    /// Tax.
    pub tax_minor: Option<i64>,
    /// Total.
    pub total_minor: i64,
    /// Cash to collect on delivery.
    pub cod_amount_minor: Option<i64>,
    /// Payment method.
    pub payment_method: Option<String>,
    /// Cash on delivery.
    pub is_cod: bool,
    /// SELLER or MARKETPLACE.
    pub fulfilled_by: String,
    /// Placed.
    pub placed_at: DateTime<Utc>,
    /// Paid.
    pub paid_at: Option<DateTime<Utc>>,
    /// Ship-by deadline.
    pub ship_by: Option<DateTime<Utc>>,
    /// Shipped.
    pub shipped_at: Option<DateTime<Utc>>,
    /// Delivered.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Cancelled.
    pub cancelled_at: Option<DateTime<Utc>>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// First seen.
    pub created_at: DateTime<Utc>,
    /// Last change here.
    pub updated_at: DateTime<Utc>,
}
}

impl OrderRow {
    /// Still to hand over to the carrier and past its ship-by time.
    pub fn is_late(&self, now: DateTime<Utc>) -> bool {
        self.ship_by.is_some_and(|t| t < now)
            && matches!(
                self.status,
                OrderStatus::AwaitingFulfillment
                    | OrderStatus::ReadyToShip
                    | OrderStatus::OnHold
                    | OrderStatus::PartiallyShipped
            )
    }
}

crate::domain::rows::by_position! {
/// An order line.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderItemRow {
    /// Id.
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Position.
    pub line_no: i32,
    /// Platform item id.
    pub external_item_id: String,
    /// Platform SKU id.
    pub external_sku_id: String,
    /// Seller SKU.
    pub seller_sku: Option<String>,
    /// Name.
    pub name: String,
    /// Units.
    pub quantity: i32,
    /// Unit price (minor units of the order's currency).
    pub unit_price_minor: i64,
    /// Discount.
    pub discount_minor: i64,
    /// Listing it resolves to.
    pub listing_id: Option<Uuid>,
    /// Variant it resolves to.
    pub variant_id: Option<Uuid>,
    /// Where its stock stands.
    pub stock: LineStock,
}
}

impl crate::domain::products::Grouped for OrderItemRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::OrdersRead;
    const SQL: &'static str = "SELECT id, order_id, line_no, external_item_id, external_sku_id, seller_sku, name, \
         quantity, unit_price_minor, discount_minor, listing_id, variant_id, stock \
         FROM order_items WHERE order_id = ANY($1) ORDER BY order_id, line_no";
    fn parent(&self) -> Uuid {
        self.order_id
    }
}

/// One entry of an order's history.
#[derive(Debug, Clone, FromQueryResult, Serialize, Deserialize)]
pub struct OrderEventRow {
    /// Id.
    pub id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// Status before (none: the order was new).
    pub from_status: Option<OrderStatus>,
    /// Status after (or refused, when not applied).
    pub to_status: OrderStatus,
    /// The platform's status.
    pub raw_status: String,
    /// Where it came from.
    pub source: OrderEventSource,
    /// The platform's update time.
    pub marketplace_updated_at: DateTime<Utc>,
    /// false: stale, recorded and not applied.
    pub applied: bool,
    /// Recorded.
    pub created_at: DateTime<Utc>,
}

impl crate::domain::products::Grouped for OrderEventRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::OrdersRead;
    const SQL: &'static str = "SELECT id, order_id, from_status, to_status, raw_status, source, \
         marketplace_updated_at, applied, created_at FROM order_events WHERE order_id = ANY($1) \
         ORDER BY order_id, id";
    fn parent(&self) -> Uuid {
        self.order_id
    }
}

/// Requires `orders:read` (members of any role; tokens with the scope).
pub fn readable(c: &Ctx<'_>) -> AppResult<()> {
    c.access.org()?.require(Perm::OrdersRead)
}

/// How to order an order page.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum OrderSort {
    /// When placed (the default, newest first).
    #[default]
    PlacedAt,
    /// The platform's last update.
    UpdatedAt,
    /// Ship-by deadline (orders without one last).
    ShipBy,
}

impl OrderSort {
    fn column(self) -> &'static str {
        match self {
            Self::PlacedAt => "o.placed_at",
            Self::UpdatedAt => "o.marketplace_updated_at",
            Self::ShipBy => "coalesce(o.ship_by, 'infinity'::timestamptz)",
        }
    }

    fn key(self, r: &OrderRow) -> DateTime<Utc> {
        match self {
            Self::PlacedAt => r.placed_at,
            Self::UpdatedAt => r.marketplace_updated_at,
            Self::ShipBy => r.ship_by.unwrap_or(DateTime::<Utc>::MAX_UTC),
        }
    }
}

/// Where a page starts: the sort key and id of the last row of the previous page.
#[derive(Serialize, Deserialize)]
pub struct OrderCursor {
    k: DateTime<Utc>,
    id: Uuid,
}

impl OrderCursor {
    /// The opaque cursor after `r` in `sort` order.
    pub fn encode(sort: OrderSort, r: &OrderRow) -> String {
        use base64::Engine as _;
        let json = serde_json::to_vec(&Self {
            k: sort.key(r),
            id: r.id,
        })
        .unwrap_or_default();
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    }

    /// Reads a cursor given as `after` (VALIDATION_FAILED if it is not one).
    pub fn decode(c: &str) -> AppResult<Self> {
        use base64::Engine as _;
        base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(|| AppError::invalid("after", "invalid cursor"))
    }
}

/// Which orders.
#[derive(Debug, Clone, Default)]
pub struct OrderFilter {
    /// Only these stores.
    pub stores: Option<Vec<StoreId>>,
    /// Only these branches.
    pub branches: Option<Vec<BranchId>>,
    /// Only these statuses.
    pub statuses: Option<Vec<OrderStatus>>,
    /// Updated on the platform at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Placed at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Placed before.
    pub created_to: Option<DateTime<Utc>>,
    /// The platform's order id (exact, case-insensitive) or the buyer's name (contains).
    pub query: Option<String>,
}

/// The `WHERE` of `f` with its values (numbered from `$1`).
fn where_of(f: &OrderFilter) -> AppResult<(String, Vec<sea_orm::Value>)> {
    let mut sql = String::from("true");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let mut arg = |v: sea_orm::Value| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(s) = &f.stores {
        let ids: Vec<Uuid> = s.iter().map(|s| s.uuid()).collect();
        sql += &format!(" AND o.store_id = ANY({}::uuid[])", arg(ids.into()));
    }
    if let Some(b) = &f.branches {
        let ids: Vec<Uuid> = b.iter().map(|b| b.uuid()).collect();
        sql += &format!(" AND o.branch_id = ANY({}::uuid[])", arg(ids.into()));
    }
    if let Some(st) = &f.statuses {
        let names: Vec<String> = st.iter().map(sea_orm::ActiveEnum::to_value).collect();
        sql += &format!(" AND o.status = ANY({}::text[])", arg(names.into()));
    }
    if let Some(t) = f.updated_since {
        sql += &format!(" AND o.marketplace_updated_at >= {}", arg(t.into()));
    }
    if let Some(t) = f.created_from {
        sql += &format!(" AND o.placed_at >= {}", arg(t.into()));
    }
    if let Some(t) = f.created_to {
        sql += &format!(" AND o.placed_at < {}", arg(t.into()));
    }
    if let Some(q) = f.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        if q.chars().count() > 200 {
            return Err(AppError::invalid("filter.query", "at most 200 characters"));
        }
        let exact = arg(q.to_lowercase().into());
        let like = arg(format!("%{}%", like_escape(&q.to_lowercase())).into());
        sql += &format!(" AND (lower(o.external_id) = {exact} OR lower(o.buyer_name) LIKE {like})");
    }
    Ok((sql, values))
}

fn like_escape(q: &str) -> String {
    q.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Up to `first + 1` orders matching `f` in `sort` order (one more tells the caller there is a
/// next page), after `after`.
pub async fn list(
    c: &Ctx<'_>,
    f: &OrderFilter,
    sort: OrderSort,
    reverse: bool,
    first: u64,
    after: Option<&OrderCursor>,
) -> AppResult<Vec<OrderRow>> {
    readable(c)?;
    let (mut cond, mut values) = where_of(f)?;
    // Newest first unless reversed (ship-by: soonest first unless reversed).
    let desc = match sort {
        OrderSort::ShipBy => reverse,
        _ => !reverse,
    };
    let col = sort.column();
    if let Some(a) = after {
        values.push(a.k.into());
        values.push(a.id.into());
        let (k, id) = (values.len() - 1, values.len());
        let op = if desc { "<" } else { ">" };
        cond += &format!(" AND ({col}, o.id) {op} (${k}, ${id})");
    }
    // The limit is written into the statement (a checked number): as a parameter, a cached generic
    // plan cannot know the page is small and may sort the organization's orders instead of
    // walking the (time, id) index.
    let limit = first.min(crate::domain::page::MAX_PAGE_SIZE) + 1;
    let dir = if desc { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT {ORDER_COLUMNS} FROM orders o WHERE {cond} ORDER BY {col} {dir}, o.id {dir} LIMIT {limit}"
    );
    Ok(OrderRow::find_by_statement(stmt(&sql, values))
        .all(c.tx)
        .await?)
}

/// How many orders match `f`.
pub async fn count(c: &Ctx<'_>, f: &OrderFilter) -> AppResult<i64> {
    readable(c)?;
    let (cond, values) = where_of(f)?;
    let row =
        c.tx.query_one_raw(stmt(
            &format!("SELECT count(*) AS n FROM orders o WHERE {cond}"),
            values,
        ))
        .await?
        .ok_or_else(|| AppError::internal("count returned nothing"))?;
    Ok(row.try_get("", "n")?)
}

/// One order (NOT_FOUND unless visible).
pub async fn get(c: &Ctx<'_>, id: OrderId) -> AppResult<OrderRow> {
    readable(c)?;
    OrderRow::find_by_statement(stmt(
        &format!("SELECT {ORDER_COLUMNS} FROM orders o WHERE o.id = $1"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Order"))
}

/// Whether `store` is visible (its orders may be watched); NOT_FOUND otherwise.
pub async fn watchable_store(tx: &impl ConnectionTrait, store: StoreId) -> AppResult<BranchId> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT branch_id FROM stores WHERE id = $1",
            vec![store.uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound("Store"))?;
    Ok(BranchId(row.try_get("", "branch_id")?))
}
