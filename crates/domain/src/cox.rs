//! Cox proportional hazards regression (pure, no I/O): partial-likelihood coefficients with
//! their variance, hazard ratios with confidence limits, and the likelihood-ratio, Wald and
//! score tests, with Efron's or Breslow's handling of tied event times, optionally stratified.
//! Fitted exactly as R's `survival::coxph` fits it (its C routine `coxfit6`), and checked against
//! it to 1e-9 in `tests/cox.rs`.
//!
//! As in R, covariates are centred on their means and scaled by their mean absolute deviation
//! before fitting. Neither changes the Newton–Raphson iterates (the method is invariant under
//! affine changes of the covariates), but both keep `exp(x·β)` and the information matrix well
//! conditioned; results are mapped back to the original scale. Rows are sorted once by
//! (stratum, time descending), so each iteration is one pass that grows the risk set as time
//! decreases, with compensated (Neumaier) sums for the risk-set totals.

use std::cmp::Ordering;

use crate::numeric::StableSum;

use statrs::distribution::{ChiSquared, ContinuousCDF as _, Normal};

/// Convergence: the relative change in the log partial likelihood (R's `coxph.control(eps)`).
const EPS: f64 = 1e-9;
/// Pivots below this fraction of the largest diagonal make the information matrix singular
/// (R's `toler.chol`, `.Machine$double.eps^0.75`).
const TOLER_CHOL: f64 = 1.8189894035458617e-12;
/// Newton–Raphson iterations allowed (R's `iter.max`).
const MAX_ITER: usize = 20;

/// Why a Cox model could not be fitted. Rows and covariates are numbered from 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CoxError {
    /// A column whose length differs from that of the times.
    #[error("{what} has {found} values but there are {expected} times")]
    Lengths {
        /// Which column ("events", "strata" or "covariate 2").
        what: String,
        /// The number of times.
        expected: usize,
        /// Its number of values.
        found: usize,
    },
    /// No rows.
    #[error("there are no rows to analyse")]
    Empty,
    /// No covariates.
    #[error("a Cox model needs at least one covariate")]
    NoCovariates,
    /// A time that is negative, infinite or not a number.
    #[error("row {0}: time must be a finite number of 0 or more")]
    BadTime(usize),
    /// A covariate value that is infinite or not a number.
    #[error("row {row}: covariate {covariate} is not a finite number")]
    BadCovariate {
        /// The row, from 1.
        row: usize,
        /// The covariate, from 1.
        covariate: usize,
    },
    /// No events, so there is no partial likelihood to maximise.
    #[error("there are no events")]
    NoEvents,
    /// The information matrix is singular: a covariate is constant (within every stratum) or a
    /// combination of the others.
    #[error("the information matrix is singular: a covariate is constant or collinear with others")]
    Singular,
    /// Newton–Raphson did not converge, usually because a coefficient is infinite (a covariate
    /// separates those with events from those without).
    #[error("the fit did not converge in {0} iterations; a coefficient may be infinite")]
    NotConverged(usize),
    /// The confidence level is not strictly between 0 and 1.
    #[error("the confidence level must be between 0 and 1")]
    BadLevel,
}

/// How tied event times enter the partial likelihood (R's `ties`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ties {
    /// Efron's approximation (R's default).
    Efron,
    /// Breslow's approximation.
    Breslow,
}

/// A fitted Cox model. Per-covariate vectors are in the order the covariates were given.
#[derive(Debug, Clone, PartialEq)]
pub struct CoxFit {
    /// Coefficients (log hazard ratios).
    pub coef: Vec<f64>,
    /// Their standard errors.
    pub se: Vec<f64>,
    /// Hazard ratios, `exp(coef)`.
    pub hazard_ratio: Vec<f64>,
    /// Lower confidence limits of the hazard ratios, `exp(coef − z·se)`.
    pub hr_lower: Vec<f64>,
    /// Upper confidence limits of the hazard ratios, `exp(coef + z·se)`.
    pub hr_upper: Vec<f64>,
    /// Wald statistics, `coef / se`.
    pub z: Vec<f64>,
    /// Two-sided p-values of `z`.
    pub p: Vec<f64>,
    /// Log partial likelihood with every coefficient 0.
    pub loglik_null: f64,
    /// Log partial likelihood at the estimates.
    pub loglik: f64,
    /// Likelihood-ratio statistic, `2 (loglik − loglik_null)`.
    pub lr_test: f64,
    /// Wald statistic, `b′ V⁻¹ b`.
    pub wald_test: f64,
    /// Score (log-rank) statistic at `b = 0`, `U′ I⁻¹ U`.
    pub score_test: f64,
    /// Degrees of freedom of the three tests (the number of covariates).
    pub df: usize,
    /// Newton–Raphson iterations used.
    pub iterations: usize,
    /// Rows used.
    pub n: usize,
    /// Events.
    pub events: usize,
    /// Variance matrix of the coefficients (the inverse of the information matrix).
    pub variance: Vec<Vec<f64>>,
}

