//! Revision rates per 100 component-years (PTIR, "prostheses-time incidence rate", as joint
//! registries report them) with exact Poisson confidence limits, and the Poisson and χ²
//! functions behind them: upper Poisson tail probabilities and χ² quantiles (R's `ppois` and
//! `qchisq`), checked against R to 1e-9 relative in `tests/rates.rs`.
//!
//! The exact (Garwood) limits for a count d are [χ²(α/2; 2d)/2, χ²(1−α/2; 2d+2)/2], i.e. the
//! α/2 quantile of Gamma(d, 1) and the upper α/2 quantile of Gamma(d + 1, 1). statrs' own
//! quantile search (`ChiSquared::inverse_cdf`) stops once successive iterates agree to 1e-9
//! absolute and works on the lower tail only: on our reference grid it is within 2.2e-10 of R,
//! too close to the 1e-9 we promise. We start from it and finish with Newton steps on the
//! regularized incomplete gamma function of the tail the probability is in, which brings it to
//! 2e-14 of R's `qchisq` (and `ppois` agrees to 2e-13).

use statrs::distribution::{ContinuousCDF as _, Gamma};
use statrs::function::gamma::{gamma_lr, gamma_ur, ln_gamma};

/// Why a rate, limit or probability could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RateError {
    /// The confidence level is not strictly between 0 and 1.
    #[error("the confidence level must be between 0 and 1")]
    BadLevel,
    /// Exposure (years at risk) that is zero, negative, infinite or not a number.
    #[error("the years at risk must be a finite number greater than 0")]
    BadYears,
    /// A Poisson mean that is negative, infinite or not a number.
    #[error("the Poisson mean must be a finite number of 0 or more")]
    BadMean,
    /// A probability outside [0, 1].
    #[error("the probability must be between 0 and 1")]
    BadProbability,
    /// Degrees of freedom that are not a finite number greater than 0.
    #[error("the degrees of freedom must be a finite number greater than 0")]
    BadDegreesOfFreedom,
}

/// A rate per 100 component-years with its exact Poisson confidence limits.
#[derive(Debug, Clone, PartialEq)]
pub struct Rate {
    /// Events (revisions) counted.
    pub events: u64,
    /// Years at risk (component-years).
    pub years: f64,
    /// Events per 100 years: events ÷ years × 100.
    pub per_100_years: f64,
    /// Lower exact limit per 100 years (0 when there are no events).
    pub lower: f64,
    /// Upper exact limit per 100 years.
    pub upper: f64,
    /// The two-sided confidence level of the limits (e.g. 0.95).
    pub level: f64,
}

/// The revision rate per 100 component-years for `events` revisions over `years` at risk, with
/// two-sided exact Poisson limits at `level` (e.g. 0.95).
pub fn revision_rate(events: u64, years: f64, level: f64) -> Result<Rate, RateError> {
    if !(years.is_finite() && years > 0.0) {
        return Err(RateError::BadYears);
    }
    let (lo, hi) = poisson_limits(events, level)?;
    Ok(Rate {
        events,
        years,
        per_100_years: events as f64 / years * 100.0,
        lower: lo / years * 100.0,
        upper: hi / years * 100.0,
        level,
    })
}

/// Two-sided exact (Garwood) confidence limits at `level` for the mean of a Poisson count that
/// came out as `events`: [χ²(α/2; 2d)/2, χ²(1−α/2; 2d+2)/2], the lower limit 0 when d = 0.
pub fn poisson_limits(events: u64, level: f64) -> Result<(f64, f64), RateError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(RateError::BadLevel);
    }
    let tail = (1.0 - level) / 2.0;
    let d = events as f64;
    let lower = if events == 0 { 0.0 } else { gamma_quantile(d, tail, Tail::Lower) };
    let upper = gamma_quantile(d + 1.0, tail, Tail::Upper);
    Ok((lower, upper))
}

