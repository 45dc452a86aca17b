//! Survival statistics (pure, no I/O): Kaplan–Meier with Greenwood variance and confidence
//! limits on the plain, log and log(−log) scales, numbers at risk, the median with its limits,
//! and the log-rank test for k groups, optionally stratified. Defined exactly as R's `survival`
//! package defines them (`survfit`, `survdiff` with `rho = 0`), and checked against it to 1e-9
//! in `tests/survival.rs`.
//!
//! Data are sorted once; each group is then one pass in time order, with compensated
//! (Neumaier) sums for the quantities that add up over many times.

use std::cmp::Ordering;

/// Why an analysis could not run. Names the row (from 1) and what is wrong with it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SurvivalError {
    /// Columns of different lengths.
    #[error("the columns have different lengths ({0} times, {1} other values)")]
    Lengths(usize, usize),
    /// No rows.
    #[error("there are no rows to analyse")]
    Empty,
    /// A time that is negative, infinite or not a number.
    #[error("row {0}: time must be a finite number of 0 or more")]
    BadTime(usize),
    /// The confidence level is not strictly between 0 and 1.
    #[error("the confidence level must be between 0 and 1")]
    BadLevel,
    /// The log-rank test needs at least two groups with data.
    #[error("the log-rank test needs at least two groups")]
    OneGroup,
}

/// The scale on which confidence limits are computed (R's `conf.type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfType {
    /// S ± z·se·S, clipped to [0, 1].
    Plain,
    /// exp(log S ± z·se), upper clipped to 1 (R's default).
    Log,
    /// On log(−log S); undefined where S is 0 or 1.
    LogLog,
}

/// One time of a Kaplan–Meier curve: every distinct time with an event or a censoring.
#[derive(Debug, Clone, PartialEq)]
pub struct KmStep {
    /// The time.
    pub time: f64,
    /// At risk just before it.
    pub n_risk: u64,
    /// Events at it.
    pub n_event: u64,
    /// Censored at it.
    pub n_censor: u64,
    /// Survival just after it.
    pub surv: f64,
    /// Standard error of the cumulative hazard (−log S), Greenwood: √Σ d/(n(n−d)). Infinite
    /// once S reaches 0.
    pub std_err: f64,
    /// Lower confidence limit (`None` where undefined).
    pub lower: Option<f64>,
    /// Upper confidence limit (`None` where undefined).
    pub upper: Option<f64>,
}

/// A Kaplan–Meier curve.
#[derive(Debug, Clone, PartialEq)]
pub struct KaplanMeier {
    /// Its steps, in time order.
    pub steps: Vec<KmStep>,
    /// Subjects.
    pub n: u64,
    /// Events.
    pub events: u64,
}

/// Neumaier's compensated sum: keeps the rounding error of every addition.
#[derive(Debug, Clone, Copy, Default)]
struct Sum {
    sum: f64,
    carry: f64,
}

impl Sum {
    fn add(&mut self, x: f64) {
        let t = self.sum + x;
        if self.sum.abs() >= x.abs() {
            self.carry += (self.sum - t) + x;
        } else {
            self.carry += (x - t) + self.sum;
        }
        self.sum = t;
    }

    fn value(self) -> f64 {
        self.sum + self.carry
    }
}

/// The standard normal quantile for a two-sided `level` (0.95 → 1.959963984540054).
pub fn z_for(level: f64) -> Result<f64, SurvivalError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(SurvivalError::BadLevel);
    }
    use statrs::distribution::{ContinuousCDF as _, Normal};
    Ok(Normal::standard().inverse_cdf(1.0 - (1.0 - level) / 2.0))
}

fn check(time: &[f64], other: usize) -> Result<(), SurvivalError> {
    if time.len() != other {
        return Err(SurvivalError::Lengths(time.len(), other));
    }
    if time.is_empty() {
        return Err(SurvivalError::Empty);
    }
    if let Some(i) = time.iter().position(|t| !t.is_finite() || *t < 0.0) {
        return Err(SurvivalError::BadTime(i + 1));
    }
    Ok(())
}

