//! Orders in GraphQL: every store's orders in one list (filter, sort, keyset pages with a total),
//! one order, its lines (variant and listing through DataLoaders), totals as `Money`, ship-by and
//! lateness, and its history. Needs `orders:read`.

use crate::auth::permissions::Perm;
use crate::domain::order_reads::{
    self as reads, OrderCursor, OrderEventRow, OrderFilter, OrderItemRow, OrderRow, OrderSort,
};
use crate::error::AppError;
use crate::graphql::catalog::Variant;
use crate::graphql::direct::{self, Env, list, scalar};
use crate::graphql::listings::Listing;
use crate::graphql::relay::{branch_gid, branch_id, store_gid, store_id};
use crate::graphql::scalars::Money;
use crate::graphql::stores::Store;
use crate::graphql::{rc, read};
use crate::ids::{OrderId, StoreId};
use async_graphql::connection::{Connection, Edge};
use async_graphql::parser::types::Field;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use async_graphql::{Positioned, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// One status across every platform (the platform's own is kept beside it).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OrderStatus")]
pub enum OrderStatus {
    /// Placed, not paid.
    PendingPayment,
    /// Held by the platform (risk review, pre-order).
    OnHold,
    /// Paid: to pack and ship.
    AwaitingFulfillment,
    /// Some lines shipped.
    PartiallyShipped,
    /// Packed, waiting for the carrier.
    ReadyToShip,
    /// With the carrier.
    Shipped,
    /// Delivered to the buyer.
    Delivered,
    /// Closed.
    Completed,
    /// The buyer asked to cancel.
    CancelRequested,
    /// Cancelled.
    Cancelled,
    /// On its way back.
    Returning,
    /// Returned.
    Returned,
    /// The carrier could not deliver.
    DeliveryFailed,
    /// A platform status Mercato does not know (kept verbatim in `marketplaceStatus`).
    Unknown,
}

/// Where an order update came from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::OrderEventSource")]
pub enum OrderEventSource {
    /// A sync pulled it.
    Pull,
    /// The marketplace pushed it.
    Push,
    /// A user changed it.
    User,
    /// A file import.
    Import,
}

/// Where an order line's stock stands.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::LineStock")]
pub enum LineStockState {
    /// Nothing held (unlinked, history, or fulfilled by the marketplace).
    None,
    /// Held by an ORDER_LINE reservation.
    Allocated,
    /// Placed, but not enough stock was available to hold it.
    Short,
    /// Shipped (the reservation was committed).
    Shipped,
    /// Cancelled before shipping (released).
    Released,
    /// Returned and back on hand.
    Returned,
}

/// How to sort orders.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum OrderSortKey {
    /// When placed (newest first; `reverse` for oldest first).
    #[default]
    PlacedAt,
    /// The platform's last update (newest first).
    UpdatedAt,
    /// Ship-by deadline (soonest first; orders without one last).
    ShipBy,
}

/// A time range.
#[derive(InputObject, Clone, Copy)]
pub struct TimeRange {
    /// From (inclusive).
    pub from: Option<DateTime<Utc>>,
    /// To (exclusive).
    pub to: Option<DateTime<Utc>>,
}

/// Which orders.
#[derive(InputObject, Default)]
pub struct OrderFilterInput {
    /// Only these stores.
    pub store_ids: Option<Vec<ID>>,
    /// Only these branches.
    pub branch_ids: Option<Vec<ID>>,
    /// Only these statuses.
    pub statuses: Option<Vec<OrderStatus>>,
    /// Updated on the platform at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Placed in this range.
    pub created_between: Option<TimeRange>,
    /// The platform's order id (exact) or the buyer's name (contains).
    pub query: Option<String>,
}

