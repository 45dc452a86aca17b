//! Device recalls in storage, on both databases: which units a recall reaches, counts per
//! organisation only over the caller's registries, worklists only of the caller's
//! organisations and audited before they are returned, append-only follow-up, scan-time flags,
//! and standing recalls that pick up later implants.

use tessera_domain::access::{Grant, Grants, Principal, RecordsRead, RecordsWrite, Role, RunRecalls, Scope};
use tessera_domain::recall::{FollowUp, RecallInput, UnitFacts};
use tessera_domain::{Dictionary, OdsCode, Organisation, OrganisationKind, PatientInput, RegistryId};
use tessera_store::{
    AuditActor, AuditNote, AuditOutcome, NewImplant, NewPatient, NewRecall, NewRecord, RegistryCipher, Store,
    StoreError,
};
use tessera_testkit::{TestDb, on_both_databases};
use tessera_vault::MasterKey;
use time::Date;
use time::macros::date;
use uuid::Uuid;

const JOINTS: &str = include_str!("../../../registries/joints.toml");
const TODAY: Date = date!(2026 - 11 - 24);
const GTIN: &str = "05012345678900";
const OTHER_GTIN: &str = "05012345678917";

on_both_databases!(
    a_recall_reaches_its_lots_and_counts_revised_deceased_and_opted_out_units_per_organisation,
    a_worklist_shows_only_the_callers_organisation_with_identifiers_and_keeps_opted_out_patients,
    follow_up_is_append_only_and_only_for_units_of_the_recall_at_the_callers_organisations,
    a_worklist_whose_audit_event_cannot_be_stored_is_not_returned,
    a_scanned_unit_is_flagged_by_the_open_recalls_that_reach_it,
    a_standing_recall_picks_up_an_implant_added_after_it_and_shows_it_as_new_since_seen,
    references_are_unique_and_a_recall_closes_once,
    counts_cover_only_the_registries_of_the_callers_recall_power,
    a_correction_of_the_revision_changes_whether_the_unit_counts_as_revised,
    a_database_whose_revisions_were_never_derived_is_filled_once_at_start_up,
);

struct Fixture {
    store: Store,
    cipher: RegistryCipher,
    key_version: i32,
    dict: Dictionary,
    version: u32,
}

fn reg(s: &str) -> RegistryId {
    RegistryId::parse(s).unwrap()
}

fn ods(s: &str) -> OdsCode {
    OdsCode::parse(s).unwrap()
}

fn org(code: &str) -> Organisation {
    Organisation {
        ods: ods(code),
        name: format!("Hospital {code}"),
        kind: OrganisationKind::NhsTrust,
        region: "Test".into(),
    }
}

async fn fixture(db: &TestDb) -> Fixture {
    let store = Store::connect(db.url()).await.unwrap();
    let master = MasterKey::generate().unwrap();
    let dict = Dictionary::from_toml(JOINTS).unwrap();
    store.load_dictionary(&dict, "toml", &master, &[]).await.unwrap();
    store.upsert_organisations(&[org("RRK"), org("RTH")]).await.unwrap();
    let (key_version, cipher) = store.registry_cipher(&reg("njr"), &master).await.unwrap();
    let (version, dict) = store.latest_dictionary(&reg("njr")).await.unwrap();
    Fixture { store, cipher, key_version, dict, version }
}

fn grants(role: Role, registry: &str, scope: Scope) -> Grants {
    Grants::new(
        Principal::User("user-1".into()),
        vec![Grant { id: "g".into(), registry: reg(registry), role, scope, expires_at: i64::MAX }],
    )
}

fn run_recalls() -> RunRecalls {
    grants(Role::SafetyOfficer, "njr", Scope::All).recalls().unwrap()
}

fn read_at(code: &str) -> RecordsRead {
    grants(Role::Viewer, "njr", Scope::Organisation(ods(code))).records_read(&reg("njr")).unwrap()
}

