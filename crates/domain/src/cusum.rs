//! The risk-adjusted Bernoulli CUSUM of Steiner, Cook, Farewell & Treasure ("Monitoring surgical
//! performance using risk-adjusted cumulative sum charts", *Biostatistics* 2000; 1:441–452), for
//! watching a hospital's or surgeon's outcomes one operation at a time.
//!
//! For outcomes yₜ ∈ {0, 1} (1 = the adverse event, e.g. revision or death) with predicted risks
//! pₜ from a case-mix model, and the odds ratio R of the "out of control" alternative (R = 2: the
//! odds of the event doubled), each outcome adds the log-likelihood ratio of the alternative to
//! the null:
//!
//! ```text
//! Wₜ = max(0, Wₜ₋₁ + yₜ·ln R − ln(1 − pₜ + R·pₜ)),   W₀ = 0
//! ```
//!
//! and the chart signals when Wₜ > h. R > 1 looks for deterioration; R < 1 for improvement (a
//! second chart). `ln(1 − p + R·p)` is computed as `ln_1p((R − 1)·p)`, which keeps its digits for
//! small risks. `tests/funnel.rs` checks the values against a plain R loop in
//! `tests/survival_reference/make_funnel_reference.R`.
//!
//! After a signal, registries usually investigate and restart the chart: with `reset`, the
//! value at the signal is kept in `values` (it is what crossed h and is plotted) and the next
//! step starts again from 0. Without `reset` the chart runs on, and a signal is recorded each
//! time it crosses from h or below to above h.

/// Why a CUSUM could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CusumError {
    /// A predicted risk that is not strictly between 0 and 1 (outcome from 1).
    #[error("outcome {0}: the predicted risk must be strictly between 0 and 1")]
    BadRisk(usize),
    /// The odds ratio is 0 or less, 1 (no alternative), infinite or not a number.
    #[error("the odds ratio must be a finite number greater than 0 and not 1")]
    BadOddsRatio,
    /// The threshold is 0 or less, infinite or not a number.
    #[error("the control limit h must be a finite number greater than 0")]
    BadThreshold,
}

/// A CUSUM chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Cusum {
    /// Wₜ after each outcome, in the order given (the value that crossed h at a signal).
    pub values: Vec<f64>,
    /// Indices (from 0) of the outcomes at which the chart signalled.
    pub signals: Vec<usize>,
}