impl OrderFilterInput {
    fn into_filter(self) -> Result<OrderFilter, AppError> {
        let ids = |v: Option<Vec<ID>>, f: &dyn Fn(&ID) -> crate::error::AppResult<uuid::Uuid>| {
            v.map(|v| v.iter().map(f).collect::<Result<Vec<_>, _>>())
                .transpose()
        };
        let stores = ids(self.store_ids, &|i| {
            store_id(i)
                .map(StoreId::uuid)
                .map_err(|_| AppError::invalid("filter.storeIds", "is not a store id"))
        })?;
        let branches = ids(self.branch_ids, &|i| {
            branch_id(i)
                .map(|b| b.uuid())
                .map_err(|_| AppError::invalid("filter.branchIds", "is not a branch id"))
        })?;
        if stores.as_ref().is_some_and(|s| s.len() > 100)
            || branches.as_ref().is_some_and(|b| b.len() > 100)
        {
            return Err(AppError::invalid("filter", "at most 100 ids per list"));
        }
        Ok(OrderFilter {
            stores: stores.map(|v| v.into_iter().map(StoreId).collect()),
            branches: branches.map(|v| v.into_iter().map(crate::ids::BranchId).collect()),
            statuses: self
                .statuses
                .map(|v| v.into_iter().map(Into::into).collect()),
            updated_since: self.updated_since,
            created_from: self.created_between.and_then(|r| r.from),
            created_to: self.created_between.and_then(|r| r.to),
            query: self.query,
        })
    }
}

/// The amounts of an order, in its currency.
#[derive(SimpleObject)]
pub struct OrderTotals {
    /// Items before discounts.
    pub subtotal: Option<Money>,
    /// Shipping the buyer paid.
    pub shipping_fee: Option<Money>,
    /// Discount the seller funded.
    pub seller_discount: Option<Money>,
    /// Discount or voucher the platform funded.
    pub platform_discount: Option<Money>,
    /// Tax.
    pub tax: Option<Money>,
    /// What the buyer paid.
    pub total: Money,
    /// Cash to collect on delivery.
    pub cod_amount: Option<Money>,
}

/// An order from any channel.
#[derive(Clone)]
pub struct Order(pub OrderRow);

/// An order from any channel.
#[Object]
impl Order {
    /// Global id.
    pub async fn id(&self) -> ID {
        crate::graphql::relay::order_gid(OrderId(self.0.id))
    }
    /// The platform's order id.
    async fn external_id(&self) -> &str {
        &self.0.external_id
    }
    /// The store it came from.
    async fn store(&self, ctx: &Context<'_>) -> Result<Option<Store>> {
        Ok(rc(ctx)?
            .stores
            .load_one(StoreId(self.0.store_id))
            .await?
            .map(Store))
    }
    /// Its store's id.
    async fn store_id(&self) -> ID {
        store_gid(StoreId(self.0.store_id))
    }
    /// Its branch (the store's).
    async fn branch_id(&self) -> ID {
        branch_gid(crate::ids::BranchId(self.0.branch_id))
    }
    /// Status, one set across platforms.
    async fn status(&self) -> OrderStatus {
        self.0.status.into()
    }
    /// The platform's own status, verbatim.
    async fn marketplace_status(&self) -> &str {
        &self.0.raw_status
    }
    /// The platform's update time of the version shown (older versions are never applied).
    async fn marketplace_updated_at(&self) -> DateTime<Utc> {
        self.0.marketplace_updated_at
    }
    /// Buyer's display name (contact details are not stored).
    async fn buyer_name(&self) -> Option<&str> {
        self.0.buyer_name.as_deref()
    }
    /// Ship-to city.
    async fn ship_city(&self) -> Option<&str> {
        self.0.ship_city.as_deref()
    }
    /// ISO currency of every amount.
    async fn currency_code(&self) -> &str {
        &self.0.currency
    }
    /// Amounts.
    async fn totals(&self) -> OrderTotals {
        let r = &self.0;
        let m = |v: Option<i64>| v.map(|m| Money::new(m, &r.currency));
        OrderTotals {
            subtotal: m(r.subtotal_minor),
            shipping_fee: m(r.shipping_fee_minor),
            seller_discount: m(r.seller_discount_minor),
            platform_discount: m(r.platform_discount_minor),
            tax: m(r.tax_minor),
            total: Money::new(r.total_minor, &r.currency),
            cod_amount: m(r.cod_amount_minor),
        }
    }
    /// Payment method, when the platform says.
    async fn payment_method(&self) -> Option<&str> {
        self.0.payment_method.as_deref()
    }
    /// Cash on delivery.
    async fn is_cod(&self) -> bool {
        self.0.is_cod
    }
    /// SELLER or MARKETPLACE.
    async fn fulfilled_by(&self) -> FulfilledBy {
        if self.0.fulfilled_by == "MARKETPLACE" {
            FulfilledBy::Marketplace
        } else {
            FulfilledBy::Seller
        }
    }
    /// Placed.
    async fn placed_at(&self) -> DateTime<Utc> {
        self.0.placed_at
    }
    /// Paid.
    async fn paid_at(&self) -> Option<DateTime<Utc>> {
        self.0.paid_at
    }
    /// Hand over to the carrier by.
    async fn ship_by(&self) -> Option<DateTime<Utc>> {
        self.0.ship_by
    }
    /// Still to ship and past its ship-by time.
    async fn is_late(&self) -> bool {
        self.0.is_late(Utc::now())
    }
    /// Shipped.
    async fn shipped_at(&self) -> Option<DateTime<Utc>> {
        self.0.shipped_at
    }
    /// Delivered.
    async fn delivered_at(&self) -> Option<DateTime<Utc>> {
        self.0.delivered_at
    }
    /// Cancelled.
    async fn cancelled_at(&self) -> Option<DateTime<Utc>> {
        self.0.cancelled_at
    }
    /// Why it was cancelled.
    async fn cancel_reason(&self) -> Option<&str> {
        self.0.cancel_reason.as_deref()
    }
    /// Lines whose SKU matches no variant yet (they hold no stock until linked). Counted from
    /// the lines, which load with the page's other orders' lines in one statement.
    async fn unlinked_lines(&self, ctx: &Context<'_>) -> Result<i64> {
        let items = rc(ctx)?.order_items.load_one(OrderId(self.0.id)).await?;
        let n = items
            .unwrap_or_default()
            .iter()
            .filter(|i| i.variant_id.is_none())
            .count();
        Ok(i64::try_from(n).unwrap_or(i64::MAX))
    }
    /// Versions applied.
    async fn version(&self) -> i64 {
        self.0.version
    }
    /// Lines.
    async fn items(&self, ctx: &Context<'_>) -> Result<Vec<OrderItem>> {
        let items = rc(ctx)?.order_items.load_one(OrderId(self.0.id)).await?;
        let currency = self.0.currency.clone();
        Ok(items
            .unwrap_or_default()
            .into_iter()
            .map(|r| OrderItem(r, currency.clone()))
            .collect())
    }
    /// History, oldest first (refused stale updates included, with `applied: false`).
    async fn events(&self, ctx: &Context<'_>) -> Result<Vec<OrderEvent>> {
        let events = rc(ctx)?.order_events.load_one(OrderId(self.0.id)).await?;
        Ok(events
            .unwrap_or_default()
            .into_iter()
            .map(OrderEvent)
            .collect())
    }
}

