//! Bulk catalog import: up to 10,000 rows of products, variants, prices and opening stock, from
//! JSON or CSV, upserted by SKU with a handful of set-based statements (not one per row).
//!
//! Every row is validated first; a row with any problem is reported with its number, field and
//! reason and nothing of it is written, while every good row is applied. Rows of one product share
//! a `productKey` (or, without one, a product name). A row whose SKU exists updates that variant
//! (and its product); a new SKU joins the product of another existing SKU of its group, or a new
//! product. Opening stock is a COUNT at `locationId`, written to the ledger as `IMPORT_ROW`
//! documents `{importId}:{row}`, so `stockHistory` shows where the number came from.

use crate::auth::permissions::Perm;
use crate::domain::catalog::{
    catalog_changed, check_attributes, check_image_urls, parse_money, sku as clean_sku,
};
use crate::domain::inventory::{Level, actor, alerts_after, writable_location};
use crate::domain::{Ctx, clean_text, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId};
use sea_orm::{ConnectionTrait, FromQueryResult, Value};
use serde_json::json;
use std::collections::{HashMap, HashSet};
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

/// Column names a CSV may have (`price_<CUR>` and `attr_<name>` columns besides).
pub const CSV_COLUMNS: [&str; 8] = [
    "product_key",
    "product_name",
    "status",
    "description",
    "image_urls",
    "sku",
    "variant_name",
    "opening_stock",
];

enum Column {
    Fixed(usize),
    Price(String),
    Attr(String),
}

/// Parses a CSV (header row first) into rows; a record that cannot be read becomes a row error.
/// Unknown columns are refused outright, so a typo never silently drops data.
pub fn parse_csv(data: &[u8]) -> AppResult<(Vec<RawRow>, Vec<RowError>)> {
    let mut reader = csv::ReaderBuilder::new()
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(data);
    let header = reader
        .headers()
        .map_err(|e| AppError::invalid("input.csv", format!("unreadable header: {e}")))?
        .clone();
    let mut columns = Vec::with_capacity(header.len());
    let mut seen = HashSet::new();
    for name in &header {
        let lower = name
            .trim()
            .trim_start_matches('\u{feff}')
            .to_ascii_lowercase();
        if !seen.insert(lower.clone()) {
            return Err(AppError::invalid(
                "input.csv",
                format!("column {lower} appears twice"),
            ));
        }
        let col = if let Some(i) = CSV_COLUMNS.iter().position(|c| *c == lower) {
            Column::Fixed(i)
        } else if let Some(cur) = lower.strip_prefix("price_") {
            Column::Price(cur.to_ascii_uppercase())
        } else if let Some(attr) = lower.strip_prefix("attr_").filter(|a| !a.is_empty()) {
            Column::Attr(attr.to_owned())
        } else {
            return Err(AppError::invalid(
                "input.csv",
                format!(
                    "unknown column {lower:?}; columns are {}, price_<CURRENCY> and attr_<name>",
                    CSV_COLUMNS.join(", ")
                ),
            ));
        };
        columns.push(col);
    }
    for required in ["product_name", "sku"] {
        if !seen.contains(required) {
            return Err(AppError::invalid(
                "input.csv",
                format!("the header has no {required} column"),
            ));
        }
    }
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, record) in reader.records().enumerate() {
        // One row past the limit is enough to refuse the file.
        if rows.len() > MAX_ROWS {
            break;
        }
        let record = match record {
            Ok(r) if r.len() == columns.len() => r,
            Ok(r) => {
                errors.push(RowError {
                    row: i + 1,
                    field: None,
                    message: format!("has {} fields; the header has {}", r.len(), columns.len()),
                });
                rows.push(RawRow::default());
                continue;
            }
            Err(e) => {
                errors.push(RowError {
                    row: i + 1,
                    field: None,
                    message: format!("unreadable: {e}"),
                });
                rows.push(RawRow::default());
                continue;
            }
        };
        let mut row = RawRow::default();
        for (col, value) in columns.iter().zip(record.iter()) {
            let v = (!value.is_empty()).then(|| value.to_owned());
            match col {
                Column::Fixed(0) => row.product_key = v,
                Column::Fixed(1) => row.product_name = v,
                Column::Fixed(2) => row.status = v.map(|s| s.to_ascii_uppercase()),
                Column::Fixed(3) => row.description = v,
                Column::Fixed(4) => {
                    row.image_urls = v.map(|s| {
                        s.split('|')
                            .map(|u| u.trim().to_owned())
                            .filter(|u| !u.is_empty())
                            .collect()
                    });
                }
                Column::Fixed(5) => row.sku = v,
                Column::Fixed(6) => row.variant_name = v,
                Column::Fixed(_) => row.opening_stock = v,
                Column::Price(cur) => {
                    if let Some(amount) = v {
                        row.prices.push((amount, cur.clone()));
                    }
                }
                Column::Attr(name) => {
                    if let Some(v) = v {
                        row.attributes.insert(name.clone(), v.into());
                    }
                }
            }
        }
        rows.push(row);
    }
    Ok((rows, errors))
}

