//! The device catalogue, versioned: loads of catalogue files, search, the history of each product,
//! and the queue of unknown GTINs (scanned at capture, not in the catalogue) for review.
//!
//! A load is one transaction: one new row in `catalogue_versions`, products the file adds or
//! changes written (each with a `product_history` row for the version), products it repeats
//! unchanged left untouched, products it does not mention kept (a load never removes a product:
//! implants already recorded still need their names), queued unknown GTINs it now knows marked
//! `added`, and its audit event appended before the commit. Nothing here is about a patient.

use std::collections::{BTreeMap, HashMap};

use tessera_domain::catalogue::CatalogueProduct;
use time::OffsetDateTime;

use crate::audit::append_in_tx;
use crate::{AuditNote, BeginWrite as _, Result, Store, StoreError, now, on_db};

/// The most rows a catalogue search returns, whatever is asked.
pub const MAX_CATALOGUE_SEARCH: u32 = 500;

/// What a catalogue load did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CatalogueLoad {
    /// The new catalogue version.
    pub version: u32,
    /// Products new to the catalogue.
    pub added: u64,
    /// Products whose description changed.
    pub changed: u64,
    /// Products repeated exactly as stored (left untouched).
    pub unchanged: u64,
}

/// A product as the catalogue holds it (now, or as one version described it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueEntry {
    /// GTIN, 14 digits.
    pub gtin: String,
    /// Manufacturer.
    pub manufacturer: String,
    /// Brand.
    pub brand: String,
    /// Model, if known.
    pub model: Option<String>,
    /// The manufacturer's catalogue number, if known.
    pub catalogue_ref: Option<String>,
    /// Category.
    pub category: String,
    /// Bearing, fixation, material, … by name.
    pub attributes: BTreeMap<String, String>,
    /// The catalogue version that last changed it (`None`: written before any catalogue load,
    /// by synthesis).
    pub version: Option<u32>,
}

/// One catalogue load as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CatalogueVersion {
    /// Version number (1, 2, …).
    pub version: u32,
    /// Where the file came from (its name).
    pub source: String,
    /// Who loaded it (`user:<id>`), or `None` from the command line.
    pub loaded_by: Option<String>,
    /// When.
    pub loaded_at: OffsetDateTime,
    /// Products in the file.
    pub products: u64,
    /// Of which new.
    pub added: u64,
    /// Of which changed.
    pub changed: u64,
    /// Of which unchanged.
    pub unchanged: u64,
}

/// Review status of an unknown GTIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownStatus {
    /// Waiting for review.
    Pending,
    /// A later catalogue load added it.
    Added,
    /// An operator dismissed it (a mis-scan, a non-implant).
    Dismissed,
}

impl UnknownStatus {
    /// As stored.
    pub fn as_str(self) -> &'static str {
        match self {
            UnknownStatus::Pending => "pending",
            UnknownStatus::Added => "added",
            UnknownStatus::Dismissed => "dismissed",
        }
    }

    fn parse(text: &str) -> Result<Self> {
        match text {
            "pending" => Ok(UnknownStatus::Pending),
            "added" => Ok(UnknownStatus::Added),
            "dismissed" => Ok(UnknownStatus::Dismissed),
            other => Err(StoreError::Corrupt(format!("unknown GTIN status {other:?}"))),
        }
    }
}

/// A GTIN scanned at capture that the catalogue did not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownGtin {
    /// GTIN, 14 digits.
    pub gtin: String,
    /// First scanned.
    pub first_seen: OffsetDateTime,
    /// Last scanned.
    pub last_seen: OffsetDateTime,
    /// How many times it was scanned while unknown.
    pub times_seen: u64,
    /// The registry it was first scanned for.
    pub registry: Option<String>,
    /// The organisation (ODS code) it was first scanned at.
    pub organisation: Option<String>,
    /// Review status.
    pub status: UnknownStatus,
}

/// A product's stored description, for comparing with what a file says.
type Described = (String, String, Option<String>, Option<String>, String, String);

