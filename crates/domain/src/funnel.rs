//! Funnel plots for indirectly standardised ratios (observed ÷ expected, O/E) against the
//! expected count E, with Poisson control limits at 95% and 99.8%, and the expected count itself
//! by indirect standardisation.
//!
//! The limits are those of Spiegelhalter, "Funnel plots for comparing institutional performance",
//! *Statistics in Medicine* 2005; 24:1185–1202 (doi:10.1002/sim.1970), in its appendix on
//! discrete data, for a Poisson count with mean E under the target ratio 1: let y_p be the
//! p-quantile of Poisson(E), the smallest integer with F(y_p) ≥ p; interpolate between y_p − 1
//! and y_p with
//!
//! ```text
//! α = (F(y_p) − p) / (F(y_p) − F(y_p − 1))          (F(−1) = 0, so 0 ≤ α < 1)
//! limit = (y_p − α) / E
//! ```
//!
//! so that the limits are smooth in E rather than steps. These are probability-based prediction
//! limits, not confidence intervals: Seaton & Manktelow (BMC Med Res Methodol 2012; 12:98) and
//! Manktelow & Seaton (PLoS ONE 2012; 7:e45723) compare them with the alternatives and other
//! interpolations. Because a count of y_p already lies above y_p − α, an in-control unit falls
//! above an upper limit a little more often than its nominal tail, and below a lower limit a
//! little less often (F(y_p − 1) < p); both tend to the nominal as E grows (`tests/funnel.rs`
//! measures the first). They are not the chi-squared ("exact confidence interval") limits that
//! R's `FunnelPlotR` draws.
//!
//! Where y_p = 0 the formula gives a negative ratio; we return 0 there, since no count can fall
//! below it. `tests/funnel.rs` checks [`poisson_limit`] against base R's `qpois`/`ppois` doing
//! the same arithmetic (`tests/survival_reference/make_funnel_reference.R`).
//!
//! A unit's position compares its O/E with the four limits strictly: a ratio equal to a limit is
//! inside it.

use crate::numeric::StableSum;
use statrs::distribution::{Discrete as _, DiscreteCDF as _, Poisson};

/// The lower 99.8% limit's probability (the four limits are 95% and 99.8% two-sided).
pub const LOWER_998: f64 = 0.001;
/// The lower 95% limit's probability.
pub const LOWER_95: f64 = 0.025;
/// The upper 95% limit's probability.
pub const UPPER_95: f64 = 0.975;
/// The upper 99.8% limit's probability.
pub const UPPER_998: f64 = 0.999;

/// Why a funnel quantity could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FunnelError {
    /// The expected count is zero, negative, infinite or not a number.
    #[error("the expected count must be a finite number greater than 0")]
    BadExpected,
    /// The probability is not strictly between 0 and 1.
    #[error("the probability must be strictly between 0 and 1")]
    BadProbability,
    /// Exposure and rates given for different numbers of strata.
    #[error("{0} strata of exposure but {1} national rates")]
    Lengths(usize, usize),
    /// An exposure that is negative, infinite or not a number (stratum from 1).
    #[error("stratum {0}: exposure must be a finite number of 0 or more")]
    BadExposure(usize),
    /// A national rate that is negative, infinite or not a number (stratum from 1).
    #[error("stratum {0}: the national rate must be a finite number of 0 or more")]
    BadRate(usize),
}

/// Where a unit lies on the funnel plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FunnelPosition {
    /// Below the lower 99.8% limit ("alarm", low).
    Below998,
    /// Below the lower 95% limit but not the 99.8% one ("alert", low).
    Below95,
    /// Within the 95% limits.
    Within,
    /// Above the upper 95% limit but not the 99.8% one ("alert", high).
    Above95,
    /// Above the upper 99.8% limit ("alarm", high).
    Above998,
}

