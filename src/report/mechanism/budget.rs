//! Privacy budget arithmetic in rho-zCDP (add-or-remove-one-respondent neighbours).
//!
//! Each table partitions the respondents in scope, so one respondent moves exactly
//! one cell by one: L2 sensitivity 1, and a table noised with discrete Gaussian
//! variance sigma^2 costs rho = 1 / (2 sigma^2). Tables compose by adding rho.

use std::fmt;

use dashu::integer::{IBig, UBig};
use dashu::rational::RBig;

/// A zCDP budget. Kept as a validated newtype so NaN, infinities and negative
/// values can never reach the ledger or the allocator.
#[derive(Clone, Copy, Debug, PartialEq, PartialOrd)]
pub struct Rho(f64);

impl Rho {
    pub const ZERO: Rho = Rho(0.0);

    pub fn new(value: f64) -> Result<Rho, BudgetError> {
        if value.is_finite() && value >= 0.0 {
            // `+ 0.0` folds -0.0 into 0.0 so equal budgets print and compare alike.
            Ok(Rho(value + 0.0))
        } else {
            Err(BudgetError::InvalidRho(value))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }
}

impl fmt::Display for Rho {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum BudgetError {
    InvalidRho(f64),
    InvalidDelta(f64),
    /// Weights must be non-empty, finite and strictly positive: a zero weight would
    /// mean infinite noise, which is better expressed by not releasing the table.
    InvalidWeights,
    /// Nothing can be released from a zero budget.
    ZeroBudget,
    /// The noise scale does not fit the exact representation (absurdly small rho).
    /// Carries the table index.
    ScaleOutOfRange(usize),
    /// A scale must be strictly positive: sigma = 0 would publish true counts.
    /// Carries sigma's numerator and denominator.
    InvalidScale(u64, u64),
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BudgetError::InvalidRho(v) => write!(f, "rho must be finite and >= 0, got {v}"),
            BudgetError::InvalidDelta(v) => write!(f, "delta must be in (0, 1), got {v}"),
            BudgetError::InvalidWeights => {
                write!(f, "allocation weights must be non-empty, finite and > 0")
            }
            BudgetError::ZeroBudget => write!(f, "cannot allocate noise from a zero budget"),
            BudgetError::ScaleOutOfRange(table) => {
                write!(f, "noise scale of table {table} is out of range")
            }
            BudgetError::InvalidScale(num, den) => {
                write!(f, "noise scale {num}/{den} must be strictly positive")
            }
        }
    }
}

impl std::error::Error for BudgetError {}

/// Exact noise scale sigma = num / den of one table.
///
/// opendp's sampler takes sigma (not sigma^2) as an exact rational, and sqrt of a
/// rational sigma^2 is generally irrational; so we fix sigma rational and sigma^2 =
/// num^2 / den^2 follows exactly. That makes the privacy cost den^2 / (2 num^2)
/// an exact rational too, which is what the allocator checks against the request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Scale {
    num: u64,
    den: u64,
}

impl Scale {
    #[cfg(test)]
    pub fn from_sigma_ratio(num: u64, den: u64) -> Result<Scale, BudgetError> {
        if num == 0 || den == 0 {
            return Err(BudgetError::InvalidScale(num, den));
        }
        Ok(Scale { num, den })
    }

    /// (numerator, denominator) of sigma.
    #[cfg(test)]
    pub fn sigma_parts(&self) -> (u64, u64) {
        (self.num, self.den)
    }

    /// (numerator, denominator) of sigma^2, exact: both fit u128 since each is a
    /// square of a u64.
    pub fn sigma2_parts(&self) -> (u128, u128) {
        let (n, d) = (u128::from(self.num), u128::from(self.den));
        (n * n, d * d)
    }

    pub fn sigma(&self) -> f64 {
        self.num as f64 / self.den as f64
    }

    pub fn sigma2(&self) -> f64 {
        self.sigma() * self.sigma()
    }

    pub fn sigma_exact(&self) -> RBig {
        RBig::from_parts(IBig::from(self.num), UBig::from(self.den))
    }

    /// Exact zCDP cost of one table at this scale: den^2 / (2 num^2).
    pub fn rho_exact(&self) -> RBig {
        let (n2, d2) = self.sigma2_parts();
        RBig::from_parts(IBig::from(d2), UBig::from(n2) * UBig::from(2u8))
    }

    /// Cost as f64, for display; the guarantee lives in `rho_exact`.
    pub fn rho(&self) -> f64 {
        1.0 / (2.0 * self.sigma2())
    }
}

/// Denominator of every allocated sigma. Rounding sigma up to a multiple of 1e-6
/// wastes at most ~2e-6 / sigma of the table's share: negligible, while the
/// sampler's rationals stay small.
pub const SIGMA_DENOMINATOR: u64 = 1_000_000;