impl CoxFit {
    /// p-value of the likelihood-ratio test.
    pub fn lr_p(&self) -> f64 {
        chi_square_p(self.lr_test, self.df)
    }

    /// p-value of the Wald test.
    pub fn wald_p(&self) -> f64 {
        chi_square_p(self.wald_test, self.df)
    }

    /// p-value of the score test.
    pub fn score_p(&self) -> f64 {
        chi_square_p(self.score_test, self.df)
    }
}

/// The upper tail of the chi-square distribution with `df` degrees of freedom at `statistic`.
pub fn chi_square_p(statistic: f64, df: usize) -> f64 {
    ChiSquared::new(df as f64).map_or(f64::NAN, |d| d.sf(statistic))
}

/// The data in fitting order: sorted by (stratum, time descending), covariates centred and
/// scaled, row-major.
struct Sorted {
    p: usize,
    x: Vec<f64>,
    /// What each covariate was multiplied by after centring.
    scale: Vec<f64>,
    event: Vec<bool>,
    /// Runs of rows with one stratum and one time: (start, end, first run of its stratum).
    runs: Vec<(usize, usize, bool)>,
}

/// Scratch space for one pass, allocated once per fit. Matrices are p×p, row-major; only the
/// lower triangle (column ≤ row) is accumulated.
struct Pass {
    loglik: StableSum,
    u: Vec<StableSum>,
    imat: Vec<StableSum>,
    denom: StableSum,
    a: Vec<StableSum>,
    cmat: Vec<StableSum>,
    a2: Vec<f64>,
    cmat2: Vec<f64>,
    /// Risk-set means and second moments with some of the tied deaths in (Efron's terms).
    mean: Vec<f64>,
    second: Vec<f64>,
}

impl Pass {
    fn new(p: usize) -> Self {
        Pass {
            loglik: StableSum::default(),
            u: vec![StableSum::default(); p],
            imat: vec![StableSum::default(); p * p],
            denom: StableSum::default(),
            a: vec![StableSum::default(); p],
            cmat: vec![StableSum::default(); p * p],
            a2: vec![0.0; p],
            cmat2: vec![0.0; p * p],
            mean: vec![0.0; p],
            second: vec![0.0; p * p],
        }
    }