fn write_at(code: &str) -> RecordsWrite {
    grants(Role::Submitter, "njr", Scope::Organisation(ods(code))).records_write(&reg("njr"), &ods(code)).unwrap()
}

fn note(action: &str) -> AuditNote {
    AuditNote::new(AuditActor::User("user-1".into()), action, AuditOutcome::Success).registry("njr")
}

fn hip_primary(side: &'static str, date: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("hp_side", side),
        ("hp_operation_date", date),
        ("hp_procedure_type", "THR"),
        ("hp_indication", "OA"),
        ("hp_asa_grade", "2"),
        ("hp_surgeon_grade", "CONS"),
        ("hp_surgeon_gmc", "1234567"),
        ("hp_anaesthetic", "SPINAL"),
        ("hp_chemical_prophylaxis", "LMWH"),
        ("hp_mechanical_prophylaxis", "STOCK"),
        ("hp_approach", "POST"),
        ("hp_fixation", "CEM"),
        ("hp_bearing", "MOP"),
        ("hp_bone_graft", "no"),
        ("hp_intraop_event", "NONE"),
        ("hp_funding", "NHS"),
    ]
}

fn hip_revision(side: &'static str, date: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("hr_side", side),
        ("hr_operation_date", date),
        ("hr_revision_stage", "SINGLE"),
        ("hr_indication", "LYSIS"),
        ("hr_asa_grade", "2"),
        ("hr_surgeon_grade", "CONS"),
        ("hr_surgeon_gmc", "1234567"),
        ("hr_anaesthetic", "GA"),
        ("hr_chemical_prophylaxis", "LMWH"),
        ("hr_mechanical_prophylaxis", "STOCK"),
        ("hr_approach", "POST"),
        ("hr_components_removed", "CUP"),
        ("hr_components_inserted", "CUP"),
        ("hr_bone_graft", "no"),
        ("hr_intraop_event", "NONE"),
        ("hr_funding", "NHS"),
    ]
}

/// A patient to write: NHS number, family name, date of death, opted out.
struct Person {
    nhs: &'static str,
    family: &'static str,
    died: &'static str,
    opted_out: bool,
}

/// One operation of a person: form, values, organisation, and the units implanted (GTIN, lot).
struct Operation {
    form: &'static str,
    values: Vec<(&'static str, &'static str)>,
    at: &'static str,
    units: Vec<(&'static str, Option<&'static str>)>,
}

/// Writes a patient with their operations in one transaction, the implants carrying the
/// record's patient, site, side and date as `tessera synth` writes them. Returns the record ids
/// and the implant ids, each in the order given.
async fn person(f: &Fixture, p: &Person, operations: Vec<Operation>) -> (Vec<Uuid>, Vec<Uuid>) {
    let input = PatientInput {
        nhs_number: p.nhs,
        family_name: p.family,
        given_name: "Philomena",
        date_of_birth: "1947-06-13",
        sex: "F",
        postcode: "ZE2 9QX",
        date_of_death: p.died,
        opted_out: if p.opted_out { "yes" } else { "no" },
        consent: "given",
    };
    let patient = input.parse(true, TODAY).unwrap();
    let new_patient = NewPatient::seal(&patient, &f.cipher, f.key_version).unwrap();
    let mut records = Vec::new();
    let mut implants = Vec::new();
    for op in &operations {
        let form = f.dict.form(op.form).unwrap();
        let valid = f.dict.validate(form, &op.values, TODAY).unwrap();
        let record = NewRecord::new(f.dict.registry(), new_patient.id(), &ods(op.at), form, &valid, f.version);
        let side = op.values[0].1;
        let on = Date::parse(op.values[1].1, &time::format_description::well_known::Iso8601::DATE).unwrap();
        for (gtin, lot) in &op.units {
            implants.push(NewImplant {
                record_id: record.id(),
                organisation: op.at.into(),
                gtin: (*gtin).into(),
                lot: lot.map(str::to_owned),
                serial: None,
                expiry: Some(date!(2030 - 01 - 01)),
                entry: "synthetic",
                patient_id: Some(new_patient.id()),
                implanted_on: Some(on),
                manufactured: Some(on - time::Duration::days(60)),
                site: Some("hip".into()),
                side: Some(side.into()),
            });
        }
        records.push(record);
    }
    let mut w = f.store.writer(&reg("njr")).await.unwrap();
    w.insert_patients(std::slice::from_ref(&new_patient)).await.unwrap();
    w.insert_records(&records, None).await.unwrap();
    w.insert_implants(&implants).await.unwrap();
    w.commit().await.unwrap();
    let mut ids = Vec::new();
    for r in &records {
        ids.extend(implant_ids(&f.store, r.id()).await);
    }
    (records.iter().map(NewRecord::id).collect(), ids)
}

