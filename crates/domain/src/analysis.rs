//! Registry analyses on linked [`Primary`] outcomes (DOMAIN.md §5): cumulative percent revision
//! by brand, brand combination or attribute at fixed years with confidence limits and numbers at
//! risk; revision rates per 100 component-years; implant outliers by the NJR Level 1 and AOANJRR
//! first-stage rules; hospital funnel plots of observed ÷ expected revisions with the expected
//! count from national rates by site, age band and sex; risk-adjusted Bernoulli CUSUMs; and
//! cumulative incidence of revision with death as a competing risk.
//!
//! Everything here is the analyst's full-precision view. What leaves the analyst role goes
//! through [`crate::disclosure`] first (see [`Published`]).

use std::collections::{BTreeMap, HashMap};

use crate::numeric::StableSum;
use crate::outcomes::{AgeBand, Primary};
use crate::rates::{Rate, revision_rate};
use crate::survival::{ConfType, KaplanMeier, LogRank, SurvivalError, kaplan_meier_by_group, log_rank};
use crate::{Sex, competing, cusum, funnel, outliers};

/// The years at which cumulative percent revision is reported.
pub const REPORT_YEARS: [f64; 5] = [1.0, 3.0, 5.0, 10.0, 15.0];

/// Cumulative percent revision of one group at one time.
#[derive(Debug, Clone, PartialEq)]
pub struct CprPoint {
    /// Years since the primary.
    pub time: f64,
    /// Primaries still at risk at that time (followed up at least that long, unrevised).
    pub at_risk: u64,
    /// 100·(1 − S(t)), or `None` beyond the group's follow-up.
    pub cpr: Option<f64>,
    /// Lower and upper limits on the log(−log) scale (registries' usual choice).
    pub log_log: (Option<f64>, Option<f64>),
    /// Lower and upper limits on the log scale (R's default).
    pub log: (Option<f64>, Option<f64>),
}

/// One group of a cumulative-revision table.
#[derive(Debug, Clone, PartialEq)]
pub struct CprGroup {
    /// The group's label (a brand, a combination, an attribute value).
    pub label: String,
    /// Primaries in the group.
    pub primaries: u64,
    /// Of which revised.
    pub revisions: u64,
    /// Component-years at risk.
    pub years: f64,
    /// Revisions per 100 component-years with exact limits (`None` with no follow-up).
    pub rate: Option<Rate>,
    /// The Kaplan–Meier curve with log(−log) limits.
    pub curve: KaplanMeier,
    /// The values at [`REPORT_YEARS`].
    pub at: Vec<CprPoint>,
}

/// Cumulative percent revision by group, with the log-rank test across the groups.
#[derive(Debug, Clone, PartialEq)]
pub struct CprTable {
    /// What is grouped (e.g. "Hip: acetabular cup brand").
    pub title: String,
    /// The groups, largest first.
    pub groups: Vec<CprGroup>,
    /// The log-rank test across the groups (`None` with fewer than two).
    pub log_rank: Option<LogRank>,
}

fn cpr_of(s: f64) -> f64 {
    100.0 * (1.0 - s)
}

/// Cumulative percent revision for the primaries given with their group labels.
pub fn cumulative_revision(
    title: &str,
    items: &[(String, &Primary)],
    times: &[f64],
    level: f64,
) -> Result<CprTable, SurvivalError> {
    let mut labels: Vec<&str> = items.iter().map(|(l, _)| l.as_str()).collect();
    labels.sort_unstable();
    labels.dedup();
    let index: HashMap<&str, u32> = labels.iter().enumerate().map(|(i, l)| (*l, i as u32)).collect();
    let time: Vec<f64> = items.iter().map(|(_, p)| p.years).collect();
    let event: Vec<bool> = items.iter().map(|(_, p)| p.revised).collect();
    let group: Vec<u32> = items.iter().map(|(l, _)| index[l.as_str()]).collect();
    if items.is_empty() {
        return Ok(CprTable { title: title.into(), groups: vec![], log_rank: None });
    }
    let curves = kaplan_meier_by_group(&time, &event, &group, ConfType::LogLog, level)?;
    let curves_log = kaplan_meier_by_group(&time, &event, &group, ConfType::Log, level)?;
    let mut years_by_group: Vec<Vec<f64>> = vec![Vec::new(); labels.len()];
    for (t, g) in time.iter().zip(&group) {
        years_by_group[*g as usize].push(*t);
    }
    let mut groups = Vec::with_capacity(labels.len());
    for (g, ((curve, curve_log), mut years)) in curves.into_iter().zip(curves_log).zip(years_by_group).enumerate() {
        years.sort_by(f64::total_cmp);
        let total_years: f64 = crate::numeric::stable_sum(years.iter().copied());
        let last = years.last().copied().unwrap_or(0.0);
        let at = times
            .iter()
            .map(|&t| {
                let at_risk = (years.len() - years.partition_point(|y| *y < t)) as u64;
                let step = curve.at(t);
                let step_log = curve_log.at(t);
                let within = t <= last;
                let s = if within { Some(step.map_or(1.0, |s| s.surv)) } else { None };
                let lim = |l: Option<f64>| if within { l.map(cpr_of) } else { None };
                CprPoint {
                    time: t,
                    at_risk,
                    cpr: s.map(cpr_of),
                    // The upper limit of S gives the lower limit of 1 − S.
                    log_log: match step {
                        None => (lim(Some(1.0)), lim(Some(1.0))),
                        Some(s) => (lim(s.upper), lim(s.lower)),
                    },
                    log: match step_log {
                        None => (lim(Some(1.0)), lim(Some(1.0))),
                        Some(s) => (lim(s.upper), lim(s.lower)),
                    },
                }
            })
            .collect();
        groups.push(CprGroup {
            label: labels[g].to_owned(),
            primaries: curve.n,
            revisions: curve.events,
            years: total_years,
            rate: revision_rate(curve.events, total_years, level).ok(),
            curve,
            at,
        });
    }
    let log_rank = if groups.len() >= 2 { Some(log_rank(&time, &event, &group, None)?) } else { None };
    groups.sort_by(|a, b| b.primaries.cmp(&a.primaries).then(a.label.cmp(&b.label)));
    Ok(CprTable { title: title.into(), groups, log_rank })
}