/// A row that passed validation.
struct Good {
    row: usize,
    group: String,
    product_name: String,
    status: Option<String>,
    description: Option<String>,
    image_urls: Option<Vec<String>>,
    sku: String,
    variant_name: Option<String>,
    attributes: serde_json::Value,
    prices: Vec<(String, i64)>,
    stock: Option<i64>,
}

fn check_row(n: usize, raw: RawRow, errors: &mut Vec<RowError>) -> Option<Good> {
    let before = errors.len();
    let mut fail = |field: &str, e: AppError| {
        let message = match e {
            AppError::Validation { message, .. } => message,
            other => other.public_message(),
        };
        errors.push(RowError {
            row: n,
            field: Some(field.to_owned()),
            message,
        });
    };
    let product_name = match raw.product_name.as_deref() {
        Some(name) => clean_text("productName", name, 300)
            .map_err(|e| fail("productName", e))
            .ok(),
        None => {
            fail("productName", AppError::invalid("", "is required"));
            None
        }
    };
    let sku = match raw.sku.as_deref() {
        Some(s) => clean_sku("sku", s).map_err(|e| fail("sku", e)).ok(),
        None => {
            fail("sku", AppError::invalid("", "is required"));
            None
        }
    };
    if let Some(s) = raw.status.as_deref()
        && !matches!(s, "DRAFT" | "ACTIVE" | "ARCHIVED")
    {
        fail(
            "status",
            AppError::invalid("", "must be DRAFT, ACTIVE or ARCHIVED"),
        );
    }
    if let Some(d) = &raw.description
        && d.chars().count() > 20_000
    {
        fail(
            "description",
            AppError::invalid("", "must be at most 20000 characters"),
        );
    }
    if let Some(urls) = &raw.image_urls
        && let Err(e) = check_image_urls("imageUrls", urls)
    {
        fail("imageUrls", e);
    }
    if let Some(v) = raw.variant_name.as_deref()
        && v.chars().count() > 300
    {
        fail(
            "variantName",
            AppError::invalid("", "must be at most 300 characters"),
        );
    }
    if let Err(e) = check_attributes("attributes", &raw.attributes) {
        fail("attributes", e);
    }
    let mut prices = Vec::with_capacity(raw.prices.len());
    let mut currencies = HashSet::new();
    for (amount, currency) in &raw.prices {
        let field = format!("price_{}", currency.trim().to_ascii_uppercase());
        match parse_money("price", amount, currency) {
            Ok((minor, code)) => {
                if currencies.insert(code.clone()) {
                    prices.push((code, minor));
                } else {
                    fail(&field, AppError::invalid("", "the currency is given twice"));
                }
            }
            Err(e) => fail(&field, e),
        }
    }
    let stock = match raw.opening_stock.as_deref().map(str::trim) {
        None => None,
        Some(s) => match s.parse::<i64>() {
            Ok(q) if (0..=MAX_STOCK).contains(&q) => Some(q),
            _ => {
                fail(
                    "openingStock",
                    AppError::invalid("", format!("must be a whole number 0-{MAX_STOCK}")),
                );
                None
            }
        },
    };
    if errors.len() > before {
        return None;
    }
    let product_name = product_name?;
    let group = raw
        .product_key
        .map(|k| format!("k:{}", k.trim()))
        .unwrap_or_else(|| format!("n:{product_name}"));
    Some(Good {
        row: n,
        group,
        product_name,
        status: raw.status,
        description: raw.description,
        image_urls: raw.image_urls,
        sku: sku?,
        variant_name: raw.variant_name.map(|v| v.trim().to_owned()),
        attributes: serde_json::Value::Object(raw.attributes),
        prices,
        stock,
    })
}

