//! The master catalog: products, variants (SKU unique per organization), prices per currency in
//! exact minor units, bundles, and stock locations.

use crate::auth::permissions::Perm;
use crate::domain::{Ctx, clean_text, require_visible, stmt};
use crate::error::{AppError, AppResult};
use crate::ids::{BranchId, LocationId, ProductId, VariantId};
use sea_orm::{ConnectionTrait, DbErr};
use uuid::Uuid;

/// Decimal places of an ISO 4217 currency (IDR/VND/UGX 0, NGN/KES/MYR 2, KWD 3): the one money
/// table of both crates, `connectors::money`.
pub fn exponent(field: &str, currency: &str) -> AppResult<(String, u32)> {
    let c = connectors::money::currency(currency)
        .map_err(|_| AppError::invalid(field, "must be an ISO 4217 currency code such as MYR"))?;
    let exp = connectors::money::exponent(c.code())
        .map_err(|_| AppError::invalid(field, "must be an ISO 4217 currency code such as MYR"))?;
    Ok((c.code().to_owned(), exp))
}

/// Prices one variant may carry (one per currency).
pub const MAX_PRICES: usize = 20;

/// The largest amount of money in minor units (10^15: sums of many stay far inside `i64`).
pub const MAX_MONEY_MINOR: i64 = 1_000_000_000_000_000;

/// Parses a decimal amount into minor units of `currency`, refusing more decimals than it has.
/// People type prices, so the text must be plain: digits, optionally `.` and digits, never negative.
pub fn parse_money(field: &str, amount: &str, currency: &str) -> AppResult<(i64, String)> {
    let (code, exp) = exponent(&format!("{field}.currencyCode"), currency)?;
    let t = amount.trim();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole)
        || (!frac.is_empty() && !frac.bytes().all(|b| b.is_ascii_digit()))
        || t.ends_with('.')
    {
        return Err(AppError::invalid(
            &format!("{field}.amount"),
            "must be a non-negative decimal such as 12.50",
        ));
    }
    let too_large = || {
        AppError::invalid(
            &format!("{field}.amount"),
            format!("must be at most {MAX_MONEY_MINOR} minor units"),
        )
    };
    let money = connectors::Money::parse(t, &code).map_err(|e| match e {
        connectors::money::MoneyError::TooPrecise(..) => AppError::invalid(
            &format!("{field}.amount"),
            format!(
                "{code} has {exp} decimal place{}",
                if exp == 1 { "" } else { "s" }
            ),
        ),
        _ => too_large(),
    })?;
    if money.minor > MAX_MONEY_MINOR {
        return Err(too_large());
    }
    Ok((money.minor, code))
}

/// Formats minor units as the currency's decimal string (KWD `1.250`, IDR `15000`).
pub fn format_money(minor: i64, currency: &str) -> String {
    connectors::money::format_minor(minor, currency)
}

/// A price as given.
#[derive(Debug, Clone)]
pub struct PriceInput {
    /// Decimal text.
    pub amount: String,
    /// ISO 4217.
    pub currency: String,
}

/// A variant as given.
#[derive(Debug, Clone)]
pub struct VariantInput {
    /// SKU, unique in the organization.
    pub sku: String,
    /// Name (e.g. "Red / XL").
    pub name: String,
    /// Prices, one per currency.
    pub prices: Vec<PriceInput>,
    /// Attributes (colour, size…).
    pub attributes: serde_json::Map<String, serde_json::Value>,
}

/// Input of [`create_product`].
#[derive(Debug, Clone)]
pub struct CreateProduct {
    /// Name.
    pub name: String,
    /// Lifecycle.
    pub status: entity::enums::ProductStatus,
    /// Description.
    pub description: String,
    /// Image URLs.
    pub image_urls: Vec<String>,
    /// Attributes (brand, material…).
    pub attributes: serde_json::Map<String, serde_json::Value>,
    /// Variants (at least one).
    pub variants: Vec<VariantInput>,
}