/// A product's brand and category, as the analyses need them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    /// Brand.
    pub brand: String,
    /// Category.
    pub category: String,
}

/// The distinct (category, brand) pairs implanted at a primary.
pub fn brands_of<'a>(p: &Primary, products: &'a [ProductInfo]) -> Vec<(&'a str, &'a str)> {
    let mut out: Vec<(&str, &str)> =
        p.products.iter().map(|&i| (products[i].category.as_str(), products[i].brand.as_str())).collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// Exposure of every brand within its category: primaries containing it, their revisions and
/// component-years. The input of the outlier rules.
pub fn brand_exposure(primaries: &[Primary], products: &[ProductInfo]) -> Vec<outliers::ComponentExposure> {
    let mut acc: BTreeMap<(&str, &str), (u64, u64, StableSum)> = BTreeMap::new();
    for p in primaries {
        for key in brands_of(p, products) {
            let e = acc.entry(key).or_default();
            e.0 += 1;
            e.1 += u64::from(p.revised);
            e.2.add(p.years);
        }
    }
    acc.into_iter()
        .map(|((category, brand), (primaries, revisions, years))| outliers::ComponentExposure {
            name: brand.to_owned(),
            group: category.to_owned(),
            primaries,
            revisions,
            years: years.value(),
        })
        .collect()
}

/// The case-mix stratum of a primary: site, age band and sex.
pub type Stratum = (usize, AgeBand, Sex);

fn stratum(p: &Primary) -> Stratum {
    (p.site, AgeBand::of(p.age), p.sex)
}

/// One organisation on the funnel plot.
#[derive(Debug, Clone, PartialEq)]
pub struct FunnelUnit {
    /// Index of the organisation.
    pub organisation: usize,
    /// Primaries done there.
    pub primaries: u64,
    /// Observed revisions.
    pub observed: u64,
    /// Expected revisions from national rates by site, age band and sex.
    pub expected: f64,
    /// Where the unit falls against the 95% and 99.8% limits (`None` when nothing is expected).
    pub position: Option<funnel::FunnelPosition>,
}

impl FunnelUnit {
    /// Observed ÷ expected.
    pub fn ratio(&self) -> f64 {
        if self.expected > 0.0 { self.observed as f64 / self.expected } else { f64::NAN }
    }
}

/// Observed and expected revisions per organisation, expected by indirect standardisation:
/// Σ over the unit's primaries of years × the national revision rate of the primary's stratum.
pub fn hospital_funnel(primaries: &[Primary]) -> Vec<FunnelUnit> {
    // Strata numbered in the order met, national revisions and years per stratum.
    let mut index: HashMap<Stratum, usize> = HashMap::new();
    let mut national: Vec<(u64, StableSum)> = Vec::new();
    for p in primaries {
        let next = index.len();
        let s = *index.entry(stratum(p)).or_insert(next);
        if s == national.len() {
            national.push(Default::default());
        }
        national[s].0 += u64::from(p.revised);
        national[s].1.add(p.years);
    }
    let rate: Vec<f64> = national
        .into_iter()
        .map(|(d, y)| {
            let y = y.value();
            if y > 0.0 { d as f64 / y } else { 0.0 }
        })
        .collect();
    // Each unit's years per stratum, then the expected count from the funnel module.
    let mut units: BTreeMap<usize, (u64, u64, Vec<StableSum>)> = BTreeMap::new();
    for p in primaries {
        let e = units.entry(p.organisation).or_insert_with(|| (0, 0, vec![StableSum::default(); rate.len()]));
        e.0 += 1;
        e.1 += u64::from(p.revised);
        e.2[index[&stratum(p)]].add(p.years);
    }
    units
        .into_iter()
        .map(|(organisation, (primaries, observed, years))| {
            let years: Vec<f64> = years.into_iter().map(StableSum::value).collect();
            // Years and rates are finite and at least 0 by construction, so this cannot fail.
            let expected = funnel::expected_by_strata(&years, &rate).unwrap_or(f64::NAN);
            FunnelUnit {
                organisation,
                primaries,
                observed,
                expected,
                position: funnel::classify(observed, expected).ok(),
            }
        })
        .collect()
}

/// Revised within one year: the outcome the CUSUMs monitor.
const CUSUM_HORIZON_YEARS: f64 = 1.0;

/// Strata with fewer monitored primaries than this take their site's risk: a proportion from a
/// handful of operations is too noisy to weigh an outcome by.
const MIN_STRATUM: u64 = 50;

/// A risk-adjusted Bernoulli CUSUM of one organisation's primaries, in date order.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitCusum {
    /// Index of the organisation.
    pub organisation: usize,
    /// Primaries monitored (those with a year of follow-up, or revised within it).
    pub monitored: u64,
    /// Revised within the year.
    pub revised: u64,
    /// The CUSUM.
    pub cusum: cusum::Cusum,
}

