//! Survival statistics (pure, no I/O): Kaplan–Meier with Greenwood variance and confidence
//! limits on the plain, log and log(−log) scales, numbers at risk, the median with its limits,
//! and the log-rank test for k groups, optionally stratified. Defined exactly as R's `survival`
//! package defines them (`survfit`, `survdiff` with `rho = 0`), and checked against it to 1e-9
//! in `tests/survival.rs`.
//!
//! Rows are split by group with a counting sort and each group's times radix-sorted (no index
//! array, only the bits that differ); each group is then one pass in time order, with
//! compensated (Neumaier) sums for the quantities that add up over many times. The order of
//! every floating-point operation is fixed by the times alone, so results do not depend on the
//! order of the rows.

use crate::numeric::StableSum;

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

/// A further column must be as long as the times (already checked by `check`).
fn same_length(time: &[f64], other: usize) -> Result<(), SurvivalError> {
    if time.len() == other { Ok(()) } else { Err(SurvivalError::Lengths(time.len(), other)) }
}

/// How times become integer keys that order like them: whole numbers (days, say) as
/// themselves, anything else by its bits (those of a finite f64 ≥ 0 order like it, −0 taken as
/// +0) shifted past the trailing zero bits every time shares; either way less the smallest.
#[derive(Debug, Clone, Copy)]
struct TimeKeys {
    whole: bool,
    shift: u32,
    min: u64,
    /// The largest key.
    max: u64,
}

/// Whole numbers below this (2^53) are exact in an f64 and can be keys as they are.
const WHOLE_LIMIT: f64 = 9_007_199_254_740_992.0;

fn time_bits(t: f64) -> u64 {
    if t == 0.0 { 0 } else { t.to_bits() }
}

impl TimeKeys {
    fn new(n: usize, time: impl Fn(usize) -> f64) -> Self {
        // One pass: are all times whole (a round trip through u64 is exact, and cheaper than
        // `fract`), the bits any of them has, and the smallest and largest (keys order like them).
        let (whole, any, lo, hi) = (0..n).fold((true, 0u64, f64::INFINITY, 0.0f64), |(whole, any, lo, hi), i| {
            let t = time(i);
            (whole && t < WHOLE_LIMIT && (t as u64) as f64 == t, any | time_bits(t), lo.min(t), hi.max(t))
        });
        let shift = if whole || any == 0 { 0 } else { any.trailing_zeros() };
        let raw = TimeKeys { whole, shift, min: 0, max: 0 };
        if n == 0 {
            return raw;
        }
        let min = raw.key(lo);
        TimeKeys { whole, shift, min, max: raw.key(hi) - min }
    }

    fn key(self, t: f64) -> u64 {
        let k = if self.whole { t as u64 } else { time_bits(t) >> self.shift };
        k - self.min
    }

    fn time(self, key: u64) -> f64 {
        let k = key + self.min;
        if self.whole { k as f64 } else { f64::from_bits(k << self.shift) }
    }
}

/// Each cell's (a group's, or a stratum's group's) distinct times in order, with the events
/// and censorings at each: cell `c` is `key[starts[c]..starts[c + 1]]` and the same range of
/// `events` and `censored`. Built in time linear in the rows, with no index array to chase:
/// by counting when cells × distinct keys are few (registry times in days), else by a counting
/// sort into cells and a radix sort within each.
struct Runs {
    keys: TimeKeys,
    key: Vec<u64>,
    events: Vec<u64>,
    censored: Vec<u64>,
    starts: Vec<usize>,
}

