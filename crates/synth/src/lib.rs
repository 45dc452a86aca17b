//! Reproducible synthetic data for Tessera's two shipped registries.
//!
//! The same `(seed, patient index)` always gives the same patient, whatever thread generates it,
//! so generation parallelises freely. What is modelled, roughly as UK registries report it:
//! - ~150 organisations (NHS trusts and independent-sector providers) with skewed volumes, one of
//!   which is a planted **outlier hospital** (revision hazard × 2.2);
//! - joint patients: age and sex by joint (hips ~69 years, ~60 % women; knees ~70, ~57 %), ASA
//!   grades mostly 2, BMI around 29, primaries spread over 20 years with volume growing, a quarter
//!   having a second joint replaced;
//! - revisions drawn from brand-specific hazards (two planted poor performers, see
//!   [`catalogue`]) with a first-year bump for infection and dislocation;
//! - death as a competing risk (Gompertz mortality by age), censoring at the cut-off date;
//! - breast implant patients with bilateral operations, reconstruction or cosmetic indications,
//!   and one PIP-like brand that ruptures early;
//! - consent (most given; without it identifiers are not sent) and national data opt-out (~5 %).
//!
//! NHS numbers are valid test numbers (999…), drawn without repetition within a registry.

#![forbid(unsafe_code)]

pub mod catalogue;
mod people;

use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tessera_domain::{NhsNumber, OdsCode, Organisation, OrganisationKind, PatientInput};
use time::{Date, Duration};

use catalogue::{Brand, Category, POOR_PERFORMER_HAZARD};

/// Settings of one generation run.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    /// Number of patients across both registries.
    pub patients: u64,
    /// The seed; the same seed gives the same data.
    pub seed: u64,
    /// The data cut-off: nothing happens after it.
    pub cutoff: Date,
    /// Share of patients in the breast implant registry (the rest are joint patients). Every
    /// round(1/share)-th patient is a breast patient, so the default 0.15 gives one in seven.
    pub breast_share: f64,
    /// Share of joint patients whose first joint is a hip (the rest are knees).
    pub hip_share: f64,
    /// Share of joint patients who have a second joint replaced (70 % of them the other side).
    pub second_joint_share: f64,
}

impl SynthConfig {
    /// Defaults: cut-off 2026-03-31, one patient in seven in the breast implant registry, 46 % of
    /// joint patients hips.
    pub fn new(patients: u64, seed: u64) -> Self {
        Self {
            patients,
            seed,
            cutoff: Date::from_calendar_date(2026, time::Month::March, 31).expect("valid date"),
            breast_share: 0.15,
            hip_share: 0.46,
            second_joint_share: 0.25,
        }
    }
}

/// An implanted component.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthImplant {
    /// GTIN (UDI-DI).
    pub gtin: String,
    /// Lot number: a production batch (manufacturer initial, production year and month, batch
    /// 0-3), so a (GTIN, lot) has tens to hundreds of units, as a recalled batch does.
    pub lot: String,
    /// Production date (GS1 AI 11): 30 to 269 days before the operation.
    pub manufactured: Date,
    /// Serial number, for serialised devices.
    pub serial: Option<String>,
    /// Expiry date.
    pub expiry: Date,
}

/// One operation or follow-up: a record of one form.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthRecord {
    /// The form's name.
    pub form: &'static str,
    /// Index into [`World::organisations`].
    pub organisation: usize,
    /// Field values as text.
    pub fields: Vec<(&'static str, String)>,
    /// Components implanted in this operation.
    pub implants: Vec<SynthImplant>,
}

/// One synthetic patient of one registry.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthPatient {
    /// `njr` or `bcir`.
    pub registry: &'static str,
    /// NHS number (a 999 test number).
    pub nhs_number: NhsNumber,
    /// Family name.
    pub family_name: &'static str,
    /// Given name.
    pub given_name: &'static str,
    /// Date of birth.
    pub date_of_birth: Date,
    /// `M` or `F`.
    pub sex: &'static str,
    /// Postcode.
    pub postcode: String,
    /// Date of death, if before the cut-off.
    pub date_of_death: Option<Date>,
    /// National data opt-out.
    pub opted_out: bool,
    /// `given`, `refused` or `not_recorded`.
    pub consent: &'static str,
    /// Records, in date order.
    pub records: Vec<SynthRecord>,
}

/// Text fields of a synthetic patient, owned so a [`PatientInput`] can borrow them.
pub struct PatientText {
    nhs: String,
    dob: String,
    dod: String,
}

impl SynthPatient {
    /// Owned text for [`SynthPatient::input`].
    pub fn text(&self) -> PatientText {
        PatientText {
            nhs: self.nhs_number.digits(),
            dob: self.date_of_birth.to_string(),
            dod: self.date_of_death.map(|d| d.to_string()).unwrap_or_default(),
        }
    }

    /// The patient as import input. Without consent, identifiers are left empty, as a hospital
    /// would send them.
    pub fn input<'a>(&'a self, text: &'a PatientText) -> PatientInput<'a> {
        let identified = self.consent == "given";
        let id = |s: &'a str| if identified { s } else { "" };
        PatientInput {
            nhs_number: id(&text.nhs),
            family_name: id(self.family_name),
            given_name: id(self.given_name),
            date_of_birth: id(&text.dob),
            sex: self.sex,
            postcode: id(&self.postcode),
            date_of_death: &text.dod,
            opted_out: if self.opted_out { "yes" } else { "no" },
            consent: self.consent,
        }
    }
}

