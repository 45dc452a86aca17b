//! Device recalls: the recalls themselves, which stored implants they reach, the per-organisation
//! counts a safety officer sees, the worklists a hospital works through, and the append-only
//! follow-up of each affected unit.
//!
//! Matching is done in SQL with the `implants_by_gtin` and `implants_by_gtin_serial` indexes
//! (migration 0008) and, for the matched units themselves, the covering `implants_recall_units`
//! and `patients_vital_status` (migration 0009): every value of a recall's criteria is a bound
//! parameter, never part of the SQL text. Counts only ever cover the registries of the caller's [`RunRecalls`]; a worklist
//! only the organisations of the caller's [`RecordsRead`]. Whether a unit has been revised (a
//! later revision of the same patient, site and side, as the outcome statistics define it) is
//! one indexed look-up per unit in the `revised` table (migration 0009), which every record
//! write keeps in step with the records' current revisions (`crate::revised`). Opt-out never
//! removes a patient from a recall: it limits research use, not their care.

use std::collections::{BTreeMap, HashMap};

use sqlx::Row;
use tessera_domain::access::{RecordsRead, RecordsWrite, RunRecalls};
use tessera_domain::outcomes::OutcomeSpec;
use tessera_domain::recall::{FollowUp, RecallCriteria, RecallHeader, RecallStatus, UnitFacts};
use tessera_domain::{NhsNumber, OdsCode};
use time::{Date, OffsetDateTime};
use uuid::Uuid;

use crate::{AuditNote, BeginWrite as _, NewImplant, RegistryCipher, Result, Store, StoreError, now, on_db};

/// A recall to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRecall {
    /// Reference, title and manufacturer.
    pub header: RecallHeader,
    /// Which units it reaches.
    pub criteria: RecallCriteria,
}

/// A stored recall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallRow {
    /// The recall's id.
    pub id: Uuid,
    /// Reference, title and manufacturer.
    pub header: RecallHeader,
    /// Which units it reaches.
    pub criteria: RecallCriteria,
    /// Who created it (user id).
    pub created_by: String,
    /// When.
    pub created_at: OffsetDateTime,
    /// Open or closed.
    pub status: RecallStatus,
    /// When it was closed.
    pub closed_at: Option<OffsetDateTime>,
}

/// A recall's counts at one organisation of one registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgCounts {
    /// The registry.
    pub registry: String,
    /// The organisation (ODS code) where the units were implanted.
    pub organisation: String,
    /// Units the recall reaches.
    pub total: u64,
    /// Of them, still implanted as far as the registry knows (not revised).
    pub implanted: u64,
    /// Of them, revised later (same patient, site and side).
    pub revised: u64,
    /// Of them, in patients who have died.
    pub deceased: u64,
    /// Of them, in patients who have opted out (still on the recall).
    pub opted_out: u64,
    /// Units recorded since the organisation last opened its worklist (all, if it never has).
    pub new_since_seen: u64,
    /// Units by current follow-up status, every status listed (zero included).
    pub by_status: Vec<(FollowUp, u64)>,
}

/// A recall's counts over the registries of a [`RunRecalls`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecallCounts {
    /// Units the recall reaches.
    pub total: u64,
    /// Of them, still implanted (not revised).
    pub implanted: u64,
    /// Of them, revised later.
    pub revised: u64,
    /// Of them, in patients alive as far as the registry knows.
    pub alive: u64,
    /// Of them, in patients who have died.
    pub deceased: u64,
    /// Of them, in patients who have opted out.
    pub opted_out: u64,
    /// Per (registry, organisation), in that order.
    pub per_org: Vec<OrgCounts>,
}

