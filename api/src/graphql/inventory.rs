//! Catalog and stock in GraphQL: products and variants with prices, bundles, locations, stock
//! levels, idempotent adjustments, transfers, reservations and stock history.

use crate::domain::catalog::{self, CreateProduct, PriceInput, VariantInput, format_money};
use crate::domain::inventory::{
    self, AdjustStock, Cause, Level, MovementKind, Reserve, TransferStock,
};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::graphql::loaders::VariantRow;
use crate::graphql::relay::{
    branch_id, location_gid, location_id, product_gid, product_id, reservation_gid, reservation_id,
    variant_gid, variant_id,
};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc, read};
use crate::ids::{LocationId, ProductId, ReservationId, VariantId};
use async_graphql::connection::{Connection, Edge};
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use sea_orm::FromQueryResult;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An amount of money, exact in the currency's minor units.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// Decimal string with the currency's decimals (KWD `1.250`, IDR `15000`, USD `12.50`).
    pub amount: String,
    /// ISO 4217 code.
    pub currency_code: String,
}

impl Money {
    fn new(minor: i64, currency: &str) -> Self {
        Self {
            amount: format_money(minor, currency),
            currency_code: currency.to_owned(),
        }
    }
}

/// A product row.
#[derive(Clone, Debug, FromQueryResult)]
pub struct ProductRow {
    id: Uuid,
    name: String,
    status: String,
    description: String,
    image_urls: Vec<String>,
    attributes: serde_json::Value,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// A product of the master catalog.
#[derive(Clone, Debug)]
pub struct Product(pub ProductRow);

#[Object]
impl Product {
    /// Global id.
    async fn id(&self) -> ID {
        product_gid(ProductId(self.0.id))
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// DRAFT, ACTIVE or ARCHIVED.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// Description.
    async fn description(&self) -> &str {
        &self.0.description
    }
    /// Image URLs, in display order.
    async fn image_urls(&self) -> &[String] {
        &self.0.image_urls
    }
    /// Attributes as a JSON object (brand, material…).
    async fn attributes(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.attributes.clone())
    }
    /// Created.
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    /// Last changed.
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// Variants (batched: one statement for every product of a page).
    async fn variants(&self, ctx: &Context<'_>) -> Result<Vec<Variant>> {
        let rows = rc(ctx)?
            .variants
            .load_one(ProductId(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(Variant).collect())
    }
}

/// A sellable SKU.
#[derive(Clone, Debug)]
pub struct Variant(pub VariantRow);

#[Object]
impl Variant {
    /// Global id.
    async fn id(&self) -> ID {
        variant_gid(VariantId(self.0.id))
    }
    /// SKU, unique in the organization.
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// A bundle of other variants (its stock is derived from them).
    async fn is_bundle(&self) -> bool {
        self.0.is_bundle
    }
    /// Attributes as a JSON object (colour, size…).
    async fn attributes(&self) -> async_graphql::Json<serde_json::Value> {
        async_graphql::Json(self.0.attributes.clone())
    }
    /// Prices, one per currency (batched).
    async fn prices(&self, ctx: &Context<'_>) -> Result<Vec<Money>> {
        let rows = rc(ctx)?
            .prices
            .load_one(VariantId(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows
            .iter()
            .map(|p| Money::new(p.amount_minor, &p.currency))
            .collect())
    }
    /// Cost history, newest first (the first row per currency is the current cost).
    async fn costs(&self, ctx: &Context<'_>) -> Result<Vec<Cost>> {
        let id = self.0.id;
        read(ctx, async |c| {
            Ok(CostRow::find_by_statement(stmt(
                "SELECT currency, amount_minor, source, note, created_at FROM variant_costs \
                 WHERE variant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 100",
                vec![id.into()],
            ))
            .all(c.tx)
            .await?
            .into_iter()
            .map(|r| Cost {
                cost: Money::new(r.amount_minor, &r.currency),
                source: r.source,
                note: r.note,
                created_at: r.created_at,
            })
            .collect())
        })
        .await
    }
    /// Stock at each location of the caller's visible branches (batched).
    async fn stock_levels(&self, ctx: &Context<'_>) -> Result<Vec<StockLevel>> {
        let rows = rc(ctx)?
            .levels
            .load_one(VariantId(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows.into_iter().map(StockLevel::from).collect())
    }
}

#[derive(FromQueryResult)]
struct CostRow {
    currency: String,
    amount_minor: i64,
    source: String,
    note: String,
    created_at: DateTime<Utc>,
}

/// A recorded unit cost.
#[derive(SimpleObject, Clone, Debug)]
pub struct Cost {
    /// The cost.
    pub cost: Money,
    /// MANUAL or LEARNED.
    pub source: String,
    /// Note.
    pub note: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// Input of `setVariantCost`.
#[derive(InputObject)]
pub struct SetVariantCostInput {
    /// Variant.
    pub variant_id: ID,
    /// Unit cost.
    pub cost: MoneyInput,
    /// Note (supplier, invoice…).
    #[graphql(default)]
    pub note: String,
}

/// Where stock is kept.
#[derive(SimpleObject, Clone, Debug)]
pub struct Location {
    /// Global id.
    pub id: ID,
    /// Name.
    pub name: String,
    /// WAREHOUSE, THIRD_PARTY or MARKETPLACE.
    pub kind: String,
}

/// Stock of one variant at one location.
#[derive(SimpleObject, Clone, Debug)]
pub struct StockLevel {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Physically there.
    pub on_hand: i64,
    /// Promised to orders, carts, promotions.
    pub reserved: i64,
    /// Kept back from sale.
    pub safety_stock: i64,
    /// Alert at or below this.
    pub reorder_point: Option<i64>,
    /// on hand − reserved − safety stock.
    pub available: i64,
}

impl From<Level> for StockLevel {
    fn from(l: Level) -> Self {
        Self {
            available: l.available(),
            variant_id: variant_gid(VariantId(l.variant_id)),
            location_id: location_gid(LocationId(l.location_id)),
            on_hand: l.on_hand,
            reserved: l.reserved,
            safety_stock: l.safety_stock,
            reorder_point: l.reorder_point,
        }
    }
}

/// A reservation.
#[derive(SimpleObject, Clone, Debug)]
pub struct Reservation {
    /// Global id.
    pub id: ID,
    /// Variant (a bundle's reservation holds its components).
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Units.
    pub quantity: i64,
    /// ACTIVE, RELEASED, COMMITTED or EXPIRED.
    pub status: String,
    /// When it lapses.
    pub expires_at: Option<DateTime<Utc>>,
}

impl From<inventory::Reservation> for Reservation {
    fn from(r: inventory::Reservation) -> Self {
        Self {
            id: reservation_gid(r.id),
            variant_id: variant_gid(r.variant_id),
            location_id: location_gid(r.location_id),
            quantity: r.quantity,
            status: r.status,
            expires_at: r.expires_at,
        }
    }
}

/// One ledger row.
#[derive(SimpleObject, Clone, Debug, FromQueryResult)]
pub struct StockMovement {
    /// Kind.
    pub kind: String,
    /// Change of on hand.
    pub on_hand_delta: i64,
    /// Change of reserved.
    pub reserved_delta: i64,
    /// On hand after.
    pub on_hand_after: i64,
    /// Reserved after.
    pub reserved_after: i64,
    /// Why.
    pub reason: String,
    /// Document type.
    pub document_type: Option<String>,
    /// Document id.
    pub document_id: Option<String>,
    /// When.
    pub created_at: DateTime<Utc>,
}

/// Kinds of stock change a person or partner makes directly.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum StockChangeKind {
    /// Goods received (quantity > 0).
    Receive,
    /// Correction (quantity ≠ 0, signed).
    Adjust,
    /// Physical count (quantity = counted on hand).
    Count,
}

/// What a reservation is for.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ReservationReference {
    /// An order line.
    OrderLine,
    /// A cart.
    Cart,
    /// A promotion.
    Promotion,
}

/// A price.
#[derive(InputObject)]
pub struct MoneyInput {
    /// Decimal text.
    pub amount: String,
    /// ISO 4217.
    pub currency_code: String,
}

/// A variant to create.
#[derive(InputObject)]
pub struct VariantInputGql {
    /// SKU.
    pub sku: String,
    /// Name.
    #[graphql(default)]
    pub name: String,
    /// Prices.
    #[graphql(default)]
    pub prices: Vec<MoneyInput>,
    /// Attributes as a JSON object (colour, size…).
    pub attributes: Option<async_graphql::Json<serde_json::Map<String, serde_json::Value>>>,
}

/// Input of `createProduct`.
#[derive(InputObject)]
pub struct CreateProductInput {
    /// Name.
    pub name: String,
    /// DRAFT (default), ACTIVE or ARCHIVED.
    #[graphql(default_with = "String::from(\"DRAFT\")")]
    pub status: String,
    /// Description.
    #[graphql(default)]
    pub description: String,
    /// Image URLs (http or https, at most 20).
    #[graphql(default)]
    pub image_urls: Vec<String>,
    /// Attributes as a JSON object (brand, material…).
    pub attributes: Option<async_graphql::Json<serde_json::Map<String, serde_json::Value>>>,
    /// Variants.
    pub variants: Vec<VariantInputGql>,
}

/// A bundle component.
#[derive(InputObject)]
pub struct BundleComponentInput {
    /// Component variant.
    pub variant_id: ID,
    /// Units per bundle.
    pub quantity: i32,
}

/// Input of `createBundle`.
#[derive(InputObject)]
pub struct CreateBundleInput {
    /// Product the bundle variant belongs to.
    pub product_id: ID,
    /// The bundle's SKU, name and prices.
    pub variant: VariantInputGql,
    /// Its components.
    pub components: Vec<BundleComponentInput>,
}

/// Input of `createLocation`.
#[derive(InputObject)]
pub struct CreateLocationInput {
    /// Branch.
    pub branch_id: ID,
    /// Name.
    pub name: String,
    /// WAREHOUSE or THIRD_PARTY.
    pub kind: String,
}

/// Input of `setStockThresholds`.
#[derive(InputObject)]
pub struct SetStockThresholdsInput {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Kept back from sale.
    #[graphql(default)]
    pub safety_stock: i64,
    /// Alert at or below this available quantity.
    pub reorder_point: Option<i64>,
}

/// Input of `adjustStock`.
#[derive(InputObject)]
pub struct AdjustStockInput {
    /// Variant.
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// RECEIVE, ADJUST or COUNT.
    pub kind: StockChangeKind,
    /// Delta (RECEIVE, ADJUST) or counted on hand (COUNT).
    pub quantity: i64,
    /// Refuse unless on hand is exactly this now.
    pub expected_on_hand: Option<i64>,
    /// Why.
    #[graphql(default)]
    pub reason: String,
    /// A retry with the same key has one effect and returns the first result.
    pub idempotency_key: Option<String>,
}

/// Input of `transferStock`.
#[derive(InputObject)]
pub struct TransferStockInput {
    /// Variant.
    pub variant_id: ID,
    /// From.
    pub from_location_id: ID,
    /// To.
    pub to_location_id: ID,
    /// Units.
    pub quantity: i64,
    /// Refuse unless the source's on hand is exactly this now.
    pub expected_on_hand: Option<i64>,
    /// Why.
    #[graphql(default)]
    pub reason: String,
    /// Idempotency key.
    pub idempotency_key: Option<String>,
}

/// Input of `reserveStock`.
#[derive(InputObject)]
pub struct ReserveStockInput {
    /// Variant (a bundle reserves its components).
    pub variant_id: ID,
    /// Location.
    pub location_id: ID,
    /// Units.
    pub quantity: i64,
    /// What it is for.
    pub reference_type: ReservationReference,
    /// The order line, cart or promotion id.
    pub reference_id: String,
    /// Lapses at this time.
    pub expires_at: Option<DateTime<Utc>>,
}

/// Result of `createProduct`.
#[derive(SimpleObject)]
pub struct ProductPayload {
    /// The product.
    pub product: Option<Product>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of `createBundle`.
#[derive(SimpleObject)]
pub struct VariantPayload {
    /// The variant.
    pub variant: Option<Variant>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of `createLocation`.
#[derive(SimpleObject)]
pub struct LocationPayload {
    /// The location.
    pub location: Option<Location>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of stock changes.
#[derive(SimpleObject)]
pub struct StockLevelPayload {
    /// The level after the change.
    pub stock_level: Option<StockLevel>,
    /// Expected failures (INSUFFICIENT_STOCK, CONFLICT, …).
    pub user_errors: Vec<UserError>,
}

/// Result of `transferStock`.
#[derive(SimpleObject)]
pub struct TransferPayload {
    /// The source after the transfer.
    pub from: Option<StockLevel>,
    /// The destination after the transfer.
    pub to: Option<StockLevel>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Result of reservation changes.
#[derive(SimpleObject)]
pub struct ReservationPayload {
    /// The reservation.
    pub reservation: Option<Reservation>,
    /// Expected failures (INSUFFICIENT_STOCK, …).
    pub user_errors: Vec<UserError>,
}

/// A product by id.
async fn load_product(c: &Ctx<'_>, id: ProductId) -> AppResult<Product> {
    ProductRow::find_by_statement(stmt(
        "SELECT id, name, status, description, image_urls, attributes, created_at, updated_at FROM products WHERE id = $1",
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .map(Product)
    .ok_or(AppError::NotFound("Product"))
}

fn variant_input(v: VariantInputGql) -> VariantInput {
    VariantInput {
        sku: v.sku,
        name: v.name,
        attributes: v.attributes.map(|j| j.0).unwrap_or_default(),
        prices: v
            .prices
            .into_iter()
            .map(|p| PriceInput {
                amount: p.amount,
                currency: p.currency_code,
            })
            .collect(),
    }
}

pub(crate) fn field_id<T>(field: &str, r: AppResult<T>) -> AppResult<T> {
    r.map_err(|e| match e {
        AppError::NotFound(what) => AppError::NotFound(what),
        _ => AppError::invalid(field, "is not a valid id"),
    })
}

/// The available quantity of a variant at a location; for a bundle, the least of its components'
/// available ÷ quantity per bundle.
async fn derived_level(c: &Ctx<'_>, v: VariantId, l: LocationId) -> AppResult<StockLevel> {
    if inventory::variant(c, v).await? {
        #[derive(FromQueryResult)]
        struct A {
            available: Option<i64>,
        }
        let a = A::find_by_statement(stmt(
            "SELECT min(COALESCE(GREATEST(il.on_hand - il.reserved - il.safety_stock, 0), 0) / bc.quantity)::bigint AS available \
             FROM bundle_components bc LEFT JOIN inventory_levels il \
               ON il.org_id = bc.org_id AND il.variant_id = bc.component_id AND il.location_id = $2 \
             WHERE bc.bundle_id = $1",
            vec![v.uuid().into(), l.uuid().into()],
        ))
        .one(c.tx)
        .await?;
        inventory::location(c, l).await?;
        let available = a.and_then(|a| a.available).unwrap_or(0);
        return Ok(StockLevel {
            variant_id: variant_gid(v),
            location_id: location_gid(l),
            on_hand: available,
            reserved: 0,
            safety_stock: 0,
            reorder_point: None,
            available,
        });
    }
    match inventory::level(c, v, l).await {
        Ok(level) => Ok(level.into()),
        Err(AppError::NotFound(_)) => {
            inventory::location(c, l).await?;
            Ok(StockLevel {
                variant_id: variant_gid(v),
                location_id: location_gid(l),
                on_hand: 0,
                reserved: 0,
                safety_stock: 0,
                reorder_point: None,
                available: 0,
            })
        }
        Err(e) => Err(e),
    }
}

/// How to order `products`.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ProductSortKey {
    /// Creation order (the default).
    #[default]
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Name, case-insensitive.
    Name,
}

/// Catalog lifecycle filter.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum ProductStatus {
    /// Being prepared.
    Draft,
    /// On sale.
    Active,
    /// Kept for history.
    Archived,
}

#[derive(Serialize, Deserialize)]
struct ProductCursor {
    k: String,
    id: Uuid,
}

fn encode_product_cursor(key: ProductSortKey, p: &ProductRow) -> String {
    use base64::Engine as _;
    let k = match key {
        ProductSortKey::CreatedAt => String::new(),
        ProductSortKey::UpdatedAt => p
            .updated_at
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        ProductSortKey::Name => p.name.to_lowercase(),
    };
    let json = serde_json::to_vec(&ProductCursor { k, id: p.id }).unwrap_or_default();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

fn decode_product_cursor(c: &str) -> AppResult<ProductCursor> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(c)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .ok_or_else(|| AppError::invalid("after", "invalid cursor"))
}

fn like_escape(q: &str) -> String {
    q.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// Filters of `products`.
struct ProductFilter {
    query: Option<String>,
    status: Option<ProductStatus>,
    updated_since: Option<DateTime<Utc>>,
    sort_key: ProductSortKey,
    reverse: bool,
    first: u64,
    after: Option<ProductCursor>,
}

async fn list_products(c: &Ctx<'_>, f: &ProductFilter) -> AppResult<Vec<ProductRow>> {
    let mut sql = String::from(
        "SELECT p.id, p.name, p.status, p.description, p.image_urls, p.attributes, p.created_at, p.updated_at FROM products p WHERE true",
    );
    let mut values: Vec<sea_orm::Value> = Vec::new();
    let arg = |v: sea_orm::Value, values: &mut Vec<sea_orm::Value>| {
        values.push(v);
        format!("${}", values.len())
    };
    if let Some(q) = f.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let contains = arg(format!("%{}%", like_escape(q)).into(), &mut values);
        let prefix = arg(format!("{}%", like_escape(q)).into(), &mut values);
        sql.push_str(&format!(
            " AND (p.name ILIKE {contains} OR EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.sku ILIKE {prefix}))"
        ));
    }
    if let Some(st) = f.status {
        let s = match st {
            ProductStatus::Draft => "DRAFT",
            ProductStatus::Active => "ACTIVE",
            ProductStatus::Archived => "ARCHIVED",
        };
        let a = arg(s.into(), &mut values);
        sql.push_str(&format!(" AND p.status = {a}"));
    }
    if let Some(since) = f.updated_since {
        let a = arg(since.into(), &mut values);
        sql.push_str(&format!(" AND p.updated_at >= {a}"));
    }
    let (expr, cmp, dir) = match (f.sort_key, f.reverse) {
        (ProductSortKey::CreatedAt, false) => ("", ">", "ASC"),
        (ProductSortKey::CreatedAt, true) => ("", "<", "DESC"),
        (ProductSortKey::UpdatedAt, false) => ("p.updated_at", ">", "ASC"),
        (ProductSortKey::UpdatedAt, true) => ("p.updated_at", "<", "DESC"),
        (ProductSortKey::Name, false) => ("lower(p.name)", ">", "ASC"),
        (ProductSortKey::Name, true) => ("lower(p.name)", "<", "DESC"),
    };
    if let Some(cur) = &f.after {
        let id = arg(cur.id.into(), &mut values);
        if expr.is_empty() {
            sql.push_str(&format!(" AND p.id {cmp} {id}"));
        } else {
            let k: sea_orm::Value = if f.sort_key == ProductSortKey::UpdatedAt {
                DateTime::parse_from_rfc3339(&cur.k)
                    .map_err(|_| AppError::invalid("after", "invalid cursor"))?
                    .with_timezone(&Utc)
                    .into()
            } else {
                cur.k.clone().into()
            };
            let k = arg(k, &mut values);
            sql.push_str(&format!(" AND ({expr}, p.id) {cmp} ({k}, {id})"));
        }
    }
    if expr.is_empty() {
        sql.push_str(&format!(" ORDER BY p.id {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY {expr} {dir}, p.id {dir}"));
    }
    let limit = arg(
        i64::try_from(f.first + 1).unwrap_or(101).into(),
        &mut values,
    );
    sql.push_str(&format!(" LIMIT {limit}"));
    Ok(ProductRow::find_by_statement(stmt(&sql, values))
        .all(c.tx)
        .await?)
}

/// Loads what the query selects below a page of products in one statement per level (variants,
/// then prices and stock levels of all of them), so the count does not depend on the page size
/// or on resolver timing; the field resolvers then read the request's loader cache.
async fn prefetch(ctx: &Context<'_>, rows: &[ProductRow]) -> Result<()> {
    let node = ctx.look_ahead().field("edges").field("node");
    let variants = node.field("variants");
    if !variants.exists() || rows.is_empty() {
        return Ok(());
    }
    let rc = rc(ctx)?;
    let loaded = rc
        .variants
        .load_many(rows.iter().map(|r| ProductId(r.id)))
        .await?;
    let ids: Vec<VariantId> = loaded.values().flatten().map(|v| VariantId(v.id)).collect();
    if ids.is_empty() {
        return Ok(());
    }
    if variants.field("prices").exists() {
        rc.prices.load_many(ids.iter().copied()).await?;
    }
    if variants.field("stockLevels").exists() {
        rc.levels.load_many(ids.iter().copied()).await?;
    }
    Ok(())
}

/// Catalog and stock queries.
#[derive(Default)]
pub struct InventoryQuery;

#[Object]
impl InventoryQuery {
    /// The catalog: search by name (contains) or SKU (prefix), filter by status and update time,
    /// sort, and page forwards with `first`/`after` (at most 100 per page). Variants, prices and
    /// stock levels of a whole page load in one statement each.
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        query: Option<String>,
        status: Option<ProductStatus>,
        updated_since: Option<DateTime<Utc>>,
        sort_key: Option<ProductSortKey>,
        reverse: Option<bool>,
    ) -> Result<Connection<String, Product>> {
        let sort_key = sort_key.unwrap_or_default();
        let reverse = reverse.unwrap_or(false);
        let first = crate::domain::page::page_size("first", first.unwrap_or(20))?;
        let filter = ProductFilter {
            query,
            status,
            updated_since,
            sort_key,
            reverse,
            first,
            after: after.as_deref().map(decode_product_cursor).transpose()?,
        };
        let rows = read(ctx, async |c| {
            crate::domain::require_catalog_read(&c)?;
            list_products(&c, &filter).await
        })
        .await?;
        prefetch(ctx, &rows).await?;
        let has_next = rows.len() as u64 > first;
        let mut conn = Connection::new(filter.after.is_some(), has_next);
        conn.edges.extend(
            rows.into_iter()
                .take(usize::try_from(first).unwrap_or(100))
                .map(|r| Edge::new(encode_product_cursor(sort_key, &r), Product(r))),
        );
        Ok(conn)
    }

