//! The simulated shop: a seeded, deterministic catalog and order stream whose orders move through
//! realistic statuses as time passes, with fees, returns and weekly payouts derived from them.

use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};

/// Where an order is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Placed, not paid.
    Unpaid,
    /// Paid, to pack.
    Paid,
    /// Packed, waiting for pickup.
    ReadyToShip,
    /// With the carrier.
    Shipped,
    /// Delivered.
    Delivered,
    /// Closed, funds released.
    Completed,
    /// Cancelled.
    Cancelled,
    /// Returned by the buyer.
    Returned,
}

/// How an order's life ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// Runs to completion.
    Completes,
    /// Cancelled half an hour after being placed.
    Cancelled,
    /// Returned five days after being placed.
    Returned,
}

/// One SKU.
#[derive(Debug, Clone)]
pub struct SimSku {
    /// Platform item/product id.
    pub item_id: u64,
    /// Platform SKU/model id.
    pub sku_id: u64,
    /// Seller SKU.
    pub seller_sku: String,
    /// Product name.
    pub name: String,
    /// Unit price in minor units.
    pub price: i64,
    /// Sellable stock (stock updates change it).
    pub stock: i64,
    /// Warehouse/location id.
    pub warehouse: String,
}

/// One accepted stock update, as the shop recorded it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StockWrite {
    /// Index into [`World::skus`].
    pub sku: usize,
    /// The quantity set.
    pub quantity: i64,
    /// When it was accepted (wall clock, unix ms).
    pub at_ms: i64,
}

/// One order.
#[derive(Debug, Clone)]
pub struct SimOrder {
    /// Platform order id.
    pub id: String,
    /// Created (unix s).
    pub created: i64,
    /// Lines: (index into `skus`, quantity).
    pub lines: Vec<(usize, u32)>,
    /// Shipping the buyer paid, minor units.
    pub shipping: i64,
    /// Buyer name.
    pub buyer: String,
    /// How it ends.
    pub fate: Fate,
    /// Placed by a simulated buyer against the listing's stock ([`World::place`]), not generated:
    /// always shipped by the seller, never cash on delivery.
    pub placed: bool,
}

/// An order's money and payment terms (see [`World::amounts`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Amounts {
    /// Items at their prices.
    pub items: i64,
    /// Seller-funded voucher.
    pub seller_discount: i64,
    /// Platform-funded voucher.
    pub platform_discount: i64,
    /// Shipping the buyer paid.
    pub shipping: i64,
    /// Cash on delivery.
    pub cod: bool,
    /// Fulfilled by the marketplace.
    pub by_marketplace: bool,
}

impl Amounts {
    /// What the buyer pays.
    pub fn total(&self) -> i64 {
        self.items - self.seller_discount - self.platform_discount + self.shipping
    }
}

/// The reason a cancelled order carries.
pub const CANCEL_REASON: &str = "Buyer changed their mind";

/// Offsets of each stage from creation, seconds.
const PAID: i64 = 600;
const READY: i64 = 7_200;
const SHIPPED: i64 = 86_400;
const DELIVERED: i64 = 3 * 86_400;
const COMPLETED: i64 = 7 * 86_400;
const CANCELLED: i64 = 1_800;
const RETURNED: i64 = 5 * 86_400;

impl SimOrder {
    /// The stage at `now` and when it was entered (the order's `update_time`).
    pub fn stage_at(&self, now: i64) -> (Stage, i64) {
        let age = now - self.created;
        let path: &[(i64, Stage)] = match self.fate {
            Fate::Completes => &[
                (0, Stage::Unpaid),
                (PAID, Stage::Paid),
                (READY, Stage::ReadyToShip),
                (SHIPPED, Stage::Shipped),
                (DELIVERED, Stage::Delivered),
                (COMPLETED, Stage::Completed),
            ],
            Fate::Cancelled => &[
                (0, Stage::Unpaid),
                (PAID, Stage::Paid),
                (CANCELLED, Stage::Cancelled),
            ],
            Fate::Returned => &[
                (0, Stage::Unpaid),
                (PAID, Stage::Paid),
                (READY, Stage::ReadyToShip),
                (SHIPPED, Stage::Shipped),
                (DELIVERED, Stage::Delivered),
                (RETURNED, Stage::Returned),
            ],
        };
        let mut current = path[0];
        for step in path {
            if step.0 <= age {
                current = *step;
            }
        }
        (current.1, self.created + current.0)
    }

    /// Visible at `now` (created already).
    pub fn exists_at(&self, now: i64) -> bool {
        self.created <= now
    }

    /// When the funds were released, if they were by `now`.
    pub fn settled_at(&self, now: i64) -> Option<i64> {
        (self.fate == Fate::Completes && now - self.created >= COMPLETED)
            .then_some(self.created + COMPLETED)
    }

    /// When the return was opened and its seller deadline, if returned by `now`.
    pub fn returned_at(&self, now: i64) -> Option<(i64, i64)> {
        (self.fate == Fate::Returned && now - self.created >= RETURNED).then_some((
            self.created + RETURNED,
            self.created + RETURNED + 3 * 86_400,
        ))
    }
}