/// An order line.
#[derive(Clone)]
pub struct OrderItem(pub OrderItemRow, String);

/// An order line.
#[Object]
impl OrderItem {
    /// Position in the order.
    async fn line_no(&self) -> i32 {
        self.0.line_no
    }
    /// Platform item id.
    async fn external_item_id(&self) -> &str {
        &self.0.external_item_id
    }
    /// Platform SKU id.
    async fn external_sku_id(&self) -> &str {
        &self.0.external_sku_id
    }
    /// Seller SKU.
    async fn seller_sku(&self) -> Option<&str> {
        self.0.seller_sku.as_deref()
    }
    /// Name on the platform.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Units.
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Unit price.
    async fn unit_price(&self) -> Money {
        Money::new(self.0.unit_price_minor, &self.1)
    }
    /// Discount on the line.
    async fn discount(&self) -> Money {
        Money::new(self.0.discount_minor, &self.1)
    }
    /// Where its stock stands.
    async fn stock_state(&self) -> LineStockState {
        self.0.stock.into()
    }
    /// Linked to a catalog variant.
    async fn linked(&self) -> bool {
        self.0.variant_id.is_some()
    }
    /// The catalog variant (null when unlinked, or without catalog read access).
    async fn variant(&self, ctx: &Context<'_>) -> Result<Option<Variant>> {
        let Some(v) = self.0.variant_id else {
            return Ok(None);
        };
        if !allows(ctx, Perm::CatalogRead).await? {
            return Ok(None);
        }
        Ok(rc(ctx)?.variants_by_id.load_one(v).await?.map(Variant))
    }
    /// The listing (null when none, or without store read access).
    async fn listing(&self, ctx: &Context<'_>) -> Result<Option<Listing>> {
        let Some(l) = self.0.listing_id else {
            return Ok(None);
        };
        if !allows(ctx, Perm::StoresRead).await? {
            return Ok(None);
        }
        Ok(rc(ctx)?.listings_by_id.load_one(l).await?.map(Listing))
    }
}

