//! Checking rows: each row is valid on its own and its SKU appears once in the import.

use super::*;
use crate::domain::catalog::{check_attributes, check_image_urls, parse_money, sku as clean_sku};
use crate::domain::clean_text;
use std::collections::{HashMap, HashSet};

/// A row that passed validation.
pub(super) struct Good {
    pub(super) row: usize,
    pub(super) group: String,
    pub(super) product_name: String,
    pub(super) status: Option<String>,
    pub(super) description: Option<String>,
    pub(super) image_urls: Option<Vec<String>>,
    pub(super) sku: String,
    pub(super) variant_name: Option<String>,
    pub(super) attributes: serde_json::Value,
    pub(super) prices: Vec<(String, i64)>,
    pub(super) stock: Option<i64>,
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

/// The rows that pass [`check_row`], have their opening stock's location and a SKU no earlier
/// row has; every other row becomes an error.
pub(super) fn checked(
    rows: Vec<RawRow>,
    errors: &mut Vec<RowError>,
    location: Option<LocationId>,
) -> Vec<Good> {
    let total = rows.len();
    let failed_parse: HashSet<usize> = errors.iter().map(|e| e.row).collect();
    let mut good = Vec::with_capacity(total);
    let mut first_row_of_sku: HashMap<String, usize> = HashMap::new();
    for (i, raw) in rows.into_iter().enumerate() {
        let n = i + 1;
        if failed_parse.contains(&n) {
            continue;
        }
        let Some(g) = check_row(n, raw, errors) else {
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
    good
}

#[cfg(test)]
mod tests {
    use super::*;

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