const ORGANISATION_SEED: u64 = 0x7e55e7a;

/// Everything shared by all patients of one run: organisations and the device catalogue.
pub struct World {
    /// The organisations.
    pub organisations: Vec<Organisation>,
    /// Index of the planted outlier hospital.
    pub outlier: usize,
    weights_cdf: Vec<f64>,
    breast_cdf: Vec<f64>,
    brands: Vec<Brand>,
    config: SynthConfig,
    nhs_permutation: (u64, u64),
}

/// The most patients one registry of a synthetic world can have: 100,000 blocks of nine valid
/// test NHS numbers (999…).
pub const MAX_PATIENTS_PER_REGISTRY: u64 = 900_000;

impl World {
    /// Builds the world for `config`.
    pub fn new(config: SynthConfig) -> Self {
        // The country's hospitals do not change with the seed: organisations come from a fixed
        // seed, so data sets of different seeds share them (and can be imported side by side).
        let mut rng = ChaCha8Rng::seed_from_u64(ORGANISATION_SEED);
        let organisations = people::organisations(&mut rng);
        // Skewed volumes: log-normal weights. Independent providers do fewer revisions and no
        // breast reconstruction in this model, but plenty of cosmetic work.
        let lognormal = Normal::<f64>::new(0.0, 0.7).expect("valid normal");
        let weights: Vec<f64> = organisations.iter().map(|_| lognormal.sample(&mut rng).exp()).collect();
        let breast_weights: Vec<f64> = organisations
            .iter()
            .zip(&weights)
            .map(|(o, w)| if o.kind == OrganisationKind::IndependentSector { w * 3.0 } else { *w })
            .collect();
        let cdf = |w: &[f64]| {
            let total: f64 = w.iter().sum();
            let mut acc = 0.0;
            w.iter()
                .map(|x| {
                    acc += x / total;
                    acc
                })
                .collect::<Vec<f64>>()
        };
        // Parameters of the permutation behind `nhs_number`: a is odd and not a multiple of 5.
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let a = 7_919 + 20 * rng.random_range(0..1000u64);
        let c = rng.random_range(0..100_000u64);
        Self {
            outlier: 17,
            weights_cdf: cdf(&weights),
            breast_cdf: cdf(&breast_weights),
            organisations,
            brands: catalogue::catalogue(),
            config,
            nhs_permutation: (a, c),
        }
    }

    /// The run's settings.
    pub fn config(&self) -> &SynthConfig {
        &self.config
    }

    /// The device catalogue.
    pub fn brands(&self) -> &[Brand] {
        &self.brands
    }

    fn pick_org(&self, rng: &mut ChaCha8Rng, breast: bool) -> usize {
        let u: f64 = rng.random();
        let cdf = if breast { &self.breast_cdf } else { &self.weights_cdf };
        cdf.partition_point(|&c| c < u).min(cdf.len() - 1)
    }

    fn pick_brand(&self, rng: &mut ChaCha8Rng, category: Category) -> &Brand {
        let candidates: Vec<&Brand> = self.brands.iter().filter(|b| b.category == category).collect();
        let total: f64 = candidates.iter().map(|b| b.share).sum();
        let mut u = rng.random::<f64>() * total;
        for b in &candidates {
            if u < b.share {
                return b;
            }
            u -= b.share;
        }
        candidates[candidates.len() - 1]
    }

    /// A brand to put in at a revision: surgeons do not re-implant a brand known to fail, so a
    /// planted poor performer drawn here is swapped for the category's first brand.
    fn pick_replacement_brand(&self, rng: &mut ChaCha8Rng, category: Category) -> &Brand {
        let b = self.pick_brand(rng, category);
        if b.is_poor_performer() { self.brands.iter().find(|x| x.category == category).expect("brand") } else { b }
    }

    /// The `k`-th NHS test number of a registry's sequence (k counts from 0), or `None` past
    /// the 900,000 the scheme provides.
    ///
    /// Digits 4–8 come from a full-cycle affine permutation of 0..10^5 (a·q + c with a coprime
    /// to 10^5), so blocks never repeat; the 9th digit is the (k mod 9)-th of the digits that do
    /// not make the check digit 10 — changing the 9th digit moves the weighted sum by 2 each
    /// step, so at most one of the ten is unusable and nine always remain.
    fn nhs_number(&self, registry_salt: u64, k: u64) -> Option<NhsNumber> {
        const BLOCKS: u64 = MAX_PATIENTS_PER_REGISTRY / 9;
        let (a, c) = self.nhs_permutation;
        let q = k / 9;
        if q >= BLOCKS {
            return None;
        }
        let block = (a.wrapping_mul(q) + c + registry_salt * 50_021) % BLOCKS;
        let mut prefix = [9u8, 9, 9, 0, 0, 0, 0, 0, 0];
        let digits = format!("{block:05}");
        for (d, b) in prefix[3..8].iter_mut().zip(digits.bytes()) {
            *d = b - b'0';
        }
        let wanted = (k % 9) as usize;
        (0..10u8)
            .filter_map(|d9| {
                prefix[8] = d9;
                NhsNumber::from_prefix(prefix)
            })
            .nth(wanted)
    }