async fn allows(ctx: &Context<'_>, perm: Perm) -> Result<bool> {
    read(ctx, async |c| Ok(c.access.org()?.allows(perm))).await
}

/// One change of an order's status.
#[derive(Clone)]
pub struct OrderEvent(pub OrderEventRow);

/// One change of an order's status.
#[Object]
impl OrderEvent {
    /// Status before (null: the order was new).
    async fn from_status(&self) -> Option<OrderStatus> {
        self.0.from_status.map(Into::into)
    }
    /// Status after (or the refused one, when `applied` is false).
    async fn to_status(&self) -> OrderStatus {
        self.0.to_status.into()
    }
    /// The platform's status.
    async fn marketplace_status(&self) -> &str {
        &self.0.raw_status
    }
    /// Where it came from.
    async fn source(&self) -> OrderEventSource {
        self.0.source.into()
    }
    /// The platform's update time.
    async fn marketplace_updated_at(&self) -> DateTime<Utc> {
        self.0.marketplace_updated_at
    }
    /// false: older than the stored version, recorded and not applied.
    async fn applied(&self) -> bool {
        self.0.applied
    }
    /// Recorded.
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// Extra fields of an order page.
pub struct OrderPageInfo {
    filter: OrderFilter,
}

#[Object]
impl OrderPageInfo {
    /// Orders matching the filter (all pages).
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        read(ctx, async |c| reads::count(&c, &self.filter).await).await
    }
}

/// Who ships an order.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum FulfilledBy {
    /// The seller, from its own stock (Mercato reserves and ships it).
    Seller,
    /// The marketplace, from its own warehouse (no stock of the seller's moves).
    Marketplace,
}

type OrderConn = Connection<String, Order, OrderPageInfo>;

/// What [`prefetch`] loaded below a page of orders, each `None` when it was not selected or its
/// load failed (the field's own resolver then meets the failure again).
#[derive(Default)]
pub struct Loaded {
    items: Option<HashMap<OrderId, Vec<OrderItemRow>>>,
    stores: Option<HashMap<StoreId, entity::stores::Model>>,
}

/// Loads the lines and stores of a whole page when they are selected, one statement each (the
/// loaders keep them, so the executor's resolvers find them too).
async fn prefetch(ctx: &Context<'_>, conn: &OrderConn) -> Loaded {
    let mut out = Loaded::default();
    let look = ctx.look_ahead();
    let (edges, nodes) = (look.field("edges").field("node"), look.field("nodes"));
    let selected = |name: &str| edges.field(name).exists() || nodes.field(name).exists();
    let Ok(rc) = rc(ctx) else { return out };
    if conn.edges.is_empty() {
        return out;
    }
    if selected("items") || selected("unlinkedLines") {
        let ids: Vec<OrderId> = conn.edges.iter().map(|e| OrderId(e.node.0.id)).collect();
        out.items = direct::fetch(&rc.order_items, &ids).await;
    }
    if selected("store") {
        let mut ids: Vec<StoreId> = conn
            .edges
            .iter()
            .map(|e| StoreId(e.node.0.store_id))
            .collect();
        ids.sort_unstable_by_key(|s| s.0);
        ids.dedup();
        out.stores = direct::fetch(&rc.stores, &ids).await;
    }
    out
}

/// A page of `orders`: rendered straight from its rows when the selection allows it (see
/// [`crate::graphql::direct`]), else by the executor as an `OrderConnection`.
pub type OrderPage = direct::Page<OrderConn, Loaded>;

impl direct::Rows<OrderConn> for Loaded {
    const PAGE: &'static str = "orders";

    fn render(&self, env: Env<'_>, conn: &OrderConn) -> Option<Value> {
        let now = Utc::now();
        direct::connection(env, conn, |f, n| self.order(env, f, &n.0, now))
    }

    async fn feed(&self, rc: &crate::graphql::RequestCtx) {
        direct::feed(&rc.order_items, self.items.as_ref()).await;
        direct::feed(&rc.stores, self.stores.as_ref()).await;
    }
}

