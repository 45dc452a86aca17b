//! Organisations, registries, their versioned dictionaries and their data keys.

use sha2::{Digest, Sha256};
use sqlx::Row;
use tessera_domain::{Dictionary, OdsCode, Organisation, OrganisationKind, RegistryId};
use tessera_vault::{DataKey, MasterKey, RegistryCipher};

use crate::audit::append_in_tx;
use crate::{AuditNote, BeginWrite as _, Result, Store, StoreError, now, on_db};

/// What loading a dictionary did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadOutcome {
    /// The registry is new: it was created with its own data key and this as version 1.
    CreatedRegistry,
    /// The dictionary differs from the latest version and was stored as a new version.
    NewVersion,
    /// The dictionary is identical to the latest version; nothing was written.
    Unchanged,
}

/// The result of [`Store::load_dictionary`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DictionaryLoad {
    /// The registry.
    pub registry: RegistryId,
    /// The version now current.
    pub version: u32,
    /// What happened.
    pub outcome: LoadOutcome,
}

/// A registry as listed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryInfo {
    /// Its id.
    pub id: RegistryId,
    /// Its name.
    pub name: String,
    /// Whether identifiers need consent.
    pub consent_required: bool,
    /// The newest dictionary version.
    pub latest_version: u32,
}

/// One line of [`Store::stats`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsRow {
    /// Registry id.
    pub registry: String,
    /// Organisation ODS code.
    pub organisation: String,
    /// Form name.
    pub form: String,
    /// Records (not revisions) of that form.
    pub records: i64,
    /// Distinct patients with such records.
    pub patients: i64,
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

impl Store {
    /// Adds or updates organisations, all in one transaction.
    pub async fn upsert_organisations(&self, orgs: &[Organisation]) -> Result<()> {
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for o in orgs {
                sqlx::query(
                    "INSERT INTO organisations (ods_code, name, kind, region, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (ods_code) DO UPDATE SET name = excluded.name, kind = excluded.kind, region = excluded.region",
                )
                .bind(o.ods.as_str())
                .bind(&o.name)
                .bind(o.kind.code())
                .bind(&o.region)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every organisation, by ODS code.
    pub async fn organisations(&self) -> Result<Vec<Organisation>> {
        let rows: Vec<(String, String, String, String)> = on_db!(self, pool => {
            sqlx::query_as("SELECT ods_code, name, kind, region FROM organisations ORDER BY ods_code").fetch_all(pool).await?
        });
        rows.into_iter()
            .map(|(ods, name, kind, region)| {
                Ok(Organisation {
                    ods: OdsCode::parse(&ods).map_err(|e| StoreError::Corrupt(format!("organisation code: {e}")))?,
                    name,
                    kind: OrganisationKind::from_code(&kind)
                        .ok_or_else(|| StoreError::Corrupt(format!("organisation kind {kind:?}")))?,
                    region,
                })
            })
            .collect()
    }

    /// Stores a dictionary: creates the registry (with a fresh data key wrapped under `master`)
    /// if it is new, adds a version if the dictionary changed, and does nothing if it did not.
    /// Old versions are never touched, so records captured under them stay valid.
    ///
    /// When it writes, `audit` is appended in the same transaction, each note given the registry
    /// and aimed at `dictionary:<registry>/v<version>`; an unchanged dictionary writes no event.
    pub async fn load_dictionary(
        &self,
        dict: &Dictionary,
        source_format: &str,
        master: &MasterKey,
        audit: &[AuditNote],
    ) -> Result<DictionaryLoad> {
        let canonical = dict.to_toml();
        let digest = sha256_hex(&canonical);
        let registry = dict.registry().clone();
        let at = now();
        let (version, outcome) = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let exists: Option<(String,)> = sqlx::query_as("SELECT id FROM registries WHERE id = $1")
                .bind(registry.as_str())
                .fetch_optional(&mut *tx)
                .await?;
            let latest: Option<(i32, String)> = sqlx::query_as(
                "SELECT version, sha256 FROM dictionaries WHERE registry_id = $1 ORDER BY version DESC LIMIT 1",
            )
            .bind(registry.as_str())
            .fetch_optional(&mut *tx)
            .await?;
            let (version, outcome) = match (&exists, latest) {
                (None, _) => {
                    sqlx::query("INSERT INTO registries (id, name, consent_required, created_at) VALUES ($1, $2, $3, $4)")
                        .bind(registry.as_str())
                        .bind(dict.name())
                        .bind(dict.consent_required())
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    let wrapped = master.wrap(&registry, &DataKey::generate()?)?;
                    sqlx::query("INSERT INTO registry_keys (registry_id, key_version, wrapped_key, created_at) VALUES ($1, 1, $2, $3)")
                        .bind(registry.as_str())
                        .bind(wrapped)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    (1, LoadOutcome::CreatedRegistry)
                }
                (Some(_), Some((v, sha))) if sha == digest => (v, LoadOutcome::Unchanged),
                (Some(_), latest) => {
                    sqlx::query("UPDATE registries SET name = $2, consent_required = $3 WHERE id = $1")
                        .bind(registry.as_str())
                        .bind(dict.name())
                        .bind(dict.consent_required())
                        .execute(&mut *tx)
                        .await?;
                    (latest.map_or(0, |(v, _)| v) + 1, LoadOutcome::NewVersion)
                }
            };
            if outcome != LoadOutcome::Unchanged {
                sqlx::query(
                    "INSERT INTO dictionaries (registry_id, version, canonical_toml, sha256, source_format, loaded_at) \
                     VALUES ($1, $2, $3, $4, $5, $6)",
                )
                .bind(registry.as_str())
                .bind(version)
                .bind(&canonical)
                .bind(&digest)
                .bind(source_format)
                .bind(at)
                .execute(&mut *tx)
                .await?;
                let target = format!("dictionary:{registry}/v{version}");
                let notes: Vec<AuditNote> =
                    audit.iter().map(|n| n.clone().registry(registry.as_str()).target(target.as_str())).collect();
                append_in_tx(&mut *tx, &notes).await?;
            }
            tx.commit().await?;
            (version, outcome)
        });
        Ok(DictionaryLoad { registry, version: version as u32, outcome })
    }

