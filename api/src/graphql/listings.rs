//! Listings in GraphQL: a variant as it appears in one store, its allocation rule and the
//! quantity to push.

use crate::domain::catalog::PriceInput;
use crate::domain::listing_links;
use crate::domain::listings::{self, ListingRow};
use crate::error::AppError;
use crate::graphql::relay::{variant_gid, variant_id};
use crate::graphql::scalars::{Money, MoneyInput};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read, some};
use crate::ids::VariantId;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};

/// Lifecycle of a listing.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::ListingStatus")]
pub enum ListingStatus {
    /// Offered: its push quantity is sent to the store.
    Active,
    /// Not offered for now (pushes 0).
    Paused,
    /// Kept for history (pushes 0).
    Archived,
}

/// Whether a listing is tied to a variant of the catalog.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
#[graphql(remote = "entity::enums::LinkStatus")]
pub enum LinkStatus {
    /// Linked to one variant: its stock is pushed.
    Linked,
    /// No variant has its seller SKU (or the seller unlinked it): nothing is pushed.
    Unlinked,
    /// Several variants have its seller SKU: the seller links it (`linkListing`).
    Ambiguous,
}

/// A listing's stock on its marketplace: what was last pushed and what the platform answered.
#[derive(SimpleObject, Clone, Debug)]
pub struct ListingStockSync {
    /// The last quantity the platform accepted.
    pub pushed_quantity: Option<i64>,
    /// When it accepted it.
    pub pushed_at: Option<DateTime<Utc>>,
    /// The platform's acknowledgement of that push.
    pub acknowledgement: Option<String>,
    /// The platform's refusal of the last push, if it refused (cleared by an accepted push).
    pub error: Option<String>,
    /// When the last push failed.
    pub failed_at: Option<DateTime<Utc>>,
    /// When the drift check last compared the platform's stock.
    pub checked_at: Option<DateTime<Utc>>,
    /// The platform accepted exactly today's push quantity and nothing failed since (in a
    /// pool's last units: the listing shows its part as far as Mercato knows).
    pub in_sync: bool,
    /// In its pool's last units, the listing sells its own part down and is not sent stock
    /// until it has sold it (`pushQuantity` is what it has left as far as Mercato knows); see
    /// `Organization.stockTailPerListing`.
    pub selling_own_part: bool,
}

/// How much of the available stock a store is offered.
#[derive(SimpleObject, Clone, Debug)]
pub struct Allocation {
    /// Percentage of available stock (rounded down).
    pub percent: i32,
    /// Most to offer, when capped.
    pub max: Option<i64>,
    /// Held back from this store.
    pub buffer: i64,
}

/// A variant as it appears in one store.
#[derive(Clone, Debug)]
pub struct Listing(pub ListingRow);