impl Runs {
    fn new(
        n: usize,
        cells: usize,
        cell: impl Fn(usize) -> usize,
        time: impl Fn(usize) -> f64,
        event: impl Fn(usize) -> bool,
    ) -> Self {
        let keys = TimeKeys::new(n, &time);
        let mut runs = Runs { keys, key: Vec::new(), events: Vec::new(), censored: Vec::new(), starts: vec![0] };
        let span = usize::try_from(keys.max).ok().and_then(|m| m.checked_add(1));
        let slots = span.and_then(|s| s.checked_mul(cells)).and_then(|s| s.checked_mul(2));
        match (span, slots) {
            (Some(span), Some(slots)) if u32::try_from(n).is_ok() && slots <= (4 * n).max(1 << 16) => {
                // One counter per (cell, key, event): one pass over the rows, one over the counters.
                let mut count = vec![0u32; slots];
                for i in 0..n {
                    count[(cell(i) * span + keys.key(time(i)) as usize) * 2 + usize::from(event(i))] += 1;
                }
                for per_cell in count.chunks_exact(2 * span) {
                    for (k, dc) in per_cell.chunks_exact(2).enumerate() {
                        if dc[0] + dc[1] > 0 {
                            runs.push(k as u64, u64::from(dc[1]), u64::from(dc[0]));
                        }
                    }
                    runs.starts.push(runs.key.len());
                }
            }
            _ => {
                let (sorted, starts) =
                    sort_by_cell(n, cells, &cell, |i| (keys.key(time(i)) << 1) | u64::from(event(i)));
                for w in starts.windows(2) {
                    let cell = &sorted[w[0]..w[1]];
                    let mut i = 0;
                    while i < cell.len() {
                        let t = cell[i] >> 1;
                        let end = i + cell[i..].iter().take_while(|&&k| k >> 1 == t).count();
                        let d = cell[i..end].iter().map(|k| k & 1).sum::<u64>();
                        runs.push(t, d, (end - i) as u64 - d);
                        i = end;
                    }
                    runs.starts.push(runs.key.len());
                }
            }
        }
        runs
    }

    fn push(&mut self, key: u64, events: u64, censored: u64) {
        self.key.push(key);
        self.events.push(events);
        self.censored.push(censored);
    }

    /// Cell `c`'s (time keys, events, censored).
    fn cell(&self, c: usize) -> (&[u64], &[u64], &[u64]) {
        let r = self.starts[c]..self.starts[c + 1];
        (&self.key[r.clone()], &self.events[r.clone()], &self.censored[r])
    }

    /// Rows in cell `c`.
    fn rows(&self, c: usize) -> u64 {
        let (_, d, c) = self.cell(c);
        d.iter().sum::<u64>() + c.iter().sum::<u64>()
    }
}

/// A counting sort of `n` rows' keys into `cells` cells, then a radix sort of each cell: the
/// keys, and where each cell starts (with the end last).
fn sort_by_cell(
    n: usize,
    cells: usize,
    cell: impl Fn(usize) -> usize,
    key: impl Fn(usize) -> u64,
) -> (Vec<u64>, Vec<usize>) {
    let mut starts = vec![0usize; cells + 1];
    for i in 0..n {
        starts[cell(i) + 1] += 1;
    }
    for c in 0..cells {
        starts[c + 1] += starts[c];
    }
    let mut next = starts.clone();
    let mut keys = vec![0u64; n];
    for i in 0..n {
        let c = cell(i);
        keys[next[c]] = key(i);
        next[c] += 1;
    }
    let largest = starts.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    let mut scratch = vec![0u64; largest];
    for w in starts.windows(2) {
        radix_sort(&mut keys[w[0]..w[1]], &mut scratch);
    }
    (keys, starts)
}

