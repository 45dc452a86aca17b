//! Competing risks: the Aalen–Johansen estimate of cumulative incidence, for revision with death
//! as a competing risk (DOMAIN.md §5). Where Kaplan–Meier treats death as censoring and so
//! overstates the chance of revision, the cumulative incidence function (CIF) of a cause is the
//! probability of having had *that* event first by time t: CIF_j(t) = Σ_{s ≤ t} S(s−)·d_j(s)/n(s),
//! with S the Kaplan–Meier estimate of being free of every event. S + Σ_j CIF_j = 1 at every time.
//!
//! Defined as R's `survival::survfit(Surv(time, factor(status, 0:k)) ~ 1)` defines it, and checked
//! against it to 1e-9 in `tests/competing.rs`. The standard errors are R's default for such a fit,
//! the infinitesimal jackknife: the variance of each state probability is the sum over subjects of
//! its squared derivative with respect to that subject's case weight. With one row per subject and
//! unit weights this is a short recursion in time (derived below, at [`aalen_johansen`]) rather
//! than a per-subject computation; for Kaplan–Meier alone it reduces to Greenwood's formula.
//! Confidence limits are R's `survfit_confint` with `logse = FALSE` on the chosen scale.

use std::cmp::Ordering;

use crate::numeric::StableSum;
use crate::survival::{ConfType, SurvivalError, z_for};

/// A state probability at one time: the event-free probability or one cause's cumulative
/// incidence.
#[derive(Debug, Clone, PartialEq)]
pub struct StateEstimate {
    /// The probability.
    pub value: f64,
    /// Its standard error (infinitesimal jackknife, as R).
    pub std_err: f64,
    /// Lower confidence limit (`None` where the scale leaves it undefined, as R's `NA`).
    pub lower: Option<f64>,
    /// Upper confidence limit (`None` where undefined).
    pub upper: Option<f64>,
}

/// One distinct time (with an event or a censoring) of an Aalen–Johansen estimate.
#[derive(Debug, Clone, PartialEq)]
pub struct CompetingStep {
    /// The time.
    pub time: f64,
    /// At risk (free of every event and uncensored) just before it.
    pub n_risk: u64,
    /// Events at it, per cause: `n_event[j - 1]` for cause j.
    pub n_event: Vec<u64>,
    /// Censored at it.
    pub n_censor: u64,
    /// Probability of being free of every event just before it, S(t−).
    pub surv_before: f64,
    /// Probability of being free of every event just after it, S(t) (R's `pstate[, 1]`).
    pub surv: StateEstimate,
    /// Cumulative incidence per cause just after it: `cif[j - 1]` for cause j.
    pub cif: Vec<StateEstimate>,
}

/// An Aalen–Johansen estimate of cumulative incidence for `causes` competing causes.
#[derive(Debug, Clone, PartialEq)]
pub struct CumulativeIncidence {
    /// Number of causes: the largest status seen (causes are 1..=causes).
    pub causes: usize,
    /// Subjects.
    pub n: u64,
    /// Events per cause: `events[j - 1]` for cause j.
    pub events: Vec<u64>,
    /// Its steps, in time order.
    pub steps: Vec<CompetingStep>,
}

impl CumulativeIncidence {
    /// The estimate at time `t` (step functions, right-continuous): the last step at or before
    /// `t`, `None` before the first time.
    pub fn at(&self, t: f64) -> Option<&CompetingStep> {
        self.steps.iter().take_while(|s| s.time <= t).last()
    }
}

impl CompetingStep {
    /// The cumulative incidence of `cause` (1-based), `None` for 0 or a cause past the last.
    pub fn cause(&self, cause: usize) -> Option<&StateEstimate> {
        cause.checked_sub(1).and_then(|j| self.cif.get(j))
    }
}

/// Confidence limits of a state probability `p` with standard error `se` (on the probability
/// scale), exactly as R's `survfit_confint(p, se, logse = FALSE, …)`.
fn limits(p: f64, se: f64, z: f64, conf: ConfType) -> (Option<f64>, Option<f64>) {
    // R turns the standard error into one of log p first, keeping 0 as 0.
    let rel = if se == 0.0 { 0.0 } else { se / p };
    match conf {
        ConfType::Plain => {
            let half = rel * p * z;
            (Some((p - half).max(0.0)), Some((p + half).min(1.0)))
        }
        ConfType::Log => {
            if p == 0.0 {
                return (None, None);
            }
            let l = p.ln();
            (Some((l - z * rel).exp()), Some((l + z * rel).exp().min(1.0)))
        }
        ConfType::LogLog => {
            if p == 0.0 || p == 1.0 {
                return (None, None);
            }
            let ll = (-p.ln()).ln();
            let half = z * rel / p.ln();
            (Some((-(ll - half).exp()).exp()), Some((-(ll + half).exp()).exp()))
        }
    }
}