impl Loaded {
    fn order<'a>(
        &self,
        env: Env<'a>,
        field: &'a Positioned<Field>,
        o: &OrderRow,
        now: DateTime<Utc>,
    ) -> Option<Value> {
        let text = |s: &str| Value::String(s.to_owned());
        let opt_text = |s: &Option<String>| s.as_deref().map_or(Value::Null, text);
        let time = |t: &Option<DateTime<Utc>>| t.as_ref().map_or(Value::Null, scalar);
        env.object::<Order>(&field.node.selection_set.node, |f| {
            Some(match f.node.name.node.as_str() {
                "id" => scalar(&crate::graphql::relay::order_gid(OrderId(o.id))),
                "externalId" => text(&o.external_id),
                "store" => {
                    let stores = self.stores.as_ref()?;
                    match stores.get(&StoreId(o.store_id)) {
                        Some(s) => Store(s.clone()).render(env, f)?,
                        None => Value::Null,
                    }
                }
                "storeId" => scalar(&store_gid(StoreId(o.store_id))),
                "branchId" => scalar(&branch_gid(crate::ids::BranchId(o.branch_id))),
                "status" => enum_value(OrderStatus::from(o.status)),
                "marketplaceStatus" => text(&o.raw_status),
                "marketplaceUpdatedAt" => scalar(&o.marketplace_updated_at),
                "buyerName" => opt_text(&o.buyer_name),
                "shipCity" => opt_text(&o.ship_city),
                "currencyCode" => text(&o.currency),
                "totals" => totals(env, f, o)?,
                "paymentMethod" => opt_text(&o.payment_method),
                "isCod" => Value::Boolean(o.is_cod),
                "fulfilledBy" => enum_value(if o.fulfilled_by == "MARKETPLACE" {
                    FulfilledBy::Marketplace
                } else {
                    FulfilledBy::Seller
                }),
                "placedAt" => scalar(&o.placed_at),
                "paidAt" => time(&o.paid_at),
                "shipBy" => time(&o.ship_by),
                "isLate" => Value::Boolean(o.is_late(now)),
                "shippedAt" => time(&o.shipped_at),
                "deliveredAt" => time(&o.delivered_at),
                "cancelledAt" => time(&o.cancelled_at),
                "cancelReason" => opt_text(&o.cancel_reason),
                "version" => scalar(&o.version),
                "unlinkedLines" => {
                    let items = self.items.as_ref()?.get(&OrderId(o.id));
                    let n =
                        items.map_or(0, |v| v.iter().filter(|i| i.variant_id.is_none()).count());
                    scalar(&i64::try_from(n).unwrap_or(i64::MAX))
                }
                "items" => {
                    let items = self.items.as_ref()?.get(&OrderId(o.id));
                    list(
                        items
                            .into_iter()
                            .flatten()
                            .map(|i| item(env, f, i, &o.currency)),
                    )?
                }
                _ => return None,
            })
        })
    }
}

/// An order's `totals`, as [`Order::totals`] resolves them.
fn totals<'a>(env: Env<'a>, field: &'a Positioned<Field>, o: &OrderRow) -> Option<Value> {
    let m = |f: &'a Positioned<Field>, v: Option<i64>| match v {
        Some(minor) => direct::money(env, f, minor, &o.currency),
        None => Some(Value::Null),
    };
    env.object::<OrderTotals>(&field.node.selection_set.node, |f| {
        match f.node.name.node.as_str() {
            "subtotal" => m(f, o.subtotal_minor),
            "shippingFee" => m(f, o.shipping_fee_minor),
            "sellerDiscount" => m(f, o.seller_discount_minor),
            "platformDiscount" => m(f, o.platform_discount_minor),
            "tax" => m(f, o.tax_minor),
            "total" => m(f, Some(o.total_minor)),
            "codAmount" => m(f, o.cod_amount_minor),
            _ => None,
        }
    })
}

/// An order line, as [`OrderItem`] resolves it (its variant and listing go to the executor).
fn item<'a>(
    env: Env<'a>,
    field: &'a Positioned<Field>,
    i: &OrderItemRow,
    currency: &str,
) -> Option<Value> {
    env.object::<OrderItem>(&field.node.selection_set.node, |f| {
        Some(match f.node.name.node.as_str() {
            "lineNo" => scalar(&i.line_no),
            "externalItemId" => Value::String(i.external_item_id.clone()),
            "externalSkuId" => Value::String(i.external_sku_id.clone()),
            "sellerSku" => i.seller_sku.clone().map_or(Value::Null, Value::String),
            "name" => Value::String(i.name.clone()),
            "quantity" => scalar(&i.quantity),
            "unitPrice" => direct::money(env, f, i.unit_price_minor, currency)?,
            "discount" => direct::money(env, f, i.discount_minor, currency)?,
            "stockState" => enum_value(LineStockState::from(i.stock)),
            "linked" => Value::Boolean(i.variant_id.is_some()),
            _ => return None,
        })
    })
}

