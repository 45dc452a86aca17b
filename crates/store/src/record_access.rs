//! Records as the web reads and writes them: every query here takes the capability that allows
//! it ([`RecordsRead`] or [`RecordsWrite`], from `tessera_domain::access`), and answers only within
//! its registry and organisations. What lies outside reads exactly like what does not exist.
//!
//! - [`validate_entry`]: one patient and one record checked together, every problem at once (the
//!   same rules `tessera import` applies to each row).
//! - [`Store::enter_record`]: the patient found by blind index or created, and the record written,
//!   in one transaction.
//! - [`Store::readable_record`], [`Store::search_patient_records`], [`Store::list_records`]: reads
//!   narrowed to the capability's organisations.

use tessera_domain::access::{OrgSet, RecordsRead, RecordsWrite};
use tessera_domain::{Dictionary, Form, NhsNumber, Patient, PatientInput, Problems, ValidRecord};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{NewPatient, NewRecord, PatientStatus, RegistryCipher, Result, Store, StoreError, StoredRecord, on_db};

/// Validates a patient and one record of `form` together, as an import row is: the patient's
/// identifiers (kept only where the registry may hold them), the record against the dictionary,
/// and the record's dates against the patient's life. Every problem is returned; none repeats a
/// value.
pub fn validate_entry(
    dict: &Dictionary,
    form: &Form,
    patient: &PatientInput<'_>,
    values: &[(&str, &str)],
    today: Date,
) -> Result<(Patient, ValidRecord), Problems> {
    let mut problems = Problems::new();
    let patient = patient.parse(dict.consent_required(), today).map_err(|e| problems.extend(e)).ok();
    let record = dict.validate(form, values, today).map_err(|e| problems.extend(e)).ok();
    if let (Some(patient), Some(record)) = (&patient, &record) {
        problems.extend(record.check_against(patient));
    }
    match (patient, record) {
        (Some(p), Some(r)) if problems.is_empty() => Ok((p, r)),
        _ => Err(problems),
    }
}

/// What [`Store::enter_record`] wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnteredRecord {
    /// The new record.
    pub record_id: Uuid,
    /// Its patient.
    pub patient_id: Uuid,
    /// Whether the patient was new to the registry.
    pub new_patient: bool,
}

/// One record in a list: no identifiers, only what tells records apart.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordSummary {
    /// The record.
    pub id: Uuid,
    /// Its patient (a pseudonymous row id).
    pub patient_id: Uuid,
    /// Where it was entered.
    pub organisation: String,
    /// Its form.
    pub form: String,
    /// When its first revision was written.
    pub created_at: OffsetDateTime,
    /// Its newest revision's number.
    pub revision: u32,
}

/// (id, patient, organisation, form, created at, newest revision) as selected.
type SummaryRow = (Uuid, Uuid, String, String, OffsetDateTime, i32);

const SUMMARY_COLUMNS: &str = "r.id, r.patient_id, r.organisation, r.form, r.created_at, \
     (SELECT MAX(x.revision) FROM records x WHERE x.id = r.id)";

fn summaries(rows: Vec<SummaryRow>) -> Vec<RecordSummary> {
    rows.into_iter()
        .map(|(id, patient_id, organisation, form, created_at, revision)| RecordSummary {
            id,
            patient_id,
            organisation,
            form,
            created_at,
            revision: revision.max(1) as u32,
        })
        .collect()
}

/// Why an entry for a patient already held was refused: the typed family name or date of birth
/// differs from what is held. Says nothing about which, nor what is held.
pub const IDENTITY_MISMATCH: &str =
    "the NHS number, family name and date of birth do not match: check all three against the patient's notes";

impl Store {
    /// Writes `record` of `patient` at the capability's organisation, in one transaction: the
    /// patient is found by the blind index of their NHS number (bringing a stated date of death
    /// and opt-out up to date, as an import does) or created, then the record is added. An
    /// anonymous patient (no consent where the registry needs it) is always a new row.
    #[allow(clippy::too_many_arguments)]
    pub async fn enter_record(
        &self,
        write: &RecordsWrite,
        cipher: &RegistryCipher,
        key_version: i32,
        patient: &Patient,
        opted_out_stated: bool,
        form: &Form,
        record: &ValidRecord,
        dictionary_version: u32,
        audit: crate::AuditNote,
    ) -> Result<EnteredRecord> {
        if cipher.registry() != write.registry() {
            return Err(StoreError::Conflict("the cipher is not the capability's registry".into()));
        }
        let sealed = NewPatient::seal(patient, cipher, key_version)?;
        let mut writer = self.writer(write.registry()).await?;
        let existing = match sealed.blind_index() {
            Some(b) => writer.existing_patients(&[b.to_vec()]).await?.into_values().next(),
            None => None,
        };
        let patient_id = match existing {
            Some(id) => {
                // The NHS number alone does not make the person at the keyboard this patient's
                // clinician: the family name and date of birth they typed must match what is
                // held, or nothing is written and nothing held is shown (the page only ever
                // shows this patient to them after a match).
                let held = self.patient(cipher, id).await?;
                let matches = match (held.patient.identifiers(), patient.identifiers()) {
                    (Some(h), Some(t)) => {
                        h.family_name().trim().to_lowercase() == t.family_name().trim().to_lowercase()
                            && h.date_of_birth() == t.date_of_birth()
                    }
                    _ => false,
                };
                if !matches {
                    return Err(StoreError::Conflict(IDENTITY_MISMATCH.into()));
                }
                let status = PatientStatus {
                    patient_id: id,
                    date_of_death: patient.date_of_death(),
                    // An entry may record an opt-out, never lift one: that is for the national
                    // opt-out service, not a data clerk.
                    opted_out: (opted_out_stated && patient.opted_out()).then_some(true),
                };
                if status.date_of_death.is_some() || status.opted_out.is_some() {
                    writer.update_patient_status(&[status]).await?;
                }
                id
            }
            None => {
                writer.insert_patients(std::slice::from_ref(&sealed)).await?;
                sealed.id()
            }
        };
        let new = NewRecord::new(write.registry(), patient_id, write.org(), form, record, dictionary_version);
        let record_id = new.id();
        writer.insert_records(&[new], None).await?;
        writer.audit(&[audit.target(format!("record:{record_id}"))]).await?;
        writer.commit().await?;
        Ok(EnteredRecord { record_id, patient_id, new_patient: existing.is_none() })
    }

