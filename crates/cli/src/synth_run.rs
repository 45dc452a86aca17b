//! `tessera synth`: synthetic data straight into the store (one transaction per registry) or as
//! import-ready CSV files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use rayon::prelude::*;
use tessera_domain::outcomes::OutcomeSpec;
use tessera_domain::{Dictionary, RegistryId};
use tessera_store::{NewImplant, NewPatient, NewRecord, Store};
use tessera_synth::{SynthPatient, World, ods};
use tessera_vault::MasterKey;
use time::Date;

use crate::import::{ORGANISATION_COLUMN, PATIENT_COLUMNS};

/// What a run produced.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    /// Patients written.
    pub patients: u64,
    /// Records written.
    pub records: u64,
    /// Implants written.
    pub implants: u64,
    /// Registries left alone because they already had patients.
    pub skipped: Vec<&'static str>,
}

const CHUNK: u64 = 4096;

type Prepared = (NewPatient, Vec<NewRecord>, Vec<NewImplant>);

#[allow(clippy::too_many_arguments)]
fn prepare(
    world: &World,
    dict: &Dictionary,
    version: u32,
    cipher: &tessera_store::RegistryCipher,
    key_version: i32,
    p: &SynthPatient,
    spec: Option<&OutcomeSpec>,
    today: Date,
) -> anyhow::Result<Prepared> {
    let text = p.text();
    let patient = p
        .input(&text)
        .parse(dict.consent_required(), today)
        .map_err(|e| anyhow::anyhow!("synthetic patient failed validation (a generator bug): {e}"))?;
    let new_patient = NewPatient::seal(&patient, cipher, key_version)?;
    let mut records = Vec::with_capacity(p.records.len());
    let mut implants = Vec::new();
    for r in &p.records {
        let form = dict.form(r.form).with_context(|| format!("form {} missing from dictionary", r.form))?;
        let pairs: Vec<(&str, &str)> = r.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let valid = dict
            .validate(form, &pairs, today)
            .map_err(|e| anyhow::anyhow!("synthetic {} record failed validation (a generator bug): {e}", r.form))?;
        let against_patient = valid.check_against(&patient);
        if !against_patient.is_empty() {
            bail!("synthetic {} record contradicts its patient (a generator bug): {against_patient}", r.form);
        }
        let org = ods(world, r.organisation);
        let record = NewRecord::new(dict.registry(), new_patient.id(), org, form, &valid, version);
        // Site, side and date as the outcome statistics read them from the record itself.
        let operation = if r.implants.is_empty() {
            None
        } else {
            let values: Vec<(String, String)> = r.fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            spec.and_then(|s| s.form(r.form))
                .map(|f| f.read(&values).map(|facts| (f.site.clone(), facts)))
                .transpose()?
        };
        for i in &r.implants {
            implants.push(NewImplant {
                record_id: record.id(),
                organisation: org.to_string(),
                gtin: i.gtin.clone(),
                lot: Some(i.lot.clone()),
                serial: i.serial.clone(),
                expiry: Some(i.expiry),
                entry: "synthetic",
                patient_id: Some(new_patient.id()),
                implanted_on: operation.as_ref().map(|(_, facts)| facts.date),
                manufactured: Some(i.manufactured),
                site: operation.as_ref().map(|(site, _)| site.clone()),
                side: operation.as_ref().map(|(_, facts)| facts.side.clone()),
            });
        }
        records.push(record);
    }
    Ok((new_patient, records, implants))
}

/// The synthetic catalogue as device-catalogue products, one per GTIN.
pub fn catalogue_products(world: &World) -> Vec<tessera_store::Product> {
    world
        .brands()
        .iter()
        .flat_map(|b| {
            b.gtins.iter().map(|gtin| tessera_store::Product {
                gtin: gtin.clone(),
                manufacturer: b.manufacturer.to_owned(),
                brand: b.name.to_owned(),
                category: b.category.label().to_owned(),
            })
        })
        .collect()
}

/// Refuses a world whose registries need more synthetic test NHS numbers than there are, before
/// anything is written (drawing such a patient would panic).
fn check_capacity(world: &World) -> anyhow::Result<()> {
    match world.capacity_problem() {
        Some(problem) => anyhow::bail!(problem),
        None => Ok(()),
    }
}

