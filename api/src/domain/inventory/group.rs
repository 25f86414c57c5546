//! Group commit for reservations: the `reserveStock` requests of one caller that arrive while an
//! earlier group is being written go into the next group, which is one transaction — one BEGIN,
//! one tenant opening, one look-up of locations and variants, the touched levels locked once (in
//! key order), one statement writing every reservation, its own ledger row and each level's new
//! total, one COMMIT. Throughput on a hot SKU is then no longer one row lock hand-off per
//! reservation (see `docs/catalog-and-stock.md`).
//!
//! Nothing about a single reservation changes: each is checked exactly as [`super::reserve`]
//! checks it (input, location visibility and permission, variant, and availability in arrival
//! order with the level locked), each gets its own reservation row and ledger row with the level's
//! values after it, and one that does not fit fails alone with INSUFFICIENT_STOCK while the others
//! in its group succeed. If the group's transaction fails, every reservation in it fails with that
//! error and nothing is written. Bundles are not grouped: the caller reserves them on its own
//! transaction ([`Grouped::Alone`]), and so is a reservation whose idempotency key is already
//! taken or repeated in its group.

use super::idempotency::keyed;
use super::reservations::{
    RESERVE_OPERATION, Reservation, ReservationStatus, Reserve, checked_reference,
};
use super::{Level, LocationKind, alerts_after, level_columns};
use crate::auth::Principal;
use crate::auth::permissions::Perm;
use crate::breaker::Breaker;
use crate::domain::{Ctx, stmt};
use crate::effects::{Effect, Effects};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, MovementId, ReservationId};
use crate::tenant::{Access, Outcome, TenantTx};
use sea_orm::{ConnectionTrait, DatabaseConnection, DatabaseTransaction, FromQueryResult};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

/// The most reservations written by one group.
const MAX_GROUP: usize = 256;

/// What became of one grouped reservation.
#[derive(Debug)]
pub enum Grouped {
    /// Reserved (its effects to run after commit) or refused.
    Done(AppResult<Reservation>, Vec<Effect>),
    /// Reserve it with [`super::reserve`] on the caller's own transaction: a bundle, or a
    /// reservation whose idempotency key is already taken or repeated in its group (that
    /// transaction returns the first result, or CONFLICT for another request under the key).
    Alone,
}

struct Pending {
    input: Reserve,
    reply: oneshot::Sender<Grouped>,
}

/// The per-process groups, one queue per caller (user in an organization, or API token).
pub struct ReservationGroups {
    db: DatabaseConnection,
    breaker: Arc<Breaker>,
    statement_timeout: Duration,
    queues: Mutex<HashMap<String, mpsc::UnboundedSender<Pending>>>,
}

impl ReservationGroups {
    /// Groups writing through `db`.
    pub fn new(
        db: DatabaseConnection,
        breaker: Arc<Breaker>,
        statement_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new(Self {
            db,
            breaker,
            statement_timeout,
            queues: Mutex::new(HashMap::new()),
        })
    }

    /// Reserves `input` for `principal` in the next group. The group runs on a task of its own, so
    /// a caller that goes away cannot cut it short: its reservation is then written or refused
    /// like the others (as when a client disconnects after its own commit).
    pub async fn reserve(self: &Arc<Self>, principal: &Principal, input: Reserve) -> Grouped {
        let (reply, answer) = oneshot::channel();
        let pending = Pending { input, reply };
        let key = principal.limit_key();
        {
            let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
            // A queue whose leader has ended (it removes itself under this lock, so only a panic
            // leaves a closed one behind) is replaced.
            let sent = match queues.get(&key) {
                Some(queue) => match queue.send(pending) {
                    Ok(()) => None,
                    Err(mpsc::error::SendError(back)) => Some(back),
                },
                None => Some(pending),
            };
            if let Some(pending) = sent {
                let (queue, inbox) = mpsc::unbounded_channel();
                let _ = queue.send(pending);
                queues.insert(key.clone(), queue);
                tokio::spawn(Arc::clone(self).lead(key, principal.clone(), inbox));
            }
        }
        Self::answer(answer).await
    }

    async fn answer(answer: oneshot::Receiver<Grouped>) -> Grouped {
        answer.await.unwrap_or_else(|_| {
            Grouped::Done(
                Err(AppError::internal(
                    "the reservation group ended without an answer",
                )),
                Vec::new(),
            )
        })
    }