/// A variant as it appears in one store.
#[Object]
impl Listing {
    /// Global id.
    pub async fn id(&self) -> ID {
        crate::graphql::relay::listing_gid(crate::ids::ListingId(self.0.id))
    }
    /// Store.
    async fn store_id(&self) -> ID {
        crate::graphql::relay::store_gid(crate::ids::StoreId(self.0.store_id))
    }
    /// Linked variant (none while UNLINKED or AMBIGUOUS).
    async fn variant_id(&self) -> Option<ID> {
        self.0.variant_id.map(|v| variant_gid(VariantId(v)))
    }
    /// Whether it is tied to a variant, or why not.
    async fn link_status(&self) -> LinkStatus {
        self.0.link_status.into()
    }
    /// Linked or unlinked by the seller (product syncs keep it); false when linked by SKU.
    async fn linked_manually(&self) -> bool {
        self.0.link_manual
    }
    /// Variants whose SKU matches its seller SKU (several for an AMBIGUOUS listing).
    async fn candidates(&self, ctx: &Context<'_>) -> Result<Vec<ID>> {
        read(ctx, async |c| {
            Ok(listing_links::candidates(&c, self.0.id)
                .await?
                .into_iter()
                .map(|v| variant_gid(VariantId(v)))
                .collect())
        })
        .await
    }
    /// Title on the platform.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }
    /// Platform status, verbatim (e.g. NORMAL, ACTIVATE, live).
    async fn platform_status(&self) -> Option<&str> {
        self.0.platform_status.as_deref()
    }
    /// Stock the platform showed when last read (product sync or drift check).
    async fn platform_stock(&self) -> Option<i64> {
        self.0.platform_stock
    }
    /// Platform warehouse the stock is held at, when the platform names one.
    async fn external_location(&self) -> Option<&str> {
        self.0.external_location.as_deref()
    }
    /// Last seen by a product sync.
    async fn seen_at(&self) -> Option<DateTime<Utc>> {
        self.0.seen_at
    }
    /// What was pushed to the store and what it answered.
    async fn stock_sync(&self, ctx: &Context<'_>) -> Result<ListingStockSync> {
        let now = read(ctx, async |c| listings::push_quantity_of(&c, &self.0).await).await?;
        let l = &self.0;
        Ok(ListingStockSync {
            pushed_quantity: l.pushed_quantity,
            pushed_at: l.pushed_at,
            acknowledgement: l.push_ack.clone(),
            error: l.push_error.clone(),
            failed_at: l.push_failed_at,
            checked_at: l.checked_at,
            in_sync: l.push_error.is_none()
                && now.is_some_and(|q| {
                    q.held
                        || match q.counted_from {
                            Some(_) => q.shows == Some(q.quantity),
                            None => l.pushed_quantity == Some(q.quantity),
                        }
                }),
            selling_own_part: now.is_some_and(|q| q.held),
        })
    }
    /// Platform item id.
    async fn external_item_id(&self) -> Option<&str> {
        self.0.external_item_id.as_deref()
    }
    /// Platform model/SKU id.
    async fn external_model_id(&self) -> Option<&str> {
        self.0.external_model_id.as_deref()
    }
    /// Platform seller SKU.
    async fn external_sku(&self) -> Option<&str> {
        self.0.external_sku.as_deref()
    }
    /// Listing price.
    async fn price(&self) -> Option<Money> {
        match (self.0.price_minor, &self.0.currency) {
            (Some(m), Some(c)) => Some(Money::new(m, c)),
            _ => None,
        }
    }
    /// Lifecycle.
    async fn status(&self) -> ListingStatus {
        self.0.status.into()
    }
    /// Allocation rule.
    async fn allocation(&self) -> Allocation {
        Allocation {
            percent: self.0.alloc_percent,
            max: self.0.alloc_max,
            buffer: self.0.alloc_buffer,
        }
    }
    /// The quantity to push to the store now: the rule applied to the variant's available stock
    /// in the store's branch (own and 3PL locations; bundles derived from their components), or
    /// in the pool's last units this listing's part; none while the listing is not linked.
    async fn push_quantity(&self, ctx: &Context<'_>) -> Result<Option<i64>> {
        read(ctx, async |c| {
            Ok(listings::push_quantity_of(&c, &self.0)
                .await?
                .map(|q| q.quantity))
        })
        .await
    }
}

/// Input of an allocation rule.
#[derive(InputObject)]
pub struct AllocationInput {
    /// Percentage of available stock (default 100).
    #[graphql(default = 100)]
    pub percent: i32,
    /// Most to offer.
    pub max: Option<i64>,
    /// Held back.
    #[graphql(default)]
    pub buffer: i64,
}

/// Input of `createListing`.
#[derive(InputObject)]
pub struct CreateListingInput {
    /// Store.
    pub store_id: ID,
    /// Variant.
    pub variant_id: ID,
    /// Platform item id.
    pub external_item_id: Option<String>,
    /// Platform model/SKU id.
    pub external_model_id: Option<String>,
    /// Platform seller SKU.
    pub external_sku: Option<String>,
    /// Listing price.
    pub price: Option<MoneyInput>,
    /// Allocation rule (default: all available stock).
    pub allocation: Option<AllocationInput>,
}

/// Input of `updateListing` (absent fields stay as they are).
#[derive(InputObject)]
pub struct UpdateListingInput {
    /// The listing.
    pub id: ID,
    /// ACTIVE, PAUSED or ARCHIVED.
    pub status: Option<ListingStatus>,
    /// New listing price.
    pub price: Option<MoneyInput>,
    /// New allocation rule (replaces the whole rule).
    pub allocation: Option<AllocationInput>,
}

