//! Normalized shapes every platform is translated into, so one order model, one catalog mapping,
//! one returns queue and one fee ledger hold every channel. Raw platform values (status, fee
//! names) are kept next to the normalized ones.

use crate::money::Money;
use crate::status::OrderStatus;
use crate::tokens::{TokenSet, UnixSecs};

/// How a connected store is identified on its platform.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "platform", rename_all = "snake_case")]
pub enum ShopIdentity {
    /// Shopee `shop_id`.
    Shopee {
        /// Shop id (int64).
        shop_id: u64,
        /// Region (`MY`, `ID`, …) from `get_shop_info`; decides the currency.
        region: String,
    },
    /// TikTok Shop: `shop_id` (as in webhooks) and the `cipher` sent as `shop_cipher`.
    Tiktok {
        /// `shops[].id`.
        shop_id: String,
        /// `shops[].cipher`.
        cipher: String,
        /// Region code.
        region: String,
    },
    /// Lazada `seller_id` and country.
    Lazada {
        /// `country_user_info[].seller_id`.
        seller_id: String,
        /// Country code (sg, my, th, vn, ph, id, cb).
        country: String,
    },
    /// Jumia master shop id (uuid).
    Jumia {
        /// `shops[].id`.
        shop_id: String,
    },
    /// A store fed by files (Kilimall).
    File {
        /// A label for the store.
        label: String,
    },
}

/// The result of connecting a store: its tokens and who it is.
#[derive(Debug, Clone)]
pub struct Grant {
    /// Tokens to store encrypted.
    pub tokens: TokenSet,
    /// The shop the tokens are for.
    pub shop: ShopIdentity,
    /// The seller's display name, when the platform returns one.
    pub shop_name: Option<String>,
}

/// What came back to the redirect URL after the seller approved.
#[derive(Debug, Clone, Default)]
pub struct AuthCallback {
    /// The authorization code.
    pub code: String,
    /// The `state` echoed back (compare it with the one you issued before exchanging).
    pub state: Option<String>,
    /// Shopee: `shop_id` of the redirect.
    pub shop_id: Option<String>,
}

/// A half-open time window `[from, to)` in unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// Inclusive start.
    pub from: UnixSecs,
    /// Exclusive end.
    pub to: UnixSecs,
}

/// An order id found while listing a window, with the platform's update time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderRef {
    /// Platform order id (Shopee `order_sn`, TikTok `id`, Lazada `order_id`, Jumia `id`).
    pub external_id: String,
    /// Last update time when the listing says (used for anti-regression).
    pub update_time: Option<UnixSecs>,
}

/// The buyer, as far as the platform discloses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Buyer {
    /// Display or user name.
    pub name: Option<String>,
    /// Platform user id.
    pub external_id: Option<String>,
    /// Phone, usually masked.
    pub phone: Option<String>,
    /// City or region of the shipping address.
    pub city: Option<String>,
}

/// One order line, quantity-grouped (TikTok and Lazada send one line per unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderLine {
    /// Platform item/product id.
    pub external_item_id: String,
    /// Platform model/SKU id (`"0"` for a Shopee item without variations).
    pub external_sku_id: String,
    /// Seller SKU, the key to the master catalog.
    pub seller_sku: Option<String>,
    /// Product name as sold.
    pub name: String,
    /// Units.
    pub quantity: u32,
    /// Price of one unit after item discounts.
    pub unit_price: Money,
    /// The platform's line ids (one per unit on TikTok and Lazada).
    pub external_line_ids: Vec<String>,
}

/// An order in Mercato's model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Order {
    /// Platform order id.
    pub external_id: String,
    /// Normalized status.
    pub status: OrderStatus,
    /// The platform's status, verbatim (Lazada: item statuses joined with `,`).
    pub raw_status: String,
    /// Buyer.
    pub buyer: Buyer,
    /// What the buyer paid (items + shipping − platform discounts), when the platform says.
    pub total: Money,
    /// Shipping the buyer paid.
    pub shipping_fee: Option<Money>,
    /// Lines.
    pub lines: Vec<OrderLine>,
    /// Created.
    pub create_time: UnixSecs,
    /// Last update on the platform: a stored order is only overwritten by a newer one.
    pub update_time: UnixSecs,
    /// Deadline to hand over to the carrier, when the platform gives one.
    pub ship_by: Option<UnixSecs>,
    /// Amounts, payment and fulfilment, as far as the platform states them.
    pub terms: OrderTerms,
}

