//! `tessera import`: a CSV of one form's records into one registry, all or nothing by default.
//!
//! The file's columns are `organisation`, the patient columns ([`PATIENT_COLUMNS`]) and any of
//! the form's fields. Every row is validated (patient and record) and every problem reported as
//! (line, field, reason) — never with the value, which could be an identifier in the wrong
//! column. The import is one transaction: a rejected file, a crash or `kill -9` leaves nothing.
//! A row whose patient is already in the registry (same NHS number) adds its record to that
//! patient and brings the patient's date of death and stated opt-out up to date; names and date
//! of birth are not compared (that would mean decrypting every match).
//! Imports are idempotent by submission id (by default the SHA-256 of registry, form and file).
//!
//! Work is pipelined: a blocking thread reads the CSV in chunks and validates and encrypts each
//! chunk in parallel (rayon) while the async side writes the previous chunk to the database.

use std::collections::{HashMap, HashSet};
use std::io::Read as _;
use std::path::Path;
use std::sync::Arc;

use rayon::prelude::*;
use sha2::{Digest, Sha256};
use tessera_domain::{Dictionary, Form, OdsCode, PatientInput, Problems, RegistryId};
use tessera_store::{
    NewPatient, NewRecord, PatientStatus, RegistryCipher, Store, StoreError, SubmissionInfo, validate_entry,
};
use tessera_vault::MasterKey;
use time::Date;

/// Patient columns of an import file. `date_of_death` and `opted_out` may be left out.
pub const PATIENT_COLUMNS: [&str; 9] = [
    "nhs_number",
    "family_name",
    "given_name",
    "date_of_birth",
    "sex",
    "postcode",
    "date_of_death",
    "opted_out",
    "consent",
];
const OPTIONAL_PATIENT_COLUMNS: [&str; 2] = ["date_of_death", "opted_out"];
/// The column naming the organisation (ODS code) that submits the record.
pub const ORGANISATION_COLUMN: &str = "organisation";
const CHUNK_ROWS: usize = 8192;

/// How to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Store the good rows even if some are bad (default: reject the whole file).
    pub allow_partial: bool,
    /// The submission id; by default derived from the file's content.
    pub submission_id: Option<String>,
    /// Today, for "not in the future" rules.
    pub today: Date,
    /// Show a progress bar on the terminal.
    pub progress: bool,
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowProblem {
    /// Line of the file (the header is line 1).
    pub line: u64,
    /// Column at fault.
    pub field: String,
    /// Why.
    pub reason: String,
}

/// What happened to the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportOutcome {
    /// Rows were stored (all of them, or with `allow_partial` the good ones).
    Stored,
    /// Bad rows were found and nothing was stored.
    Rejected,
    /// This submission was imported before; nothing was done.
    AlreadyImported(SubmissionInfo),
}

/// The result of an import.
#[derive(Debug, Clone)]
pub struct ImportReport {
    /// The submission id.
    pub submission_id: String,
    /// What happened.
    pub outcome: ImportOutcome,
    /// Data rows in the file.
    pub rows_total: u64,
    /// Rows stored.
    pub rows_stored: u64,
    /// Rows with at least one problem.
    pub rows_rejected: u64,
    /// New patients created.
    pub new_patients: u64,
    /// Every problem, in file order.
    pub problems: Vec<RowProblem>,
}