/// The ids of a record's implants, oldest first.
async fn implant_ids(store: &Store, record: Uuid) -> Vec<Uuid> {
    let sql = "SELECT id FROM implants WHERE record_id = $1 ORDER BY id";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).bind(record).fetch_all(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).bind(record).fetch_all(pool).await.unwrap(),
    }
}

async fn sql(store: &Store, statements: &[&'static str]) {
    for s in statements {
        match store {
            Store::Sqlite(pool) => sqlx::query(*s).execute(pool).await.map(|_| ()),
            Store::Postgres(pool) => sqlx::query(*s).execute(pool).await.map(|_| ()),
        }
        .unwrap();
    }
}

async fn refuse_audit(store: &Store) {
    match store {
        Store::Sqlite(_) => {
            sql(
                store,
                &["CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events \
                   BEGIN SELECT RAISE(ABORT, 'the audit log refuses'); END"],
            )
            .await
        }
        Store::Postgres(_) => {
            sql(
                store,
                &[
                    "CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
                     $$ BEGIN RAISE EXCEPTION 'the audit log refuses'; END $$",
                    "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION refuse_audit()",
                ],
            )
            .await
        }
    }
}

async fn audit_count(store: &Store) -> i64 {
    let sql = "SELECT COUNT(*) FROM audit_events";
    match store {
        Store::Sqlite(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
        Store::Postgres(pool) => sqlx::query_scalar(sql).fetch_one(pool).await.unwrap(),
    }
}

fn recall(reference: &str, gtins: &str, lots: &str) -> NewRecall {
    let (header, criteria) =
        RecallInput { reference, title: "Cup liner wear", manufacturer: "Acme", gtins, lots, ..RecallInput::default() }
            .parse()
            .unwrap();
    NewRecall { header, criteria }
}

/// The world most tests use. At RRK: A (lot L1, revised later on the same side; a second unit of
/// another GTIN), B (lot L2, not recalled), D (lot L1, opted out), E (no lot recorded). At RTH:
/// C (lot L1, died).
struct World {
    f: Fixture,
    a: Vec<Uuid>,
    b: Vec<Uuid>,
    c: Vec<Uuid>,
    d: Vec<Uuid>,
    b_record: Uuid,
}

async fn world(db: &TestDb) -> World {
    let f = fixture(db).await;
    let alive = |nhs, family| Person { nhs, family, died: "", opted_out: false };
    let primary = |at, lot, side, date| Operation {
        form: "hip_primary",
        values: hip_primary(side, date),
        at,
        units: vec![(GTIN, lot), (OTHER_GTIN, Some("L1"))],
    };
    let (_, a) = person(
        &f,
        &alive("9990000018", "Abbott"),
        vec![
            primary("RRK", Some("L1"), "L", "2024-05-01"),
            // A revision of the other hip does not revise this unit; one of the same hip does.
            Operation { form: "hip_revision", values: hip_revision("R", "2024-09-01"), at: "RRK", units: vec![] },
            Operation { form: "hip_revision", values: hip_revision("L", "2025-01-10"), at: "RTH", units: vec![] },
        ],
    )
    .await;
    let (b_records, b) =
        person(&f, &alive("9990000026", "Baxter"), vec![primary("RRK", Some("L2"), "L", "2024-06-01")]).await;
    let (_, c) = person(
        &f,
        &Person { nhs: "9990000034", family: "Carter", died: "2025-03-01", opted_out: false },
        vec![primary("RTH", Some("L1"), "R", "2024-07-01")],
    )
    .await;
    let (_, d) = person(
        &f,
        &Person { nhs: "9990000042", family: "Dawson", died: "", opted_out: true },
        vec![primary("RRK", Some("L1"), "R", "2024-08-01")],
    )
    .await;
    person(&f, &alive("9990000050", "Ellis"), vec![primary("RRK", None, "L", "2024-08-02")]).await;
    World { f, a, b, c, d, b_record: b_records[0] }
}

async fn a_recall_reaches_its_lots_and_counts_revised_deceased_and_opted_out_units_per_organisation(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    let c = store.recall_counts(&run_recalls(), id).await.unwrap();
    // A, C and D: B has another lot, E no lot, and the second unit of each is another GTIN.
    assert_eq!((c.total, c.revised, c.implanted, c.deceased, c.alive, c.opted_out), (3, 1, 2, 1, 2, 1));
    let per: Vec<(&str, u64, u64, u64, u64)> =
        c.per_org.iter().map(|o| (o.organisation.as_str(), o.total, o.revised, o.deceased, o.opted_out)).collect();
    assert_eq!(per, [("RRK", 2, 1, 0, 1), ("RTH", 1, 0, 1, 0)]);
    assert!(c.per_org.iter().all(|o| o.registry == "njr" && o.new_since_seen == o.total));
    assert_eq!(c.per_org[0].by_status[0], (FollowUp::ToContact, 2));
    assert_eq!(
        store.recall_org_counts(&run_recalls(), id).await.unwrap(),
        [("RRK".to_owned(), 2), ("RTH".to_owned(), 1)]
    );

    // The whole GTIN: every lot, and the unit without one.
    let all = store.create_recall(&run_recalls(), &recall("FSN-2", GTIN, ""), &note("recall.create")).await.unwrap();
    assert_eq!(
        store.recall_org_counts(&run_recalls(), all).await.unwrap(),
        [("RRK".to_owned(), 4), ("RTH".to_owned(), 1)]
    );
    assert_eq!(store.recall_counts(&run_recalls(), all).await.unwrap().total, 5);

    // Implant dates inclusive at both ends: 2024-07-01 (C) to 2024-08-01 (D).
    let (header, criteria) = RecallInput {
        reference: "FSN-3",
        title: "t",
        manufacturer: "m",
        gtins: GTIN,
        implanted_from: "2024-07-01",
        implanted_to: "2024-08-01",
        organisations: "RRK",
        ..RecallInput::default()
    }
    .parse()
    .unwrap();
    let dated =
        store.create_recall(&run_recalls(), &NewRecall { header, criteria }, &note("recall.create")).await.unwrap();
    assert_eq!(store.recall_org_counts(&run_recalls(), dated).await.unwrap(), [("RRK".to_owned(), 1)]);
    assert!(matches!(store.recall_counts(&run_recalls(), Uuid::now_v7()).await, Err(StoreError::NotFound(_))));
}

async fn a_worklist_shows_only_the_callers_organisation_with_identifiers_and_keeps_opted_out_patients(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    let before = audit_count(store).await;
    let list = store
        .recall_worklist(
            &read_at("RRK"),
            &w.f.cipher,
            id,
            &ods("RRK"),
            &note("recall.worklist").purpose("recall_safety"),
        )
        .await
        .unwrap();
    assert_eq!(audit_count(store).await, before + 1, "one audit event per worklist read");
    let got: Vec<(Uuid, Option<&str>, Option<Date>, bool)> =
        list.iter().map(|r| (r.implant_id, r.family_name.as_deref(), r.revised_on, r.opted_out)).collect();
    assert_eq!(
        got,
        [(w.a[0], Some("Abbott"), Some(date!(2025 - 01 - 10)), false), (w.d[0], Some("Dawson"), None, true)]
    );
    let a = &list[0];
    assert_eq!(a.nhs_number.as_ref().map(|n| n.digits()), Some("9990000018".to_owned()));
    assert_eq!(
        (a.lot.as_deref(), a.implanted_on, a.status),
        (Some("L1"), Some(date!(2024 - 05 - 01)), FollowUp::ToContact)
    );
    assert!(!a.joined_after_opening);
    assert!(list.iter().all(|r| r.implant_id != w.c[0] && r.implant_id != w.b[0]));

    let rth =
        store.recall_worklist(&read_at("RTH"), &w.f.cipher, id, &ods("RTH"), &note("recall.worklist")).await.unwrap();
    assert_eq!(
        rth.iter().map(|r| (r.implant_id, r.deceased_on)).collect::<Vec<_>>(),
        [(w.c[0], Some(date!(2025 - 03 - 01)))]
    );

    // RRK's reader asking for RTH's list: not found, and nothing audited or shown.
    let before = audit_count(store).await;
    let other = store.recall_worklist(&read_at("RRK"), &w.f.cipher, id, &ods("RTH"), &note("recall.worklist")).await;
    assert!(matches!(other, Err(StoreError::NotFound(_))), "{other:?}");
    assert_eq!(audit_count(store).await, before);
    let missing = store
        .recall_worklist(&read_at("RRK"), &w.f.cipher, Uuid::now_v7(), &ods("RRK"), &note("recall.worklist"))
        .await;
    assert!(matches!(missing, Err(StoreError::NotFound(_))));
}

async fn follow_up_is_append_only_and_only_for_units_of_the_recall_at_the_callers_organisations(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    let rrk = read_at("RRK");
    store.set_followup(&rrk, id, w.a[0], FollowUp::Contacted, None, &note("recall.followup")).await.unwrap();
    store
        .set_followup(&rrk, id, w.a[0], FollowUp::Reviewed, Some("  seen in clinic  "), &note("recall.followup"))
        .await
        .unwrap();
    let history = store.followup_history(&rrk, id, w.a[0]).await.unwrap();
    let got: Vec<(u32, FollowUp, Option<&str>, &str)> =
        history.iter().map(|h| (h.seq, h.status, h.note.as_deref(), h.by_user.as_str())).collect();
    assert_eq!(
        got,
        [(1, FollowUp::Contacted, None, "user-1"), (2, FollowUp::Reviewed, Some("seen in clinic"), "user-1")]
    );
    let list = store.recall_worklist(&rrk, &w.f.cipher, id, &ods("RRK"), &note("recall.worklist")).await.unwrap();
    assert_eq!(list[0].status, FollowUp::Reviewed);
    assert_eq!(list[0].status_at, Some(history[1].at));
    let counts = store.recall_counts(&run_recalls(), id).await.unwrap();
    let rrk_counts = &counts.per_org[0];
    assert_eq!(rrk_counts.by_status.iter().find(|(s, _)| *s == FollowUp::Reviewed), Some(&(FollowUp::Reviewed, 1)));
    assert_eq!(rrk_counts.by_status.iter().find(|(s, _)| *s == FollowUp::ToContact), Some(&(FollowUp::ToContact, 1)));

    // Another organisation's unit, a unit the recall does not reach, an unknown unit: not found.
    for (unit, why) in
        [(w.c[0], "RTH's unit"), (w.b[0], "another lot"), (w.a[1], "another GTIN"), (Uuid::now_v7(), "none")]
    {
        let r = store.set_followup(&rrk, id, unit, FollowUp::Contacted, None, &note("recall.followup")).await;
        assert!(matches!(r, Err(StoreError::NotFound(_))), "{why}: {r:?}");
        assert!(matches!(store.followup_history(&rrk, id, unit).await, Err(StoreError::NotFound(_))), "{why}");
    }

    // The database itself refuses to change or delete an entry.
    for statement in ["UPDATE recall_followups SET status = 'explanted'", "DELETE FROM recall_followups"] {
        let r = match store {
            Store::Sqlite(pool) => sqlx::query(statement).execute(pool).await.map(|_| ()),
            Store::Postgres(pool) => sqlx::query(statement).execute(pool).await.map(|_| ()),
        };
        assert!(r.is_err(), "{statement} must be refused");
    }
    assert_eq!(store.followup_history(&rrk, id, w.a[0]).await.unwrap().len(), 2);

    store.close_recall(&run_recalls(), id, &note("recall.close")).await.unwrap();
    let r = store.set_followup(&rrk, id, w.a[0], FollowUp::Explanted, None, &note("recall.followup")).await;
    assert!(matches!(r, Err(StoreError::Conflict(_))), "{r:?}");
}

async fn a_worklist_whose_audit_event_cannot_be_stored_is_not_returned(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    refuse_audit(store).await;
    let r = store.recall_worklist(&read_at("RRK"), &w.f.cipher, id, &ods("RRK"), &note("recall.worklist")).await;
    assert!(r.is_err(), "no worklist without its audit event");
    // Nor was the "last looked" time recorded: the transaction rolled back whole.
    let c = store.recall_counts(&run_recalls(), id).await.unwrap();
    assert_eq!(c.per_org[0].new_since_seen, 2);
    let r = store.set_followup(&read_at("RRK"), id, w.a[0], FollowUp::Contacted, None, &note("recall.followup")).await;
    assert!(r.is_err());
    assert!(store.followup_history(&read_at("RRK"), id, w.a[0]).await.unwrap().is_empty());
    // Nor did the unit's current step change with it.
    let c = store.recall_counts(&run_recalls(), id).await.unwrap();
    let to_contact = c.per_org[0].by_status.iter().find(|(s, _)| *s == FollowUp::ToContact);
    assert_eq!(to_contact, Some(&(FollowUp::ToContact, 2)));
    let r = store.create_recall(&run_recalls(), &recall("FSN-2", GTIN, ""), &note("recall.create")).await;
    assert!(r.is_err());
    assert_eq!(store.recalls().await.unwrap().len(), 1);
}

async fn a_scanned_unit_is_flagged_by_the_open_recalls_that_reach_it(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    store.create_recall(&run_recalls(), &recall("FSN-2", OTHER_GTIN, ""), &note("recall.create")).await.unwrap();
    let unit = |lot| UnitFacts {
        gtin: GTIN,
        lot,
        serial: None,
        expiry: None,
        manufactured: None,
        implanted: Some(TODAY),
        organisation: "RRK",
    };
    let hits = store.open_recalls_matching(&unit(Some("L1"))).await.unwrap();
    assert_eq!(hits.iter().map(|r| r.header.reference.as_str()).collect::<Vec<_>>(), ["FSN-1"]);
    assert!(store.open_recalls_matching(&unit(Some("L9"))).await.unwrap().is_empty());
    assert!(store.open_recalls_matching(&unit(None)).await.unwrap().is_empty());
    store.close_recall(&run_recalls(), id, &note("recall.close")).await.unwrap();
    assert!(store.open_recalls_matching(&unit(Some("L1"))).await.unwrap().is_empty(), "a closed recall flags nothing");
}

async fn a_standing_recall_picks_up_an_implant_added_after_it_and_shows_it_as_new_since_seen(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    let rrk = read_at("RRK");
    assert_eq!(
        store.recall_worklist(&rrk, &w.f.cipher, id, &ods("RRK"), &note("recall.worklist")).await.unwrap().len(),
        2
    );
    assert_eq!(store.recall_counts(&run_recalls(), id).await.unwrap().per_org[0].new_since_seen, 0);

    // B's record at RRK gets another unit, of the recalled lot, entered by hand.
    let record = w.b_record;
    let manual = NewImplant {
        record_id: record,
        organisation: "ignored: the record's".into(),
        gtin: GTIN.into(),
        lot: Some("L1".into()),
        serial: Some("SN1".into()),
        expiry: None,
        entry: "manual",
        patient_id: None,
        implanted_on: None,
        manufactured: None,
        site: None,
        side: None,
    };
    let elsewhere = store.add_implant(&write_at("RTH"), record, &manual, &note("implant.add")).await;
    assert!(matches!(elsewhere, Err(StoreError::NotFound(_))), "the record is at RRK: {elsewhere:?}");
    let new = store.add_implant(&write_at("RRK"), record, &manual, &note("implant.add")).await.unwrap();
    let stored = store.implants_of(record).await.unwrap();
    let added = stored.iter().find(|i| i.entry == "manual").unwrap();
    assert_eq!(
        (added.organisation.as_str(), added.site.as_deref(), added.side.as_deref(), added.implanted_on),
        ("RRK", Some("hip"), Some("L"), Some(date!(2024 - 06 - 01))),
        "filled from the record"
    );
    assert!(added.patient_id.is_some());

    let counts = store.recall_counts(&run_recalls(), id).await.unwrap();
    assert_eq!((counts.total, counts.per_org[0].total, counts.per_org[0].new_since_seen), (4, 3, 1));
    let list = store.recall_worklist(&rrk, &w.f.cipher, id, &ods("RRK"), &note("recall.worklist")).await.unwrap();
    let row = list.iter().find(|r| r.implant_id == new).expect("the new unit is on the worklist");
    assert!(row.joined_after_opening);
    assert_eq!(row.family_name.as_deref(), Some("Baxter"));
    assert_eq!(list.iter().filter(|r| r.joined_after_opening).count(), 1);
    assert_eq!(store.recall_counts(&run_recalls(), id).await.unwrap().per_org[0].new_since_seen, 0);
}

async fn references_are_unique_and_a_recall_closes_once(db: &TestDb) {
    let f = fixture(db).await;
    let store = &f.store;
    let first = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, ""), &note("recall.create")).await.unwrap();
    let again = store.create_recall(&run_recalls(), &recall("FSN-1", OTHER_GTIN, ""), &note("recall.create")).await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    let second = store.create_recall(&run_recalls(), &recall("FSN-2", GTIN, ""), &note("recall.create")).await.unwrap();
    let stored = store.recall(first).await.unwrap().unwrap();
    assert_eq!((stored.header.reference.as_str(), stored.created_by.as_str()), ("FSN-1", "user-1"));
    assert_eq!(stored.criteria, recall("FSN-1", GTIN, "").criteria);
    assert_eq!(
        store.recalls().await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(),
        [second, first],
        "newest first"
    );
    store.close_recall(&run_recalls(), second, &note("recall.close")).await.unwrap();
    assert_eq!(store.recalls().await.unwrap().iter().map(|r| r.id).collect::<Vec<_>>(), [first, second], "open first");
    let closed = store.recall(second).await.unwrap().unwrap();
    assert!(closed.closed_at.is_some());
    let twice = store.close_recall(&run_recalls(), second, &note("recall.close")).await;
    assert!(matches!(twice, Err(StoreError::Conflict(_))));
    let unknown = store.close_recall(&run_recalls(), Uuid::now_v7(), &note("recall.close")).await;
    assert!(matches!(unknown, Err(StoreError::NotFound(_))));
    assert!(store.recall(Uuid::now_v7()).await.unwrap().is_none());
}

