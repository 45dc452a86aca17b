//! What outcome statistics read: the device catalogue's products, and one registry's operations,
//! patients and implants, streamed once and turned into the domain's [`OutcomeData`] facts.
//!
//! Dates of birth are opened with the registry's key only to compute the age at operation; no
//! identifier leaves this module.

use std::collections::HashMap;

use futures_util::TryStreamExt as _;
use sqlx::Row;
use tessera_domain::outcomes::{OutcomeSpec, PatientFacts, Procedure};
use tessera_domain::{Dictionary, RegistryId, Sex};
use tessera_vault::{IdentifierField, RegistryCipher};
use time::Date;
use uuid::Uuid;

use crate::records::decode_values;
use crate::{BeginWrite as _, Result, Store, StoreError, now, on_db};

/// A product of the device catalogue (one GTIN).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Product {
    /// GTIN (UDI-DI), 14 digits.
    pub gtin: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Brand.
    pub brand: String,
    /// Category (e.g. "Acetabular cup").
    pub category: String,
}

/// The category given to implants whose GTIN is not in the catalogue.
pub const UNCATALOGUED: &str = "Not in the catalogue";

/// One registry's operations as the analyses need them.
#[derive(Debug, Clone, Default)]
pub struct OutcomeData {
    /// Organisations by index (ODS codes).
    pub organisations: Vec<String>,
    /// Products by index: the catalogue's, then one per uncatalogued GTIN met.
    pub products: Vec<Product>,
    /// Patients by index.
    pub patients: Vec<PatientFacts>,
    /// The operations.
    pub procedures: Vec<Procedure>,
    /// The latest operation date seen (the natural data cut-off).
    pub latest: Option<Date>,
    /// Records of operation forms that could not be read (a required fact missing), by reason.
    pub unreadable: Vec<(String, u64)>,
}