    /// Which registry patient `index` belongs to: a deterministic split, so each registry's
    /// patients are numbered densely (which keeps NHS numbers unique within a registry).
    pub fn registry_of(&self, index: u64) -> &'static str {
        if self.is_breast(index) { "bcir" } else { "njr" }
    }

    /// Why this world cannot be generated, if it cannot: one of its registries would need more
    /// patients than there are test NHS numbers to give them ([`MAX_PATIENTS_PER_REGISTRY`]).
    /// Check it before asking for patients: [`World::patient`] panics past that limit.
    pub fn capacity_problem(&self) -> Option<String> {
        let every = self.breast_every();
        let n = self.config.patients;
        let breast = if every == u64::MAX { 0 } else { n / every };
        let joint = n - breast;
        [("joint replacement", joint), ("breast implant", breast)].into_iter().find_map(|(name, count)| {
            (count > MAX_PATIENTS_PER_REGISTRY).then(|| {
                format!(
                    "{n} patients would put {count} in the {name} registry, but the synthetic test NHS \
                     numbers (999…) give at most {MAX_PATIENTS_PER_REGISTRY} per registry: ask for fewer \
                     patients or change the registries' shares"
                )
            })
        })
    }

    fn breast_every(&self) -> u64 {
        if self.config.breast_share <= 0.0 {
            u64::MAX
        } else {
            (1.0 / self.config.breast_share).round().max(1.0) as u64
        }
    }

    fn is_breast(&self, index: u64) -> bool {
        let every = self.breast_every();
        every != u64::MAX && index % every == every - 1
    }

    /// The patient with this index: the same index always gives the same patient.
    pub fn patient(&self, index: u64) -> SynthPatient {
        let mut rng = ChaCha8Rng::seed_from_u64(self.config.seed);
        rng.set_stream(index + 1);
        let every = self.breast_every();
        let breast = self.is_breast(index);
        let k = if breast {
            index / every
        } else if every == u64::MAX {
            index
        } else {
            index - (index + 1) / every
        };
        let nhs_number = self
            .nhs_number(u64::from(breast), k)
            .expect("more patients in one registry than the 900,000 test NHS numbers this generator provides (999 numbers allow about 909,000 in all)");
        if breast { self.breast_patient(&mut rng, nhs_number) } else { self.joint_patient(&mut rng, nhs_number) }
    }

    fn common(
        &self,
        rng: &mut ChaCha8Rng,
        registry: &'static str,
        nhs_number: NhsNumber,
        female: bool,
        dob: Date,
    ) -> SynthPatient {
        let consent = match rng.random::<f64>() {
            x if x < 0.93 => "given",
            x if x < 0.98 => "refused",
            _ => "not_recorded",
        };
        SynthPatient {
            registry,
            nhs_number,
            family_name: people::family_name(rng),
            given_name: people::given_name(rng, female),
            date_of_birth: dob,
            sex: if female { "F" } else { "M" },
            postcode: people::postcode(rng),
            date_of_death: None,
            opted_out: rng.random_bool(0.054),
            consent,
            records: Vec::new(),
        }
    }

    /// Days from `from` to death, by Gompertz mortality at age `age`, or `None` if beyond cut-off.
    fn death_after(&self, rng: &mut ChaCha8Rng, from: Date, age: f64) -> Option<Date> {
        let (a0, b) = (5.2e-5_f64, 0.085_f64);
        let u: f64 = rng.random::<f64>().max(1e-12);
        let t = (1.0 + (-u.ln()) * b / (a0 * (b * age).exp())).ln() / b;
        let death = from + Duration::days((t * 365.25) as i64);
        (death <= self.config.cutoff).then_some(death)
    }

    fn joint_patient(&self, rng: &mut ChaCha8Rng, nhs: NhsNumber) -> SynthPatient {
        let hip = rng.random_bool(self.config.hip_share);
        let female = rng.random_bool(if hip { 0.60 } else { 0.57 });
        let age_at_first: f64 =
            Normal::<f64>::new(if hip { 69.0 } else { 70.0 }, 10.0).expect("valid").sample(rng).clamp(25.0, 97.0);
        // Volume grows over the 20 years: more operations recently.
        let years_back = 20.0 * (1.0 - rng.random::<f64>().sqrt());
        let first_date = self.config.cutoff - Duration::days((years_back * 365.25) as i64 + 1);
        let dob =
            first_date - Duration::days((age_at_first * 365.25) as i64) - Duration::days(rng.random_range(0..365));
        let mut p = self.common(rng, "njr", nhs, female, dob);
        let death = self.death_after(rng, first_date, age_at_first);
        p.date_of_death = death;
        let end = death.unwrap_or(self.config.cutoff);
        let asa = pick(rng, &[("1", 0.13), ("2", 0.60), ("3", 0.25), ("4", 0.02)]);
        let bmi: f64 = Normal::<f64>::new(29.0, 5.0).expect("valid").sample(rng).clamp(16.0, 60.0);

        let mut joints = vec![(hip, if rng.random_bool(0.5) { "L" } else { "R" }, first_date)];
        if rng.random_bool(self.config.second_joint_share) {
            let later = first_date + Duration::days(rng.random_range(90..3650));
            if later < end {
                let (h, s) = if rng.random_bool(0.7) {
                    (hip, if joints[0].1 == "L" { "R" } else { "L" })
                } else {
                    (!hip, joints[0].1)
                };
                joints.push((h, s, later));
            }
        }
        for (is_hip, side, date) in joints {
            let org = self.pick_org(rng, false);
            let age = (date - dob).whole_days() as f64 / 365.25;
            let (record, hazard) = if is_hip {
                self.hip_primary(rng, org, side, date, asa, bmi)
            } else {
                self.knee_primary(rng, org, side, date, asa, bmi)
            };
            p.records.push(record);
            if rng.random_bool(0.3) && date + Duration::days(365) < end {
                p.records.push(follow_up(
                    rng,
                    org,
                    if is_hip { "HIP" } else { "KNEE" },
                    side,
                    date + Duration::days(365),
                ));
            }
            // Revision hazard per year: baseline, brand and hospital multipliers, younger patients
            // revised more; a first-year bump for infection and dislocation.
            let hosp = if org == self.outlier { 2.2 } else { 1.0 };
            let age_factor = if age < 55.0 {
                1.6
            } else if age > 75.0 {
                0.8
            } else {
                1.0
            };
            let rate = if is_hip { 0.0045 } else { 0.0040 } * hazard * hosp * age_factor;
            let late = -rng.random::<f64>().max(1e-12).ln() / rate;
            let early = if rng.random_bool(0.006 * hosp) { Some(rng.random::<f64>()) } else { None };
            let years = early.map_or(late, |e| e.min(late));
            let rev_date = date + Duration::days((years * 365.25) as i64 + 1);
            if rev_date <= end {
                let rev_org = if rng.random_bool(0.8) { org } else { self.pick_org(rng, false) };
                let early_failure = years < 1.0;
                p.records.push(if is_hip {
                    self.hip_revision(rng, rev_org, side, rev_date, asa, early_failure, hazard > POOR_PERFORMER_HAZARD)
                } else {
                    self.knee_revision(rng, rev_org, side, rev_date, asa, early_failure)
                });
            }
        }
        p.records.sort_by_key(|r| r.fields.iter().find(|(k, _)| k.ends_with("date")).map(|(_, v)| v.clone()));
        p
    }

    fn implant(&self, rng: &mut ChaCha8Rng, brand: &Brand, date: Date) -> SynthImplant {
        let gtin = brand.gtins[rng.random_range(0..brand.gtins.len())].clone();
        // One draw makes both the production date and the batch, as the lot's single draw did
        // before production batches: the random stream, and so every other fact, is unchanged.
        let r: i32 = rng.random_range(0..1_000_000);
        let manufactured = date - Duration::days(30 + i64::from(r % 240));
        let lot = format!(
            "{}{:02}{:02}{}",
            &brand.manufacturer[..1],
            manufactured.year() % 100,
            u8::from(manufactured.month()),
            r / 240 % 4
        );
        let serial = brand.serialised.then(|| format!("SN{:09}", rng.random_range(0..1_000_000_000u64)));
        let expiry = date + Duration::days(rng.random_range(180..1800));
        SynthImplant { gtin, lot, manufactured, serial, expiry }
    }

    fn hip_primary(
        &self,
        rng: &mut ChaCha8Rng,
        org: usize,
        side: &str,
        date: Date,
        asa: &str,
        bmi: f64,
    ) -> (SynthRecord, f64) {
        let fracture = rng.random_bool(0.06);
        let procedure = if fracture { "HEMIBI" } else { "THR" };
        let indication =
            if fracture { "FNOF" } else { pick(rng, &[("OA", 0.93), ("AVN", 0.03), ("INFLAM", 0.02), ("DDH", 0.02)]) };
        let stem = self.pick_brand(rng, Category::HipStem);
        let cup = self.pick_brand(rng, Category::AcetabularCup);
        let mut implants = vec![self.implant(rng, stem, date)];
        let head = self.pick_brand(rng, Category::FemoralHead);
        implants.push(self.implant(rng, head, date));
        let mut hazard = stem.hazard;
        let bearing = if fracture {
            "NATIVE"
        } else {
            implants.push(self.implant(rng, cup, date));
            hazard = hazard.max(cup.hazard);
            if cup.is_poor_performer() {
                "MOM"
            } else {
                let liner = &self.brands.iter().find(|b| b.category == Category::AcetabularLiner).expect("liner");
                implants.push(self.implant(rng, liner, date));
                pick(rng, &[("MOP", 0.55), ("COP", 0.35), ("COC", 0.10)])
            }
        };
        let fields = vec![
            ("hp_side", side.to_owned()),
            ("hp_operation_date", date.to_string()),
            ("hp_procedure_type", procedure.to_owned()),
            ("hp_indication", indication.to_owned()),
            ("hp_asa_grade", asa.to_owned()),
            ("hp_bmi", format!("{bmi:.1}")),
            ("hp_surgeon_grade", pick(rng, &[("CONS", 0.82), ("SAS", 0.08), ("SPR", 0.10)]).to_owned()),
            ("hp_surgeon_gmc", gmc(rng, org)),
            (
                "hp_anaesthetic",
                pick(rng, &[("SPINAL", 0.62), ("GA", 0.20), ("GASPINAL", 0.12), ("GABLOCK", 0.06)]).to_owned(),
            ),
            ("hp_chemical_prophylaxis", pick(rng, &[("LMWH", 0.55), ("DOAC", 0.30), ("ASPIRIN", 0.15)]).to_owned()),
            (
                "hp_mechanical_prophylaxis",
                pick(rng, &[("STOCK", 0.5), ("IPC", 0.2), ("BOTH", 0.2), ("NONE", 0.1)]).to_owned(),
            ),
            ("hp_approach", pick(rng, &[("POST", 0.70), ("LAT", 0.22), ("ANT", 0.05), ("ANTLAT", 0.03)]).to_owned()),
            (
                "hp_fixation",
                pick(rng, &[("CEM", 0.30), ("UNCEM", 0.38), ("HYBRID", 0.28), ("RHYBRID", 0.04)]).to_owned(),
            ),
            ("hp_bearing", bearing.to_owned()),
            (
                "hp_head_size_mm",
                if fracture { "46" } else { pick(rng, &[("28", 0.3), ("32", 0.45), ("36", 0.25)]) }.to_owned(),
            ),
            ("hp_bone_graft", if rng.random_bool(0.04) { "yes" } else { "no" }.to_owned()),
            ("hp_intraop_event", if rng.random_bool(0.02) { "CALCAR" } else { "NONE" }.to_owned()),
            ("hp_funding", self.funding(org)),
        ];
        (SynthRecord { form: "hip_primary", organisation: org, fields, implants }, hazard)
    }

    fn knee_primary(
        &self,
        rng: &mut ChaCha8Rng,
        org: usize,
        side: &str,
        date: Date,
        asa: &str,
        bmi: f64,
    ) -> (SynthRecord, f64) {
        let procedure = pick(rng, &[("TOTAL", 0.88), ("UNI", 0.10), ("PFJ", 0.02)]);
        let mut implants = Vec::new();
        let mut hazard = 1.0;
        if procedure == "UNI" {
            let b = self.pick_brand(rng, Category::KneeUnicompartmental);
            hazard = b.hazard;
            implants.push(self.implant(rng, b, date));
        } else {
            let femoral = self.pick_brand(rng, Category::KneeFemoral);
            hazard = hazard.max(femoral.hazard);
            implants.push(self.implant(rng, femoral, date));
            for c in [Category::KneeTibialTray, Category::KneeInsert] {
                let b = self.pick_brand(rng, c);
                implants.push(self.implant(rng, b, date));
            }
        }
        let resurfaced = procedure == "PFJ" || (procedure == "TOTAL" && rng.random_bool(0.4));
        if resurfaced {
            let b = self.pick_brand(rng, Category::KneePatella);
            implants.push(self.implant(rng, b, date));
        }
        let mut fields = vec![
            ("kp_side", side.to_owned()),
            ("kp_operation_date", date.to_string()),
            ("kp_procedure_type", procedure.to_owned()),
        ];
        if procedure == "TOTAL" {
            fields.push(("kp_constraint", pick(rng, &[("CR", 0.62), ("PS", 0.33), ("MS", 0.05)]).to_owned()));
        }
        fields.extend([
            ("kp_indication", pick(rng, &[("OA", 0.97), ("INFLAM", 0.02), ("PTOA", 0.01)]).to_owned()),
            ("kp_asa_grade", asa.to_owned()),
            ("kp_bmi", format!("{:.1}", bmi + 1.5)),
            ("kp_surgeon_grade", pick(rng, &[("CONS", 0.84), ("SAS", 0.07), ("SPR", 0.09)]).to_owned()),
            ("kp_surgeon_gmc", gmc(rng, org)),
            ("kp_anaesthetic", pick(rng, &[("SPINAL", 0.60), ("GA", 0.18), ("GABLOCK", 0.22)]).to_owned()),
            ("kp_chemical_prophylaxis", pick(rng, &[("LMWH", 0.50), ("DOAC", 0.30), ("ASPIRIN", 0.20)]).to_owned()),
            (
                "kp_mechanical_prophylaxis",
                pick(rng, &[("STOCK", 0.5), ("IPC", 0.2), ("BOTH", 0.2), ("NONE", 0.1)]).to_owned(),
            ),
            ("kp_approach", pick(rng, &[("MEDPARA", 0.90), ("SUBVAST", 0.05), ("MIDVAST", 0.05)]).to_owned()),
            ("kp_fixation", pick(rng, &[("CEM", 0.86), ("UNCEM", 0.08), ("HYBRID", 0.06)]).to_owned()),
            ("kp_patella_resurfaced", if resurfaced { "yes" } else { "no" }.to_owned()),
            ("kp_bone_graft", if rng.random_bool(0.02) { "yes" } else { "no" }.to_owned()),
            ("kp_intraop_event", if rng.random_bool(0.01) { "LIGAMENT" } else { "NONE" }.to_owned()),
            ("kp_funding", self.funding(org)),
        ]);
        (SynthRecord { form: "knee_primary", organisation: org, fields, implants }, hazard)
    }

    #[allow(clippy::too_many_arguments)]
    fn hip_revision(
        &self,
        rng: &mut ChaCha8Rng,
        org: usize,
        side: &str,
        date: Date,
        asa: &str,
        early: bool,
        mom: bool,
    ) -> SynthRecord {
        let indication = if mom && rng.random_bool(0.5) {
            "ARMD"
        } else if early {
            pick(rng, &[("INFECT", 0.45), ("DISLOC", 0.40), ("PPFRAC", 0.15)])
        } else {
            pick(
                rng,
                &[
                    ("ASEPLOOSE", 0.45),
                    ("PAIN", 0.15),
                    ("WEAR", 0.12),
                    ("LYSIS", 0.10),
                    ("DISLOC", 0.10),
                    ("PPFRAC", 0.08),
                ],
            )
        };
        let stage = if indication == "INFECT" {
            pick(rng, &[("SINGLE", 0.4), ("STAGE1", 0.5), ("DAIR", 0.1)])
        } else {
            "SINGLE"
        };
        let (removed, inserted) = match stage {
            "STAGE1" => ("CUPSTEM", "SPACER"),
            "DAIR" => ("HEADLINER", "HEADLINER"),
            _ => pick(
                rng,
                &[
                    (("CUP", "CUP"), 0.4),
                    (("CUPSTEM", "CUPSTEM"), 0.3),
                    (("HEADLINER", "HEADLINER"), 0.2),
                    (("STEM", "STEM"), 0.1),
                ],
            ),
        };
        let mut implants = Vec::new();
        if inserted != "SPACER" {
            let cat = if inserted.contains("CUP") { Category::AcetabularCup } else { Category::HipStem };
            let b = self.pick_replacement_brand(rng, cat);
            implants.push(self.implant(rng, b, date));
        }
        let mut fields = vec![
            ("hr_side", side.to_owned()),
            ("hr_operation_date", date.to_string()),
            ("hr_revision_stage", stage.to_owned()),
            ("hr_indication", indication.to_owned()),
            ("hr_asa_grade", asa.to_owned()),
            ("hr_surgeon_grade", "CONS".to_owned()),
            ("hr_surgeon_gmc", gmc(rng, org)),
            ("hr_anaesthetic", pick(rng, &[("GA", 0.5), ("SPINAL", 0.3), ("GASPINAL", 0.2)]).to_owned()),
            ("hr_chemical_prophylaxis", pick(rng, &[("LMWH", 0.6), ("DOAC", 0.3), ("ASPIRIN", 0.1)]).to_owned()),
            ("hr_mechanical_prophylaxis", pick(rng, &[("STOCK", 0.5), ("IPC", 0.3), ("BOTH", 0.2)]).to_owned()),
            ("hr_approach", pick(rng, &[("POST", 0.75), ("LAT", 0.15), ("TROCH", 0.10)]).to_owned()),
            ("hr_components_removed", removed.to_owned()),
            ("hr_components_inserted", inserted.to_owned()),
        ];
        if inserted != "SPACER" {
            fields.push(("hr_fixation", pick(rng, &[("CEM", 0.5), ("UNCEM", 0.5)]).to_owned()));
        }
        fields.extend([
            ("hr_bone_graft", if rng.random_bool(0.3) { "yes" } else { "no" }.to_owned()),
            ("hr_intraop_event", if rng.random_bool(0.05) { "SHAFTFRAC" } else { "NONE" }.to_owned()),
            ("hr_funding", self.funding(org)),
        ]);
        SynthRecord { form: "hip_revision", organisation: org, fields, implants }
    }

    fn knee_revision(
        &self,
        rng: &mut ChaCha8Rng,
        org: usize,
        side: &str,
        date: Date,
        asa: &str,
        early: bool,
    ) -> SynthRecord {
        let indication = if early {
            pick(rng, &[("INFECT", 0.55), ("INSTAB", 0.30), ("STIFF", 0.15)])
        } else {
            pick(
                rng,
                &[
                    ("ASEPLOOSE", 0.35),
                    ("PAIN", 0.20),
                    ("INSTAB", 0.15),
                    ("PROGARTH", 0.10),
                    ("WEAR", 0.10),
                    ("LYSIS", 0.10),
                ],
            )
        };
        let stage = if indication == "INFECT" {
            pick(rng, &[("SINGLE", 0.3), ("STAGE1", 0.5), ("DAIR", 0.2)])
        } else {
            "SINGLE"
        };
        let (removed, inserted) = match stage {
            "STAGE1" => ("ALL", "SPACER"),
            "DAIR" => ("INSERT", "INSERT"),
            _ => pick(
                rng,
                &[
                    (("ALL", "ALL"), 0.6),
                    (("INSERT", "INSERT"), 0.15),
                    (("PARTIAL", "PARTIAL"), 0.15),
                    (("NONE", "PATELLA"), 0.10),
                ],
            ),
        };
        let mut implants = Vec::new();
        if inserted != "SPACER" {
            let cat = if inserted == "PATELLA" { Category::KneePatella } else { Category::KneeInsert };
            let b = self.pick_brand(rng, cat);
            implants.push(self.implant(rng, b, date));
        }
        let mut fields = vec![
            ("kr_side", side.to_owned()),
            ("kr_operation_date", date.to_string()),
            ("kr_revision_stage", stage.to_owned()),
            ("kr_indication", indication.to_owned()),
            ("kr_asa_grade", asa.to_owned()),
            ("kr_surgeon_grade", "CONS".to_owned()),
            ("kr_surgeon_gmc", gmc(rng, org)),
            ("kr_anaesthetic", pick(rng, &[("GA", 0.5), ("SPINAL", 0.4), ("GABLOCK", 0.1)]).to_owned()),
            ("kr_chemical_prophylaxis", pick(rng, &[("LMWH", 0.6), ("DOAC", 0.3), ("ASPIRIN", 0.1)]).to_owned()),
            ("kr_mechanical_prophylaxis", pick(rng, &[("STOCK", 0.5), ("IPC", 0.3), ("BOTH", 0.2)]).to_owned()),
            ("kr_approach", pick(rng, &[("MEDPARA", 0.85), ("QUADSNIP", 0.10), ("TTO", 0.05)]).to_owned()),
            ("kr_components_removed", removed.to_owned()),
            ("kr_components_inserted", inserted.to_owned()),
        ];
        if inserted != "SPACER" && inserted != "PATELLA" {
            fields.push(("kr_constraint", pick(rng, &[("PS", 0.5), ("CCK", 0.4), ("HINGE", 0.1)]).to_owned()));
            fields.push(("kr_fixation", "CEM".to_owned()));
        }
        fields.extend([
            ("kr_bone_graft", if rng.random_bool(0.2) { "yes" } else { "no" }.to_owned()),
            ("kr_intraop_event", if rng.random_bool(0.03) { "FEMFRAC" } else { "NONE" }.to_owned()),
            ("kr_funding", self.funding(org)),
        ]);
        SynthRecord { form: "knee_revision", organisation: org, fields, implants }
    }

    fn funding(&self, org: usize) -> String {
        match self.organisations[org].kind {
            OrganisationKind::NhsTrust => "NHS",
            OrganisationKind::IndependentSector => "IND",
        }
        .to_owned()
    }

    fn breast_patient(&self, rng: &mut ChaCha8Rng, nhs: NhsNumber) -> SynthPatient {
        let female = rng.random_bool(0.985);
        let reconstruction = rng.random_bool(0.3);
        let age: f64 = Normal::<f64>::new(if reconstruction { 50.0 } else { 33.0 }, 9.0)
            .expect("valid")
            .sample(rng)
            .clamp(18.0, 85.0);
        let years_back = 15.0 * rng.random::<f64>();
        let date = self.config.cutoff - Duration::days((years_back * 365.25) as i64 + 1);
        let dob = date - Duration::days((age * 365.25) as i64) - Duration::days(rng.random_range(0..365));
        let mut p = self.common(rng, "bcir", nhs, female, dob);
        let death = self.death_after(rng, date, age);
        p.date_of_death = death;
        let end = death.unwrap_or(self.config.cutoff);
        let org = self.pick_org(rng, true);
        let bilateral = rng.random_bool(if reconstruction { 0.3 } else { 0.85 });
        let brand = self.pick_brand(rng, Category::BreastImplant);
        let sides: &[&str] = if bilateral {
            &["L", "R"]
        } else if rng.random_bool(0.5) {
            &["L"]
        } else {
            &["R"]
        };
        let indication = if reconstruction {
            pick(rng, &[("RECONCA", 0.8), ("RISKRED", 0.2)])
        } else {
            pick(rng, &[("COSMETIC", 0.95), ("CONGEN", 0.05)])
        };
        let plane = pick(rng, &[("SUBPEC", 0.35), ("DUAL", 0.30), ("SUBGL", 0.25), ("PREPEC", 0.10)]);
        for side in sides {
            let implant = self.implant(rng, brand, date);
            let mut fields = breast_op_common(rng, side, date, "PRIMARY", indication, org);
            fields.push(("op_plane", plane.to_owned()));
            p.records.push(SynthRecord {
                form: "implant_operation",
                organisation: org,
                fields,
                implants: vec![implant],
            });
            let rate = 0.012 * brand.hazard;
            let years = -rng.random::<f64>().max(1e-12).ln() / rate;
            let rev_date = date + Duration::days((years * 365.25) as i64 + 1);
            if rev_date <= end {
                let explant = rng.random_bool(0.3);
                let reason = if brand.is_poor_performer() && rng.random_bool(0.6) {
                    "RUPTURE"
                } else {
                    pick(
                        rng,
                        &[("CAPCON", 0.45), ("RUPTURE", 0.2), ("MALPOS", 0.15), ("PATREQ", 0.15), ("INFECT", 0.05)],
                    )
                };
                let op = if explant { "EXPLANT" } else { "REVISION" };
                let mut fields = breast_op_common(rng, side, rev_date, op, reason, org);
                if !explant {
                    fields.push(("op_plane", plane.to_owned()));
                }
                fields.push((
                    "op_capsule_management",
                    pick(rng, &[("CAPSULOTOMY", 0.3), ("PARTIAL", 0.3), ("TOTAL", 0.3), ("ENBLOC", 0.1)]).to_owned(),
                ));
                fields.push((
                    "op_removed_implant_state",
                    if reason == "RUPTURE" { pick(rng, &[("INTRA", 0.6), ("EXTRA", 0.4)]) } else { "INTACT" }
                        .to_owned(),
                ));
                let implants = if explant {
                    vec![]
                } else {
                    let b = self.pick_replacement_brand(rng, Category::BreastImplant);
                    vec![self.implant(rng, b, rev_date)]
                };
                p.records.push(SynthRecord { form: "implant_operation", organisation: org, fields, implants });
            }
        }
        p.records.sort_by_key(|r| r.fields.iter().find(|(k, _)| *k == "op_operation_date").map(|(_, v)| v.clone()));
        p
    }
}