/// Rows for `jsonb_to_recordset` (array parameters of sea-query cannot hold NULLs).
fn records(rows: Vec<serde_json::Value>) -> Value {
    serde_json::Value::Array(rows).into()
}

#[derive(FromQueryResult)]
struct Existing {
    id: Uuid,
    sku: String,
    product_id: Uuid,
    is_bundle: bool,
}

fn uuid_list(ids: impl IntoIterator<Item = Uuid>) -> Value {
    ids.into_iter().collect::<Vec<Uuid>>().into()
}

/// Sets `enable_nestloop` for the rest of the transaction; returns the value it had.
async fn planner(c: &Ctx<'_>, nested_loops: &str) -> AppResult<String> {
    let row = c
        .tx
        .query_one_raw(stmt(
            "SELECT current_setting('enable_nestloop') AS previous, set_config('enable_nestloop', $1, true)",
            vec![nested_loops.into()],
        ))
        .await?
        .ok_or_else(|| AppError::internal("set_config returned no row"))?;
    Ok(row.try_get("", "previous")?)
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
    let failed_parse: HashSet<usize> = errors.iter().map(|e| e.row).collect();
    let mut good = Vec::with_capacity(total);
    let mut first_row_of_sku: HashMap<String, usize> = HashMap::new();
    for (i, raw) in rows.into_iter().enumerate() {
        let n = i + 1;
        if failed_parse.contains(&n) {
            continue;
        }
        let Some(g) = check_row(n, raw, &mut errors) else {
            continue;
        };
        if g.stock.is_some() && location.is_none() {
            errors.push(RowError {
                row: n,
                field: Some("openingStock".into()),
                message: "opening stock needs input.locationId".into(),
            });
            continue;
        }
        if let Some(first) = first_row_of_sku.get(&g.sku) {
            errors.push(RowError {
                row: n,
                field: Some("sku".into()),
                message: format!("SKU {} is already on row {first}", g.sku),
            });
            continue;
        }
        first_row_of_sku.insert(g.sku.clone(), n);
        good.push(g);
    }

    // What exists already (variants locked until commit) and what is reserved at the import's
    // location (a count below it is a row error; a reservation racing the import is caught by the
    // compare-and-set in `count_stock`). Every statement below looks rows up by key (SKU, variant id) through an index: no joins
    // whose plan could go wrong on tables whose statistics lag behind a large import.
    let existing: HashMap<String, Existing> =
        if good.is_empty() {
            HashMap::new()
        } else {
            Existing::find_by_statement(stmt(
            "SELECT id, sku, product_id, is_bundle FROM variants WHERE sku = ANY($1) FOR UPDATE",
            vec![good.iter().map(|g| g.sku.clone()).collect::<Vec<String>>().into()],
        ))
        .all(c.tx)
        .await?
        .into_iter()
        .map(|e| (e.sku.clone(), e))
        .collect()
        };
    #[derive(FromQueryResult)]
    struct Reserved {
        variant_id: Uuid,
        reserved: i64,
    }
    let reserved: HashMap<Uuid, i64> = match location {
        Some(l) if !existing.is_empty() => Reserved::find_by_statement(stmt(
            "SELECT variant_id, reserved FROM inventory_levels WHERE location_id = $1 AND variant_id = ANY($2)",
            vec![l.uuid().into(), uuid_list(existing.values().map(|e| e.id))],
        ))
        .all(c.tx)
        .await?
        .into_iter()
        .map(|r| (r.variant_id, r.reserved))
        .collect(),
        _ => HashMap::new(),
    };
    good.retain(|g| {
        let Some(e) = existing.get(&g.sku) else {
            return true;
        };
        let problem = match g.stock {
            Some(_) if e.is_bundle => {
                Some("the SKU is a bundle: its stock is derived from its components".to_owned())
            }
            Some(q) if q < reserved.get(&e.id).copied().unwrap_or(0) => Some(format!(
                "{q} is below the {} units reserved at this location",
                reserved.get(&e.id).copied().unwrap_or(0)
            )),
            _ => None,
        };
        match problem {
            Some(message) => {
                errors.push(RowError {
                    row: g.row,
                    field: Some("openingStock".into()),
                    message,
                });
                false
            }
            None => true,
        }
    });
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
    let previous = planner(c, "off").await?;
    // One product per group: that of an existing SKU of the group, or a new one. The group's first
    // row describes the product.
    let mut group_product: HashMap<&str, (Uuid, bool)> = HashMap::new();
    for g in &good {
        if let Some(e) = existing.get(&g.sku) {
            group_product
                .entry(g.group.as_str())
                .or_insert((e.product_id, false));
        }
    }
    let mut products: Vec<(&Good, Uuid, bool)> = Vec::new();
    let mut described = HashSet::new();
    for g in &good {
        let (id, new) = *group_product
            .entry(g.group.as_str())
            .or_insert_with(|| (Uuid::now_v7(), true));
        if described.insert(g.group.as_str()) {
            products.push((g, id, new));
        }
    }
    let product_of = |g: &Good| group_product[g.group.as_str()].0;
    let (new_products, old_products): (Vec<_>, Vec<_>) =
        products.into_iter().partition(|(_, _, new)| *new);
    report.products_created = new_products.len();
    report.products_updated = old_products.len();
    let product_rows = |list: &[(&Good, Uuid, bool)]| {
        records(
            list.iter()
                .map(|(g, id, _)| {
                    json!({"id": id, "name": g.product_name, "status": g.status,
                           "description": g.description, "images": g.image_urls})
                })
                .collect(),
        )
    };
    const PRODUCT_ROWS: &str = "jsonb_to_recordset($1) AS u(id uuid, name text, status text, description text, images jsonb)";
    if !new_products.is_empty() {
        c.tx.execute_raw(stmt(
            &format!(
                "INSERT INTO products (org_id, id, name, status, description, image_urls) \
                 SELECT (SELECT app_org_id()), u.id, u.name, COALESCE(u.status, 'DRAFT'), COALESCE(u.description, ''), \
                        CASE WHEN u.images IS NULL OR u.images = 'null' THEN '{{}}'::text[] \
                             ELSE ARRAY(SELECT jsonb_array_elements_text(u.images)) END \
                 FROM {PRODUCT_ROWS}"
            ),
            vec![product_rows(&new_products)],
        ))
        .await?;
    }
    if !old_products.is_empty() {
        c.tx.execute_raw(stmt(
            &format!(
                "UPDATE products p SET name = u.name, status = COALESCE(u.status, p.status), \
                        description = COALESCE(u.description, p.description), \
                        image_urls = CASE WHEN u.images IS NULL OR u.images = 'null' THEN p.image_urls \
                                          ELSE ARRAY(SELECT jsonb_array_elements_text(u.images)) END, \
                        updated_at = now() \
                 FROM {PRODUCT_ROWS} WHERE p.id = u.id"
            ),
            vec![product_rows(&old_products)],
        ))
        .await?;
    }

    progress(40, "products written");
    // Variants, upserted by SKU (an existing variant keeps its product; an absent name or empty
    // attributes keep the existing ones).
    #[derive(FromQueryResult)]
    struct Upserted {
        id: Uuid,
        sku: String,
        inserted: bool,
    }
    let upserted = Upserted::find_by_statement(stmt(
        "INSERT INTO variants (org_id, id, product_id, sku, name, attributes) \
         SELECT (SELECT app_org_id()), u.id, u.product_id, u.sku, COALESCE(u.name, ''), u.attributes \
         FROM jsonb_to_recordset($1) AS u(id uuid, product_id uuid, sku text, name text, attributes jsonb) \
         ON CONFLICT (org_id, sku) DO UPDATE SET \
           name = CASE WHEN EXCLUDED.name = '' THEN variants.name ELSE EXCLUDED.name END, \
           attributes = CASE WHEN EXCLUDED.attributes = '{}' THEN variants.attributes ELSE EXCLUDED.attributes END, \
           updated_at = now() \
         RETURNING id, sku, (xmax = 0) AS inserted",
        vec![records(
            good.iter()
                .map(|g| {
                    json!({"id": Uuid::now_v7(), "product_id": product_of(g), "sku": g.sku,
                           "name": g.variant_name, "attributes": g.attributes})
                })
                .collect(),
        )],
    ))
    .all(c.tx)
    .await?;
    if upserted.len() != good.len() {
        return Err(AppError::internal("import: variant upsert count mismatch"));
    }
    report.variants_created = upserted.iter().filter(|u| u.inserted).count();
    report.variants_updated = upserted.len() - report.variants_created;
    let variant_of: HashMap<&str, Uuid> = upserted.iter().map(|u| (u.sku.as_str(), u.id)).collect();

    progress(60, "variants written");
    let priced: Vec<(Uuid, &str, i64)> = good
        .iter()
        .flat_map(|g| {
            let id = variant_of[g.sku.as_str()];
            g.prices
                .iter()
                .map(move |(cur, minor)| (id, cur.as_str(), *minor))
        })
        .collect();
    if !priced.is_empty() {
        c.tx.execute_raw(stmt(
            "INSERT INTO variant_prices (org_id, variant_id, currency, amount_minor) \
             SELECT (SELECT app_org_id()), u.variant_id, u.currency, u.amount \
             FROM jsonb_to_recordset($1) AS u(variant_id uuid, currency text, amount bigint) \
             ON CONFLICT (org_id, variant_id, currency) DO UPDATE \
               SET amount_minor = EXCLUDED.amount_minor, updated_at = now() \
               WHERE variant_prices.amount_minor <> EXCLUDED.amount_minor",
            vec![records(
                priced
                    .iter()
                    .map(|(id, currency, amount)| json!({"variant_id": id, "currency": currency, "amount": amount}))
                    .collect(),
            )],
        ))
        .await?;
    }

    progress(80, "prices written");
    let counted: Vec<&Good> = good.iter().filter(|g| g.stock.is_some()).collect();
    if let (Some(location), Some(branch), false) = (location, branch, counted.is_empty()) {
        let counted: Vec<(Uuid, &Good)> = counted
            .into_iter()
            .map(|g| (variant_of[g.sku.as_str()], g))
            .collect();
        report.stock_counted = count_stock(c, &report, location, branch, &counted).await?;
    }
    planner(c, &previous).await?;
    catalog_changed(c)?;
    report.errors = errors;
    Ok(report)
}

