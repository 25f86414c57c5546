//! `importCatalog`: bulk upsert of products, variants, prices and opening stock from JSON rows or
//! an uploaded CSV, with an error per bad row.

use crate::domain::import::{self, RawRow, RowError};
use crate::error::AppError;
use crate::graphql::mutate;
use crate::graphql::relay::field_id;
use crate::graphql::scalars::MoneyInput;
use crate::graphql::some;
use crate::graphql::user_errors::UserError;
use async_graphql::{Context, ID, InputObject, Json, Object, Result, SimpleObject, Upload};

/// One catalog row: a variant and its product.
#[derive(InputObject)]
pub struct CatalogImportRowInput {
    /// Groups the rows of one product (default: the product name).
    pub product_key: Option<String>,
    /// Product name.
    pub product_name: String,
    /// Lifecycle (new products: DRAFT; absent keeps an existing product's).
    pub status: Option<crate::graphql::catalog::ProductStatus>,
    /// Product description (absent keeps the existing one).
    pub description: Option<String>,
    /// Product image URLs (absent keeps the existing ones).
    pub image_urls: Option<Vec<String>>,
    /// SKU: an existing SKU is updated, a new one created.
    pub sku: String,
    /// Variant name (e.g. "Red / XL"; absent keeps the existing one).
    pub variant_name: Option<String>,
    /// Variant attributes as a JSON object (e.g. `{"colour": "red"}`).
    pub attributes: Option<Json<serde_json::Map<String, serde_json::Value>>>,
    /// Prices, at most one per currency.
    #[graphql(default)]
    pub prices: Vec<MoneyInput>,
    /// Counted on hand at `locationId` (written to the ledger as a COUNT).
    pub opening_stock: Option<i64>,
}

/// Input of `importCatalog`: `rows` or `csv`, not both.
#[derive(InputObject)]
pub struct ImportCatalogInput {
    /// Rows as JSON (at most 10,000).
    pub rows: Option<Vec<CatalogImportRowInput>>,
    /// A CSV file (GraphQL multipart upload; UTF-8, header row first). Columns: product_key,
    /// product_name, status, description, image_urls (separated by `|`), sku, variant_name,
    /// opening_stock, `price_<CURRENCY>` (e.g. price_MYR) and `attr_<name>` (e.g. attr_colour).
    pub csv: Option<Upload>,
    /// Where opening stock is counted (required when a row has one).
    pub location_id: Option<ID>,
}

/// A row that was not imported.
#[derive(SimpleObject, Clone, Debug)]
pub struct ImportRowError {
    /// 1-based row number among the data rows (a CSV's header row is not counted).
    pub row: i32,
    /// The field at fault, if one (CSV column names for prices: `price_MYR`).
    pub field: Option<String>,
    /// Why.
    pub message: String,
}

impl From<RowError> for ImportRowError {
    fn from(e: RowError) -> Self {
        Self {
            row: i32::try_from(e.row).unwrap_or(i32::MAX),
            field: e.field,
            message: e.message,
        }
    }
}

/// What an import did.
#[derive(SimpleObject, Clone, Debug)]
pub struct CatalogImport {
    /// Id of the import (ledger documents of its opening stock are `{id}:{row}`).
    pub id: ID,
    /// Rows given.
    pub rows_total: i32,
    /// Rows applied.
    pub rows_imported: i32,
    /// Products created.
    pub products_created: i32,
    /// Existing products updated.
    pub products_updated: i32,
    /// Variants created.
    pub variants_created: i32,
    /// Existing variants updated.
    pub variants_updated: i32,
    /// Stock levels whose on-hand changed.
    pub stock_counted: i32,
    /// Rows not applied (nothing of them was written), in row order.
    pub errors: Vec<ImportRowError>,
}

/// Result of `importCatalog`.
#[derive(SimpleObject)]
pub struct ImportCatalogPayload {
    /// The report (null when the input as a whole was refused).
    pub import: Option<CatalogImport>,
    /// Problems with the input as a whole (nothing was written).
    pub user_errors: Vec<UserError>,
}

fn n(v: usize) -> i32 {
    i32::try_from(v).unwrap_or(i32::MAX)
}

