//! The `revised` table (migration 0009): one row per record whose current revision is a
//! revision operation, so that recalls tell revised units from implanted ones with one indexed
//! look-up instead of decoding every matched patient's records.
//!
//! Invariant: `revised` holds exactly the revision operations that
//! [`OutcomeSpec::revision_in`] reads from the current revisions of the records of shipped
//! registries. New records write their row in the transaction that writes them
//! (`Writer::insert_records`), a correction replaces it in its own transaction
//! (`Store::correct_record`), and a database that had records before 0009 is filled once, at
//! start-up, by [`Store::fill_revised`].

use std::collections::HashMap;

use tessera_domain::RegistryId;
use tessera_domain::outcomes::{KindRule, OutcomeSpec, ProcedureKind};
use uuid::Uuid;

use crate::records::decode_values;
use crate::{BeginWrite as _, Result, Store, StoreError, now, on_db};

/// Writes one `revised` row; a row already there for the record is kept (another process's
/// fill, or the record's own write, got there first).
pub(crate) const INSERT_REVISED: &str = "INSERT INTO revised (record_id, revision, registry_id, patient_id, site, side, \
                                         operated_on) VALUES ($1, $2, $3, $4, $5, $6, $7) \
                                         ON CONFLICT (record_id) DO NOTHING";

/// The name `derived_filled` records the fill under.
const FILLED: &str = "revised";

/// (record, revision, registry, patient, form, dictionary version, data) as selected.
type CurrentRow = (Uuid, i32, String, Uuid, String, i32, String);

impl Store {
    /// Fills `revised` from the records stored before migration 0009, once: the first call
    /// marks it done in the same transaction, and later calls (or another process starting at
    /// the same time) find the mark and do nothing.
    pub(crate) async fn fill_revised(&self) -> Result<()> {
        // The forms that may record a revision, over the shipped registries.
        let forms: Vec<&str> = ["njr", "bcir"]
            .iter()
            .filter_map(|r| OutcomeSpec::shipped_ref(r))
            .flat_map(|spec| spec.forms.iter())
            .filter(|f| !matches!(f.kind, KindRule::Always(ProcedureKind::Primary)))
            .map(|f| f.form.as_str())
            .collect();
        let mut dictionaries: HashMap<(String, i32), tessera_domain::Dictionary> = HashMap::new();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let marked = sqlx::query(
                "INSERT INTO derived_filled (name, filled_at) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(FILLED)
            .bind(now())
            .execute(&mut *tx)
            .await?;
            if marked.rows_affected() == 0 {
                return Ok(());
            }
            let mut sql = String::from(
                "SELECT r.id, r.revision, r.registry_id, r.patient_id, r.form, r.dictionary_version, r.data \
                 FROM records r WHERE r.revision = (SELECT MAX(x.revision) FROM records x WHERE x.id = r.id) \
                 AND r.form IN (",
            );
            for n in 1..=forms.len() {
                sql.push_str(if n == 1 { "$1" } else { ", $" });
                if n > 1 {
                    sql.push_str(&n.to_string());
                }
            }
            sql.push(')');
            // Only placeholders are formatted into the text; the form names are bound.
            let mut q = sqlx::query_as::<_, CurrentRow>(sqlx::AssertSqlSafe(sql));
            for f in &forms {
                q = q.bind(*f);
            }
            let rows = q.fetch_all(&mut *tx).await?;
            let mut found: Vec<(Uuid, i32, String, Uuid, tessera_domain::outcomes::Revised)> = Vec::new();
            for (record, revision, registry, patient, form, version, data) in rows {
                let Some(spec) = OutcomeSpec::shipped_ref(&registry) else { continue };
                if let std::collections::hash_map::Entry::Vacant(slot) = dictionaries.entry((registry.clone(), version)) {
                    let id = RegistryId::parse(&registry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    slot.insert(self.dictionary(&id, version as u32).await?);
                }
                let Some(form_def) = dictionaries[&(registry.clone(), version)].form(&form) else { continue };
                if let Some(v) = spec.revision_in_values(&form, &decode_values(form_def, &data)?) {
                    found.push((record, revision, registry, patient, v));
                }
            }
            for (record, revision, registry, patient, v) in &found {
                sqlx::query(INSERT_REVISED)
                .bind(record)
                .bind(revision)
                .bind(registry)
                .bind(patient)
                .bind(&v.site)
                .bind(&v.side)
                .bind(v.date)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }
}
