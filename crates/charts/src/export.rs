//! The CSV downloads behind each chart, written with the csv crate so labels are quoted properly.
//!
//! Cells that hold labels (which may come from user data) are neutralised against formula
//! injection: a cell starting with `=`, `+`, `-`, `@`, tab or carriage return gets a leading
//! apostrophe, so a spreadsheet shows it as text instead of evaluating it. Numeric cells are
//! written by this crate from `f64`s and are left alone, so negative numbers stay numbers.
//! Non-finite numbers and missing limits are written as empty cells.

use crate::cusum::{CusumChart, valid_signals};
use crate::funnel::FunnelChart;
use crate::km::KmChart;

/// The curves of `chart`: `group,time,value,lower,upper`, one row per step with a finite time.
pub fn km_csv(chart: &KmChart) -> String {
    let rows = chart.groups.iter().flat_map(|g| {
        g.steps
            .iter()
            .filter(|p| p.time.is_finite())
            .map(move |p| vec![text(&g.label), number(p.time), number(p.value), optional(p.lower), optional(p.upper)])
    });
    write(&["group", "time", "value", "lower", "upper"], rows)
}

/// The numbers-at-risk table of `chart`: `group,time,at_risk`, with suppressed counts as `<5`.
pub fn km_at_risk_csv(chart: &KmChart) -> String {
    let rows = chart.groups.iter().flat_map(|g| {
        chart
            .at_risk_times
            .iter()
            .zip(&g.at_risk)
            .filter(|(t, _)| t.is_finite())
            .map(move |(&t, cell)| vec![text(&g.label), number(t), cell.text()])
    });
    write(&["group", "time", "at_risk"], rows)
}

/// The units of `chart`: `label,expected,ratio,outlier` (outlier as `true`/`false`).
pub fn funnel_csv(chart: &FunnelChart) -> String {
    let rows =
        chart.points.iter().map(|p| vec![text(&p.label), number(p.expected), number(p.ratio), p.outlier.to_string()]);
    write(&["label", "expected", "ratio", "outlier"], rows)
}

/// The series of `chart`: `observation,w,threshold,signal`, observations numbered from 1.
pub fn cusum_csv(chart: &CusumChart) -> String {
    let signals = valid_signals(chart);
    let rows = chart.values.iter().enumerate().map(|(i, &w)| {
        vec![(i + 1).to_string(), number(w), number(chart.threshold), signals.binary_search(&i).is_ok().to_string()]
    });
    write(&["observation", "w", "threshold", "signal"], rows)
}

fn write(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail: the only errors a csv::Writer reports come from its
    // underlying io::Write, and Vec<u8> never returns one.
    writer.write_record(header).expect("writing CSV to memory cannot fail");
    for row in rows {
        writer.write_record(&row).expect("writing CSV to memory cannot fail");
    }
    let bytes = writer.into_inner().expect("flushing CSV to memory cannot fail");
    // Every cell came from a String or a number, so the bytes are UTF-8.
    String::from_utf8(bytes).expect("CSV of UTF-8 cells is UTF-8")
}

/// A label cell, neutralised against formula injection: a cell a spreadsheet would run as a
/// formula gets a leading apostrophe. For every CSV of labels that may come from user data.
pub fn text(label: &str) -> String {
    if label.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{label}") } else { label.to_owned() }
}

/// A number in Rust's shortest round-trip form, or an empty cell when it is not finite.
fn number(x: f64) -> String {
    if x.is_finite() { x.to_string() } else { String::new() }
}

fn optional(x: Option<f64>) -> String {
    x.map_or(String::new(), number)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formula_like_labels_get_an_apostrophe() {
        for bad in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx"] {
            assert_eq!(text(bad), format!("'{bad}"));
        }
        assert_eq!(text("Leeds"), "Leeds");
        assert_eq!(text(""), "");
    }

    #[test]
    fn non_finite_numbers_are_empty_cells() {
        assert_eq!(number(f64::NAN), "");
        assert_eq!(number(f64::NEG_INFINITY), "");
        assert_eq!(number(-0.25), "-0.25");
        assert_eq!(optional(None), "");
    }
}