    /// One version of a registry's dictionary.
    pub async fn dictionary(&self, registry: &RegistryId, version: u32) -> Result<Dictionary> {
        let row: Option<(String,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT canonical_toml FROM dictionaries WHERE registry_id = $1 AND version = $2")
                .bind(registry.as_str())
                .bind(version as i32)
                .fetch_optional(pool)
                .await?
        });
        let (text,) = row.ok_or_else(|| StoreError::NotFound(format!("dictionary {registry} version {version}")))?;
        Dictionary::from_toml(&text).map_err(|e| StoreError::Corrupt(format!("dictionary {registry} v{version}: {e}")))
    }

    /// The newest version of a registry's dictionary, with its number.
    pub async fn latest_dictionary(&self, registry: &RegistryId) -> Result<(u32, Dictionary)> {
        let row: Option<(i32,)> = on_db!(self, pool => {
            sqlx::query_as("SELECT MAX(version) FROM dictionaries WHERE registry_id = $1 HAVING MAX(version) IS NOT NULL")
                .bind(registry.as_str())
                .fetch_optional(pool)
                .await?
        });
        let (version,) = row.ok_or_else(|| StoreError::NotFound(format!("registry {registry}")))?;
        Ok((version as u32, self.dictionary(registry, version as u32).await?))
    }

    /// Opens the registry's current data key with `master` and derives its cipher.
    pub async fn registry_cipher(&self, registry: &RegistryId, master: &MasterKey) -> Result<(i32, RegistryCipher)> {
        let row: Option<(i32, Vec<u8>)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT key_version, wrapped_key FROM registry_keys WHERE registry_id = $1 ORDER BY key_version DESC LIMIT 1",
            )
            .bind(registry.as_str())
            .fetch_optional(pool)
            .await?
        });
        let (version, wrapped) = row.ok_or_else(|| StoreError::NotFound(format!("registry {registry}")))?;
        let key = master.unwrap(registry, &wrapped)?;
        Ok((version, RegistryCipher::new(registry.clone(), &key)))
    }

    /// Every registry with its newest dictionary version.
    pub async fn registries(&self) -> Result<Vec<RegistryInfo>> {
        on_db!(self, pool => {
            let rows = sqlx::query(
                "SELECT r.id, r.name, r.consent_required, MAX(d.version) AS latest \
                 FROM registries r JOIN dictionaries d ON d.registry_id = r.id \
                 GROUP BY r.id, r.name, r.consent_required ORDER BY r.id",
            )
            .fetch_all(pool)
            .await?;
            rows.into_iter()
                .map(|row| {
                    let id: String = row.try_get("id")?;
                    let latest: i32 = row.try_get("latest")?;
                    Ok(RegistryInfo {
                        id: RegistryId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?,
                        name: row.try_get("name")?,
                        consent_required: row.try_get("consent_required")?,
                        latest_version: latest as u32,
                    })
                })
                .collect()
        })
    }

    /// Counts of records and patients per registry, organisation and form.
    pub async fn stats(&self) -> Result<Vec<StatsRow>> {
        let rows: Vec<(String, String, String, i64, i64)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT registry_id, organisation, form, COUNT(*), COUNT(DISTINCT patient_id) FROM records \
                 WHERE revision = 1 GROUP BY registry_id, organisation, form ORDER BY registry_id, organisation, form",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(registry, organisation, form, records, patients)| StatsRow {
                registry,
                organisation,
                form,
                records,
                patients,
            })
            .collect())
    }
}