/// Sets on-hand to the counted quantities at `location` (creating levels as needed), writing one
/// COUNT movement per level that changed; returns how many changed.
async fn count_stock(
    c: &Ctx<'_>,
    report: &ImportReport,
    location: LocationId,
    branch: crate::ids::BranchId,
    counted: &[(Uuid, &Good)],
) -> AppResult<usize> {
    let ids = || uuid_list(counted.iter().map(|(id, _)| *id));
    c.tx.execute_raw(stmt(
        "INSERT INTO inventory_levels (org_id, variant_id, location_id, branch_id) \
         SELECT (SELECT app_org_id()), v, $2, $3 FROM unnest($1::uuid[]) AS v \
         ON CONFLICT DO NOTHING",
        vec![ids(), location.uuid().into(), branch.uuid().into()],
    ))
    .await?;
    // Lock the levels and read what they hold now; then set exactly the ones that change, each
    // guarded by the on-hand just read (so a concurrent change cannot be overwritten unseen).
    #[derive(FromQueryResult)]
    struct Now {
        variant_id: Uuid,
        on_hand: i64,
    }
    let now: HashMap<Uuid, i64> = Now::find_by_statement(stmt(
        "SELECT variant_id, on_hand FROM inventory_levels \
         WHERE location_id = $2 AND variant_id = ANY($1) FOR UPDATE",
        vec![ids(), location.uuid().into()],
    ))
    .all(c.tx)
    .await?
    .into_iter()
    .map(|n| (n.variant_id, n.on_hand))
    .collect();
    let changes: Vec<serde_json::Value> = counted
        .iter()
        .filter_map(|(id, g)| {
            let old = *now.get(id)?;
            let q = g.stock?;
            (q != old).then(|| {
                json!({"variant_id": id, "counted": q, "old": old,
                       "doc": format!("{}:{}", report.id, g.row)})
            })
        })
        .collect();
    if now.len() != counted.len() {
        return Err(AppError::internal("import: a counted level is missing"));
    }
    if changes.is_empty() {
        return Ok(0);
    }
    let expected = changes.len();
    #[derive(FromQueryResult)]
    struct Counted {
        variant_id: Uuid,
        location_id: Uuid,
        branch_id: Uuid,
        on_hand: i64,
        reserved: i64,
        safety_stock: i64,
        reorder_point: Option<i64>,
    }
    let (user, token) = actor(c);
    let rows = Counted::find_by_statement(stmt(
        "WITH upd AS ( \
           UPDATE inventory_levels l SET on_hand = u.counted, updated_at = now() \
           FROM jsonb_to_recordset($1) AS u(variant_id uuid, counted bigint, old bigint, doc text) \
           WHERE l.location_id = $2 AND l.variant_id = u.variant_id AND l.on_hand = u.old \
             AND u.counted >= l.reserved \
           RETURNING l.org_id, l.variant_id, l.location_id, l.branch_id, l.on_hand, l.reserved, \
                     l.safety_stock, l.reorder_point, u.counted - u.old AS delta, u.doc), \
         mv AS ( \
           INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, on_hand_delta, \
             reserved_delta, on_hand_after, reserved_after, actor_user_id, actor_api_token_id, reason, \
             document_type, document_id) \
           SELECT org_id, gen_random_uuid(), variant_id, location_id, branch_id, 'COUNT', delta, 0, on_hand, \
                  reserved, $3, $4, 'catalog import', 'IMPORT_ROW', doc \
           FROM upd RETURNING 1) \
         SELECT variant_id, location_id, branch_id, on_hand, reserved, safety_stock, reorder_point FROM upd",
        vec![
            records(changes),
            location.uuid().into(),
            Value::Uuid(user),
            Value::Uuid(token),
        ],
    ))
    .all(c.tx)
    .await?;
    if rows.len() != expected {
        // Stock was reserved at this location while the import ran: apply nothing rather than
        // leave some counts out silently; a retry sees the reservation and reports the row.
        return Err(AppError::Conflict(
            "stock at the location changed during the import; retry it".into(),
        ));
    }
    for r in rows {
        if r.reorder_point.is_some() {
            let level = Level {
                variant_id: r.variant_id,
                location_id: r.location_id,
                branch_id: r.branch_id,
                on_hand: r.on_hand,
                reserved: r.reserved,
                safety_stock: r.safety_stock,
                reorder_point: r.reorder_point,
            };
            alerts_after(c, &level).await?;
        }
    }
    Ok(expected)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_rows_map_columns_prices_and_attributes() {
        let data = b"product_key,Product_Name,sku,price_myr,price_idr,attr_colour,opening_stock,image_urls\n\
            tee,Tee,TEE-R,12.50,15000,red,5,https://a/1.jpg|https://a/2.jpg\n\
            tee,Tee,TEE-B,,,blue,,\n";
        let (rows, errors) = parse_csv(data).unwrap();
        assert!(errors.is_empty());
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].product_key.as_deref(), Some("tee"));
        assert_eq!(
            rows[0].prices,
            vec![
                ("12.50".into(), "MYR".into()),
                ("15000".into(), "IDR".into())
            ]
        );
        assert_eq!(rows[0].attributes["colour"], "red");
        assert_eq!(rows[0].opening_stock.as_deref(), Some("5"));
        assert_eq!(rows[0].image_urls.as_ref().unwrap().len(), 2);
        assert!(rows[1].prices.is_empty());
        assert_eq!(rows[1].opening_stock, None);
    }

    #[test]
    fn csv_refuses_unknown_or_missing_columns_and_reports_ragged_records() {
        assert!(parse_csv(b"product_name,sku,colour\n").is_err());
        assert!(parse_csv(b"product_name,price_myr\n").is_err());
        assert!(parse_csv(b"sku,sku,product_name\n").is_err());
        let (rows, errors) = parse_csv(b"product_name,sku\nA,1\nB,2,extra\nC,3\n").unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].row, 2);
    }

    #[test]
    fn a_row_reports_every_field_at_fault() {
        let mut errors = Vec::new();
        let raw = RawRow {
            product_name: Some("  ".into()),
            sku: Some("A".into()),
            status: Some("LIVE".into()),
            prices: vec![("1.005".into(), "USD".into()), ("1".into(), "XXQ".into())],
            opening_stock: Some("-1".into()),
            ..RawRow::default()
        };
        assert!(check_row(7, raw, &mut errors).is_none());
        let fields: Vec<_> = errors.iter().map(|e| e.field.clone().unwrap()).collect();
        assert_eq!(
            fields,
            [
                "productName",
                "status",
                "price_USD",
                "price_XXQ",
                "openingStock"
            ]
        );
        assert!(errors.iter().all(|e| e.row == 7));
        assert!(
            errors[2].message.contains("USD has 2 decimal places"),
            "{errors:?}"
        );
    }
}
