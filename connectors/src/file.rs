//! The `file` connector: orders and stock from seller-center CSV exports, and stock files to
//! upload, for marketplaces without a seller API. Kilimall publishes none (`marketplaces.md` §5),
//! so Kilimall stores use this connector; nothing here pretends to speak a Kilimall API.
//!
//! Each store has its own column mapping (header names as they appear in its export, matched
//! case-insensitively). A row that cannot be read is reported with its line number and reason;
//! an order with any bad row is left out whole (never half an order), and every other order is
//! imported.

use crate::model::{Buyer, Order, OrderLine, OrderTerms};
use crate::money::Money;
use crate::status::OrderStatus;
use chrono::{FixedOffset, NaiveDateTime, TimeZone as _};
use std::collections::HashMap;
use std::io::{Read, Write};

/// Where each order field is in a seller-center order export (one row per order line).
#[derive(Debug, Clone)]
pub struct OrderColumns {
    /// Order number.
    pub order_id: String,
    /// Order status text.
    pub status: String,
    /// Creation time.
    pub created_at: String,
    /// Last update time, when exported (creation time otherwise).
    pub updated_at: Option<String>,
    /// Seller SKU of the line.
    pub seller_sku: String,
    /// Product name of the line.
    pub product_name: Option<String>,
    /// Units of the line.
    pub quantity: String,
    /// Unit price of the line (decimal text).
    pub unit_price: String,
    /// Shipping fee of the order (repeated on each row), when exported.
    pub shipping_fee: Option<String>,
    /// Buyer name.
    pub buyer_name: Option<String>,
    /// City.
    pub city: Option<String>,
    /// A currency column, or `None` to use [`OrderMapping::currency`].
    pub currency: Option<String>,
}

/// How to read one store's order export.
#[derive(Debug, Clone)]
pub struct OrderMapping {
    /// Columns.
    pub columns: OrderColumns,
    /// The store's currency when the export has no currency column.
    pub currency: String,
    /// `chrono` format of the time columns, e.g. `%Y-%m-%d %H:%M:%S`.
    pub time_format: String,
    /// The time zone the export prints times in (Kenya: +03:00).
    pub utc_offset_secs: i32,
    /// Status text (lower-cased) → normalized status; anything else is `Unknown` and kept raw.
    pub statuses: HashMap<String, OrderStatus>,
    /// CSV delimiter.
    pub delimiter: u8,
}

impl OrderMapping {
    /// A mapping for an export with these headers, in KES, Nairobi time, `YYYY-MM-DD HH:MM:SS`,
    /// and the status words sellers see in Kilimall-style exports (review before use: Kilimall
    /// documents none of them).
    pub fn kilimall_default() -> Self {
        use OrderStatus::*;
        let statuses = [
            ("pending", AwaitingFulfillment),
            ("paid", AwaitingFulfillment),
            ("processing", AwaitingFulfillment),
            ("ready to ship", ReadyToShip),
            ("shipped", Shipped),
            ("delivered", Delivered),
            ("completed", Completed),
            ("cancelled", Cancelled),
            ("canceled", Cancelled),
            ("returned", Returned),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        Self {
            columns: OrderColumns {
                order_id: "Order No".into(),
                status: "Order Status".into(),
                created_at: "Order Time".into(),
                updated_at: None,
                seller_sku: "Seller SKU".into(),
                product_name: Some("Product Name".into()),
                quantity: "Quantity".into(),
                unit_price: "Unit Price".into(),
                shipping_fee: Some("Shipping Fee".into()),
                buyer_name: Some("Customer Name".into()),
                city: Some("City".into()),
                currency: None,
            },
            currency: "KES".into(),
            time_format: "%Y-%m-%d %H:%M:%S".into(),
            utc_offset_secs: 3 * 3600,
            statuses,
            delimiter: b',',
        }
    }
}

/// Where stock is in a stock export, and how to write a stock file.
#[derive(Debug, Clone)]
pub struct StockMapping {
    /// Seller SKU column.
    pub seller_sku: String,
    /// Quantity column.
    pub quantity: String,
    /// CSV delimiter.
    pub delimiter: u8,
}

impl Default for StockMapping {
    fn default() -> Self {
        Self {
            seller_sku: "Seller SKU".into(),
            quantity: "Quantity".into(),
            delimiter: b',',
        }
    }
}

/// A row that could not be imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// 1-based line number in the file (the header is line 1).
    pub line: u64,
    /// What was wrong.
    pub message: String,
}

/// What an import produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Imported<T> {
    /// Good records.
    pub records: Vec<T>,
    /// Rows that were refused, with their reasons.
    pub errors: Vec<RowError>,
}