fn breast_op_common(
    rng: &mut ChaCha8Rng,
    side: &str,
    date: Date,
    op: &str,
    indication: &str,
    org: usize,
) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("op_side", side.to_owned()),
        ("op_operation_date", date.to_string()),
        ("op_operation_type", op.to_owned()),
        ("op_indication", indication.to_owned()),
    ];
    if indication == "CAPCON" {
        fields.push(("op_baker_grade", pick(rng, &[("III", 0.6), ("IV", 0.4)]).to_owned()));
    }
    if indication == "RECONCA" || indication == "RISKRED" {
        fields.push(("op_reconstruction_timing", pick(rng, &[("IMMED", 0.6), ("DELAYED", 0.4)]).to_owned()));
    }
    fields.extend([
        ("op_setting", if indication == "COSMETIC" { "IND" } else { "NHS" }.to_owned()),
        ("op_surgeon_gmc", gmc(rng, org)),
        ("op_surgeon_specialty", pick(rng, &[("PLAST", 0.7), ("BREAST", 0.3)]).to_owned()),
        ("op_incision", pick(rng, &[("IMF", 0.75), ("PERI", 0.15), ("AXIL", 0.05), ("MAST", 0.05)]).to_owned()),
        ("op_adm_mesh", if rng.random_bool(0.15) { "yes" } else { "no" }.to_owned()),
        ("op_nipple_shield", if rng.random_bool(0.3) { "yes" } else { "no" }.to_owned()),
        ("op_antibiotic_irrigation", if rng.random_bool(0.7) { "yes" } else { "no" }.to_owned()),
        ("op_drain", if rng.random_bool(0.4) { "yes" } else { "no" }.to_owned()),
    ]);
    fields
}

