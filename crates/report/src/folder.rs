//! `tessera report`: the report written to a folder — one SVG chart and its CSV per analysis,
//! the outlier table as CSV, the whole report as JSON, and a summary `index.html` linking them.

use std::path::{Path, PathBuf};

use askama::Template;

use crate::json::position_text;
use crate::published::{Count, HIDDEN_NOTE, cpr_counts, lone};
use crate::{Audience, RegistryReport, Result};

/// One row of a summary table.
struct SummaryRow {
    label: String,
    primaries: String,
    revisions: String,
    cells: Vec<String>,
}

/// One chart in the summary.
struct ChartLink {
    title: String,
    svg: String,
    csv: String,
    rows: Vec<SummaryRow>,
    log_rank: Option<String>,
}

struct SiteSummary {
    site: String,
    primaries: String,
    revisions: String,
    charts: Vec<ChartLink>,
    incidence: Vec<String>,
}

struct OutlierLine {
    component: String,
    group: String,
    primaries: String,
    revisions: String,
    rate: String,
    njr: &'static str,
    aoanjrr: &'static str,
}

#[derive(Template)]
#[template(path = "report.html")]
struct Summary<'a> {
    registry: &'a str,
    cutoff: String,
    audience: &'static str,
    years: Vec<String>,
    sites: Vec<SiteSummary>,
    outliers: Vec<OutlierLine>,
    funnel_outliers: Vec<String>,
    cusum_signals: Vec<(String, String)>,
    hidden_note: &'static str,
}

fn fmt1(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite()).map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

fn fmt2(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}") } else { "–".into() }
}

