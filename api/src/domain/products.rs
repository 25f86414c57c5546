//! Reading the catalog: product pages (search, filters, keyset cursors), one product, and the rows
//! below a product (variants, prices, costs) loaded for many parents in one statement each. The
//! row types and column lists of `products`, `variants`, `variant_prices` and `variant_costs`
//! are defined here once; writes are in [`super::catalog`].

use crate::domain::{Ctx, require_catalog_read, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{ProductId, VariantId};
use chrono::{DateTime, Utc};
pub use entity::enums::ProductStatus;
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use uuid::Uuid;

/// Columns of `products` as [`ProductRow`] reads them (prefixed `p.`).
pub(crate) const PRODUCT_COLUMNS: &str =
    "p.id, p.name, p.status, p.description, p.image_urls, p.attributes, p.created_at, p.updated_at";

crate::domain::rows::by_position! {
/// A product.
#[derive(Clone, Debug)]
pub struct ProductRow {
    /// Id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Lifecycle.
    pub status: ProductStatus,
    /// Description.
    pub description: String,
    /// Image URLs in display order.
    pub image_urls: Vec<String>,
    /// Attributes (a JSON object).
    pub attributes: serde_json::Value,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}
}

/// Columns of `variants` as [`VariantRow`] reads them (a macro so constant SQL can `concat!` it).
macro_rules! variant_columns {
    () => {
        "id, product_id, sku, name, is_bundle, attributes"
    };
}

crate::domain::rows::by_position! {
/// A variant (a sellable SKU).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct VariantRow {
    /// Id.
    pub id: Uuid,
    /// Product.
    pub product_id: Uuid,
    /// SKU.
    pub sku: String,
    /// Name.
    pub name: String,
    /// Bundle?
    pub is_bundle: bool,
    /// Attributes (a JSON object).
    pub attributes: serde_json::Value,
}
}

crate::domain::rows::by_position! {
/// A variant's price in one currency.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PriceRow {
    /// Variant.
    pub variant_id: Uuid,
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub amount_minor: i64,
}
}

/// A recorded unit cost.
#[derive(Clone, Debug, FromQueryResult, Serialize, Deserialize)]
pub struct CostRow {
    /// Variant.
    pub variant_id: Uuid,
    /// ISO 4217.
    pub currency: String,
    /// Minor units.
    pub amount_minor: i64,
    /// Where it came from.
    pub source: entity::enums::CostSource,
    /// Note.
    pub note: String,
    /// When recorded.
    pub created_at: DateTime<Utc>,
}

/// Rows that belong to a parent row and are loaded for many parents in one statement (the
/// DataLoaders of the GraphQL layer batch them).
pub trait Grouped: FromQueryResult + Sized {
    /// The statement, taking the parents' ids as `$1` (a uuid array).
    const SQL: &'static str;
    /// What the caller must hold to read these rows, whatever path leads to them (`Variant.stockLevels`
    /// needs `inventory:read` as `stockLevel` does; the loader checks it before any row is read).
    const PERM: crate::auth::permissions::Perm;
    /// The parent of a row.
    fn parent(&self) -> Uuid;
}

impl Grouped for VariantRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::CatalogRead;
    const SQL: &'static str = concat!(
        "SELECT ",
        variant_columns!(),
        " FROM variants WHERE product_id = ANY($1) ORDER BY id"
    );
    fn parent(&self) -> Uuid {
        self.product_id
    }
}

impl Grouped for PriceRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::CatalogRead;
    const SQL: &'static str = "SELECT variant_id, currency, amount_minor FROM variant_prices \
         WHERE variant_id = ANY($1) ORDER BY currency";
    fn parent(&self) -> Uuid {
        self.variant_id
    }
}

/// The newest 100 costs of each variant, newest first (the first row per currency is the current
/// cost).
impl Grouped for CostRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::CatalogRead;
    const SQL: &'static str = "SELECT variant_id, currency, amount_minor, source, note, created_at FROM ( \
           SELECT *, row_number() OVER (PARTITION BY variant_id ORDER BY created_at DESC, id DESC) AS n \
           FROM variant_costs WHERE variant_id = ANY($1)) c \
         WHERE n <= 100 ORDER BY variant_id, created_at DESC, id DESC";
    fn parent(&self) -> Uuid {
        self.variant_id
    }
}

