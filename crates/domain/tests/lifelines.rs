//! The Kaplan–Meier engine against a second, independent implementation: Python's `lifelines`
//! (`KaplanMeierFitter`, version in `survival_reference/VERSIONS_lifelines`). The reference files
//! `km_*_lifelines.csv` were written by `survival_reference/make_lifelines_reference.py` from
//! the same `lung.csv` and `veteran.csv` that R's references use.
//!
//! lifelines' confidence interval is the "exponential Greenwood" interval,
//! exp(−exp(log(−log S) ∓ z·√V / log S)) with V = Σ d/(n(n−d)), which is R's (and Tessera's)
//! `log-log` definition, so surv, lower and upper must all agree to 1e-9 relative. Two
//! documented differences in *presentation*, not definition, are checked exactly rather than
//! tolerated:
//! - lifelines' timeline starts with a row at time 0 (S = 1, nobody removed) that has no
//!   Kaplan–Meier step of its own; Tessera's steps start at the first observed time.
//! - Where the log-log limits are undefined, Tessera (like R) gives none, while lifelines writes
//!   what its arithmetic yields: 1.0 where S = 1 (NaN from 0/0, replaced by `fillna(1.0)`) and
//!   0.0 where S = 0 (exp(−exp(+∞))).

mod common;

use std::collections::BTreeMap;

use common::read;
use tessera_domain::survival::{ConfType, kaplan_meier_by_group};

const TOL: f64 = 1e-9;

fn num(row: &BTreeMap<String, String>, col: &str) -> f64 {
    row[col].parse().unwrap()
}

fn close(ours: f64, theirs: f64, what: &str) {
    let rel = (ours - theirs).abs() / theirs.abs().max(1e-300);
    assert!(ours == theirs || rel < TOL, "{what}: ours {ours:.17e}, lifelines {theirs:.17e} (relative {rel:.2e})");
}

/// A limit Tessera leaves undefined must be lifelines' placeholder for that case, exactly.
fn limit(ours: Option<f64>, theirs: f64, surv: f64, what: &str) {
    match ours {
        Some(a) => close(a, theirs, what),
        None if surv == 1.0 => assert_eq!(theirs, 1.0, "{what}: S = 1, lifelines fills 1.0"),
        None if surv == 0.0 => assert_eq!(theirs, 0.0, "{what}: S = 0, lifelines gives 0.0"),
        None => panic!("{what}: Tessera has no limit at S = {surv}, lifelines {theirs}"),
    }
}

/// Compares Tessera's log-log curves for `group` of `data` with lifelines'; returns the number
/// of (step, lifelines row) pairs compared and of undefined limits met.
fn check(data: &str, group: &str) -> (usize, usize) {
    let rows = read(data);
    let time: Vec<f64> = rows.iter().map(|r| num(r, "time")).collect();
    let event: Vec<bool> = rows.iter().map(|r| r["event"] == "1").collect();
    let mut labels: Vec<&str> = rows.iter().map(|r| r[group].as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let g: Vec<u32> = rows.iter().map(|r| labels.iter().position(|l| *l == r[group]).unwrap() as u32).collect();
    let curves = kaplan_meier_by_group(&time, &event, &g, ConfType::LogLog, 0.95).unwrap();

    let reference = read(&format!("km_{}_{group}_lifelines.csv", data.trim_end_matches(".csv")));
    let (mut compared, mut undefined) = (0, 0);
    for (gi, label) in labels.iter().enumerate() {
        let mut theirs: Vec<_> = reference.iter().filter(|r| r["group"] == *label).collect();
        let steps = &curves[gi].steps;
        // lifelines' extra first row: time 0, everyone at risk, S = 1 (our data have no time 0).
        assert!(steps[0].time > 0.0, "{data} {label}: a real observation at time 0 would be a step of ours");
        let zero = theirs.remove(0);
        assert_eq!((num(zero, "time"), num(zero, "surv")), (0.0, 1.0), "{data} {label}: lifelines' time-0 row");
        assert_eq!(num(zero, "n_risk") as u64, curves[gi].n, "{data} {label}: at risk at time 0");
        assert_eq!(num(zero, "n_event") + num(zero, "n_censor"), 0.0, "{data} {label}: nobody removed at time 0");
        // Then one lifelines row per Tessera step: every distinct time, events and censorings.
        assert_eq!(steps.len(), theirs.len(), "{data} {label}: number of times");
        for (s, r) in steps.iter().zip(theirs) {
            let at = format!("{data} {group}={label} t={}", s.time);
            assert_eq!(s.time, num(r, "time"), "{at}: time");
            assert_eq!(
                (s.n_risk, s.n_event, s.n_censor),
                (num(r, "n_risk") as u64, num(r, "n_event") as u64, num(r, "n_censor") as u64),
                "{at}: at risk, events, censored"
            );
            close(s.surv, num(r, "surv"), &format!("{at} surv"));
            limit(s.lower, num(r, "lower"), s.surv, &format!("{at} lower"));
            limit(s.upper, num(r, "upper"), s.surv, &format!("{at} upper"));
            undefined += usize::from(s.lower.is_none()) + usize::from(s.upper.is_none());
            compared += 1;
        }
    }
    (compared, undefined)
}

#[test]
fn kaplan_meier_log_log_matches_lifelines_on_lung_by_sex() {
    let (compared, undefined) = check("lung.csv", "sex");
    // 206 distinct (sex, time) pairs; both curves end above 0, so every limit is defined.
    assert_eq!((compared, undefined), (206, 0));
}

#[test]
fn kaplan_meier_log_log_matches_lifelines_on_veteran_by_cell_type_down_to_zero() {
    let (compared, undefined) = check("veteran.csv", "celltype");
    // Every cell type's curve ends with its last subject's death (S = 0): lifelines' 0.0 there.
    assert!(compared > 100, "{compared} rows compared");
    assert!(undefined >= 8, "{undefined} undefined limits met");
}