/// Writes the report for `audience` into `dir` (created if missing) and returns the files written.
pub fn write_folder(report: &RegistryReport, dir: &Path, audience: Audience) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    let mut write = |name: &str, content: &str| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, content)?;
        written.push(path);
        Ok(())
    };
    let t = report.settings.threshold;
    let mut sites = Vec::new();
    for site in &report.sites {
        let mut charts = Vec::new();
        for section in &site.sections {
            let chart = report.km_chart(section, audience);
            write(&format!("{}.svg", section.id), &tessera_charts::km_chart(&chart))?;
            write(&format!("{}.csv", section.id), &tessera_charts::km_csv(&chart))?;
            write(&format!("{}-at-risk.csv", section.id), &tessera_charts::km_at_risk_csv(&chart))?;
            let counts = cpr_counts(&section.table, audience, t);
            let rows = section
                .table
                .groups
                .iter()
                .enumerate()
                .map(|(i, g)| SummaryRow {
                    label: g.label.clone(),
                    primaries: counts.groups[i].0.text(),
                    revisions: counts.groups[i].1.text(),
                    cells: g
                        .at
                        .iter()
                        .zip(&counts.at_risk[i])
                        .map(|(a, n)| match a.cpr {
                            None => "–".into(),
                            Some(c) => format!(
                                "{} ({}–{}), {} at risk",
                                fmt1(Some(c)),
                                fmt1(a.log_log.0),
                                fmt1(a.log_log.1),
                                n.text()
                            ),
                        })
                        .collect(),
                })
                .collect();
            charts.push(ChartLink {
                title: section.table.title.clone(),
                svg: format!("{}.svg", section.id),
                csv: format!("{}.csv", section.id),
                rows,
                log_rank: section
                    .table
                    .log_rank
                    .as_ref()
                    .map(|l| format!("Log-rank χ² = {:.2} on {} df, p = {:.3e}", l.chisq, l.df, l.p_value())),
            });
        }
        let incidence = site
            .incidence
            .as_ref()
            .map(|ci| {
                report
                    .settings
                    .times
                    .iter()
                    .map(|&y| {
                        let step = ci.at(y);
                        let pct = |c: usize| step.and_then(|s| s.cause(c)).map_or(0.0, |e| e.value * 100.0);
                        format!("{y} years: revision {:.2}%, death {:.2}%", pct(1), pct(2))
                    })
                    .collect()
            })
            .unwrap_or_default();
        sites.push(SiteSummary {
            site: crate::build::capitalise(&site.site),
            primaries: lone(site.primaries, audience, t).text(),
            revisions: lone(site.revisions, audience, t).text(),
            charts,
            incidence,
        });
    }

    let funnel = report.funnel_chart(audience);
    write("funnel.svg", &tessera_charts::funnel_chart(&funnel))?;
    write("funnel.csv", &tessera_charts::funnel_csv(&funnel))?;

    let mut outlier_csv = csv::Writer::from_writer(Vec::new());
    let mut outliers = Vec::new();
    outlier_csv
        .write_record([
            "component",
            "group",
            "primaries",
            "revisions",
            "rate_per_100_years",
            "lower",
            "upper",
            "njr_level1",
            "aoanjrr_first_stage",
        ])
        .map_err(std::io::Error::other)?;
    for o in &report.outliers {
        let revisions = lone(o.rate.events, audience, t);
        let shown = matches!(revisions, Count::Shown(_));
        let rate = if shown {
            [fmt2(o.rate.per_100_years), fmt2(o.rate.lower), fmt2(o.rate.upper)]
        } else {
            Default::default()
        };
        let yes = |b: bool| if b { "outlier" } else { "no" };
        outlier_csv
            .write_record([
                csv_safe(&o.name).as_str(),
                csv_safe(&o.group).as_str(),
                &lone(o.primaries, audience, t).text(),
                &revisions.text(),
                &rate[0],
                &rate[1],
                &rate[2],
                yes(o.njr_level1),
                yes(o.aoanjrr),
            ])
            .map_err(std::io::Error::other)?;
        outliers.push(OutlierLine {
            component: o.name.clone(),
            group: o.group.clone(),
            primaries: lone(o.primaries, audience, t).text(),
            revisions: revisions.text(),
            rate: if shown { format!("{} ({}–{})", rate[0], rate[1], rate[2]) } else { "–".into() },
            njr: yes(o.njr_level1),
            aoanjrr: yes(o.aoanjrr),
        });
    }
    let outlier_csv = String::from_utf8(outlier_csv.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?)
        .map_err(std::io::Error::other)?;
    write("implant-outliers.csv", &outlier_csv)?;

    let mut cusum_signals = Vec::new();
    for c in report.cusums.iter().filter(|c| !c.cusum.signals.is_empty()) {
        let (ods, name) = report.organisation(c.organisation);
        if let Some(chart) = report.cusum_chart(ods) {
            let file = format!("cusum-{}.svg", crate::build::slug(ods));
            write(&file, &tessera_charts::cusum_chart(&chart))?;
            write(&format!("cusum-{}.csv", crate::build::slug(ods)), &tessera_charts::cusum_csv(&chart))?;
            cusum_signals.push((format!("{name} ({ods}): {} signal(s)", c.cusum.signals.len()), file));
        }
    }
    let funnel_outliers = report
        .funnel
        .iter()
        .filter(|u| !matches!(lone(u.observed, audience, t), Count::Small))
        .filter(|u| {
            matches!(
                u.position,
                Some(
                    tessera_domain::funnel::FunnelPosition::Above998 | tessera_domain::funnel::FunnelPosition::Below998
                )
            )
        })
        .map(|u| {
            let (ods, name) = report.organisation(u.organisation);
            format!("{name} ({ods}): O/E {:.2}, {}", u.ratio(), position_text(u.position))
        })
        .collect();

    let json = serde_json::to_string_pretty(&report.to_json(audience)).map_err(std::io::Error::other)?;
    write("report.json", &json)?;
    let summary = Summary {
        registry: &report.registry,
        cutoff: report.cutoff.to_string(),
        audience: match audience {
            Audience::Analyst => "analyst (unsuppressed)",
            Audience::Published => "published (small counts suppressed)",
        },
        years: report.settings.times.iter().map(|y| format!("{y} years")).collect(),
        sites,
        outliers,
        funnel_outliers,
        cusum_signals,
        hidden_note: HIDDEN_NOTE,
    };
    write("index.html", &summary.render().map_err(std::io::Error::other)?)?;
    Ok(written)
}

/// A CSV cell that a spreadsheet would not run as a formula.
fn csv_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@']) { format!("'{s}") } else { s.to_owned() }
}