/// The Aalen–Johansen estimate from `time` and `status` (0 censored, j ≥ 1 an event of cause j;
/// e.g. 1 revision, 2 death), with limits at `level` (e.g. 0.95) on the `conf` scale. At a time
/// with both, events come before censorings (the censored are still at risk), as in R.
///
/// The variance recursion: for subject i let δᵢ(t) be the derivative of the state vector
/// (S, CIF₁, …, CIF_k)(t) with respect to i's weight. With λⱼ = dⱼ/n the cause-j hazard at time t
/// and λ = Σ λⱼ, the estimator steps as S ← (1 − λ)S, CIFⱼ ← CIFⱼ + λⱼS, so
/// δᵢ(t) = M δᵢ(t−) + bᵢ with M = [[1 − λ, 0], [λⱼ, I]] and bᵢ = S(t−)·(−Σⱼ vᵢⱼ, vᵢ₁, …, vᵢₖ),
/// where vᵢⱼ = (1{i has cause j at t} − λⱼ)/n for i at risk and 0 otherwise. Everyone at risk at t
/// has the same δ(t−) (so far they have only been at risk) and Σ_{i at risk} vᵢ = 0, so the cross
/// terms vanish and V(t) = Σᵢ δᵢδᵢᵀ obeys V(t) = M V(t−) Mᵀ + S(t−)²·L (diag λ − λλᵀ)/n · Lᵀ, with
/// L = [−1ᵀ; I]. For k = 1 this is Greenwood's variance of S.
pub fn aalen_johansen(
    time: &[f64],
    status: &[u8],
    conf: ConfType,
    level: f64,
) -> Result<CumulativeIncidence, SurvivalError> {
    if time.len() != status.len() {
        return Err(SurvivalError::Lengths(time.len(), status.len()));
    }
    if time.is_empty() {
        return Err(SurvivalError::Empty);
    }
    if let Some(i) = time.iter().position(|t| !t.is_finite() || *t < 0.0) {
        return Err(SurvivalError::BadTime(i + 1));
    }
    let z = z_for(level)?;
    let k = status.iter().copied().max().unwrap_or(0) as usize;
    let mut order: Vec<usize> = (0..time.len()).collect();
    order.sort_by(|&a, &b| time[a].partial_cmp(&time[b]).unwrap_or(Ordering::Equal));

    // State 0 is event-free, state j is cause j; `var` is the (k+1)×(k+1) covariance, row-major.
    let dim = k + 1;
    let mut var = vec![0.0f64; dim * dim];
    let mut surv = 1.0f64;
    let mut cif = vec![StableSum::default(); k];
    let mut events = vec![0u64; k];
    let mut at_risk = time.len() as u64;
    let mut steps = Vec::new();
    let mut i = 0;
    while i < order.len() {
        let t = time[order[i]];
        let mut d = vec![0u64; k];
        let mut censored = 0u64;
        while i < order.len() && time[order[i]] == t {
            match status[order[i]] {
                0 => censored += 1,
                c => d[c as usize - 1] += 1,
            }
            i += 1;
        }
        let before = surv;
        let d_all: u64 = d.iter().sum();
        if d_all > 0 {
            let n = at_risk as f64;
            let lam: Vec<f64> = d.iter().map(|&x| x as f64 / n).collect();
            let stay = (at_risk - d_all) as f64 / n;
            let lam_all = d_all as f64 / n;
            let s2n = before * before / n;
            let old = var.clone();
            let at = |r: usize, c: usize| old[r * dim + c];
            var[0] = stay * stay * at(0, 0) + s2n * lam_all * stay;
            for a in 1..dim {
                let la = lam[a - 1];
                let v0a = stay * (at(0, a) + la * at(0, 0)) - s2n * la * stay;
                var[a] = v0a;
                var[a * dim] = v0a;
                for b in a..dim {
                    let lb = lam[b - 1];
                    let own = if a == b { la } else { 0.0 };
                    let vab = at(a, b) + lb * at(0, a) + la * at(0, b) + la * lb * at(0, 0) + s2n * (own - la * lb);
                    var[a * dim + b] = vab;
                    var[b * dim + a] = vab;
                }
            }
            for (j, &l) in lam.iter().enumerate() {
                cif[j].add(before * l);
            }
            surv = before * stay;
        }
        let estimate = |p: f64, v: f64| {
            let std_err = v.max(0.0).sqrt();
            let (lower, upper) = limits(p, std_err, z, conf);
            StateEstimate { value: p, std_err, lower, upper }
        };
        steps.push(CompetingStep {
            time: t,
            n_risk: at_risk,
            n_event: d.clone(),
            n_censor: censored,
            surv_before: before,
            surv: estimate(surv, var[0]),
            cif: (1..dim).map(|j| estimate(cif[j - 1].value(), var[j * dim + j])).collect(),
        });
        for (e, x) in events.iter_mut().zip(&d) {
            *e += x;
        }
        at_risk -= d_all + censored;
    }
    Ok(CumulativeIncidence { causes: k, n: time.len() as u64, events, steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) {
        assert!((a - b).abs() <= 1e-14 * b.abs().max(1.0), "{a:.17e} vs {b:.17e}");
    }

    #[test]
    fn a_small_example_matches_the_hand_computation() {
        // Times 1, 2, 2, 3, 4 with status 1 (revision), 2 (death), 0, 1, 2.
        // t=1: n=5, one revision: S = 4/5, CIF₁ = 1·1/5 = 0.2.
        // t=2: n=4, one death, one censored: CIF₂ = (4/5)(1/4) = 0.2, S = (4/5)(3/4) = 0.6.
        // t=3: n=2, one revision: CIF₁ = 0.2 + 0.6·1/2 = 0.5, S = 0.3.
        // t=4: n=1, one death: CIF₂ = 0.2 + 0.3 = 0.5, S = 0.
        let f = aalen_johansen(&[1.0, 2.0, 2.0, 3.0, 4.0], &[1, 2, 0, 1, 2], ConfType::Log, 0.95).unwrap();
        assert_eq!(f.causes, 2);
        assert_eq!(f.events, vec![2, 2]);
        let got: Vec<(f64, u64, f64, f64, f64)> =
            f.steps.iter().map(|s| (s.time, s.n_risk, s.surv.value, s.cif[0].value, s.cif[1].value)).collect();
        let want = [(1.0, 5, 0.8, 0.2, 0.0), (2.0, 4, 0.6, 0.2, 0.2), (3.0, 2, 0.3, 0.5, 0.2), (4.0, 1, 0.0, 0.5, 0.5)];
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0, g.1), (w.0, w.1));
            close(g.2, w.2);
            close(g.3, w.3);
            close(g.4, w.4);
        }
        assert_eq!(f.steps[1].n_censor, 1);
        close(f.steps[2].surv_before, 0.6);
        // Var CIF₁ at t=1: S(0−)²·λ₁(1 − λ₁)/n = 1·(1/5)(4/5)/5 = 0.032 (binomial, as it should be).
        close(f.steps[0].cif[0].std_err, 0.032f64.sqrt());
        // The sum of the states is 1 throughout; once S is 0 its variance is 0.
        for s in &f.steps {
            close(s.surv.value + s.cif.iter().map(|c| c.value).sum::<f64>(), 1.0);
        }
        assert_eq!(f.steps[3].surv.std_err, 0.0);
        assert_eq!(f.at(3.5).unwrap().time, 3.0);
        assert!(f.at(0.5).is_none());
        assert_eq!(f.steps[0].cause(1), Some(&f.steps[0].cif[0]));
        assert_eq!(f.steps[0].cause(0), None);
    }

    #[test]
    fn with_one_cause_it_is_one_minus_kaplan_meier_with_greenwood_variance() {
        use crate::survival::kaplan_meier;
        let time = [3.0, 1.0, 4.0, 1.0, 5.0, 9.0, 2.0, 6.0, 5.0, 3.0, 5.0];
        let status = [1u8, 0, 1, 1, 0, 1, 1, 0, 1, 1, 0];
        let event: Vec<bool> = status.iter().map(|&s| s == 1).collect();
        let aj = aalen_johansen(&time, &status, ConfType::Plain, 0.9).unwrap();
        let km = kaplan_meier(&time, &event, ConfType::Plain, 0.9).unwrap();
        assert_eq!(aj.steps.len(), km.steps.len());
        for (a, k) in aj.steps.iter().zip(&km.steps) {
            close(a.surv.value, k.surv);
            close(a.cif[0].value, 1.0 - k.surv);
            // KM's std_err is of −log S; S·se is the standard error of S itself.
            if k.surv > 0.0 {
                close(a.surv.std_err, k.std_err * k.surv);
                close(a.cif[0].std_err, k.std_err * k.surv);
            }
        }
    }

    #[test]
    fn bad_input_is_refused_with_its_row() {
        assert_eq!(aalen_johansen(&[1.0], &[1, 2], ConfType::Log, 0.95), Err(SurvivalError::Lengths(1, 2)));
        assert_eq!(aalen_johansen(&[], &[], ConfType::Log, 0.95), Err(SurvivalError::Empty));
        assert_eq!(aalen_johansen(&[1.0, -2.0], &[1, 2], ConfType::Log, 0.95), Err(SurvivalError::BadTime(2)));
        assert_eq!(aalen_johansen(&[1.0], &[1], ConfType::Log, 1.5), Err(SurvivalError::BadLevel));
    }
}