/// The four control limits at one expected count, on the O/E scale.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunnelLimits {
    /// The expected count they are for.
    pub expected: f64,
    /// Lower 99.8% limit (p = 0.001).
    pub lower_998: f64,
    /// Lower 95% limit (p = 0.025).
    pub lower_95: f64,
    /// Upper 95% limit (p = 0.975).
    pub upper_95: f64,
    /// Upper 99.8% limit (p = 0.999).
    pub upper_998: f64,
}

/// Spiegelhalter's interpolated Poisson limit for O/E at expected count `expected` and tail
/// probability `p` (0.025 and 0.975 for 95%, 0.001 and 0.999 for 99.8%). See the module notes.
pub fn poisson_limit(expected: f64, p: f64) -> Result<f64, FunnelError> {
    if !(expected.is_finite() && expected > 0.0) {
        return Err(FunnelError::BadExpected);
    }
    if !(p > 0.0 && p < 1.0) {
        return Err(FunnelError::BadProbability);
    }
    let dist = Poisson::new(expected).map_err(|_| FunnelError::BadExpected)?;
    // F(y) − p, taking the upper tail for p > ½, where F(y) is close to 1 and 1 − F(y) keeps
    // digits that F(y) itself has rounded away.
    let excess = |y: u64| if p > 0.5 { (1.0 - p) - dist.sf(y) } else { dist.cdf(y) - p };
    let y = quantile(expected, p, &excess);
    // F(y) − F(y − 1) is the probability mass at y; computed directly it does not cancel.
    let alpha = excess(y) / dist.pmf(y);
    Ok(((y as f64 - alpha) / expected).max(0.0))
}

/// The smallest y with F(y) ≥ p, found by stepping from the normal approximation (a few steps).
fn quantile(expected: f64, p: f64, excess: &dyn Fn(u64) -> f64) -> u64 {
    use statrs::distribution::{ContinuousCDF as _, Normal};
    let z = Normal::standard().inverse_cdf(p);
    let mut y = (expected + z * expected.sqrt()).floor().max(0.0) as u64;
    while excess(y) < 0.0 {
        y += 1;
    }
    while y > 0 && excess(y - 1) >= 0.0 {
        y -= 1;
    }
    y
}

/// The four control limits at `expected`.
pub fn limits(expected: f64) -> Result<FunnelLimits, FunnelError> {
    Ok(FunnelLimits {
        expected,
        lower_998: poisson_limit(expected, LOWER_998)?,
        lower_95: poisson_limit(expected, LOWER_95)?,
        upper_95: poisson_limit(expected, UPPER_95)?,
        upper_998: poisson_limit(expected, UPPER_998)?,
    })
}

impl FunnelLimits {
    /// Where a unit with `observed` events lies against these limits (strict comparisons).
    pub fn position(&self, observed: u64) -> FunnelPosition {
        let ratio = observed as f64 / self.expected;
        if ratio > self.upper_998 {
            FunnelPosition::Above998
        } else if ratio > self.upper_95 {
            FunnelPosition::Above95
        } else if ratio < self.lower_998 {
            FunnelPosition::Below998
        } else if ratio < self.lower_95 {
            FunnelPosition::Below95
        } else {
            FunnelPosition::Within
        }
    }
}

/// Where a unit with `observed` events and `expected` expected events lies on the funnel.
pub fn classify(observed: u64, expected: f64) -> Result<FunnelPosition, FunnelError> {
    Ok(limits(expected)?.position(observed))
}