async fn counts_cover_only_the_registries_of_the_callers_recall_power(db: &TestDb) {
    let w = world(db).await;
    let store = &w.f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-1", GTIN, "L1"), &note("recall.create")).await.unwrap();
    let breast_only = grants(Role::SafetyOfficer, "bcir", Scope::All).recalls().unwrap();
    let c = store.recall_counts(&breast_only, id).await.unwrap();
    assert_eq!((c.total, c.per_org.len()), (0, 0), "njr's units are not bcir's officer's to count");
    assert!(store.recall_org_counts(&breast_only, id).await.unwrap().is_empty());
    let controller = grants(Role::Controller, "njr", Scope::All).recalls().unwrap();
    assert_eq!(store.recall_counts(&controller, id).await.unwrap().total, 3);
}

/// Fay: a hip primary on the left (GTIN, lot L9) and a left hip revision; answers the revision
/// record's id.
async fn fay(f: &Fixture) -> Uuid {
    let (records, _) = person(
        f,
        &Person { nhs: "9990000069", family: "Fairley", died: "", opted_out: false },
        vec![
            Operation {
                form: "hip_primary",
                values: hip_primary("L", "2024-05-01"),
                at: "RRK",
                units: vec![(GTIN, Some("L9"))],
            },
            Operation { form: "hip_revision", values: hip_revision("L", "2025-01-10"), at: "RRK", units: vec![] },
        ],
    )
    .await;
    records[1]
}

