//! The report as JSON, for the API and the report folder, with disclosure control applied for
//! the published audience.

use serde_json::{Value, json};
use tessera_domain::analysis::CprTable;
use tessera_domain::funnel::FunnelPosition;

use crate::published::{Count, HIDDEN_NOTE, cpr_counts, funnel_counts, lone, outlier_counts};
use crate::{Audience, RegistryReport};

fn count(c: Count) -> Value {
    match c {
        Count::Shown(n) => json!(n),
        other => json!(other.text()),
    }
}

/// A finite number, or null (JSON has no infinity or NaN).
fn num(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn opt(x: Option<f64>) -> Value {
    x.map_or(Value::Null, num)
}

/// The words for a funnel position.
pub(crate) fn position_text(p: Option<FunnelPosition>) -> &'static str {
    match p {
        None => "not assessed (nothing expected)",
        Some(FunnelPosition::Below998) => "below the 99.8% limit",
        Some(FunnelPosition::Below95) => "below the 95% limit",
        Some(FunnelPosition::Within) => "within the limits",
        Some(FunnelPosition::Above95) => "above the 95% limit",
        Some(FunnelPosition::Above998) => "above the 99.8% limit",
    }
}

pub(crate) fn cpr_json(table: &CprTable, audience: Audience, threshold: u64) -> Value {
    let counts = cpr_counts(table, audience, threshold);
    let groups: Vec<Value> = table
        .groups
        .iter()
        .enumerate()
        .map(|(i, g)| {
            let shows = counts.shows_rate(i);
            json!({
                "label": g.label,
                "primaries": count(counts.groups[i].0),
                "revisions": count(counts.groups[i].1),
                "revisions_per_100_component_years": match (&g.rate, shows) {
                    (Some(r), true) => json!({"rate": num(r.per_100_years), "lower": num(r.lower), "upper": num(r.upper)}),
                    _ => Value::Null,
                },
                // A group with hidden counts shows no percentages: they would give them away.
                "cumulative_percent_revision": g.at.iter().zip(&counts.at_risk[i]).map(|(a, n)| if shows { json!({
                    "years": a.time,
                    "at_risk": count(*n),
                    "estimate": opt(a.cpr),
                    "log_log": {"lower": opt(a.log_log.0), "upper": opt(a.log_log.1)},
                    "log": {"lower": opt(a.log.0), "upper": opt(a.log.1)},
                }) } else { json!({"years": a.time, "at_risk": count(*n), "estimate": null}) }).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "title": table.title,
        "groups": groups,
        "total": {"primaries": count(counts.total.0), "revisions": count(counts.total.1)},
        "log_rank": table.log_rank.as_ref().map(|l| json!({"chisq": num(l.chisq), "df": l.df, "p": num(l.p_value())})),
    })
}

impl RegistryReport {
    /// The whole report as JSON for `audience`.
    pub fn to_json(&self, audience: Audience) -> Value {
        let t = self.settings.threshold;
        let (funnel_counts, funnel_total) = funnel_counts(&self.funnel, audience, t);
        let sites: Vec<Value> = self
            .sites
            .iter()
            .map(|s| {
                let details = self.site_details_shown(s, audience);
                json!({
                    "site": s.site,
                    "primaries": count(lone(s.primaries, audience, t)),
                    "revisions": count(self.site_revisions(s, audience, funnel_total)),
                    "deaths": count(lone(s.deaths, audience, t)),
                    "sections": s.sections.iter().map(|c| {
                        let mut v = cpr_json(&c.table, audience, t);
                        v["id"] = json!(c.id);
                        v
                    }).collect::<Vec<_>>(),
                    "cumulative_incidence": s.incidence.as_ref().filter(|_| details).map(|ci| self.settings.times.iter().map(|&y| {
                        let step = ci.at(y);
                        let est = |cause: usize| step.and_then(|s| s.cause(cause)).map_or(json!({"estimate": 0.0}), |e| json!({
                            "estimate": num(e.value * 100.0),
                            "lower": opt(e.lower.map(|x| x * 100.0)),
                            "upper": opt(e.upper.map(|x| x * 100.0)),
                        }));
                        json!({"years": y, "revision_percent": est(1), "death_percent": est(2)})
                    }).collect::<Vec<_>>()),
                    "cox": s.cox.as_ref().filter(|_| details).map(|(names, f)| json!({
                        "ties": "efron",
                        "covariates": names.iter().enumerate().map(|(i, n)| json!({
                            "name": n, "coef": num(f.coef[i]), "se": num(f.se[i]),
                            "hazard_ratio": num(f.hazard_ratio[i]), "lower": num(f.hr_lower[i]),
                            "upper": num(f.hr_upper[i]), "p": num(f.p[i]),
                        })).collect::<Vec<_>>(),
                        "likelihood_ratio": {"statistic": num(f.lr_test), "df": f.df, "p": num(f.lr_p())},
                        "wald": {"statistic": num(f.wald_test), "df": f.df, "p": num(f.wald_p())},
                        "score": {"statistic": num(f.score_test), "df": f.df, "p": num(f.score_p())},
                        "n": count(lone(f.n as u64, audience, t)), "events": count(lone(f.events as u64, audience, t)),
                    })),
                })
            })
            .collect();
        let outlier_counts = outlier_counts(&self.outliers, audience, t);
        let outliers: Vec<Value> = self
            .outliers
            .iter()
            .zip(&outlier_counts)
            .map(|(o, (primaries, revisions))| {
                let (primaries, revisions) = (*primaries, *revisions);
                let shown = matches!((primaries, revisions), (Count::Shown(_), Count::Shown(_)));
                json!({
                    "component": o.name,
                    "group": o.group,
                    "primaries": count(primaries),
                    "revisions": count(revisions),
                    "revisions_per_100_component_years": if shown { json!({"rate": num(o.rate.per_100_years), "lower": num(o.rate.lower), "upper": num(o.rate.upper)}) } else { Value::Null },
                    "njr_level1": {"group_rate": num(o.njr_group_rate), "outlier": o.njr_level1},
                    "aoanjrr_first_stage": {
                        "excluded_from_group_rate": o.aoanjrr_excluded,
                        "group_rate": opt(o.aoanjrr_group_rate),
                        "expected": if shown { opt(o.expected) } else { Value::Null },
                        "p_value": if shown { opt(o.p_value) } else { Value::Null },
                        "outlier": o.aoanjrr,
                    },
                    "reason": if shown { json!(o.reason) } else { Value::Null },
                })
            })
            .collect();
        let (plotted, not_plotted): (Vec<_>, Vec<_>) =
            self.funnel.iter().zip(&funnel_counts).partition(|(_, (_, observed))| matches!(observed, Count::Shown(_)));
        let funnel: Vec<Value> = plotted
            .iter()
            .map(|(u, (primaries, observed))| {
                let (ods, name) = self.organisation(u.organisation);
                json!({
                    "ods_code": ods, "name": name,
                    "primaries": count(*primaries),
                    "observed": count(*observed), "expected": num(u.expected), "ratio": num(u.ratio()),
                    "position": position_text(u.position),
                })
            })
            .collect();
        let signalled: Vec<Value> = self
            .cusums
            .iter()
            .filter(|c| !c.cusum.signals.is_empty())
            .map(|c| {
                let (ods, name) = self.organisation(c.organisation);
                json!({"ods_code": ods, "name": name, "signals": c.cusum.signals.len(), "monitored": c.monitored})
            })
            .collect();
        json!({
            "registry": self.registry,
            "cutoff": self.cutoff.to_string(),
            "audience": match audience { Audience::Analyst => "analyst", Audience::Published => "published" },
            "confidence_level": self.settings.level,
            "notes": [
                "<5: a count from 1 to 4.",
                HIDDEN_NOTE,
                "Time runs from the primary operation to its first revision; death and the data cut-off censor it.",
            ],
            "sites": sites,
            "implant_outliers": outliers,
            "funnel": {
                "expected_from": "national revision rates by site, age band and sex",
                "units": funnel,
                "not_plotted_revisions_hidden": not_plotted.len(),
            },
            "cusum": {
                "outcome": "revision within one year of the primary",
                "odds_ratio": 2.0,
                "h": self.settings.cusum_h,
                "organisations_monitored": self.cusums.len(),
                "signalled": signalled,
            },
            "unreadable_records": self.unreadable.iter().map(|(reason, n)| json!({"reason": reason, "records": n})).collect::<Vec<_>>(),
        })
    }
}