    /// The log partial likelihood at `beta`, leaving its score in `u` and the information
    /// matrix in `imat` (R's `coxfit6_iter`).
    fn run(&mut self, data: &Sorted, beta: &[f64], ties: Ties) -> f64 {
        let p = data.p;
        self.loglik = StableSum::default();
        self.u.fill(StableSum::default());
        self.imat.fill(StableSum::default());
        for &(start, end, new_stratum) in &data.runs {
            if new_stratum {
                self.denom = StableSum::default();
                self.a.fill(StableSum::default());
                self.cmat.fill(StableSum::default());
            }
            // Censored rows join the risk set at once; the deaths at this time are gathered
            // apart, because Efron's approximation lets them in a fraction at a time.
            let mut deaths = 0usize;
            let mut denom2 = 0.0;
            self.a2.fill(0.0);
            self.cmat2.fill(0.0);
            for row in start..end {
                let x = &data.x[row * p..(row + 1) * p];
                let zbeta: f64 = x.iter().zip(beta).map(|(x, b)| x * b).sum();
                let risk = zbeta.exp();
                if data.event[row] {
                    deaths += 1;
                    denom2 += risk;
                    self.loglik.add(zbeta);
                    for i in 0..p {
                        self.u[i].add(x[i]);
                        self.a2[i] += risk * x[i];
                        for j in 0..=i {
                            self.cmat2[i * p + j] += risk * x[i] * x[j];
                        }
                    }
                } else {
                    self.denom.add(risk);
                    for i in 0..p {
                        self.a[i].add(risk * x[i]);
                        for j in 0..=i {
                            self.cmat[i * p + j].add(risk * x[i] * x[j]);
                        }
                    }
                }
            }
            if deaths == 0 {
                continue;
            }
            // Breslow: every death sees the whole risk set. Efron: the k-th of d tied deaths
            // (k = 1..d) sees the others' share reduced to k/d; one death is the same either way.
            let (terms, weight) = match ties {
                Ties::Efron if deaths > 1 => (deaths, 1.0),
                _ => (1, deaths as f64),
            };
            for k in 1..=terms {
                let f = k as f64 / terms as f64;
                let denom = self.denom.value() + f * denom2;
                self.loglik.add(-weight * denom.ln());
                for i in 0..p {
                    self.mean[i] = (self.a[i].value() + f * self.a2[i]) / denom;
                    self.u[i].add(-weight * self.mean[i]);
                    for j in 0..=i {
                        self.second[i * p + j] = (self.cmat[i * p + j].value() + f * self.cmat2[i * p + j]) / denom;
                    }
                }
                for i in 0..p {
                    for j in 0..=i {
                        self.imat[i * p + j].add(weight * (self.second[i * p + j] - self.mean[i] * self.mean[j]));
                    }
                }
            }
            self.denom.add(denom2);
            for i in 0..p {
                self.a[i].add(self.a2[i]);
                for j in 0..=i {
                    self.cmat[i * p + j].add(self.cmat2[i * p + j]);
                }
            }
        }
        self.loglik.value()
    }

    fn score(&self) -> Vec<f64> {
        self.u.iter().map(|s| s.value()).collect()
    }

    /// The information matrix, both triangles filled.
    fn information(&self, p: usize) -> Vec<f64> {
        let mut m = vec![0.0; p * p];
        for i in 0..p {
            for j in 0..=i {
                let v = self.imat[i * p + j].value();
                m[i * p + j] = v;
                m[j * p + i] = v;
            }
        }
        m
    }
}

/// The LDL′ factorisation of a small symmetric positive definite matrix (as R's `cholesky2`):
/// L unit lower triangular below the diagonal, D on it.
struct Ldl {
    p: usize,
    m: Vec<f64>,
}

impl Ldl {
    /// Factorises `m` (p×p, row-major, symmetric); `None` when a pivot is not finite or falls
    /// below `TOLER_CHOL` times the largest diagonal element.
    fn new(mut m: Vec<f64>, p: usize) -> Option<Self> {
        let largest = (0..p).map(|i| m[i * p + i]).fold(0.0f64, f64::max);
        let eps = if largest > 0.0 { largest * TOLER_CHOL } else { TOLER_CHOL };
        for i in 0..p {
            let pivot = m[i * p + i];
            if !pivot.is_finite() || pivot < eps {
                return None;
            }
            for j in i + 1..p {
                let t = m[j * p + i] / pivot;
                m[j * p + i] = t;
                m[j * p + j] -= t * t * pivot;
                for k in j + 1..p {
                    m[k * p + j] -= t * m[k * p + i];
                }
            }
        }
        Some(Ldl { p, m })
    }

    /// Solves `M x = y`.
    fn solve(&self, y: &[f64]) -> Vec<f64> {
        let (p, m) = (self.p, &self.m);
        let mut x = y.to_vec();
        for i in 0..p {
            for j in 0..i {
                x[i] -= x[j] * m[i * p + j];
            }
        }
        for i in (0..p).rev() {
            x[i] /= m[i * p + i];
            for j in i + 1..p {
                x[i] -= x[j] * m[j * p + i];
            }
        }
        x
    }

    /// `M⁻¹`, row-major.
    fn inverse(&self) -> Vec<f64> {
        let p = self.p;
        let mut inv = vec![0.0; p * p];
        let mut e = vec![0.0; p];
        for c in 0..p {
            e.fill(0.0);
            e[c] = 1.0;
            for (r, v) in self.solve(&e).into_iter().enumerate() {
                inv[r * p + c] = v;
            }
        }
        // Symmetric in exact arithmetic; make it so exactly.
        for r in 0..p {
            for c in 0..r {
                let v = (inv[r * p + c] + inv[c * p + r]) / 2.0;
                inv[r * p + c] = v;
                inv[c * p + r] = v;
            }
        }
        inv
    }
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(a, b)| a * b).sum()
}

