//! Order status normalization. Every order keeps its raw platform status next to the normalized
//! one; the normalized one drives Mercato (stock release, SLA clocks, finance).
//!
//! | normalized | Shopee | TikTok Shop | Lazada (item statuses) | Jumia (UNCONFIRMED enum) |
//! |---|---|---|---|---|
//! | `PendingPayment` | UNPAID | UNPAID | unpaid | – |
//! | `OnHold` | PENDING, INVOICE_PENDING | ON_HOLD | – | – |
//! | `AwaitingFulfillment` | READY_TO_SHIP | AWAITING_SHIPMENT | pending, topack | pending |
//! | `PartiallyShipped` | – | PARTIALLY_SHIPPING | – | – |
//! | `ReadyToShip` | PROCESSED, RETRY_SHIP | AWAITING_COLLECTION | packed, repacked, ready_to_ship, toship | ready_to_ship |
//! | `Shipped` | SHIPPED | IN_TRANSIT | shipped, shipping | shipped |
//! | `Delivered` | TO_CONFIRM_RECEIVE | DELIVERED | delivered | delivered |
//! | `Completed` | COMPLETED | COMPLETED | – | – |
//! | `CancelRequested` | IN_CANCEL | – | – | – |
//! | `Cancelled` | CANCELLED | CANCELLED, CANCEL (webhook spelling) | canceled | canceled |
//! | `Returning` | TO_RETURN | – | shipped_back, shipped_back_failed | return_waiting_for_approval, return_shipped_by_customer |
//! | `Returned` | – | – | returned, shipped_back_success | returned |
//! | `DeliveryFailed` | – | – | failed, failed_delivery, lost, lost_by_3pl, damaged_by_3pl, package_scrapped | failed |
//! | `Unknown` | anything else (kept raw, logged) | … | … | return_rejected and anything else |
//!
//! Lazada has no order-level status: the order takes the least advanced status among its items
//! that are not cancelled (all cancelled → `Cancelled`). Jumia's current Vendor API enum is not
//! public; the legacy Seller Center values above are used until it is confirmed.

/// Normalized order status, ordered by progress for anti-regression checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum OrderStatus {
    /// Not paid yet.
    PendingPayment,
    /// Held by the platform (fraud check, invoice, …).
    OnHold,
    /// Paid; the seller must pack and arrange shipment.
    AwaitingFulfillment,
    /// Some packages shipped, others not yet.
    PartiallyShipped,
    /// Packed and waiting for pickup.
    ReadyToShip,
    /// With the carrier.
    Shipped,
    /// Delivered to the buyer.
    Delivered,
    /// Closed successfully (funds released).
    Completed,
    /// The buyer asked to cancel; the seller must answer.
    CancelRequested,
    /// Cancelled.
    Cancelled,
    /// On its way back to the seller.
    Returning,
    /// Returned.
    Returned,
    /// Delivery failed, lost or damaged.
    DeliveryFailed,
    /// A status this version does not know (the raw value is kept).
    Unknown,
}

/// Shopee `order_status`.
pub fn shopee(raw: &str) -> OrderStatus {
    use OrderStatus::*;
    match raw {
        "UNPAID" => PendingPayment,
        "PENDING" | "INVOICE_PENDING" => OnHold,
        "READY_TO_SHIP" => AwaitingFulfillment,
        "PROCESSED" | "RETRY_SHIP" => ReadyToShip,
        "SHIPPED" => Shipped,
        "TO_CONFIRM_RECEIVE" => Delivered,
        "COMPLETED" => Completed,
        "IN_CANCEL" => CancelRequested,
        "CANCELLED" => Cancelled,
        "TO_RETURN" => Returning,
        _ => Unknown,
    }
}

/// TikTok Shop order `status` (API and webhook spellings).
pub fn tiktok(raw: &str) -> OrderStatus {
    use OrderStatus::*;
    match raw {
        "UNPAID" => PendingPayment,
        "ON_HOLD" => OnHold,
        "AWAITING_SHIPMENT" => AwaitingFulfillment,
        "PARTIALLY_SHIPPING" => PartiallyShipped,
        "AWAITING_COLLECTION" => ReadyToShip,
        "IN_TRANSIT" => Shipped,
        "DELIVERED" => Delivered,
        "COMPLETED" => Completed,
        "CANCELLED" | "CANCEL" => Cancelled,
        _ => Unknown,
    }
}

