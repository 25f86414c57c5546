//! The inventory side of orders: where an order line's stock can be held, and putting a received
//! return back on hand. Allocation, shipping and release go through reservations.

use super::*;

/// The seller's own locations of `branch` (warehouses and third parties, never a marketplace's)
/// that could hold `variant` for an order line, best first: most available of the variant (a
/// bundle: oldest location first, its components decide).
pub async fn locations_for(
    c: &Ctx<'_>,
    variant: VariantId,
    branch: BranchId,
) -> AppResult<Vec<LocationId>> {
    #[derive(FromQueryResult)]
    struct L {
        id: Uuid,
    }
    let rows = L::find_by_statement(stmt(
        "SELECT l.id FROM locations l \
         LEFT JOIN inventory_levels il ON il.location_id = l.id AND il.variant_id = $1 \
         WHERE l.branch_id = $2 AND l.kind <> 'MARKETPLACE' \
         ORDER BY coalesce(il.on_hand - il.reserved - il.safety_stock, 0) DESC, l.created_at, l.id",
        vec![variant.uuid().into(), branch.uuid().into()],
    ))
    .all(c.tx)
    .await?;
    Ok(rows.into_iter().map(|r| LocationId(r.id)).collect())
}

/// Puts `quantity` of `variant` (a bundle: its components) back on hand at `location` as a RETURN
/// movement of order line `line`.
pub async fn restock_return(
    c: &Ctx<'_>,
    returned: VariantId,
    location: LocationId,
    quantity: i64,
    line: Uuid,
) -> AppResult<()> {
    #[derive(FromQueryResult)]
    struct Part {
        component_id: Uuid,
        quantity: i32,
    }
    let branch = writable_location(c, location).await?;
    let parts: Vec<(VariantId, i64)> = if variant(c, returned).await? {
        Part::find_by_statement(stmt(
            "SELECT component_id, quantity FROM bundle_components WHERE bundle_id = $1 ORDER BY component_id",
            vec![returned.uuid().into()],
        ))
        .all(c.tx)
        .await?
        .into_iter()
        .map(|p| (VariantId(p.component_id), quantity * i64::from(p.quantity)))
        .collect()
    } else {
        vec![(returned, quantity)]
    };
    let cause = Cause {
        reason: "order returned".into(),
        document_type: Some("ORDER_LINE".into()),
        document_id: Some(line.to_string()),
    };
    for (v, units) in parts {
        ensure_level(c, v, location, branch).await?;
        apply(
            c,
            v,
            location,
            Change {
                kind: MovementKind::Return,
                on_hand_delta: units,
                reserved_delta: 0,
                keep_available: false,
                cause: &cause,
            },
        )
        .await?
        .ok_or_else(|| AppError::internal("a return could not be put back on hand"))?;
    }
    Ok(())
}