/// Checks the inputs and puts them in fitting order, centred and scaled.
fn prepare(time: &[f64], event: &[bool], covariates: &[Vec<f64>], strata: Option<&[u32]>) -> Result<Sorted, CoxError> {
    let n = time.len();
    let lengths = |what: String, found: usize| {
        if found == n { Ok(()) } else { Err(CoxError::Lengths { what, expected: n, found }) }
    };
    lengths("events".into(), event.len())?;
    if let Some(s) = strata {
        lengths("strata".into(), s.len())?;
    }
    for (c, col) in covariates.iter().enumerate() {
        lengths(format!("covariate {}", c + 1), col.len())?;
    }
    if n == 0 {
        return Err(CoxError::Empty);
    }
    if covariates.is_empty() {
        return Err(CoxError::NoCovariates);
    }
    if let Some(i) = time.iter().position(|t| !t.is_finite() || *t < 0.0) {
        return Err(CoxError::BadTime(i + 1));
    }
    for (c, col) in covariates.iter().enumerate() {
        if let Some(i) = col.iter().position(|v| !v.is_finite()) {
            return Err(CoxError::BadCovariate { row: i + 1, covariate: c + 1 });
        }
    }
    if !event.iter().any(|&e| e) {
        return Err(CoxError::NoEvents);
    }

    let p = covariates.len();
    let stratum = |i: usize| strata.map_or(0, |s| s[i]);
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| stratum(a).cmp(&stratum(b)).then(time[b].partial_cmp(&time[a]).unwrap_or(Ordering::Equal)));

    // Centre on the mean, then scale so the mean absolute value is 1 (a constant column keeps
    // scale 1), as R's coxfit6 does.
    let mut scale = vec![1.0; p];
    let mut x = vec![0.0; n * p];
    for (c, col) in covariates.iter().enumerate() {
        let mut s = StableSum::default();
        col.iter().for_each(|&v| s.add(v));
        let mean = s.value() / n as f64;
        let mut abs = StableSum::default();
        col.iter().for_each(|&v| abs.add((v - mean).abs()));
        if abs.value() > 0.0 {
            scale[c] = n as f64 / abs.value();
        }
        for (r, &i) in order.iter().enumerate() {
            x[r * p + c] = (col[i] - mean) * scale[c];
        }
    }
    let event_sorted: Vec<bool> = order.iter().map(|&i| event[i]).collect();
    let mut runs = Vec::new();
    let mut start = 0;
    while start < n {
        let (s, t) = (stratum(order[start]), time[order[start]]);
        let new_stratum = start == 0 || stratum(order[start - 1]) != s;
        let mut end = start + 1;
        while end < n && stratum(order[end]) == s && time[order[end]] == t {
            end += 1;
        }
        runs.push((start, end, new_stratum));
        start = end;
    }
    Ok(Sorted { p, x, scale, event: event_sorted, runs })
}