/// One stock level from a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockRow {
    /// Seller SKU.
    pub seller_sku: String,
    /// Quantity.
    pub quantity: i64,
}

/// Why a file could not be read at all.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// A mapped column is not in the header.
    #[error("column `{0}` is not in the file's header")]
    MissingColumn(String),
    /// Not CSV, or unreadable.
    #[error("unreadable CSV: {0}")]
    Csv(#[from] csv::Error),
}

struct Header(HashMap<String, usize>);

impl Header {
    fn read(headers: &csv::StringRecord) -> Self {
        Self(
            headers
                .iter()
                .enumerate()
                .map(|(i, h)| (h.trim().trim_start_matches('\u{feff}').to_lowercase(), i))
                .collect(),
        )
    }

    fn index(&self, name: &str) -> Result<usize, FileError> {
        self.0
            .get(&name.trim().to_lowercase())
            .copied()
            .ok_or_else(|| FileError::MissingColumn(name.to_owned()))
    }

    fn optional(&self, name: Option<&String>) -> Result<Option<usize>, FileError> {
        name.map(|n| self.index(n)).transpose()
    }
}

fn cell(row: &csv::StringRecord, i: usize) -> &str {
    row.get(i).unwrap_or("").trim()
}

fn reader<R: Read>(input: R, delimiter: u8) -> csv::Reader<R> {
    csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(input)
}

struct Cols {
    order_id: usize,
    status: usize,
    created: usize,
    updated: Option<usize>,
    sku: usize,
    name: Option<usize>,
    qty: usize,
    price: usize,
    shipping: Option<usize>,
    buyer: Option<usize>,
    city: Option<usize>,
    currency: Option<usize>,
}

