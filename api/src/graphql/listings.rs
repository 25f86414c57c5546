//! Listings in GraphQL: a variant as it appears in one store, its allocation rule and the
//! quantity to push.

use crate::domain::catalog::PriceInput;
use crate::domain::listings::{self, ListingRow};
use crate::error::AppError;
use crate::graphql::relay::{variant_gid, variant_id};
use crate::graphql::scalars::{Money, MoneyInput};
use crate::graphql::user_errors::UserError;
use crate::graphql::{mutate, read};
use crate::ids::VariantId;
use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject};

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
    /// Variant.
    async fn variant_id(&self) -> ID {
        variant_gid(VariantId(self.0.variant_id))
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
    /// in the store's branch (own and 3PL locations; bundles derived from their components).
    async fn push_quantity(&self, ctx: &Context<'_>) -> Result<i64> {
        read(ctx, async |c| listings::push_quantity_of(&c, &self.0).await).await
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
        input: CreateListingInput,
    ) -> Result<ListingPayload> {
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
    }

    /// Changes a listing's status, price or allocation rule.
    async fn update_listing(
        &self,
        ctx: &Context<'_>,
        input: UpdateListingInput,
    ) -> Result<ListingPayload> {
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
    }
}

/// Listing queries.
#[derive(Default)]
pub struct ListingQuery;

#[Object]
impl ListingQuery {
    /// The listings of a store.
    async fn listings(&self, ctx: &Context<'_>, store_id: ID) -> Result<Vec<Listing>> {
        read(ctx, async |c| {
            let Ok(store) = crate::graphql::relay::store_id(&store_id) else {
                c.access
                    .org()?
                    .require(crate::auth::permissions::Perm::StoresRead)?;
                return Ok(Vec::new());
            };
            let rows = listings::of_store(&c, store).await?;
            Ok(rows.into_iter().map(Listing).collect())
        })
        .await
    }
}