/// Who hands an order's parcels to the carrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fulfilment {
    /// The seller, from their own stock.
    #[default]
    Seller,
    /// The marketplace, from its own warehouse (Fulfilled by Shopee / by TikTok): the seller's
    /// stock does not move.
    Marketplace,
}

/// The money and payment terms of an order. `None` means the platform does not state it in
/// the order (Shopee keeps the discount split in the escrow detail, Jumia gives the total only).
/// When stated: `total = subtotal − seller_discount − platform_discount + shipping_fee + tax`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OrderTerms {
    /// Items at their selling prices, before order-level discounts.
    pub subtotal: Option<Money>,
    /// Discounts and vouchers the seller funds.
    pub seller_discount: Option<Money>,
    /// Discounts and vouchers the platform funds.
    pub platform_discount: Option<Money>,
    /// Tax charged to the buyer on top of the prices.
    pub tax: Option<Money>,
    /// The platform's payment method, verbatim.
    pub payment_method: Option<String>,
    /// Cash on delivery: the carrier collects the total.
    pub cod: bool,
    /// Who fulfils it.
    pub fulfilment: Fulfilment,
    /// Paid, when the platform says.
    pub paid_time: Option<UnixSecs>,
    /// Why it was cancelled, when it was.
    pub cancel_reason: Option<String>,
}

/// A platform product with its sellable SKUs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// Platform item/product id.
    pub external_id: String,
    /// Title.
    pub name: String,
    /// Platform status, verbatim.
    pub raw_status: String,
    /// SKUs (Shopee models; one SKU with id `"0"` for an item without models).
    pub skus: Vec<Sku>,
}

/// One sellable SKU of a product.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sku {
    /// Platform SKU/model id.
    pub external_id: String,
    /// Seller SKU.
    pub seller_sku: Option<String>,
    /// Current price.
    pub price: Option<Money>,
    /// Stock the platform shows as sellable.
    pub stock: Option<i64>,
    /// The platform warehouse/location the stock is held at, when the platform names one
    /// (Shopee `seller_stock[].location_id`, TikTok `inventory[].warehouse_id`); stock updates
    /// name it back.
    pub location: Option<String>,
}

/// Set the sellable quantity of one SKU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockUpdate {
    /// Platform item/product id (Shopee, TikTok, Lazada need it).
    pub external_item_id: String,
    /// Platform SKU/model id.
    pub external_sku_id: String,
    /// Seller SKU (Lazada, Jumia).
    pub seller_sku: Option<String>,
    /// Platform warehouse/location, when the platform has several.
    pub location: Option<String>,
    /// New sellable quantity.
    pub quantity: i64,
}

/// Splits stock updates into the platform's calls: grouped by item first when `per_item` (one
/// call updates one item's SKUs on Shopee and TikTok), then at most `size` per call, keeping the
/// order in which items and SKUs first appear. [`crate::Connector::update_stock`] given one of these
/// groups makes exactly one call.
pub fn stock_groups(updates: &[StockUpdate], per_item: bool, size: usize) -> Vec<Vec<StockUpdate>> {
    let size = size.max(1);
    let mut items: Vec<(&str, Vec<StockUpdate>)> = Vec::new();
    for u in updates {
        let key = if per_item {
            u.external_item_id.as_str()
        } else {
            ""
        };
        match items.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push(u.clone()),
            None => items.push((key, vec![u.clone()])),
        }
    }
    items
        .into_iter()
        .flat_map(|(_, v)| {
            v.chunks(size)
                .map(<[StockUpdate]>::to_vec)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// What happened to one [`StockUpdate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StockOutcome {
    /// Platform SKU id.
    pub external_sku_id: String,
    /// `None` when accepted; the platform's reason otherwise.
    pub error: Option<String>,
}

/// A return/refund request with the platform's deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Return {
    /// Platform return id.
    pub external_id: String,
    /// The order it belongs to.
    pub external_order_id: String,
    /// Platform status, verbatim.
    pub raw_status: String,
    /// Why, as the buyer said.
    pub reason: Option<String>,
    /// Amount to refund.
    pub refund: Option<Money>,
    /// Returned lines: (SKU id, quantity).
    pub lines: Vec<(String, u32)>,
    /// Created.
    pub create_time: UnixSecs,
    /// Updated.
    pub update_time: UnixSecs,
    /// When the seller must act by, when the platform says (Shopee `due_date`).
    pub due_at: Option<UnixSecs>,
}