/// One Lazada order item `status`.
pub fn lazada_item(raw: &str) -> OrderStatus {
    use OrderStatus::*;
    match raw {
        "unpaid" => PendingPayment,
        "pending" | "topack" => AwaitingFulfillment,
        "packed" | "repacked" | "ready_to_ship" | "toship" => ReadyToShip,
        "shipped" | "shipping" => Shipped,
        "delivered" => Delivered,
        "canceled" => Cancelled,
        "shipped_back" | "shipped_back_failed" => Returning,
        "returned" | "shipped_back_success" => Returned,
        "failed" | "failed_delivery" | "lost" | "lost_by_3pl" | "damaged_by_3pl"
        | "package_scrapped" => DeliveryFailed,
        _ => Unknown,
    }
}

/// A Lazada order's status from its item statuses.
pub fn lazada_order(item_statuses: &[&str]) -> OrderStatus {
    let all: Vec<OrderStatus> = item_statuses.iter().map(|s| lazada_item(s)).collect();
    if all.is_empty() {
        return OrderStatus::Unknown;
    }
    all.iter()
        .copied()
        .filter(|s| *s != OrderStatus::Cancelled)
        .min()
        .unwrap_or(OrderStatus::Cancelled)
}

/// Jumia order/item status (legacy Seller Center values; the Vendor API enum is unconfirmed).
pub fn jumia(raw: &str) -> OrderStatus {
    use OrderStatus::*;
    match raw.to_ascii_lowercase().as_str() {
        "pending" => AwaitingFulfillment,
        "ready_to_ship" => ReadyToShip,
        "shipped" => Shipped,
        "delivered" => Delivered,
        "canceled" | "cancelled" => Cancelled,
        "failed" => DeliveryFailed,
        "returned" => Returned,
        "return_waiting_for_approval" | "return_shipped_by_customer" => Returning,
        _ => Unknown,
    }
}

/// A platform line that stands for one unit (TikTok and Lazada send one line per unit).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitLine {
    /// Platform line id.
    pub line_id: String,
    /// Platform SKU id.
    pub sku_id: String,
    /// Seller SKU, when given.
    pub seller_sku: Option<String>,
    /// Unit price in minor units.
    pub unit_price_minor: i64,
}

/// Lines grouped by SKU and unit price, with their quantity and the platform line ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupedLine {
    /// Platform SKU id.
    pub sku_id: String,
    /// Seller SKU, when given.
    pub seller_sku: Option<String>,
    /// Unit price in minor units.
    pub unit_price_minor: i64,
    /// Number of units.
    pub quantity: u32,
    /// The platform's line ids, in their original order.
    pub line_ids: Vec<String>,
}

