//! The master catalog in GraphQL: products, variants with prices and costs, bundles.

use crate::domain::catalog::{self, CreateProduct, PriceInput, VariantInput};
use crate::domain::products::{
    self, ProductCursor, ProductFilter, ProductRow, ProductSort, VariantRow,
};
use crate::error::AppError;
use crate::graphql::direct::{self, Env, list, scalar};
use crate::graphql::relay::location_gid;
use crate::graphql::relay::{Conn, Counted, product_gid, product_id, variant_gid, variant_id};
use crate::graphql::scalars::{Money, MoneyInput};
use crate::graphql::stock::StockLevel;
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, rc, read, some};
use crate::ids::{LocationId, ProductId, VariantId};
use async_graphql::connection::{Connection, Edge};
use async_graphql::parser::types::Field;
use async_graphql::resolver_utils::enum_value;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use async_graphql::{Positioned, Value};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// A product of the master catalog.
#[derive(Clone, Debug)]
pub struct Product(pub ProductRow);

/// A product of the master catalog.
#[Object]
impl Product {
    /// Global id.
    pub async fn id(&self) -> ID {
        product_gid(ProductId(self.0.id))
    }
    /// Name.
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// Lifecycle.
    async fn status(&self) -> ProductStatus {
        self.0.status.into()
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
    /// The first `first` variants, oldest first (batched: one statement for every product of a
    /// page). A product is created with at most 100; ask for fewer to lower the query's cost
    /// estimate (a page of 50 products with `variants(first: 10)` costs 552).
    async fn variants(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many variants, oldest first (0 to 250, default 100); fewer lowers the query's cost estimate.",
            default = 100,
            validator(minimum = 0, maximum = 250)
        )]
        first: i32,
    ) -> Result<Vec<Variant>> {
        let rows = rc(ctx)?
            .variants
            .load_one(ProductId(self.0.id))
            .await?
            .unwrap_or_default();
        let first = usize::try_from(first).unwrap_or(0);
        Ok(rows.into_iter().take(first).map(Variant).collect())
    }
}

/// A sellable SKU.
#[derive(Clone, Debug)]
pub struct Variant(pub VariantRow);