fn rows_from_json(rows: Vec<CatalogImportRowInput>) -> Vec<RawRow> {
    rows.into_iter()
        .map(|r| RawRow {
            product_key: r.product_key,
            product_name: Some(r.product_name),
            // The CSV path reads the same names; the import parses both alike.
            status: r
                .status
                .map(|st| sea_orm::ActiveEnum::to_value(&entity::enums::ProductStatus::from(st))),
            description: r.description,
            image_urls: r.image_urls,
            sku: Some(r.sku),
            variant_name: r.variant_name,
            attributes: r.attributes.map(|j| j.0).unwrap_or_default(),
            prices: r
                .prices
                .into_iter()
                .map(|p| (p.amount, p.currency_code))
                .collect(),
            opening_stock: r.opening_stock.map(|q| q.to_string()),
        })
        .collect()
}

type Parsed = (Vec<RawRow>, Vec<RowError>);

fn parse_input(
    ctx: &Context<'_>,
    rows: Option<Vec<CatalogImportRowInput>>,
    csv: Option<&Upload>,
) -> Result<Parsed, AppError> {
    match (rows, csv) {
        (Some(rows), None) => Ok((rows_from_json(rows), Vec::new())),
        (None, Some(upload)) => upload
            .value(ctx)
            .map_err(|e| AppError::invalid("input.csv", format!("unreadable upload: {e}")))
            .and_then(|file| import::parse_csv(&file.content)),
        _ => Err(AppError::invalid(
            "input",
            "give either rows or csv (exactly one)",
        )),
    }
}

/// Input of `startCatalogImport`: `rows` or `csv`, not both.
#[derive(InputObject)]
pub struct StartCatalogImportInput {
    /// Rows as JSON (at most 10,000).
    pub rows: Option<Vec<CatalogImportRowInput>>,
    /// A CSV file (GraphQL multipart upload), with the columns of `importCatalog`.
    pub csv: Option<Upload>,
    /// Where opening stock is counted (required when a row has one).
    pub location_id: Option<ID>,
    /// Retrying with the same key returns the job the first call queued.
    pub idempotency_key: Option<String>,
}

/// Catalog import.
#[derive(Default)]
pub struct ImportMutation;

#[Object]
impl ImportMutation {
    /// Queues a catalog import as a background job and returns at once: watch it with
    /// `syncRunUpdated(id)` (progress, then SUCCEEDED with counts); refused rows become FAILED
    /// items of the run with row, field and reason. The input as a whole (permission, row count,
    /// location, CSV columns) is checked now: then nothing is queued.
    async fn start_catalog_import(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: StartCatalogImportInput,
    ) -> Result<Option<crate::graphql::sync::JobPayload>> {
        crate::graphql::some(async {
            let parsed = parse_input(ctx, input.rows, input.csv.as_ref());
            let location = input.location_id;
            let key = input.idempotency_key;
            let (q, errs) = mutate(ctx, async |c| {
                let (rows, errors) = parsed?;
                let location = location
                    .as_ref()
                    .map(|l| field_id("input.locationId", crate::graphql::relay::location_id(l)))
                    .transpose()?;
                crate::domain::sync::start_import(&c, rows, errors, location, key).await
            })
            .await?;
            Ok(crate::graphql::sync::queued_payload(q, errs))
        })
        .await
    }

    /// Upserts up to 10,000 products/variants/prices/opening-stock rows by SKU. Every row is
    /// checked; bad rows are reported (row, field, reason) and skipped whole, good rows applied.
    async fn import_catalog(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: ImportCatalogInput,
    ) -> Result<Option<ImportCatalogPayload>> {
        some(async {
            let parsed = parse_input(ctx, input.rows, input.csv.as_ref());
            let location = input.location_id;
            let (report, user_errors) = mutate(ctx, async |c| {
                let (rows, errors) = parsed?;
                let location = location
                    .as_ref()
                    .map(|l| field_id("input.locationId", crate::graphql::relay::location_id(l)))
                    .transpose()?;
                import::import(&c, rows, errors, location).await
            })
            .await?;
            Ok(ImportCatalogPayload {
                import: report.map(|r| CatalogImport {
                    id: ID(r.id.to_string()),
                    rows_total: n(r.rows_total),
                    rows_imported: n(r.rows_imported),
                    products_created: n(r.products_created),
                    products_updated: n(r.products_updated),
                    variants_created: n(r.variants_created),
                    variants_updated: n(r.variants_updated),
                    stock_counted: n(r.stock_counted),
                    errors: r.errors.into_iter().map(Into::into).collect(),
                }),
                user_errors,
            })
        })
        .await
    }
}
