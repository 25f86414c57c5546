//! Orders: every marketplace order of every store in one model, with one state machine across
//! platforms (the connectors' status mapping) and anti-regression on the marketplace's update
//! time: an update older than the stored version is recorded as stale and never applied, the same
//! version twice changes nothing, a newer one is applied once.

use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId};
use chrono::{DateTime, Utc};
use connectors::status::OrderStatus as Normalized;
use entity::enums::{OrderEventSource, OrderStatus};
use sea_orm::{ConnectionTrait, FromQueryResult};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// An order was created or changed status: told to the organization's `orderEvents`
/// subscribers after commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OrderChangeEvent {
    /// Organization.
    pub org_id: Uuid,
    /// Branch (visibility).
    pub branch_id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Order.
    pub order_id: Uuid,
    /// The platform's order id.
    pub external_id: String,
    /// Status before (none: created).
    pub from: Option<OrderStatus>,
    /// Status now.
    pub to: OrderStatus,
    /// The platform's update time.
    pub marketplace_updated_at: DateTime<Utc>,
}

/// The store an order belongs to.
#[derive(Debug, Clone, Copy)]
pub struct OrderStore {
    /// Store.
    pub id: StoreId,
    /// Its branch (the order's visibility).
    pub branch: BranchId,
}

/// Mercato's status of a connector status.
pub fn status(s: Normalized) -> OrderStatus {
    match s {
        Normalized::PendingPayment => OrderStatus::PendingPayment,
        Normalized::OnHold => OrderStatus::OnHold,
        Normalized::AwaitingFulfillment => OrderStatus::AwaitingFulfillment,
        Normalized::PartiallyShipped => OrderStatus::PartiallyShipped,
        Normalized::ReadyToShip => OrderStatus::ReadyToShip,
        Normalized::Shipped => OrderStatus::Shipped,
        Normalized::Delivered => OrderStatus::Delivered,
        Normalized::Completed => OrderStatus::Completed,
        Normalized::CancelRequested => OrderStatus::CancelRequested,
        Normalized::Cancelled => OrderStatus::Cancelled,
        Normalized::Returning => OrderStatus::Returning,
        Normalized::Returned => OrderStatus::Returned,
        Normalized::DeliveryFailed => OrderStatus::DeliveryFailed,
        Normalized::Unknown => OrderStatus::Unknown,
    }
}

/// What applying one order version did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// A new order.
    Created {
        /// The order.
        order: Uuid,
        /// Its status.
        status: OrderStatus,
    },
    /// A newer version replaced the stored one.
    Updated {
        /// The order.
        order: Uuid,
        /// Status before.
        from: OrderStatus,
        /// Status now (the same when only other fields changed).
        to: OrderStatus,
    },
    /// The same version as stored: nothing changed.
    Unchanged {
        /// The order.
        order: Uuid,
    },
    /// Older than the stored version: recorded as a stale event, not applied.
    Stale {
        /// The order.
        order: Uuid,
        /// The stored status, kept.
        kept: OrderStatus,
        /// The refused status.
        refused: OrderStatus,
    },
}

fn at(secs: i64) -> AppResult<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
        .ok_or_else(|| AppError::Upstream(format!("order time {secs} is out of range")))
}

fn text(field: &str, value: &str, max: usize) -> AppResult<String> {
    let v: String = value.chars().filter(|c| !c.is_control()).collect();
    if v.chars().count() > max {
        return Err(AppError::Upstream(format!(
            "order {field} longer than {max} characters"
        )));
    }
    Ok(v)
}

/// `value` without control characters, cut to `max` characters (free text from a platform: a long
/// cancel reason must not refuse the order).
fn clip(value: &str, max: usize) -> String {
    value
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect()
}