async fn revised_count(store: &Store, id: Uuid) -> (u64, u64) {
    let c = store.recall_counts(&run_recalls(), id).await.unwrap();
    (c.total, c.revised)
}

async fn a_correction_of_the_revision_changes_whether_the_unit_counts_as_revised(db: &TestDb) {
    let f = fixture(db).await;
    let revision = fay(&f).await;
    let store = &f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-9", GTIN, "L9"), &note("recall.create")).await.unwrap();
    assert_eq!(revised_count(store, id).await, (1, 1));
    let form = f.dict.form("hip_revision").unwrap();
    let correct = async |side: &'static str, date: &'static str| {
        let valid = f.dict.validate(form, &hip_revision(side, date), TODAY).unwrap();
        store.correct_record(revision, form, &valid, f.version, "keyed wrongly").await.unwrap();
    };
    // The other hip: the unit is implanted again.
    correct("R", "2025-01-10").await;
    assert_eq!(revised_count(store, id).await, (1, 0));
    // The same hip, but before the unit went in: not its revision.
    correct("L", "2024-04-30").await;
    assert_eq!(revised_count(store, id).await, (1, 0));
    // The same day is not after it either.
    correct("L", "2024-05-01").await;
    assert_eq!(revised_count(store, id).await, (1, 0));
    correct("L", "2024-05-02").await;
    assert_eq!(revised_count(store, id).await, (1, 1));
}