impl Grouped for crate::domain::inventory::Level {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::InventoryRead;
    const SQL: &'static str = concat!(
        "SELECT ",
        crate::domain::inventory::level_columns!(),
        " FROM inventory_levels WHERE variant_id = ANY($1) ORDER BY location_id"
    );
    fn parent(&self) -> Uuid {
        self.variant_id
    }
}

/// The rows of every parent in `ids` (every id present, with no rows if it has none), visible
/// under the connection's RLS context.
pub async fn load_grouped<R: Grouped, C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, Vec<R>>> {
    let rows = R::find_by_statement(stmt(R::SQL, vec![ids.to_vec().into()]))
        .all(conn)
        .await?;
    let mut out: HashMap<Uuid, Vec<R>> = ids.iter().map(|u| (*u, Vec::new())).collect();
    for r in rows {
        out.entry(r.parent()).or_default().push(r);
    }
    Ok(out)
}

/// Rows loaded by their own ids, many at once (DataLoaders of references: an order line's variant,
/// its listing, an order's store).
pub trait ById: FromQueryResult + Sized {
    /// The statement, taking the ids as `$1` (a uuid array).
    const SQL: &'static str;
    /// What the caller must hold to read these rows (as for [`Grouped::PERM`]).
    const PERM: crate::auth::permissions::Perm;
    /// The row's id.
    fn key(&self) -> Uuid;
}

impl ById for VariantRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::CatalogRead;
    const SQL: &'static str = concat!(
        "SELECT ",
        variant_columns!(),
        " FROM variants WHERE id = ANY($1)"
    );
    fn key(&self) -> Uuid {
        self.id
    }
}

/// The visible rows of `R` with these ids, by id.
pub async fn load_by_id<R: ById, C: ConnectionTrait>(
    conn: &C,
    ids: &[Uuid],
) -> AppResult<HashMap<Uuid, R>> {
    let rows = R::find_by_statement(stmt(R::SQL, vec![ids.to_vec().into()]))
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|r| (r.key(), r)).collect())
}

/// How to order a product page.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum ProductSort {
    /// Creation order (the default).
    #[default]
    CreatedAt,
    /// Last change.
    UpdatedAt,
    /// Name, case-insensitive.
    Name,
}

/// Where a page starts: the sort key and id of the last row of the previous page.
#[derive(Serialize, Deserialize)]
pub struct ProductCursor {
    k: String,
    id: Uuid,
}

