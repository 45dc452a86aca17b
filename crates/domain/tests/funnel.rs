//! Funnel-plot limits and the risk-adjusted CUSUM against base R (4.2): the reference files
//! `survival_reference/funnel_limits.csv`, `cusum_input.csv` and `cusum.csv` were written by
//! `make_funnel_reference.R` there, which computes Spiegelhalter's interpolated Poisson limits
//! with R's `qpois`/`ppois` and the CUSUM with a plain loop. Limits must agree to 1e-9 relative,
//! CUSUM values to 1e-12, signals exactly.

use std::path::Path;

use tessera_domain::cusum::bernoulli_cusum;
use tessera_domain::funnel::{FunnelPosition, classify, limits, poisson_limit};

fn read(name: &str) -> Vec<csv::StringRecord> {
    let path = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/survival_reference")).join(name);
    csv::Reader::from_path(path).unwrap().records().map(Result::unwrap).collect()
}

fn num(v: &str) -> f64 {
    v.parse().unwrap()
}

#[test]
fn poisson_limits_match_r_over_a_wide_range_of_expected_counts() {
    let rows = read("funnel_limits.csv");
    assert_eq!(rows.len(), 64);
    let mut zeros = 0;
    for row in rows {
        let (e, p, theirs) = (num(&row[0]), num(&row[1]), num(&row[2]));
        let ours = poisson_limit(e, p).unwrap();
        if theirs == 0.0 {
            zeros += 1;
            assert_eq!(ours, 0.0, "E = {e}, p = {p}");
        } else {
            let rel = (ours - theirs).abs() / theirs;
            assert!(rel < 1e-9, "E = {e}, p = {p}: ours {ours:.17e}, R {theirs:.17e} (relative {rel:.1e})");
        }
    }
    // The lower limits at small E are where y_p = 0; make sure the file exercises that case.
    assert!(zeros >= 4, "{zeros}");
}

#[test]
fn in_control_units_fall_outside_the_limits_about_as_often_as_the_nominal_probability() {
    // P(O/E > upper 95%) for O ~ Poisson(E). Interpolation puts the limit between y_p − 1 and
    // y_p, so a count of y_p is already above it: the chance is a little over the nominal 2.5%
    // (3.4% at E = 20, 2.8% at 100, 2.7% at 1000, by R's ppois) and tends to it as E grows.
    for e in [20.0, 100.0, 1000.0] {
        let l = limits(e).unwrap();
        // Sum the Poisson(E) probabilities from 0 to far into the upper tail, in log space.
        let (mut above, mut total, mut pmf, mut log_pmf, mut k) = (0.0, 0.0, 1.0, -e, 0u64);
        while (k as f64) < e + 20.0 * e.sqrt() + 20.0 {
            pmf = log_pmf.exp();
            total += pmf;
            if l.position(k) >= FunnelPosition::Above95 {
                above += pmf;
            }
            k += 1;
            log_pmf += e.ln() - (k as f64).ln();
        }
        assert!((total - 1.0).abs() < 1e-9 && pmf < 1e-12);
        assert!(above > 0.025 && above < 0.035, "E = {e}: {above}");
    }
}

#[test]
fn a_unit_at_three_times_the_expected_rate_is_an_outlier_and_one_at_the_rate_is_not() {
    assert_eq!(classify(60, 20.0).unwrap(), FunnelPosition::Above998);
    assert_eq!(classify(20, 20.0).unwrap(), FunnelPosition::Within);
    assert_eq!(classify(2, 20.0).unwrap(), FunnelPosition::Below998);
}

#[test]
fn the_cusum_matches_a_plain_r_loop() {
    let input: Vec<(bool, f64)> = read("cusum_input.csv").iter().map(|r| (&r[0] == "1", num(&r[1]))).collect();
    assert_eq!(input.len(), 400);
    let rows = read("cusum.csv");
    let mut charts = 0;
    let mut signals_seen = 0;
    for chart in rows.chunks(input.len()) {
        let (odds_ratio, h, reset) = (num(&chart[0][0]), num(&chart[0][1]), &chart[0][2] == "1");
        let ours = bernoulli_cusum(&input, odds_ratio, h, reset).unwrap();
        let theirs_signals: Vec<usize> = chart.iter().filter(|r| &r[5] == "1").map(|r| r[3].parse().unwrap()).collect();
        assert_eq!(ours.signals, theirs_signals, "R = {odds_ratio}, h = {h}, reset = {reset}");
        signals_seen += theirs_signals.len();
        for (t, row) in chart.iter().enumerate() {
            assert_eq!(row[3].parse::<usize>().unwrap(), t);
            let (a, b) = (ours.values[t], num(&row[4]));
            assert!((a - b).abs() <= 1e-12 * b.abs().max(1.0), "t = {t}: ours {a:.17e}, R {b:.17e}");
        }
        charts += 1;
    }
    assert_eq!(charts, 5);
    assert!(signals_seen >= 5, "the reference should contain signals: {signals_seen}");
}
