//! `tessera report`: the report written to a folder — one SVG chart and its CSV per analysis,
//! the outlier table as CSV, the whole report as JSON, and a summary `index.html` linking them.

use std::path::{Path, PathBuf};

use askama::Template;

use crate::view::{View, cusum_stem};
use crate::{Audience, RegistryReport, Result};

#[derive(Template)]
#[template(path = "report.html")]
struct Summary<'a> {
    v: &'a View,
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
    for site in &report.sites {
        for section in &site.sections {
            let chart = report.km_chart(section, audience);
            write(&format!("{}.svg", section.id), &tessera_charts::km_chart(&chart))?;
            write(&format!("{}.csv", section.id), &tessera_charts::km_csv(&chart))?;
            write(&format!("{}-at-risk.csv", section.id), &tessera_charts::km_at_risk_csv(&chart))?;
        }
    }
    let funnel = report.funnel_chart(audience);
    write("funnel.svg", &tessera_charts::funnel_chart(&funnel))?;
    write("funnel.csv", &tessera_charts::funnel_csv(&funnel))?;
    let view = report.view(audience);
    write("implant-outliers.csv", &outliers_csv(&view)?)?;
    for (_, ods, _) in &view.cusum_signals {
        if let Some(chart) = report.cusum_chart(ods, audience) {
            write(&format!("{}.svg", cusum_stem(ods)), &tessera_charts::cusum_chart(&chart))?;
            write(&format!("{}.csv", cusum_stem(ods)), &tessera_charts::cusum_csv(&chart))?;
        }
    }
    let json = serde_json::to_string_pretty(&report.to_json(audience)).map_err(std::io::Error::other)?;
    write("report.json", &json)?;
    write("index.html", &Summary { v: &view }.render().map_err(std::io::Error::other)?)?;
    Ok(written)
}

/// The outlier table as CSV.
pub fn outliers_csv(view: &View) -> Result<String> {
    let mut w = csv::Writer::from_writer(Vec::new());
    let io = |e: csv::Error| std::io::Error::other(e.to_string());
    w.write_record([
        "component",
        "group",
        "primaries",
        "revisions",
        "rate_per_100_component_years",
        "njr_twice_group_rate",
        "njr_level1",
        "aoanjrr_p_value",
        "aoanjrr_first_stage",
    ])
    .map_err(io)?;
    let yes = |b: bool| if b { "outlier" } else { "no" };
    for o in &view.outliers {
        w.write_record([
            tessera_charts::csv_text(&o.component).as_str(),
            tessera_charts::csv_text(&o.group).as_str(),
            &o.primaries,
            &o.revisions,
            &o.rate,
            &o.njr_threshold,
            yes(o.njr),
            &o.p_value,
            yes(o.aoanjrr),
        ])
        .map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| std::io::Error::other(e.to_string()))?;
    Ok(String::from_utf8(bytes).map_err(std::io::Error::other)?)
}