/// Normalized fee/settlement line types, shared by every platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FeeType {
    /// Item revenue credited to the seller (before fees).
    ItemRevenue,
    /// Platform commission.
    Commission,
    /// Service / programme fees.
    ServiceFee,
    /// Payment / transaction fee.
    TransactionFee,
    /// Shipping charged or credited (buyer-paid shipping is positive, carrier cost negative).
    Shipping,
    /// Platform shipping subsidy / rebate.
    ShippingSubsidy,
    /// Seller-funded voucher or discount.
    VoucherSeller,
    /// Platform-funded voucher or discount credited to the seller.
    VoucherPlatform,
    /// Tax withheld.
    Tax,
    /// Adjustments, refunds and reversals.
    Adjustment,
    /// Penalties.
    Penalty,
    /// Money paid out to the seller's bank.
    Payout,
}

/// One line of a settlement: a signed amount (credit +, debit −) of a normalized type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeeLine {
    /// Normalized type.
    pub fee_type: FeeType,
    /// The platform's own name for it.
    pub raw_type: String,
    /// Signed amount.
    pub amount: Money,
}

/// What the platform settled for one order (or one statement line group).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settlement {
    /// The order it settles, when per order.
    pub external_order_id: Option<String>,
    /// The platform's statement/escrow reference.
    pub reference: String,
    /// The amount the platform says it pays for it; equals the sum of `lines`.
    pub settlement_amount: Money,
    /// The lines.
    pub lines: Vec<FeeLine>,
    /// When it was settled/released.
    pub settled_at: Option<UnixSecs>,
}

impl Settlement {
    /// Sum of the lines in minor units.
    pub fn lines_total(&self) -> i64 {
        self.lines.iter().map(|l| l.amount.minor).sum()
    }
}

/// A payout to the seller's bank account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Payout {
    /// Platform payout/statement id.
    pub external_id: String,
    /// Amount paid.
    pub amount: Money,
    /// Paid time when paid.
    pub paid_at: Option<UnixSecs>,
    /// Platform status, verbatim.
    pub raw_status: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(item: &str, sku: &str) -> StockUpdate {
        StockUpdate {
            external_item_id: item.into(),
            external_sku_id: sku.into(),
            seller_sku: None,
            location: None,
            quantity: 1,
        }
    }

    fn ids(groups: &[Vec<StockUpdate>]) -> Vec<Vec<String>> {
        groups
            .iter()
            .map(|g| g.iter().map(|u| u.external_sku_id.clone()).collect())
            .collect()
    }

    #[test]
    fn stock_groups_split_per_item_then_by_size_keeping_first_appearance_order() {
        let list = [u("A", "a1"), u("B", "b1"), u("A", "a2"), u("A", "a3")];
        assert_eq!(
            ids(&stock_groups(&list, true, 2)),
            vec![vec!["a1", "a2"], vec!["a3"], vec!["b1"]]
        );
        assert_eq!(
            ids(&stock_groups(&list, false, 3)),
            vec![vec!["a1", "b1", "a2"], vec!["a3"]]
        );
        assert!(stock_groups(&[], true, 50).is_empty());
        // A size of 0 is taken as 1 rather than looping or panicking.
        assert_eq!(stock_groups(&list[..2], false, 0).len(), 2);
    }
}
