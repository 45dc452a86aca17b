//! Building a registry's report from its operations: linking, then every analysis.

use std::collections::HashMap;

use tessera_domain::Sex;
use tessera_domain::analysis::{
    self, CprTable, FunnelUnit, ProductInfo, REPORT_YEARS, UnitCusum, brands_of, cumulative_revision,
};
use tessera_domain::competing::CumulativeIncidence;
use tessera_domain::cox::{CoxFit, Ties, cox};
use tessera_domain::outcomes::{OutcomeSpec, Primary, link};
use tessera_domain::outliers::{self, OutlierAssessment};
use tessera_store::OutcomeData;
use time::Date;

use crate::{ReportError, Result};

/// What a report computes, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Confidence level of every interval.
    pub level: f64,
    /// Years at which cumulative percent revision is reported.
    pub times: Vec<f64>,
    /// CUSUM signal threshold h (odds ratio 2, revision within a year).
    pub cusum_h: f64,
    /// Counts below this are suppressed in published output.
    pub threshold: u64,
}

impl Default for Settings {
    fn default() -> Self {
        Self { level: 0.95, times: REPORT_YEARS.to_vec(), cusum_h: 5.0, threshold: 5 }
    }
}

/// One cumulative-revision table, with a stable id for links and file names.
#[derive(Debug, Clone, PartialEq)]
pub struct CprSection {
    /// Id, e.g. `hip-brand-acetabular-cup`.
    pub id: String,
    /// The table.
    pub table: CprTable,
}

/// Everything reported about one site (hip, knee, breast).
#[derive(Debug, Clone, PartialEq)]
pub struct SiteReport {
    /// The site.
    pub site: String,
    /// Primaries.
    pub primaries: u64,
    /// Of which revised.
    pub revisions: u64,
    /// Of which died unrevised.
    pub deaths: u64,
    /// Cumulative percent revision: overall, by brand of each category, by brand combination,
    /// by attribute.
    pub sections: Vec<CprSection>,
    /// Cumulative incidence of revision (cause 1) and death (cause 2), Aalen–Johansen.
    pub incidence: Option<CumulativeIncidence>,
    /// A Cox model of revision on age (per 10 years) and female sex, Efron ties, over primaries
    /// whose age is known; with the covariate names.
    pub cox: Option<(Vec<String>, CoxFit)>,
}

/// An implant outlier assessment (both rules side by side).
pub type OutlierRow = OutlierAssessment;

/// A registry's outcome report.
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryReport {
    /// The registry.
    pub registry: String,
    /// The data cut-off.
    pub cutoff: Date,
    /// Organisations by index: (ODS code, name).
    pub organisations: Vec<(String, String)>,
    /// Per site.
    pub sites: Vec<SiteReport>,
    /// Implant outliers: every brand within its category, both rules.
    pub outliers: Vec<OutlierRow>,
    /// Observed and expected revisions per organisation (all sites, case-mix adjusted).
    pub funnel: Vec<FunnelUnit>,
    /// CUSUMs per organisation.
    pub cusums: Vec<UnitCusum>,
    /// Operation records that could not be read, by reason.
    pub unreadable: Vec<(String, u64)>,
    /// The settings used.
    pub settings: Settings,
}

/// Lower-case words joined by hyphens, for ids.
pub(crate) fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn stat_err(e: impl std::fmt::Display) -> ReportError {
    ReportError::Statistics(e.to_string())
}

impl RegistryReport {
    /// Links and analyses `data`. `names` maps ODS codes to organisation names; `cutoff`
    /// defaults to the latest operation date.
    pub fn build(
        registry: &str,
        spec: &OutcomeSpec,
        data: OutcomeData,
        names: &HashMap<String, String>,
        cutoff: Option<Date>,
        settings: &Settings,
    ) -> Result<Self> {
        let cutoff = cutoff.or(data.latest).unwrap_or(Date::MIN);
        let mut primaries = link(&data.patients, &data.procedures, cutoff);
        // In an order given by their content alone: the store returns rows in no set order, and
        // sums in a fixed order make the report the same to the last bit on either database.
        primaries.sort_by(|a, b| {
            (a.site, a.date, a.organisation, a.revised, a.died, &a.attributes, &a.products, a.sex as u8)
                .cmp(&(b.site, b.date, b.organisation, b.revised, b.died, &b.attributes, &b.products, b.sex as u8))
                .then(a.years.total_cmp(&b.years))
                .then(a.age.unwrap_or(-1.0).total_cmp(&b.age.unwrap_or(-1.0)))
        });
        let products: Vec<ProductInfo> = data
            .products
            .iter()
            .map(|p| ProductInfo { brand: p.brand.clone(), category: p.category.clone() })
            .collect();
        let sites = spec.sites();
        let mut site_reports = Vec::new();
        for (s, site) in sites.iter().enumerate() {
            let ps: Vec<&Primary> = primaries.iter().filter(|p| p.site == s).collect();
            if ps.is_empty() {
                continue;
            }
            site_reports.push(site_report(site, spec, &ps, &products, settings)?);
        }
        // A brand with no follow-up yet (used only on the cut-off day) has no rate to assess.
        let exposure: Vec<_> =
            analysis::brand_exposure(&primaries, &products).into_iter().filter(|c| c.years > 0.0).collect();
        let outliers = outliers::assess(&exposure, settings.level).map_err(stat_err)?;
        let funnel = analysis::hospital_funnel(&primaries);
        let cusums = analysis::hospital_cusums(&primaries, settings.cusum_h);
        let organisations = data
            .organisations
            .iter()
            .map(|ods| (ods.clone(), names.get(ods).cloned().unwrap_or_else(|| ods.clone())))
            .collect();
        Ok(Self {
            registry: registry.to_owned(),
            cutoff,
            organisations,
            sites: site_reports,
            outliers,
            funnel,
            cusums,
            unreadable: data.unreadable,
            settings: settings.clone(),
        })
    }

