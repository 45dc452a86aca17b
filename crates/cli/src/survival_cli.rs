//! `tessera survival`: Kaplan–Meier, the log-rank test and (with covariates) a Cox model on any
//! CSV, printed as JSON, so a statistician can check Tessera against their own tools. Rows with a
//! missing value (empty or `NA`) in a column used are left out, as R's default `na.omit` does,
//! and counted.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
use tessera_domain::cox::{Ties, cox};
use tessera_domain::survival::{ConfType, kaplan_meier_by_group, log_rank};

/// What to analyse.
pub struct SurvivalArgs<'a> {
    /// The CSV file.
    pub file: &'a Path,
    /// Time column.
    pub time: &'a str,
    /// Event column (1/0, true/false, yes/no).
    pub event: &'a str,
    /// Grouping column.
    pub group: Option<&'a str>,
    /// Stratifying column for the log-rank test and the Cox model.
    pub strata: Option<&'a str>,
    /// Confidence-limit scale.
    pub conf: ConfType,
    /// Confidence level.
    pub level: f64,
    /// Numeric columns for a Cox model; none, no model.
    pub covariates: &'a [String],
    /// Tie handling of the Cox model.
    pub ties: Ties,
}

fn missing(v: &str) -> bool {
    let v = v.trim();
    v.is_empty() || v.eq_ignore_ascii_case("na")
}

fn parse_event(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" => Some(true),
        "0" | "false" | "no" => Some(false),
        _ => None,
    }
}

/// Runs the analyses and returns the JSON document.
pub fn run(args: &SurvivalArgs<'_>) -> anyhow::Result<Value> {
    let mut reader = csv::Reader::from_path(args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let headers = reader.headers()?.clone();
    let col = |name: &str| {
        headers
            .iter()
            .position(|h| h == name)
            .with_context(|| format!("{}: no column named {name:?}", args.file.display()))
    };
    let (tc, ec) = (col(args.time)?, col(args.event)?);
    let gc = args.group.map(col).transpose()?;
    let sc = args.strata.map(col).transpose()?;
    let xc: Vec<usize> = args.covariates.iter().map(|c| col(c)).collect::<anyhow::Result<_>>()?;
    let (mut time, mut event, mut group_labels, mut strata_labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut x: Vec<Vec<f64>> = vec![Vec::new(); xc.len()];
    let mut dropped = 0usize;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("line {line}"))?;
        let cell = |c: usize| record.get(c).unwrap_or("");
        if [Some(tc), Some(ec), gc, sc].into_iter().flatten().chain(xc.iter().copied()).any(|c| missing(cell(c))) {
            dropped += 1;
            continue;
        }
        let t: f64 = match cell(tc).trim().parse() {
            Ok(t) if f64::is_finite(t) && t >= 0.0 => t,
            _ => bail!("line {line}: {}: {:?} is not a time of 0 or more", args.time, cell(tc)),
        };
        let Some(e) = parse_event(cell(ec)) else {
            bail!("line {line}: {}: {:?} is not an event indicator (1/0, true/false, yes/no)", args.event, cell(ec))
        };
        for ((&c, name), values) in xc.iter().zip(args.covariates).zip(&mut x) {
            match cell(c).trim().parse::<f64>() {
                Ok(v) if v.is_finite() => values.push(v),
                _ => bail!("line {line}: {name}: {:?} is not a number", cell(c)),
            }
        }
        time.push(t);
        event.push(e);
        group_labels.push(gc.map_or_else(|| "all".to_owned(), |c| cell(c).trim().to_owned()));
        strata_labels.push(sc.map(|c| cell(c).trim().to_owned()));
    }
    if time.is_empty() {
        bail!("{}: no complete rows to analyse", args.file.display());
    }
    let index = |labels: &[String]| {
        let mut sorted: Vec<String> = labels.to_vec();
        sorted.sort();
        sorted.dedup();
        let map: BTreeMap<&str, u32> = sorted.iter().enumerate().map(|(i, l)| (l.as_str(), i as u32)).collect();
        let idx: Vec<u32> = labels.iter().map(|l| map[l.as_str()]).collect();
        (idx, sorted)
    };
    let (groups, names) = index(&group_labels);
    let curves = kaplan_meier_by_group(&time, &event, &groups, args.conf, args.level)?;
    let per_group: Vec<Value> = curves
        .iter()
        .zip(&names)
        .map(|(km, name)| {
            let (median, lo, hi) = km.median();
            let col =
                |f: &dyn Fn(&tessera_domain::survival::KmStep) -> Value| km.steps.iter().map(f).collect::<Vec<_>>();
            json!({
                "group": name, "n": km.n, "events": km.events,
                "median": median, "median_lower": lo, "median_upper": hi,
                "time": col(&|s| json!(s.time)), "n.risk": col(&|s| json!(s.n_risk)),
                "n.event": col(&|s| json!(s.n_event)), "n.censor": col(&|s| json!(s.n_censor)),
                "survival": col(&|s| json!(s.surv)),
                "std.err": col(&|s| if s.std_err.is_finite() { json!(s.std_err) } else { Value::Null }),
                "lower": col(&|s| json!(s.lower)), "upper": col(&|s| json!(s.upper)),
            })
        })
        .collect();
    let strata = args.strata.map(|_| {
        let labels: Vec<String> = strata_labels.iter().map(|s| s.clone().unwrap_or_default()).collect();
        index(&labels).0
    });
    let logrank = if names.len() > 1 {
        let lr = log_rank(&time, &event, &groups, strata.as_deref())?;
        json!({
            "chisq": lr.chisq, "df": lr.df, "p": lr.p_value(),
            "observed": lr.observed, "expected": lr.expected, "stratified_by": args.strata,
        })
    } else {
        Value::Null
    };
    let conf = match args.conf {
        ConfType::Plain => "plain",
        ConfType::Log => "log",
        ConfType::LogLog => "log-log",
    };
    let cox = if x.is_empty() {
        Value::Null
    } else {
        let fit = cox(&time, &event, &x, strata.as_deref(), args.ties, args.level)?;
        let coefficients: Vec<Value> = (0..x.len())
            .map(|k| {
                json!({
                    "covariate": args.covariates[k], "coef": fit.coef[k], "se": fit.se[k],
                    "hazard_ratio": fit.hazard_ratio[k], "lower": fit.hr_lower[k], "upper": fit.hr_upper[k],
                    "z": fit.z[k], "p": fit.p[k],
                })
            })
            .collect();
        let test = |statistic: f64, p: f64| json!({ "statistic": statistic, "df": fit.df, "p": p });
        json!({
            "ties": match args.ties { Ties::Efron => "efron", Ties::Breslow => "breslow" },
            "stratified_by": args.strata, "n": fit.n, "events": fit.events, "iterations": fit.iterations,
            "coefficients": coefficients,
            "loglik": { "null": fit.loglik_null, "fitted": fit.loglik },
            "tests": {
                "lr": test(fit.lr_test, fit.lr_p()),
                "wald": test(fit.wald_test, fit.wald_p()),
                "score": test(fit.score_test, fit.score_p()),
            },
            "variance": fit.variance,
        })
    };
    let mut out = json!({
        "rows": time.len(), "rows_dropped_missing": dropped, "conf_type": conf, "conf_level": args.level,
        "kaplan_meier": per_group, "log_rank": logrank,
    });
    // Without covariates the document is exactly what it was before Cox models existed.
    if !cox.is_null() {
        out["cox"] = cox;
    }
    Ok(out)
}