impl ProductCursor {
    /// The opaque cursor after `p` in `sort` order.
    pub fn encode(sort: ProductSort, p: &ProductRow) -> String {
        use base64::Engine as _;
        let k = match sort {
            ProductSort::CreatedAt => String::new(),
            ProductSort::UpdatedAt => p
                .updated_at
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            ProductSort::Name => p.name.to_lowercase(),
        };
        let json = serde_json::to_vec(&Self { k, id: p.id }).unwrap_or_default();
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

fn like_escape(q: &str) -> String {
    q.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

/// A product page request.
pub struct ProductFilter {
    /// Name contains, or a SKU starts with, this text.
    pub query: Option<String>,
    /// Only this lifecycle.
    pub status: Option<ProductStatus>,
    /// Changed at or after.
    pub updated_since: Option<DateTime<Utc>>,
    /// Order.
    pub sort: ProductSort,
    /// Descending.
    pub reverse: bool,
    /// Page size (already checked): the first `size` after `after`, or with `backward` the last
    /// `size` before `before`.
    pub size: u64,
    /// Page from the end (`last`).
    pub backward: bool,
    /// Only products after this cursor.
    pub after: Option<ProductCursor>,
    /// Only products before this cursor.
    pub before: Option<ProductCursor>,
}

/// The list's filters (no cursor, no order), as SQL over `products p` with its values.
fn filtered(f: &ProductFilter) -> (String, Vec<sea_orm::Value>) {
    let mut sql = format!("SELECT {PRODUCT_COLUMNS} FROM products p WHERE true");
    let mut values: Vec<sea_orm::Value> = Vec::new();
    if let Some(q) = f.query.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        values.push(format!("%{}%", like_escape(q)).into());
        values.push(format!("{}%", like_escape(q)).into());
        let (contains, prefix) = (values.len() - 1, values.len());
        sql.push_str(&format!(
            " AND (p.name ILIKE ${contains} OR EXISTS (SELECT 1 FROM variants v WHERE v.product_id = p.id AND v.sku ILIKE ${prefix}))"
        ));
    }
    if let Some(st) = f.status {
        values.push(st.into());
        sql.push_str(&format!(" AND p.status = ${}", values.len()));
    }
    if let Some(since) = f.updated_since {
        values.push(since.into());
        sql.push_str(&format!(" AND p.updated_at >= ${}", values.len()));
    }
    (sql, values)
}

/// Every product the filter selects, all pages (for `totalCount`).
pub fn all(f: &ProductFilter) -> sea_orm::Statement {
    let (sql, values) = filtered(f);
    stmt(&sql, values)
}

/// Up to `size + 1` products in list order (one more tells the caller there is another page:
/// the next one, or with `backward` the previous one).
pub async fn list(c: &Ctx<'_>, f: &ProductFilter) -> AppResult<Vec<ProductRow>> {
    require_catalog_read(c)?;
    let (mut sql, mut values) = filtered(f);
    let arg = |v: sea_orm::Value, values: &mut Vec<sea_orm::Value>| {
        values.push(v);
        format!("${}", values.len())
    };
    let (expr, ascending) = match (f.sort, f.reverse) {
        (ProductSort::CreatedAt, r) => ("", !r),
        (ProductSort::UpdatedAt, r) => ("p.updated_at", !r),
        (ProductSort::Name, r) => ("lower(p.name)", !r),
    };
    for (cursor, later) in [(&f.after, true), (&f.before, false)] {
        let Some(cur) = cursor else { continue };
        // After the cursor in list order: greater when ascending; before it: the opposite.
        let cmp = if later == ascending { ">" } else { "<" };
        let id = arg(cur.id.into(), &mut values);
        if expr.is_empty() {
            sql.push_str(&format!(" AND p.id {cmp} {id}"));
        } else {
            let k: sea_orm::Value = if f.sort == ProductSort::UpdatedAt {
                DateTime::parse_from_rfc3339(&cur.k)
                    .map_err(|_| AppError::invalid("cursor", "invalid cursor"))?
                    .with_timezone(&Utc)
                    .into()
            } else {
                cur.k.clone().into()
            };
            let k = arg(k, &mut values);
            sql.push_str(&format!(" AND ({expr}, p.id) {cmp} ({k}, {id})"));
        }
    }
    // Walking backwards reads from the end of the list, then restores list order.
    let dir = if ascending != f.backward {
        "ASC"
    } else {
        "DESC"
    };
    if expr.is_empty() {
        sql.push_str(&format!(" ORDER BY p.id {dir}"));
    } else {
        sql.push_str(&format!(" ORDER BY {expr} {dir}, p.id {dir}"));
    }
    let limit = arg(i64::try_from(f.size + 1).unwrap_or(101).into(), &mut values);
    sql.push_str(&format!(" LIMIT {limit}"));
    let mut rows = ProductRow::find_by_statement(stmt(&sql, values))
        .all(c.tx)
        .await?;
    if f.backward {
        // Keep the extra row (it tells of a previous page) at the end, as forwards.
        let extra = (rows.len() as u64 > f.size).then(|| rows.pop()).flatten();
        rows.reverse();
        rows.extend(extra);
    }
    Ok(rows)
}

/// A product (NOT_FOUND unless visible).
pub async fn get(c: &Ctx<'_>, id: ProductId) -> AppResult<ProductRow> {
    require_catalog_read(c)?;
    ProductRow::find_by_statement(stmt(
        &format!("SELECT {PRODUCT_COLUMNS} FROM products p WHERE p.id = $1"),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Product"))
}

/// A variant (NOT_FOUND unless visible).
pub async fn variant(c: &Ctx<'_>, id: VariantId) -> AppResult<VariantRow> {
    VariantRow::find_by_statement(stmt(
        concat!(
            "SELECT ",
            variant_columns!(),
            " FROM variants WHERE id = $1"
        ),
        vec![id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Variant"))
}
