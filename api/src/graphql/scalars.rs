//! Values shared by every GraphQL module: money (exact, as a decimal string with its currency)
//! and the money input. Dates are async-graphql's `DateTime` (RFC 3339, UTC); ids and cursors are
//! in [`super::relay`].

use crate::domain::catalog::{PriceInput, format_money};
use async_graphql::{InputObject, SimpleObject};

/// An amount of money, exact in the currency's minor units.
#[derive(SimpleObject, Clone, Debug)]
pub struct Money {
    /// Decimal string with the currency's decimals (KWD `1.250`, IDR `15000`, USD `12.50`).
    pub amount: String,
    /// ISO 4217 code.
    pub currency_code: String,
}

impl Money {
    /// `minor` units of `currency`.
    pub fn new(minor: i64, currency: &str) -> Self {
        Self {
            amount: format_money(minor, currency),
            currency_code: currency.to_owned(),
        }
    }
}

/// A price.
#[derive(InputObject)]
pub struct MoneyInput {
    /// Decimal text.
    pub amount: String,
    /// ISO 4217.
    pub currency_code: String,
}

impl From<MoneyInput> for PriceInput {
    fn from(m: MoneyInput) -> Self {
        Self {
            amount: m.amount,
            currency: m.currency_code,
        }
    }
}