/// One affected unit on an organisation's worklist. Identifiers are decrypted; anonymous
/// patients (no consent) have none.
#[derive(Clone, PartialEq, Eq)]
pub struct WorklistRow {
    /// The implanted unit.
    pub implant_id: Uuid,
    /// Its patient (pseudonymous row id), if recorded.
    pub patient_id: Option<Uuid>,
    /// NHS number.
    pub nhs_number: Option<NhsNumber>,
    /// Family name.
    pub family_name: Option<String>,
    /// Given name.
    pub given_name: Option<String>,
    /// Date of birth.
    pub date_of_birth: Option<Date>,
    /// GTIN.
    pub gtin: String,
    /// Lot.
    pub lot: Option<String>,
    /// Serial number.
    pub serial: Option<String>,
    /// When it was implanted.
    pub implanted_on: Option<Date>,
    /// When it was revised, if it was.
    pub revised_on: Option<Date>,
    /// When the patient died, if they have.
    pub deceased_on: Option<Date>,
    /// Whether the patient has opted out (they stay on the worklist).
    pub opted_out: bool,
    /// The current follow-up status.
    pub status: FollowUp,
    /// When the status was last set (none while still "to contact").
    pub status_at: Option<OffsetDateTime>,
    /// Whether the unit was recorded after the recall was opened (a standing recall).
    pub joined_after_opening: bool,
}

impl std::fmt::Debug for WorklistRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WorklistRow({}, <identifiers>)", self.implant_id)
    }
}

/// One entry of a unit's follow-up history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FollowUpRow {
    /// 1 for the first entry, counting up.
    pub seq: u32,
    /// The status set.
    pub status: FollowUp,
    /// A note, if one was written.
    pub note: Option<String>,
    /// Who set it (user id).
    pub by_user: String,
    /// When.
    pub at: OffsetDateTime,
}

/// A value bound to a numbered placeholder of a query built here.
enum Param {
    Text(String),
    Date(Date),
    Uuid(Uuid),
}

/// SQL text with `$n` placeholders and the values they stand for, in order.
#[derive(Default)]
struct Query {
    sql: String,
    params: Vec<Param>,
}

impl Query {
    fn push(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    fn bind(&mut self, p: Param) -> &mut Self {
        self.params.push(p);
        self.sql.push_str(&format!("${}", self.params.len()));
        self
    }

    /// ` AND column IN ($a, $b, …)`; nothing for an empty list.
    fn and_in<'a>(&mut self, column: &str, values: impl IntoIterator<Item = &'a str>) -> &mut Self {
        let mut first = true;
        for v in values {
            self.push(if first { " AND " } else { ", " });
            if first {
                self.push(column).push(" IN (");
            }
            first = false;
            self.bind(Param::Text(v.to_owned()));
        }
        if !first {
            self.push(")");
        }
        self
    }

    fn and_range(&mut self, column: &str, range: &Option<tessera_domain::recall::DateRange>) -> &mut Self {
        if let Some(r) = range {
            self.push(" AND ").push(column).push(" IS NOT NULL");
            if let Some(from) = r.from {
                self.push(" AND ").push(column).push(" >= ").bind(Param::Date(from));
            }
            if let Some(to) = r.to {
                self.push(" AND ").push(column).push(" <= ").bind(Param::Date(to));
            }
        }
        self
    }

    /// The conditions on implants `i` that make a unit match `c`, within `registries` (and
    /// `org`, if given). Mirrors [`RecallCriteria::matches`]: a restricted attribute the unit
    /// lacks does not match (`IN` and range comparisons are never true of NULL).
    fn matching(&mut self, c: &RecallCriteria, registries: &[String], org: Option<&str>) -> &mut Self {
        self.push("i.gtin IN (");
        for (n, g) in c.gtins.iter().enumerate() {
            if n > 0 {
                self.push(", ");
            }
            self.bind(Param::Text(g.clone()));
        }
        self.push(")");
        self.and_in("i.lot", c.lots.iter().map(String::as_str));
        self.and_in("i.serial", c.serials.iter().map(String::as_str));
        self.and_range("i.expiry", &c.expiry);
        self.and_range("i.manufactured", &c.manufactured);
        self.and_range("i.implanted_on", &c.implanted);
        self.and_in("i.organisation", c.organisations.iter().map(String::as_str));
        self.and_in("i.registry_id", registries.iter().map(String::as_str));
        if let Some(org) = org {
            self.push(" AND i.organisation = ").bind(Param::Text(org.to_owned()));
        }
        self
    }
}