/// Fits the Cox model of `time` and `event` (true = event, false = censored) on `covariates`
/// (one `Vec` per covariate, each as long as `time`), with a separate baseline hazard per
/// `strata` value if given, and hazard-ratio limits at confidence `level` (e.g. 0.95).
///
/// Newton–Raphson from β = 0 as R's `coxph`: a step that lowers the log likelihood is pulled
/// back towards the previous estimate; the fit has converged when the log likelihood changes
/// by at most 1e-9 relative, within 20 iterations. As in R, a time with both events and
/// censorings has the censored rows in its risk set.
pub fn cox(
    time: &[f64],
    event: &[bool],
    covariates: &[Vec<f64>],
    strata: Option<&[u32]>,
    ties: Ties,
    level: f64,
) -> Result<CoxFit, CoxError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(CoxError::BadLevel);
    }
    let data = prepare(time, event, covariates, strata)?;
    let p = data.p;
    let mut pass = Pass::new(p);

    let mut beta = vec![0.0; p];
    let loglik_null = pass.run(&data, &beta, ties);
    let u0 = pass.score();
    let step = Ldl::new(pass.information(p), p).ok_or(CoxError::Singular)?.solve(&u0);
    let score_test = dot(&u0, &step);

    // R's coxfit6: `best` is the best log likelihood so far, `beta` where it was reached, and
    // `next` the point to try; a worse point is pulled back towards `beta`, further each time.
    let mut best = loglik_null;
    let mut next: Vec<f64> = beta.iter().zip(&step).map(|(b, s)| b + s).collect();
    let mut halving = 0u32;
    let (beta, information, factor, loglik, iterations) = 'fit: {
        for iteration in 1..=MAX_ITER {
            let loglik = pass.run(&data, &next, ties);
            let information = pass.information(p);
            let factor = Ldl::new(information.clone(), p);
            let finite = loglik.is_finite() && information.iter().all(|v| v.is_finite());
            if finite && (1.0 - best / loglik).abs() <= EPS {
                break 'fit (next, information, factor.ok_or(CoxError::Singular)?, loglik, iteration);
            }
            if !finite || loglik < best {
                halving += 1;
                let h = f64::from(halving);
                for (n, b) in next.iter_mut().zip(&beta) {
                    *n = (*n + h * b) / (h + 1.0);
                }
            } else {
                halving = 0;
                best = loglik;
                let step = factor.ok_or(CoxError::Singular)?.solve(&pass.score());
                beta.copy_from_slice(&next);
                for (n, s) in next.iter_mut().zip(&step) {
                    *n += s;
                }
            }
        }
        return Err(CoxError::NotConverged(MAX_ITER));
    };
    Ok(summarise(&data, level, &beta, &information, &factor, (loglik_null, loglik, score_test), iterations))
}

