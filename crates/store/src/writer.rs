//! Bulk writes inside one transaction: imports and the synthetic-data fast path.

use std::collections::HashMap;

use sqlx::{Postgres, QueryBuilder, Sqlite, Transaction};
use tessera_domain::RegistryId;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::BeginWrite as _;
use crate::pgcopy::CopyBuf;
use crate::{NewImplant, NewPatient, NewRecord, Result, Store, StoreError, now};

/// Rows per multi-row INSERT. With at most 16 columns this stays under SQLite's limit of 32,766
/// bound parameters per statement (PostgreSQL allows 65,535).
const CHUNK: usize = 1000;

/// New facts about an existing patient, from a later import row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PatientStatus {
    /// The patient.
    pub patient_id: Uuid,
    /// A date of death, if the row gives one.
    pub date_of_death: Option<time::Date>,
    /// The opt-out, if the row states it.
    pub opted_out: Option<bool>,
}

/// A submission already stored under the same id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmissionInfo {
    /// The submission id.
    pub id: String,
    /// The form imported.
    pub form: String,
    /// Rows in the file.
    pub rows_total: i64,
    /// Rows stored.
    pub rows_stored: i64,
    /// Rows rejected.
    pub rows_rejected: i64,
    /// When it was imported.
    pub created_at: OffsetDateTime,
}