    /// The cumulative-revision section with this id.
    pub fn section(&self, id: &str) -> Option<(&SiteReport, &CprSection)> {
        self.sites.iter().find_map(|s| s.sections.iter().find(|c| c.id == id).map(|c| (s, c)))
    }

    /// The CUSUM of the organisation with this ODS code.
    pub fn cusum_of(&self, ods: &str) -> Option<&UnitCusum> {
        let i = self.organisations.iter().position(|(o, _)| o == ods)?;
        self.cusums.iter().find(|c| c.organisation == i)
    }

    /// The organisation's (ODS code, name).
    pub fn organisation(&self, index: usize) -> (&str, &str) {
        let (o, n) = &self.organisations[index];
        (o, n)
    }
}

fn site_report(
    site: &str,
    spec: &OutcomeSpec,
    ps: &[&Primary],
    products: &[ProductInfo],
    settings: &Settings,
) -> Result<SiteReport> {
    let title = |what: &str| format!("{}: {what}", capitalise(site));
    let mut sections = Vec::new();
    let mut add = |id: String, what: String, items: Vec<(String, &Primary)>| -> Result<()> {
        if items.is_empty() {
            return Ok(());
        }
        let table = cumulative_revision(&title(&what), &items, &settings.times, settings.level).map_err(stat_err)?;
        sections.push(CprSection { id, table });
        Ok(())
    };
    add(format!("{site}-overall"), "all primaries".into(), ps.iter().map(|p| ("All".to_owned(), *p)).collect())?;

    // By brand, one table per category with more than one brand.
    let mut categories: Vec<&str> = ps.iter().flat_map(|p| brands_of(p, products)).map(|(c, _)| c).collect();
    categories.sort_unstable();
    categories.dedup();
    for category in &categories {
        let items: Vec<(String, &Primary)> = ps
            .iter()
            .filter_map(|p| {
                brands_of(p, products).into_iter().find(|(c, _)| c == category).map(|(_, b)| (b.to_owned(), *p))
            })
            .collect();
        let brands = items.iter().map(|(b, _)| b.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        if brands > 1 {
            // "Hip: femoral stem brand", not "Hip: hip femoral stem brand".
            let name = category.to_lowercase();
            let name = name.strip_prefix(&format!("{site} ")).unwrap_or(&name);
            add(format!("{site}-brand-{}", slug(category)), format!("{name} brand"), items)?;
        }
    }

    // Brand combination: the brands of every multi-brand category other than bearing parts,
    // joined in category order (e.g. stem / cup for hips).
    let combo_categories: Vec<&str> = categories
        .iter()
        .copied()
        .filter(|c| {
            let brands: std::collections::BTreeSet<&str> =
                ps.iter().flat_map(|p| brands_of(p, products)).filter(|(pc, _)| pc == c).map(|(_, b)| b).collect();
            brands.len() > 1 && !c.contains("head") && !c.contains("liner")
        })
        .collect();
    if combo_categories.len() > 1 {
        let items: Vec<(String, &Primary)> = ps
            .iter()
            .filter_map(|p| {
                let brands = brands_of(p, products);
                let parts: Vec<&str> = combo_categories
                    .iter()
                    .filter_map(|c| brands.iter().find(|(pc, _)| pc == c).map(|(_, b)| *b))
                    .collect();
                (parts.len() == combo_categories.len()).then(|| (parts.join(" / "), *p))
            })
            .collect();
        let what = combo_categories.iter().map(|c| c.to_lowercase()).collect::<Vec<_>>().join(" / ");
        add(format!("{site}-combination"), format!("brand combination ({what})"), items)?;
    }

    // By attribute.
    for (a, attribute) in spec.attributes.iter().enumerate() {
        let items: Vec<(String, &Primary)> =
            ps.iter().filter_map(|p| p.attributes.get(a).cloned().flatten().map(|v| (v, *p))).collect();
        let values = items.iter().map(|(v, _)| v.as_str()).collect::<std::collections::BTreeSet<_>>().len();
        if values > 1 {
            add(format!("{site}-{}", slug(attribute)), attribute.clone(), items)?;
        }
    }

    let incidence = analysis::revision_incidence(ps, settings.level).ok();
    let with_age: Vec<&&Primary> = ps.iter().filter(|p| p.age.is_some()).collect();
    let cox_fit = if with_age.len() > 10 {
        let time: Vec<f64> = with_age.iter().map(|p| p.years).collect();
        let event: Vec<bool> = with_age.iter().map(|p| p.revised).collect();
        let age: Vec<f64> = with_age.iter().map(|p| p.age.unwrap_or_default() / 10.0).collect();
        let female: Vec<f64> = with_age.iter().map(|p| f64::from(u8::from(p.sex == Sex::Female))).collect();
        let varied = |v: &[f64]| v.iter().any(|x| *x != v[0]);
        let (mut names, mut covariates) = (vec!["age (per 10 years)".to_owned()], vec![age]);
        if varied(&female) {
            names.push("female".into());
            covariates.push(female);
        }
        cox(&time, &event, &covariates, None, Ties::Efron, settings.level).ok().map(|f| (names, f))
    } else {
        None
    };
    Ok(SiteReport {
        site: site.to_owned(),
        primaries: ps.len() as u64,
        revisions: ps.iter().filter(|p| p.revised).count() as u64,
        deaths: ps.iter().filter(|p| p.died).count() as u64,
        sections,
        incidence,
        cox: cox_fit,
    })
}

pub(crate) fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}