impl Store {
    /// Adds or updates catalogue products, all in one transaction.
    pub async fn upsert_products(&self, products: &[Product]) -> Result<()> {
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            for p in products {
                sqlx::query(
                    "INSERT INTO products (gtin, manufacturer, brand, category, created_at) VALUES ($1, $2, $3, $4, $5) \
                     ON CONFLICT (gtin) DO UPDATE SET manufacturer = excluded.manufacturer, brand = excluded.brand, \
                     category = excluded.category",
                )
                .bind(&p.gtin)
                .bind(&p.manufacturer)
                .bind(&p.brand)
                .bind(&p.category)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            }
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every catalogue product, by GTIN.
    pub async fn products(&self) -> Result<Vec<Product>> {
        let rows: Vec<(String, String, String, String)> = on_db!(self, pool => {
            sqlx::query_as("SELECT gtin, manufacturer, brand, category FROM products ORDER BY gtin").fetch_all(pool).await?
        });
        Ok(rows
            .into_iter()
            .map(|(gtin, manufacturer, brand, category)| Product { gtin, manufacturer, brand, category })
            .collect())
    }

    /// Reads one registry's operations (the newest revision of each record of the spec's forms),
    /// its patients and its implants. Streams each table once.
    pub async fn outcome_data(&self, cipher: &RegistryCipher, spec: &OutcomeSpec) -> Result<OutcomeData> {
        let registry = cipher.registry().as_str().to_owned();
        let registry_id = RegistryId::parse(&registry).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        // Products: the catalogue, then uncatalogued GTINs as they are met.
        let mut data = OutcomeData { products: self.products().await?, ..OutcomeData::default() };
        let mut product_index: HashMap<String, usize> =
            data.products.iter().enumerate().map(|(i, p)| (p.gtin.clone(), i)).collect();

        // Patients.
        let mut patient_index: HashMap<Uuid, usize> = HashMap::new();
        on_db!(self, pool => {
            let mut rows = sqlx::query(
                "SELECT id, sex, date_of_death, date_of_birth FROM patients WHERE registry_id = $1",
            )
            .bind(&registry)
            .fetch(pool);
            while let Some(r) = rows.try_next().await? {
                let id: Uuid = r.try_get(0)?;
                let sex: String = r.try_get(1)?;
                let death: Option<Date> = r.try_get(2)?;
                let dob: Option<Vec<u8>> = r.try_get(3)?;
                let date_of_birth = match dob {
                    None => None,
                    Some(sealed) => {
                        let text = cipher.open(id.as_bytes(), IdentifierField::DateOfBirth, &sealed)?;
                        Some(
                            Date::parse(text.as_str(), &time::format_description::well_known::Iso8601::DATE)
                                .map_err(|_| StoreError::Corrupt("a stored date of birth does not parse".into()))?,
                        )
                    }
                };
                let sex = Sex::parse(&sex).map_err(|_| StoreError::Corrupt("a stored sex code".into()))?;
                patient_index.insert(id, data.patients.len());
                data.patients.push(PatientFacts { sex, date_of_birth, date_of_death: death });
            }
        });

        // Implants by record.
        let mut implants: HashMap<Uuid, Vec<usize>> = HashMap::new();
        on_db!(self, pool => {
            let mut rows = sqlx::query("SELECT record_id, gtin FROM implants WHERE registry_id = $1 ORDER BY id")
                .bind(&registry)
                .fetch(pool);
            while let Some(r) = rows.try_next().await? {
                let record: Uuid = r.try_get(0)?;
                let gtin: String = r.try_get(1)?;
                let next = data.products.len();
                let index = *product_index.entry(gtin.clone()).or_insert(next);
                if index == next {
                    data.products.push(Product {
                        gtin,
                        manufacturer: String::new(),
                        brand: UNCATALOGUED.into(),
                        category: UNCATALOGUED.into(),
                    });
                }
                implants.entry(record).or_default().push(index);
            }
        });

        // Operations: the newest revision of each record of an operation form.
        let sites = spec.sites();
        let mut dictionaries: HashMap<i32, Dictionary> = HashMap::new();
        let mut organisation_index: HashMap<String, usize> = HashMap::new();
        let mut unreadable: HashMap<String, u64> = HashMap::new();
        type Row = (Uuid, Uuid, String, String, i32, String);
        let mut rows: Vec<Row> = Vec::new();
        on_db!(self, pool => {
            let mut stream = sqlx::query(
                "SELECT r.id, r.patient_id, r.organisation, r.form, r.dictionary_version, r.data FROM records r \
                 WHERE r.registry_id = $1 AND r.revision = (SELECT MAX(r2.revision) FROM records r2 WHERE r2.id = r.id)",
            )
            .bind(&registry)
            .fetch(pool);
            while let Some(r) = stream.try_next().await? {
                let form: String = r.try_get(3)?;
                if spec.form(&form).is_none() {
                    continue;
                }
                rows.push((r.try_get(0)?, r.try_get(1)?, r.try_get(2)?, form, r.try_get(4)?, r.try_get(5)?));
                // Decode in batches so memory stays bounded by one batch of raw rows.
                if rows.len() >= 50_000 {
                    self.decode_operations(&registry_id, &mut rows, spec, &sites, &mut dictionaries, &patient_index,
                        &mut organisation_index, &implants, &mut unreadable, &mut data).await?;
                }
            }
        });
        self.decode_operations(
            &registry_id,
            &mut rows,
            spec,
            &sites,
            &mut dictionaries,
            &patient_index,
            &mut organisation_index,
            &implants,
            &mut unreadable,
            &mut data,
        )
        .await?;
        // Organisations in ODS-code order, so the result does not depend on the order rows came in.
        let mut orgs: Vec<(String, usize)> = organisation_index.into_iter().collect();
        orgs.sort();
        let mut remap = vec![0; orgs.len()];
        for (new, (_, old)) in orgs.iter().enumerate() {
            remap[*old] = new;
        }
        for p in &mut data.procedures {
            p.organisation = remap[p.organisation];
        }
        data.organisations = orgs.into_iter().map(|(o, _)| o).collect();
        let mut unreadable: Vec<(String, u64)> = unreadable.into_iter().collect();
        unreadable.sort();
        data.unreadable = unreadable;
        Ok(data)
    }

    #[allow(clippy::too_many_arguments)] // the state of one streaming pass, kept in the caller
    async fn decode_operations(
        &self,
        registry: &RegistryId,
        rows: &mut Vec<(Uuid, Uuid, String, String, i32, String)>,
        spec: &OutcomeSpec,
        sites: &[&str],
        dictionaries: &mut HashMap<i32, Dictionary>,
        patient_index: &HashMap<Uuid, usize>,
        organisation_index: &mut HashMap<String, usize>,
        implants: &HashMap<Uuid, Vec<usize>>,
        unreadable: &mut HashMap<String, u64>,
        data: &mut OutcomeData,
    ) -> Result<()> {
        for (id, patient, organisation, form, version, values) in rows.drain(..) {
            if let std::collections::hash_map::Entry::Vacant(slot) = dictionaries.entry(version) {
                slot.insert(self.dictionary(registry, version as u32).await?);
            }
            let form_def = dictionaries[&version]
                .form(&form)
                .ok_or_else(|| StoreError::Corrupt(format!("form {form} missing from dictionary version {version}")))?;
            let op = spec.form(&form).expect("only operation forms are kept");
            let values = decode_values(form_def, &values)?;
            let facts = match op.read(&values) {
                Ok(v) => v,
                Err(e) => {
                    *unreadable.entry(e.to_string()).or_default() += 1;
                    continue;
                }
            };
            let patient = *patient_index
                .get(&patient)
                .ok_or_else(|| StoreError::Corrupt("a record's patient is missing".into()))?;
            let next = organisation_index.len();
            let organisation = *organisation_index.entry(organisation).or_insert(next);
            let site = sites.iter().position(|s| *s == op.site).expect("the spec's own site");
            data.latest = data.latest.max(Some(facts.date));
            data.procedures.push(Procedure {
                patient,
                organisation,
                site,
                side: facts.side,
                date: facts.date,
                kind: facts.kind,
                attributes: facts.attributes,
                products: implants.get(&id).cloned().unwrap_or_default(),
            });
        }
        Ok(())
    }
}