/// P(X ≥ d) for X ~ Poisson(mu): the lower regularized gamma function P(d, mu) (R:
/// `ppois(d - 1, mu, lower.tail = FALSE)`). 1 when d = 0; 0 when mu = 0 and d > 0.
pub fn poisson_upper_tail(d: u64, mu: f64) -> Result<f64, RateError> {
    if !(mu.is_finite() && mu >= 0.0) {
        return Err(RateError::BadMean);
    }
    Ok(match (d, mu) {
        (0, _) => 1.0,
        (_, 0.0) => 0.0,
        _ => gamma_lr(d as f64, mu),
    })
}

/// The `p` quantile (lower tail) of the χ² distribution with `df` degrees of freedom, as R's
/// `qchisq(p, df)`.
pub fn chi_squared_quantile(p: f64, df: f64) -> Result<f64, RateError> {
    if !(0.0..=1.0).contains(&p) {
        return Err(RateError::BadProbability);
    }
    if !(df.is_finite() && df > 0.0) {
        return Err(RateError::BadDegreesOfFreedom);
    }
    // χ²(df) is Gamma(df/2) with scale 2. Probabilities above one half are solved on the upper
    // tail (1 − p is exact there, by Sterbenz), where the tail function keeps its precision.
    let x = if p <= 0.5 {
        gamma_quantile(df / 2.0, p, Tail::Lower)
    } else {
        gamma_quantile(df / 2.0, 1.0 - p, Tail::Upper)
    };
    Ok(2.0 * x)
}

/// Which tail a probability given to [`gamma_quantile`] measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tail {
    /// P(X ≤ x) = p.
    Lower,
    /// P(X > x) = p.
    Upper,
}