/// Why an import could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The form is not in the registry's dictionary.
    #[error("registry {registry} has no form {form:?} (forms: {known})")]
    UnknownForm {
        /// Registry.
        registry: String,
        /// Form asked for.
        form: String,
        /// Forms it has.
        known: String,
    },
    /// The header row is wrong; nothing was read further.
    #[error("the file's header is not usable: {0}")]
    Header(String),
    /// The file could not be read as CSV.
    #[error("the file cannot be read as CSV at line {line}: {message}")]
    Csv {
        /// Where.
        line: u64,
        /// What.
        message: String,
    },
    /// Reading the file failed.
    #[error("cannot read the file: {0}")]
    Io(#[from] std::io::Error),
    /// Storage failed; the transaction was rolled back.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where each known column is in the file.
struct Columns {
    organisation: usize,
    patient: [Option<usize>; 9],
    fields: Vec<(String, usize)>,
}

/// How a header cell is named in messages: by its text only if it looks like a column name.
/// A file exported without its header row has a patient's identifiers in "header" cells, and
/// those must never reach an error message.
fn describe_column(index: usize, name: &str) -> String {
    let looks_like_a_name = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if looks_like_a_name { format!("column {name:?}") } else { format!("column {} (not a column name)", index + 1) }
}

fn columns(headers: &csv::ByteRecord, form: &Form) -> Result<Columns, ImportError> {
    let names: Vec<String> = headers.iter().map(|h| String::from_utf8_lossy(h).trim().to_owned()).collect();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    for (i, n) in names.iter().enumerate() {
        if !seen.insert(n.as_str()) {
            problems.push(format!("{} appears twice", describe_column(i, n)));
        }
    }
    let find = |n: &str| names.iter().position(|h| h == n);
    let organisation = find(ORGANISATION_COLUMN);
    if organisation.is_none() {
        problems.push(format!("column {ORGANISATION_COLUMN:?} is missing"));
    }
    let patient = PATIENT_COLUMNS.map(find);
    for (name, pos) in PATIENT_COLUMNS.iter().zip(&patient) {
        if pos.is_none() && !OPTIONAL_PATIENT_COLUMNS.contains(name) {
            problems.push(format!("column {name:?} is missing"));
        }
    }
    let mut fields = Vec::new();
    for (i, n) in names.iter().enumerate() {
        if n == ORGANISATION_COLUMN || PATIENT_COLUMNS.contains(&n.as_str()) {
            continue;
        }
        match form.field(n) {
            Some(_) => fields.push((n.clone(), i)),
            None => problems.push(format!(
                "{} is not a field of the form {:?}",
                describe_column(i, n),
                form.name().as_str()
            )),
        }
    }
    for f in form.fields() {
        if f.required() && find(f.name().as_str()).is_none() {
            problems.push(format!("column {:?} is required by the form but missing", f.name().as_str()));
        }
    }
    if !problems.is_empty() {
        return Err(ImportError::Header(problems.join("; ")));
    }
    Ok(Columns { organisation: organisation.expect("checked"), patient, fields })
}

/// A row that passed validation, encrypted and ready to write.
struct Prepared {
    patient: NewPatient,
    record: NewRecord,
    /// The row's date of death and stated opt-out, applied if the patient already exists.
    date_of_death: Option<Date>,
    opted_out: Option<bool>,
}

/// Everything the preparing thread needs, shared read-only.
struct Context {
    dict: Dictionary,
    form_name: String,
    version: u32,
    cipher: RegistryCipher,
    key_version: i32,
    organisations: HashSet<String>,
    today: Date,
    columns: Columns,
}

type RowResult = Result<Prepared, Vec<RowProblem>>;

/// A patient's date of death and opt-out as this import last wrote them.
type Facts = (Option<Date>, bool);

impl Context {
    fn prepare(&self, line: u64, row: &csv::ByteRecord) -> Result<RowResult, StoreError> {
        let mut problems = Problems::new();
        // Borrow every cell from the row: no copies until validation keeps a value.
        let text = |i: usize, problems: &mut Problems, name: &str| -> &str {
            match std::str::from_utf8(row.get(i).unwrap_or_default()) {
                Ok(s) => s,
                Err(_) => {
                    problems.push(name, "is not valid UTF-8 text");
                    ""
                }
            }
        };
        let mut p = [""; 9];
        for ((slot, name), i) in p.iter_mut().zip(PATIENT_COLUMNS).zip(&self.columns.patient) {
            if let Some(i) = i {
                *slot = text(*i, &mut problems, name);
            }
        }
        let org_text = text(self.columns.organisation, &mut problems, ORGANISATION_COLUMN);
        let pairs: Vec<(&str, &str)> =
            self.columns.fields.iter().map(|(name, i)| (name.as_str(), text(*i, &mut problems, name))).collect();

        let org = match OdsCode::parse(org_text) {
            Ok(code) if self.organisations.contains(code.as_str()) => Some(code),
            Ok(_) => {
                problems.push(ORGANISATION_COLUMN, "is not a known organisation (load it first)");
                None
            }
            Err(e) => {
                problems.push(ORGANISATION_COLUMN, e.to_string());
                None
            }
        };
        let input = PatientInput {
            nhs_number: p[0],
            family_name: p[1],
            given_name: p[2],
            date_of_birth: p[3],
            sex: p[4],
            postcode: p[5],
            date_of_death: p[6],
            opted_out: p[7],
            consent: p[8],
        };
        let form = self.dict.form(&self.form_name).expect("form checked before import");
        let entry = validate_entry(&self.dict, form, &input, &pairs, self.today).map_err(|e| problems.extend(e)).ok();
        match (entry, org) {
            (Some((patient, record)), Some(org)) if problems.is_empty() => {
                let date_of_death = patient.date_of_death();
                let opted_out = (!p[7].trim().is_empty()).then(|| patient.opted_out());
                let patient = NewPatient::seal(&patient, &self.cipher, self.key_version)?;
                let record = NewRecord::new(self.dict.registry(), patient.id(), &org, form, &record, self.version);
                Ok(Ok(Prepared { patient, record, date_of_death, opted_out }))
            }
            _ => Ok(Err(problems.into_iter().map(|p| RowProblem { line, field: p.field, reason: p.reason }).collect())),
        }
    }
}

/// SHA-256 over registry, form and file content, and the file's line count.
fn fingerprint(path: &Path, registry: &str, form: &str) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    hasher.update(format!("tessera-submission-v1\n{registry}\n{form}\n").as_bytes());
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut lines = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count() as u64;
        hasher.update(&buf[..n]);
    }
    Ok((hex::encode(hasher.finalize()), lines))
}