/// Row indices ordered by time (stable, so ties keep their input order).
fn order_by_time(time: &[f64], rows: impl Iterator<Item = usize>) -> Vec<usize> {
    let mut idx: Vec<usize> = rows.collect();
    idx.sort_by(|&a, &b| time[a].partial_cmp(&time[b]).unwrap_or(Ordering::Equal));
    idx
}

/// Confidence limits of S with cumulative-hazard standard error `se`, as R computes them.
fn limits(surv: f64, se: f64, z: f64, conf: ConfType) -> (Option<f64>, Option<f64>) {
    if surv == 0.0 || !se.is_finite() {
        return (None, None);
    }
    match conf {
        ConfType::Plain => (Some((surv - z * se * surv).max(0.0)), Some((surv + z * se * surv).min(1.0))),
        ConfType::Log => {
            let l = surv.ln();
            (Some((l - z * se).exp()), Some((l + z * se).exp().min(1.0)))
        }
        ConfType::LogLog => {
            if surv == 1.0 {
                return (None, None);
            }
            let ll = (-surv.ln()).ln();
            let se2 = z * se / surv.ln();
            let t1 = (ll - se2).exp();
            let t2 = (ll + se2).exp();
            (Some((-t1).exp()), Some((-t2).exp()))
        }
    }
}

/// The Kaplan–Meier estimate of `time` (event = true, censored = false) over the rows `rows`,
/// already ordered by time.
fn km_ordered(time: &[f64], event: &[bool], ordered: &[usize], z: f64, conf: ConfType) -> KaplanMeier {
    let n = ordered.len() as u64;
    let mut steps = Vec::new();
    let mut at_risk = n;
    let mut surv = 1.0f64;
    let mut var = Sum::default();
    let mut events = 0u64;
    let mut i = 0;
    while i < ordered.len() {
        let t = time[ordered[i]];
        let (mut d, mut c) = (0u64, 0u64);
        while i < ordered.len() && time[ordered[i]] == t {
            if event[ordered[i]] {
                d += 1;
            } else {
                c += 1;
            }
            i += 1;
        }
        let nr = at_risk as f64;
        if d > 0 {
            surv *= (nr - d as f64) / nr;
            if d < at_risk {
                var.add(d as f64 / (nr * (nr - d as f64)));
            }
        }
        // Once every subject at risk has had the event, S is 0 and its variance undefined (R: Inf).
        let std_err = if surv == 0.0 { f64::INFINITY } else { var.value().sqrt() };
        let (lower, upper) = limits(surv, std_err, z, conf);
        steps.push(KmStep { time: t, n_risk: at_risk, n_event: d, n_censor: c, surv, std_err, lower, upper });
        events += d;
        at_risk -= d + c;
    }
    KaplanMeier { steps, n, events }
}

/// Kaplan–Meier of one sample, with limits at `level` (e.g. 0.95) on the `conf` scale.
pub fn kaplan_meier(time: &[f64], event: &[bool], conf: ConfType, level: f64) -> Result<KaplanMeier, SurvivalError> {
    check(time, event.len())?;
    let z = z_for(level)?;
    let ordered = order_by_time(time, 0..time.len());
    Ok(km_ordered(time, event, &ordered, z, conf))
}

/// Kaplan–Meier per group (`group[i]` in `0..groups`), sorted once. Groups without rows get
/// an empty curve.
pub fn kaplan_meier_by_group(
    time: &[f64],
    event: &[bool],
    group: &[u32],
    conf: ConfType,
    level: f64,
) -> Result<Vec<KaplanMeier>, SurvivalError> {
    check(time, event.len())?;
    check(time, group.len())?;
    let z = z_for(level)?;
    let groups = group.iter().copied().max().map_or(0, |g| g as usize + 1);
    let mut idx: Vec<usize> = (0..time.len()).collect();
    idx.sort_by(|&a, &b| group[a].cmp(&group[b]).then(time[a].partial_cmp(&time[b]).unwrap_or(Ordering::Equal)));
    let mut out = Vec::with_capacity(groups);
    let mut start = 0;
    for g in 0..groups as u32 {
        let end = start + idx[start..].iter().take_while(|&&i| group[i] == g).count();
        out.push(km_ordered(time, event, &idx[start..end], z, conf));
        start = end;
    }
    Ok(out)
}

