//! Shopee payloads into the common model: order details and escrow details (fee lines).

use super::client::{Shopee, field};
use crate::Money;
use crate::client::money_from_f64;
use crate::error::Error;
use crate::model::*;
use crate::status;
use serde::Deserialize;
use serde_json::Value;

impl Shopee {
    pub(super) fn order(&self, o: &Value) -> Result<Order, Error> {
        #[derive(Deserialize)]
        struct Item {
            item_id: u64,
            #[serde(default)]
            item_name: String,
            #[serde(default)]
            item_sku: String,
            #[serde(default)]
            model_id: u64,
            #[serde(default)]
            model_sku: String,
            model_quantity_purchased: u32,
            model_discounted_price: f64,
        }
        #[derive(Deserialize, Default)]
        struct Address {
            #[serde(default)]
            name: Option<String>,
            #[serde(default)]
            phone: Option<String>,
            #[serde(default)]
            city: Option<String>,
        }
        #[derive(Deserialize)]
        struct O {
            order_sn: String,
            order_status: String,
            currency: String,
            create_time: i64,
            update_time: i64,
            #[serde(default)]
            ship_by_date: Option<i64>,
            #[serde(default)]
            buyer_user_id: Option<u64>,
            #[serde(default)]
            buyer_username: Option<String>,
            #[serde(default)]
            recipient_address: Option<Address>,
            #[serde(default)]
            total_amount: f64,
            #[serde(default)]
            estimated_shipping_fee: Option<f64>,
            #[serde(default)]
            item_list: Vec<Item>,
            #[serde(default)]
            cod: bool,
            #[serde(default)]
            payment_method: Option<String>,
            #[serde(default)]
            pay_time: Option<i64>,
            #[serde(default)]
            cancel_reason: Option<String>,
            #[serde(default)]
            fulfillment_flag: Option<String>,
        }
        let o: O = field(o, "order")?;
        let cur = o.currency.as_str();
        let mut lines = Vec::with_capacity(o.item_list.len());
        for i in &o.item_list {
            let sku = if i.model_sku.is_empty() {
                &i.item_sku
            } else {
                &i.model_sku
            };
            lines.push(OrderLine {
                external_item_id: i.item_id.to_string(),
                external_sku_id: i.model_id.to_string(),
                seller_sku: (!sku.is_empty()).then(|| sku.clone()),
                name: i.item_name.clone(),
                quantity: i.model_quantity_purchased,
                unit_price: money_from_f64(i.model_discounted_price, cur)?,
                external_line_ids: Vec::new(),
            });
        }
        let address = o.recipient_address.unwrap_or_default();
        // The order detail has no discount split (that is the escrow detail's); its items
        // subtotal is the lines at their discounted prices.
        let subtotal = Money {
            minor: lines
                .iter()
                .map(|l| l.unit_price.minor * i64::from(l.quantity))
                .sum(),
            ..money_from_f64(0.0, cur)?
        };
        let terms = OrderTerms {
            subtotal: Some(subtotal),
            payment_method: o.payment_method.filter(|m| !m.is_empty()),
            cod: o.cod,
            fulfilment: if o.fulfillment_flag.as_deref() == Some("fulfilled_by_shopee") {
                Fulfilment::Marketplace
            } else {
                Fulfilment::Seller
            },
            paid_time: o.pay_time.filter(|t| *t > 0),
            cancel_reason: o.cancel_reason.filter(|r| !r.is_empty()),
            ..OrderTerms::default()
        };
        Ok(Order {
            terms,
            status: status::shopee(&o.order_status),
            raw_status: o.order_status,
            buyer: Buyer {
                name: o.buyer_username.or(address.name),
                external_id: o.buyer_user_id.map(|i| i.to_string()),
                phone: address.phone,
                city: address.city,
            },
            total: money_from_f64(o.total_amount, cur)?,
            shipping_fee: o
                .estimated_shipping_fee
                .map(|f| money_from_f64(f, cur))
                .transpose()?,
            lines,
            create_time: o.create_time,
            update_time: o.update_time,
            ship_by: o.ship_by_date.filter(|t| *t > 0),
            external_id: o.order_sn,
        })
    }

    /// An escrow detail as fee lines (the terms of the documented local-shop formula this version
    /// itemises; anything else lands in one labelled `Adjustment` residual so lines always sum to
    /// `escrow_amount`).
    pub(super) fn settlement(
        &self,
        v: &Value,
        currency: &str,
        released: Option<i64>,
    ) -> Result<Settlement, Error> {
        let order_sn = v
            .get("order_sn")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::Decode("escrow detail without order_sn".into()))?
            .to_owned();
        let income = v
            .get("order_income")
            .ok_or_else(|| Error::Decode("escrow detail without order_income".into()))?;
        let num = |k: &str| income.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        let escrow = money_from_f64(num("escrow_amount"), currency)?;
        // (field, sign in the escrow formula, normalized type)
        const TERMS: [(&str, i64, FeeType); 15] = [
            ("original_cost_of_goods_sold", 1, FeeType::ItemRevenue),
            ("original_shopee_discount", -1, FeeType::VoucherPlatform),
            ("shopee_discount", 1, FeeType::VoucherPlatform),
            ("seller_return_refund", 1, FeeType::Adjustment),
            ("voucher_from_seller", -1, FeeType::VoucherSeller),
            ("seller_coin_cash_back", -1, FeeType::VoucherSeller),
            ("buyer_paid_shipping_fee", 1, FeeType::Shipping),
            ("actual_shipping_fee", -1, FeeType::Shipping),
            ("shopee_shipping_rebate", 1, FeeType::ShippingSubsidy),
            (
                "shipping_fee_discount_from_3pl",
                1,
                FeeType::ShippingSubsidy,
            ),
            ("reverse_shipping_fee", -1, FeeType::Shipping),
            ("seller_transaction_fee", -1, FeeType::TransactionFee),
            ("service_fee", -1, FeeType::ServiceFee),
            ("commission_fee", -1, FeeType::Commission),
            ("escrow_tax", -1, FeeType::Tax),
        ];
        let mut lines = Vec::new();
        for (name, sign_, fee_type) in TERMS {
            let m = money_from_f64(num(name), currency)?;
            if m.minor != 0 {
                lines.push(FeeLine {
                    fee_type,
                    raw_type: name.to_owned(),
                    amount: Money {
                        minor: m.minor * sign_,
                        ..m
                    },
                });
            }
        }
        let mut s = Settlement {
            external_order_id: Some(order_sn.clone()),
            reference: order_sn,
            settlement_amount: escrow,
            lines,
            settled_at: released,
        };
        let residual = escrow.minor - s.lines_total();
        if residual != 0 {
            s.lines.push(FeeLine {
                fee_type: FeeType::Adjustment,
                raw_type: "unitemised_escrow_terms".into(),
                amount: Money {
                    minor: residual,
                    ..escrow
                },
            });
        }
        Ok(s)
    }
}
