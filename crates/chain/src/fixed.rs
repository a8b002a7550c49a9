//! The few operations of substrate-fixed's `I32F32` that subtensor's weight
//! checks use, bit for bit: a signed 64-bit integer counting 2^-32ths.
//! Kept here so that this crate needs no fixed-point library; the tests
//! compare every operation with substrate-fixed itself.

/// A signed fixed-point number with 32 fractional bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub(crate) struct I32F32(i64);

const FRAC_BITS: u32 = 32;
const ONE: i64 = 1 << FRAC_BITS;

impl I32F32 {
    pub(crate) const ZERO: Self = Self(0);

    #[cfg(test)]
    pub(crate) const fn from_bits(bits: i64) -> Self {
        Self(bits)
    }

    #[cfg(test)]
    pub(crate) const fn to_bits(self) -> i64 {
        self.0
    }

    /// `saturating_from_num(v)` for a `u16`: exact.
    pub(crate) const fn from_u16(v: u16) -> Self {
        Self((v as i64) << FRAC_BITS)
    }

    /// `saturating_mul`: the exact product rounded towards −∞, clamped to
    /// the type's range.
    pub(crate) fn saturating_mul(self, rhs: Self) -> Self {
        let product = (i128::from(self.0) * i128::from(rhs.0)) >> FRAC_BITS;
        Self(i64::try_from(product).unwrap_or(if product < 0 { i64::MIN } else { i64::MAX }))
    }

    /// `checked_div`: the quotient truncated towards zero; `None` for a zero
    /// divisor or a quotient out of range.
    pub(crate) fn checked_div(self, rhs: Self) -> Option<Self> {
        if rhs.0 == 0 {
            return None;
        }
        let quotient = (i128::from(self.0) << FRAC_BITS) / i128::from(rhs.0);
        i64::try_from(quotient).ok().map(Self)
    }

    /// Subtensor's `safe_div`: [`I32F32::checked_div`], or zero.
    pub(crate) fn safe_div(self, rhs: Self) -> Self {
        self.checked_div(rhs).unwrap_or(Self::ZERO)
    }

    /// `wrapping_add`.
    pub(crate) fn wrapping_add(self, rhs: Self) -> Self {
        Self(self.0.wrapping_add(rhs.0))
    }

    /// `round`: to the nearest integer, ties away from zero (saturating
    /// where substrate-fixed would panic in a debug build).
    pub(crate) fn round(self) -> Self {
        let half = ONE / 2;
        let magnitude = self.0.unsigned_abs().saturating_add(half.unsigned_abs());
        let rounded = magnitude & !(ONE.unsigned_abs() - 1);
        let rounded = i64::try_from(rounded).unwrap_or(i64::MAX);
        Self(if self.0 < 0 { -rounded } else { rounded })
    }

    /// `saturating_to_num::<u16>()`: the integer part (rounded towards −∞),
    /// clamped to `0..=65535`.
    pub(crate) fn saturating_to_u16(self) -> u16 {
        let int = self.0 >> FRAC_BITS;
        u16::try_from(int.max(0)).unwrap_or(u16::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let x = I32F32::from_u16(3);
        assert_eq!(x.to_bits(), 3 << 32);
        assert_eq!(x.saturating_mul(I32F32::from_u16(2)), I32F32::from_u16(6));
        assert_eq!(I32F32::from_u16(1).checked_div(I32F32::ZERO), None);
        assert_eq!(I32F32::from_u16(7).safe_div(I32F32::ZERO), I32F32::ZERO);
        let half = I32F32::from_bits(ONE / 2);
        assert_eq!(half.round(), I32F32::from_u16(1));
        assert_eq!(I32F32::from_bits(-ONE / 2).round(), I32F32::from_bits(-ONE));
        assert_eq!(I32F32::from_bits(ONE / 2 - 1).round(), I32F32::ZERO);
        assert_eq!(I32F32::from_bits(-1).saturating_to_u16(), 0);
        assert_eq!(I32F32::from_bits(i64::MAX).saturating_to_u16(), u16::MAX);
        assert_eq!(
            I32F32::from_bits(i64::MAX).saturating_mul(I32F32::from_u16(2)),
            I32F32::from_bits(i64::MAX)
        );
    }
}

/// Every operation against substrate-fixed (through `medmetric-yuma`).
#[cfg(test)]
mod oracle {
    use medmetric_yuma::math::I32F32 as Oracle;
    use proptest::prelude::*;

    use super::I32F32;

    fn pair(bits: i64) -> (I32F32, Oracle) {
        (I32F32::from_bits(bits), Oracle::from_bits(bits))
    }

    fn any_bits() -> impl Strategy<Value = i64> {
        prop_oneof![
            any::<i64>(),
            // The range weights live in: u16 values and their shares.
            (0_i64..=(65_536_i64 << 32)),
            (0_u16..=u16::MAX).prop_map(|v| i64::from(v) << 32),
            Just(0),
            Just(1),
            Just(-1),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 4096, ..ProptestConfig::default() })]

        #[test]
        fn arithmetic_matches_substrate_fixed(a in any_bits(), b in any_bits()) {
            let (x, ox) = pair(a);
            let (y, oy) = pair(b);
            prop_assert_eq!(x.saturating_mul(y).to_bits(), ox.saturating_mul(oy).to_bits());
            prop_assert_eq!(x.checked_div(y).map(I32F32::to_bits), ox.checked_div(oy).map(Oracle::to_bits));
            prop_assert_eq!(x.wrapping_add(y).to_bits(), ox.wrapping_add(oy).to_bits());
            prop_assert_eq!(x.saturating_to_u16(), ox.saturating_to_num::<u16>());
            prop_assert_eq!(x < y, ox < oy);
            // `round` panics in substrate-fixed when the result overflows.
            if let Some(r) = ox.checked_round() {
                prop_assert_eq!(x.round().to_bits(), r.to_bits());
            }
        }

        #[test]
        fn u16_conversion_matches(v in any::<u16>()) {
            prop_assert_eq!(I32F32::from_u16(v).to_bits(), Oracle::saturating_from_num(v).to_bits());
        }
    }
}