/// A sellable SKU.
#[Object]
impl Variant {
    /// Global id.
    pub async fn id(&self) -> ID {
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
    /// Cost history, newest first (the first row per currency is the current cost; batched).
    async fn costs(&self, ctx: &Context<'_>) -> Result<Vec<Cost>> {
        let rows = rc(ctx)?
            .costs
            .load_one(VariantId(self.0.id))
            .await?
            .unwrap_or_default();
        Ok(rows
            .into_iter()
            .map(|r| Cost {
                cost: Money::new(r.amount_minor, &r.currency),
                source: r.source.into(),
                note: r.note,
                created_at: r.created_at,
            })
            .collect())
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

/// Where a unit cost came from.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::CostSource")]
pub enum CostSource {
    /// Entered by a person or partner.
    Manual,
    /// Learned from purchase and payout data.
    Learned,
}

/// A recorded unit cost.
#[derive(SimpleObject, Clone, Debug)]
pub struct Cost {
    /// The cost.
    pub cost: Money,
    /// Where it came from.
    pub source: CostSource,
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

/// A variant to create.
#[derive(InputObject)]
#[graphql(name = "VariantInput")]
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
    /// Lifecycle (default DRAFT).
    #[graphql(default_with = "ProductStatus::Draft")]
    pub status: ProductStatus,
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

/// Catalog lifecycle of a product.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ProductStatus")]
pub enum ProductStatus {
    /// Being prepared.
    Draft,
    /// On sale.
    Active,
    /// Kept for history.
    Archived,
}

/// What [`prefetch`] loaded below a page, each `None` when it was not selected or its load
/// failed (the field's own resolver then meets the failure again, at its own path).
#[derive(Default)]
pub struct Loaded {
    variants: Option<HashMap<ProductId, Vec<VariantRow>>>,
    prices: Option<HashMap<VariantId, Vec<crate::domain::products::PriceRow>>>,
    levels: Option<HashMap<VariantId, Vec<crate::domain::inventory::Level>>>,
}

/// Loads what the query selects below a page of products in one statement per level (variants,
/// then prices and stock levels of all of them), so the count does not depend on the page size
/// or on resolver timing; the page is then rendered from these rows (see [`ProductPage`]), or
/// the field resolvers read the request's loader cache.
async fn prefetch(ctx: &Context<'_>, rows: &[ProductRow]) -> Loaded {
    let mut out = Loaded::default();
    let look = ctx.look_ahead();
    let (edges, nodes) = (
        look.field("edges").field("node").field("variants"),
        look.field("nodes").field("variants"),
    );
    if !(edges.exists() || nodes.exists()) || rows.is_empty() {
        return out;
    }
    let Ok(rc) = rc(ctx) else { return out };
    let products: Vec<ProductId> = rows.iter().map(|r| ProductId(r.id)).collect();
    let Some(loaded) = direct::fetch(&rc.variants, &products).await else {
        return out;
    };
    let ids: Vec<VariantId> = loaded.values().flatten().map(|v| VariantId(v.id)).collect();
    out.variants = Some(loaded);
    let selected = |name: &str| edges.field(name).exists() || nodes.field(name).exists();
    if selected("prices") && !ids.is_empty() {
        out.prices = direct::fetch(&rc.prices, &ids).await;
    }
    if selected("stockLevels") && !ids.is_empty() {
        out.levels = direct::fetch(&rc.levels, &ids).await;
    }
    out
}

/// A page of `products`: rendered straight from its rows when the selection allows it (see
/// [`crate::graphql::direct`]), else by the executor as a `ProductConnection`.
pub type ProductPage = direct::Page<Conn<Product>, Loaded>;

impl direct::Rows<Conn<Product>> for Loaded {
    const PAGE: &'static str = "products";

    fn render(&self, env: Env<'_>, conn: &Conn<Product>) -> Option<Value> {
        direct::connection(env, conn, |f, n| self.product(env, f, &n.0))
    }

    async fn feed(&self, rc: &crate::graphql::RequestCtx) {
        direct::feed(&rc.variants, self.variants.as_ref()).await;
        direct::feed(&rc.prices, self.prices.as_ref()).await;
        direct::feed(&rc.levels, self.levels.as_ref()).await;
    }
}

impl Loaded {
    fn product<'a>(
        &self,
        env: Env<'a>,
        field: &'a Positioned<Field>,
        p: &ProductRow,
    ) -> Option<Value> {
        env.object::<Product>(&field.node.selection_set.node, |f| {
            Some(match f.node.name.node.as_str() {
                "id" => scalar(&product_gid(ProductId(p.id))),
                "name" => Value::String(p.name.clone()),
                "status" => enum_value(ProductStatus::from(p.status)),
                "description" => Value::String(p.description.clone()),
                "imageUrls" => {
                    Value::List(p.image_urls.iter().cloned().map(Value::String).collect())
                }
                "attributes" => async_graphql::to_value(&p.attributes).unwrap_or_default(),
                "createdAt" => scalar(&p.created_at),
                "updatedAt" => scalar(&p.updated_at),
                "variants" => {
                    let first = env.arg::<i32>(f, "first", || 100)?;
                    if !(0..=250).contains(&first) {
                        return None; // the argument's validator answers
                    }
                    let all = self.variants.as_ref()?;
                    let rows = all.get(&ProductId(p.id)).map_or(&[][..], Vec::as_slice);
                    let first = usize::try_from(first).unwrap_or(0);
                    list(rows.iter().take(first).map(|v| self.variant(env, f, v)))?
                }
                _ => return None,
            })
        })
    }

    fn variant<'a>(
        &self,
        env: Env<'a>,
        field: &'a Positioned<Field>,
        v: &VariantRow,
    ) -> Option<Value> {
        let id = VariantId(v.id);
        env.object::<Variant>(&field.node.selection_set.node, |f| {
            Some(match f.node.name.node.as_str() {
                "id" => scalar(&variant_gid(id)),
                "sku" => Value::String(v.sku.clone()),
                "name" => Value::String(v.name.clone()),
                "isBundle" => Value::Boolean(v.is_bundle),
                "attributes" => async_graphql::to_value(&v.attributes).unwrap_or_default(),
                "prices" => {
                    let rows = self.prices.as_ref()?.get(&id);
                    list(
                        rows.into_iter()
                            .flatten()
                            .map(|p| direct::money(env, f, p.amount_minor, &p.currency)),
                    )?
                }
                "stockLevels" => {
                    let rows = self.levels.as_ref()?.get(&id);
                    list(rows.into_iter().flatten().map(|l| stock_level(env, f, l)))?
                }
                _ => return None,
            })
        })
    }
}

/// A variant's stock at one location, as [`StockLevel`] resolves it.
fn stock_level<'a>(
    env: Env<'a>,
    field: &'a Positioned<Field>,
    l: &crate::domain::inventory::Level,
) -> Option<Value> {
    let int = |n: i64| scalar(&n);
    env.object::<StockLevel>(&field.node.selection_set.node, |f| {
        Some(match f.node.name.node.as_str() {
            "variantId" => scalar(&variant_gid(VariantId(l.variant_id))),
            "locationId" => scalar(&location_gid(LocationId(l.location_id))),
            "onHand" => int(l.on_hand),
            "reserved" => int(l.reserved),
            "safetyStock" => int(l.safety_stock),
            "reorderPoint" => l.reorder_point.map_or(Value::Null, int),
            "available" => int(l.available()),
            _ => return None,
        })
    })
}

/// Catalog queries.
#[derive(Default)]
pub struct CatalogQuery;

#[Object]
impl CatalogQuery {
    /// The catalog: search by name (contains) or SKU (prefix), filter by status and update time,
    /// sort, and page with `first`/`after` or `last`/`before` (at most 100 per page). Variants,
    /// prices and stock levels of a whole page load in one statement each.
    #[allow(clippy::too_many_arguments)]
    async fn products(
        &self,
        ctx: &Context<'_>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
        #[graphql(desc = "Name contains, or a SKU starts with, this text.")] query: Option<String>,
        #[graphql(desc = "Only items in this state.")] status: Option<ProductStatus>,
        #[graphql(desc = "Only products changed at or after this time.")] updated_since: Option<
            DateTime<Utc>,
        >,
        #[graphql(desc = "Sort order.")] sort_key: Option<ProductSortKey>,
        #[graphql(desc = "Reverse the sort order.")] reverse: Option<bool>,
    ) -> Result<ProductPage> {
        let sort_key = sort_key.unwrap_or_default();
        let reverse = reverse.unwrap_or(false);
        // Relay's rules for first/last (at most one, 0 to 100), as for every connection.
        let crate::domain::page::PageArgs { size, backward, .. } =
            crate::domain::page::PageArgs::new(None, None, first, last)?;
        let sort = match sort_key {
            ProductSortKey::CreatedAt => ProductSort::CreatedAt,
            ProductSortKey::UpdatedAt => ProductSort::UpdatedAt,
            ProductSortKey::Name => ProductSort::Name,
        };
        let cursor = |name: &str, c: Option<String>| {
            c.as_deref()
                .map(|c| {
                    ProductCursor::decode(c).map_err(|_| AppError::invalid(name, "invalid cursor"))
                })
                .transpose()
        };
        let filter = ProductFilter {
            query,
            status: status.map(Into::into),
            updated_since,
            sort,
            reverse,
            size,
            backward,
            after: cursor("after", after)?,
            before: cursor("before", before)?,
        };
        let rows = read(ctx, async |c| products::list(&c, &filter).await).await?;
        let loaded = prefetch(ctx, &rows).await;
        let more = rows.len() as u64 > size;
        let (has_previous, has_next) = if backward {
            (more, filter.before.is_some())
        } else {
            (filter.after.is_some(), more)
        };
        let mut conn = Connection::with_additional_fields(
            has_previous,
            has_next,
            Counted::new(Some(products::all(&filter))),
        );
        conn.edges.extend(
            rows.into_iter()
                .take(usize::try_from(size).unwrap_or(100))
                .map(|r| Edge::new(ProductCursor::encode(sort, &r), Product(r))),
        );
        Ok(direct::Page { conn, rows: loaded })
    }

