//! Listings: a variant as it appears in one store, with its price and allocation rule, and the
//! quantity to push to the store (the rule applied to the branch's available stock). The row type
//! and column list of `listings` are defined here once.

use crate::auth::permissions::Perm;
use crate::domain::catalog::{PriceInput, parse_money};
use crate::domain::{Ctx, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, StoreId, VariantId};
use chrono::{DateTime, Utc};
pub use entity::enums::{LinkStatus, ListingStatus};
use sea_orm::{ConnectionTrait, FromQueryResult};
use uuid::Uuid;

/// Columns of `listings` as [`ListingRow`] reads them. A macro so constant SQL can `concat!` it.
macro_rules! listing_columns {
    () => {
        "id, store_id, branch_id, variant_id, external_item_id, external_model_id, external_sku, \
         price_minor, currency, status, alloc_percent, alloc_max, alloc_buffer, link_status, link_manual, \
         external_location, name, platform_status, platform_stock, seen_at, pushed_quantity, pushed_at, \
         push_ack, push_error, push_failed_at, checked_at"
    };
}
const LISTING_COLUMNS: &str = listing_columns!();

/// A listing.
#[derive(Clone, Debug, FromQueryResult)]
pub struct ListingRow {
    /// Id.
    pub id: Uuid,
    /// Store.
    pub store_id: Uuid,
    /// Branch of the store.
    pub branch_id: Uuid,
    /// Variant (none while unlinked or ambiguous).
    pub variant_id: Option<Uuid>,
    /// Platform item id.
    pub external_item_id: Option<String>,
    /// Platform model/SKU id.
    pub external_model_id: Option<String>,
    /// Platform seller SKU.
    pub external_sku: Option<String>,
    /// Price in minor units.
    pub price_minor: Option<i64>,
    /// Price currency.
    pub currency: Option<String>,
    /// Lifecycle.
    pub status: ListingStatus,
    /// Allocation: percent of available.
    pub alloc_percent: i32,
    /// Allocation: cap.
    pub alloc_max: Option<i64>,
    /// Allocation: held back.
    pub alloc_buffer: i64,
    /// Tied to a variant, or why not.
    pub link_status: LinkStatus,
    /// Linked or unlinked by the seller (product syncs leave it).
    pub link_manual: bool,
    /// Platform warehouse/location.
    pub external_location: Option<String>,
    /// Title on the platform.
    pub name: Option<String>,
    /// Platform status, verbatim.
    pub platform_status: Option<String>,
    /// Stock the platform showed when last read.
    pub platform_stock: Option<i64>,
    /// Last seen by a product sync.
    pub seen_at: Option<DateTime<Utc>>,
    /// Last quantity the platform accepted.
    pub pushed_quantity: Option<i64>,
    /// When.
    pub pushed_at: Option<DateTime<Utc>>,
    /// The platform's acknowledgement of it.
    pub push_ack: Option<String>,
    /// The last push error (cleared by an accepted push).
    pub push_error: Option<String>,
    /// When the last push failed.
    pub push_failed_at: Option<DateTime<Utc>>,
    /// Last drift check.
    pub checked_at: Option<DateTime<Utc>>,
}

impl crate::domain::products::ById for ListingRow {
    const PERM: crate::auth::permissions::Perm = crate::auth::permissions::Perm::StoresRead;
    const SQL: &'static str = concat!(
        "SELECT ",
        listing_columns!(),
        " FROM listings WHERE id = ANY($1)"
    );
    fn key(&self) -> Uuid {
        self.id
    }
}