    /// Writes groups for one caller until nothing is waiting.
    async fn lead(
        self: Arc<Self>,
        key: String,
        principal: Principal,
        mut inbox: mpsc::UnboundedReceiver<Pending>,
    ) {
        loop {
            let mut group = Vec::new();
            while group.len() < MAX_GROUP {
                match inbox.try_recv() {
                    Ok(p) => group.push(p),
                    Err(_) => break,
                }
            }
            // A caller already gone (its request timed out or was cancelled) is not written for.
            group.retain(|p| !p.reply.is_closed());
            if group.is_empty() {
                if !inbox.is_empty() {
                    continue;
                }
                let mut queues = self.queues.lock().unwrap_or_else(PoisonError::into_inner);
                // Senders only send while holding this lock: empty now means empty for good.
                if inbox.is_empty() {
                    queues.remove(&key);
                    return;
                }
                continue;
            }
            let inputs: Vec<Reserve> = group.iter().map(|p| p.input.clone()).collect();
            let outcomes = match self.write(&principal, &inputs).await {
                Ok(outcomes) => outcomes,
                Err(e) => inputs
                    .iter()
                    .map(|_| Grouped::Done(Err(e.clone()), Vec::new()))
                    .collect(),
            };
            crate::metrics::get().reservation_group(group.len());
            for (p, outcome) in group.into_iter().zip(outcomes) {
                let _ = p.reply.send(outcome);
            }
        }
    }

    /// One group in one transaction.
    async fn write(&self, principal: &Principal, inputs: &[Reserve]) -> AppResult<Vec<Grouped>> {
        let tenant = TenantTx::new(self.db.clone(), Some(principal.clone()), false)
            .with_statement_timeout(self.statement_timeout)
            .with_breaker(self.breaker.clone());
        let outcomes = {
            let guard = tenant.lock().await?;
            reserve_group(&guard, &guard.access, inputs).await
        };
        match outcomes {
            Ok(outcomes) => {
                tenant.finish(Outcome::Commit).await?;
                Ok(outcomes)
            }
            Err(e) => {
                let _ = tenant.finish(Outcome::Rollback).await;
                Err(e)
            }
        }
    }
}

#[derive(FromQueryResult)]
struct Loc {
    id: Uuid,
    branch_id: Uuid,
    kind: LocationKind,
}

#[derive(FromQueryResult)]
struct Var {
    id: Uuid,
    is_bundle: bool,
}

/// One admitted reservation, as written.
struct Row {
    index: usize,
    id: ReservationId,
    branch: BranchId,
    level_branch: Uuid,
    reference: String,
    on_hand_after: i64,
    reserved_after: i64,
}