    /// A product with its variants and prices.
    async fn product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "Global id.")] id: ID,
    ) -> Result<Option<Product>> {
        read(ctx, async |c| {
            crate::domain::require_catalog_read(&c)?;
            let Ok(pid) = product_id(&id) else {
                return Ok(None);
            };
            match products::get(&c, pid).await {
                Ok(p) => Ok(Some(Product(p))),
                Err(AppError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
        .await
    }
}

/// Catalog mutations.
#[derive(Default)]
pub struct CatalogMutation;

#[Object]
impl CatalogMutation {
    /// Creates a product with its variants and prices.
    async fn create_product(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateProductInput,
    ) -> Result<Option<ProductPayload>> {
        some(async {
            let (product, user_errors) = mutate(ctx, async |c| {
                let create = CreateProduct {
                    name: input.name,
                    status: input.status.into(),
                    description: input.description,
                    image_urls: input.image_urls,
                    attributes: input.attributes.map(|j| j.0).unwrap_or_default(),
                    variants: input.variants.into_iter().map(variant_input).collect(),
                };
                let (id, _) = catalog::create_product(&c, create).await?;
                Ok(Product(products::get(&c, id).await?))
            })
            .await?;
            Ok(ProductPayload {
                product,
                user_errors,
            })
        })
        .await
    }

    /// Records a variant's unit cost (source MANUAL; history is kept).
    async fn set_variant_cost(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: SetVariantCostInput,
    ) -> Result<Option<VariantPayload>> {
        some(async {
            let (variant, user_errors) = mutate(ctx, async |c| {
                let v = variant_id(&input.variant_id)?;
                catalog::record_cost(
                    &c,
                    v,
                    &input.cost.into(),
                    entity::enums::CostSource::Manual,
                    &input.note,
                )
                .await?;
                Ok(Variant(products::variant(&c, v).await?))
            })
            .await?;
            Ok(VariantPayload {
                variant,
                user_errors,
            })
        })
        .await
    }

    /// Creates a bundle variant whose stock is derived from its components.
    async fn create_bundle(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateBundleInput,
    ) -> Result<Option<VariantPayload>> {
        some(async {
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
                let id = catalog::create_bundle(&c, product, variant_input(input.variant), &parts)
                    .await?;
                Ok(Variant(products::variant(&c, id).await?))
            })
            .await?;
            Ok(VariantPayload {
                variant,
                user_errors,
            })
        })
        .await
    }
}