/// Split `rho` across tables in proportion to `weights`, returning each table's
/// exact scale. Sigma is rounded *up*, then the exact total cost is checked against
/// the request and nudged further up if float error in the split made it exceed.
pub fn allocate(rho: Rho, weights: &[f64]) -> Result<Vec<Scale>, BudgetError> {
    if weights.is_empty() || weights.iter().any(|w| !(w.is_finite() && *w > 0.0)) {
        return Err(BudgetError::InvalidWeights);
    }
    if rho.get() == 0.0 {
        return Err(BudgetError::ZeroBudget);
    }
    let weight_sum: f64 = weights.iter().sum();
    if !weight_sum.is_finite() {
        return Err(BudgetError::InvalidWeights);
    }
    let mut nums = Vec::with_capacity(weights.len());
    for (table, w) in weights.iter().enumerate() {
        let share = rho.get() * (w / weight_sum);
        let scaled = (1.0 / (2.0 * share)).sqrt() * SIGMA_DENOMINATOR as f64;
        // `u64::MAX as f64` rounds up to 2^64, so `<` keeps the cast lossless.
        if !(scaled.is_finite() && scaled < u64::MAX as f64) {
            return Err(BudgetError::ScaleOutOfRange(table));
        }
        nums.push((scaled.ceil() as u64).max(1));
    }
    let requested = RBig::try_from(rho.get()).expect("a finite f64 is an exact rational");
    loop {
        let scales: Vec<Scale> = nums.iter().map(|&num| Scale { num, den: SIGMA_DENOMINATOR }).collect();
        let spent = scales.iter().fold(RBig::ZERO, |acc, s| acc + s.rho_exact());
        if spent <= requested {
            return Ok(scales);
        }
        // Only float error can land here and it is far below one step; every step
        // strictly lowers the cost, so this ends after a step or two.
        for (table, num) in nums.iter_mut().enumerate() {
            *num = num.checked_add(1).ok_or(BudgetError::ScaleOutOfRange(table))?;
        }
    }
}

/// Epsilon of the (epsilon, delta)-DP guarantee implied by rho-zCDP
/// (Bun & Steinke 2016, Prop. 1.3): eps = rho + 2 sqrt(rho ln(1/delta)).
/// Loose but standard and easy to state in a method note.
pub fn epsilon(rho: Rho, delta: f64) -> Result<f64, BudgetError> {
    if !(delta > 0.0 && delta < 1.0) {
        return Err(BudgetError::InvalidDelta(delta));
    }
    let r = rho.get();
    Ok(r + 2.0 * (r * (1.0 / delta).ln()).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rho(v: f64) -> Rho {
        Rho::new(v).unwrap()
    }

    #[test]
    fn rho_rejects_invalid_values() {
        for bad in [f64::NAN, f64::INFINITY, -1e-12] {
            assert!(Rho::new(bad).is_err(), "{bad} accepted");
        }
        assert_eq!(Rho::new(-0.0).unwrap().get().to_bits(), 0.0f64.to_bits());
    }

    #[test]
    fn even_split_matches_closed_form() {
        let scales = allocate(rho(1.0), &[1.0; 50]).unwrap();
        // sigma = sqrt(50 / 2) = 5 exactly, so rounding up must not move it.
        assert!(scales.iter().all(|s| s.sigma_parts() == (5 * SIGMA_DENOMINATOR, SIGMA_DENOMINATOR)));
    }

    #[test]
    fn allocation_rejects_bad_input() {
        assert_eq!(allocate(rho(1.0), &[]), Err(BudgetError::InvalidWeights));
        assert_eq!(allocate(rho(1.0), &[1.0, 0.0]), Err(BudgetError::InvalidWeights));
        assert_eq!(allocate(Rho::ZERO, &[1.0]), Err(BudgetError::ZeroBudget));
        assert!(Scale::from_sigma_ratio(0, 1).is_err());
    }

    #[test]
    fn epsilon_conversion() {
        let eps = epsilon(rho(0.5), 1e-6).unwrap();
        assert!((eps - (0.5 + 2.0 * (0.5 * 1e6f64.ln()).sqrt())).abs() < 1e-12);
        assert!(epsilon(rho(1.0), 0.0).is_err());
        assert!(epsilon(rho(1.0), 1.0).is_err());
    }

    proptest! {
        #[test]
        fn allocation_never_exceeds_request(
            r in 1e-6f64..100.0,
            weights in prop::collection::vec(1e-3f64..1e3, 1..60),
        ) {
            let scales = allocate(rho(r), &weights).unwrap();
            prop_assert_eq!(scales.len(), weights.len());
            let spent = scales.iter().fold(RBig::ZERO, |acc, s| acc + s.rho_exact());
            prop_assert!(spent <= RBig::try_from(r).unwrap());
            // Rounding up must stay negligible, or the allocation wastes budget.
            prop_assert!(spent.to_f64().value() >= r * (1.0 - 1e-4));
        }
    }
}