fn follow_up(rng: &mut ChaCha8Rng, org: usize, joint: &str, side: &str, date: Date) -> SynthRecord {
    let score = Normal::<f64>::new(38.0, 8.0).expect("valid").sample(rng).clamp(0.0, 48.0) as i64;
    let fields = vec![
        ("fu_date", date.to_string()),
        ("fu_joint", joint.to_owned()),
        ("fu_side", side.to_owned()),
        ("fu_timepoint", "Y1".to_owned()),
        ("fu_respondent", "PAT".to_owned()),
        ("fu_mode", pick(rng, &[("PAPER", 0.6), ("WEB", 0.4)]).to_owned()),
        ("fu_oxford_score", score.to_string()),
        (
            "fu_satisfaction",
            pick(rng, &[("EXC", 0.35), ("VGOOD", 0.3), ("GOOD", 0.2), ("FAIR", 0.1), ("POOR", 0.05)]).to_owned(),
        ),
    ];
    SynthRecord { form: "follow_up", organisation: org, fields, implants: vec![] }
}

/// A 7-digit GMC-style number; each organisation has a pool of about 12 surgeons.
fn gmc(rng: &mut ChaCha8Rng, org: usize) -> String {
    format!("{}", 4_000_000 + org as u64 * 37 + rng.random_range(0..12u64) * 10_007 % 999_983)
}