impl KaplanMeier {
    /// R's rule for where a curve `y` (over the steps' times) first reaches 0.5: the first time
    /// with y ≤ 0.5; if y is exactly 0.5 there (within √ε) and drops later, the midpoint between
    /// that time and the time of the next drop.
    fn first_at_half(&self, y: impl Fn(&KmStep) -> Option<f64>) -> Option<f64> {
        let tol = f64::EPSILON.sqrt();
        let kept: Vec<(f64, f64)> =
            self.steps.iter().filter_map(|s| y(s).filter(|v| *v < 0.5 + tol).map(|v| (s.time, v))).collect();
        let (t0, y0) = *kept.first()?;
        if (y0 - 0.5).abs() < tol
            && let Some((t1, _)) = kept.iter().find(|(_, v)| *v < y0)
        {
            return Some((t0 + t1) / 2.0);
        }
        Some(t0)
    }

    /// The median survival time with its confidence limits (from the curve's limits), as R's
    /// `print(survfit)` gives them; `None` where the curve (or limit) never reaches 0.5.
    pub fn median(&self) -> (Option<f64>, Option<f64>, Option<f64>) {
        // The lower curve reaches 0.5 first, so it gives the lower limit.
        (self.first_at_half(|s| Some(s.surv)), self.first_at_half(|s| s.lower), self.first_at_half(|s| s.upper))
    }

    /// Survival at time `t` (the step function, right-continuous), with the step's row.
    pub fn at(&self, t: f64) -> Option<&KmStep> {
        self.steps.iter().take_while(|s| s.time <= t).last()
    }
}

/// The log-rank test (R's `survdiff`, `rho = 0`).
#[derive(Debug, Clone, PartialEq)]
pub struct LogRank {
    /// Observed events per group.
    pub observed: Vec<f64>,
    /// Expected events per group under equal hazards.
    pub expected: Vec<f64>,
    /// The variance matrix of observed − expected (groups × groups).
    pub variance: Vec<Vec<f64>>,
    /// Chi-square statistic.
    pub chisq: f64,
    /// Degrees of freedom (groups with data − 1).
    pub df: usize,
}

impl LogRank {
    /// The p-value: the chi-square distribution's upper tail at the statistic.
    pub fn p_value(&self) -> f64 {
        use statrs::distribution::{ChiSquared, ContinuousCDF as _};
        ChiSquared::new(self.df as f64).map_or(f64::NAN, |d| d.sf(self.chisq))
    }
}

