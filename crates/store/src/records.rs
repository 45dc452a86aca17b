//! Records and their revisions, and implanted components.

use sqlx::Row;
use tessera_domain::outcomes::{OutcomeSpec, Revised};
use tessera_domain::{Form, OdsCode, RegistryId, ValidRecord};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{BeginWrite as _, Result, Store, StoreError, now, on_db};

/// A record ready to be written as its first revision. Only a [`ValidRecord`] can make one.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub(crate) id: Uuid,
    pub(crate) patient_id: Uuid,
    pub(crate) organisation: String,
    pub(crate) form: String,
    pub(crate) dictionary_version: i32,
    pub(crate) data: String,
    /// The revision operation it states, if any (see [`OutcomeSpec::revision_in`]).
    pub(crate) revised: Option<Revised>,
}

/// Encodes a record's values compactly: a JSON array of canonical texts in the order of the
/// form's fields in the record's dictionary version, `null` where a field has no value, trailing
/// nulls left out. The (registry, dictionary version, form) stored beside it names every position,
/// so the array is exact without repeating field names a million times.
pub(crate) fn encode_values(form: &Form, record: &ValidRecord) -> String {
    let mut out = String::with_capacity(16 * form.fields().len());
    out.push('[');
    let mut values = record.values().iter().peekable();
    let mut pending_nulls = 0usize;
    let mut first = true;
    for field in form.fields() {
        match values.peek() {
            Some((name, value)) if name == field.name() => {
                for _ in 0..pending_nulls {
                    if !first {
                        out.push(',');
                    }
                    out.push_str("null");
                    first = false;
                }
                pending_nulls = 0;
                if !first {
                    out.push(',');
                }
                first = false;
                push_json_string(&mut out, &value.canonical());
                values.next();
            }
            _ => pending_nulls += 1,
        }
    }
    debug_assert!(values.next().is_none(), "a ValidRecord's values follow its form's field order");
    out.push(']');
    out
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

impl NewRecord {
    /// A new record of `patient_id` at `organisation` in `registry`, validated against `form`
    /// of dictionary version `dictionary_version`.
    pub fn new(
        registry: &RegistryId,
        patient_id: Uuid,
        organisation: &OdsCode,
        form: &Form,
        record: &ValidRecord,
        dictionary_version: u32,
    ) -> Self {
        Self {
            id: Uuid::now_v7(),
            patient_id,
            organisation: organisation.to_string(),
            form: record.form().to_string(),
            dictionary_version: dictionary_version as i32,
            data: encode_values(form, record),
            revised: OutcomeSpec::shipped_ref(registry.as_str()).and_then(|spec| spec.revision_in(record)),
        }
    }

    /// The new record's id.
    pub fn id(&self) -> Uuid {
        self.id
    }

    /// The same record, attributed to `patient_id` (used when an import finds the patient exists).
    pub fn with_patient(mut self, patient_id: Uuid) -> Self {
        self.patient_id = patient_id;
        self
    }
}

/// An implanted component of a procedure record, captured with the record's first revision.
#[derive(Debug, Clone)]
pub struct NewImplant {
    /// The procedure record.
    pub record_id: Uuid,
    /// Where it was implanted.
    pub organisation: String,
    /// GTIN (UDI-DI), 14 digits.
    pub gtin: String,
    /// Lot or batch.
    pub lot: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// Expiry date.
    pub expiry: Option<Date>,
    /// How it was entered: `scanned`, `manual` or `synthetic`.
    pub entry: &'static str,
    /// The patient it was implanted in (the record's patient).
    pub patient_id: Option<Uuid>,
    /// The operation date (the record's).
    pub implanted_on: Option<Date>,
    /// The production date (GS1 AI 11), if known.
    pub manufactured: Option<Date>,
    /// The site operated on (`hip`, `knee`, `breast`; the record form's).
    pub site: Option<String>,
    /// The side, as the record codes it (`L`/`R`).
    pub side: Option<String>,
}

/// One revision of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    /// 1 for the original, counting up with each correction.
    pub revision: u32,
    /// The dictionary version the values were validated under.
    pub dictionary_version: u32,
    /// The values as (field, canonical text), in the order stored.
    pub values: Vec<(String, String)>,
    /// Why it was corrected (none for the original).
    pub reason: Option<String>,
    /// When it was written.
    pub created_at: OffsetDateTime,
}

