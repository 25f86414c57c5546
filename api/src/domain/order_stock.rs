//! Stock that follows orders, in the transaction that applies the order's new version, once per
//! line and transition (`order_items.stock` records where each line stands, and every change is a
//! conditional update of it, so a re-sync, a duplicated page or a retried job moves nothing twice):
//!
//! - a new order not yet shipped (unpaid, awaiting fulfilment, ready to ship, on hold, cancel
//!   requested, partially shipped) allocates each linked line: an ORDER_LINE reservation at the
//!   best location of the store's branch (bundles through their components). Unpaid orders hold
//!   too: the marketplace takes the units off the listing at checkout, before payment, so a push
//!   that ignored them would hand those units back to the platform and let them sell twice. When
//!   no location has enough, the line is SHORT (nothing held) and allocation is tried again on
//!   the next version; an unpaid order that expires arrives cancelled and releases what it held;
//! - shipped (or delivered, completed) commits the reservation: a SHIP movement;
//! - cancelled before shipping releases it;
//! - returned after shipping puts the units back on hand: a RETURN movement.
//!
//! Orders first seen already shipped, delivered, completed, cancelled or returned (a backfill of
//! history) move no stock: the seller's counts already include them. Orders fulfilled by the
//! marketplace hold nothing here either. A line whose SKU matches no variant is kept unlinked (no
//! stock) and linked when a variant with its SKU appears ([`link_unlinked`]).

use crate::domain::inventory::{self, Reserve};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId, ReservationId, VariantId};
use entity::enums::{LineStock, OrderStatus};
use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
use uuid::Uuid;

/// What an order's status asks of its lines' stock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A status Mercato cannot place: nothing.
    Nothing,
    /// Placed (paid or not), to be shipped: held.
    Held,
    /// Left the warehouse.
    Shipped,
    /// Cancelled.
    Cancelled,
    /// Back from the buyer.
    Returned,
}

fn want(s: OrderStatus) -> Want {
    match s {
        OrderStatus::Unknown => Want::Nothing,
        OrderStatus::PendingPayment
        | OrderStatus::OnHold
        | OrderStatus::AwaitingFulfillment
        | OrderStatus::ReadyToShip
        | OrderStatus::PartiallyShipped
        | OrderStatus::CancelRequested => Want::Held,
        OrderStatus::Shipped
        | OrderStatus::Delivered
        | OrderStatus::Completed
        | OrderStatus::Returning
        | OrderStatus::DeliveryFailed => Want::Shipped,
        OrderStatus::Cancelled => Want::Cancelled,
        OrderStatus::Returned => Want::Returned,
    }
}

#[derive(Debug, FromQueryResult)]
struct Line {
    id: Uuid,
    variant_id: Option<Uuid>,
    quantity: i32,
    stock: LineStock,
    reservation_id: Option<Uuid>,
    location_id: Option<Uuid>,
}

/// Moves the stock of `order`'s lines to what its status `to` asks, in the caller's transaction.
/// `first` says the order is new (an order first seen past payment moves nothing for what came
/// before). Returns how many lines changed stock state.
pub async fn follow(
    c: &Ctx<'_>,
    order: Uuid,
    branch: BranchId,
    to: OrderStatus,
    first: bool,
    by_marketplace: bool,
) -> AppResult<usize> {
    let w = want(to);
    if by_marketplace || (first && w != Want::Held) || w == Want::Nothing {
        return Ok(0);
    }
    let lines = Line::find_by_statement(stmt(
        "SELECT id, variant_id, quantity, stock, reservation_id, location_id FROM order_items \
         WHERE order_id = $1 ORDER BY line_no FOR UPDATE",
        vec![order.into()],
    ))
    .all(c.tx)
    .await?;
    let mut changed = 0;
    for l in lines {
        if line(c, &l, branch, w).await? {
            changed += 1;
        }
    }
    Ok(changed)
}

/// One line's transition; `true` when its stock state changed.
async fn line(c: &Ctx<'_>, l: &Line, branch: BranchId, w: Want) -> AppResult<bool> {
    let Some(variant) = l.variant_id.map(VariantId) else {
        return Ok(false);
    };
    let reservation = l.reservation_id.map(ReservationId);
    match (w, l.stock) {
        (Want::Held, LineStock::None | LineStock::Short) => allocate(c, l, variant, branch).await,
        // Paid and shipped before stock could be held: nothing to ship from here.
        (Want::Shipped, LineStock::Allocated) => {
            let r = reservation
                .ok_or_else(|| AppError::internal("an allocated line without its reservation"))?;
            inventory::commit(c, r).await?;
            set(c, l.id, LineStock::Allocated, LineStock::Shipped).await
        }
        (Want::Cancelled | Want::Returned, LineStock::Allocated) => {
            let r = reservation
                .ok_or_else(|| AppError::internal("an allocated line without its reservation"))?;
            inventory::release(c, r).await?;
            set(c, l.id, LineStock::Allocated, LineStock::Released).await
        }
        (Want::Cancelled | Want::Returned, LineStock::Short) => {
            set(c, l.id, LineStock::Short, LineStock::Released).await
        }
        (Want::Returned, LineStock::Shipped) => {
            let at = l
                .location_id
                .map(LocationId)
                .ok_or_else(|| AppError::internal("a shipped line without its location"))?;
            inventory::restock_return(c, variant, at, i64::from(l.quantity), l.id).await?;
            set(c, l.id, LineStock::Shipped, LineStock::Returned).await
        }
        _ => Ok(false),
    }
}