/// The fee breakdown of a settled order (minor units, positive numbers; signs are applied by
/// each platform's format).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fees {
    /// Item revenue.
    pub items: i64,
    /// Seller voucher.
    pub voucher_seller: i64,
    /// Shipping the buyer paid.
    pub buyer_shipping: i64,
    /// What the carrier charged.
    pub actual_shipping: i64,
    /// Platform shipping rebate.
    pub shipping_rebate: i64,
    /// Commission.
    pub commission: i64,
    /// Service fee.
    pub service: i64,
    /// Transaction fee.
    pub transaction: i64,
}

impl Fees {
    /// What the seller receives.
    pub fn settlement(&self) -> i64 {
        self.items - self.voucher_seller + self.buyer_shipping - self.actual_shipping
            + self.shipping_rebate
            - self.commission
            - self.service
            - self.transaction
    }
}

/// One simulated shop.
#[derive(Debug, Clone)]
pub struct World {
    /// SKUs.
    pub skus: Vec<SimSku>,
    /// Orders, by creation time.
    pub orders: Vec<SimOrder>,
    /// ISO currency.
    pub currency: &'static str,
    /// Every stock update accepted, oldest first.
    pub stock_writes: Vec<StockWrite>,
    /// Order id → index in `orders` (detail look-ups stay O(1) in 100,000-order worlds).
    by_id: std::collections::HashMap<String, usize>,
}

fn round_div(a: i64, num: i64, den: i64) -> i64 {
    (a * num + den / 2) / den
}

