//! Lazada payloads into the common model: orders (header and items) and fee types.

use super::client::{Lazada, parse_time, s};
use crate::Money;
use crate::client::money_from_str;
use crate::error::Error;
use crate::model::*;
use crate::status::{self, UnitLine, group_units};
use serde_json::Value;

/// How a Lazada fee type id maps (`querytransactiondetails-fee-type-field-enum-list`).
pub(super) fn fee_type(id: &str, name: &str) -> FeeType {
    match id {
        "13" => FeeType::ItemRevenue,
        "3" | "4" => FeeType::TransactionFee,
        "16" | "15" => FeeType::Commission,
        "8" | "7" | "26" => FeeType::Shipping,
        "14" => FeeType::Adjustment,
        "117" | "118" | "119" => FeeType::VoucherSeller,
        _ => {
            let n = name.to_ascii_lowercase();
            if n.contains("penalt") {
                FeeType::Penalty
            } else if n.contains("vat") || n.contains("tax") {
                FeeType::Tax
            } else if n.contains("subsid") {
                FeeType::ShippingSubsidy
            } else if n.contains("voucher") || n.contains("promot") {
                FeeType::VoucherSeller
            } else {
                FeeType::Adjustment
            }
        }
    }
}

impl Lazada {
    pub(super) fn order(
        &self,
        header: &Value,
        items: &[Value],
        currency: &str,
    ) -> Result<Order, Error> {
        let statuses: Vec<String> = items.iter().map(|i| s(i, "status")).collect();
        let refs: Vec<&str> = statuses.iter().map(String::as_str).collect();
        let mut distinct: Vec<&str> = Vec::new();
        for st in &refs {
            if !distinct.contains(st) {
                distinct.push(st);
            }
        }
        let mut units = Vec::with_capacity(items.len());
        let mut meta: Vec<(String, String, String)> = Vec::new();
        for i in items {
            let sku = s(i, "sku_id");
            let cur = Some(s(i, "currency"))
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| currency.to_owned());
            if !meta.iter().any(|(k, _, _)| *k == sku) {
                meta.push((sku.clone(), s(i, "product_id"), s(i, "name")));
            }
            units.push(UnitLine {
                line_id: s(i, "order_item_id"),
                sku_id: sku,
                seller_sku: Some(s(i, "sku")).filter(|x| !x.is_empty()),
                unit_price_minor: money_from_str(&s(i, "paid_price"), &cur)?.minor,
            });
        }
        let zero = Money::parse("0", currency).map_err(|e| Error::Decode(e.to_string()))?;
        let lines = group_units(&units)
            .into_iter()
            .map(|g| {
                let (_, product, name) = meta
                    .iter()
                    .find(|(k, _, _)| *k == g.sku_id)
                    .cloned()
                    .unwrap_or_default();
                OrderLine {
                    external_item_id: product,
                    external_sku_id: g.sku_id,
                    seller_sku: g.seller_sku,
                    name,
                    quantity: g.quantity,
                    unit_price: Money {
                        minor: g.unit_price_minor,
                        ..zero
                    },
                    external_line_ids: g.line_ids,
                }
            })
            .collect();
        let price = money_from_str(&s(header, "price"), currency)?;
        let voucher = money_from_str(&s(header, "voucher"), currency)?;
        let shipping = money_from_str(&s(header, "shipping_fee"), currency)?;
        let address = header
            .get("address_shipping")
            .cloned()
            .unwrap_or(Value::Null);
        let name = format!("{} {}", s(&address, "first_name"), s(&address, "last_name"));
        let opt_money = |k: &str| -> Result<Option<Money>, Error> {
            let v = s(header, k);
            if v.is_empty() {
                Ok(None)
            } else {
                money_from_str(&v, currency).map(Some)
            }
        };
        let payment_method = Some(s(header, "payment_method")).filter(|x| !x.is_empty());
        let terms = OrderTerms {
            subtotal: Some(price),
            seller_discount: opt_money("voucher_seller")?,
            platform_discount: opt_money("voucher_platform")?,
            tax: None,
            cod: payment_method.as_deref() == Some("COD"),
            payment_method,
            fulfilment: Fulfilment::Seller,
            paid_time: None,
            cancel_reason: items.iter().map(|i| s(i, "reason")).find(|r| !r.is_empty()),
        };
        Ok(Order {
            terms,
            external_id: s(header, "order_id"),
            status: status::lazada_order(&refs),
            raw_status: distinct.join(","),
            buyer: Buyer {
                name: Some(name.trim().to_owned()).filter(|x| !x.is_empty()),
                external_id: items
                    .first()
                    .map(|i| s(i, "buyer_id"))
                    .filter(|x| !x.is_empty()),
                phone: Some(s(&address, "phone")).filter(|x| !x.is_empty()),
                city: Some(s(&address, "city")).filter(|x| !x.is_empty()),
            },
            // Documented: buyer paid = price − voucher + shipping_fee.
            total: Money {
                minor: price.minor - voucher.minor + shipping.minor,
                ..price
            },
            shipping_fee: Some(shipping),
            lines,
            create_time: parse_time(&s(header, "created_at")).unwrap_or(0),
            update_time: parse_time(&s(header, "updated_at")).unwrap_or(0),
            ship_by: None,
        })
    }
}
