//! The survival engine against R's `survival` package (3.5, Debian's r-cran-survival): the
//! reference files in `survival_reference/` were written by `make_reference.R` there, from the
//! `lung` and `veteran` datasets shipped with R. Every number must agree to 1e-9 relative.

mod common;

use std::collections::BTreeMap;

use common::read;
use tessera_domain::survival::{ConfType, kaplan_meier_by_group, log_rank};

const TOL: f64 = 1e-9;

fn num(v: &str) -> Option<f64> {
    match v {
        "NA" => None,
        "Inf" => Some(f64::INFINITY),
        _ => Some(v.parse().unwrap()),
    }
}

fn close(ours: Option<f64>, theirs: Option<f64>, what: &str) {
    match (ours, theirs) {
        (None, None) => {}
        (Some(a), Some(b)) if a.is_infinite() && b.is_infinite() => {}
        (Some(a), Some(b)) => {
            let rel = (a - b).abs() / b.abs().max(1e-300);
            assert!(a == b || rel < TOL, "{what}: ours {a:.17e}, R {b:.17e} (relative {rel:.2e})");
        }
        _ => panic!("{what}: ours {ours:?}, R {theirs:?}"),
    }
}

/// A dataset: times, events, and a grouping column turned into indices by sorted label.
struct Data {
    time: Vec<f64>,
    event: Vec<bool>,
    columns: BTreeMap<String, Vec<String>>,
}

impl Data {
    fn load(name: &str) -> Self {
        let rows = read(name);
        let mut columns: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for row in &rows {
            for (k, v) in row {
                columns.entry(k.clone()).or_default().push(v.clone());
            }
        }
        Data {
            time: columns["time"].iter().map(|v| v.parse().unwrap()).collect(),
            event: columns["event"].iter().map(|v| v == "1").collect(),
            columns,
        }
    }

    /// (indices, labels by index) of a column.
    fn groups(&self, col: &str) -> (Vec<u32>, Vec<String>) {
        let values = &self.columns[col];
        let mut labels: Vec<String> = values.clone();
        labels.sort();
        labels.dedup();
        (values.iter().map(|v| labels.iter().position(|l| l == v).unwrap() as u32).collect(), labels)
    }

    fn subset(&self, keep: impl Fn(usize) -> bool) -> Data {
        let rows: Vec<usize> = (0..self.time.len()).filter(|&i| keep(i)).collect();
        Data {
            time: rows.iter().map(|&i| self.time[i]).collect(),
            event: rows.iter().map(|&i| self.event[i]).collect(),
            columns: self
                .columns
                .iter()
                .map(|(k, v)| (k.clone(), rows.iter().map(|&i| v[i].clone()).collect()))
                .collect(),
        }
    }
}

fn check_km(data: &str, group: &str, conf: ConfType, conf_name: &str) {
    let d = Data::load(data);
    let (g, labels) = d.groups(group);
    let curves = kaplan_meier_by_group(&d.time, &d.event, &g, conf, 0.95).unwrap();
    let reference = read(&format!("km_{}_{group}_{conf_name}.csv", data.trim_end_matches(".csv")));
    let mut compared = 0;
    for (gi, label) in labels.iter().enumerate() {
        let rows: Vec<_> = reference.iter().filter(|r| &r["group"] == label).collect();
        let steps = &curves[gi].steps;
        assert_eq!(steps.len(), rows.len(), "{data} {label}: number of times");
        for (s, r) in steps.iter().zip(rows) {
            let at = format!("{data} {group}={label} {conf_name} t={}", s.time);
            close(Some(s.time), num(&r["time"]), &at);
            assert_eq!(s.n_risk as f64, num(&r["n_risk"]).unwrap(), "{at} n.risk");
            assert_eq!(s.n_event as f64, num(&r["n_event"]).unwrap(), "{at} n.event");
            assert_eq!(s.n_censor as f64, num(&r["n_censor"]).unwrap(), "{at} n.censor");
            close(Some(s.surv), num(&r["surv"]), &format!("{at} surv"));
            close(Some(s.std_err), num(&r["std_err"]), &format!("{at} std.err"));
            close(s.lower, num(&r["lower"]), &format!("{at} lower"));
            close(s.upper, num(&r["upper"]), &format!("{at} upper"));
            compared += 1;
        }
    }
    assert!(compared > 100, "{compared} rows compared");
}

#[test]
fn kaplan_meier_matches_r_on_lung_by_sex() {
    check_km("lung.csv", "sex", ConfType::Log, "log");
    check_km("lung.csv", "sex", ConfType::LogLog, "log-log");
    check_km("lung.csv", "sex", ConfType::Plain, "plain");
}

#[test]
fn kaplan_meier_matches_r_on_veteran_by_cell_type() {
    check_km("veteran.csv", "celltype", ConfType::Log, "log");
    check_km("veteran.csv", "celltype", ConfType::LogLog, "log-log");
    check_km("veteran.csv", "celltype", ConfType::Plain, "plain");
}

#[test]
fn medians_and_their_limits_match_r() {
    for (data, group) in [("lung.csv", "sex"), ("veteran.csv", "celltype")] {
        let d = Data::load(data);
        let (g, labels) = d.groups(group);
        let curves = kaplan_meier_by_group(&d.time, &d.event, &g, ConfType::Log, 0.95).unwrap();
        for r in read(&format!("median_{}_{group}.csv", data.trim_end_matches(".csv"))) {
            let gi = labels.iter().position(|l| *l == r["group"]).unwrap();
            let (m, lo, hi) = curves[gi].median();
            close(m, num(&r["median"]), &format!("{data} {} median", r["group"]));
            close(lo, num(&r["lower"]), &format!("{data} {} median lower", r["group"]));
            close(hi, num(&r["upper"]), &format!("{data} {} median upper", r["group"]));
        }
    }
}

fn check_log_rank(data: &Data, group: &str, strata: Option<&str>, reference: &str) {
    let (g, labels) = data.groups(group);
    let s = strata.map(|c| data.groups(c).0);
    let lr = log_rank(&data.time, &data.event, &g, s.as_deref()).unwrap();
    let rows = read(reference);
    for r in &rows {
        let gi = labels.iter().position(|l| *l == r["group"]).unwrap();
        close(Some(lr.observed[gi]), num(&r["observed"]), &format!("{reference} observed {}", r["group"]));
        close(Some(lr.expected[gi]), num(&r["expected"]), &format!("{reference} expected {}", r["group"]));
    }
    close(Some(lr.chisq), num(&rows[0]["chisq"]), &format!("{reference} chi-square"));
    assert_eq!(lr.df as f64, num(&rows[0]["df"]).unwrap());
}

#[test]
fn log_rank_matches_r_for_two_and_four_groups() {
    check_log_rank(&Data::load("lung.csv"), "sex", None, "logrank_lung_sex.csv");
    check_log_rank(&Data::load("veteran.csv"), "celltype", None, "logrank_veteran_celltype.csv");
}

#[test]
fn stratified_log_rank_matches_r() {
    let lung = Data::load("lung.csv");
    let known_ecog = lung.subset(|i| lung.columns["ecog"][i] != "-1");
    check_log_rank(&known_ecog, "sex", Some("ecog"), "logrank_lung_sex_strata_ecog.csv");
    check_log_rank(&Data::load("veteran.csv"), "trt", Some("celltype"), "logrank_veteran_trt_strata_celltype.csv");
}