/// Risk-adjusted Bernoulli CUSUMs (revision within a year; risk from the national proportion of
/// the primary's site, age band and sex) for every organisation, signalling at `h`, odds ratio 2.
/// Primaries are taken in date order; those of one day in the order given.
pub fn hospital_cusums(primaries: &[Primary], h: f64) -> Vec<UnitCusum> {
    let eligible: Vec<&Primary> = primaries
        .iter()
        .filter(|p| p.years >= CUSUM_HORIZON_YEARS || (p.revised && p.years < CUSUM_HORIZON_YEARS))
        .collect();
    let outcome = |p: &Primary| p.revised && p.years < CUSUM_HORIZON_YEARS;
    let mut national: HashMap<Stratum, (u64, u64)> = HashMap::new();
    for p in &eligible {
        let e = national.entry(stratum(p)).or_default();
        e.0 += 1;
        e.1 += u64::from(outcome(p));
    }
    let mut by_site: HashMap<usize, (u64, u64)> = HashMap::new();
    for p in &eligible {
        let e = by_site.entry(p.site).or_default();
        e.0 += 1;
        e.1 += u64::from(outcome(p));
    }
    let mut by_unit: BTreeMap<usize, Vec<&Primary>> = BTreeMap::new();
    for p in &eligible {
        by_unit.entry(p.organisation).or_default().push(p);
    }
    by_unit
        .into_iter()
        .filter_map(|(organisation, mut ps)| {
            // Stable: operations of one day keep the caller's order.
            ps.sort_by_key(|p| p.date);
            let series: Vec<(bool, f64)> = ps
                .iter()
                .map(|p| {
                    // A stratum too small to estimate its own risk borrows its site's.
                    let (n, d) = match national[&stratum(p)] {
                        (n, _) if n < MIN_STRATUM => by_site[&p.site],
                        own => own,
                    };
                    // Keep the risk strictly inside (0, 1): a stratum with no events (or only
                    // events) would otherwise make the log-likelihood ratio infinite.
                    let risk = ((d as f64 + 0.5) / (n as f64 + 1.0)).clamp(1e-6, 1.0 - 1e-6);
                    (outcome(p), risk)
                })
                .collect();
            let cusum = cusum::bernoulli_cusum(&series, 2.0, h, true).ok()?;
            Some(UnitCusum {
                organisation,
                monitored: series.len() as u64,
                revised: series.iter().filter(|(y, _)| *y).count() as u64,
                cusum,
            })
        })
        .collect()
}

/// Cumulative incidence of revision, with death as a competing risk (Aalen–Johansen).
/// Cause 1 is revision, cause 2 death; limits on the log(−log) scale.
pub fn revision_incidence(primaries: &[&Primary], level: f64) -> Result<competing::CumulativeIncidence, SurvivalError> {
    let time: Vec<f64> = primaries.iter().map(|p| p.years).collect();
    let status: Vec<u8> = primaries
        .iter()
        .map(|p| {
            if p.revised {
                1
            } else if p.died {
                2
            } else {
                0
            }
        })
        .collect();
    competing::aalen_johansen(&time, &status, ConfType::LogLog, level)
}
