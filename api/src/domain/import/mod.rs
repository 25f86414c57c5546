//! Bulk catalog import: up to 10,000 rows of products, variants, prices and opening stock, from
//! JSON or CSV, upserted by SKU with a handful of set-based statements (not one per row).
//!
//! Every row is validated first; a row with any problem is reported with its number, field and
//! reason and nothing of it is written, while every good row is applied. Rows of one product share
//! a `productKey` (or, without one, a product name). A row whose SKU exists updates that variant
//! (and its product); a new SKU joins the product of another existing SKU of its group, or a new
//! product. Opening stock is a COUNT at `locationId`, written to the ledger as `IMPORT_ROW`
//! documents `{importId}:{row}`, so `stockHistory` shows where the number came from.

mod csv_file;
mod rows;
mod write;

pub use csv_file::{CSV_COLUMNS, parse_csv};
use rows::Good;

use crate::auth::permissions::Perm;
use crate::domain::Ctx;
use crate::domain::catalog::catalog_changed;
use crate::domain::inventory::writable_location;
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId};
use uuid::Uuid;

/// Most rows one import takes.
pub const MAX_ROWS: usize = 10_000;
const MAX_STOCK: i64 = crate::domain::MAX_QUANTITY;

/// One row as given (JSON input or a CSV record).
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct RawRow {
    /// Groups the rows of one product (default: the product name).
    pub product_key: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// DRAFT, ACTIVE or ARCHIVED (new products default to DRAFT; absent keeps an existing one's).
    pub status: Option<String>,
    /// Product description (absent keeps the existing one).
    pub description: Option<String>,
    /// Product image URLs (absent keeps the existing ones).
    pub image_urls: Option<Vec<String>>,
    /// SKU.
    pub sku: Option<String>,
    /// Variant name.
    pub variant_name: Option<String>,
    /// Variant attributes (e.g. colour, size).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Prices as (amount, currency).
    pub prices: Vec<(String, String)>,
    /// Counted on hand at the import's location.
    pub opening_stock: Option<String>,
}

/// A row that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct RowError {
    /// 1-based row number among the data rows (a CSV's header is not counted).
    pub row: usize,
    /// The field at fault, if one.
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Id of this import (ledger documents are `{id}:{row}`).
    pub id: Uuid,
    /// Rows given.
    pub rows_total: usize,
    /// Rows applied.
    pub rows_imported: usize,
    /// Products created.
    pub products_created: usize,
    /// Existing products updated.
    pub products_updated: usize,
    /// Variants created.
    pub variants_created: usize,
    /// Existing variants updated.
    pub variants_updated: usize,
    /// Stock levels whose on-hand changed.
    pub stock_counted: usize,
    /// Rows not applied, in row order.
    pub errors: Vec<RowError>,
}

/// Checks an import as a whole: the caller may write the catalog, 1 to 10,000 rows, and stock
/// may be counted at `location`. Returns the location's branch.
pub async fn check_start(
    c: &Ctx<'_>,
    rows: usize,
    location: Option<LocationId>,
) -> AppResult<Option<BranchId>> {
    c.access.org()?.require(Perm::CatalogWrite)?;
    if rows == 0 {
        return Err(AppError::invalid("input", "there are no rows to import"));
    }
    if rows > MAX_ROWS {
        return Err(AppError::invalid(
            "input",
            format!("at most {MAX_ROWS} rows per import (split the file)"),
        ));
    }
    match location {
        Some(l) => Ok(Some(writable_location(c, l).await?)),
        None => Ok(None),
    }
}

/// Validates and applies `rows`; opening stock goes to `location`.
pub async fn import(
    c: &Ctx<'_>,
    rows: Vec<RawRow>,
    errors: Vec<RowError>,
    location: Option<LocationId>,
) -> AppResult<ImportReport> {
    import_with_progress(c, rows, errors, location, &|_, _| {}).await
}

/// [`import`], telling `progress` (percent, step) after each of its steps.
pub async fn import_with_progress(
    c: &Ctx<'_>,
    rows: Vec<RawRow>,
    mut errors: Vec<RowError>,
    location: Option<LocationId>,
    progress: &(dyn Fn(u8, &'static str) + Sync),
) -> AppResult<ImportReport> {
    let branch = check_start(c, rows.len(), location).await?;
    let total = rows.len();
    let mut good = rows::checked(rows, &mut errors, location);
    // What exists already (variants locked until commit) and what is reserved at the import's
    // location (a count below it is a row error; a reservation racing the import is caught by the
    // compare-and-set in `count_stock`). Every statement looks rows up by key (SKU, variant id)
    // through an index: no joins whose plan could go wrong on tables whose statistics lag behind
    // a large import.
    let existing = write::existing(c, &good).await?;
    write::screen_existing(c, location, &existing, &mut good, &mut errors).await?;
    errors.sort_by_key(|e| e.row);
    let mut report = ImportReport {
        id: Uuid::now_v7(),
        rows_total: total,
        rows_imported: good.len(),
        ..ImportReport::default()
    };
    if good.is_empty() {
        report.errors = errors;
        return Ok(report);
    }
    // Thousands of rows are joined to function output (jsonb_to_recordset) whose size the planner
    // guesses as 100 rows; a nested loop would rescan it per row. Hash joins instead, for this
    // import only (transaction-local, restored below; a failure rolls it back with the savepoint).
    progress(20, "rows checked");
    let previous = write::planner(c, "off").await?;
    let product_of = write::products(c, &good, &existing, &mut report).await?;
    progress(40, "products written");
    let variant_of = write::variants(c, &good, &product_of, &mut report).await?;
    progress(60, "variants written");
    write::prices(c, &good, &variant_of).await?;
    progress(80, "prices written");
    let counted: Vec<(Uuid, &Good)> = good
        .iter()
        .filter(|g| g.stock.is_some())
        .map(|g| (variant_of[g.sku.as_str()], g))
        .collect();
    if let (Some(location), Some(branch), false) = (location, branch, counted.is_empty()) {
        report.stock_counted = write::count_stock(c, &report, location, branch, &counted).await?;
    }
    write::planner(c, &previous).await?;
    catalog_changed(c)?;
    crate::domain::order_stock::link_unlinked(c).await?;
    report.errors = errors;
    Ok(report)
}