/// A SKU: trimmed, 1-100 printable characters.
pub(crate) fn sku(field: &str, raw: &str) -> AppResult<String> {
    let s = raw.trim();
    if s.is_empty() || s.chars().count() > 100 || s.chars().any(char::is_control) {
        return Err(AppError::invalid(
            field,
            "must be 1-100 printable characters",
        ));
    }
    Ok(s.to_owned())
}

/// Image URLs: http(s), at most 20 of at most 2000 characters.
pub fn check_image_urls(field: &str, urls: &[String]) -> AppResult<()> {
    if urls.len() > 20 {
        return Err(AppError::invalid(field, "at most 20 images"));
    }
    if let Some(bad) = urls.iter().find(|u| {
        !(u.starts_with("https://") || u.starts_with("http://"))
            || u.len() > 2000
            || u.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(AppError::invalid(
            field,
            format!("{bad:?} is not an http(s) URL"),
        ));
    }
    Ok(())
}

/// Attributes: at most 50 keys.
pub fn check_attributes(
    field: &str,
    attributes: &serde_json::Map<String, serde_json::Value>,
) -> AppResult<()> {
    if attributes.len() > 50 || attributes.keys().any(|k| k.is_empty() || k.len() > 100) {
        return Err(AppError::invalid(
            field,
            "at most 50 attributes with names of 1-100 characters",
        ));
    }
    Ok(())
}

/// Records that the organization's catalog changed (cached reads are dropped after commit).
pub fn catalog_changed(c: &Ctx<'_>) -> AppResult<()> {
    let org = c.access.org()?.org_id;
    c.effects.push(crate::effects::Effect::CatalogChanged(org));
    Ok(())
}

fn unique_sku(e: DbErr, sku: &str) -> AppError {
    if e.to_string().contains("variants_org_sku_key") {
        AppError::Conflict(format!("SKU {sku} already exists"))
    } else {
        AppError::from(e)
    }
}

/// Creates a product with its variants and prices.
pub async fn create_product(
    c: &Ctx<'_>,
    input: CreateProduct,
) -> AppResult<(ProductId, Vec<VariantId>)> {
    c.access.org()?.require(Perm::CatalogWrite)?;
    let name = clean_text("input.name", &input.name, 300)?;
    if input.variants.is_empty() || input.variants.len() > 100 {
        return Err(AppError::invalid(
            "input.variants",
            "must hold 1 to 100 variants",
        ));
    }
    if input.description.chars().count() > 20_000 {
        return Err(AppError::invalid(
            "input.description",
            "must be at most 20000 characters",
        ));
    }
    check_image_urls("input.imageUrls", &input.image_urls)?;
    check_attributes("input.attributes", &input.attributes)?;
    let id = ProductId::new_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO products (org_id, id, name, status, description, image_urls, attributes) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6)",
        vec![
            id.uuid().into(),
            name.into(),
            input.status.into(),
            input.description.clone().into(),
            input.image_urls.clone().into(),
            serde_json::Value::Object(input.attributes.clone()).into(),
        ],
    ))
    .await?;
    let mut ids = Vec::with_capacity(input.variants.len());
    for (i, v) in input.variants.iter().enumerate() {
        ids.push(insert_variant(c, id, &format!("input.variants.{i}"), v, false).await?);
    }
    catalog_changed(c)?;
    crate::domain::order_stock::link_unlinked(c).await?;
    Ok((id, ids))
}