async fn a_database_whose_revisions_were_never_derived_is_filled_once_at_start_up(db: &TestDb) {
    let f = fixture(db).await;
    let revision = fay(&f).await;
    let store = &f.store;
    let id = store.create_recall(&run_recalls(), &recall("FSN-9", GTIN, "L9"), &note("recall.create")).await.unwrap();
    // A correction first, so that the fill must read the current revision, not the first.
    let form = f.dict.form("hip_revision").unwrap();
    let valid = f.dict.validate(form, &hip_revision("L", "2025-03-03"), TODAY).unwrap();
    store.correct_record(revision, form, &valid, f.version, "date keyed wrongly").await.unwrap();
    assert_eq!(revised_count(store, id).await, (1, 1));
    // As a database written before migration 0009 looks: records, but no derived rows.
    sql(store, &["DELETE FROM revised", "DELETE FROM derived_filled"]).await;
    assert_eq!(revised_count(store, id).await, (1, 0), "counts read the derived table");
    let reopened = Store::connect(db.url()).await.unwrap();
    assert_eq!(revised_count(&reopened, id).await, (1, 1));
    let rows = "SELECT COUNT(*) FROM revised WHERE operated_on = '2025-03-03'";
    let count = async |s: &Store| -> i64 {
        match s {
            Store::Sqlite(pool) => sqlx::query_scalar(rows).fetch_one(pool).await.unwrap(),
            Store::Postgres(pool) => sqlx::query_scalar(rows).fetch_one(pool).await.unwrap(),
        }
    };
    assert_eq!(count(&reopened).await, 1, "the current revision's date");
    // Once filled, starting again changes nothing.
    sql(&reopened, &["DELETE FROM revised"]).await;
    let again = Store::connect(db.url()).await.unwrap();
    assert_eq!(revised_count(&again, id).await, (1, 0));
}