/// Binds a [`Query`]'s parameters to an sqlx query of either driver.
macro_rules! bound {
    ($q:expr, $make:expr) => {{
        let q = $q;
        // The SQL text holds only fixed fragments and `$n` placeholders; every value is bound.
        let mut out = $make(sqlx::AssertSqlSafe(q.sql));
        for p in q.params {
            out = match p {
                Param::Text(s) => out.bind(s),
                Param::Date(d) => out.bind(d),
                Param::Uuid(u) => out.bind(u),
            };
        }
        out
    }};
}

/// A matched unit, with what the counts and worklists need of it.
struct Unit {
    implant_id: Uuid,
    registry: String,
    organisation: String,
    patient_id: Option<Uuid>,
    gtin: String,
    lot: Option<String>,
    serial: Option<String>,
    implanted_on: Option<Date>,
    created_at: OffsetDateTime,
    deceased_on: Option<Date>,
    opted_out: bool,
    /// The first revision of the same patient, site and side after the implant date.
    revised_on: Option<Date>,
    status: FollowUp,
    status_at: Option<OffsetDateTime>,
    seen_at: Option<OffsetDateTime>,
}

const RECALL_COLUMNS: &str =
    "id, reference, title, manufacturer, criteria, created_by, created_at, status, closed_at FROM recalls";

fn recall_row<R: Row>(r: &R) -> Result<RecallRow>
where
    usize: sqlx::ColumnIndex<R>,
    for<'a> Uuid: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> OffsetDateTime: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<OffsetDateTime>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    let criteria: String = r.try_get(4)?;
    let status: String = r.try_get(7)?;
    Ok(RecallRow {
        id: r.try_get(0)?,
        header: RecallHeader { reference: r.try_get(1)?, title: r.try_get(2)?, manufacturer: r.try_get(3)? },
        criteria: serde_json::from_str(&criteria).map_err(|e| StoreError::Corrupt(format!("recall criteria: {e}")))?,
        created_by: r.try_get(5)?,
        created_at: r.try_get(6)?,
        status: RecallStatus::parse(&status).ok_or_else(|| StoreError::Corrupt("recall status".into()))?,
        closed_at: r.try_get(8)?,
    })
}

fn follow_up(s: Option<String>) -> Result<FollowUp> {
    match s {
        None => Ok(FollowUp::ToContact),
        Some(s) => FollowUp::parse(&s).ok_or_else(|| StoreError::Corrupt("follow-up status".into())),
    }
}