/// One of `options`, drawn with the given probabilities (the last absorbs any rounding).
fn pick<T: Copy>(rng: &mut ChaCha8Rng, options: &[(T, f64)]) -> T {
    let mut u: f64 = rng.random();
    for (v, p) in options {
        if u < *p {
            return *v;
        }
        u -= p;
    }
    options[options.len() - 1].0
}

/// The ODS code of organisation `i` of a world (for CSV output).
pub fn ods(world: &World, i: usize) -> &OdsCode {
    &world.organisations[i].ods
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_and_index_give_the_same_patient() {
        let w = World::new(SynthConfig::new(1000, 42));
        assert_eq!(w.patient(5), w.patient(5));
        assert_ne!(w.patient(5), w.patient(6));
        let w2 = World::new(SynthConfig::new(1000, 42));
        assert_eq!(w.patient(123), w2.patient(123));
        assert_eq!(w.organisations, w2.organisations);
    }

    #[test]
    fn nhs_numbers_are_valid_test_numbers_and_unique_within_a_registry() {
        let w = World::new(SynthConfig::new(20_000, 1));
        let mut seen = std::collections::HashSet::new();
        for i in 0..20_000 {
            let p = w.patient(i);
            assert!(p.nhs_number.is_test_number());
            assert!(seen.insert((p.registry, p.nhs_number.digits())), "duplicate at {i}");
        }
    }

    #[test]
    fn a_world_too_big_for_the_test_nhs_numbers_says_so_before_any_patient_is_drawn() {
        assert_eq!(World::new(SynthConfig::new(1_000_000, 1)).capacity_problem(), None);
        let hips_only = SynthConfig { hip_share: 1.0, breast_share: 0.0, ..SynthConfig::new(900_001, 1) };
        let problem = World::new(hips_only).capacity_problem().expect("900,001 joint patients are too many");
        assert!(problem.contains("900001 in the joint replacement registry"), "{problem}");
        let last_fitting = SynthConfig { hip_share: 1.0, breast_share: 0.0, ..SynthConfig::new(900_000, 1) };
        let w = World::new(last_fitting);
        assert_eq!(w.capacity_problem(), None);
        assert!(w.patient(899_999).nhs_number.is_test_number());
    }

    #[test]
    fn there_are_about_150_organisations_with_an_outlier() {
        let w = World::new(SynthConfig::new(10, 7));
        assert!((140..=160).contains(&w.organisations.len()));
        assert!(w.outlier < w.organisations.len());
    }
}