/// The expected count by indirect standardisation: Σₛ exposureₛ × national rateₛ over strata
/// (e.g. age band × sex), summed with compensation.
///
/// The exposure and the rate must be in matching units: component-years at risk with the
/// national revisions per component-year, or numbers of primaries with the national risk per
/// primary (revisions ÷ primaries in that stratum). The strata are the caller's; both slices
/// list them in the same order.
pub fn expected_by_strata(exposure: &[f64], national_rate: &[f64]) -> Result<f64, FunnelError> {
    if exposure.len() != national_rate.len() {
        return Err(FunnelError::Lengths(exposure.len(), national_rate.len()));
    }
    // A compensated sum: many small strata beside a few large ones lose nothing.
    let mut sum = StableSum::default();
    for (s, (&e, &r)) in exposure.iter().zip(national_rate).enumerate() {
        if !(e.is_finite() && e >= 0.0) {
            return Err(FunnelError::BadExposure(s + 1));
        }
        if !(r.is_finite() && r >= 0.0) {
            return Err(FunnelError::BadRate(s + 1));
        }
        sum.add(e * r);
    }
    Ok(sum.value())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_by_hand_at_one_expected_event() {
        // Poisson(1): F(0) = e⁻¹ ≈ 0.3679, F(1) = 2e⁻¹ ≈ 0.7358, F(2) = 2.5e⁻¹ ≈ 0.9197,
        // F(3) = (8/3)e⁻¹ ≈ 0.9810. For p = 0.975, y_p = 3 and α = (F(3) − 0.975)/P(3).
        let e1 = (-1.0f64).exp();
        let f3 = 8.0 / 3.0 * e1;
        let alpha = (f3 - 0.975) / (e1 / 6.0);
        let limit = poisson_limit(1.0, 0.975).unwrap();
        assert!((limit - (3.0 - alpha)).abs() < 1e-13, "{limit}");
        // For p = 0.025, y_p = 0 and the formula is negative: the limit is 0.
        assert_eq!(poisson_limit(1.0, 0.025).unwrap(), 0.0);
    }

    #[test]
    fn limits_narrow_towards_one_as_the_expected_count_grows() {
        let mut last: Option<FunnelLimits> = None;
        for e in [5.0, 20.0, 100.0, 1000.0, 10000.0] {
            let l = limits(e).unwrap();
            assert!(l.lower_998 < l.lower_95 && l.lower_95 < 1.0 && 1.0 < l.upper_95 && l.upper_95 < l.upper_998);
            if let Some(prev) = last {
                assert!(l.upper_998 < prev.upper_998 && l.lower_998 > prev.lower_998);
            }
            last = Some(l);
        }
    }

    #[test]
    fn classification_uses_strict_comparisons() {
        // At E = 10 the upper 95% limit is between 16/10 and 17/10.
        let l = limits(10.0).unwrap();
        assert!(l.upper_95 > 1.6 && l.upper_95 < 1.7, "{l:?}");
        assert_eq!(classify(10, 10.0).unwrap(), FunnelPosition::Within);
        assert_eq!(classify(17, 10.0).unwrap(), FunnelPosition::Above95);
        assert_eq!(classify(30, 10.0).unwrap(), FunnelPosition::Above998);
        assert_eq!(classify(0, 10.0).unwrap(), FunnelPosition::Below998);
        assert_eq!(classify(0, 1.0).unwrap(), FunnelPosition::Within);
        assert_eq!(classify(1, 0.0), Err(FunnelError::BadExpected));
        assert_eq!(poisson_limit(1.0, 1.0), Err(FunnelError::BadProbability));
    }

    #[test]
    fn expected_counts_sum_exposure_times_rate() {
        // Two age bands × two sexes: 100 and 50 component-years at 0.01, 200 and 10 at 0.02.
        let e = expected_by_strata(&[100.0, 50.0, 200.0, 10.0], &[0.01, 0.01, 0.02, 0.02]).unwrap();
        assert!((e - 5.7).abs() < 1e-12);
        assert_eq!(expected_by_strata(&[1.0], &[]), Err(FunnelError::Lengths(1, 0)));
        assert_eq!(expected_by_strata(&[1.0, -1.0], &[0.1, 0.1]), Err(FunnelError::BadExposure(2)));
        assert_eq!(expected_by_strata(&[1.0], &[f64::NAN]), Err(FunnelError::BadRate(1)));
    }
}
