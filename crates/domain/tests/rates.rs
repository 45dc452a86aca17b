//! Revision rates, their exact Poisson limits, the χ² quantiles and Poisson tails behind them, and
//! the implant outlier rules, against R (4.2): `qchisq`, `ppois`, `poisson.test` and an
//! independent R implementation of the NJR and AOANJRR rules, written by
//! `survival_reference/make_competing_reference.R`. Every number must agree to 1e-9 relative.

mod common;

use common::read;
use tessera_domain::outliers::{ComponentExposure, assess};
use tessera_domain::rates::{chi_squared_quantile, poisson_upper_tail, revision_rate};

const TOL: f64 = 1e-9;

fn num(v: &str) -> Option<f64> {
    match v {
        "NA" => None,
        "Inf" => Some(f64::INFINITY),
        _ => Some(v.parse().unwrap()),
    }
}

fn rel(a: f64, b: f64) -> f64 {
    if a == b { 0.0 } else { (a - b).abs() / b.abs().max(1e-300) }
}

fn close(ours: Option<f64>, theirs: Option<f64>, what: &str) {
    match (ours, theirs) {
        (None, None) => {}
        (Some(a), Some(b)) => {
            assert!(rel(a, b) < TOL, "{what}: ours {a:.17e}, R {b:.17e} (relative {:.2e})", rel(a, b))
        }
        _ => panic!("{what}: ours {ours:?}, R {theirs:?}"),
    }
}

#[test]
fn chi_squared_quantiles_match_r_qchisq() {
    let rows = read("qchisq.csv");
    let mut worst = 0.0f64;
    for r in &rows {
        let (p, df) = (num(&r["p"]).unwrap(), num(&r["df"]).unwrap());
        let theirs = num(&r["quantile"]).unwrap();
        let ours = chi_squared_quantile(p, df).unwrap();
        worst = worst.max(rel(ours, theirs));
        close(Some(ours), Some(theirs), &format!("qchisq({p}, {df})"));
    }
    assert!(rows.len() > 100);
    eprintln!("qchisq: {} values, worst relative difference {worst:.2e}", rows.len());
}

#[test]
fn poisson_upper_tails_match_r_ppois() {
    let rows = read("ppois.csv");
    let mut worst = 0.0f64;
    for r in &rows {
        let (d, mu) = (num(&r["d"]).unwrap() as u64, num(&r["mu"]).unwrap());
        let theirs = num(&r["upper_tail"]).unwrap();
        let ours = poisson_upper_tail(d, mu).unwrap();
        worst = worst.max(rel(ours, theirs));
        close(Some(ours), Some(theirs), &format!("P(X >= {d}), X ~ Poisson({mu})"));
    }
    assert!(rows.len() > 70);
    eprintln!("ppois: {} values, worst relative difference {worst:.2e}", rows.len());
}

#[test]
fn revision_rates_and_exact_limits_match_r() {
    for r in read("ptir.csv") {
        let (d, years, level) = (num(&r["d"]).unwrap() as u64, num(&r["years"]).unwrap(), num(&r["level"]).unwrap());
        let rate = revision_rate(d, years, level).unwrap();
        let at = format!("d={d} years={years} level={level}");
        close(Some(rate.per_100_years), num(&r["rate"]), &format!("{at} rate"));
        close(Some(rate.lower), num(&r["lower"]), &format!("{at} lower"));
        close(Some(rate.upper), num(&r["upper"]), &format!("{at} upper"));
        assert!(rate.lower <= rate.per_100_years && rate.per_100_years <= rate.upper, "{at}");
    }
}

#[test]
fn outlier_rules_match_an_independent_r_implementation() {
    let components: Vec<ComponentExposure> = read("outliers_input.csv")
        .into_iter()
        .map(|r| ComponentExposure {
            name: r["name"].clone(),
            group: r["group"].clone(),
            primaries: num(&r["primaries"]).unwrap() as u64,
            revisions: num(&r["revisions"]).unwrap() as u64,
            years: num(&r["years"]).unwrap(),
        })
        .collect();
    let ours = assess(&components, 0.95).unwrap();
    let reference = read("outliers_reference.csv");
    assert_eq!(ours.len(), reference.len());
    let (mut njr, mut aoa) = (0, 0);
    for (o, r) in ours.iter().zip(&reference) {
        assert_eq!(o.name, r["name"]);
        let at = &o.name;
        close(Some(o.rate.per_100_years), num(&r["rate"]), &format!("{at} rate"));
        close(Some(o.rate.lower), num(&r["lower"]), &format!("{at} lower"));
        close(Some(o.rate.upper), num(&r["upper"]), &format!("{at} upper"));
        close(Some(o.njr_group_rate), num(&r["njr_group_rate"]), &format!("{at} NJR group rate"));
        close(o.aoanjrr_group_rate, num(&r["aoanjrr_group_rate"]), &format!("{at} AOANJRR group rate"));
        close(o.expected, num(&r["expected"]), &format!("{at} expected"));
        close(o.p_value, num(&r["p_value"]), &format!("{at} p"));
        assert_eq!(o.njr_level1, r["njr_level1"] == "TRUE", "{at} NJR: {}", o.reason);
        assert_eq!(o.aoanjrr_excluded, r["aoanjrr_excluded"] == "TRUE", "{at} left out");
        assert_eq!(o.aoanjrr, r["aoanjrr"] == "TRUE", "{at} AOANJRR: {}", o.reason);
        njr += usize::from(o.njr_level1);
        aoa += usize::from(o.aoanjrr);
    }
    // The table exercises both verdicts of both rules, and a disagreement between them.
    assert!(njr > 0 && njr < ours.len() && aoa > 0 && aoa < ours.len());
    assert!(ours.iter().any(|o| o.njr_level1 != o.aoanjrr));
}
