//! The report's charts: the domain's results turned into `tessera-charts` inputs.

use tessera_charts::{AtRiskCell, CusumChart, FunnelChart, FunnelPoint, KmChart, KmGroup, KmPoint, LimitCurve};
use tessera_domain::funnel::{FunnelPosition, limits};

use crate::build::CprSection;
use crate::published::{Count, cpr_counts, funnel_counts};
use crate::{Audience, RegistryReport};

/// The most curves one chart shows (its palette's size); the largest groups are kept.
pub const MAX_CURVES: usize = 8;

/// Curves stop where fewer than this many primaries remain at risk: estimates from a handful
/// of survivors swing wildly (joint registries truncate their curves the same way).
pub const MIN_AT_RISK_DRAWN: u64 = 10;

fn cpr(s: f64) -> f64 {
    100.0 * (1.0 - s)
}

impl RegistryReport {
    /// The Kaplan–Meier chart of a cumulative-revision section (log(−log) limits).
    pub fn km_chart(&self, section: &CprSection, audience: Audience) -> KmChart {
        let table = &section.table;
        let counts = cpr_counts(table, audience, self.settings.threshold);
        // A group whose counts are hidden is not drawn: its curve and limits would give them away.
        let drawn: Vec<usize> = (0..table.groups.len()).filter(|&i| counts.shows_rate(i)).collect();
        let groups: Vec<KmGroup> = drawn
            .iter()
            .take(MAX_CURVES)
            .map(|&i| {
                let g = &table.groups[i];
                let start = match counts.groups[i].0 {
                    Count::Shown(n) => AtRiskCell::Count(n),
                    _ => AtRiskCell::Suppressed,
                };
                let mut at_risk = vec![start];
                at_risk.extend(counts.at_risk[i].iter().map(|c| match c {
                    Count::Shown(n) => AtRiskCell::Count(*n),
                    _ => AtRiskCell::Suppressed,
                }));
                KmGroup {
                    label: g.label.clone(),
                    // Only steps with events change the curve or its limits.
                    steps: g
                        .curve
                        .steps
                        .iter()
                        .filter(|s| s.n_event > 0 && s.n_risk >= MIN_AT_RISK_DRAWN)
                        .map(|s| KmPoint {
                            time: s.time,
                            value: cpr(s.surv),
                            lower: s.upper.map(cpr),
                            upper: s.lower.map(cpr),
                        })
                        .collect(),
                    at_risk,
                }
            })
            .collect();
        let shown = if drawn.len() < table.groups.len() || drawn.len() > MAX_CURVES {
            format!(" ({} of {} groups drawn)", drawn.len().min(MAX_CURVES), table.groups.len())
        } else {
            String::new()
        };
        let mut at_risk_times = vec![0.0];
        at_risk_times.extend(&self.settings.times);
        KmChart {
            title: format!("{}{shown}", table.title),
            x_label: "Years since primary operation".into(),
            y_label: "Cumulative percent revised (%)".into(),
            groups,
            at_risk_times,
        }
    }

    /// The funnel plot of observed ÷ expected revisions per organisation.
    pub fn funnel_chart(&self, audience: Audience) -> FunnelChart {
        let (counts, _) = funnel_counts(&self.funnel, audience, self.settings.threshold);
        let units: Vec<_> = self
            .funnel
            .iter()
            .zip(&counts)
            .filter(|(u, (_, observed))| u.expected > 0.0 && matches!(observed, Count::Shown(_)))
            .map(|(u, _)| u)
            .collect();
        let points = units
            .iter()
            .map(|u| {
                let outlier = matches!(u.position, Some(FunnelPosition::Above998 | FunnelPosition::Below998));
                let (ods, name) = self.organisation(u.organisation);
                FunnelPoint {
                    label: if outlier { format!("{name} ({ods})") } else { ods.to_owned() },
                    expected: u.expected,
                    ratio: u.ratio(),
                    outlier,
                }
            })
            .collect();
        let max = units.iter().map(|u| u.expected).fold(1.0f64, f64::max) * 1.05;
        let grid: Vec<f64> = (0..=120).map(|i| 0.5 + (max - 0.5) * f64::from(i) / 120.0).collect();
        let curve =
            |label: &str, dashed: bool, pick: fn(&tessera_domain::funnel::FunnelLimits) -> (f64, f64)| LimitCurve {
                label: label.into(),
                dashed,
                points: grid.iter().filter_map(|&e| limits(e).ok().map(|l| (e, pick(&l).0, pick(&l).1))).collect(),
            };
        FunnelChart {
            title: format!("{}: revisions by organisation, observed ÷ expected", self.registry.to_uppercase()),
            x_label: "Expected revisions (national rates by site, age band and sex)".into(),
            y_label: "Observed ÷ expected".into(),
            points,
            limits: vec![
                curve("95%", true, |l| (l.lower_95, l.upper_95)),
                curve("99.8%", false, |l| (l.lower_998, l.upper_998)),
            ],
        }
    }

    /// The CUSUM chart of one organisation, by its ODS code: analyst-only, since each step of
    /// the path is one patient's outcome (`None` for the published audience).
    pub fn cusum_chart(&self, ods: &str, audience: Audience) -> Option<CusumChart> {
        if audience != Audience::Analyst {
            return None;
        }
        let c = self.cusum_of(ods)?;
        let (_, name) = self.organisation(c.organisation);
        Some(CusumChart {
            title: format!("{name} ({ods}): risk-adjusted CUSUM of revision within a year"),
            x_label: "Primary operations in date order".into(),
            y_label: "CUSUM (odds ratio 2)".into(),
            values: c.cusum.values.clone(),
            threshold: self.settings.cusum_h,
            signals: c.cusum.signals.clone(),
        })
    }
}
