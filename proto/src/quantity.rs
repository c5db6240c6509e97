//! Exact decimal quantities. `Item.quantity` is decimal text of at most 15 digits and 6
//! decimals; write-offs add and subtract such quantities, so they are held as whole millionths
//! and never rounded.

use std::fmt;

/// Decimals a quantity may have.
const DECIMALS: u32 = 6;
const SCALE: u128 = 10u128.pow(DECIMALS);

/// A non-negative decimal quantity, in millionths.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Quantity(u128);

impl Quantity {
    pub const ZERO: Quantity = Quantity(0);

    /// Parses `12`, `2.5` or `0.000001`: digits, optionally a point and 1 to 6 decimals.
    pub fn parse(text: &str) -> Option<Self> {
        let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
        let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
        if whole.is_empty() || whole.len() > 15 || !digits(whole) || !digits(frac) || frac.len() > DECIMALS as usize || (text.contains('.') && frac.is_empty())
        {
            return None;
        }
        let whole: u128 = whole.parse().ok()?;
        let frac: u128 = if frac.is_empty() { 0 } else { format!("{frac:0<width$}", width = DECIMALS as usize).parse().ok()? };
        Some(Quantity(whole * SCALE + frac))
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn saturating_sub(self, other: Quantity) -> Quantity {
        Quantity(self.0.saturating_sub(other.0))
    }

    pub fn checked_add(self, other: Quantity) -> Option<Quantity> {
        self.0.checked_add(other.0).map(Quantity)
    }
}

impl fmt::Display for Quantity {
    /// The shortest decimal text: `20`, `2.5`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (whole, frac) = (self.0 / SCALE, self.0 % SCALE);
        if frac == 0 {
            return write!(f, "{whole}");
        }
        let frac = format!("{frac:0width$}", width = DECIMALS as usize);
        write!(f, "{whole}.{}", frac.trim_end_matches('0'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_exactly_and_print_shortest() {
        for (text, shown) in [("12", "12"), ("2.5", "2.5"), ("0.000001", "0.000001"), ("007.50", "7.5"), ("999999999999999.999999", "999999999999999.999999")] {
            assert_eq!(Quantity::parse(text).unwrap().to_string(), shown, "{text}");
        }
        for bad in ["", ".5", "5.", "1.0000001", "-1", "1e3", "1,5", "1234567890123456"] {
            assert_eq!(Quantity::parse(bad), None, "{bad:?}");
        }
        let (a, b) = (Quantity::parse("0.1").unwrap(), Quantity::parse("0.2").unwrap());
        assert_eq!(a.checked_add(b).unwrap(), Quantity::parse("0.3").unwrap(), "no binary rounding");
        assert_eq!(a.saturating_sub(b), Quantity::ZERO);
    }
}