impl World {
    /// A shop generated from `seed`: `products` products with 1–3 SKUs each and `orders` orders
    /// created over the 30 days before `epoch` (and a few after it, which appear as time passes).
    /// `unit` is the price scale (100 for two-decimal currencies, 1 for IDR).
    pub fn generate(
        seed: u64,
        epoch: i64,
        products: usize,
        orders: usize,
        currency: &'static str,
        unit: i64,
    ) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut skus = Vec::new();
        for p in 0..products {
            let item_id = 100_000 + (seed % 1000) * 10_000 + p as u64;
            let variants = rng.random_range(1..=3);
            let base = rng.random_range(5..=120) * unit * if unit == 1 { 1000 } else { 1 };
            for v in 0..variants {
                let cents = if unit == 1 {
                    0
                } else {
                    [0, 50, 90, 99][rng.random_range(0..4)]
                };
                skus.push(SimSku {
                    item_id,
                    sku_id: item_id * 10 + v as u64,
                    seller_sku: format!("SKU-{p:03}-{v}"),
                    name: format!("Product {p}"),
                    price: base + v as i64 * unit * 2 + cents,
                    stock: rng.random_range(0..=200),
                    warehouse: "WH-1".into(),
                });
            }
        }
        let span = 30 * 86_400;
        let mut list = Vec::with_capacity(orders);
        for i in 0..orders {
            // Most in the past 30 days, the last 5% in the next two hours.
            let created = if i * 20 < orders * 19 {
                epoch - span
                    + (i as i64 * span) / (orders as i64 * 19 / 20).max(1)
                    + rng.random_range(0..300)
            } else {
                epoch + rng.random_range(60..7_200)
            };
            let n_lines = rng.random_range(1..=3);
            let mut lines: Vec<(usize, u32)> = Vec::new();
            for _ in 0..n_lines {
                let sku = rng.random_range(0..skus.len().max(1));
                if !lines.iter().any(|(s, _)| *s == sku) {
                    lines.push((sku, rng.random_range(1..=3)));
                }
            }
            let roll = rng.random_range(0..100);
            let fate = match roll {
                0..=79 => Fate::Completes,
                80..=91 => Fate::Cancelled,
                _ => Fate::Returned,
            };
            list.push(SimOrder {
                id: format!("{}{:06}", 24_000_000 + seed % 1000, i),
                created,
                lines,
                shipping: rng.random_range(3..=12) * unit * if unit == 1 { 1000 } else { 1 },
                buyer: format!("buyer{}", rng.random_range(1000..9999)),
                fate,
                placed: false,
            });
        }
        list.sort_by_key(|o| o.created);
        let by_id = list
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        Self {
            skus,
            orders: list,
            currency,
            stock_writes: Vec::new(),
            by_id,
        }
    }

    /// Sets the sellable stock of SKU `i` as a stock update does, and records the write.
    pub(crate) fn set_stock(&mut self, i: usize, quantity: i64) {
        if let Some(s) = self.skus.get_mut(i) {
            s.stock = quantity;
            self.stock_writes.push(StockWrite {
                sku: i,
                quantity,
                at_ms: chrono::Utc::now().timestamp_millis(),
            });
        }
    }

    /// A buyer orders `quantity` of SKU `i` at `now`, as a checkout does: refused (`None`) when
    /// the listing shows less than that, otherwise the sellable stock drops at once (the platform
    /// holds it for the order from placement, paid or not) and the new order, unpaid, is returned
    /// (its id is `id`). The sale is not a stock update: [`World::stock_writes`] is unchanged.
    pub(crate) fn place(
        &mut self,
        i: usize,
        quantity: u32,
        now: i64,
        id: String,
    ) -> Option<String> {
        let sku = self.skus.get_mut(i)?;
        if sku.stock < i64::from(quantity) {
            return None;
        }
        sku.stock -= i64::from(quantity);
        self.by_id.insert(id.clone(), self.orders.len());
        self.orders.push(SimOrder {
            id: id.clone(),
            created: now,
            lines: vec![(i, quantity)],
            shipping: 0,
            buyer: format!("buyer{}", self.orders.len()),
            fate: Fate::Completes,
            placed: true,
        });
        Some(id)
    }

    /// The index of the SKU with platform SKU id `sku_id`.
    pub fn sku_index(&self, sku_id: u64) -> Option<usize> {
        self.skus.iter().position(|s| s.sku_id == sku_id)
    }

    /// Rebuilds the id index after order ids were changed (Jumia's are UUIDs).
    pub(crate) fn reindex(&mut self) {
        self.by_id = self
            .orders
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
    }

    /// Item total of an order.
    pub fn items_total(&self, o: &SimOrder) -> i64 {
        o.lines
            .iter()
            .map(|(s, q)| self.skus[*s].price * i64::from(*q))
            .sum()
    }

    /// What the buyer pays for an order and how. Derived from its creation time, so the random
    /// sequence that builds the world (and every figure other tests rely on) is unchanged.
    pub fn amounts(&self, o: &SimOrder) -> Amounts {
        let items = self.items_total(o);
        Amounts {
            items,
            seller_discount: self.fees(o).voucher_seller,
            platform_discount: if o.created % 4 == 0 {
                round_div(items, 5, 100)
            } else {
                0
            },
            shipping: o.shipping,
            cod: !o.placed && o.created % 3 == 0,
            by_marketplace: !o.placed && o.created % 10 == 7,
        }
    }

    /// When the order was paid, if it was by `now`.
    pub fn paid_at(&self, o: &SimOrder, now: i64) -> Option<i64> {
        let (stage, _) = o.stage_at(now);
        (!matches!(stage, Stage::Unpaid)).then_some(o.created + PAID)
    }

    /// The fee breakdown of an order.
    pub fn fees(&self, o: &SimOrder) -> Fees {
        let items = self.items_total(o);
        Fees {
            items,
            voucher_seller: if o.lines.len() > 1 {
                round_div(items, 3, 100)
            } else {
                0
            },
            buyer_shipping: o.shipping,
            actual_shipping: o.shipping + round_div(o.shipping, 1, 4),
            shipping_rebate: round_div(o.shipping, 1, 5),
            commission: round_div(items, 5, 100),
            service: round_div(items, 2, 100),
            transaction: round_div(items + o.shipping, 2, 100),
        }
    }

    /// Orders updated within `[from, to)` at `now`, by update time.
    pub fn updated_between(&self, from: i64, to: i64, now: i64) -> Vec<(usize, i64)> {
        let mut v: Vec<(usize, i64)> = self
            .orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.exists_at(now))
            .map(|(i, o)| (i, o.stage_at(now).1))
            .filter(|(_, u)| (from..to).contains(u))
            .collect();
        v.sort_by_key(|(i, u)| (*u, *i));
        v
    }

    /// The order with id `id`.
    pub fn order(&self, id: &str) -> Option<&SimOrder> {
        self.by_id.get(id).map(|&i| &self.orders[i])
    }

    /// Weekly payouts (Mondays 00:00 UTC) of the settlements released in the week before, up to
    /// `now`: (id, paid at, amount).
    pub fn payouts(&self, now: i64) -> Vec<(String, i64, i64)> {
        let week = 7 * 86_400;
        // 1970-01-05 was a Monday.
        let monday0 = 4 * 86_400;
        let mut out = Vec::new();
        let Some(first) = self.orders.first() else {
            return out;
        };
        let mut start = monday0 + ((first.created - monday0).div_euclid(week)) * week;
        while start + week <= now {
            let end = start + week;
            let amount: i64 = self
                .orders
                .iter()
                .filter_map(|o| {
                    o.settled_at(now)
                        .filter(|t| (start..end).contains(t))
                        .map(|_| self.fees(o).settlement())
                })
                .sum();
            if amount > 0 {
                out.push((format!("PO{end}"), end, amount));
            }
            start = end;
        }
        out
    }
}

/// Minor units as a decimal string for a currency with `exp` decimals.
pub fn decimal(minor: i64, exp: u32) -> String {
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10i64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let a = minor.abs();
    format!(
        "{sign}{}.{:0width$}",
        a / scale,
        a % scale,
        width = exp as usize
    )
}

/// Minor units as a JSON float (Shopee).
pub fn float(minor: i64, exp: u32) -> f64 {
    decimal(minor, exp).parse().unwrap_or(0.0)
}