/// A listing (NOT_FOUND unless visible).
pub async fn get(c: &Ctx<'_>, id: Uuid) -> AppResult<ListingRow> {
    ListingRow::find_by_statement(stmt(
        &format!("SELECT {LISTING_COLUMNS} FROM listings WHERE id = $1"),
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Listing"))
}

/// Requires the permission to read listings.
pub fn readable(c: &Ctx<'_>) -> AppResult<()> {
    c.access.org()?.require(Perm::StoresRead)
}

/// A page of a store's listings (oldest first), optionally only those in link state `link`.
pub async fn of_store(
    c: &Ctx<'_>,
    store: StoreId,
    link: Option<LinkStatus>,
    args: crate::domain::page::PageArgs,
) -> AppResult<crate::domain::page::Page<ListingRow>> {
    readable(c)?;
    crate::domain::page::fetch_sql(
        c.tx,
        &format!(
            "SELECT {LISTING_COLUMNS} FROM listings WHERE store_id = $1 \
               AND ($2::text IS NULL OR link_status = $2)"
        ),
        vec![
            store.uuid().into(),
            link.map(|l| sea_orm::ActiveEnum::to_value(&l)).into(),
        ],
        args,
        false,
    )
    .await
}

/// The quantity to push to the listing's store now (0 unless the listing is ACTIVE; none while
/// it is not linked).
pub async fn push_quantity_of(
    c: &Ctx<'_>,
    l: &ListingRow,
) -> AppResult<Option<crate::domain::stock_push::PushQuantity>> {
    Ok(crate::domain::stock_push::quantities(c.tx, &[l.id])
        .await?
        .into_iter()
        .next())
}

/// The quantity to push to a store for a listing: `percent`% of what is available (rounded down),
/// minus `buffer`, capped at `max`, never below 0.
pub fn push_quantity(available: i64, percent: i32, max: Option<i64>, buffer: i64) -> i64 {
    let share = available
        .max(0)
        .saturating_mul(i64::from(percent.clamp(0, 100)))
        / 100;
    let q = share.saturating_sub(buffer.max(0));
    max.map_or(q, |m| q.min(m)).max(0)
}

/// Input of [`create_listing`].
#[derive(Debug, Clone)]
pub struct CreateListing {
    /// Store.
    pub store_id: crate::ids::StoreId,
    /// Variant.
    pub variant_id: VariantId,
    /// Platform item id.
    pub external_item_id: Option<String>,
    /// Platform model/SKU id.
    pub external_model_id: Option<String>,
    /// Platform seller SKU.
    pub external_sku: Option<String>,
    /// Listing price.
    pub price: Option<PriceInput>,
    /// Percentage of available stock to offer (0..100).
    pub percent: i32,
    /// Most to offer.
    pub max: Option<i64>,
    /// Held back from this store.
    pub buffer: i64,
}

/// Lists a variant on a store with an allocation rule.
pub async fn create_listing(c: &Ctx<'_>, input: CreateListing) -> AppResult<Uuid> {
    #[derive(sea_orm::FromQueryResult)]
    struct S {
        branch_id: Uuid,
    }
    use sea_orm::FromQueryResult as _;
    let store = S::find_by_statement(stmt(
        "SELECT branch_id FROM stores WHERE id = $1",
        vec![input.store_id.uuid().into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Store"))?;
    c.access
        .org()?
        .require(Perm::StoresWrite(BranchId(store.branch_id)))?;
    crate::domain::inventory::variant(c, input.variant_id).await?;
    check_allocation(input.percent, input.max, input.buffer)?;
    let ext = |field: &str, v: &Option<String>| -> AppResult<Option<String>> {
        v.as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                if s.chars().count() > 128 {
                    Err(AppError::invalid(field, "must be at most 128 characters"))
                } else {
                    Ok(s.to_owned())
                }
            })
            .transpose()
    };
    let (price, currency) = match &input.price {
        Some(p) => {
            let (m, c) = parse_money("input.price", &p.amount, &p.currency)?;
            (Some(m), Some(c))
        }
        None => (None, None),
    };
    let id = Uuid::now_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO listings (org_id, id, store_id, branch_id, variant_id, external_item_id, external_model_id, \
         external_sku, price_minor, currency, alloc_percent, alloc_max, alloc_buffer, link_manual) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, true)",
        vec![
            id.into(),
            input.store_id.uuid().into(),
            store.branch_id.into(),
            input.variant_id.uuid().into(),
            ext("input.externalItemId", &input.external_item_id)?.into(),
            ext("input.externalModelId", &input.external_model_id)?.into(),
            ext("input.externalSku", &input.external_sku)?.into(),
            price.into(),
            currency.into(),
            input.percent.into(),
            input.max.into(),
            input.buffer.into(),
        ],
    ))
    .await
    .map_err(|e| {
        if e.to_string().contains("listings_store_variant_key") {
            AppError::Conflict("this variant is already listed on this store".into())
        } else if e.to_string().contains("listings_store_external_key") {
            AppError::Conflict("this store already has a listing with these platform ids".into())
        } else {
            AppError::from(e)
        }
    })?;
    Ok(id)
}

