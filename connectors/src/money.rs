//! Money as integer minor units. Platforms send amounts as JSON floats (Shopee), strings (TikTok,
//! Lazada) or `{currency, value}` (Jumia); all are parsed from their decimal text, never through
//! floating-point arithmetic, into the currency's minor units (IDR 0 decimals; MYR, PHP, SGD, KES 2).

/// Money in minor units of an ISO 4217 currency.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Money {
    /// Amount in minor units (cents, sen, …); negative for debits.
    pub minor: i64,
    /// ISO 4217 code, upper case.
    pub currency: [u8; 3],
}

/// Why an amount could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// Not a decimal number.
    #[error("`{0}` is not a decimal amount")]
    NotANumber(String),
    /// More fractional digits than the currency has (other than trailing zeros).
    #[error("`{0}` has more decimals than {1} allows")]
    TooPrecise(String, String),
    /// Unknown currency code.
    #[error("unknown currency `{0}`")]
    UnknownCurrency(String),
    /// Does not fit in 64 bits of minor units.
    #[error("`{0}` is out of range")]
    Overflow(String),
}

/// Currencies whose ISO 4217 minor unit is not used in practice: the rupiah is priced and paid in
/// whole units everywhere Mercato sells (Shopee, TikTok Shop and Lazada send whole rupiah).
const WHOLE_UNIT_CURRENCIES: [&str; 1] = ["IDR"];

/// The ISO 4217 currency `code` (any case, surrounding spaces ignored).
pub fn currency(code: &str) -> Result<iso_currency::Currency, MoneyError> {
    let code = code.trim().to_ascii_uppercase();
    iso_currency::Currency::from_code(&code).ok_or(MoneyError::UnknownCurrency(code))
}

/// Decimal places of a currency as Mercato and the marketplaces use it: the ISO 4217 minor unit
/// (from the `iso_currency` crate: KWD 3, MYR 2, VND 0), except whole-unit IDR.
pub fn exponent(code: &str) -> Result<u32, MoneyError> {
    let c = currency(code)?;
    Ok(if WHOLE_UNIT_CURRENCIES.contains(&c.code()) {
        0
    } else {
        u32::from(c.exponent().unwrap_or(0))
    })
}

impl Money {
    /// Parses plain decimal text such as `"12.50"`, `"-3"` or `"15000"` (no exponents, no grouping).
    pub fn parse(text: &str, currency: &str) -> Result<Self, MoneyError> {
        let digits = exponent(currency)?;
        let code: [u8; 3] = currency
            .to_ascii_uppercase()
            .as_bytes()
            .try_into()
            .map_err(|_| MoneyError::UnknownCurrency(currency.to_owned()))?;
        let t = text.trim();
        let (negative, unsigned) = match t.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, t.strip_prefix('+').unwrap_or(t)),
        };
        let (whole, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
        let is_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() && frac.is_empty() || !is_digits(whole) || !is_digits(frac) {
            return Err(MoneyError::NotANumber(text.to_owned()));
        }
        let frac_trimmed = frac.trim_end_matches('0');
        let places = usize::try_from(digits).unwrap_or(0);
        if frac_trimmed.len() > places {
            return Err(MoneyError::TooPrecise(text.to_owned(), currency.to_owned()));
        }
        let padded = format!("{whole}{frac_trimmed:0<places$}");
        let magnitude: i64 = if padded.is_empty() {
            0
        } else {
            padded
                .parse()
                .map_err(|_| MoneyError::Overflow(text.to_owned()))?
        };
        Ok(Money {
            minor: if negative { -magnitude } else { magnitude },
            currency: code,
        })
    }

    /// The currency code as text.
    pub fn currency_code(&self) -> &str {
        std::str::from_utf8(&self.currency).unwrap_or("XXX")
    }

    /// The amount as the currency's decimal text (KWD `1.250`, IDR `15000`, MYR `-3.10`).
    pub fn to_decimal(&self) -> String {
        format_minor(self.minor, self.currency_code())
    }
}

/// `minor` units of `currency` as decimal text (2 decimals for an unknown code).
pub fn format_minor(minor: i64, currency: &str) -> String {
    let exp = exponent(currency).unwrap_or(2);
    if exp == 0 {
        return minor.to_string();
    }
    let scale = 10u64.pow(exp);
    let sign = if minor < 0 { "-" } else { "" };
    let a = minor.unsigned_abs();
    format!("{sign}{}.{:0w$}", a / scale, a % scale, w = exp as usize)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn minor(t: &str, c: &str) -> i64 {
        Money::parse(t, c).map(|m| m.minor).unwrap_or(i64::MIN)
    }

    #[test]
    fn exact_minor_units_per_currency() {
        assert_eq!(minor("15000", "IDR"), 15_000);
        assert_eq!(minor("15000.00", "IDR"), 15_000);
        assert_eq!(minor("12.5", "MYR"), 1_250);
        assert_eq!(minor("12.50", "PHP"), 1_250);
        assert_eq!(minor("0.07", "SGD"), 7);
        assert_eq!(minor("-3.1", "KES"), -310);
        assert_eq!(minor(".5", "MYR"), 50);
        // 0.1 + 0.2 is not 0.3 in floating point; as text it is exact.
        assert_eq!(
            minor("0.1", "MYR") + minor("0.2", "MYR"),
            minor("0.3", "MYR")
        );
        assert_eq!(
            Money::parse("1", "myr").map(|m| m.currency_code().to_owned()),
            Ok("MYR".into())
        );
    }

    #[test]
    fn exponents_come_from_iso_4217_with_whole_rupiah() {
        assert_eq!(exponent("KWD"), Ok(3));
        assert_eq!(exponent("myr"), Ok(2));
        assert_eq!(exponent("VND"), Ok(0));
        assert_eq!(exponent("IDR"), Ok(0));
        assert_eq!(minor("1.250", "KWD"), 1_250);
        assert_eq!(format_minor(1_250, "KWD"), "1.250");
        assert_eq!(format_minor(15_000, "IDR"), "15000");
        assert_eq!(format_minor(-310, "KES"), "-3.10");
        assert_eq!(
            Money::parse("12.5", "MYR").map(|m| m.to_decimal()),
            Ok("12.50".into())
        );
    }

    #[test]
    fn precision_and_garbage_are_errors_not_rounding() {
        assert!(matches!(
            Money::parse("15000.5", "IDR"),
            Err(MoneyError::TooPrecise(..))
        ));
        assert!(matches!(
            Money::parse("1.005", "MYR"),
            Err(MoneyError::TooPrecise(..))
        ));
        for bad in ["", "-", ".", "1,5", "1e3", "abc", "1.2.3"] {
            assert!(
                matches!(Money::parse(bad, "MYR"), Err(MoneyError::NotANumber(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            Money::parse("1", "XYZ"),
            Err(MoneyError::UnknownCurrency(_))
        ));
        assert!(matches!(
            Money::parse("99999999999999999999", "IDR"),
            Err(MoneyError::Overflow(_))
        ));
    }
}
