//! The report as text for tables: what the summary page of `tessera report` and the outcome
//! pages of the web server show, disclosure control applied. Both render this one view.

use crate::build::SiteReport;
use crate::build::{CprSection, capitalise, slug};
use crate::json::position_text;
use crate::published::{Count, HIDDEN_NOTE, cpr_counts, funnel_counts, lone, outlier_counts};
use crate::{Audience, RegistryReport};

/// One group of a cumulative-revision table.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    /// The group.
    pub label: String,
    /// Primaries.
    pub primaries: String,
    /// Revised.
    pub revisions: String,
    /// Revisions per 100 component-years with limits, or "–" where hidden.
    pub rate: String,
    /// At each report year: "CPR (lower–upper)" and the number at risk.
    pub cells: Vec<(String, String)>,
}

/// One cumulative-revision table.
#[derive(Debug, Clone, PartialEq)]
pub struct SectionView {
    /// Its id (for links and file names).
    pub id: String,
    /// Its title.
    pub title: String,
    /// The log-rank test in words.
    pub log_rank: Option<String>,
    /// Its rows.
    pub rows: Vec<GroupRow>,
}

/// One site.
#[derive(Debug, Clone, PartialEq)]
pub struct SiteView {
    /// The site, capitalised.
    pub site: String,
    /// Primaries.
    pub primaries: String,
    /// Revised.
    pub revisions: String,
    /// Its tables.
    pub sections: Vec<SectionView>,
    /// Competing-risk incidence at the report years, in words.
    pub incidence: Vec<String>,
    /// The Cox model's hazard ratios, in words.
    pub cox: Vec<String>,
}

/// One component of the outlier table.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierView {
    /// The component.
    pub component: String,
    /// Its group.
    pub group: String,
    /// Primaries.
    pub primaries: String,
    /// Revised.
    pub revisions: String,
    /// Rate per 100 component-years with limits.
    pub rate: String,
    /// Twice the NJR group rate.
    pub njr_threshold: String,
    /// NJR Level 1 verdict.
    pub njr: bool,
    /// AOANJRR one-sided p-value.
    pub p_value: String,
    /// AOANJRR first-stage verdict.
    pub aoanjrr: bool,
}

/// One organisation of the funnel table.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelRow {
    /// ODS code.
    pub ods: String,
    /// Name.
    pub name: String,
    /// Primaries.
    pub primaries: String,
    /// Observed revisions.
    pub observed: String,
    /// Expected revisions.
    pub expected: String,
    /// Observed ÷ expected.
    pub ratio: String,
    /// Position against the limits, in words.
    pub position: &'static str,
    /// Outside the 99.8% limits.
    pub outlier: bool,
}

/// The whole report as text.
#[derive(Debug, Clone, PartialEq)]
pub struct View {
    /// Registry id.
    pub registry: String,
    /// Data cut-off.
    pub cutoff: String,
    /// Who it is for, in words.
    pub audience: &'static str,
    /// Column headings of the report years.
    pub years: Vec<String>,
    /// Per site.
    pub sites: Vec<SiteView>,
    /// Outlier table.
    pub outliers: Vec<OutlierView>,
    /// Funnel table (organisations plotted).
    pub funnel: Vec<FunnelRow>,
    /// Organisations left off the published funnel (1 to 4 revisions).
    pub funnel_not_plotted: usize,
    /// CUSUM signals: (organisation in words, ODS code, number of signals).
    pub cusum_signals: Vec<(String, String, usize)>,
    /// Organisations monitored by CUSUM.
    pub cusum_monitored: usize,
    /// Whether CUSUM charts are part of this view (analyst only).
    pub cusum_charts: bool,
    /// The CUSUM threshold.
    pub cusum_h: f64,
    /// The footnote for "*".
    pub hidden_note: &'static str,
}

fn fmt1(x: Option<f64>) -> String {
    x.filter(|v| v.is_finite()).map_or_else(|| "–".into(), |v| format!("{v:.1}"))
}

fn fmt2(x: f64) -> String {
    if x.is_finite() { format!("{x:.2}") } else { "–".into() }
}

impl RegistryReport {
    /// A site's revisions as published: hidden with the funnel's total if that is hidden, since
    /// the sites' revisions add up to it.
    pub(crate) fn site_revisions(&self, site: &SiteReport, audience: Audience, funnel_total: Count) -> Count {
        match (lone(site.revisions, audience, self.settings.threshold), funnel_total) {
            (Count::Shown(_), Count::Hidden) if audience == Audience::Published => Count::Hidden,
            (c, _) => c,
        }
    }

    /// Whether a site's incidence and Cox model may be shown: not when its revisions or deaths
    /// are a small count, which the percentages or the model's event count would give away.
    pub(crate) fn site_details_shown(&self, site: &SiteReport, audience: Audience) -> bool {
        let t = self.settings.threshold;
        audience == Audience::Analyst
            || (matches!(lone(site.revisions, audience, t), Count::Shown(_))
                && matches!(lone(site.deaths, audience, t), Count::Shown(_)))
    }

