//! Implant outlier rules (DOMAIN.md §5), the two registries' rules side by side, each on
//! revision rates per 100 component-years ([`crate::rates`]):
//!
//! - **NJR Level 1**: the component's lower exact confidence limit (two-sided, at `level`) is more
//!   than twice its group's rate. The group rate is taken over the whole group, the component
//!   included: that is the benchmark the NJR publishes per group, and it makes a dominant
//!   component's own rate part of its benchmark (the AOANJRR rule below corrects for that).
//! - **AOANJRR first stage**: the component's rate is more than twice its group's rate, and the
//!   one-sided Poisson probability P(X ≥ d) with X ~ Poisson(group rate × the component's years)
//!   is below 1 − `level`, and it has at least 10 primaries (or at least 75% of them revised, with
//!   at least 2 revisions). A component with more than 25% of its group's primaries is left out
//!   of its group's rate, which then comes from the group's other components; if there are none,
//!   the rule cannot be applied and the component is not flagged.
//!
//! Checked by hand-computed unit tests here and against an independent R implementation in
//! `tests/rates.rs`.

use std::collections::BTreeMap;

use crate::numeric::StableSum;
use crate::rates::{Rate, RateError, poisson_upper_tail, revision_rate};

/// Why outliers could not be assessed; names the component.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OutlierError {
    /// A component's years at risk are zero, negative, infinite or not a number.
    #[error("component {0}: years at risk must be a finite number greater than 0")]
    BadYears(String),
    /// A component has more (first) revisions than primaries.
    #[error("component {0}: more revisions than primaries")]
    MoreRevisionsThanPrimaries(String),
    /// The confidence level is not strictly between 0 and 1.
    #[error("the confidence level must be between 0 and 1")]
    BadLevel,
}

/// One component's exposure: primaries, their first revisions and years at risk, in a group of
/// comparable components (e.g. cemented total hips).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentExposure {
    /// The component (brand, or brand combination).
    pub name: String,
    /// The group it is compared within.
    pub group: String,
    /// Primary operations using it.
    pub primaries: u64,
    /// First revisions of those primaries.
    pub revisions: u64,
    /// Years at risk of those primaries (component-years).
    pub years: f64,
}

/// Both outlier rules' verdicts on one component, with the numbers behind them. Rates are per
/// 100 component-years.
#[derive(Debug, Clone, PartialEq)]
pub struct OutlierAssessment {
    /// The component.
    pub name: String,
    /// Its group.
    pub group: String,
    /// Its primaries.
    pub primaries: u64,
    /// Its revision rate with exact limits at the assessment's level.
    pub rate: Rate,
    /// The group's rate used by NJR Level 1 (the whole group, the component included).
    pub njr_group_rate: f64,
    /// NJR Level 1: lower limit > 2 × `njr_group_rate`.
    pub njr_level1: bool,
    /// Whether the AOANJRR rule left the component out of its group's rate (> 25% of the
    /// group's primaries).
    pub aoanjrr_excluded: bool,
    /// The group's rate used by the AOANJRR rule; `None` when the component was left out and
    /// the group has no other component.
    pub aoanjrr_group_rate: Option<f64>,
    /// Expected revisions at the AOANJRR group rate: rate × years ÷ 100.
    pub expected: Option<f64>,
    /// One-sided P(X ≥ revisions) for X ~ Poisson(`expected`).
    pub p_value: Option<f64>,
    /// AOANJRR first stage: all of its conditions hold.
    pub aoanjrr: bool,
    /// Both verdicts in words, with the numbers.
    pub reason: String,
}

/// Group totals: primaries, revisions and years.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    primaries: u64,
    revisions: u64,
    years: StableSum,
}

impl Totals {
    fn add(&mut self, c: &ComponentExposure) {
        self.primaries += c.primaries;
        self.revisions += c.revisions;
        self.years.add(c.years);
    }

    /// Revisions per 100 years; `None` without years.
    fn rate(&self) -> Option<f64> {
        let years = self.years.value();
        (years > 0.0).then(|| self.revisions as f64 / years * 100.0)
    }
}