/// Reserves `inputs` in `tx` (one tenant transaction, `access` its caller): the outcome of each,
/// in order. An `Err` is a failure of the whole group (a statement failed): the caller rolls back.
pub async fn reserve_group(
    tx: &DatabaseTransaction,
    access: &Access,
    inputs: &[Reserve],
) -> AppResult<Vec<Grouped>> {
    let org = access.org()?;
    let mut outcomes: Vec<Option<Grouped>> = inputs.iter().map(|_| None).collect();
    let refuse = |e: AppError| Some(Grouped::Done(Err(e), Vec::new()));
    // Input first, as `reserve` checks it.
    let mut references = vec![String::new(); inputs.len()];
    for (i, input) in inputs.iter().enumerate() {
        match checked_reference(input) {
            Ok(r) => references[i] = r,
            Err(e) => outcomes[i] = refuse(e),
        }
    }
    // Locations and variants of the group, one statement each.
    let mut location_ids: Vec<Uuid> = inputs.iter().map(|r| r.location_id.uuid()).collect();
    location_ids.sort_unstable();
    location_ids.dedup();
    let mut variant_ids: Vec<Uuid> = inputs.iter().map(|r| r.variant_id.uuid()).collect();
    variant_ids.sort_unstable();
    variant_ids.dedup();
    let locations: HashMap<Uuid, Loc> = Loc::find_by_statement(stmt(
        "SELECT id, branch_id, kind FROM locations WHERE id = ANY($1)",
        vec![location_ids.into()],
    ))
    .all(tx)
    .await?
    .into_iter()
    .map(|l| (l.id, l))
    .collect();
    let variants: HashMap<Uuid, bool> = Var::find_by_statement(stmt(
        "SELECT id, is_bundle FROM variants WHERE id = ANY($1)",
        vec![variant_ids.into()],
    ))
    .all(tx)
    .await?
    .into_iter()
    .map(|v| (v.id, v.is_bundle))
    .collect();
    let mut branches = vec![BranchId(Uuid::nil()); inputs.len()];
    for (i, input) in inputs.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        // As `writable_location`, then `variant`.
        let Some(loc) = locations.get(&input.location_id.uuid()) else {
            outcomes[i] = refuse(AppError::NotFound("Location"));
            continue;
        };
        let branch = BranchId(loc.branch_id);
        if let Err(e) = org.require(Perm::InventoryWrite(branch)) {
            outcomes[i] = refuse(e);
            continue;
        }
        if loc.kind == LocationKind::Marketplace {
            outcomes[i] = refuse(AppError::invalid(
                "input.locationId",
                "stock held by a marketplace is read from the marketplace and cannot be changed here",
            ));
            continue;
        }
        match variants.get(&input.variant_id.uuid()) {
            None => outcomes[i] = refuse(AppError::NotFound("Variant")),
            Some(true) => outcomes[i] = Some(Grouped::Alone),
            Some(false) => branches[i] = branch,
        }
    }
    // Idempotency keys, checked and hashed as `idempotent` does, are claimed before any level is
    // locked (the order of `idempotent` too, so the two paths cannot deadlock on each other). A
    // key repeated in the group, or already claimed, is left to the request's own transaction
    // (`Alone`), which waits for the first and returns its result. The claims of reservations
    // refused below stay without a result: a retry under the key runs again.
    let mut keys: Vec<Option<(String, Vec<u8>)>> = vec![None; inputs.len()];
    let mut seen_keys = std::collections::HashSet::new();
    for (i, input) in inputs.iter().enumerate() {
        let Some(raw) = input.idempotency_key.as_deref() else {
            continue;
        };
        if outcomes[i].is_some() {
            continue;
        }
        match keyed(raw, RESERVE_OPERATION, input) {
            Ok(k) if seen_keys.insert(k.0.clone()) => keys[i] = Some(k),
            Ok(_) => outcomes[i] = Some(Grouped::Alone),
            Err(e) => outcomes[i] = refuse(e),
        }
    }
    let to_claim: Vec<usize> = (0..inputs.len())
        .filter(|&i| outcomes[i].is_none() && keys[i].is_some())
        .collect();
    if !to_claim.is_empty() {
        let won = claim(tx, &to_claim, &keys).await?;
        for i in to_claim {
            if !keys[i].as_ref().is_some_and(|(k, _)| won.contains(k)) {
                outcomes[i] = Some(Grouped::Alone);
            }
        }
    }
    // The levels touched, locked in key order (two groups cannot deadlock on each other).
    let mut touched: Vec<(Uuid, Uuid)> = (0..inputs.len())
        .filter(|&i| outcomes[i].is_none())
        .map(|i| (inputs[i].variant_id.uuid(), inputs[i].location_id.uuid()))
        .collect();
    touched.sort_unstable();
    touched.dedup();
    let mut levels = Levels::new();
    if !touched.is_empty() {
        let (vs, ls): (Vec<Uuid>, Vec<Uuid>) = touched.iter().copied().unzip();
        for l in Level::find_by_statement(stmt(
            concat!(
                "SELECT ",
                level_columns!(),
                " FROM inventory_levels WHERE (variant_id, location_id) IN \
                 (SELECT * FROM unnest($1::uuid[], $2::uuid[])) \
                 ORDER BY variant_id, location_id FOR UPDATE"
            ),
            vec![vs.into(), ls.into()],
        ))
        .all(tx)
        .await?
        {
            levels.insert((l.variant_id, l.location_id), l);
        }
    }
    // Admission in arrival order, each against the level as the ones before it left it.
    let (rows, refusals, levels) = admit(inputs, &outcomes, &levels, &branches, &references);
    for (i, available) in refusals {
        outcomes[i] = refuse(AppError::InsufficientStock(format!(
            "only {available} available of {} requested",
            inputs[i].quantity
        )));
    }
    if !rows.is_empty() {
        write_rows(tx, access, inputs, &rows).await?;
    }
    // Alerts from each level's final state (reserving only lowers availability, so the last
    // state is the one that decides), recorded with the last reservation that touched it.
    let mut last_of_level: HashMap<(Uuid, Uuid), usize> = HashMap::new();
    for row in &rows {
        let input = &inputs[row.index];
        last_of_level.insert(
            (input.variant_id.uuid(), input.location_id.uuid()),
            row.index,
        );
    }
    let mut effects: HashMap<usize, Effects> = HashMap::new();
    for (key, index) in &last_of_level {
        if let Some(level) = levels.get(key) {
            let fx = effects.entry(*index).or_default();
            let c = Ctx {
                tx,
                access,
                request_id: None,
                effects: fx,
            };
            alerts_after(&c, level).await?;
        }
    }
    let mut responses: Vec<(String, String)> = Vec::new();
    for row in rows {
        let input = &inputs[row.index];
        let fx = effects.remove(&row.index).unwrap_or_default();
        if let Some(at) = input.expires_at {
            fx.push(Effect::ReservationDue {
                org: org.org_id,
                at,
            });
        }
        let reservation = Reservation {
            id: row.id,
            variant_id: input.variant_id,
            location_id: input.location_id,
            quantity: input.quantity,
            status: ReservationStatus::Active,
            expires_at: input.expires_at,
        };
        if let Some((key, _)) = &keys[row.index] {
            responses.push((
                key.clone(),
                serde_json::to_string(&reservation).map_err(AppError::from_error)?,
            ));
        }
        outcomes[row.index] = Some(Grouped::Done(Ok(reservation), fx.take()));
    }
    // The first result of each claimed key, as `idempotent` records it.
    if !responses.is_empty() {
        let (ks, rs): (Vec<String>, Vec<String>) = responses.into_iter().unzip();
        tx.execute_raw(stmt(
            "UPDATE stock_requests s SET response = v.response::jsonb \
             FROM unnest($1::text[], $2::text[]) AS v(idempotency_key, response) \
             WHERE s.idempotency_key = v.idempotency_key",
            vec![ks.into(), rs.into()],
        ))
        .await?;
    }
    Ok(outcomes
        .into_iter()
        .map(|o| {
            o.unwrap_or_else(|| {
                Grouped::Done(
                    Err(AppError::internal("reservation left undecided")),
                    Vec::new(),
                )
            })
        })
        .collect())
}