/// Order queries.
#[derive(Default)]
pub struct OrderQuery;

#[Object]
impl OrderQuery {
    /// Every store's orders: filter by store, branch, status, update time, placing time or a
    /// search (platform order id or buyer), sort, and page forwards (`first` ≤ 100, `after`).
    /// Lines, stores, variants and listings of a page load in one statement each.
    async fn orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Which items (all when absent).")] filter: Option<OrderFilterInput>,
        #[graphql(desc = "Sort order.")] sort_key: Option<OrderSortKey>,
        #[graphql(desc = "Reverse the sort order.")] reverse: Option<bool>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
    ) -> Result<OrderPage> {
        let first = crate::domain::page::page_size("first", first.unwrap_or(20))?;
        let sort = match sort_key.unwrap_or_default() {
            OrderSortKey::PlacedAt => OrderSort::PlacedAt,
            OrderSortKey::UpdatedAt => OrderSort::UpdatedAt,
            OrderSortKey::ShipBy => OrderSort::ShipBy,
        };
        let filter = filter.unwrap_or_default().into_filter()?;
        let after = after.as_deref().map(OrderCursor::decode).transpose()?;
        let reverse = reverse.unwrap_or(false);
        let rows = read(ctx, async |c| {
            reads::list(&c, &filter, sort, reverse, first, after.as_ref()).await
        })
        .await?;
        let take = usize::try_from(first).unwrap_or(100);
        let mut conn = Connection::with_additional_fields(
            after.is_some(),
            rows.len() > take,
            OrderPageInfo { filter },
        );
        conn.edges.extend(
            rows.into_iter()
                .take(take)
                .map(|r| Edge::new(OrderCursor::encode(sort, &r), Order(r))),
        );
        let rows = prefetch(ctx, &conn).await;
        Ok(direct::Page { conn, rows })
    }

    /// One order (null when it does not exist or is not visible).
    async fn order(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> Result<Option<Order>> {
        read(ctx, async |c| {
            reads::readable(&c)?;
            let Ok(oid) = crate::graphql::relay::order_id(&id) else {
                return Ok(None);
            };
            match reads::get(&c, oid).await {
                Ok(r) => Ok(Some(Order(r))),
                Err(AppError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// Input of `importMarketplaceOrders`.
#[derive(InputObject)]
pub struct ImportMarketplaceOrdersInput {
    /// A file-only store (Kilimall, own storefront).
    pub store_id: ID,
    /// The seller-center order export (GraphQL multipart upload; UTF-8 CSV, one row per order
    /// line, header first). Columns (matched case-insensitively): Order No, Order Status,
    /// Order Time (`YYYY-MM-DD HH:MM:SS`, Nairobi time), Seller SKU, Product Name, Quantity,
    /// Unit Price, Shipping Fee, Customer Name, City. Amounts are in the store's currency.
    pub file: async_graphql::Upload,
    /// Retrying with the same key returns the job the first call queued.
    pub idempotency_key: Option<String>,
}

/// Order mutations.
#[derive(Default)]
pub struct OrderMutation;

#[Object]
impl OrderMutation {
    /// Queues an import of a file-only store's order export and returns at once; watch it with
    /// `syncRunUpdated(id)`. Orders go through the same upsert, state machine and stock rules as
    /// synced ones; a row that cannot be read becomes a FAILED item (`line N` and the reason) and
    /// its whole order is left out. The file as a whole (size, UTF-8, columns) and the store
    /// (file-only, `orders:write` on its branch) are checked now: then nothing is queued.
    async fn import_marketplace_orders(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ImportMarketplaceOrdersInput,
    ) -> Result<Option<crate::graphql::sync::JobPayload>> {
        crate::graphql::some(async {
            let file = input
                .file
                .value(ctx)
                .map_err(|e| AppError::invalid("input.file", format!("unreadable upload: {e}")));
            let key = input.idempotency_key;
            let (q, errs) = crate::graphql::mutate(ctx, async |c| {
                let store = store_id(&input.store_id)
                    .map_err(|_| AppError::invalid("input.storeId", "store not found"))?;
                let bytes = file?.content.to_vec();
                crate::domain::order_import::start(&c, store, bytes, key).await
            })
            .await?;
            Ok(crate::graphql::sync::queued_payload(q, errs))
        })
        .await
    }
}