/// Holds the line at the first location of the branch that has enough (each try in a savepoint,
/// so a refused one leaves nothing); SHORT when none has.
async fn allocate(c: &Ctx<'_>, l: &Line, variant: VariantId, branch: BranchId) -> AppResult<bool> {
    for location in inventory::locations_for(c, variant, branch).await? {
        let sp = c.tx.begin().await?;
        let inner = Ctx { tx: &sp, ..*c };
        let r = inventory::reserve(
            &inner,
            Reserve {
                variant_id: variant,
                location_id: location,
                quantity: i64::from(l.quantity),
                reference_type: "ORDER_LINE".into(),
                reference_id: l.id.to_string(),
                expires_at: None,
                idempotency_key: None,
            },
        )
        .await;
        match r {
            Ok(r) => {
                sp.commit().await?;
                c.tx.execute_raw(stmt(
                    "UPDATE order_items SET stock = 'ALLOCATED', reservation_id = $2, location_id = $3, \
                            updated_at = now() WHERE id = $1 AND stock IN ('NONE', 'SHORT')",
                    vec![l.id.into(), r.id.uuid().into(), location.uuid().into()],
                ))
                .await?;
                return Ok(true);
            }
            Err(AppError::InsufficientStock(_) | AppError::NotFound(_)) => sp.rollback().await?,
            Err(e) => return Err(e),
        }
    }
    if l.stock == LineStock::Short {
        return Ok(false);
    }
    set(c, l.id, l.stock, LineStock::Short).await
}

async fn set(c: &Ctx<'_>, line: Uuid, from: LineStock, to: LineStock) -> AppResult<bool> {
    let n =
        c.tx.execute_raw(stmt(
            "UPDATE order_items SET stock = $3, updated_at = now() WHERE id = $1 AND stock = $2",
            vec![line.into(), from.into(), to.into()],
        ))
        .await?
        .rows_affected();
    Ok(n == 1)
}

/// Before a new version's lines are written: an ALLOCATED line whose quantity changes (a partial
/// cancellation, an edited order) while the order still wants its stock held gives its
/// reservation back and returns to NONE, so [`follow`] holds the new quantity in the same
/// transaction. `changes` are (external item id, external SKU id, new quantity). Once the order
/// ships, the reservation's quantity is what ships (a quantity edited at that point is kept as
/// the marketplace reports it, but stock moves as it was held).
pub(crate) async fn requantify(
    c: &Ctx<'_>,
    order: Uuid,
    to: OrderStatus,
    changes: &serde_json::Value,
) -> AppResult<()> {
    #[derive(FromQueryResult)]
    struct Reset {
        reservation_id: Option<Uuid>,
    }
    if want(to) != Want::Held {
        return Ok(());
    }
    let reset = Reset::find_by_statement(stmt(
        "WITH old AS ( \
           SELECT i.id, i.reservation_id FROM order_items i \
           JOIN jsonb_to_recordset($2) AS l(item text, sku text, quantity int) \
             ON l.item = i.external_item_id AND l.sku = i.external_sku_id \
           WHERE i.order_id = $1 AND i.stock = 'ALLOCATED' AND i.quantity <> l.quantity \
           FOR UPDATE OF i) \
         UPDATE order_items i SET stock = 'NONE', reservation_id = NULL, location_id = NULL, updated_at = now() \
         FROM old WHERE i.id = old.id RETURNING old.reservation_id",
        vec![order.into(), changes.clone().into()],
    ))
    .all(c.tx)
    .await?;
    for r in reset {
        let id = r
            .reservation_id
            .ok_or_else(|| AppError::internal("an allocated line without its reservation"))?;
        inventory::release(c, ReservationId(id)).await?;
    }
    Ok(())
}

/// Links the unlinked lines of the organization whose seller SKU now names a variant, and moves
/// their stock as their order's status asks (an order awaiting fulfilment allocates). Returns how
/// many orders had lines linked.
pub async fn link_unlinked(c: &Ctx<'_>) -> AppResult<u64> {
    #[derive(FromQueryResult)]
    struct Linked {
        order_id: Uuid,
        branch_id: Uuid,
        status: OrderStatus,
        by_marketplace: bool,
    }
    let linked = Linked::find_by_statement(stmt(
        "WITH l AS ( \
           UPDATE order_items i SET variant_id = v.id, updated_at = now() \
           FROM variants v \
           WHERE i.variant_id IS NULL AND i.seller_sku IS NOT NULL AND lower(v.sku) = lower(i.seller_sku) \
           RETURNING i.order_id) \
         SELECT o.id AS order_id, o.branch_id, o.status, o.fulfilled_by = 'MARKETPLACE' AS by_marketplace, \
                count(*) AS n FROM l JOIN orders o ON o.id = l.order_id \
         GROUP BY o.id, o.branch_id, o.status, o.fulfilled_by ORDER BY o.id",
        vec![],
    ))
    .all(c.tx)
    .await?;
    let mut n = 0;
    for o in &linked {
        n += 1;
        follow(
            c,
            o.order_id,
            BranchId(o.branch_id),
            o.status,
            false,
            o.by_marketplace,
        )
        .await?;
    }
    crate::domain::inventory::linked_skus(c).await?;
    // Marketplace listings waiting for a variant with their SKU link too (and push its stock).
    crate::domain::listing_links::relink(c.tx, None, None, true).await?;
    Ok(n)
}
