//! Reading a catalog CSV into rows (unknown columns are refused).

use super::*;
use std::collections::HashSet;

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
}
