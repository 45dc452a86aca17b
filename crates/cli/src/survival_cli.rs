//! `tessera survival`: Kaplan–Meier and the log-rank test on any CSV, printed as JSON, so a
//! statistician can check Tessera against their own tools. Rows with a missing value (empty or
//! `NA`) in a column used are left out, as R's default `na.omit` does, and counted.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context as _, bail};
use serde_json::{Value, json};
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
    /// Stratifying column for the log-rank test.
    pub strata: Option<&'a str>,
    /// Confidence-limit scale.
    pub conf: ConfType,
    /// Confidence level.
    pub level: f64,
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
    let (mut time, mut event, mut group_labels, mut strata_labels) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut dropped = 0usize;
    for (i, record) in reader.records().enumerate() {
        let line = i + 2;
        let record = record.with_context(|| format!("line {line}"))?;
        let cell = |c: usize| record.get(c).unwrap_or("");
        if [Some(tc), Some(ec), gc, sc].into_iter().flatten().any(|c| missing(cell(c))) {
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
    let logrank = if names.len() > 1 {
        let strata = args.strata.map(|_| {
            let labels: Vec<String> = strata_labels.iter().map(|s| s.clone().unwrap_or_default()).collect();
            index(&labels).0
        });
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
    Ok(json!({
        "rows": time.len(), "rows_dropped_missing": dropped, "conf_type": conf, "conf_level": args.level,
        "kaplan_meier": per_group, "log_rank": logrank,
    }))
}