/// Assesses every component against its group under both rules, at `level` (0.95: NJR uses the
/// lower limit of the two-sided 95% interval, AOANJRR the one-sided p < 0.05). The result is in
/// the order of `components`.
pub fn assess(components: &[ComponentExposure], level: f64) -> Result<Vec<OutlierAssessment>, OutlierError> {
    if !(level > 0.0 && level < 1.0) {
        return Err(OutlierError::BadLevel);
    }
    for c in components {
        if !(c.years.is_finite() && c.years > 0.0) {
            return Err(OutlierError::BadYears(c.name.clone()));
        }
        if c.revisions > c.primaries {
            return Err(OutlierError::MoreRevisionsThanPrimaries(c.name.clone()));
        }
    }
    let mut groups: BTreeMap<&str, Totals> = BTreeMap::new();
    for c in components {
        groups.entry(&c.group).or_default().add(c);
    }
    let alpha = 1.0 - level;
    components
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let rate = revision_rate(c.revisions, c.years, level).map_err(|e| match e {
                RateError::BadLevel => OutlierError::BadLevel,
                _ => OutlierError::BadYears(c.name.clone()),
            })?;
            let whole = groups[c.group.as_str()];
            // Every component has years > 0, so its group has too.
            let njr_group_rate = whole.rate().unwrap_or(0.0);
            let njr_level1 = rate.lower > 2.0 * njr_group_rate;

            // More than 25% of the group's primaries: 4·p > total, in integers.
            let excluded = 4 * c.primaries > whole.primaries;
            let comparator = if excluded {
                // Summed afresh over the others rather than subtracted, so no years cancel.
                let mut others = Totals::default();
                for (_, o) in components.iter().enumerate().filter(|(j, o)| *j != index && o.group == c.group) {
                    others.add(o);
                }
                others
            } else {
                whole
            };
            let aoanjrr_group_rate = comparator.rate();
            let expected = aoanjrr_group_rate.map(|r| r / 100.0 * c.years);
            let p_value = match expected {
                Some(mu) => Some(poisson_upper_tail(c.revisions, mu).map_err(|_| OutlierError::BadYears(c.name.clone()))?),
                None => None,
            };
            // At least 75% revised: 4·r ≥ 3·p, in integers.
            let enough = c.primaries >= 10 || (4 * c.revisions >= 3 * c.primaries && c.revisions >= 2);
            let high = aoanjrr_group_rate.is_some_and(|g| rate.per_100_years > 2.0 * g);
            let significant = p_value.is_some_and(|p| p < alpha);
            let aoanjrr = high && significant && enough;

            let pct = level * 100.0;
            let njr_words = format!(
                "NJR level 1 {}: lower {pct}% limit {:.4} {} 2 × group rate {:.4}",
                if njr_level1 { "outlier" } else { "not an outlier" },
                rate.lower,
                if njr_level1 { ">" } else { "≤" },
                njr_group_rate,
            );
            let left_out = if excluded { " (component left out of its group: > 25% of primaries)" } else { "" };
            let aoa_words = match (aoanjrr_group_rate, p_value) {
                (Some(g), Some(p)) => {
                    let mut failed = Vec::new();
                    if !high {
                        failed.push(format!("rate {:.4} ≤ 2 × group rate {g:.4}", rate.per_100_years));
                    }
                    if !significant {
                        failed.push(format!("P(X ≥ {}) = {p:.3e} ≥ {alpha:.3}", c.revisions));
                    }
                    if !enough {
                        failed.push(format!(
                            "{} primaries, {} revised: fewer than 10, and not ≥ 75% revised with ≥ 2 revisions",
                            c.primaries, c.revisions
                        ));
                    }
                    if failed.is_empty() {
                        format!(
                            "AOANJRR outlier: rate {:.4} > 2 × group rate {g:.4}, P(X ≥ {}) = {p:.3e} < {alpha:.3}, {} primaries{left_out}",
                            rate.per_100_years, c.revisions, c.primaries
                        )
                    } else {
                        format!("AOANJRR not an outlier: {}{left_out}", failed.join("; "))
                    }
                }
                _ => "AOANJRR not assessed: the component is > 25% of its group and the group has no other component"
                    .to_owned(),
            };
            Ok(OutlierAssessment {
                name: c.name.clone(),
                group: c.group.clone(),
                primaries: c.primaries,
                rate,
                njr_group_rate,
                njr_level1,
                aoanjrr_excluded: excluded,
                aoanjrr_group_rate,
                expected,
                p_value,
                aoanjrr,
                reason: format!("{njr_words}. {aoa_words}."),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn component(name: &str, group: &str, primaries: u64, revisions: u64, years: f64) -> ComponentExposure {
        ComponentExposure { name: name.into(), group: group.into(), primaries, revisions, years }
    }

    fn close(a: f64, b: f64, tol: f64) {
        assert!((a - b).abs() <= tol * b.abs().max(1e-300), "{a:.17e} vs {b:.17e}");
    }

    #[test]
    fn a_dominant_component_is_left_out_of_its_groups_rate_only_for_aoanjrr() {
        // Group G: Big 600 primaries, 12 revisions, 6000 years; Mid 300, 6, 3000; Bad 100, 10, 500.
        // Whole group: 1000 primaries, 28 revisions, 9500 years → 28/9500·100 = 0.29473684… (NJR).
        // Big has 60% and Mid 30% of the primaries (> 25%), so AOANJRR compares Big with
        // Mid + Bad = 16/3500·100 = 0.45714285…, and Mid with Big + Bad = 22/6500·100 = 0.33846153…;
        // Bad (10%) is compared with the whole group, 0.29473684….
        let cs = [
            component("Big", "G", 600, 12, 6000.0),
            component("Mid", "G", 300, 6, 3000.0),
            component("Bad", "G", 100, 10, 500.0),
        ];
        let a = assess(&cs, 0.95).unwrap();
        for x in &a {
            close(x.njr_group_rate, 28.0 / 9500.0 * 100.0, 1e-15);
        }
        assert_eq!(a.iter().map(|x| x.aoanjrr_excluded).collect::<Vec<_>>(), [true, true, false]);
        close(a[0].aoanjrr_group_rate.unwrap(), 16.0 / 3500.0 * 100.0, 1e-15);
        close(a[1].aoanjrr_group_rate.unwrap(), 22.0 / 6500.0 * 100.0, 1e-15);
        close(a[2].aoanjrr_group_rate.unwrap(), 28.0 / 9500.0 * 100.0, 1e-15);

        // Bad: rate 10/500·100 = 2 per 100 years. Lower limit χ²(0.025; 20)/2 ÷ 500 × 100, with
        // χ²(0.025; 20) = 9.5907773 (tables), = 4.79538866/5 = 0.95907773 > 2 × 0.29473684 =
        // 0.58947368: an NJR Level 1 outlier. Expected at the group rate: 28/9500 × 500 =
        // 1.47368421 revisions; P(X ≥ 10) = 1 − Σ_{k<10} e^{−μ}μᵏ/k! = 3.5148900745374668e-6 (R's ppois) < 0.05, and 100
        // primaries ≥ 10: an AOANJRR outlier too.
        let bad = &a[2];
        close(bad.rate.per_100_years, 2.0, 1e-15);
        close(bad.rate.lower, 0.959_077_73, 1e-7);
        assert!(bad.njr_level1 && bad.aoanjrr, "{}", bad.reason);
        let mu = 28.0 / 9500.0 * 500.0;
        close(bad.expected.unwrap(), mu, 1e-14);
        let (mut term, mut below) = (f64::exp(-mu), 0.0);
        for k in 0..10 {
            below += term;
            term *= mu / f64::from(k + 1);
        }
        close(bad.p_value.unwrap(), 1.0 - below, 1e-6);
        close(bad.p_value.unwrap(), 3.514_890_074_537_466_8e-6, 1e-9);
        // Big: 0.2 per 100 years, below either group rate: neither rule flags it.
        assert!(!a[0].njr_level1 && !a[0].aoanjrr);
        assert!(a[0].reason.contains("left out"), "{}", a[0].reason);
    }

    #[test]
    fn aoanjrr_needs_ten_primaries_or_three_quarters_revised_with_two_revisions() {
        // Group H: Ref 1000 primaries, 10 revisions, 10000 years; Few and All below. Ref has
        // 1000/1007 of the primaries, the small ones under 1% each, so they are compared with
        // the whole group:
        // 10 + 2 + 2 = 14 revisions over 10000 + 4 + 4 = 10008 years → 0.13988809 per 100 years.
        // Few: 5 primaries, 2 revisions in 4 years (50/100 years ≫ 0.28; expected μ = 0.13988809
        // × 4 / 100 = 0.0055955, P(X ≥ 2) = 1 − e^{−μ}(1 + μ) ≈ 1.6e-5 < 0.05) but only 40%
        // revised: not an AOANJRR outlier. All: 2 primaries both revised (100%, 2 revisions): it is.
        let cs = [
            component("Ref", "H", 1000, 10, 10000.0),
            component("Few", "H", 5, 2, 4.0),
            component("All", "H", 2, 2, 4.0),
        ];
        let a = assess(&cs, 0.95).unwrap();
        let g = 14.0 / 10008.0 * 100.0;
        let mu = g * 4.0 / 100.0;
        for x in &a[1..] {
            assert!(!x.aoanjrr_excluded);
            close(x.aoanjrr_group_rate.unwrap(), g, 1e-15);
            close(x.p_value.unwrap(), 1.0 - f64::exp(-mu) * (1.0 + mu), 1e-9);
        }
        assert!(!a[1].aoanjrr, "{}", a[1].reason);
        assert!(a[1].reason.contains("fewer than 10"), "{}", a[1].reason);
        assert!(a[2].aoanjrr, "{}", a[2].reason);
    }

    #[test]
    fn a_component_alone_in_its_group_is_not_assessed_by_aoanjrr() {
        // Alone: 100% of its group, left out, no comparator. NJR compares it with itself:
        // its lower limit is below its own rate, so never more than twice it.
        let a = assess(&[component("Solo", "S", 50, 3, 300.0)], 0.95).unwrap();
        assert!(a[0].aoanjrr_excluded);
        assert_eq!((a[0].aoanjrr_group_rate, a[0].p_value, a[0].aoanjrr), (None, None, false));
        assert!(!a[0].njr_level1);
        assert!(a[0].reason.contains("not assessed"), "{}", a[0].reason);
    }

    #[test]
    fn bad_input_is_refused_with_the_components_name() {
        assert_eq!(assess(&[component("X", "G", 5, 1, 0.0)], 0.95), Err(OutlierError::BadYears("X".into())));
        assert_eq!(
            assess(&[component("Y", "G", 1, 2, 3.0)], 0.95),
            Err(OutlierError::MoreRevisionsThanPrimaries("Y".into()))
        );
        assert_eq!(assess(&[component("Z", "G", 5, 1, 3.0)], 0.0), Err(OutlierError::BadLevel));
    }
}