/// Generates the world's patients into the store, one transaction per registry. Both registries
/// must be loaded; a registry that already has patients is skipped (and named in the summary).
pub async fn synth_to_store(
    store: &Store,
    master: &MasterKey,
    world: &World,
    today: Date,
    progress: bool,
) -> anyhow::Result<SynthSummary> {
    check_capacity(world)?;
    store.upsert_organisations(&world.organisations).await?;
    store.upsert_products(&catalogue_products(world)).await?;
    let mut summary = SynthSummary::default();
    let n = world.config().patients;
    let bar = if progress { indicatif::ProgressBar::new(n) } else { indicatif::ProgressBar::hidden() };
    for registry in ["njr", "bcir"] {
        let id = RegistryId::parse(registry).expect("valid id");
        let (version, dict) = store
            .latest_dictionary(&id)
            .await
            .with_context(|| format!("registry {registry} must be loaded before synth (tessera registry load)"))?;
        let (key_version, cipher) = store.registry_cipher(&id, master).await?;
        let spec = OutcomeSpec::shipped(registry);
        let mut writer = store.writer(&id).await?;
        if writer.registry_has_patients().await? {
            // Each registry is filled in one transaction, so one that has patients is complete.
            summary.skipped.push(registry);
            continue;
        }
        let mut start = 0;
        while start < n {
            let end = (start + CHUNK).min(n);
            let prepared: anyhow::Result<Vec<Prepared>> = (start..end)
                .into_par_iter()
                .filter(|&i| world.registry_of(i) == registry)
                .map(|i| prepare(world, &dict, version, &cipher, key_version, &world.patient(i), spec.as_ref(), today))
                .collect();
            let prepared = prepared?;
            let mut patients = Vec::with_capacity(prepared.len());
            let mut records = Vec::new();
            let mut implants = Vec::new();
            for (p, mut r, mut i) in prepared {
                patients.push(p);
                records.append(&mut r);
                implants.append(&mut i);
            }
            writer.insert_patients(&patients).await?;
            writer.insert_records(&records, None).await?;
            writer.insert_implants(&implants).await?;
            summary.patients += patients.len() as u64;
            summary.records += records.len() as u64;
            summary.implants += implants.len() as u64;
            bar.inc(patients.len() as u64);
            start = end;
        }
        writer.commit().await?;
    }
    bar.finish_and_clear();
    Ok(summary)
}

/// Writes the world's organisations as a CSV that `tessera organisations load` reads.
pub fn write_organisations_csv(world: &World, path: &Path) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(["ods_code", "name", "kind", "region"])?;
    for o in &world.organisations {
        w.write_record([o.ods.as_str(), o.name.as_str(), o.kind.code(), o.region.as_str()])?;
    }
    w.flush()?;
    Ok(())
}

/// Reads an organisations CSV (`ods_code,name,kind,region`), reporting every bad row.
pub fn read_organisations_csv(path: &Path) -> anyhow::Result<Vec<tessera_domain::Organisation>> {
    let mut r = csv::Reader::from_path(path)?;
    let mut orgs = Vec::new();
    let mut problems = Vec::new();
    for row in r.records() {
        let row = row?;
        let line = row.position().map_or(0, |p| p.line());
        let get = |i: usize| row.get(i).unwrap_or("").trim().to_owned();
        let ods = tessera_domain::OdsCode::parse(&get(0));
        let kind = tessera_domain::OrganisationKind::from_code(&get(2));
        match (ods, kind) {
            (Ok(ods), Some(kind)) if !get(1).is_empty() => {
                orgs.push(tessera_domain::Organisation { ods, name: get(1), kind, region: get(3) })
            }
            (Err(e), _) => problems.push(format!("line {line}: ods_code: {e}")),
            (_, None) => problems.push(format!("line {line}: kind: must be nhs or independent")),
            _ => problems.push(format!("line {line}: name: is required")),
        }
    }
    if !problems.is_empty() {
        bail!("{} has {} problem(s); nothing was loaded:\n  {}", path.display(), problems.len(), problems.join("\n  "));
    }
    Ok(orgs)
}