fn describe(p: &CatalogueProduct) -> Described {
    (
        p.manufacturer.clone(),
        p.brand.clone(),
        p.model.clone(),
        p.catalogue_ref.clone(),
        p.category.clone(),
        attributes_json(&p.attributes),
    )
}

fn attributes_json(attributes: &BTreeMap<String, String>) -> String {
    serde_json::to_string(attributes).expect("a map of strings serialises")
}

fn attributes_of(json: Option<&str>) -> Result<BTreeMap<String, String>> {
    match json {
        None => Ok(BTreeMap::new()),
        Some(text) => serde_json::from_str(text)
            .map_err(|e| StoreError::Corrupt(format!("product attributes are not a JSON object of strings: {e}"))),
    }
}

/// A product row without its version.
type StoredRow = (String, String, String, Option<String>, Option<String>, String, Option<String>);

type EntryRow = (String, String, String, Option<String>, Option<String>, String, Option<String>, Option<i32>);

const ENTRY_COLUMNS: &str = "gtin, manufacturer, brand, model, catalogue_ref, category, attributes, version";

fn entry_of(row: EntryRow) -> Result<CatalogueEntry> {
    let (gtin, manufacturer, brand, model, catalogue_ref, category, attributes, version) = row;
    Ok(CatalogueEntry {
        gtin,
        manufacturer,
        brand,
        model,
        catalogue_ref,
        category,
        attributes: attributes_of(attributes.as_deref())?,
        version: version.map(|v| v as u32),
    })
}

/// `text` with LIKE's wildcards escaped (escape character `\`).
fn like_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

type UnknownRow = (String, OffsetDateTime, OffsetDateTime, i32, Option<String>, Option<String>, String);