/// A record with its current revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    /// The record id.
    pub id: Uuid,
    /// Its registry.
    pub registry: String,
    /// Its patient.
    pub patient_id: Uuid,
    /// Its organisation.
    pub organisation: String,
    /// Its form.
    pub form: String,
    /// The submission that imported it, if any.
    pub submission_id: Option<String>,
    /// The newest revision.
    pub current: Revision,
}

/// (registry, form, revision, dictionary version, data, reason, created at) as selected.
type RevisionRow = (String, String, i32, i32, String, Option<String>, OffsetDateTime);
/// Decodes [`encode_values`]'s array back to (field, text) pairs, using the form's fields.
pub(crate) fn decode_values(form: &Form, data: &str) -> Result<Vec<(String, String)>> {
    let v: serde_json::Value =
        serde_json::from_str(data).map_err(|e| StoreError::Corrupt(format!("record data: {e}")))?;
    let items = v.as_array().ok_or_else(|| StoreError::Corrupt("record data is not an array".into()))?;
    if items.len() > form.fields().len() {
        return Err(StoreError::Corrupt("record data has more values than its form has fields".into()));
    }
    let mut out = Vec::new();
    for (field, item) in form.fields().iter().zip(items) {
        match item {
            serde_json::Value::Null => {}
            serde_json::Value::String(s) => out.push((field.name().to_string(), s.clone())),
            _ => return Err(StoreError::Corrupt(format!("record value of {} is not text", field.name()))),
        }
    }
    Ok(out)
}

impl Store {
    /// Adds a correction to a record: a new revision, validated by the caller under
    /// `dictionary_version`. Earlier revisions stay exactly as they were.
    pub async fn correct_record(
        &self,
        record_id: Uuid,
        form: &Form,
        record: &ValidRecord,
        dictionary_version: u32,
        reason: &str,
    ) -> Result<u32> {
        self.correct_record_audited(record_id, form, record, dictionary_version, reason, &[]).await
    }