/// The risk-adjusted Bernoulli CUSUM of `outcomes` (event?, predicted risk), in time order, for
/// the alternative `odds_ratio` (usually 2), signalling above `h`; `reset` restarts at 0 after a
/// signal. See the module notes.
pub fn bernoulli_cusum(outcomes: &[(bool, f64)], odds_ratio: f64, h: f64, reset: bool) -> Result<Cusum, CusumError> {
    if !(odds_ratio.is_finite() && odds_ratio > 0.0) || odds_ratio == 1.0 {
        return Err(CusumError::BadOddsRatio);
    }
    if !(h.is_finite() && h > 0.0) {
        return Err(CusumError::BadThreshold);
    }
    if let Some(i) = outcomes.iter().position(|&(_, p)| !(p > 0.0 && p < 1.0)) {
        return Err(CusumError::BadRisk(i + 1));
    }
    let ln_r = odds_ratio.ln();
    let mut values = Vec::with_capacity(outcomes.len());
    let mut signals = Vec::new();
    let mut w = 0.0f64;
    for (t, &(event, p)) in outcomes.iter().enumerate() {
        let before = w;
        let weight = if event { ln_r } else { 0.0 } - ((odds_ratio - 1.0) * p).ln_1p();
        w = (w + weight).max(0.0);
        values.push(w);
        if w > h && (reset || before <= h) {
            signals.push(t);
            if reset {
                w = 0.0;
            }
        }
    }
    Ok(Cusum { values, signals })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_bad_input() {
        assert_eq!(bernoulli_cusum(&[(true, 0.1), (false, 1.0)], 2.0, 4.5, true), Err(CusumError::BadRisk(2)));
        assert_eq!(bernoulli_cusum(&[(true, 0.0)], 2.0, 4.5, true), Err(CusumError::BadRisk(1)));
        assert_eq!(bernoulli_cusum(&[], 0.0, 4.5, true), Err(CusumError::BadOddsRatio));
        assert_eq!(bernoulli_cusum(&[], 1.0, 4.5, true), Err(CusumError::BadOddsRatio));
        assert_eq!(bernoulli_cusum(&[], 2.0, 0.0, true), Err(CusumError::BadThreshold));
        assert_eq!(bernoulli_cusum(&[], 2.0, 4.5, true).unwrap(), Cusum { values: vec![], signals: vec![] });
    }

    #[test]
    fn a_short_sequence_by_hand() {
        // R = 2, h = 1. Each step adds y·ln 2 − ln(1 + p):
        //   (0, 0.1):  0 − ln 1.1 < 0                  → W = 0
        //   (1, 0.2):  0 + ln 2 − ln 1.2 = ln(5/3)      → 0.5108
        //   (1, 0.5):  ln(5/3) + ln 2 − ln 1.5 = ln(20/9) → 0.7985
        //   (0, 0.25): ln(20/9) − ln 1.25 = ln(16/9)    → 0.5754
        //   (1, 0.1):  ln(16/9) + ln 2 − ln 1.1 = ln(320/99) → 1.1731 > 1: signal at index 4
        //   (0, 0.5):  with reset, 0 − ln 1.5 → 0; without, ln(320/99) − ln 1.5 = ln(640/297) → 0.7677
        //   (1, 0.5):  with reset, ln(4/3) → 0.2877; without, ln(640/297 · 4/3) = ln(2560/891)
        //              → 1.0554 > 1, having been below: a second signal at index 6.
        let seq = [(false, 0.1), (true, 0.2), (true, 0.5), (false, 0.25), (true, 0.1), (false, 0.5), (true, 0.5)];
        let common = [0.0, (5.0f64 / 3.0).ln(), (20.0f64 / 9.0).ln(), (16.0f64 / 9.0).ln(), (320.0f64 / 99.0).ln()];
        let close = |ours: &[f64], hand: &[f64]| {
            assert_eq!(ours.len(), hand.len());
            for (a, b) in ours.iter().zip(hand) {
                assert!((a - b).abs() < 1e-15, "{ours:?} vs {hand:?}");
            }
        };
        let reset = bernoulli_cusum(&seq, 2.0, 1.0, true).unwrap();
        close(&reset.values, &[&common[..], &[0.0, (4.0f64 / 3.0).ln()]].concat());
        assert_eq!(reset.signals, [4]);
        let run_on = bernoulli_cusum(&seq, 2.0, 1.0, false).unwrap();
        close(&run_on.values, &[&common[..], &[(640.0f64 / 297.0).ln(), (2560.0f64 / 891.0).ln()]].concat());
        assert_eq!(run_on.signals, [4, 6]);
    }

    proptest::proptest! {
        #[test]
        fn an_extra_event_never_lowers_the_chart(
            seq in proptest::collection::vec((proptest::bool::ANY, 0.001f64..0.999), 1..60),
            flip in 0usize..60,
            r in 1.1f64..5.0,
        ) {
            // Without reset, Wₜ is non-decreasing in every earlier outcome (max and + are).
            let base = bernoulli_cusum(&seq, r, 1e9, false).unwrap();
            let mut worse = seq.clone();
            let i = flip % seq.len();
            worse[i].0 = true;
            let more = bernoulli_cusum(&worse, r, 1e9, false).unwrap();
            for (a, b) in base.values.iter().zip(&more.values) {
                proptest::prop_assert!(b >= a);
            }
            // Each step moves W by at most ln R upwards and never below 0.
            let mut last = 0.0f64;
            for &w in &base.values {
                proptest::prop_assert!(w >= 0.0 && w <= last + r.ln() + 1e-12);
                last = w;
            }
            // With reset, every signal is a value above h, and the chart restarts from 0.
            let h = 1.5;
            let c = bernoulli_cusum(&seq, r, h, true).unwrap();
            for &t in &c.signals {
                proptest::prop_assert!(c.values[t] > h);
                if t + 1 < seq.len() {
                    proptest::prop_assert!(c.values[t + 1] <= r.ln());
                }
            }
            proptest::prop_assert_eq!(c.signals.len(), c.values.iter().filter(|&&w| w > h).count());
        }
    }
}