/// Levels by (variant, location).
type Levels = BTreeMap<(Uuid, Uuid), Level>;

/// Admission of the undecided reservations in arrival order against `initial` levels: the rows
/// to write, the refused (index, available then) and the levels after.
fn admit(
    inputs: &[Reserve],
    outcomes: &[Option<Grouped>],
    initial: &Levels,
    branches: &[BranchId],
    references: &[String],
) -> (Vec<Row>, Vec<(usize, i64)>, Levels) {
    let mut levels = initial.clone();
    let (mut rows, mut refused) = (Vec::new(), Vec::new());
    for (i, input) in inputs.iter().enumerate() {
        if outcomes[i].is_some() {
            continue;
        }
        let key = (input.variant_id.uuid(), input.location_id.uuid());
        let units = input.quantity;
        let Some(level) = levels.get_mut(&key).filter(|l| {
            l.reserved + units <= l.on_hand
                && l.on_hand - (l.reserved + units) - l.safety_stock >= 0
        }) else {
            refused.push((i, levels.get(&key).map_or(0, |l| l.available().max(0))));
            continue;
        };
        level.reserved += units;
        rows.push(Row {
            index: i,
            id: ReservationId::new_v7(),
            branch: branches[i],
            level_branch: level.branch_id,
            reference: references[i].clone(),
            on_hand_after: level.on_hand,
            reserved_after: level.reserved,
        });
    }
    (rows, refused, levels)
}

/// Claims the idempotency keys of `indexes` without a result yet (a key another transaction
/// holds is waited for, then not claimed): the keys won.
async fn claim(
    tx: &DatabaseTransaction,
    indexes: &[usize],
    keys: &[Option<(String, Vec<u8>)>],
) -> AppResult<std::collections::HashSet<String>> {
    #[derive(FromQueryResult)]
    struct Won {
        idempotency_key: String,
    }
    // In key order: two transactions claiming overlapping keys wait, never deadlock.
    let mut claims: Vec<(String, String)> = indexes
        .iter()
        .filter_map(|i| keys[*i].as_ref())
        .map(|(k, h)| (k.clone(), hex::encode(h)))
        .collect();
    claims.sort_unstable();
    let (ks, hs): (Vec<String>, Vec<String>) = claims.into_iter().unzip();
    Ok(Won::find_by_statement(stmt(
        "INSERT INTO stock_requests (org_id, idempotency_key, operation, request_hash, response) \
         SELECT (SELECT app_org_id()), k, $3, decode(h, 'hex'), 'null' \
         FROM unnest($1::text[], $2::text[]) AS v(k, h) \
         ON CONFLICT DO NOTHING RETURNING idempotency_key",
        vec![ks.into(), hs.into(), RESERVE_OPERATION.into()],
    ))
    .all(tx)
    .await?
    .into_iter()
    .map(|w| w.idempotency_key)
    .collect())
}