    /// [`Store::correct_record`], appending `audit` to the audit trail in the same transaction:
    /// the correction and its audit events are stored together or not at all.
    pub(crate) async fn correct_record_audited(
        &self,
        record_id: Uuid,
        form: &Form,
        record: &ValidRecord,
        dictionary_version: u32,
        reason: &str,
        audit: &[crate::AuditNote],
    ) -> Result<u32> {
        if form.name() != record.form() {
            return Err(StoreError::Conflict("the record was not validated against the form given".into()));
        }
        let data = encode_values(form, record);
        let at = now();
        let revision = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let head: Option<(String, Uuid, String, String, i32)> = sqlx::query_as(
                "SELECT registry_id, patient_id, organisation, form, revision FROM records WHERE id = $1 \
                 ORDER BY revision DESC LIMIT 1",
            )
            .bind(record_id)
            .fetch_optional(&mut *tx)
            .await?;
            let (registry, patient_id, organisation, stored_form, latest) =
                head.ok_or_else(|| StoreError::NotFound("record".into()))?;
            if stored_form != record.form().as_str() {
                return Err(StoreError::Conflict(format!(
                    "a {stored_form} record cannot be corrected with a {} form",
                    record.form()
                )));
            }
            // The primary key (id, revision) makes two concurrent corrections of one revision
            // conflict instead of both succeeding.
            sqlx::query(
                "INSERT INTO records (id, revision, registry_id, patient_id, organisation, form, dictionary_version, \
                 data, submission_id, reason, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, $9, $10)",
            )
            .bind(record_id)
            .bind(latest + 1)
            .bind(&registry)
            .bind(patient_id)
            .bind(&organisation)
            .bind(&stored_form)
            .bind(dictionary_version as i32)
            .bind(&data)
            .bind(reason)
            .bind(at)
            .execute(&mut *tx)
            .await?;
            // The derived revision fact follows the current revision.
            sqlx::query("DELETE FROM revised WHERE record_id = $1").bind(record_id).execute(&mut *tx).await?;
            if let Some(v) = OutcomeSpec::shipped_ref(&registry).and_then(|spec| spec.revision_in(record)) {
                sqlx::query(crate::revised::INSERT_REVISED)
                .bind(record_id)
                .bind(latest + 1)
                .bind(&registry)
                .bind(patient_id)
                .bind(&v.site)
                .bind(&v.side)
                .bind(v.date)
                .execute(&mut *tx)
                .await?;
            }
            crate::audit::append_in_tx(&mut *tx, audit).await?;
            tx.commit().await?;
            latest + 1
        });
        Ok(revision as u32)
    }

    /// Every revision of a record, oldest first.
    pub async fn record_history(&self, record_id: Uuid) -> Result<Vec<Revision>> {
        let rows: Vec<RevisionRow> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT registry_id, form, revision, dictionary_version, data, reason, created_at \
                 FROM records WHERE id = $1 ORDER BY revision",
            )
            .bind(record_id)
            .fetch_all(pool)
            .await?
        });
        if rows.is_empty() {
            return Err(StoreError::NotFound("record".into()));
        }
        let mut dictionaries: std::collections::HashMap<i32, tessera_domain::Dictionary> = Default::default();
        let mut out = Vec::with_capacity(rows.len());
        for (registry, form, revision, version, data, reason, created_at) in rows {
            if let std::collections::hash_map::Entry::Vacant(slot) = dictionaries.entry(version) {
                let id = RegistryId::parse(&registry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                slot.insert(self.dictionary(&id, version as u32).await?);
            }
            let form_def = dictionaries[&version]
                .form(&form)
                .ok_or_else(|| StoreError::Corrupt(format!("form {form} missing from dictionary version {version}")))?;
            out.push(Revision {
                revision: revision as u32,
                dictionary_version: version as u32,
                values: decode_values(form_def, &data)?,
                reason,
                created_at,
            });
        }
        Ok(out)
    }

    /// A record with its newest revision.
    pub async fn record(&self, record_id: Uuid) -> Result<StoredRecord> {
        let head = on_db!(self, pool => {
            let row = sqlx::query(
                "SELECT registry_id, patient_id, organisation, form, submission_id FROM records WHERE id = $1 AND revision = 1",
            )
            .bind(record_id)
            .fetch_optional(pool)
            .await?;
            match row {
                None => None,
                Some(r) => Some((
                    r.try_get::<String, _>(0)?,
                    r.try_get::<Uuid, _>(1)?,
                    r.try_get::<String, _>(2)?,
                    r.try_get::<String, _>(3)?,
                    r.try_get::<Option<String>, _>(4)?,
                )),
            }
        });
        let (registry, patient_id, organisation, form, submission_id) =
            head.ok_or_else(|| StoreError::NotFound("record".into()))?;
        let current =
            self.record_history(record_id).await?.pop().ok_or_else(|| StoreError::NotFound("record".into()))?;
        Ok(StoredRecord { id: record_id, registry, patient_id, organisation, form, submission_id, current })
    }

    /// The ids of a patient's records, oldest first.
    pub async fn records_of_patient(&self, patient_id: Uuid) -> Result<Vec<Uuid>> {
        let rows: Vec<(Uuid,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT id FROM records WHERE patient_id = $1 AND revision = 1 ORDER BY id").bind(patient_id).fetch_all(pool).await?
        });
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The implants of one procedure record.
    pub async fn implants_of(&self, record_id: Uuid) -> Result<Vec<NewImplant>> {
        on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT record_id, organisation, gtin, lot, serial, expiry, entry, patient_id, implanted_on, manufactured, \
                 site, side FROM implants WHERE record_id = $1 ORDER BY id",
            )
            .bind(record_id)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| {
                    let entry = match r.try_get::<String, _>(6)?.as_str() {
                        "scanned" => "scanned",
                        "manual" => "manual",
                        "synthetic" => "synthetic",
                        other => return Err(StoreError::Corrupt(format!("implant entry type {other:?}"))),
                    };
                    Ok(NewImplant {
                        record_id: r.try_get(0)?,
                        organisation: r.try_get(1)?,
                        gtin: r.try_get(2)?,
                        lot: r.try_get(3)?,
                        serial: r.try_get(4)?,
                        expiry: r.try_get(5)?,
                        entry,
                        patient_id: r.try_get(7)?,
                        implanted_on: r.try_get(8)?,
                        manufactured: r.try_get(9)?,
                        site: r.try_get(10)?,
                        side: r.try_get(11)?,
                    })
                })
                .collect()
        })
    }
}