/// A batch of prepared rows, or a fatal error from the reading thread.
type Chunk = Result<Vec<(u64, RowResult)>, ImportError>;

/// Imports `path` as records of `form` into `registry`.
pub async fn import_csv(
    store: &Store,
    master: &MasterKey,
    registry: &RegistryId,
    form: &str,
    path: &Path,
    opts: &ImportOptions,
) -> Result<ImportReport, ImportError> {
    let (version, dict) = store.latest_dictionary(registry).await?;
    let Some(form_def) = dict.form(form) else {
        let known = dict.forms().iter().map(|f| f.name().to_string()).collect::<Vec<_>>().join(", ");
        return Err(ImportError::UnknownForm { registry: registry.to_string(), form: form.to_owned(), known });
    };
    let (key_version, cipher) = store.registry_cipher(registry, master).await?;
    let organisations: HashSet<String> = store.organisations().await?.into_iter().map(|o| o.ods.to_string()).collect();

    let (digest, lines) = {
        let (path, registry, form) = (path.to_owned(), registry.to_string(), form.to_owned());
        tokio::task::spawn_blocking(move || fingerprint(&path, &registry, &form)).await.expect("hashing thread")?
    };
    // 128 bits of the digest are plenty to recognise a file again, and keep every record's
    // submission tag short.
    let submission_id = opts.submission_id.clone().unwrap_or_else(|| format!("sha256-{}", &digest[..32]));
    if let Some(info) = store.submission(registry, &submission_id).await? {
        return Ok(ImportReport {
            submission_id,
            rows_total: info.rows_total as u64,
            rows_stored: 0,
            rows_rejected: 0,
            new_patients: 0,
            problems: Vec::new(),
            outcome: ImportOutcome::AlreadyImported(info),
        });
    }

    let mut reader = csv::ReaderBuilder::new().has_headers(true).from_path(path).map_err(csv_error)?;
    let columns = columns(reader.byte_headers().map_err(csv_error)?, form_def)?;
    let ctx = Arc::new(Context {
        form_name: form.to_owned(),
        dict: dict.clone(),
        version,
        cipher,
        key_version,
        organisations,
        today: opts.today,
        columns,
    });

    let (tx, mut rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    let producer = tokio::task::spawn_blocking(move || read_and_prepare(reader, &ctx, &tx));

    let bar = progress_bar(opts.progress, lines.saturating_sub(1));
    let mut writer = store.writer(registry).await?;
    let fresh_registry = !writer.registry_has_patients().await?;
    // Patients seen so far, by blind index: their id, and for those this import creates, the
    // facts it wrote (so a second row of the same patient updates only what changed).
    let mut known: HashMap<Vec<u8>, (uuid::Uuid, Option<Facts>)> = HashMap::new();
    let (mut total, mut stored, mut rejected, mut new_patients) = (0u64, 0u64, 0u64, 0u64);
    let mut problems = Vec::new();
    let mut next_log = 100_000u64;
    let (mut write_patients, mut write_records) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    while let Some(chunk) = rx.recv().await {
        let chunk = chunk?;
        total += chunk.len() as u64;
        let mut good = Vec::with_capacity(chunk.len());
        for (_, row) in chunk {
            match row {
                Ok(p) => good.push(p),
                Err(mut ps) => {
                    rejected += 1;
                    problems.append(&mut ps);
                }
            }
        }
        bar.set_position(total);
        if rejected > 0 && !opts.allow_partial {
            // The file will be rejected: keep validating to report every problem, write no more.
            continue;
        }
        if !fresh_registry {
            let mut unknown: Vec<Vec<u8>> = good
                .iter()
                .filter_map(|p| p.patient.blind_index())
                .filter(|b| !known.contains_key(*b))
                .map(<[u8]>::to_vec)
                .collect();
            unknown.sort_unstable();
            unknown.dedup();
            known.extend(writer.existing_patients(&unknown).await?.into_iter().map(|(b, id)| (b, (id, None))));
        }
        let mut patients = Vec::new();
        let mut updates = Vec::new();
        let mut records = Vec::with_capacity(good.len());
        for Prepared { patient, record, date_of_death, opted_out } in good {
            let id = match patient.blind_index() {
                Some(b) => match known.get_mut(b) {
                    Some((existing, facts)) => {
                        let unchanged = facts.is_some_and(|(dod, opt)| {
                            date_of_death.is_none_or(|d| Some(d) == dod) && opted_out.is_none_or(|o| o == opt)
                        });
                        if !unchanged && (date_of_death.is_some() || opted_out.is_some()) {
                            updates.push(PatientStatus { patient_id: *existing, date_of_death, opted_out });
                            if let Some((dod, opt)) = facts {
                                *dod = date_of_death.or(*dod);
                                *opt = opted_out.unwrap_or(*opt);
                            }
                        }
                        *existing
                    }
                    None => {
                        let facts = (date_of_death, opted_out.unwrap_or(false));
                        known.insert(b.to_vec(), (patient.id(), Some(facts)));
                        let id = patient.id();
                        patients.push(patient);
                        id
                    }
                },
                None => {
                    let id = patient.id();
                    patients.push(patient);
                    id
                }
            };
            records.push(record.with_patient(id));
        }
        let t0 = std::time::Instant::now();
        writer.insert_patients(&patients).await?;
        writer.update_patient_status(&updates).await?;
        let t1 = std::time::Instant::now();
        writer.insert_records(&records, Some(&submission_id)).await?;
        write_patients += t1 - t0;
        write_records += t1.elapsed();
        new_patients += patients.len() as u64;
        stored += records.len() as u64;
        if stored >= next_log {
            tracing::info!(rows_written = stored, "import progress (uncommitted)");
            next_log += 100_000;
        }
    }
    producer.await.expect("reading thread");
    tracing::debug!(?write_patients, ?write_records, "time spent writing");
    bar.finish_and_clear();

    let base = ImportReport {
        submission_id: submission_id.clone(),
        outcome: ImportOutcome::Stored,
        rows_total: total,
        rows_stored: 0,
        rows_rejected: rejected,
        new_patients: 0,
        problems,
    };
    if rejected > 0 && !opts.allow_partial {
        drop(writer); // rolls back everything written so far
        return Ok(ImportReport { outcome: ImportOutcome::Rejected, ..base });
    }
    let info = SubmissionInfo {
        id: submission_id,
        form: form.to_owned(),
        rows_total: total as i64,
        rows_stored: stored as i64,
        rows_rejected: rejected as i64,
        created_at: time::OffsetDateTime::now_utc(),
    };
    let source = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    writer.add_submission(&info, &source).await?;
    writer.commit().await?;
    Ok(ImportReport { rows_stored: stored, new_patients, ..base })
}

fn csv_error(e: csv::Error) -> ImportError {
    let line = e.position().map_or(0, |p| p.line());
    match e.into_kind() {
        csv::ErrorKind::Io(io) => ImportError::Io(io),
        other => ImportError::Csv { line, message: format!("{other:?}") },
    }
}

/// Runs on a blocking thread: reads chunks of rows, prepares each chunk in parallel, sends it on.
fn read_and_prepare(mut reader: csv::Reader<std::fs::File>, ctx: &Context, tx: &tokio::sync::mpsc::Sender<Chunk>) {
    let header_len = reader.byte_headers().map(|h| h.len()).unwrap_or(0);
    let mut rows: Vec<(u64, csv::ByteRecord)> = Vec::with_capacity(CHUNK_ROWS);
    let mut bad_shape: Vec<(u64, RowResult)> = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        let more = match reader.read_byte_record(&mut record) {
            Ok(true) => {
                rows.push((record.position().map_or(0, |p| p.line()), record.clone()));
                true
            }
            Ok(false) => false,
            Err(e) => match e.kind() {
                csv::ErrorKind::UnequalLengths { pos, len, .. } => {
                    let line = pos.as_ref().map_or(0, |p| p.line());
                    let reason = format!("has {len} columns but the header has {header_len}");
                    bad_shape.push((line, Err(vec![RowProblem { line, field: "(row)".into(), reason }])));
                    true
                }
                _ => {
                    let _ = tx.blocking_send(Err(csv_error(e)));
                    return;
                }
            },
        };
        if rows.len() + bad_shape.len() >= CHUNK_ROWS || (!more && (!rows.is_empty() || !bad_shape.is_empty())) {
            let prepared: Result<Vec<(u64, RowResult)>, StoreError> =
                rows.par_iter().map(|(line, r)| ctx.prepare(*line, r).map(|res| (*line, res))).collect();
            let mut prepared = match prepared {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.blocking_send(Err(e.into()));
                    return;
                }
            };
            prepared.append(&mut bad_shape);
            prepared.sort_by_key(|(line, _)| *line);
            rows.clear();
            if tx.blocking_send(Ok(prepared)).is_err() {
                return; // the writer stopped (an error there); it reports why
            }
        }
        if !more {
            return;
        }
    }
}

fn progress_bar(show: bool, rows: u64) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(rows);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {pos}/{len} rows ({per_sec}, {eta} left)",
        )
        .expect("valid template"),
    );
    bar
}