/// The reservations, their ledger rows and the levels' new totals, in one statement.
async fn write_rows(
    tx: &DatabaseTransaction,
    access: &Access,
    inputs: &[Reserve],
    rows: &[Row],
) -> AppResult<()> {
    let (user, token) = match access.org.as_ref().and_then(|o| o.token.as_ref()) {
        Some(t) => (None, Some(t.id.uuid())),
        None => (access.user_id.map(|u| u.uuid()), None),
    };
    let uuids = |f: &dyn Fn(&Row, &Reserve) -> Uuid| -> sea_orm::Value {
        rows.iter()
            .map(|r| f(r, &inputs[r.index]))
            .collect::<Vec<Uuid>>()
            .into()
    };
    let ints = |f: &dyn Fn(&Row, &Reserve) -> i64| -> sea_orm::Value {
        rows.iter()
            .map(|r| f(r, &inputs[r.index]))
            .collect::<Vec<i64>>()
            .into()
    };
    let texts = |f: &dyn Fn(&Row, &Reserve) -> String| -> sea_orm::Value {
        rows.iter()
            .map(|r| f(r, &inputs[r.index]))
            .collect::<Vec<String>>()
            .into()
    };
    let movement_ids: Vec<Uuid> = rows.iter().map(|_| MovementId::new_v7().uuid()).collect();
    let written = tx
        .execute_raw(stmt(
            "WITH items AS ( \
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::uuid[], $4::uuid[], $5::uuid[], $6::int8[], \
                 $7::text[], $8::text[], $9::text[], $10::uuid[], $11::int8[], $12::int8[]) \
                 AS t(id, variant_id, location_id, branch_id, level_branch_id, quantity, reference_type, \
                      reference_id, expires_at, movement_id, on_hand_after, reserved_after)), \
             res AS ( \
               INSERT INTO reservations (org_id, id, variant_id, location_id, branch_id, quantity, \
                 reference_type, reference_id, parent_id, expires_at) \
               SELECT (SELECT app_org_id()), id, variant_id, location_id, branch_id, quantity, \
                 reference_type, reference_id, NULL, NULLIF(expires_at, '')::timestamptz FROM items), \
             mv AS ( \
               INSERT INTO stock_movements (org_id, id, variant_id, location_id, branch_id, kind, \
                 on_hand_delta, reserved_delta, on_hand_after, reserved_after, actor_user_id, \
                 actor_api_token_id, reason, document_type, document_id) \
               SELECT (SELECT app_org_id()), movement_id, variant_id, location_id, level_branch_id, \
                 'RESERVE', 0, quantity, on_hand_after, reserved_after, $13, $14, \
                 reference_type || ' ' || reference_id, 'RESERVATION', id::text FROM items) \
             UPDATE inventory_levels l SET reserved = l.reserved + s.total, updated_at = now() \
             FROM (SELECT variant_id, location_id, sum(quantity)::int8 AS total FROM items GROUP BY 1, 2) s \
             WHERE l.variant_id = s.variant_id AND l.location_id = s.location_id \
               AND l.reserved + s.total <= l.on_hand \
               AND l.on_hand - l.reserved - s.total - l.safety_stock >= 0",
            vec![
                uuids(&|r, _| r.id.uuid()),
                uuids(&|_, i| i.variant_id.uuid()),
                uuids(&|_, i| i.location_id.uuid()),
                uuids(&|r, _| r.branch.uuid()),
                uuids(&|r, _| r.level_branch),
                ints(&|_, i| i.quantity),
                texts(&|_, i| i.reference_type.clone()),
                texts(&|r, _| r.reference.clone()),
                texts(&|_, i| i.expires_at.map(|t| t.to_rfc3339()).unwrap_or_default()),
                movement_ids.into(),
                ints(&|r, _| r.on_hand_after),
                ints(&|r, _| r.reserved_after),
                user.into(),
                token.into(),
            ],
        ))
        .await?
        .rows_affected();
    let levels = {
        let mut keys: Vec<(Uuid, Uuid)> = rows
            .iter()
            .map(|r| {
                (
                    inputs[r.index].variant_id.uuid(),
                    inputs[r.index].location_id.uuid(),
                )
            })
            .collect();
        keys.sort_unstable();
        keys.dedup();
        keys.len() as u64
    };
    // The levels are locked and every row was admitted against them: anything else is a bug, and
    // the error rolls the whole group back.
    if written != levels {
        return Err(AppError::internal(format!(
            "reservation group updated {written} of {levels} levels"
        )));
    }
    Ok(())
}