    /// A product with its variants and prices.
    async fn product(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Product>> {
        read(ctx, async |c| {
            crate::domain::require_catalog_read(&c)?;
            let Ok(pid) = product_id(&id) else {
                return Ok(None);
            };
            match load_product(&c, pid).await {
                Ok(p) => Ok(Some(p)),
                Err(AppError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }

    /// Stock of a variant at a location (bundles: derived from their components).
    async fn stock_level(
        &self,
        ctx: &Context<'_>,
        variant_id: ID,
        location_id: ID,
    ) -> Result<StockLevel> {
        read(ctx, async |c| {
            c.access
                .org()?
                .require(crate::auth::permissions::Perm::InventoryRead)?;
            let v = field_id("variantId", crate::graphql::relay::variant_id(&variant_id))?;
            let l = field_id(
                "locationId",
                crate::graphql::relay::location_id(&location_id),
            )?;
            derived_level(&c, v, l).await
        })
        .await
    }

    /// How a stock level came to be: its ledger rows, oldest first.
    async fn stock_history(
        &self,
        ctx: &Context<'_>,
        variant_id: ID,
        location_id: ID,
        #[graphql(default = 100)] first: i32,
    ) -> Result<Vec<StockMovement>> {
        let limit = i64::try_from(crate::domain::page::page_size("first", first)?).unwrap_or(0);
        read(ctx, async |c| {
            c.access.org()?.require(crate::auth::permissions::Perm::InventoryRead)?;
            let v = field_id("variantId", crate::graphql::relay::variant_id(&variant_id))?;
            let l = field_id("locationId", crate::graphql::relay::location_id(&location_id))?;
            inventory::level(&c, v, l).await?;
            Ok(StockMovement::find_by_statement(stmt(
                "SELECT kind, on_hand_delta, reserved_delta, on_hand_after, reserved_after, reason, \
                 document_type, document_id, created_at FROM stock_movements \
                 WHERE variant_id = $1 AND location_id = $2 ORDER BY created_at, id LIMIT $3",
                vec![v.uuid().into(), l.uuid().into(), limit.into()],
            ))
            .all(c.tx)
            .await?)
        })
        .await
    }
}

/// Catalog and stock mutations.
#[derive(Default)]
pub struct InventoryMutation;

#[Object]
impl InventoryMutation {
    /// Creates a product with its variants and prices.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        input: CreateProductInput,
    ) -> Result<ProductPayload> {
        let (product, user_errors) = mutate(ctx, async |c| {
            let create = CreateProduct {
                name: input.name,
                status: input.status,
                description: input.description,
                image_urls: input.image_urls,
                attributes: input.attributes.map(|j| j.0).unwrap_or_default(),
                variants: input.variants.into_iter().map(variant_input).collect(),
            };
            let (id, _) = catalog::create_product(&c, create).await?;
            load_product(&c, id).await
        })
        .await?;
        Ok(ProductPayload {
            product,
            user_errors,
        })
    }

    /// Records a variant's unit cost (source MANUAL; history is kept).
    async fn set_variant_cost(
        &self,
        ctx: &Context<'_>,
        input: SetVariantCostInput,
    ) -> Result<VariantPayload> {
        let (variant, user_errors) = mutate(ctx, async |c| {
            let v = variant_id(&input.variant_id)?;
            let price = PriceInput {
                amount: input.cost.amount,
                currency: input.cost.currency_code,
            };
            catalog::record_cost(&c, v, &price, "MANUAL", &input.note).await?;
            VariantRow::find_by_statement(stmt(
                "SELECT id, product_id, sku, name, is_bundle, attributes FROM variants WHERE id = $1",
                vec![v.uuid().into()],
            ))
            .one(c.tx)
            .await?
            .map(Variant)
            .ok_or(AppError::NotFound("Variant"))
        })
        .await?;
        Ok(VariantPayload {
            variant,
            user_errors,
        })
    }

    /// Creates a bundle variant whose stock is derived from its components.
    async fn create_bundle(
        &self,
        ctx: &Context<'_>,
        input: CreateBundleInput,
    ) -> Result<VariantPayload> {
        let (variant, user_errors) = mutate(ctx, async |c| {
            let product = product_id(&input.product_id)?;
            let mut parts = Vec::with_capacity(input.components.len());
            for (i, p) in input.components.iter().enumerate() {
                parts.push((
                    variant_id(&p.variant_id).map_err(|_| {
                        AppError::invalid(
                            &format!("input.components.{i}.variantId"),
                            "variant not found",
                        )
                    })?,
                    p.quantity,
                ));
            }
            let id =
                catalog::create_bundle(&c, product, variant_input(input.variant), &parts).await?;
            VariantRow::find_by_statement(stmt(
                "SELECT id, product_id, sku, name, is_bundle, attributes FROM variants WHERE id = $1",
                vec![id.uuid().into()],
            ))
            .one(c.tx)
            .await?
            .map(Variant)
            .ok_or_else(|| AppError::internal("bundle vanished"))
        })
        .await?;
        Ok(VariantPayload {
            variant,
            user_errors,
        })
    }

    /// Creates a stock location in a branch.
    async fn create_location(
        &self,
        ctx: &Context<'_>,
        input: CreateLocationInput,
    ) -> Result<LocationPayload> {
        let (location, user_errors) = mutate(ctx, async |c| {
            let branch = branch_id(&input.branch_id).map_err(|_| AppError::NotFound("Branch"))?;
            let id = catalog::create_location(&c, branch, &input.name, &input.kind).await?;
            Ok(Location {
                id: location_gid(id),
                name: input.name.trim().to_owned(),
                kind: input.kind,
            })
        })
        .await?;
        Ok(LocationPayload {
            location,
            user_errors,
        })
    }

    /// Sets a level's safety stock and reorder point.
    async fn set_stock_thresholds(
        &self,
        ctx: &Context<'_>,
        input: SetStockThresholdsInput,
    ) -> Result<StockLevelPayload> {
        let (stock_level, user_errors) = mutate(ctx, async |c| {
            let v = variant_id(&input.variant_id)?;
            let l = location_id(&input.location_id)?;
            catalog::set_thresholds(&c, v, l, input.safety_stock, input.reorder_point).await?;
            Ok(inventory::level(&c, v, l).await?.into())
        })
        .await?;
        Ok(StockLevelPayload {
            stock_level,
            user_errors,
        })
    }

    /// Receives, adjusts or counts stock. With an idempotency key, a retry has one effect and
    /// returns the first result; the key with another payload is a CONFLICT.
    async fn adjust_stock(
        &self,
        ctx: &Context<'_>,
        input: AdjustStockInput,
    ) -> Result<StockLevelPayload> {
        let (stock_level, user_errors) = mutate(ctx, async |c| {
            let adjust = AdjustStock {
                variant_id: variant_id(&input.variant_id)?,
                location_id: location_id(&input.location_id)?,
                kind: match input.kind {
                    StockChangeKind::Receive => MovementKind::Receive,
                    StockChangeKind::Adjust => MovementKind::Adjust,
                    StockChangeKind::Count => MovementKind::Count,
                },
                quantity: input.quantity,
                expected_on_hand: input.expected_on_hand,
                cause: Cause {
                    reason: input.reason.trim().to_owned(),
                    document_type: Some(
                        if input.kind == StockChangeKind::Count {
                            "COUNT_SESSION"
                        } else {
                            "MANUAL"
                        }
                        .into(),
                    ),
                    document_id: input.idempotency_key.clone(),
                },
            };
            Ok(
                inventory::adjust(&c, adjust, input.idempotency_key.as_deref())
                    .await?
                    .into(),
            )
        })
        .await?;
        Ok(StockLevelPayload {
            stock_level,
            user_errors,
        })
    }

    /// Moves free stock between two locations (both sides or neither).
    async fn transfer_stock(
        &self,
        ctx: &Context<'_>,
        input: TransferStockInput,
    ) -> Result<TransferPayload> {
        let (moved, user_errors) = mutate(ctx, async |c| {
            let t = TransferStock {
                variant_id: variant_id(&input.variant_id)?,
                from_location_id: location_id(&input.from_location_id)?,
                to_location_id: location_id(&input.to_location_id)?,
                quantity: input.quantity,
                expected_on_hand: input.expected_on_hand,
                cause: Cause {
                    reason: input.reason.trim().to_owned(),
                    ..Cause::default()
                },
            };
            inventory::transfer(&c, t, input.idempotency_key.as_deref()).await
        })
        .await?;
        let (from, to) = moved.map_or((None, None), |(a, b)| (Some(a.into()), Some(b.into())));
        Ok(TransferPayload {
            from,
            to,
            user_errors,
        })
    }

    /// Reserves stock for an order line, a cart or a promotion; fails with INSUFFICIENT_STOCK
    /// having changed nothing when there is not enough.
    async fn reserve_stock(
        &self,
        ctx: &Context<'_>,
        input: ReserveStockInput,
    ) -> Result<ReservationPayload> {
        let (reservation, user_errors) = mutate(ctx, async |c| {
            let r = Reserve {
                variant_id: variant_id(&input.variant_id)?,
                location_id: location_id(&input.location_id)?,
                quantity: input.quantity,
                reference_type: match input.reference_type {
                    ReservationReference::OrderLine => "ORDER_LINE",
                    ReservationReference::Cart => "CART",
                    ReservationReference::Promotion => "PROMOTION",
                }
                .into(),
                reference_id: input.reference_id,
                expires_at: input.expires_at,
            };
            Ok(inventory::reserve(&c, r).await?.into())
        })
        .await?;
        Ok(ReservationPayload {
            reservation,
            user_errors,
        })
    }

    /// Gives a reservation's units back.
    async fn release_reservation(&self, ctx: &Context<'_>, id: ID) -> Result<ReservationPayload> {
        let (reservation, user_errors) = mutate(ctx, async |c| {
            let rid: ReservationId = reservation_id(&id)?;
            Ok(inventory::release(&c, rid).await?.into())
        })
        .await?;
        Ok(ReservationPayload {
            reservation,
            user_errors,
        })
    }

    /// Ships a reservation: on hand and reserved both go down.
    async fn commit_reservation(&self, ctx: &Context<'_>, id: ID) -> Result<ReservationPayload> {
        let (reservation, user_errors) = mutate(ctx, async |c| {
            let rid: ReservationId = reservation_id(&id)?;
            Ok(inventory::commit(&c, rid).await?.into())
        })
        .await?;
        Ok(ReservationPayload {
            reservation,
            user_errors,
        })
    }
}

/// How much of the available stock a store is offered.
#[derive(SimpleObject, Clone, Debug)]
pub struct Allocation {
    /// Percentage of available stock (rounded down).
    pub percent: i32,
    /// Most to offer, when capped.
    pub max: Option<i64>,
    /// Held back from this store.
    pub buffer: i64,
}

/// A listing row.
#[derive(Clone, Debug, FromQueryResult)]
pub struct ListingRow {
    id: Uuid,
    store_id: Uuid,
    branch_id: Uuid,
    variant_id: Uuid,
    external_item_id: Option<String>,
    external_model_id: Option<String>,
    external_sku: Option<String>,
    price_minor: Option<i64>,
    currency: Option<String>,
    status: String,
    alloc_percent: i32,
    alloc_max: Option<i64>,
    alloc_buffer: i64,
}

/// A variant as it appears in one store.
#[derive(Clone, Debug)]
pub struct Listing(pub ListingRow);

#[Object]
impl Listing {
    /// Global id.
    async fn id(&self) -> ID {
        crate::graphql::relay::encode_id("Listing", self.0.id)
    }
    /// Store.
    async fn store_id(&self) -> ID {
        crate::graphql::relay::store_gid(crate::ids::StoreId(self.0.store_id))
    }
    /// Variant.
    async fn variant_id(&self) -> ID {
        variant_gid(VariantId(self.0.variant_id))
    }
    /// Platform item id.
    async fn external_item_id(&self) -> Option<&str> {
        self.0.external_item_id.as_deref()
    }
    /// Platform model/SKU id.
    async fn external_model_id(&self) -> Option<&str> {
        self.0.external_model_id.as_deref()
    }
    /// Platform seller SKU.
    async fn external_sku(&self) -> Option<&str> {
        self.0.external_sku.as_deref()
    }
    /// Listing price.
    async fn price(&self) -> Option<Money> {
        match (self.0.price_minor, &self.0.currency) {
            (Some(m), Some(c)) => Some(Money::new(m, c)),
            _ => None,
        }
    }
    /// ACTIVE, PAUSED or ARCHIVED.
    async fn status(&self) -> &str {
        &self.0.status
    }
    /// Allocation rule.
    async fn allocation(&self) -> Allocation {
        Allocation {
            percent: self.0.alloc_percent,
            max: self.0.alloc_max,
            buffer: self.0.alloc_buffer,
        }
    }
    /// The quantity to push to the store now: the rule applied to the variant's available stock
    /// in the store's branch (own and 3PL locations; bundles derived from their components).
    async fn push_quantity(&self, ctx: &Context<'_>) -> Result<i64> {
        let (v, b) = (
            VariantId(self.0.variant_id),
            crate::ids::BranchId(self.0.branch_id),
        );
        let (percent, max, buffer) = (self.0.alloc_percent, self.0.alloc_max, self.0.alloc_buffer);
        // A paused or archived listing offers nothing.
        if self.0.status != "ACTIVE" {
            return Ok(0);
        }
        read(ctx, async |c| {
            let available = catalog::branch_available(&c, v, b).await?;
            Ok(catalog::push_quantity(available, percent, max, buffer))
        })
        .await
    }
}

/// Input of an allocation rule.
#[derive(InputObject)]
pub struct AllocationInput {
    /// Percentage of available stock (default 100).
    #[graphql(default = 100)]
    pub percent: i32,
    /// Most to offer.
    pub max: Option<i64>,
    /// Held back.
    #[graphql(default)]
    pub buffer: i64,
}

/// Input of `createListing`.
#[derive(InputObject)]
pub struct CreateListingInput {
    /// Store.
    pub store_id: ID,
    /// Variant.
    pub variant_id: ID,
    /// Platform item id.
    pub external_item_id: Option<String>,
    /// Platform model/SKU id.
    pub external_model_id: Option<String>,
    /// Platform seller SKU.
    pub external_sku: Option<String>,
    /// Listing price.
    pub price: Option<MoneyInput>,
    /// Allocation rule (default: all available stock).
    pub allocation: Option<AllocationInput>,
}

/// Input of `updateListing` (absent fields stay as they are).
#[derive(InputObject)]
pub struct UpdateListingInput {
    /// The listing.
    pub id: ID,
    /// ACTIVE, PAUSED or ARCHIVED.
    pub status: Option<String>,
    /// New listing price.
    pub price: Option<MoneyInput>,
    /// New allocation rule (replaces the whole rule).
    pub allocation: Option<AllocationInput>,
}

/// Result of `createListing`.
#[derive(SimpleObject)]
pub struct ListingPayload {
    /// The listing.
    pub listing: Option<Listing>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

const LISTING_COLUMNS: &str = "id, store_id, branch_id, variant_id, external_item_id, external_model_id, external_sku, \
     price_minor, currency, status, alloc_percent, alloc_max, alloc_buffer";

/// Listing mutations and queries.
#[derive(Default)]
pub struct ListingMutation;

#[Object]
impl ListingMutation {
    /// Lists a variant on a store with an allocation rule.
    async fn create_listing(
        &self,
        ctx: &Context<'_>,
        input: CreateListingInput,
    ) -> Result<ListingPayload> {
        let (listing, user_errors) = mutate(ctx, async |c| {
            let alloc = input.allocation.unwrap_or(AllocationInput {
                percent: 100,
                max: None,
                buffer: 0,
            });
            let id = catalog::create_listing(
                &c,
                catalog::CreateListing {
                    store_id: crate::graphql::relay::store_id(&input.store_id)?,
                    variant_id: variant_id(&input.variant_id)?,
                    external_item_id: input.external_item_id,
                    external_model_id: input.external_model_id,
                    external_sku: input.external_sku,
                    price: input.price.map(|p| PriceInput {
                        amount: p.amount,
                        currency: p.currency_code,
                    }),
                    percent: alloc.percent,
                    max: alloc.max,
                    buffer: alloc.buffer,
                },
            )
            .await?;
            load_listing(&c, id).await
        })
        .await?;
        Ok(ListingPayload {
            listing,
            user_errors,
        })
    }

    /// Changes a listing's status, price or allocation rule.
    async fn update_listing(
        &self,
        ctx: &Context<'_>,
        input: UpdateListingInput,
    ) -> Result<ListingPayload> {
        let (listing, user_errors) = mutate(ctx, async |c| {
            let (kind, id) = crate::graphql::relay::decode_any(&input.id)?;
            if kind != "Listing" {
                return Err(AppError::NotFound("Listing"));
            }
            catalog::update_listing(
                &c,
                id,
                catalog::UpdateListing {
                    status: input.status,
                    price: input.price.map(|p| PriceInput {
                        amount: p.amount,
                        currency: p.currency_code,
                    }),
                    allocation: input.allocation.map(|a| (a.percent, a.max, a.buffer)),
                },
            )
            .await?;
            load_listing(&c, id).await
        })
        .await?;
        Ok(ListingPayload {
            listing,
            user_errors,
        })
    }
}

async fn load_listing(c: &Ctx<'_>, id: Uuid) -> AppResult<Listing> {
    ListingRow::find_by_statement(stmt(
        &format!("SELECT {LISTING_COLUMNS} FROM listings WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .map(Listing)
    .ok_or(AppError::NotFound("Listing"))
}

/// Listing queries.
#[derive(Default)]
pub struct ListingQuery;

#[Object]
impl ListingQuery {
    /// The listings of a store.
    async fn listings(&self, ctx: &Context<'_>, store_id: ID) -> Result<Vec<Listing>> {
        read(ctx, async |c| {
            c.access.org()?.require(crate::auth::permissions::Perm::StoresRead)?;
            let Ok(store) = crate::graphql::relay::store_id(&store_id) else {
                return Ok(Vec::new());
            };
            Ok(ListingRow::find_by_statement(stmt(
                &format!("SELECT {LISTING_COLUMNS} FROM listings WHERE store_id = $1 ORDER BY id LIMIT 500"),
                vec![store.uuid().into()],
            ))
            .all(c.tx)
            .await?
            .into_iter()
            .map(Listing)
            .collect())
        })
        .await
    }
}
