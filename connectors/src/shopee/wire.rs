//! Shopee response bodies as typed structs (`marketplaces.md` §1): the paged lists. Absent
//! fields take their defaults, as the platform omits empty ones.

use crate::client::money_from_f64;
use crate::error::Error;
use crate::model::Return;
use serde::Deserialize;

/// `get_order_list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct OrderListPage {
    pub order_list: Vec<OrderSn>,
    pub more: bool,
    pub next_cursor: String,
}

/// One entry of an order list.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct OrderSn {
    pub order_sn: String,
}

/// `get_return_list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReturnListPage {
    #[serde(rename = "return")]
    pub returns: Vec<ReturnEntry>,
    pub more: bool,
}

/// One return.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReturnEntry {
    pub return_sn: String,
    pub order_sn: String,
    pub status: String,
    pub text_reason: Option<String>,
    pub reason: Option<String>,
    pub refund_amount: Option<f64>,
    pub currency: String,
    pub item: Vec<ReturnItem>,
    pub create_time: i64,
    pub update_time: i64,
    pub due_date: Option<i64>,
}

/// One returned line.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct ReturnItem {
    pub model_id: u64,
    pub amount: Option<u64>,
}

impl ReturnEntry {
    /// The return in the common model.
    pub(super) fn into_return(self) -> Result<Return, Error> {
        let refund = self
            .refund_amount
            .map(|a| money_from_f64(a, &self.currency))
            .transpose()?;
        Ok(Return {
            external_id: self.return_sn,
            external_order_id: self.order_sn,
            raw_status: self.status,
            reason: self.text_reason.or(self.reason),
            refund,
            lines: self
                .item
                .into_iter()
                .map(|i| {
                    (
                        i.model_id.to_string(),
                        i.amount.map_or(1, |a| u32::try_from(a).unwrap_or(u32::MAX)),
                    )
                })
                .collect(),
            create_time: self.create_time,
            update_time: self.update_time,
            due_at: self.due_date.filter(|d| *d > 0),
        })
    }
}

/// `get_escrow_list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EscrowListPage {
    pub escrow_list: Vec<EscrowEntry>,
    pub more: bool,
}

/// One released escrow.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct EscrowEntry {
    pub order_sn: Option<String>,
    pub escrow_release_time: Option<i64>,
}

/// `get_wallet_transaction_list`.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WalletPage {
    pub transaction_list: Vec<WalletTransaction>,
    pub more: bool,
}

/// One wallet transaction.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(super) struct WalletTransaction {
    pub transaction_id: serde_json::Value,
    pub transaction_type: String,
    pub amount: f64,
    pub status: String,
    pub create_time: Option<i64>,
}