impl Store {
    /// Loads a catalogue file's products as a new catalogue version, in one transaction with
    /// `audit` (given the target `catalogue:v<version>`). See the module documentation.
    pub async fn load_catalogue(
        &self,
        source: &str,
        by: Option<&str>,
        products: &[CatalogueProduct],
        audit: &AuditNote,
    ) -> Result<CatalogueLoad> {
        let at = now();
        let load = on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (latest,): (Option<i32>,) =
                sqlx::query_as("SELECT MAX(version) FROM catalogue_versions").fetch_one(&mut *tx).await?;
            let version = latest.unwrap_or(0) + 1;
            let stored: Vec<StoredRow> =
                sqlx::query_as(
                    "SELECT gtin, manufacturer, brand, model, catalogue_ref, category, attributes FROM products",
                )
                .fetch_all(&mut *tx)
                .await?;
            let stored: HashMap<String, Described> = stored
                .into_iter()
                .map(|(gtin, manufacturer, brand, model, catalogue_ref, category, attributes)| {
                    // Products written before any load have no attributes: the same as none.
                    let attributes = attributes.unwrap_or_else(|| "{}".into());
                    (gtin, (manufacturer, brand, model, catalogue_ref, category, attributes))
                })
                .collect();
            // What the file does to each product, decided before anything is written so the
            // (immutable) version row is written once, with its counts.
            let plan: Vec<(&CatalogueProduct, Described, Option<bool>)> = products
                .iter()
                .map(|p| {
                    let description = describe(p);
                    let change = match stored.get(p.gtin.as_str()) {
                        Some(old) if *old == description => None,
                        Some(_) => Some(false),
                        None => Some(true),
                    };
                    (p, description, change)
                })
                .collect();
            let added = plan.iter().filter(|(_, _, c)| *c == Some(true)).count() as u64;
            let changed = plan.iter().filter(|(_, _, c)| *c == Some(false)).count() as u64;
            let unchanged = products.len() as u64 - added - changed;
            // The version row first: products and history refer to it.
            sqlx::query(
                "INSERT INTO catalogue_versions (version, source, loaded_by, loaded_at, products, added, changed, unchanged) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(version)
            .bind(source)
            .bind(by)
            .bind(at)
            .bind(products.len() as i32)
            .bind(added as i32)
            .bind(changed as i32)
            .bind(unchanged as i32)
            .execute(&mut *tx)
            .await?;
            for (p, description, change) in &plan {
                let gtin = p.gtin.as_str();
                match change {
                    None => continue,
                    Some(false) => {
                        sqlx::query(
                            "UPDATE products SET manufacturer = $2, brand = $3, model = $4, catalogue_ref = $5, \
                             category = $6, attributes = $7, version = $8 WHERE gtin = $1",
                        )
                        .bind(gtin)
                        .bind(&description.0)
                        .bind(&description.1)
                        .bind(&description.2)
                        .bind(&description.3)
                        .bind(&description.4)
                        .bind(&description.5)
                        .bind(version)
                        .execute(&mut *tx)
                        .await?;
                    }
                    Some(true) => {
                        sqlx::query(
                            "INSERT INTO products (gtin, manufacturer, brand, model, catalogue_ref, category, attributes, \
                             version, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                        )
                        .bind(gtin)
                        .bind(&description.0)
                        .bind(&description.1)
                        .bind(&description.2)
                        .bind(&description.3)
                        .bind(&description.4)
                        .bind(&description.5)
                        .bind(version)
                        .bind(at)
                        .execute(&mut *tx)
                        .await?;
                    }
                }
                sqlx::query(
                    "INSERT INTO product_history (gtin, version, manufacturer, brand, model, catalogue_ref, category, \
                     attributes) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(gtin)
                .bind(version)
                .bind(&description.0)
                .bind(&description.1)
                .bind(&description.2)
                .bind(&description.3)
                .bind(&description.4)
                .bind(&description.5)
                .execute(&mut *tx)
                .await?;
                sqlx::query("UPDATE unknown_gtins SET status = 'added' WHERE gtin = $1 AND status <> 'added'")
                    .bind(gtin)
                    .execute(&mut *tx)
                    .await?;
            }
            let note = audit.clone().target(format!("catalogue:v{version}"));
            append_in_tx(&mut *tx, std::slice::from_ref(&note)).await?;
            tx.commit().await?;
            CatalogueLoad { version: version as u32, added, changed, unchanged }
        });
        Ok(load)
    }

    /// Every catalogue version, oldest first, with the counts of what it did.
    pub async fn catalogue_versions(&self) -> Result<Vec<CatalogueVersion>> {
        type Row = (i32, String, Option<String>, OffsetDateTime, i32, i32, i32, i32);
        let rows: Vec<Row> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT version, source, loaded_by, loaded_at, products, added, changed, unchanged \
                 FROM catalogue_versions ORDER BY version",
            )
            .fetch_all(pool)
            .await?
        });
        Ok(rows
            .into_iter()
            .map(|(version, source, loaded_by, loaded_at, products, added, changed, unchanged)| CatalogueVersion {
                version: version as u32,
                source,
                loaded_by,
                loaded_at,
                products: products as u64,
                added: added as u64,
                changed: changed as u64,
                unchanged: unchanged as u64,
            })
            .collect())
    }

    /// The catalogue's products matching `q`, by GTIN: digits only is a GTIN prefix; anything
    /// else is a case-insensitive substring of the manufacturer, brand, model, catalogue number
    /// or category. An empty `q` lists the catalogue from the start. At most `limit` (capped at
    /// [`MAX_CATALOGUE_SEARCH`]) rows.
    pub async fn catalogue_search(&self, q: &str, limit: u32) -> Result<Vec<CatalogueEntry>> {
        let q = q.trim();
        let limit = i64::from(limit.min(MAX_CATALOGUE_SEARCH));
        let rows: Vec<EntryRow> = if !q.is_empty() && q.bytes().all(|b| b.is_ascii_digit()) {
            let pattern = format!("{q}%");
            on_db!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ENTRY_COLUMNS} FROM products WHERE gtin LIKE $1 ORDER BY gtin LIMIT $2"
                )))
                .bind(pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?
            })
        } else {
            let pattern = format!("%{}%", like_escape(&q.to_lowercase()));
            on_db!(self, pool => {
                sqlx::query_as(sqlx::AssertSqlSafe(format!(
                    "SELECT {ENTRY_COLUMNS} FROM products WHERE lower(brand) LIKE $1 ESCAPE '\\' \
                     OR lower(manufacturer) LIKE $1 ESCAPE '\\' OR lower(COALESCE(model, '')) LIKE $1 ESCAPE '\\' \
                     OR lower(COALESCE(catalogue_ref, '')) LIKE $1 ESCAPE '\\' OR lower(category) LIKE $1 ESCAPE '\\' \
                     ORDER BY manufacturer, brand, gtin LIMIT $2"
                )))
                .bind(pattern)
                .bind(limit)
                .fetch_all(pool)
                .await?
            })
        };
        rows.into_iter().map(entry_of).collect()
    }

    /// One product as the catalogue holds it now.
    pub async fn product(&self, gtin: &str) -> Result<Option<CatalogueEntry>> {
        let row: Option<EntryRow> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!("SELECT {ENTRY_COLUMNS} FROM products WHERE gtin = $1")))
                .bind(gtin)
                .fetch_optional(pool)
                .await?
        });
        row.map(entry_of).transpose()
    }

    /// What each catalogue version that changed `gtin` said about it, oldest first.
    pub async fn product_history(&self, gtin: &str) -> Result<Vec<CatalogueEntry>> {
        let rows: Vec<EntryRow> = on_db!(self, pool => {
            sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT {ENTRY_COLUMNS} FROM product_history WHERE gtin = $1 ORDER BY version"
            )))
            .bind(gtin)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter().map(entry_of).collect()
    }

    /// Notes a scan of a GTIN the catalogue does not know: queues it (pending) the first time,
    /// counts it afterwards. Does nothing for a GTIN the catalogue knows. Returns whether it is
    /// (now) queued. The registry and organisation kept are those of the first scan.
    pub async fn note_unknown_gtin(&self, gtin: &str, registry: &str, organisation: &str) -> Result<bool> {
        let at = now();
        let written = on_db!(self, pool => {
            sqlx::query(
                "INSERT INTO unknown_gtins (gtin, first_seen, last_seen, times_seen, registry_id, organisation, status) \
                 SELECT $1, $2, $2, 1, $3, $4, 'pending' WHERE NOT EXISTS (SELECT 1 FROM products WHERE gtin = $1) \
                 ON CONFLICT (gtin) DO UPDATE SET times_seen = unknown_gtins.times_seen + 1, last_seen = excluded.last_seen",
            )
            .bind(gtin)
            .bind(at)
            .bind(registry)
            .bind(organisation)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(written > 0)
    }

    /// The unknown GTINs with `status`, most recently scanned first.
    pub async fn unknown_gtins(&self, status: UnknownStatus) -> Result<Vec<UnknownGtin>> {
        let rows: Vec<UnknownRow> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT gtin, first_seen, last_seen, times_seen, registry_id, organisation, status FROM unknown_gtins \
                 WHERE status = $1 ORDER BY last_seen DESC, gtin",
            )
            .bind(status.as_str())
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(gtin, first_seen, last_seen, times_seen, registry, organisation, status)| {
                Ok(UnknownGtin {
                    gtin,
                    first_seen,
                    last_seen,
                    times_seen: times_seen as u64,
                    registry,
                    organisation,
                    status: UnknownStatus::parse(&status)?,
                })
            })
            .collect()
    }

    /// Dismisses a pending unknown GTIN (a mis-scan, not an implant), with `audit` (given the
    /// target `gtin:<gtin>`) in the same transaction. `NotFound` if it is not pending.
    pub async fn dismiss_unknown_gtin(&self, gtin: &str, by: Option<&str>, audit: &AuditNote) -> Result<()> {
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let done = sqlx::query(
                "UPDATE unknown_gtins SET status = 'dismissed', reviewed_by = $2, reviewed_at = $3 \
                 WHERE gtin = $1 AND status = 'pending'",
            )
            .bind(gtin)
            .bind(by)
            .bind(at)
            .execute(&mut *tx)
            .await?
            .rows_affected();
            if done == 0 {
                return Err(StoreError::NotFound("pending unknown GTIN".into()));
            }
            let note = audit.clone().target(format!("gtin:{gtin}"));
            append_in_tx(&mut *tx, std::slice::from_ref(&note)).await?;
            tx.commit().await?;
        });
        Ok(())
    }
}