/// The log-rank test across `group` (values `0..k`), optionally stratified by `strata`: each
/// stratum's observed, expected and variance are summed before the statistic is formed.
pub fn log_rank(time: &[f64], event: &[bool], group: &[u32], strata: Option<&[u32]>) -> Result<LogRank, SurvivalError> {
    check(time, event.len())?;
    check(time, group.len())?;
    if let Some(s) = strata {
        check(time, s.len())?;
    }
    let k = group.iter().copied().max().map_or(0, |g| g as usize + 1);
    let stratum = |i: usize| strata.map_or(0, |s| s[i]);
    let mut idx: Vec<usize> = (0..time.len()).collect();
    idx.sort_by(|&a, &b| stratum(a).cmp(&stratum(b)).then(time[a].partial_cmp(&time[b]).unwrap_or(Ordering::Equal)));

    let mut observed = vec![0.0; k];
    let mut expected: Vec<Sum> = vec![Sum::default(); k];
    let mut variance: Vec<Vec<Sum>> = vec![vec![Sum::default(); k]; k];
    let mut at_risk = vec![0u64; k];
    let mut deaths = vec![0u64; k];
    let mut start = 0;
    while start < idx.len() {
        let s = stratum(idx[start]);
        let end = start + idx[start..].iter().take_while(|&&i| stratum(i) == s).count();
        at_risk.iter_mut().for_each(|n| *n = 0);
        for &i in &idx[start..end] {
            at_risk[group[i] as usize] += 1;
        }
        let mut i = start;
        while i < end {
            let t = time[idx[i]];
            deaths.iter_mut().for_each(|d| *d = 0);
            let first = i;
            while i < end && time[idx[i]] == t {
                if event[idx[i]] {
                    deaths[group[idx[i]] as usize] += 1;
                }
                i += 1;
            }
            let d: u64 = deaths.iter().sum();
            let n: u64 = at_risk.iter().sum();
            if d > 0 {
                let (nf, df) = (n as f64, d as f64);
                for g in 0..k {
                    observed[g] += deaths[g] as f64;
                    expected[g].add(at_risk[g] as f64 * df / nf);
                }
                if n > 1 {
                    let w = df * (nf - df) / (nf - 1.0);
                    for g in 0..k {
                        let pg = at_risk[g] as f64 / nf;
                        for h in 0..k {
                            let ph = at_risk[h] as f64 / nf;
                            let delta = if g == h { 1.0 } else { 0.0 };
                            variance[g][h].add(w * pg * (delta - ph));
                        }
                    }
                }
            }
            for &j in &idx[first..i] {
                at_risk[group[j] as usize] -= 1;
            }
        }
        start = end;
    }
    let expected: Vec<f64> = expected.into_iter().map(Sum::value).collect();
    let variance: Vec<Vec<f64>> = variance.into_iter().map(|r| r.into_iter().map(Sum::value).collect()).collect();
    // Groups with any data; the statistic uses all but the last of them (the variance matrix has
    // rank one less than their number).
    let present: Vec<usize> = (0..k).filter(|&g| group.iter().any(|&x| x as usize == g)).collect();
    if present.len() < 2 {
        return Err(SurvivalError::OneGroup);
    }
    let used = &present[..present.len() - 1];
    let diff: Vec<f64> = used.iter().map(|&g| observed[g] - expected[g]).collect();
    let v: Vec<Vec<f64>> = used.iter().map(|&g| used.iter().map(|&h| variance[g][h]).collect()).collect();
    let x = solve(v, diff.clone());
    let chisq = diff.iter().zip(&x).map(|(a, b)| a * b).sum();
    Ok(LogRank { observed, expected, variance, chisq, df: used.len() })
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (a is small and symmetric
/// positive definite here).
fn solve(mut a: Vec<Vec<f64>>, mut b: Vec<f64>) -> Vec<f64> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[i][col].abs().total_cmp(&a[j][col].abs())).unwrap_or(col);
        a.swap(col, pivot);
        b.swap(col, pivot);
        let pivot_row = a[col].clone();
        for row in col + 1..n {
            let f = a[row][col] / pivot_row[col];
            for (v, p) in a[row].iter_mut().zip(&pivot_row).skip(col) {
                *v -= f * p;
            }
            b[row] -= f * b[col];
        }
    }
    let mut x = vec![0.0; n];
    for row in (0..n).rev() {
        let s: f64 = (row + 1..n).map(|c| a[row][c] * x[c]).sum();
        x[row] = (b[row] - s) / a[row][row];
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_normal_quantile_matches_r() {
        assert!((z_for(0.95).unwrap() - 1.959963984540054).abs() < 1e-12);
        assert!(z_for(1.0).is_err());
    }

    #[test]
    fn a_tiny_curve_by_hand() {
        // Times 1, 2+, 3, 3: S = 3/4 after 1, then 0 after 3 (2 of 2 at risk die).
        let km = kaplan_meier(&[1.0, 2.0, 3.0, 3.0], &[true, false, true, true], ConfType::Log, 0.95).unwrap();
        let s: Vec<(f64, u64, f64)> = km.steps.iter().map(|s| (s.time, s.n_risk, s.surv)).collect();
        assert_eq!(s, [(1.0, 4, 0.75), (2.0, 3, 0.75), (3.0, 2, 0.0)]);
        assert!((km.steps[0].std_err - (1.0f64 / 12.0).sqrt()).abs() < 1e-15);
        assert!(km.steps[2].std_err.is_infinite() && km.steps[2].lower.is_none());
        assert_eq!(km.median().0, Some(3.0));
        assert_eq!(kaplan_meier(&[1.0, -1.0], &[true, true], ConfType::Log, 0.95), Err(SurvivalError::BadTime(2)));
    }

    #[test]
    fn compensated_sums_keep_small_terms() {
        let mut s = Sum::default();
        s.add(1e16);
        for _ in 0..10 {
            s.add(1.0);
        }
        s.add(-1e16);
        assert_eq!(s.value(), 10.0);
    }
}