enum Tx {
    Sqlite(Transaction<'static, Sqlite>),
    Postgres(Transaction<'static, Postgres>),
}

/// One open write transaction on one registry. Nothing it writes is visible to anyone else until
/// [`Writer::commit`]; dropping it (or the process dying) rolls everything back.
pub struct Writer {
    tx: Tx,
    registry: RegistryId,
    at: OffsetDateTime,
}

macro_rules! on_tx {
    ($self:expr, $tx:ident => $body:expr) => {
        match &mut $self.tx {
            Tx::Sqlite($tx) => $body,
            Tx::Postgres($tx) => $body,
        }
    };
}

impl Store {
    /// Opens a write transaction for `registry`.
    pub async fn writer(&self, registry: &RegistryId) -> Result<Writer> {
        let tx = match self {
            Store::Sqlite(pool) => Tx::Sqlite(pool.begin_write().await?),
            Store::Postgres(pool) => Tx::Postgres(pool.begin_write().await?),
        };
        Ok(Writer { tx, registry: registry.clone(), at: now() })
    }

    /// The stored submission with this id, if any.
    pub async fn submission(&self, registry: &RegistryId, id: &str) -> Result<Option<SubmissionInfo>> {
        let row: Option<(String, String, i64, i64, i64, OffsetDateTime)> = crate::on_db!(self, pool => {
            sqlx::query_as(
                "SELECT id, form, rows_total, rows_stored, rows_rejected, created_at FROM submissions WHERE registry_id = $1 AND id = $2",
            )
            .bind(registry.as_str())
            .bind(id)
            .fetch_optional(pool)
            .await?
        });
        Ok(row.map(|(id, form, rows_total, rows_stored, rows_rejected, created_at)| SubmissionInfo {
            id,
            form,
            rows_total,
            rows_stored,
            rows_rejected,
            created_at,
        }))
    }
}

impl Writer {
    /// Records a submission. Fails with [`StoreError::Conflict`] if the id is already stored
    /// (check [`Store::submission`] first to report it kindly); the primary key makes two
    /// concurrent imports of one file impossible.
    pub async fn add_submission(&mut self, info: &SubmissionInfo, source_name: &str) -> Result<()> {
        let registry = self.registry.as_str();
        let at = self.at;
        let result = on_tx!(self, tx => {
            sqlx::query(
                "INSERT INTO submissions (registry_id, id, form, source_name, rows_total, rows_stored, rows_rejected, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(registry)
            .bind(&info.id)
            .bind(&info.form)
            .bind(source_name)
            .bind(info.rows_total)
            .bind(info.rows_stored)
            .bind(info.rows_rejected)
            .bind(at)
            .execute(&mut **tx)
            .await
            .map(|_| ())
        });
        match result {
            Ok(()) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(StoreError::Conflict(format!("submission {} has already been imported", info.id)))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// True if the registry already has any patient (seen from inside this transaction).
    pub async fn registry_has_patients(&mut self) -> Result<bool> {
        let registry = self.registry.as_str().to_owned();
        let found: Option<(i32,)> = on_tx!(self, tx => {
            sqlx::query_as("SELECT 1 FROM patients WHERE registry_id = $1 LIMIT 1")
                .bind(registry.as_str())
                .fetch_optional(&mut **tx)
                .await?
        });
        Ok(found.is_some())
    }

    /// The existing patients of this registry among `blinds` (NHS-number blind indexes).
    pub async fn existing_patients(&mut self, blinds: &[Vec<u8>]) -> Result<HashMap<Vec<u8>, Uuid>> {
        let registry = self.registry.as_str().to_owned();
        let mut found = HashMap::new();
        for chunk in blinds.chunks(CHUNK) {
            let rows: Vec<(Vec<u8>, Uuid)> = on_tx!(self, tx => {
                let mut qb = QueryBuilder::new("SELECT nhs_blind, id FROM patients WHERE registry_id = ");
                qb.push_bind(registry.as_str()).push(" AND nhs_blind IN (");
                let mut sep = qb.separated(", ");
                for b in chunk {
                    sep.push_bind(b.as_slice());
                }
                qb.push(")");
                qb.build_query_as().fetch_all(&mut **tx).await?
            });
            found.extend(rows);
        }
        Ok(found)
    }

    /// Writes new patients.
    pub async fn insert_patients(&mut self, patients: &[NewPatient]) -> Result<()> {
        let registry = self.registry.as_str().to_owned();
        let at = self.at;
        const COLUMNS: &str = "patients (id, registry_id, key_version, nhs_blind, nhs_number, family_name, given_name, \
                               date_of_birth, postcode, sex, date_of_death, opted_out, consent, created_at)";
        match &mut self.tx {
            Tx::Postgres(tx) => {
                let mut buf = CopyBuf::new(patients.len() * 400);
                for p in patients {
                    let col = |i: usize| p.sealed.as_ref().map(|s| s[i].as_slice());
                    buf.row(14).uuid(p.id).text(&registry).int4(p.key_version).opt_bytes(p.blind.as_deref());
                    for i in 0..5 {
                        buf.opt_bytes(col(i));
                    }
                    buf.text(p.sex).date(p.date_of_death).boolean(p.opted_out).text(p.consent).timestamptz(at);
                }
                copy_in(tx, &format!("COPY {COLUMNS} FROM STDIN (FORMAT binary)"), buf).await?;
            }
            Tx::Sqlite(tx) => {
                for chunk in patients.chunks(CHUNK) {
                    let mut qb = QueryBuilder::new(format!("INSERT INTO {COLUMNS} "));
                    qb.push_values(chunk, |mut b, p| {
                        let sealed = p.sealed.as_ref();
                        let col = |i: usize| sealed.map(|s| s[i].as_slice());
                        b.push_bind(p.id)
                            .push_bind(registry.as_str())
                            .push_bind(p.key_version)
                            .push_bind(p.blind.as_deref())
                            .push_bind(col(0))
                            .push_bind(col(1))
                            .push_bind(col(2))
                            .push_bind(col(3))
                            .push_bind(col(4))
                            .push_bind(p.sex)
                            .push_bind(p.date_of_death)
                            .push_bind(p.opted_out)
                            .push_bind(p.consent)
                            .push_bind(at);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
            }
        }
        Ok(())
    }

    /// Brings existing patients' changing facts up to date: a date of death that is now known
    /// (never cleared by a row that lacks one) and the national data opt-out where a row states
    /// it. Used when an import row matches a patient already in the registry.
    pub async fn update_patient_status(&mut self, updates: &[PatientStatus]) -> Result<()> {
        // One statement per few hundred patients; a patient named twice keeps its latest facts.
        let mut latest: Vec<PatientStatus> = Vec::with_capacity(updates.len());
        let mut at: HashMap<Uuid, usize> = HashMap::new();
        for u in updates {
            match at.get(&u.patient_id) {
                Some(&i) => {
                    let prev = latest[i];
                    latest[i] = PatientStatus {
                        patient_id: u.patient_id,
                        date_of_death: u.date_of_death.or(prev.date_of_death),
                        opted_out: u.opted_out.or(prev.opted_out),
                    };
                }
                None => {
                    at.insert(u.patient_id, latest.len());
                    latest.push(*u);
                }
            }
        }
        let registry = self.registry.as_str().to_owned();
        for chunk in latest.chunks(CHUNK / 2) {
            on_tx!(self, tx => {
                // VALUES columns are column1, column2, … on both databases.
                let mut qb = QueryBuilder::new(
                    "UPDATE patients SET date_of_death = COALESCE(v.column2, patients.date_of_death), \
                     opted_out = COALESCE(v.column3, patients.opted_out) FROM (",
                );
                qb.push_values(chunk, |mut b, u| {
                    b.push_bind(u.patient_id).push_bind(u.date_of_death).push_bind(u.opted_out);
                });
                qb.push(") AS v WHERE patients.id = v.column1 AND patients.registry_id = ");
                qb.push_bind(registry.as_str());
                qb.build().execute(&mut **tx).await?;
            });
        }
        Ok(())
    }

    /// Writes new records, each as its first revision, tagged with `submission` if given.
    pub async fn insert_records(&mut self, records: &[NewRecord], submission: Option<&str>) -> Result<()> {
        let registry = self.registry.as_str().to_owned();
        let at = self.at;
        const COLUMNS: &str = "records (id, revision, registry_id, patient_id, organisation, form, dictionary_version, \
                               data, submission_id, created_at)";
        match &mut self.tx {
            Tx::Postgres(tx) => {
                let mut buf = CopyBuf::new(records.len() * 300);
                for r in records {
                    buf.row(10).uuid(r.id).int4(1).text(&registry).uuid(r.patient_id).text(&r.organisation);
                    buf.text(&r.form).int4(r.dictionary_version).text(&r.data).opt_text(submission).timestamptz(at);
                }
                copy_in(tx, &format!("COPY {COLUMNS} FROM STDIN (FORMAT binary)"), buf).await?;
            }
            Tx::Sqlite(tx) => {
                for chunk in records.chunks(CHUNK) {
                    let mut qb = QueryBuilder::new(format!("INSERT INTO {COLUMNS} "));
                    qb.push_values(chunk, |mut b, r| {
                        b.push_bind(r.id)
                            .push_bind(1i32)
                            .push_bind(registry.as_str())
                            .push_bind(r.patient_id)
                            .push_bind(r.organisation.as_str())
                            .push_bind(r.form.as_str())
                            .push_bind(r.dictionary_version)
                            .push_bind(r.data.as_str())
                            .push_bind(submission)
                            .push_bind(at);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
            }
        }
        self.insert_revised(records).await
    }

    /// Writes the `revised` rows of the new records that are revision operations.
    async fn insert_revised(&mut self, records: &[NewRecord]) -> Result<()> {
        let registry = self.registry.as_str().to_owned();
        let revised: Vec<(&NewRecord, &tessera_domain::outcomes::Revised)> =
            records.iter().filter_map(|r| r.revised.as_ref().map(|v| (r, v))).collect();
        if revised.is_empty() {
            return Ok(());
        }
        const COLUMNS: &str = "revised (record_id, revision, registry_id, patient_id, site, side, operated_on)";
        match &mut self.tx {
            Tx::Postgres(tx) => {
                let mut buf = CopyBuf::new(revised.len() * 80);
                for (r, v) in &revised {
                    buf.row(7).uuid(r.id).int4(1).text(&registry).uuid(r.patient_id);
                    buf.text(&v.site).text(&v.side).date(Some(v.date));
                }
                copy_in(tx, &format!("COPY {COLUMNS} FROM STDIN (FORMAT binary)"), buf).await?;
            }
            Tx::Sqlite(tx) => {
                for chunk in revised.chunks(CHUNK) {
                    let mut qb = QueryBuilder::new(format!("INSERT INTO {COLUMNS} "));
                    qb.push_values(chunk, |mut b, (r, v)| {
                        b.push_bind(r.id)
                            .push_bind(1i32)
                            .push_bind(registry.as_str())
                            .push_bind(r.patient_id)
                            .push_bind(v.site.as_str())
                            .push_bind(v.side.as_str())
                            .push_bind(v.date);
                    });
                    qb.build().execute(&mut **tx).await?;
                }
            }
        }
        Ok(())
    }

    /// Writes implanted components.
    pub async fn insert_implants(&mut self, implants: &[NewImplant]) -> Result<()> {
        let registry = self.registry.as_str().to_owned();
        let at = self.at;
        const COLUMNS: &str = "implants (id, record_id, record_revision, registry_id, organisation, gtin, lot, serial, \
                               expiry, entry, created_at, patient_id, implanted_on, manufactured, site, side)";
        match &mut self.tx {
            Tx::Postgres(tx) => {
                let mut buf = CopyBuf::new(implants.len() * 180);
                for i in implants {
                    buf.row(16).uuid(Uuid::now_v7()).uuid(i.record_id).int4(1).text(&registry).text(&i.organisation);
                    buf.text(&i.gtin).opt_text(i.lot.as_deref()).opt_text(i.serial.as_deref()).date(i.expiry);
                    buf.text(i.entry).timestamptz(at);
                    match i.patient_id {
                        Some(p) => buf.uuid(p),
                        None => buf.null(),
                    };
                    buf.date(i.implanted_on)
                        .date(i.manufactured)
                        .opt_text(i.site.as_deref())
                        .opt_text(i.side.as_deref());
                }
                copy_in(tx, &format!("COPY {COLUMNS} FROM STDIN (FORMAT binary)"), buf).await?;
            }
            Tx::Sqlite(tx) => {
                for chunk in implants.chunks(CHUNK) {
                    let mut qb = QueryBuilder::new(format!("INSERT INTO {COLUMNS} "));
                    qb.push_values(chunk, |mut b, i| {
                        b.push_bind(Uuid::now_v7())
                            .push_bind(i.record_id)
                            .push_bind(1i32)
                            .push_bind(registry.as_str())
                            .push_bind(i.organisation.as_str())
                            .push_bind(i.gtin.as_str())
                            .push_bind(i.lot.as_deref())
                            .push_bind(i.serial.as_deref())
                            .push_bind(i.expiry)
                            .push_bind(i.entry)
                            .push_bind(at)
                            .push_bind(i.patient_id)
                            .push_bind(i.implanted_on)
                            .push_bind(i.manufactured)
                            .push_bind(i.site.as_deref())
                            .push_bind(i.side.as_deref());
                    });
                    qb.build().execute(&mut **tx).await?;
                }
            }
        }
        Ok(())
    }

    /// Appends `notes` to the audit trail inside this transaction, so they are stored with the
    /// writes or not at all.
    pub async fn audit(&mut self, notes: &[crate::AuditNote]) -> Result<()> {
        on_tx!(self, tx => crate::audit::append_in_tx(&mut **tx, notes).await?);
        Ok(())
    }

    /// Makes everything written visible, atomically.
    pub async fn commit(self) -> Result<()> {
        match self.tx {
            Tx::Sqlite(tx) => tx.commit().await?,
            Tx::Postgres(tx) => tx.commit().await?,
        }
        Ok(())
    }
}

/// Streams one binary COPY buffer inside the transaction.
async fn copy_in(tx: &mut Transaction<'static, Postgres>, statement: &str, buf: CopyBuf) -> Result<()> {
    let mut copy = tx.copy_in_raw(statement).await?;
    match copy.send(buf.finish()).await {
        Ok(_) => {
            copy.finish().await?;
            Ok(())
        }
        Err(e) => {
            let _ = copy.abort("tessera: sending rows failed").await;
            Err(e.into())
        }
    }
}