/// Maps the converged fit (`beta_scaled` with its information matrix and that matrix's
/// factorisation, on the scaled covariates) back to the covariates' own scale and forms the
/// summaries. `likelihoods` is (null log likelihood, fitted log likelihood, score test).
fn summarise(
    data: &Sorted,
    level: f64,
    beta_scaled: &[f64],
    information: &[f64],
    factor: &Ldl,
    (loglik_null, loglik, score_test): (f64, f64, f64),
    iterations: usize,
) -> CoxFit {
    let p = data.p;
    let (inv, scale) = (factor.inverse(), &data.scale);
    let coef: Vec<f64> = beta_scaled.iter().zip(scale).map(|(b, s)| b * s).collect();
    let variance: Vec<Vec<f64>> =
        (0..p).map(|i| (0..p).map(|j| inv[i * p + j] * scale[i] * scale[j]).collect()).collect();
    // b′V⁻¹b with V = I⁻¹ is b′Ib; on the scaled covariates it needs no second factorisation.
    let wald_test: f64 = (0..p).map(|i| beta_scaled[i] * dot(&information[i * p..(i + 1) * p], beta_scaled)).sum();
    let se: Vec<f64> = (0..p).map(|i| variance[i][i].sqrt()).collect();
    let z_level = Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0);
    let z: Vec<f64> = coef.iter().zip(&se).map(|(b, s)| b / s).collect();
    CoxFit {
        hazard_ratio: coef.iter().map(|b| b.exp()).collect(),
        hr_lower: coef.iter().zip(&se).map(|(b, s)| (b - z_level * s).exp()).collect(),
        hr_upper: coef.iter().zip(&se).map(|(b, s)| (b + z_level * s).exp()).collect(),
        p: z.iter().map(|z| chi_square_p(z * z, 1)).collect(),
        z,
        coef,
        se,
        loglik_null,
        loglik,
        lr_test: 2.0 * (loglik - loglik_null),
        wald_test,
        score_test,
        df: p,
        iterations,
        n: data.event.len(),
        events: data.event.iter().filter(|&&e| e).count(),
        variance,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::survival::log_rank;

    #[test]
    fn with_one_binary_covariate_and_no_ties_the_score_test_is_the_log_rank_test() {
        let time = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0];
        let event = [true, true, false, true, true, true, false, true, true, false, true, true];
        let group = [0u32, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 0];
        let x = vec![group.iter().map(|&g| f64::from(g)).collect::<Vec<_>>()];
        let lr = log_rank(&time, &event, &group, None).unwrap();
        for ties in [Ties::Efron, Ties::Breslow] {
            let fit = cox(&time, &event, &x, None, ties, 0.95).unwrap();
            assert!((fit.score_test - lr.chisq).abs() < 1e-12 * lr.chisq, "{} vs {}", fit.score_test, lr.chisq);
            assert!((fit.score_p() - lr.p_value()).abs() < 1e-12);
        }
    }

    #[test]
    fn a_three_row_fit_by_hand() {
        // Times 1, 2, 3+ with x = 1, 0, 2. At 1 all three are at risk, at 2 the rows with x = 0
        // and x = 2, so log L(β) = β − log(e^β + 1 + e^2β) − log(1 + e^2β), which has its
        // maximum where the score is 0 and its information is the sum of the risk sets' variances.
        let fit =
            cox(&[1.0, 2.0, 3.0], &[true, true, false], &[vec![1.0, 0.0, 2.0]], None, Ties::Breslow, 0.95).unwrap();
        let b = fit.coef[0];
        let (e1, e2) = (b.exp(), (2.0 * b).exp());
        let mean1 = (e1 + 2.0 * e2) / (e1 + 1.0 + e2);
        let score = 1.0 - mean1 - 2.0 * e2 / (1.0 + e2);
        assert!(score.abs() < 1e-8, "score {score} at {b}");
        let info = (e1 + 4.0 * e2) / (e1 + 1.0 + e2) - mean1 * mean1 + 4.0 * e2 / (1.0 + e2).powi(2);
        assert!((fit.variance[0][0] * info - 1.0).abs() < 1e-8);
        assert!((fit.loglik - (b - (e1 + 1.0 + e2).ln() - (1.0 + e2).ln())).abs() < 1e-13);
        assert!((fit.loglik_null - (-(3.0f64).ln() - 2.0f64.ln())).abs() < 1e-15);
        assert!((fit.hazard_ratio[0] - b.exp()).abs() < 1e-15 && fit.hr_lower[0] < fit.hazard_ratio[0]);
        assert_eq!((fit.n, fit.events, fit.df), (3, 2, 1));
    }

    #[test]
    fn a_covariate_that_separates_events_does_not_converge() {
        // Deaths at 1 (x = 1) then 2 (x = 0): log L(β) = β − log(e^β + 1) rises for ever.
        let fit = cox(&[1.0, 2.0], &[true, true], &[vec![1.0, 0.0]], None, Ties::Efron, 0.95);
        assert_eq!(fit, Err(CoxError::NotConverged(20)));
    }

    #[test]
    fn efron_and_breslow_agree_without_ties_and_differ_with_them() {
        let x = vec![vec![0.5, 1.5, -0.2, 0.7, 2.0, -1.0]];
        let no_ties = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let ties = [1.0, 2.0, 2.0, 2.0, 5.0, 6.0];
        let event = [true, true, true, true, false, true];
        let fit = |t: &[f64], how| cox(t, &event, &x, None, how, 0.95).unwrap();
        assert_eq!(fit(&no_ties, Ties::Efron).coef, fit(&no_ties, Ties::Breslow).coef);
        assert_ne!(fit(&ties, Ties::Efron).coef, fit(&ties, Ties::Breslow).coef);
    }

    #[test]
    fn bad_input_is_named() {
        let ok = [1.0, 2.0, 3.0];
        let e = [true, false, true];
        let x = vec![vec![1.0, 2.0, 4.0]];
        assert_eq!(
            cox(&ok, &e, &[vec![1.0, 2.0]], None, Ties::Efron, 0.95).unwrap_err().to_string(),
            "covariate 1 has 2 values but there are 3 times"
        );
        assert_eq!(cox(&[1.0, -2.0, 3.0], &e, &x, None, Ties::Efron, 0.95), Err(CoxError::BadTime(2)));
        assert_eq!(
            cox(&ok, &e, &[x[0].clone(), vec![0.0, 0.0, f64::NAN]], None, Ties::Efron, 0.95),
            Err(CoxError::BadCovariate { row: 3, covariate: 2 })
        );
        assert_eq!(cox(&ok, &e, &[vec![5.0; 3]], None, Ties::Efron, 0.95), Err(CoxError::Singular));
        assert_eq!(cox(&ok, &[false; 3], &x, None, Ties::Efron, 0.95), Err(CoxError::NoEvents));
        assert_eq!(cox(&ok, &e, &x, None, Ties::Efron, 1.0), Err(CoxError::BadLevel));
        assert_eq!(cox(&[], &[], &[vec![]], None, Ties::Efron, 0.95), Err(CoxError::Empty));
        assert_eq!(cox(&ok, &e, &[], None, Ties::Efron, 0.95), Err(CoxError::NoCovariates));
    }
}