/// Groups per-unit lines by (SKU, unit price), keeping first-seen order.
pub fn group_units(lines: &[UnitLine]) -> Vec<GroupedLine> {
    let mut out: Vec<GroupedLine> = Vec::new();
    for l in lines {
        match out
            .iter_mut()
            .find(|g| g.sku_id == l.sku_id && g.unit_price_minor == l.unit_price_minor)
        {
            Some(g) => {
                g.quantity += 1;
                g.line_ids.push(l.line_id.clone());
            }
            None => out.push(GroupedLine {
                sku_id: l.sku_id.clone(),
                seller_sku: l.seller_sku.clone(),
                unit_price_minor: l.unit_price_minor,
                quantity: 1,
                line_ids: vec![l.line_id.clone()],
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderStatus::*;

    #[test]
    fn every_documented_shopee_status_is_mapped() {
        let table = [
            ("UNPAID", PendingPayment),
            ("PENDING", OnHold),
            ("INVOICE_PENDING", OnHold),
            ("READY_TO_SHIP", AwaitingFulfillment),
            ("PROCESSED", ReadyToShip),
            ("RETRY_SHIP", ReadyToShip),
            ("SHIPPED", Shipped),
            ("TO_CONFIRM_RECEIVE", Delivered),
            ("COMPLETED", Completed),
            ("IN_CANCEL", CancelRequested),
            ("CANCELLED", Cancelled),
            ("TO_RETURN", Returning),
        ];
        for (raw, want) in table {
            assert_eq!(shopee(raw), want, "{raw}");
        }
        assert_eq!(shopee("SOMETHING_NEW"), Unknown);
        assert_eq!(shopee("unpaid"), Unknown, "Shopee statuses are upper case");
    }

    #[test]
    fn every_documented_tiktok_status_is_mapped() {
        let table = [
            ("UNPAID", PendingPayment),
            ("ON_HOLD", OnHold),
            ("AWAITING_SHIPMENT", AwaitingFulfillment),
            ("PARTIALLY_SHIPPING", PartiallyShipped),
            ("AWAITING_COLLECTION", ReadyToShip),
            ("IN_TRANSIT", Shipped),
            ("DELIVERED", Delivered),
            ("COMPLETED", Completed),
            ("CANCELLED", Cancelled),
            ("CANCEL", Cancelled),
        ];
        for (raw, want) in table {
            assert_eq!(tiktok(raw), want, "{raw}");
        }
        assert_eq!(tiktok("100"), Unknown);
    }

    #[test]
    fn every_documented_lazada_item_status_is_mapped() {
        let documented = [
            "unpaid",
            "pending",
            "packed",
            "canceled",
            "ready_to_ship",
            "delivered",
            "returned",
            "shipped",
            "failed",
            "topack",
            "toship",
            "shipping",
            "lost",
            "lost_by_3pl",
            "damaged_by_3pl",
            "failed_delivery",
            "shipped_back",
            "shipped_back_success",
            "shipped_back_failed",
            "package_scrapped",
            "repacked",
        ];
        for raw in documented {
            assert_ne!(lazada_item(raw), Unknown, "{raw}");
        }
        assert_eq!(
            lazada_order(&["shipped", "pending", "canceled"]),
            AwaitingFulfillment
        );
        assert_eq!(lazada_order(&["canceled", "canceled"]), Cancelled);
        assert_eq!(lazada_order(&["delivered", "delivered"]), Delivered);
        assert_eq!(lazada_order(&[]), Unknown);
    }

    #[test]
    fn every_legacy_jumia_status_is_mapped_except_the_ambiguous_one() {
        for raw in [
            "pending",
            "ready_to_ship",
            "shipped",
            "delivered",
            "canceled",
            "failed",
            "returned",
            "return_waiting_for_approval",
            "return_shipped_by_customer",
        ] {
            assert_ne!(jumia(raw), Unknown, "{raw}");
        }
        assert_eq!(jumia("PENDING"), AwaitingFulfillment);
        assert_eq!(jumia("return_rejected"), Unknown);
    }

    #[test]
    fn progress_order_supports_anti_regression() {
        assert!(PendingPayment < AwaitingFulfillment);
        assert!(ReadyToShip < Shipped && Shipped < Delivered && Delivered < Completed);
    }

    #[test]
    fn per_unit_lines_are_grouped_by_sku_and_price() {
        let l = |id: &str, sku: &str, price: i64| UnitLine {
            line_id: id.into(),
            sku_id: sku.into(),
            seller_sku: Some(format!("S-{sku}")),
            unit_price_minor: price,
        };
        let grouped = group_units(&[
            l("1", "A", 500),
            l("2", "B", 900),
            l("3", "A", 500),
            l("4", "A", 450),
        ]);
        assert_eq!(grouped.len(), 3);
        assert_eq!((grouped[0].sku_id.as_str(), grouped[0].quantity), ("A", 2));
        assert_eq!(grouped[0].line_ids, vec!["1", "3"]);
        assert_eq!((grouped[1].sku_id.as_str(), grouped[1].quantity), ("B", 1));
        assert_eq!(
            (grouped[2].unit_price_minor, grouped[2].quantity),
            (450, 1),
            "a discounted unit stays apart"
        );
        let units: u32 = grouped.iter().map(|g| g.quantity).sum();
        assert_eq!(units, 4);
    }
}