impl Store {
    /// Creates an open recall, appending `audit` (its target set to `recall:<id>`) in the same
    /// transaction. A reference already used is a [`StoreError::Conflict`].
    pub async fn create_recall(&self, run: &RunRecalls, recall: &NewRecall, audit: &AuditNote) -> Result<Uuid> {
        let id = Uuid::now_v7();
        let criteria = serde_json::to_string(&recall.criteria).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let audit = [audit.clone().target(format!("recall:{id}"))];
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let taken: Option<(Uuid,)> = sqlx::query_as("SELECT id FROM recalls WHERE reference = $1")
                .bind(&recall.header.reference)
                .fetch_optional(&mut *tx)
                .await?;
            if taken.is_some() {
                return Err(StoreError::Conflict("a recall with this reference already exists".into()));
            }
            let inserted = sqlx::query(
                "INSERT INTO recalls (id, reference, title, manufacturer, criteria, created_by, created_at, status, closed_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, 'open', NULL)",
            )
            .bind(id)
            .bind(&recall.header.reference)
            .bind(&recall.header.title)
            .bind(&recall.header.manufacturer)
            .bind(&criteria)
            .bind(run.principal().user_id())
            .bind(at)
            .execute(&mut *tx)
            .await;
            match inserted {
                Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                    return Err(StoreError::Conflict("a recall with this reference already exists".into()));
                }
                other => other?,
            };
            crate::audit::append_in_tx(&mut *tx, &audit).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// Every recall: open ones first, newest first.
    pub async fn recalls(&self) -> Result<Vec<RecallRow>> {
        on_db!(self, pool => {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {RECALL_COLUMNS} ORDER BY CASE status WHEN 'open' THEN 0 ELSE 1 END, created_at DESC, id DESC"
            )))
            .fetch_all(pool)
            .await?;
            rows.iter().map(recall_row).collect()
        })
    }

    /// One recall.
    pub async fn recall(&self, id: Uuid) -> Result<Option<RecallRow>> {
        on_db!(self, pool => {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!("SELECT {RECALL_COLUMNS} WHERE id = $1")))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            row.as_ref().map(recall_row).transpose()
        })
    }

    async fn recall_or_not_found(&self, id: Uuid) -> Result<RecallRow> {
        self.recall(id).await?.ok_or_else(|| StoreError::NotFound("recall".into()))
    }

    /// Closes an open recall, appending `audit` (target `recall:<id>`) in the same transaction.
    /// An unknown recall is [`StoreError::NotFound`]; one already closed a
    /// [`StoreError::Conflict`].
    pub async fn close_recall(&self, run: &RunRecalls, id: Uuid, audit: &AuditNote) -> Result<()> {
        let _ = run;
        let audit = [audit.clone().target(format!("recall:{id}"))];
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let status: Option<(String,)> =
                sqlx::query_as("SELECT status FROM recalls WHERE id = $1").bind(id).fetch_optional(&mut *tx).await?;
            match status {
                None => return Err(StoreError::NotFound("recall".into())),
                Some((s,)) if s != RecallStatus::Open.as_str() => {
                    return Err(StoreError::Conflict("the recall is already closed".into()));
                }
                Some(_) => {}
            }
            sqlx::query("UPDATE recalls SET status = 'closed', closed_at = $2 WHERE id = $1")
                .bind(id)
                .bind(at)
                .execute(&mut *tx)
                .await?;
            crate::audit::append_in_tx(&mut *tx, &audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// The units `recall` reaches in `registries` (at `org`, if given), with their patients'
    /// death and opt-out, their current follow-up status and when their organisation last
    /// looked. In (registry, organisation, implant) order.
    async fn matched_units(&self, recall: &RecallRow, registries: &[String], org: Option<&str>) -> Result<Vec<Unit>> {
        let mut q = Query::default();
        q.push(
            "SELECT i.id, i.registry_id, i.organisation, i.patient_id, i.gtin, i.lot, i.serial, i.implanted_on, i.created_at, p.date_of_death, p.opted_out, \
             (SELECT MIN(v.operated_on) FROM revised v WHERE v.patient_id = i.patient_id \
              AND v.registry_id = i.registry_id AND v.site = i.site AND v.side = i.side \
              AND v.operated_on > i.implanted_on), \
             f.status, f.at, s.seen_at FROM implants i \
             LEFT JOIN patients p ON p.id = i.patient_id AND p.registry_id = i.registry_id \
             LEFT JOIN recall_followup_current f ON f.recall_id = ",
        )
        .bind(Param::Uuid(recall.id))
        .push(" AND f.implant_id = i.id LEFT JOIN recall_seen s ON s.recall_id = ")
        .bind(Param::Uuid(recall.id))
        .push(" AND s.registry_id = i.registry_id AND s.organisation = i.organisation WHERE ")
        .matching(&recall.criteria, registries, org)
        .push(" ORDER BY i.registry_id, i.organisation, i.id");
        on_db!(self, pool => {
            let rows = bound!(q, sqlx::query).fetch_all(pool).await?;
            rows.iter()
                .map(|r| {
                    Ok(Unit {
                        implant_id: r.try_get(0)?,
                        registry: r.try_get(1)?,
                        organisation: r.try_get(2)?,
                        patient_id: r.try_get(3)?,
                        gtin: r.try_get(4)?,
                        lot: r.try_get(5)?,
                        serial: r.try_get(6)?,
                        implanted_on: r.try_get(7)?,
                        created_at: r.try_get(8)?,
                        deceased_on: r.try_get(9)?,
                        opted_out: r.try_get::<Option<bool>, _>(10)?.unwrap_or(false),
                        revised_on: r.try_get(11)?,
                        status: follow_up(r.try_get(12)?)?,
                        status_at: r.try_get(13)?,
                        seen_at: r.try_get(14)?,
                    })
                })
                .collect::<Result<Vec<_>>>()
        })
    }

    /// A recall's counts over the registries `run` covers, in total and per (registry,
    /// organisation). Matching is done in SQL; revision is read from the matched patients'
    /// records.
    pub async fn recall_counts(&self, run: &RunRecalls, id: Uuid) -> Result<RecallCounts> {
        let recall = self.recall_or_not_found(id).await?;
        let registries: Vec<String> = run.registries().iter().map(|r| r.as_str().to_owned()).collect();
        let units = self.matched_units(&recall, &registries, None).await?;
        let per_org = per_org_counts(&units);
        let sum = |f: fn(&OrgCounts) -> u64| per_org.iter().map(f).sum::<u64>();
        let (total, deceased) = (sum(|c| c.total), sum(|c| c.deceased));
        Ok(RecallCounts {
            total,
            implanted: sum(|c| c.implanted),
            revised: sum(|c| c.revised),
            alive: total - deceased,
            deceased,
            opted_out: sum(|c| c.opted_out),
            per_org,
        })
    }

    /// The per-organisation counts of a recall at the organisations `read` covers in its
    /// registry: the dashboard of someone who reads records there (and so may open those
    /// worklists) but runs no recalls. [`StoreError::NotFound`] for an unknown recall.
    pub async fn recall_counts_at(&self, read: &RecordsRead, id: Uuid) -> Result<Vec<OrgCounts>> {
        let recall = self.recall_or_not_found(id).await?;
        let registries = vec![read.registry().as_str().to_owned()];
        let units: Vec<Unit> = self
            .matched_units(&recall, &registries, None)
            .await?
            .into_iter()
            .filter(|u| OdsCode::parse(&u.organisation).is_ok_and(|o| read.covers(&o)))
            .collect();
        Ok(per_org_counts(&units))
    }

    /// How many units a recall reaches at each organisation, over the registries `run` covers:
    /// one grouped count, answered from the `implants_by_gtin` index when the recall restricts
    /// only GTINs, lots and organisations.
    pub async fn recall_org_counts(&self, run: &RunRecalls, id: Uuid) -> Result<Vec<(String, u64)>> {
        let recall = self.recall_or_not_found(id).await?;
        let registries: Vec<String> = run.registries().iter().map(|r| r.as_str().to_owned()).collect();
        let mut q = Query::default();
        q.push("SELECT i.organisation, COUNT(*) FROM implants i WHERE ")
            .matching(&recall.criteria, &registries, None)
            .push(" GROUP BY i.organisation ORDER BY i.organisation");
        let rows: Vec<(String, i64)> = on_db!(self, pool => bound!(q, sqlx::query_as).fetch_all(pool).await?);
        Ok(rows.into_iter().map(|(o, n)| (o, n.max(0) as u64)).collect())
    }

    /// The worklist of one organisation: every unit the recall reaches there, with the patient's
    /// identifiers decrypted, whether the unit was revised, the patient's death and opt-out (an
    /// opted-out patient stays on it), and its follow-up status. `org` must be one `read`
    /// reaches, else [`StoreError::NotFound`]. `audit` (target `recall:<id>`) is appended, and
    /// the organisation's "last looked" time recorded, in one transaction committed *before*
    /// anything is returned: if the audit cannot be stored, no data leaves.
    pub async fn recall_worklist(
        &self,
        read: &RecordsRead,
        cipher: &RegistryCipher,
        id: Uuid,
        org: &OdsCode,
        audit: &AuditNote,
    ) -> Result<Vec<WorklistRow>> {
        if cipher.registry() != read.registry() {
            return Err(StoreError::Conflict("the cipher is not the capability's registry".into()));
        }
        if !read.covers(org) {
            return Err(StoreError::NotFound("organisation".into()));
        }
        let recall = self.recall_or_not_found(id).await?;
        let registry = read.registry().as_str().to_owned();
        let units = self.matched_units(&recall, std::slice::from_ref(&registry), Some(org.as_str())).await?;
        let mut patients: HashMap<Uuid, crate::PatientView> = HashMap::new();
        for p in units.iter().filter_map(|u| u.patient_id) {
            if let std::collections::hash_map::Entry::Vacant(slot) = patients.entry(p) {
                slot.insert(self.patient(cipher, p).await?);
            }
        }
        let rows: Vec<WorklistRow> = units
            .iter()
            .map(|u| {
                let ids = u.patient_id.and_then(|p| patients.get(&p)).and_then(|v| v.patient.identifiers());
                WorklistRow {
                    implant_id: u.implant_id,
                    patient_id: u.patient_id,
                    nhs_number: ids.map(|i| i.nhs_number().clone()),
                    family_name: ids.map(|i| i.family_name().to_owned()),
                    given_name: ids.map(|i| i.given_name().to_owned()),
                    date_of_birth: ids.map(|i| i.date_of_birth()),
                    gtin: u.gtin.clone(),
                    lot: u.lot.clone(),
                    serial: u.serial.clone(),
                    implanted_on: u.implanted_on,
                    revised_on: u.revised_on,
                    deceased_on: u.deceased_on,
                    opted_out: u.opted_out,
                    status: u.status,
                    status_at: u.status_at,
                    joined_after_opening: u.created_at > recall.created_at,
                }
            })
            .collect();
        let audit = [audit.clone().target(format!("recall:{id}"))];
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO recall_seen (recall_id, registry_id, organisation, seen_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (recall_id, registry_id, organisation) DO UPDATE SET seen_at = excluded.seen_at",
            )
            .bind(id)
            .bind(&registry)
            .bind(org.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            crate::audit::append_in_tx(&mut *tx, &audit).await?;
            tx.commit().await?;
        });
        Ok(rows)
    }

    /// The unit `implant_id` if the recall reaches it and it lies in `read`'s registry and
    /// organisations; otherwise [`StoreError::NotFound`], alike for "no such unit" and "not
    /// yours".
    async fn recalled_unit(&self, read: &RecordsRead, recall: &RecallRow, implant_id: Uuid) -> Result<()> {
        type Facts = (String, String, String, Option<String>, Option<String>, Option<Date>, Option<Date>, Option<Date>);
        let row: Option<Facts> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT registry_id, organisation, gtin, lot, serial, expiry, manufactured, implanted_on \
                 FROM implants WHERE id = $1",
            )
            .bind(implant_id)
            .fetch_optional(pool)
            .await?
        });
        let not_found = || StoreError::NotFound("implant".into());
        let (registry, organisation, gtin, lot, serial, expiry, manufactured, implanted) = row.ok_or_else(not_found)?;
        let org = OdsCode::parse(&organisation).map_err(|_| StoreError::Corrupt("implant organisation".into()))?;
        let unit = UnitFacts {
            gtin: &gtin,
            lot: lot.as_deref(),
            serial: serial.as_deref(),
            expiry,
            manufactured,
            implanted,
            organisation: &organisation,
        };
        if registry != read.registry().as_str() || !read.covers(&org) || !recall.criteria.matches(&unit) {
            return Err(not_found());
        }
        Ok(())
    }

    /// Sets the follow-up status of one unit of a recall: a new entry appended (earlier ones are
    /// kept; the database refuses to change them), with `audit` (target `implant:<id>`) in the
    /// same transaction. The unit must be one the recall reaches at an organisation `read`
    /// covers, else [`StoreError::NotFound`]; a closed recall is a [`StoreError::Conflict`].
    pub async fn set_followup(
        &self,
        read: &RecordsRead,
        id: Uuid,
        implant_id: Uuid,
        status: FollowUp,
        note: Option<&str>,
        audit: &AuditNote,
    ) -> Result<()> {
        let recall = self.recall_or_not_found(id).await?;
        self.recalled_unit(read, &recall, implant_id).await?;
        if recall.status != RecallStatus::Open {
            return Err(StoreError::Conflict("the recall is closed".into()));
        }
        let note = note.map(str::trim).filter(|n| !n.is_empty());
        let audit = [audit.clone().target(format!("implant:{implant_id}"))];
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let (last,): (Option<i32>,) =
                sqlx::query_as("SELECT MAX(seq) FROM recall_followups WHERE recall_id = $1 AND implant_id = $2")
                    .bind(id)
                    .bind(implant_id)
                    .fetch_one(&mut *tx)
                    .await?;
            let seq = last.unwrap_or(0) + 1;
            sqlx::query(
                "INSERT INTO recall_followups (recall_id, implant_id, seq, status, note, by_user, at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .bind(id)
            .bind(implant_id)
            .bind(seq)
            .bind(status.as_str())
            .bind(note)
            .bind(read.principal().user_id())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            sqlx::query(
                "INSERT INTO recall_followup_current (recall_id, implant_id, seq, status, at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (recall_id, implant_id) DO UPDATE SET seq = excluded.seq, status = excluded.status, at = excluded.at",
            )
            .bind(id)
            .bind(implant_id)
            .bind(seq)
            .bind(status.as_str())
            .bind(at)
            .execute(&mut *tx)
            .await?;
            crate::audit::append_in_tx(&mut *tx, &audit).await?;
            tx.commit().await?;
        });
        Ok(())
    }

    /// Every follow-up entry of one unit of a recall, oldest first. The same reach rule as
    /// [`Store::set_followup`].
    pub async fn followup_history(&self, read: &RecordsRead, id: Uuid, implant_id: Uuid) -> Result<Vec<FollowUpRow>> {
        let recall = self.recall_or_not_found(id).await?;
        self.recalled_unit(read, &recall, implant_id).await?;
        let rows: Vec<(i32, String, Option<String>, String, OffsetDateTime)> = on_db!(self, pool => {
            sqlx::query_as(
                "SELECT seq, status, note, by_user, at FROM recall_followups WHERE recall_id = $1 AND implant_id = $2 \
                 ORDER BY seq",
            )
            .bind(id)
            .bind(implant_id)
            .fetch_all(pool)
            .await?
        });
        rows.into_iter()
            .map(|(seq, status, note, by_user, at)| {
                Ok(FollowUpRow { seq: seq.max(0) as u32, status: follow_up(Some(status))?, note, by_user, at })
            })
            .collect()
    }

    /// Adds an implanted unit to a procedure record held at `write`'s organisation in its
    /// registry (else [`StoreError::NotFound`]), with `audit` (target `implant:<id>`) in the same
    /// transaction. The patient, site, side and implant date come from the record where the
    /// caller left them `None`; the organisation is always the record's.
    pub async fn add_implant(
        &self,
        write: &RecordsWrite,
        record_id: Uuid,
        implant: &NewImplant,
        audit: &AuditNote,
    ) -> Result<Uuid> {
        let head: Option<(String, String, Uuid)> = on_db!(self, pool => {
            sqlx::query_as("SELECT registry_id, organisation, patient_id FROM records WHERE id = $1 AND revision = 1")
                .bind(record_id)
                .fetch_optional(pool)
                .await?
        });
        let patient_id = match head {
            Some((registry, org, patient)) if registry == write.registry().as_str() && org == write.org().as_str() => {
                patient
            }
            _ => return Err(StoreError::NotFound("record".into())),
        };
        let record = self.record(record_id).await?;
        let facts = OutcomeSpec::shipped(write.registry().as_str())
            .and_then(|s| s.form(&record.form).map(|f| (f.site.clone(), f.read(&record.current.values))))
            .and_then(|(site, facts)| facts.ok().map(|f| (site, f)));
        let id = Uuid::now_v7();
        let site = implant.site.clone().or_else(|| facts.as_ref().map(|(s, _)| s.clone()));
        let side = implant.side.clone().or_else(|| facts.as_ref().map(|(_, f)| f.side.clone()));
        let implanted_on = implant.implanted_on.or_else(|| facts.as_ref().map(|(_, f)| f.date));
        let patient_id = implant.patient_id.unwrap_or(patient_id);
        let audit = [audit.clone().target(format!("implant:{id}"))];
        let at = now();
        on_db!(self, pool => {
            let mut tx = pool.begin_write().await?;
            sqlx::query(
                "INSERT INTO implants (id, record_id, record_revision, registry_id, organisation, gtin, lot, serial, expiry, \
                 entry, created_at, patient_id, implanted_on, manufactured, site, side) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)",
            )
            .bind(id)
            .bind(record_id)
            .bind(record.current.revision as i32)
            .bind(write.registry().as_str())
            .bind(write.org().as_str())
            .bind(&implant.gtin)
            .bind(implant.lot.as_deref())
            .bind(implant.serial.as_deref())
            .bind(implant.expiry)
            .bind(implant.entry)
            .bind(at)
            .bind(patient_id)
            .bind(implanted_on)
            .bind(implant.manufactured)
            .bind(site.as_deref())
            .bind(side.as_deref())
            .execute(&mut *tx)
            .await?;
            crate::audit::append_in_tx(&mut *tx, &audit).await?;
            tx.commit().await?;
        });
        Ok(id)
    }

    /// The open recalls that reach `unit`: for the warning shown when a unit is scanned. Few
    /// recalls are open at once, so their criteria are loaded and matched here.
    pub async fn open_recalls_matching(&self, unit: &UnitFacts<'_>) -> Result<Vec<RecallRow>> {
        Ok(self
            .recalls()
            .await?
            .into_iter()
            .filter(|r| r.status == RecallStatus::Open && r.criteria.matches(unit))
            .collect())
    }
}

/// Units counted per (registry, organisation), in that order.
fn per_org_counts(units: &[Unit]) -> Vec<OrgCounts> {
    let mut per_org: BTreeMap<(String, String), OrgCounts> = BTreeMap::new();
    for u in units {
        let c = per_org.entry((u.registry.clone(), u.organisation.clone())).or_insert_with(|| OrgCounts {
            registry: u.registry.clone(),
            organisation: u.organisation.clone(),
            total: 0,
            implanted: 0,
            revised: 0,
            deceased: 0,
            opted_out: 0,
            new_since_seen: 0,
            by_status: FollowUp::ALL.iter().map(|f| (*f, 0)).collect(),
        });
        c.total += 1;
        if u.revised_on.is_some() {
            c.revised += 1;
        } else {
            c.implanted += 1;
        }
        c.deceased += u64::from(u.deceased_on.is_some());
        c.opted_out += u64::from(u.opted_out);
        c.new_since_seen += u64::from(u.seen_at.is_none_or(|s| u.created_at > s));
        if let Some(slot) = c.by_status.iter_mut().find(|(f, _)| *f == u.status) {
            slot.1 += 1;
        }
    }
    per_org.into_values().collect()
}