/// Sorts `keys` with a least-significant-digit radix sort over only the bits that differ
/// between them, in digits of at most 12 bits (a 32 KiB histogram, which stays in cache).
fn radix_sort(keys: &mut [u64], scratch: &mut [u64]) {
    if keys.len() < 512 {
        keys.sort_unstable();
        return;
    }
    let (any, all) = keys.iter().fold((0u64, !0u64), |(o, a), &k| (o | k, a & k));
    let differ = any ^ all;
    if differ == 0 {
        return;
    }
    let low = differ.trailing_zeros();
    let span = 64 - differ.leading_zeros() - low;
    let passes = span.div_ceil(12);
    let width = span.div_ceil(passes);
    let mask = (1u64 << width) - 1;
    let scratch = &mut scratch[..keys.len()];
    let mut count = vec![0usize; 1 << width];
    for pass in 0..passes {
        let shift = low + pass * width;
        let (from, to): (&[u64], &mut [u64]) =
            if pass % 2 == 0 { (&*keys, &mut *scratch) } else { (&*scratch, &mut *keys) };
        count.iter_mut().for_each(|c| *c = 0);
        for &k in from {
            count[((k >> shift) & mask) as usize] += 1;
        }
        let mut sum = 0;
        for c in count.iter_mut() {
            let here = *c;
            *c = sum;
            sum += here;
        }
        for &k in from {
            let digit = ((k >> shift) & mask) as usize;
            to[count[digit]] = k;
            count[digit] += 1;
        }
    }
    if passes % 2 == 1 {
        keys.copy_from_slice(scratch);
    }
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

/// The Kaplan–Meier estimate of one cell of `runs`.
fn km_runs(runs: &Runs, cell: usize, z: f64, conf: ConfType) -> KaplanMeier {
    let (keys, events, censored) = runs.cell(cell);
    let n = runs.rows(cell);
    let mut steps = Vec::with_capacity(keys.len());
    let mut at_risk = n;
    let mut surv = 1.0f64;
    let mut var = StableSum::default();
    for ((&key, &d), &c) in keys.iter().zip(events).zip(censored) {
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
        let time = runs.keys.time(key);
        steps.push(KmStep { time, n_risk: at_risk, n_event: d, n_censor: c, surv, std_err, lower, upper });
        at_risk -= d + c;
    }
    KaplanMeier { steps, n, events: events.iter().sum() }
}

/// Kaplan–Meier of one sample, with limits at `level` (e.g. 0.95) on the `conf` scale.
pub fn kaplan_meier(time: &[f64], event: &[bool], conf: ConfType, level: f64) -> Result<KaplanMeier, SurvivalError> {
    check(time, event.len())?;
    let z = z_for(level)?;
    let runs = Runs::new(time.len(), 1, |_| 0, |i| time[i], |i| event[i]);
    Ok(km_runs(&runs, 0, z, conf))
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
    same_length(time, group.len())?;
    let z = z_for(level)?;
    let groups = group.iter().copied().max().map_or(0, |g| g as usize + 1);
    let runs = Runs::new(time.len(), groups, |i| group[i] as usize, |i| time[i], |i| event[i]);
    Ok((0..groups).map(|g| km_runs(&runs, g, z, conf)).collect())
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

/// The log-rank sums over strata: observed, expected and variance (k × k, row-major), and how
/// many rows each group has.
struct LogRankSums {
    k: usize,
    observed: Vec<f64>,
    expected: Vec<StableSum>,
    variance: Vec<StableSum>,
    rows: Vec<u64>,
}

impl LogRankSums {
    /// Adds one stratum, whose `runs` have one cell per group: its times in order, each
    /// group's events and numbers at risk read off the front of its cell.
    fn add_stratum(&mut self, runs: &Runs) {
        let k = self.k;
        let mut at_risk: Vec<u64> = (0..k).map(|g| runs.rows(g)).collect();
        let mut at = vec![0usize; k];
        let mut deaths = vec![0u64; k];
        let mut removed = vec![0u64; k];
        let mut p = vec![0.0f64; k];
        for (rows, n) in self.rows.iter_mut().zip(&at_risk) {
            *rows += n;
        }
        let cells: Vec<_> = (0..k).map(|g| runs.cell(g)).collect();
        // The next time is the earliest at the front of any group's cell.
        while let Some(t) = cells.iter().zip(&at).filter_map(|((keys, _, _), &i)| keys.get(i)).min().copied() {
            for (g, (keys, events, censored)) in cells.iter().enumerate() {
                (deaths[g], removed[g]) = (0, 0);
                if keys.get(at[g]) == Some(&t) {
                    (deaths[g], removed[g]) = (events[at[g]], events[at[g]] + censored[at[g]]);
                    at[g] += 1;
                }
            }
            let d: u64 = deaths.iter().sum();
            let n: u64 = at_risk.iter().sum();
            if d > 0 {
                let (nf, df) = (n as f64, d as f64);
                for g in 0..k {
                    self.observed[g] += deaths[g] as f64;
                    self.expected[g].add(at_risk[g] as f64 * df / nf);
                }
                if n > 1 {
                    let w = df * (nf - df) / (nf - 1.0);
                    for (pg, n) in p.iter_mut().zip(&at_risk) {
                        *pg = *n as f64 / nf;
                    }
                    for (g, row) in self.variance.chunks_exact_mut(k).enumerate() {
                        let wp = w * p[g];
                        for (h, (v, ph)) in row.iter_mut().zip(&p).enumerate() {
                            let delta = if g == h { 1.0 } else { 0.0 };
                            v.add(wp * (delta - ph));
                        }
                    }
                }
            }
            for (n, r) in at_risk.iter_mut().zip(&removed) {
                *n -= r;
            }
        }
    }
}

/// The log-rank test across `group` (values `0..k`), optionally stratified by `strata`: each
/// stratum's observed, expected and variance are summed before the statistic is formed.
pub fn log_rank(time: &[f64], event: &[bool], group: &[u32], strata: Option<&[u32]>) -> Result<LogRank, SurvivalError> {
    check(time, event.len())?;
    same_length(time, group.len())?;
    if let Some(s) = strata {
        same_length(time, s.len())?;
    }
    let k = group.iter().copied().max().map_or(0, |g| g as usize + 1);
    let mut sums = LogRankSums {
        k,
        observed: vec![0.0; k],
        expected: vec![StableSum::default(); k],
        variance: vec![StableSum::default(); k * k],
        rows: vec![0; k],
    };
    match strata {
        None => sums.add_stratum(&Runs::new(time.len(), k, |i| group[i] as usize, |i| time[i], |i| event[i])),
        Some(s) => {
            // Strata in ascending order, as the sums have always been formed.
            let mut rows: Vec<usize> = (0..time.len()).collect();
            rows.sort_unstable_by_key(|&i| s[i]);
            for stratum in rows.chunk_by(|&a, &b| s[a] == s[b]) {
                let runs = Runs::new(
                    stratum.len(),
                    k,
                    |j| group[stratum[j]] as usize,
                    |j| time[stratum[j]],
                    |j| event[stratum[j]],
                );
                sums.add_stratum(&runs);
            }
        }
    }
    let LogRankSums { observed, expected, variance, rows, .. } = sums;
    let expected: Vec<f64> = expected.into_iter().map(StableSum::value).collect();
    let variance: Vec<Vec<f64>> = variance.chunks_exact(k).map(|r| r.iter().map(|s| s.value()).collect()).collect();
    // Groups with any data; the statistic uses all but the last of them (the variance matrix has
    // rank one less than their number).
    let present: Vec<usize> = (0..k).filter(|&g| rows[g] > 0).collect();
    if present.len() < 2 {
        return Err(SurvivalError::OneGroup);
    }
    // As R's `survdiff` (a generalised inverse): a group nobody of which was at risk at any
    // event time has no variance and adds nothing; with fewer than two left the statistic is 0.
    let informative: Vec<usize> = present.iter().copied().filter(|&g| variance[g][g] > 0.0).collect();
    if informative.len() < 2 {
        return Ok(LogRank { observed, expected, variance, chisq: 0.0, df: 0 });
    }
    let used = &informative[..informative.len() - 1];
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
    fn a_group_never_at_risk_at_an_event_adds_nothing_as_in_r() {
        // R 4.2.2, survival 3.5.3: survdiff(Surv(time, status) ~ g) on these rows prints
        // "Chisq= 2.5 on 1 degrees of freedom"; x$chisq = 2.4693877551020411.
        let time = [0.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0];
        let event = [false, false, true, true, false, true, true, false];
        let group = [0, 0, 1, 1, 1, 2, 2, 2];
        let lr = log_rank(&time, &event, &group, None).unwrap();
        assert!((lr.chisq - 2.469_387_755_102_041).abs() < 1e-12 * 2.47, "{}", lr.chisq);
        assert_eq!(lr.df, 1);
        // No events at all: R gives 0.
        let lr = log_rank(&[1.0, 2.0, 3.0, 4.0], &[false; 4], &[0, 0, 1, 1], None).unwrap();
        assert_eq!((lr.chisq, lr.df), (0.0, 0));
    }
}