/// Applies one version of a marketplace order to the store's orders, in the caller's transaction:
/// creates it, applies it when newer than the stored version, ignores the same version, and
/// records an older one as a stale event without applying it. Every status change (and every
/// refused one) is an `order_events` row.
pub async fn apply(
    c: &Ctx<'_>,
    store: OrderStore,
    order: &connectors::Order,
    source: OrderEventSource,
) -> AppResult<Applied> {
    let external = text("id", order.external_id.trim(), 128)?;
    if external.is_empty() {
        return Err(AppError::Upstream("an order without an id".into()));
    }
    let raw = text("status", &order.raw_status, 200)?;
    let to = status(order.status);
    let updated = at(order.update_time)?;
    let placed = at(order.create_time)?;
    let ship_by = order.ship_by.map(at).transpose()?;
    let currency = order.total.currency_code().to_owned();
    let buyer = order
        .buyer
        .name
        .as_deref()
        .map(|n| text("buyer", n, 200))
        .transpose()?;
    let city = order
        .buyer
        .city
        .as_deref()
        .map(|n| text("city", n, 200))
        .transpose()?;
    let t = &order.terms;
    let by_marketplace = t.fulfilment == connectors::Fulfilment::Marketplace;
    let minor = |m: Option<connectors::Money>| m.map(|m| m.minor);
    // Terms: what the platform stated (None keeps what an earlier version said).
    let terms: Vec<sea_orm::Value> = vec![
        minor(t.subtotal).into(),
        minor(t.seller_discount).into(),
        minor(t.platform_discount).into(),
        minor(t.tax).into(),
        t.cod.then_some(order.total.minor).into(),
        t.payment_method.as_deref().map(|m| clip(m, 100)).into(),
        t.cod.into(),
        if by_marketplace {
            "MARKETPLACE"
        } else {
            "SELLER"
        }
        .into(),
        t.cancel_reason.as_deref().map(|r| clip(r, 500)).into(),
        t.paid_time.map(at).transpose()?.into(),
    ];
    let mut values = vec![
        Uuid::now_v7().into(),
        store.branch.uuid().into(),
        store.id.uuid().into(),
        external.clone().into(),
        to.into(),
        raw.clone().into(),
        updated.into(),
        buyer.clone().into(),
        city.clone().into(),
        currency.into(),
        order.shipping_fee.map(|m| m.minor).into(),
        order.total.minor.into(),
        placed.into(),
        ship_by.into(),
    ];
    values.extend(terms.iter().cloned());
    let inserted = c
        .tx
        .query_one_raw(stmt(
            "INSERT INTO orders (org_id, id, branch_id, store_id, external_id, status, raw_status, \
                                 marketplace_updated_at, buyer_name, ship_city, currency, shipping_fee_minor, \
                                 total_minor, placed_at, ship_by, subtotal_minor, seller_discount_minor, \
                                 platform_discount_minor, tax_minor, cod_amount_minor, payment_method, is_cod, \
                                 fulfilled_by, cancel_reason, paid_at, shipped_at, delivered_at, cancelled_at) \
             VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, \
                     $15, $16, $17, $18, $19, $20, $21, $22, $23, \
                     COALESCE($24, CASE WHEN $5 NOT IN ('PENDING_PAYMENT', 'UNKNOWN') THEN $7 END), \
                     CASE WHEN $5 IN ('SHIPPED', 'DELIVERED', 'COMPLETED') THEN $7 END, \
                     CASE WHEN $5 IN ('DELIVERED', 'COMPLETED') THEN $7 END, \
                     CASE WHEN $5 = 'CANCELLED' THEN $7 END) \
             ON CONFLICT (org_id, store_id, external_id) DO NOTHING RETURNING id",
            values,
        ))
        .await?;
    if let Some(row) = inserted {
        let id: Uuid = row.try_get("", "id")?;
        write_lines(c, id, store.branch, order, None).await?;
        event(c, id, store.branch, None, to, &raw, source, updated, true).await?;
        crate::domain::order_stock::follow(c, id, store.branch, to, true, by_marketplace).await?;
        changed(c, store, id, &external, None, to, updated)?;
        return Ok(Applied::Created {
            order: id,
            status: to,
        });
    }
    #[derive(FromQueryResult)]
    struct Stored {
        id: Uuid,
        status: OrderStatus,
        marketplace_updated_at: DateTime<Utc>,
    }
    let stored = Stored::find_by_statement(stmt(
        "SELECT id, status, marketplace_updated_at FROM orders \
         WHERE store_id = $1 AND external_id = $2 FOR UPDATE",
        vec![store.id.uuid().into(), external.clone().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or_else(|| AppError::internal("an order conflicted on insert and then vanished"))?;
    if updated < stored.marketplace_updated_at {
        event(
            c,
            stored.id,
            store.branch,
            Some(stored.status),
            to,
            &raw,
            source,
            updated,
            false,
        )
        .await?;
        return Ok(Applied::Stale {
            order: stored.id,
            kept: stored.status,
            refused: to,
        });
    }
    if updated == stored.marketplace_updated_at {
        return Ok(Applied::Unchanged { order: stored.id });
    }
    c.tx.execute_raw(stmt(
        "UPDATE orders SET status = $2, raw_status = $3, marketplace_updated_at = $4, version = version + 1, \
                buyer_name = coalesce($5, buyer_name), ship_city = coalesce($6, ship_city), \
                shipping_fee_minor = coalesce($7, shipping_fee_minor), total_minor = $8, \
                ship_by = coalesce($9, ship_by), \
                subtotal_minor = coalesce($10, subtotal_minor), seller_discount_minor = coalesce($11, seller_discount_minor), \
                platform_discount_minor = coalesce($12, platform_discount_minor), tax_minor = coalesce($13, tax_minor), \
                cod_amount_minor = $14, payment_method = coalesce($15, payment_method), is_cod = $16, \
                fulfilled_by = $17, cancel_reason = coalesce($18, cancel_reason), \
                paid_at = coalesce(paid_at, $19, CASE WHEN $2 NOT IN ('PENDING_PAYMENT', 'UNKNOWN') THEN $4 END), \
                shipped_at = coalesce(shipped_at, CASE WHEN $2 IN ('SHIPPED', 'DELIVERED', 'COMPLETED') THEN $4 END), \
                delivered_at = coalesce(delivered_at, CASE WHEN $2 IN ('DELIVERED', 'COMPLETED') THEN $4 END), \
                cancelled_at = coalesce(cancelled_at, CASE WHEN $2 = 'CANCELLED' THEN $4 END), \
                updated_at = now() \
         WHERE id = $1",
        vec![
            stored.id.into(),
            to.into(),
            raw.clone().into(),
            updated.into(),
            buyer.into(),
            city.into(),
            order.shipping_fee.map(|m| m.minor).into(),
            order.total.minor.into(),
            ship_by.into(),
        ]
        .into_iter()
        .chain(terms)
        .collect(),
    ))
    .await?;
    write_lines(c, stored.id, store.branch, order, Some(to)).await?;
    crate::domain::order_stock::follow(c, stored.id, store.branch, to, false, by_marketplace)
        .await?;
    if stored.status != to {
        changed(
            c,
            store,
            stored.id,
            &external,
            Some(stored.status),
            to,
            updated,
        )?;
        event(
            c,
            stored.id,
            store.branch,
            Some(stored.status),
            to,
            &raw,
            source,
            updated,
            true,
        )
        .await?;
    }
    Ok(Applied::Updated {
        order: stored.id,
        from: stored.status,
        to,
    })
}

fn changed(
    c: &Ctx<'_>,
    store: OrderStore,
    order: Uuid,
    external: &str,
    from: Option<OrderStatus>,
    to: OrderStatus,
    at: DateTime<Utc>,
) -> AppResult<()> {
    let org = c.access.org()?.org_id;
    c.effects.publish(
        crate::keys::Topic::Orders(org),
        &OrderChangeEvent {
            org_id: org.uuid(),
            branch_id: store.branch.uuid(),
            store_id: store.id.uuid(),
            order_id: order,
            external_id: external.to_owned(),
            from,
            to,
            marketplace_updated_at: at,
        },
    );
    Ok(())
}

/// Writes the lines of `order` (inserted, or updated in place by their platform item and SKU).
async fn write_lines(
    c: &Ctx<'_>,
    order_id: Uuid,
    branch: BranchId,
    order: &connectors::Order,
    // The new status of an order that already has lines (None: a new order).
    to: Option<OrderStatus>,
) -> AppResult<()> {
    if order.lines.is_empty() {
        return Ok(());
    }
    let mut lines = Vec::with_capacity(order.lines.len());
    for (i, l) in order.lines.iter().enumerate() {
        if l.quantity == 0 || l.quantity > 1_000_000 {
            return Err(AppError::Upstream(format!(
                "order line {} has quantity {}",
                i + 1,
                l.quantity
            )));
        }
        lines.push(serde_json::json!({
            "id": Uuid::now_v7(),
            "line_no": i + 1,
            "item": text("item id", &l.external_item_id, 128)?,
            "sku": text("SKU id", &l.external_sku_id, 128)?,
            "line_ids": l.external_line_ids,
            "seller_sku": l.seller_sku.as_deref().map(|s| text("seller SKU", s.trim(), 200)).transpose()?,
            "name": text("line name", &l.name, 500)?,
            "quantity": l.quantity,
            "price": l.unit_price.minor,
        }));
    }
    let lines = serde_json::Value::Array(lines);
    if let Some(to) = to {
        crate::domain::order_stock::requantify(c, order_id, to, &lines).await?;
    }
    // One alert id per distinct seller SKU, used only if that SKU turns out unlinked (see below).
    let mut skus: Vec<serde_json::Value> = Vec::new();
    let mut seen: Vec<String> = Vec::new();
    for l in &order.lines {
        let Some(sku) = l
            .seller_sku
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        else {
            continue;
        };
        if !seen.contains(&sku.to_lowercase()) {
            seen.push(sku.to_lowercase());
            skus.push(serde_json::json!({ "id": Uuid::now_v7(), "sku": sku }));
        }
    }
    // The lines, and in the same statement an UNLINKED_SKU alert for each seller SKU of a line
    // that names no variant (its stock is not held), unless one is open in the branch.
    let opened = crate::domain::inventory::UnlinkedAlert::find_by_statement(stmt(
        "WITH w AS ( \
           INSERT INTO order_items (org_id, id, order_id, branch_id, line_no, external_item_id, external_sku_id, \
                                    external_line_ids, seller_sku, name, quantity, unit_price_minor, variant_id) \
           SELECT (SELECT app_org_id()), l.id, $1, $2, l.line_no, l.item, l.sku, \
                  ARRAY(SELECT jsonb_array_elements_text(l.line_ids)), l.seller_sku, l.name, l.quantity, l.price, \
                  (SELECT v.id FROM variants v WHERE lower(v.sku) = lower(l.seller_sku) LIMIT 1) \
           FROM jsonb_to_recordset($3) AS l(id uuid, line_no int, item text, sku text, line_ids jsonb, \
                                            seller_sku text, name text, quantity int, price bigint) \
           ON CONFLICT (org_id, order_id, external_item_id, external_sku_id) DO UPDATE SET \
             line_no = EXCLUDED.line_no, external_line_ids = EXCLUDED.external_line_ids, \
             seller_sku = EXCLUDED.seller_sku, name = EXCLUDED.name, quantity = EXCLUDED.quantity, \
             unit_price_minor = EXCLUDED.unit_price_minor, \
             variant_id = coalesce(order_items.variant_id, EXCLUDED.variant_id), updated_at = now() \
           RETURNING seller_sku, variant_id) \
         INSERT INTO stock_alerts (org_id, id, branch_id, kind, seller_sku) \
         SELECT (SELECT app_org_id()), s.id, $2, 'UNLINKED_SKU', s.sku \
         FROM jsonb_to_recordset($4) AS s(id uuid, sku text) \
         WHERE EXISTS (SELECT 1 FROM w WHERE w.variant_id IS NULL AND lower(w.seller_sku) = lower(s.sku)) \
         ON CONFLICT (org_id, branch_id, lower(seller_sku)) WHERE kind = 'UNLINKED_SKU' AND resolved_at IS NULL \
         DO NOTHING RETURNING id, seller_sku",
        vec![
            order_id.into(),
            branch.uuid().into(),
            lines.into(),
            serde_json::Value::Array(skus).into(),
        ],
    ))
    .all(c.tx)
    .await?;
    crate::domain::inventory::unlinked_opened(c, branch, opened)
}

#[allow(clippy::too_many_arguments)]
async fn event(
    c: &Ctx<'_>,
    order: Uuid,
    branch: BranchId,
    from: Option<OrderStatus>,
    to: OrderStatus,
    raw: &str,
    source: OrderEventSource,
    updated: DateTime<Utc>,
    applied: bool,
) -> AppResult<()> {
    c.tx.execute_raw(stmt(
        "INSERT INTO order_events (org_id, id, order_id, branch_id, from_status, to_status, raw_status, \
                                   source, marketplace_updated_at, applied) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            Uuid::now_v7().into(),
            order.into(),
            branch.uuid().into(),
            from.into(),
            to.into(),
            raw.to_owned().into(),
            source.into(),
            updated.into(),
            applied.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// How far back an incremental sync re-reads before its watermark (late writes on the platform).
pub const SYNC_OVERLAP_SECS: i64 = 10 * 60;

/// How far back the first incremental sync of a store reads.
pub const FIRST_SYNC_DAYS: i64 = 30;

/// Where the next incremental ORDERS sync of `store` starts (unix s): its watermark minus the
/// overlap, or 30 days back the first time.
pub async fn sync_from(tx: &impl ConnectionTrait, store: StoreId, now: i64) -> AppResult<i64> {
    let row = tx
        .query_one_raw(stmt(
            "SELECT extract(epoch FROM orders_synced_to)::bigint AS w FROM stores WHERE id = $1",
            vec![store.uuid().into()],
        ))
        .await?
        .ok_or(AppError::NotFound("Store"))?;
    let watermark: Option<i64> = row.try_get("", "w")?;
    Ok(watermark.map_or(now - FIRST_SYNC_DAYS * 86_400, |w| w - SYNC_OVERLAP_SECS))
}

/// Moves the watermark of `store` to `to` (never backwards), in the sync's transaction.
pub async fn advance_watermark(
    tx: &impl ConnectionTrait,
    store: StoreId,
    to: i64,
) -> AppResult<()> {
    tx.execute_raw(stmt(
        "UPDATE stores SET orders_synced_to = greatest(coalesce(orders_synced_to, to_timestamp($2)), to_timestamp($2)) \
         WHERE id = $1",
        vec![store.uuid().into(), to.into()],
    ))
    .await?;
    Ok(())
}

/// What one ORDERS window did (kept with its sync item, so a resumed job reports the whole run).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WindowCounts {
    /// Orders fetched.
    pub fetched: usize,
    /// New.
    pub created: usize,
    /// Updated to a newer version.
    pub updated: usize,
    /// Same version as stored.
    pub unchanged: usize,
    /// Older than stored (recorded, not applied).
    pub stale: usize,
}

impl WindowCounts {
    /// Adds `o` to these counts.
    pub fn add(&mut self, o: &Self) {
        self.fetched += o.fetched;
        self.created += o.created;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.stale += o.stale;
    }

    fn to_message(self) -> String {
        format!(
            "fetched={} created={} updated={} unchanged={} stale={}",
            self.fetched, self.created, self.updated, self.unchanged, self.stale
        )
    }

    fn from_message(m: &str) -> Self {
        let mut c = Self::default();
        for part in m.split_whitespace() {
            let Some((k, v)) = part.split_once('=') else {
                continue;
            };
            let v: usize = v.parse().unwrap_or(0);
            match k {
                "fetched" => c.fetched = v,
                "created" => c.created = v,
                "updated" => c.updated = v,
                "unchanged" => c.unchanged = v,
                "stale" => c.stale = v,
                _ => {}
            }
        }
        c
    }
}

/// The windows (unix s, from..to) of ORDERS run `run` already committed, with their counts.
pub async fn committed_windows(
    tx: &impl ConnectionTrait,
    run: Uuid,
) -> AppResult<Vec<((i64, i64), WindowCounts)>> {
    #[derive(FromQueryResult)]
    struct Item {
        external_key: String,
        message: Option<String>,
    }
    let items = Item::find_by_statement(stmt(
        "SELECT external_key, message FROM sync_items WHERE run_id = $1 AND entity = 'ORDER_WINDOW' ORDER BY id",
        vec![run.into()],
    ))
    .all(tx)
    .await?;
    Ok(items
        .into_iter()
        .filter_map(|i| {
            let (f, t) = i.external_key.split_once("..")?;
            Some((
                (f.parse().ok()?, t.parse().ok()?),
                WindowCounts::from_message(i.message.as_deref().unwrap_or("")),
            ))
        })
        .collect())
}

/// Records window `from..to` of ORDERS run `run` as committed (in the window's transaction).
pub async fn commit_window(
    tx: &impl ConnectionTrait,
    run: Uuid,
    branch: Option<Uuid>,
    (from, to): (i64, i64),
    counts: &WindowCounts,
) -> AppResult<()> {
    tx.execute_raw(stmt(
        "INSERT INTO sync_items (org_id, id, run_id, branch_id, entity, external_key, action, message) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, 'ORDER_WINDOW', $4, 'FETCHED', $5)",
        vec![
            Uuid::now_v7().into(),
            run.into(),
            branch.into(),
            format!("{from}..{to}").into(),
            counts.to_message().into(),
        ],
    ))
    .await?;
    Ok(())
}