    /// A cumulative-revision table as text.
    pub fn section_view(&self, section: &CprSection, audience: Audience) -> SectionView {
        let counts = cpr_counts(&section.table, audience, self.settings.threshold);
        let rows = section
            .table
            .groups
            .iter()
            .enumerate()
            .map(|(i, g)| GroupRow {
                label: g.label.clone(),
                primaries: counts.groups[i].0.text(),
                revisions: counts.groups[i].1.text(),
                rate: match (&g.rate, counts.shows_rate(i)) {
                    (Some(r), true) => format!("{} ({}–{})", fmt2(r.per_100_years), fmt2(r.lower), fmt2(r.upper)),
                    _ => "–".into(),
                },
                cells: g
                    .at
                    .iter()
                    .zip(&counts.at_risk[i])
                    .map(|(a, n)| match a.cpr {
                        // A group with hidden counts shows no percentages: they would give them away.
                        _ if !counts.shows_rate(i) => ("–".into(), n.text()),
                        None => ("–".into(), n.text()),
                        Some(c) => {
                            (format!("{} ({}–{})", fmt1(Some(c)), fmt1(a.log_log.0), fmt1(a.log_log.1)), n.text())
                        }
                    })
                    .collect(),
            })
            .collect();
        SectionView {
            id: section.id.clone(),
            title: section.table.title.clone(),
            log_rank: section.table.log_rank.as_ref().map(|l| {
                format!(
                    "Log-rank test across the groups: χ² = {:.2} on {} degrees of freedom, p = {:.2e}",
                    l.chisq,
                    l.df,
                    l.p_value()
                )
            }),
            rows,
        }
    }

    /// The whole report as text for `audience`.
    pub fn view(&self, audience: Audience) -> View {
        let t = self.settings.threshold;
        let (funnel_counts, funnel_total) = funnel_counts(&self.funnel, audience, t);
        let sites = self
            .sites
            .iter()
            .map(|site| SiteView {
                site: capitalise(&site.site),
                primaries: lone(site.primaries, audience, t).text(),
                revisions: self.site_revisions(site, audience, funnel_total).text(),
                sections: site.sections.iter().map(|s| self.section_view(s, audience)).collect(),
                incidence: site
                    .incidence
                    .as_ref()
                    .filter(|_| self.site_details_shown(site, audience))
                    .map(|ci| {
                        self.settings
                            .times
                            .iter()
                            .map(|&y| {
                                let step = ci.at(y);
                                let pct = |c: usize| step.and_then(|s| s.cause(c)).map_or(0.0, |e| e.value * 100.0);
                                format!("{}: revised {:.2}%, died unrevised {:.2}%", years_text(y), pct(1), pct(2))
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
                cox: site
                    .cox
                    .as_ref()
                    .filter(|_| self.site_details_shown(site, audience))
                    .map(|(names, f)| {
                        names
                            .iter()
                            .enumerate()
                            .map(|(i, n)| {
                                format!(
                                    "{n}: hazard ratio {:.3} ({:.3}–{:.3}), p = {:.2e}",
                                    f.hazard_ratio[i], f.hr_lower[i], f.hr_upper[i], f.p[i]
                                )
                            })
                            .collect()
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let outlier_counts = outlier_counts(&self.outliers, audience, t);
        let outliers = self
            .outliers
            .iter()
            .zip(&outlier_counts)
            .map(|(o, (primaries, revisions))| {
                let shown = matches!((primaries, revisions), (Count::Shown(_), Count::Shown(_)));
                OutlierView {
                    component: o.name.clone(),
                    group: o.group.clone(),
                    primaries: primaries.text(),
                    revisions: revisions.text(),
                    rate: if shown {
                        format!("{} ({}–{})", fmt2(o.rate.per_100_years), fmt2(o.rate.lower), fmt2(o.rate.upper))
                    } else {
                        "–".into()
                    },
                    njr_threshold: fmt2(2.0 * o.njr_group_rate),
                    njr: o.njr_level1,
                    p_value: match (shown, o.p_value) {
                        (true, Some(p)) => format!("{p:.2e}"),
                        _ => "–".into(),
                    },
                    aoanjrr: o.aoanjrr,
                }
            })
            .collect();
        let mut funnel = Vec::new();
        let mut funnel_not_plotted = 0;
        for (u, (primaries, observed)) in self.funnel.iter().zip(&funnel_counts) {
            if !matches!(observed, Count::Shown(_)) {
                funnel_not_plotted += 1;
                continue;
            }
            let (ods, name) = self.organisation(u.organisation);
            funnel.push(FunnelRow {
                ods: ods.to_owned(),
                name: name.to_owned(),
                primaries: primaries.text(),
                observed: observed.text(),
                expected: fmt2(u.expected),
                ratio: fmt2(u.ratio()),
                position: position_text(u.position),
                outlier: matches!(
                    u.position,
                    Some(
                        tessera_domain::funnel::FunnelPosition::Above998
                            | tessera_domain::funnel::FunnelPosition::Below998
                    )
                ),
            });
        }
        let cusum_signals = self
            .cusums
            .iter()
            .filter(|c| !c.cusum.signals.is_empty())
            .map(|c| {
                let (ods, name) = self.organisation(c.organisation);
                (format!("{name} ({ods})"), ods.to_owned(), c.cusum.signals.len())
            })
            .collect();
        View {
            registry: self.registry.clone(),
            cutoff: self.cutoff.to_string(),
            audience: match audience {
                Audience::Analyst => "analyst (every count shown)",
                Audience::Published => "published (counts under 5 suppressed)",
            },
            years: self.settings.times.iter().map(|y| years_text(*y)).collect(),
            sites,
            outliers,
            funnel,
            funnel_not_plotted,
            cusum_signals,
            cusum_monitored: self.cusums.len(),
            cusum_charts: audience == Audience::Analyst,
            cusum_h: self.settings.cusum_h,
            hidden_note: HIDDEN_NOTE,
        }
    }
}

/// The file-name stem of an organisation's CUSUM files.
pub fn cusum_stem(ods: &str) -> String {
    format!("cusum-{}", slug(ods))
}

/// "1 year", "5 years".
fn years_text(y: f64) -> String {
    if y == 1.0 { "1 year".into() } else { format!("{y} years") }
}