/// Changes to a listing (absent fields stay as they are).
#[derive(Debug, Clone, Default)]
pub struct UpdateListing {
    /// ACTIVE, PAUSED or ARCHIVED.
    pub status: Option<ListingStatus>,
    /// New price.
    pub price: Option<PriceInput>,
    /// New allocation rule (percent, max, buffer).
    pub allocation: Option<(i32, Option<i64>, i64)>,
}

/// Locks a listing for a change and checks the caller may change its store's listings
/// (NOT_FOUND unless it is visible).
pub(crate) async fn lock_writable(c: &Ctx<'_>, id: Uuid) -> AppResult<()> {
    #[derive(sea_orm::FromQueryResult)]
    struct L {
        branch_id: Uuid,
    }
    use sea_orm::FromQueryResult as _;
    let l = L::find_by_statement(stmt(
        "SELECT branch_id FROM listings WHERE id = $1 FOR UPDATE",
        vec![id.into()],
    ))
    .one(c.tx)
    .await?
    .ok_or(AppError::NotFound("Listing"))?;
    c.access
        .org()?
        .require(Perm::StoresWrite(BranchId(l.branch_id)))
}

/// Updates a listing's status, price or allocation rule.
pub async fn update_listing(c: &Ctx<'_>, id: Uuid, input: UpdateListing) -> AppResult<()> {
    lock_writable(c, id).await?;
    if let Some((percent, max, buffer)) = input.allocation {
        check_allocation(percent, max, buffer)?;
    }
    let (price, currency) = match &input.price {
        Some(p) => {
            let (m, c) = parse_money("input.price", &p.amount, &p.currency)?;
            (Some(m), Some(c))
        }
        None => (None, None),
    };
    let (percent, max, buffer) = input
        .allocation
        .map_or((None, None, None), |(p, m, b)| (Some(p), m, Some(b)));
    c.tx.execute_raw(stmt(
        "UPDATE listings SET status = COALESCE($2, status), \
           price_minor = COALESCE($3, price_minor), currency = COALESCE($4, currency), \
           alloc_percent = COALESCE($5, alloc_percent), \
           alloc_max = CASE WHEN $6 THEN $7 ELSE alloc_max END, \
           alloc_buffer = COALESCE($8, alloc_buffer), updated_at = now() \
         WHERE id = $1",
        vec![
            id.into(),
            input
                .status
                .map(|s| sea_orm::ActiveEnum::to_value(&s))
                .into(),
            price.into(),
            currency.into(),
            percent.into(),
            input.allocation.is_some().into(),
            max.into(),
            buffer.into(),
        ],
    ))
    .await?;
    Ok(())
}

fn check_allocation(percent: i32, max: Option<i64>, buffer: i64) -> AppResult<()> {
    if !(0..=100).contains(&percent) {
        return Err(AppError::invalid(
            "input.allocation.percent",
            "must be 0-100",
        ));
    }
    crate::domain::quantity("input.allocation.buffer", buffer, 0)?;
    if let Some(m) = max {
        crate::domain::quantity("input.allocation.max", m, 0)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_quantity_applies_percent_buffer_and_cap() {
        assert_eq!(push_quantity(100, 100, None, 0), 100);
        assert_eq!(push_quantity(100, 50, None, 0), 50);
        assert_eq!(
            push_quantity(99, 50, None, 0),
            49,
            "rounded down: never offer more than half"
        );
        assert_eq!(push_quantity(100, 50, Some(20), 0), 20);
        assert_eq!(push_quantity(100, 100, None, 5), 95);
        assert_eq!(push_quantity(3, 100, None, 5), 0, "never negative");
        assert_eq!(push_quantity(-4, 100, None, 0), 0);
        assert_eq!(push_quantity(100, 0, None, 0), 0);
    }
}