async fn insert_variant(
    c: &Ctx<'_>,
    product: ProductId,
    field: &str,
    v: &VariantInput,
    bundle: bool,
) -> AppResult<VariantId> {
    let sku = sku(&format!("{field}.sku"), &v.sku)?;
    check_attributes(&format!("{field}.attributes"), &v.attributes)?;
    if v.prices.len() > MAX_PRICES {
        return Err(AppError::invalid(
            &format!("{field}.prices"),
            format!("at most {MAX_PRICES} prices (one per currency)"),
        ));
    }
    let vid = VariantId::new_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO variants (org_id, id, product_id, sku, name, is_bundle, attributes) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6)",
        vec![
            vid.uuid().into(),
            product.uuid().into(),
            sku.clone().into(),
            v.name.trim().to_owned().into(),
            bundle.into(),
            serde_json::Value::Object(v.attributes.clone()).into(),
        ],
    ))
    .await
    .map_err(|e| unique_sku(e, &sku))?;
    for (j, p) in v.prices.iter().enumerate() {
        let (minor, code) = parse_money(&format!("{field}.prices.{j}"), &p.amount, &p.currency)?;
        c.tx.execute_raw(stmt(
            "INSERT INTO variant_prices (org_id, variant_id, currency, amount_minor) \
             VALUES ((SELECT app_org_id()), $1, $2, $3) \
             ON CONFLICT (org_id, variant_id, currency) DO UPDATE SET amount_minor = EXCLUDED.amount_minor, updated_at = now()",
            vec![vid.uuid().into(), code.into(), minor.into()],
        ))
        .await?;
    }
    Ok(vid)
}

/// Creates a bundle: a variant (of `product`) made of component variants × quantity.
pub async fn create_bundle(
    c: &Ctx<'_>,
    product: ProductId,
    variant: VariantInput,
    components: &[(VariantId, i32)],
) -> AppResult<VariantId> {
    c.access.org()?.require(Perm::CatalogWrite)?;
    if components.is_empty() || components.len() > 50 {
        return Err(AppError::invalid(
            "input.components",
            "must hold 1 to 50 components",
        ));
    }
    require_visible(c.tx, "products", product.uuid(), "Product").await?;
    let id = insert_variant(c, product, "input", &variant, true).await?;
    for (i, (component, qty)) in components.iter().enumerate() {
        if !(1..=10_000).contains(qty) {
            return Err(AppError::invalid(
                &format!("input.components.{i}.quantity"),
                "must be 1-10000",
            ));
        }
        let is_bundle = crate::domain::inventory::variant(c, *component).await?;
        if is_bundle {
            return Err(AppError::invalid(
                &format!("input.components.{i}.variantId"),
                "a bundle cannot contain another bundle",
            ));
        }
        c.tx.execute_raw(stmt(
            "INSERT INTO bundle_components (org_id, bundle_id, component_id, quantity) \
             VALUES ((SELECT app_org_id()), $1, $2, $3)",
            vec![id.uuid().into(), component.uuid().into(), (*qty).into()],
        ))
        .await
        .map_err(|e| {
            if e.to_string().contains("bundle_components_pkey") {
                AppError::invalid(
                    &format!("input.components.{i}.variantId"),
                    "is listed twice",
                )
            } else {
                AppError::from(e)
            }
        })?;
    }
    catalog_changed(c)?;
    crate::domain::order_stock::link_unlinked(c).await?;
    Ok(id)
}

/// Creates a stock location in a branch.
pub async fn create_location(
    c: &Ctx<'_>,
    branch: BranchId,
    name: &str,
    kind: entity::enums::LocationKind,
) -> AppResult<LocationId> {
    c.access.org()?.require(Perm::InventoryWrite(branch))?;
    let name = clean_text("input.name", name, 200)?;
    if kind == entity::enums::LocationKind::Marketplace {
        return Err(AppError::invalid(
            "input.kind",
            "must be WAREHOUSE or THIRD_PARTY (marketplace-held locations are created by store sync)",
        ));
    }
    require_visible(c.tx, "branches", branch.uuid(), "Branch").await?;
    let id = LocationId::new_v7();
    c.tx.execute_raw(stmt(
        "INSERT INTO locations (org_id, id, branch_id, name, kind) VALUES ((SELECT app_org_id()), $1, $2, $3, $4)",
        vec![id.uuid().into(), branch.uuid().into(), name.clone().into(), kind.into()],
    ))
    .await
    .map_err(|e| {
        if e.to_string().contains("locations_org_branch_name_key") {
            AppError::Conflict(format!("this branch already has a location named {name}"))
        } else {
            AppError::from(e)
        }
    })?;
    Ok(id)
}