/// The header of an import file for `form`: organisation, patient columns, every form field.
pub fn csv_header(dict: &Dictionary, form: &str) -> Vec<String> {
    let mut h = vec![ORGANISATION_COLUMN.to_owned()];
    h.extend(PATIENT_COLUMNS.iter().map(|c| (*c).to_owned()));
    if let Some(f) = dict.form(form) {
        h.extend(f.fields().iter().map(|f| f.name().to_string()));
    }
    h
}

fn csv_row(world: &World, p: &SynthPatient, r: &tessera_synth::SynthRecord, header: &[String]) -> Vec<String> {
    let text = p.text();
    let input = p.input(&text);
    let mut row = vec![ods(world, r.organisation).to_string()];
    row.extend(
        [
            input.nhs_number,
            input.family_name,
            input.given_name,
            input.date_of_birth,
            input.sex,
            input.postcode,
            input.date_of_death,
            input.opted_out,
            input.consent,
        ]
        .map(str::to_owned),
    );
    let values: BTreeMap<&str, &str> = r.fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    row.extend(
        header[1 + PATIENT_COLUMNS.len()..].iter().map(|f| values.get(f.as_str()).copied().unwrap_or("").to_owned()),
    );
    row
}

/// Writes one import-ready CSV per registry and form into `dir`; returns the files written.
pub fn synth_to_csv(world: &World, dictionaries: &[Dictionary], dir: &Path) -> anyhow::Result<Vec<(PathBuf, u64)>> {
    check_capacity(world)?;
    std::fs::create_dir_all(dir)?;
    let orgs = dir.join("organisations.csv");
    write_organisations_csv(world, &orgs)?;
    /// Per (registry, form): the open file, its header, rows written, its path.
    type FormFile = (csv::Writer<std::fs::File>, Vec<String>, u64, PathBuf);
    let mut writers: BTreeMap<(String, String), FormFile> = BTreeMap::new();
    for d in dictionaries {
        for f in d.forms() {
            let path = dir.join(format!("{}-{}.csv", d.registry(), f.name()));
            let header = csv_header(d, f.name().as_str());
            let mut w = csv::Writer::from_path(&path)?;
            w.write_record(&header)?;
            writers.insert((d.registry().to_string(), f.name().to_string()), (w, header, 0, path));
        }
    }
    for i in 0..world.config().patients {
        let p = world.patient(i);
        for r in &p.records {
            if let Some((w, header, count, _)) = writers.get_mut(&(p.registry.to_owned(), r.form.to_owned())) {
                w.write_record(csv_row(world, &p, r, header))?;
                *count += 1;
            }
        }
    }
    let mut out = vec![(orgs, world.organisations.len() as u64)];
    for (_, (mut w, _, count, path)) in writers {
        w.flush()?;
        out.push((path, count));
    }
    Ok(out)
}

/// Writes `rows` records of one form of one registry (for benchmarks and tests), and
/// `organisations.csv` beside it; returns the number of distinct patients in it.
pub fn synth_form_csv(world: &World, dict: &Dictionary, form: &str, rows: u64, path: &Path) -> anyhow::Result<u64> {
    check_capacity(world)?;
    write_organisations_csv(world, &path.with_file_name("organisations.csv"))?;
    let header = csv_header(dict, form);
    let mut w = csv::Writer::from_path(path)?;
    w.write_record(&header)?;
    let registry = dict.registry().as_str();
    let (mut written, mut patients, mut i) = (0u64, 0u64, 0u64);
    while written < rows {
        if i >= world.config().patients {
            bail!("only {written} {form} rows in {} patients: ask for more patients", world.config().patients);
        }
        if world.registry_of(i) == registry {
            let p = world.patient(i);
            let mut any = false;
            for r in p.records.iter().filter(|r| r.form == form) {
                if written < rows {
                    w.write_record(csv_row(world, &p, r, &header))?;
                    written += 1;
                    any = true;
                }
            }
            patients += u64::from(any);
        }
        i += 1;
    }
    w.flush()?;
    Ok(patients)
}