/// The x with P(X ≤ x) = `prob` (`Tail::Lower`) or P(X > x) = `prob` (`Tail::Upper`) for X ~
/// Gamma(`shape`, 1).
fn gamma_quantile(shape: f64, prob: f64, tail: Tail) -> f64 {
    match (tail, prob) {
        (Tail::Lower, 0.0) | (Tail::Upper, 1.0) => return 0.0,
        (Tail::Lower, 1.0) | (Tail::Upper, 0.0) => return f64::INFINITY,
        _ => {}
    }
    let lower_p = if tail == Tail::Lower { prob } else { 1.0 - prob };
    // statrs is a good start (within about 1e-9); `shape` is > 0 and finite here, so
    // `Gamma::new` cannot fail.
    let mut x = Gamma::new(shape, 1.0).map(|g| g.inverse_cdf(lower_p)).unwrap_or(shape);
    if !(x.is_finite() && x > 0.0) {
        x = shape;
    }
    let log_norm = ln_gamma(shape);
    for _ in 0..60 {
        let density = ((shape - 1.0) * x.ln() - x - log_norm).exp();
        if !(density.is_finite() && density > 0.0) {
            break;
        }
        // Newton on the tail the probability lives in: F(x) − p, or p − Q(x), both increasing.
        let residual = match tail {
            Tail::Lower => gamma_lr(shape, x) - prob,
            Tail::Upper => prob - gamma_ur(shape, x),
        };
        let mut next = x - residual / density;
        if next <= 0.0 {
            // A step past 0 (far lower tail, where the density is steep): halve instead.
            next = x / 2.0;
        }
        let step = (next - x).abs();
        x = next;
        if step <= 4.0 * f64::EPSILON * x {
            break;
        }
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a:.17e} vs {b:.17e}");
    }

    #[test]
    fn no_events_give_a_zero_lower_limit_and_an_upper_limit_of_minus_log_alpha_half() {
        // d = 0: χ²(0.975; 2)/2 is the x with e^{−x} = 0.025, so x = −ln 0.025 = 3.6888794541139363;
        // over 100 years that is 3.6888794541139363 per 100 years.
        let r = revision_rate(0, 100.0, 0.95).unwrap();
        assert_eq!(r.per_100_years, 0.0);
        assert_eq!(r.lower, 0.0);
        close(r.upper, 3.688_879_454_113_936_3, 1e-14);
    }

    #[test]
    fn one_event_has_the_closed_form_limits_of_the_exponential() {
        // d = 1: the lower limit solves P(X ≥ 1) = 1 − e^{−x} = 0.025, x = −ln 0.975
        // = 0.025317807984289897; the upper solves P(X ≤ 1) = e^{−x}(1 + x) = 0.025, which has no
        // closed form: we check the equation, and R's qchisq(0.975, 4)/2 = 5.5716433909388989.
        // Over 50 years: ×2 per 100 years; rate = 2.
        let r = revision_rate(1, 50.0, 0.95).unwrap();
        close(r.per_100_years, 2.0, 1e-15);
        close(r.lower, 2.0 * 0.025_317_807_984_289_897, 1e-13);
        let x = r.upper / 2.0;
        close((-x).exp() * (1.0 + x), 0.025, 1e-13);
        close(r.upper, 2.0 * 5.571_643_390_938_899, 1e-12);
    }

    #[test]
    fn poisson_tails_equal_the_sum_of_the_probabilities() {
        // An independent check: P(X ≥ d) = 1 − Σ_{k<d} e^{−μ} μ^k / k!, summed directly.
        for mu in [0.2, 1.0, 3.7, 12.0] {
            for d in 0u64..25 {
                let mut term = f64::exp(-mu);
                let mut below = 0.0;
                for k in 0..d {
                    below += term;
                    term *= mu / (k + 1) as f64;
                }
                let direct = 1.0 - below;
                let ours = poisson_upper_tail(d, mu).unwrap();
                assert!((ours - direct).abs() < 1e-13, "d={d} mu={mu}: {ours} vs {direct}");
            }
        }
        // P(X ≥ 1) = 1 − e^{−μ}; P(X ≥ 2) = 1 − e^{−μ}(1 + μ).
        close(poisson_upper_tail(1, 0.5).unwrap(), 1.0 - (-0.5f64).exp(), 1e-14);
        close(poisson_upper_tail(2, 0.5).unwrap(), 1.0 - (-0.5f64).exp() * 1.5, 1e-13);
        assert_eq!(poisson_upper_tail(3, 0.0).unwrap(), 0.0);
        assert_eq!(poisson_upper_tail(0, 7.0).unwrap(), 1.0);
    }

    #[test]
    fn chi_squared_with_two_degrees_of_freedom_is_the_exponential() {
        // χ²(2) is Exponential(1/2): quantile −2 ln(1 − p), with ln(1 − p) as ln_1p(−p) so
        // that small p keep their digits.
        for p in [1e-6, 0.025, 0.3, 0.5, 0.9, 0.975, 0.999_999] {
            close(chi_squared_quantile(p, 2.0).unwrap(), -2.0 * f64::ln_1p(-p), 1e-13);
        }
        assert_eq!(chi_squared_quantile(0.0, 3.0).unwrap(), 0.0);
        assert_eq!(chi_squared_quantile(1.0, 3.0).unwrap(), f64::INFINITY);
    }

    #[test]
    fn bad_inputs_are_refused() {
        assert_eq!(revision_rate(1, 0.0, 0.95), Err(RateError::BadYears));
        assert_eq!(revision_rate(1, f64::NAN, 0.95), Err(RateError::BadYears));
        assert_eq!(revision_rate(1, 10.0, 1.0), Err(RateError::BadLevel));
        assert_eq!(poisson_upper_tail(1, -1.0), Err(RateError::BadMean));
        assert_eq!(chi_squared_quantile(1.5, 2.0), Err(RateError::BadProbability));
        assert_eq!(chi_squared_quantile(0.5, 0.0), Err(RateError::BadDegreesOfFreedom));
    }
}
