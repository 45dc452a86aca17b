//! The Aalen–Johansen cumulative incidence against R's `survival` package (3.5, Debian's
//! r-cran-survival): `survfit(Surv(time, factor(status, 0:k)) ~ 1)`, whose `pstate`, `std.err`
//! (infinitesimal jackknife), `lower` and `upper` were written by
//! `survival_reference/make_competing_reference.R` for `mgus2` (progression vs death) and a small
//! made-up set with three causes and heavy ties. Every number must agree to 1e-9 relative.

mod common;

use std::collections::BTreeMap;

use common::read;
use tessera_domain::competing::{StateEstimate, aalen_johansen};
use tessera_domain::survival::ConfType;

const TOL: f64 = 1e-9;

fn num(v: &str) -> Option<f64> {
    match v {
        "NA" => None,
        _ => Some(v.parse().unwrap()),
    }
}

fn close(ours: Option<f64>, theirs: Option<f64>, what: &str) {
    match (ours, theirs) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            let rel = (a - b).abs() / b.abs().max(1e-300);
            // Values R computes as a difference of nearly equal numbers (e.g. 1 − 1 + 1e-17) are
            // compared absolutely.
            assert!(
                a == b || rel < TOL || (a - b).abs() < 1e-15,
                "{what}: ours {a:.17e}, R {b:.17e} (relative {rel:.2e})"
            );
        }
        _ => panic!("{what}: ours {ours:?}, R {theirs:?}"),
    }
}

fn check_state(ours: &StateEstimate, row: &BTreeMap<String, String>, state: usize, at: &str) {
    close(Some(ours.value), num(&row[&format!("p_{state}")]), &format!("{at} p_{state}"));
    close(Some(ours.std_err), num(&row[&format!("se_{state}")]), &format!("{at} se_{state}"));
    close(ours.lower, num(&row[&format!("lower_{state}")]), &format!("{at} lower_{state}"));
    close(ours.upper, num(&row[&format!("upper_{state}")]), &format!("{at} upper_{state}"));
}

/// Compares our estimate on `data` with R's in `aj_{name}_{conf}.csv`; returns the rows compared.
fn check(data: &str, name: &str, causes: usize) -> usize {
    let rows = read(data);
    let time: Vec<f64> = rows.iter().map(|r| r["time"].parse().unwrap()).collect();
    let status: Vec<u8> = rows.iter().map(|r| r["status"].parse::<f64>().unwrap() as u8).collect();
    let mut compared = 0;
    for (conf, conf_name) in [(ConfType::Log, "log"), (ConfType::LogLog, "log-log"), (ConfType::Plain, "plain")] {
        let fit = aalen_johansen(&time, &status, conf, 0.95).unwrap();
        assert_eq!(fit.causes, causes);
        assert_eq!(fit.n, time.len() as u64);
        let reference = read(&format!("aj_{name}_{conf_name}.csv"));
        assert_eq!(fit.steps.len(), reference.len(), "{name}: number of times");
        for (s, r) in fit.steps.iter().zip(&reference) {
            let at = format!("{name} {conf_name} t={}", s.time);
            close(Some(s.time), num(&r["time"]), &at);
            assert_eq!(s.n_risk as f64, num(&r["n_risk"]).unwrap(), "{at} n.risk");
            assert_eq!(s.n_censor as f64, num(&r["n_censor"]).unwrap(), "{at} n.censor");
            for j in 1..=causes {
                assert_eq!(s.n_event[j - 1] as f64, num(&r[&format!("n_event_{j}")]).unwrap(), "{at} n.event {j}");
                check_state(s.cause(j).unwrap(), r, j, &at);
            }
            check_state(&s.surv, r, 0, &at);
            // The states partition the probability: S + Σ CIF = 1.
            let total = s.surv.value + s.cif.iter().map(|c| c.value).sum::<f64>();
            assert!((total - 1.0).abs() < 1e-12, "{at}: S + ΣCIF = {total:.17}");
            compared += 1;
        }
        // S(t−) is the previous step's S(t).
        for w in fit.steps.windows(2) {
            assert_eq!(w[1].surv_before, w[0].surv.value);
        }
        assert_eq!(fit.steps[0].surv_before, 1.0);
    }
    compared
}

#[test]
fn cumulative_incidence_of_progression_and_death_matches_r_on_mgus2() {
    let compared = check("competing_mgus2.csv", "mgus2", 2);
    assert!(compared > 700, "{compared} rows compared");
}

#[test]
fn three_causes_with_ties_and_survival_reaching_zero_match_r() {
    let compared = check("competing_small.csv", "small", 3);
    assert!(compared > 40, "{compared} rows compared");
    let rows = read("competing_small.csv");
    let time: Vec<f64> = rows.iter().map(|r| r["time"].parse().unwrap()).collect();
    let status: Vec<u8> = rows.iter().map(|r| r["status"].parse::<f64>().unwrap() as u8).collect();
    let fit = aalen_johansen(&time, &status, ConfType::Log, 0.95).unwrap();
    let last = fit.steps.last().unwrap();
    assert_eq!(last.surv.value, 0.0);
    assert_eq!(fit.events.iter().sum::<u64>(), status.iter().filter(|&&s| s > 0).count() as u64);
}