/// Result of `createListing`.
#[derive(SimpleObject)]
pub struct ListingPayload {
    /// The listing.
    pub listing: Option<Listing>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Listing mutations and queries.
#[derive(Default)]
pub struct ListingMutation;

#[Object]
impl ListingMutation {
    /// Lists a variant on a store with an allocation rule.
    async fn create_listing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: CreateListingInput,
    ) -> Result<Option<ListingPayload>> {
        some(async {
            let (listing, user_errors) = mutate(ctx, async |c| {
                let alloc = input.allocation.unwrap_or(AllocationInput {
                    percent: 100,
                    max: None,
                    buffer: 0,
                });
                let id = listings::create_listing(
                    &c,
                    listings::CreateListing {
                        store_id: crate::graphql::relay::store_id(&input.store_id)?,
                        variant_id: variant_id(&input.variant_id)?,
                        external_item_id: input.external_item_id,
                        external_model_id: input.external_model_id,
                        external_sku: input.external_sku,
                        price: input.price.map(|p| PriceInput {
                            amount: p.amount,
                            currency: p.currency_code,
                        }),
                        percent: alloc.percent,
                        max: alloc.max,
                        buffer: alloc.buffer,
                    },
                )
                .await?;
                Ok(Listing(listings::get(&c, id).await?))
            })
            .await?;
            Ok(ListingPayload {
                listing,
                user_errors,
            })
        })
        .await
    }

    /// Changes a listing's status, price or allocation rule.
    async fn update_listing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UpdateListingInput,
    ) -> Result<Option<ListingPayload>> {
        some(async {
            let (listing, user_errors) = mutate(ctx, async |c| {
                let (kind, id) = crate::graphql::relay::decode_any(&input.id)?;
                if kind != "Listing" {
                    return Err(AppError::NotFound("Listing"));
                }
                listings::update_listing(
                    &c,
                    id,
                    listings::UpdateListing {
                        status: input.status.map(Into::into),
                        price: input.price.map(|p| PriceInput {
                            amount: p.amount,
                            currency: p.currency_code,
                        }),
                        allocation: input.allocation.map(|a| (a.percent, a.max, a.buffer)),
                    },
                )
                .await?;
                Ok(Listing(listings::get(&c, id).await?))
            })
            .await?;
            Ok(ListingPayload {
                listing,
                user_errors,
            })
        })
        .await
    }
}

/// Input of `linkListing`.
#[derive(InputObject)]
pub struct LinkListingInput {
    /// The listing.
    pub listing_id: ID,
    /// The variant it sells.
    pub variant_id: ID,
}

/// Input of `unlinkListing`.
#[derive(InputObject)]
pub struct UnlinkListingInput {
    /// The listing.
    pub listing_id: ID,
}

/// Input of `pushStock`: a store's linked listings, or the listings named.
#[derive(InputObject)]
pub struct PushStockInput {
    /// Every linked listing of this store.
    pub store_id: Option<ID>,
    /// These listings (at most 1,000).
    pub listing_ids: Option<Vec<ID>>,
}

/// Result of `pushStock`.
#[derive(SimpleObject)]
pub struct PushStockPayload {
    /// Linked listings whose push was queued.
    pub queued: i64,
    /// The push jobs queued, one per store (watch them on `syncRuns` / `syncRunUpdated`).
    pub job_ids: Vec<ID>,
    /// Expected failures.
    pub user_errors: Vec<UserError>,
}

/// Linking listings and forcing stock pushes.
#[derive(Default)]
pub struct ListingLinkMutation;