    /// Adds a correction to a record held at the capability's organisation (see
    /// [`Store::correct_record`]), with its audit event in the same transaction; a record
    /// elsewhere is "not found".
    #[allow(clippy::too_many_arguments)]
    pub async fn correct_record_at(
        &self,
        write: &RecordsWrite,
        record_id: Uuid,
        form: &Form,
        record: &ValidRecord,
        dictionary_version: u32,
        reason: &str,
        audit: crate::AuditNote,
    ) -> Result<u32> {
        let head: Option<(String, String)> = on_db!(self, pool => {
            sqlx::query_as("SELECT registry_id, organisation FROM records WHERE id = $1 AND revision = 1")
                .bind(record_id)
                .fetch_optional(pool)
                .await?
        });
        match head {
            Some((registry, org)) if registry == write.registry().as_str() && org == write.org().as_str() => {
                let audit = [audit.target(format!("record:{record_id}"))];
                self.correct_record_audited(record_id, form, record, dictionary_version, reason, &audit).await
            }
            _ => Err(StoreError::NotFound("record".into())),
        }
    }

    /// The record with this id, if it is in the capability's registry and at one of its
    /// organisations; `None` alike when it does not exist and when it lies outside.
    pub async fn readable_record(&self, read: &RecordsRead, id: Uuid) -> Result<Option<StoredRecord>> {
        let head: Option<(String, String)> = on_db!(self, pool => {
            sqlx::query_as("SELECT registry_id, organisation FROM records WHERE id = $1 AND revision = 1")
                .bind(id)
                .fetch_optional(pool)
                .await?
        });
        let Some((registry, organisation)) = head else { return Ok(None) };
        let inside = registry == read.registry().as_str()
            && match read.orgs() {
                OrgSet::All => true,
                OrgSet::Only(orgs) => orgs.iter().any(|o| o.as_str() == organisation),
            };
        if !inside {
            return Ok(None);
        }
        Ok(Some(self.record(id).await?))
    }

    /// The patient of the capability's registry with this NHS number and their records at the
    /// capability's organisations, newest first. `None` when there is no such patient **or** none
    /// of their records is at those organisations: a search cannot tell the two apart.
    pub async fn search_patient_records(
        &self,
        read: &RecordsRead,
        cipher: &RegistryCipher,
        nhs: &NhsNumber,
    ) -> Result<Option<(Uuid, Vec<RecordSummary>)>> {
        if cipher.registry() != read.registry() {
            return Err(StoreError::Conflict("the cipher is not the capability's registry".into()));
        }
        let Some(patient_id) = self.find_patient(cipher, nhs).await? else { return Ok(None) };
        let rows: Vec<SummaryRow> = on_db!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM records r WHERE r.registry_id = "));
            qb.push_bind(read.registry().as_str()).push(" AND r.patient_id = ").push_bind(patient_id);
            qb.push(" AND r.revision = 1");
            if let Some(codes) = read.orgs().codes() {
                qb.push(" AND r.organisation IN (");
                let mut sep = qb.separated(", ");
                for c in codes {
                    sep.push_bind(c);
                }
                qb.push(")");
            }
            qb.push(" ORDER BY r.id DESC");
            qb.build_query_as().fetch_all(pool).await?
        });
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some((patient_id, summaries(rows))))
    }

    /// One page of the records at the capability's organisations, newest first (record ids are
    /// time-ordered), and whether more follow.
    pub async fn list_records(
        &self,
        read: &RecordsRead,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<RecordSummary>, bool)> {
        let rows: Vec<SummaryRow> = on_db!(self, pool => {
            let mut qb = sqlx::QueryBuilder::new(format!("SELECT {SUMMARY_COLUMNS} FROM records r WHERE r.registry_id = "));
            qb.push_bind(read.registry().as_str()).push(" AND r.revision = 1");
            if let Some(codes) = read.orgs().codes() {
                qb.push(" AND r.organisation IN (");
                let mut sep = qb.separated(", ");
                for c in codes {
                    sep.push_bind(c);
                }
                qb.push(")");
            }
            qb.push(" ORDER BY r.id DESC LIMIT ").push_bind(i64::from(limit) + 1);
            qb.push(" OFFSET ").push_bind(i64::try_from(offset).unwrap_or(i64::MAX));
            qb.build_query_as().fetch_all(pool).await?
        });
        let mut list = summaries(rows);
        let more = list.len() > limit as usize;
        list.truncate(limit as usize);
        Ok((list, more))
    }
}