/// Reads an order export. Rows of one order may be anywhere in the file.
pub fn import_orders<R: Read>(
    input: R,
    mapping: &OrderMapping,
) -> Result<Imported<Order>, FileError> {
    let mut rdr = reader(input, mapping.delimiter);
    let header = Header::read(rdr.headers()?);
    let c = &mapping.columns;
    let cols = Cols {
        order_id: header.index(&c.order_id)?,
        status: header.index(&c.status)?,
        created: header.index(&c.created_at)?,
        updated: header.optional(c.updated_at.as_ref())?,
        sku: header.index(&c.seller_sku)?,
        name: header.optional(c.product_name.as_ref())?,
        qty: header.index(&c.quantity)?,
        price: header.index(&c.unit_price)?,
        shipping: header.optional(c.shipping_fee.as_ref())?,
        buyer: header.optional(c.buyer_name.as_ref())?,
        city: header.optional(c.city.as_ref())?,
        currency: header.optional(c.currency.as_ref())?,
    };
    let zone = FixedOffset::east_opt(mapping.utc_offset_secs)
        .ok_or_else(|| FileError::MissingColumn("utc offset out of range".into()))?;
    let time = |text: &str| -> Result<i64, String> {
        let naive = NaiveDateTime::parse_from_str(text, &mapping.time_format).map_err(|e| {
            format!(
                "time `{text}` does not match `{}`: {e}",
                mapping.time_format
            )
        })?;
        zone.from_local_datetime(&naive)
            .single()
            .map(|d| d.timestamp())
            .ok_or_else(|| format!("time `{text}` is ambiguous"))
    };
    let mut orders: Vec<Order> = Vec::new();
    let mut bad_orders: HashMap<String, ()> = HashMap::new();
    let mut errors = Vec::new();
    for (n, row) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                errors.push(RowError {
                    line,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let id = cell(&row, cols.order_id).to_owned();
        let parsed = (|| -> Result<Order, String> {
            if id.is_empty() {
                return Err(format!("`{}` is empty", c.order_id));
            }
            let currency = cols
                .currency
                .map(|i| cell(&row, i).to_owned())
                .filter(|x| !x.is_empty())
                .unwrap_or_else(|| mapping.currency.clone());
            let sku = cell(&row, cols.sku);
            if sku.is_empty() {
                return Err(format!("`{}` is empty", c.seller_sku));
            }
            let quantity: u32 = cell(&row, cols.qty)
                .parse()
                .ok()
                .filter(|q| *q > 0)
                .ok_or_else(|| {
                    format!(
                        "`{}` must be a whole number above 0, got `{}`",
                        c.quantity,
                        cell(&row, cols.qty)
                    )
                })?;
            let price_text = cell(&row, cols.price).replace(',', "");
            let unit_price = Money::parse(&price_text, &currency)
                .map_err(|e| format!("`{}`: {e}", c.unit_price))?;
            let shipping = cols
                .shipping
                .map(|i| cell(&row, i).replace(',', ""))
                .filter(|x| !x.is_empty())
                .map(|x| Money::parse(&x, &currency).map_err(|e| format!("shipping fee: {e}")))
                .transpose()?;
            let created = time(cell(&row, cols.created))?;
            let updated = match cols
                .updated
                .map(|i| cell(&row, i))
                .filter(|x| !x.is_empty())
            {
                Some(t) => time(t)?,
                None => created,
            };
            let raw_status = cell(&row, cols.status).to_owned();
            let status = mapping
                .statuses
                .get(&raw_status.to_lowercase())
                .copied()
                .unwrap_or(OrderStatus::Unknown);
            let line_total = unit_price.minor * i64::from(quantity);
            Ok(Order {
                external_id: id.clone(),
                status,
                raw_status,
                buyer: Buyer {
                    name: cols
                        .buyer
                        .map(|i| cell(&row, i).to_owned())
                        .filter(|x| !x.is_empty()),
                    external_id: None,
                    phone: None,
                    city: cols
                        .city
                        .map(|i| cell(&row, i).to_owned())
                        .filter(|x| !x.is_empty()),
                },
                total: Money {
                    minor: line_total + shipping.map_or(0, |s| s.minor),
                    ..unit_price
                },
                shipping_fee: shipping,
                lines: vec![OrderLine {
                    external_item_id: sku.to_owned(),
                    external_sku_id: sku.to_owned(),
                    seller_sku: Some(sku.to_owned()),
                    name: cols
                        .name
                        .map(|i| cell(&row, i).to_owned())
                        .unwrap_or_default(),
                    quantity,
                    unit_price,
                    external_line_ids: vec![format!("{id}:{line}")],
                }],
                create_time: created,
                update_time: updated,
                ship_by: None,
                terms: OrderTerms {
                    subtotal: Some(Money {
                        minor: line_total,
                        ..unit_price
                    }),
                    ..OrderTerms::default()
                },
            })
        })();
        match parsed {
            Err(message) => {
                errors.push(RowError { line, message });
                bad_orders.insert(id, ());
            }
            Ok(one) => match orders.iter_mut().find(|o| o.external_id == one.external_id) {
                None => orders.push(one),
                Some(existing) => {
                    if existing.total.currency != one.total.currency {
                        errors.push(RowError {
                            line,
                            message: "the order's rows disagree on the currency".into(),
                        });
                        bad_orders.insert(id, ());
                        continue;
                    }
                    let line_total = one.total.minor - one.shipping_fee.map_or(0, |s| s.minor);
                    existing.total.minor += line_total;
                    if let Some(sub) = existing.terms.subtotal.as_mut() {
                        sub.minor += line_total;
                    }
                    existing.update_time = existing.update_time.max(one.update_time);
                    existing.lines.extend(one.lines);
                }
            },
        }
    }
    orders.retain(|o| !bad_orders.contains_key(&o.external_id));
    Ok(Imported {
        records: orders,
        errors,
    })
}

/// Reads a stock export (seller SKU and quantity).
pub fn import_stock<R: Read>(
    input: R,
    mapping: &StockMapping,
) -> Result<Imported<StockRow>, FileError> {
    let mut rdr = reader(input, mapping.delimiter);
    let header = Header::read(rdr.headers()?);
    let (sku_i, qty_i) = (
        header.index(&mapping.seller_sku)?,
        header.index(&mapping.quantity)?,
    );
    let mut out = Imported {
        records: Vec::new(),
        errors: Vec::new(),
    };
    for (n, row) in rdr.records().enumerate() {
        let line = n as u64 + 2;
        let row = match row {
            Ok(r) => r,
            Err(e) => {
                out.errors.push(RowError {
                    line,
                    message: format!("unreadable row: {e}"),
                });
                continue;
            }
        };
        let sku = cell(&row, sku_i);
        let qty = cell(&row, qty_i);
        match (sku.is_empty(), qty.parse::<i64>()) {
            (true, _) => out.errors.push(RowError {
                line,
                message: format!("`{}` is empty", mapping.seller_sku),
            }),
            (false, Ok(q)) if q >= 0 => out.records.push(StockRow {
                seller_sku: sku.to_owned(),
                quantity: q,
            }),
            (false, _) => out.errors.push(RowError {
                line,
                message: format!(
                    "`{}` must be a whole number ≥ 0, got `{qty}`",
                    mapping.quantity
                ),
            }),
        }
    }
    Ok(out)
}

/// Writes a stock file to upload in the seller center.
pub fn export_stock<W: Write>(
    output: W,
    rows: &[StockRow],
    mapping: &StockMapping,
) -> Result<(), FileError> {
    let mut w = csv::WriterBuilder::new()
        .delimiter(mapping.delimiter)
        .from_writer(output);
    w.write_record([mapping.seller_sku.as_str(), mapping.quantity.as_str()])?;
    for r in rows {
        w.write_record([r.seller_sku.as_str(), &r.quantity.to_string()])?;
    }
    w.flush().map_err(csv::Error::from)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXPORT: &str = "\u{feff}Order No,Order Status,Order Time,Seller SKU,Product Name,Quantity,Unit Price,Shipping Fee,Customer Name,City
KM1001,Delivered,2026-11-20 10:15:00,SKU-1,Blue mug,2,\"1,250.00\",150,Achieng,Nairobi
KM1002,Pending,2026-11-21 09:00:00,SKU-2,Kettle,1,3499.5,0,Otieno,Mombasa
KM1001,Delivered,2026-11-20 10:15:00,SKU-3,Spoon,3,99,150,Achieng,Nairobi
KM1003,Shipped,2026-11-21 12:00:00,SKU-1,Blue mug,zero,1250,0,Wanjiru,Kisumu
KM1003,Shipped,2026-11-21 12:00:00,SKU-4,Plate,1,300,0,Wanjiru,Kisumu
KM1004,On the moon,21/11/2026,SKU-4,Plate,1,300.001,0,X,Y
";

    #[test]
    fn orders_group_their_rows_and_bad_rows_drop_only_their_order() {
        let got = import_orders(EXPORT.as_bytes(), &OrderMapping::kilimall_default())
            .unwrap_or_else(|e| panic!("{e}"));
        let ids: Vec<&str> = got.records.iter().map(|o| o.external_id.as_str()).collect();
        assert_eq!(ids, ["KM1001", "KM1002"]);
        let km1001 = &got.records[0];
        assert_eq!(km1001.lines.len(), 2);
        assert_eq!(km1001.status, OrderStatus::Delivered);
        // 2 × 1,250.00 + 3 × 99.00 + 150 shipping, in cents.
        assert_eq!(km1001.total.minor, 250_000 + 29_700 + 15_000);
        assert_eq!(
            km1001.terms.subtotal.map(|m| m.minor),
            Some(250_000 + 29_700)
        );
        assert_eq!(km1001.total.currency_code(), "KES");
        // 10:15 Nairobi time is 07:15 UTC.
        assert_eq!(km1001.create_time, 1_795_158_900);
        assert_eq!(got.records[1].lines[0].unit_price.minor, 349_950);
        assert_eq!(got.errors.len(), 2);
        assert_eq!(got.errors[0].line, 5);
        assert!(
            got.errors[0].message.contains("Quantity"),
            "{:?}",
            got.errors[0]
        );
        assert_eq!(got.errors[1].line, 7);
        assert!(
            got.errors[1].message.contains("more decimals than KES"),
            "{:?}",
            got.errors[1]
        );
    }

    #[test]
    fn a_missing_column_is_refused_before_any_row() {
        let e = import_orders(
            "Order No,Status\nA,B\n".as_bytes(),
            &OrderMapping::kilimall_default(),
        );
        assert!(matches!(e, Err(FileError::MissingColumn(c)) if c == "Order Status"));
    }

    #[test]
    fn stock_round_trips_through_a_file_with_per_row_errors() {
        let rows = vec![
            StockRow {
                seller_sku: "SKU-1".into(),
                quantity: 12,
            },
            StockRow {
                seller_sku: "SKU, with comma".into(),
                quantity: 0,
            },
        ];
        let mapping = StockMapping {
            seller_sku: "SellerSku".into(),
            quantity: "Stock".into(),
            delimiter: b';',
        };
        let mut out = Vec::new();
        export_stock(&mut out, &rows, &mapping).unwrap_or_else(|e| panic!("{e}"));
        let text = String::from_utf8(out).unwrap_or_default();
        assert!(text.starts_with("SellerSku;Stock\n"), "{text}");
        let back = import_stock(text.as_bytes(), &mapping).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(back.records, rows);
        let bad = import_stock("SellerSku;Stock\nA;-1\n;3\nB;4\n".as_bytes(), &mapping)
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(bad.records.len(), 1);
        assert_eq!(
            bad.errors.iter().map(|e| e.line).collect::<Vec<_>>(),
            [2, 3]
        );
    }
}