#[Object]
impl ListingLinkMutation {
    /// Links a listing to the variant it sells (kept by later product syncs); its stock is pushed.
    async fn link_listing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: LinkListingInput,
    ) -> Result<Option<ListingPayload>> {
        some(async {
            let (listing, user_errors) = mutate(ctx, async |c| {
                let id = listing_uuid(&input.listing_id)?;
                let variant = variant_id(&input.variant_id)
                    .map_err(|_| AppError::invalid("input.variantId", "variant not found"))?;
                listing_links::link_listing(&c, id, variant).await?;
                Ok(Listing(listings::get(&c, id).await?))
            })
            .await?;
            Ok(ListingPayload {
                listing,
                user_errors,
            })
        })
        .await
    }

    /// Unlinks a listing (kept unlinked by later product syncs): its stock is no longer pushed.
    async fn unlink_listing(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: UnlinkListingInput,
    ) -> Result<Option<ListingPayload>> {
        some(async {
            let (listing, user_errors) = mutate(ctx, async |c| {
                let id = listing_uuid(&input.listing_id)?;
                listing_links::unlink_listing(&c, id).await?;
                Ok(Listing(listings::get(&c, id).await?))
            })
            .await?;
            Ok(ListingPayload {
                listing,
                user_errors,
            })
        })
        .await
    }

    /// Pushes the stock of a store's linked listings, or of the listings named, now — even
    /// quantities the platform already accepted.
    async fn push_stock(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The mutation's input.")] input: PushStockInput,
    ) -> Result<Option<PushStockPayload>> {
        some(async {
            let (out, user_errors) = mutate(ctx, async |c| {
                let store = input
                    .store_id
                    .as_ref()
                    .map(|s| {
                        crate::graphql::relay::store_id(s)
                            .map_err(|_| AppError::invalid("input.storeId", "store not found"))
                    })
                    .transpose()?;
                let ids = input
                    .listing_ids
                    .as_ref()
                    .map(|l| l.iter().map(listing_uuid).collect::<Result<Vec<_>, _>>())
                    .transpose()?;
                crate::domain::stock_push::push_now(&c, store, ids).await
            })
            .await?;
            let (queued, jobs) = out.unwrap_or_default();
            Ok(PushStockPayload {
                queued,
                job_ids: jobs
                    .into_iter()
                    .map(|j| crate::graphql::relay::job_gid(crate::ids::JobId(j)))
                    .collect(),
                user_errors,
            })
        })
        .await
    }
}

fn listing_uuid(id: &ID) -> Result<uuid::Uuid, AppError> {
    match crate::graphql::relay::decode_any(id) {
        Ok((kind, id)) if kind == "Listing" => Ok(id),
        _ => Err(AppError::NotFound("Listing")),
    }
}

/// Listing queries.
#[derive(Default)]
pub struct ListingQuery;

#[Object]
impl ListingQuery {
    /// The listings of a store (the first 500), optionally only those in one link state (e.g.
    /// UNLINKED and AMBIGUOUS ones to resolve).
    #[allow(clippy::too_many_arguments)]
    async fn listings(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The store (global id).")] store_id: ID,
        #[graphql(desc = "Only listings in this link state.")] link_status: Option<LinkStatus>,
        #[graphql(
            desc = "At most this many items from the start of the list (0 to 100, default 20)."
        )]
        first: Option<i32>,
        #[graphql(
            desc = "Only items after this cursor (an edge's `cursor`, or `pageInfo.endCursor`)."
        )]
        after: Option<String>,
        #[graphql(
            desc = "At most this many items from the end of the list (0 to 100); not with `first`."
        )]
        last: Option<i32>,
        #[graphql(
            desc = "Only items before this cursor (an edge's `cursor`, or `pageInfo.startCursor`)."
        )]
        before: Option<String>,
    ) -> Result<crate::graphql::relay::Conn<Listing>> {
        let args = crate::graphql::relay::page_args(after, before, first, last)?;
        let page = read(ctx, async |c| {
            let Ok(store) = crate::graphql::relay::store_id(&store_id) else {
                c.access
                    .org()?
                    .require(crate::auth::permissions::Perm::StoresRead)?;
                return Ok(crate::domain::page::Page {
                    items: Vec::new(),
                    has_next: false,
                    has_previous: false,
                    all: None,
                });
            };
            listings::of_store(&c, store, link_status.map(Into::into), args).await
        })
        .await?;
        Ok(crate::graphql::relay::connection(page, |l| l.id, Listing))
    }
}