/// Sets a level's safety stock and reorder point (creating the level when missing).
pub async fn set_thresholds(
    c: &Ctx<'_>,
    variant: VariantId,
    location: LocationId,
    safety_stock: i64,
    reorder_point: Option<i64>,
) -> AppResult<()> {
    let (branch, _) = crate::domain::inventory::location(c, location).await?;
    c.access.org()?.require(Perm::InventoryWrite(branch))?;
    if crate::domain::inventory::variant(c, variant).await? {
        return Err(AppError::invalid(
            "input.variantId",
            "a bundle has no stock of its own",
        ));
    }
    crate::domain::quantity("input.safetyStock", safety_stock, 0)?;
    if let Some(r) = reorder_point {
        crate::domain::quantity("input.reorderPoint", r, 0)?;
    }
    c.tx.execute_raw(stmt(
        "INSERT INTO inventory_levels (org_id, variant_id, location_id, branch_id, safety_stock, reorder_point) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5) \
         ON CONFLICT (org_id, variant_id, location_id) DO UPDATE \
         SET safety_stock = EXCLUDED.safety_stock, reorder_point = EXCLUDED.reorder_point, updated_at = now()",
        vec![variant.uuid().into(), location.uuid().into(), branch.uuid().into(), safety_stock.into(), reorder_point.into()],
    ))
    .await?;
    Ok(())
}

/// Records a variant's cost (MANUAL from a person or partner, LEARNED from purchase and payout
/// data). History is kept: the current cost is the newest row per currency.
pub async fn record_cost(
    c: &Ctx<'_>,
    variant: VariantId,
    price: &PriceInput,
    source: entity::enums::CostSource,
    note: &str,
) -> AppResult<()> {
    c.access.org()?.require(Perm::CatalogWrite)?;
    if note.chars().count() > 500 {
        return Err(AppError::invalid(
            "input.note",
            "must be at most 500 characters",
        ));
    }
    crate::domain::inventory::variant(c, variant).await?;
    let (minor, code) = parse_money("input.cost", &price.amount, &price.currency)?;
    c.tx.execute_raw(stmt(
        "INSERT INTO variant_costs (org_id, id, variant_id, currency, amount_minor, source, note, created_by) \
         VALUES ((SELECT app_org_id()), $1, $2, $3, $4, $5, $6, $7)",
        vec![
            Uuid::now_v7().into(),
            variant.uuid().into(),
            code.into(),
            minor.into(),
            source.into(),
            note.trim().to_owned().into(),
            c.access.user_id.map(|u| u.uuid()).into(),
        ],
    ))
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_honours_each_currencys_exponent() {
        let p = |a: &str, c: &str| parse_money("input.price", a, c).map(|(m, _)| m);
        assert_eq!(p("15000", "IDR").ok(), Some(15_000));
        assert_eq!(p("12.5", "USD").ok(), Some(1_250));
        assert_eq!(p("1.250", "KWD").ok(), Some(1_250));
        assert_eq!(p("7", "KWD").ok(), Some(7_000));
        assert!(matches!(p("1.5", "IDR"), Err(AppError::Validation { .. })));
        assert!(matches!(
            p("1.001", "USD"),
            Err(AppError::Validation { .. })
        ));
        assert!(matches!(
            p("1.0001", "KWD"),
            Err(AppError::Validation { .. })
        ));
        assert!(matches!(p("-1", "USD"), Err(AppError::Validation { .. })));
        assert!(matches!(p("1e3", "USD"), Err(AppError::Validation { .. })));
        assert_eq!(format_money(1_250, "KWD"), "1.250");
        assert_eq!(format_money(15_000, "IDR"), "15000");
        assert_eq!(format_money(1_205, "USD"), "12.05");
        assert_eq!(format_money(5, "NGN"), "0.05");
    }
}
