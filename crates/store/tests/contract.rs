//! The storage contract: every test here runs twice, as `sqlite::…` on a temporary SQLite file and
//! as `postgres::…` on a fresh PostgreSQL database.

use sqlx::Row;
use tessera_domain::{Dictionary, NhsNumber, OdsCode, Organisation, OrganisationKind, PatientInput, RegistryId};
use tessera_store::{LoadOutcome, NewImplant, NewPatient, NewRecord, Store, StoreError, SubmissionInfo};
use tessera_testkit::{TestDb, on_both_databases};
use tessera_vault::MasterKey;
use time::macros::date;

const JOINTS: &str = include_str!("../../../registries/joints.toml");
const BREAST: &str = include_str!("../../../registries/breast.toml");
const TODAY: time::Date = date!(2026 - 11 - 24);

on_both_databases!(
    migrations_apply_once_and_reconnecting_is_harmless,
    a_dictionary_creates_its_registry_and_changes_become_new_versions,
    a_record_keeps_the_dictionary_version_it_was_captured_with,
    corrections_add_revisions_and_never_overwrite,
    identifiers_are_sealed_and_found_again_by_nhs_number,
    a_ciphertext_moved_to_another_patient_fails_to_open,
    the_same_person_in_two_registries_is_two_unlinked_patients,
    no_identifier_is_stored_in_clear,
    a_dropped_writer_leaves_nothing_behind,
    a_submission_id_can_be_stored_only_once,
    stats_count_records_and_patients_per_organisation_and_form,
    a_registry_key_does_not_open_under_another_master_key,
    a_record_whose_audit_event_cannot_be_stored_is_not_stored_either,
);

struct Fixture {
    store: Store,
    master: MasterKey,
    njr: RegistryId,
    dict: Dictionary,
}

async fn fixture(db: &TestDb) -> Fixture {
    let store = Store::connect(db.url()).await.expect("connect and migrate");
    let master = MasterKey::generate().unwrap();
    let dict = Dictionary::from_toml(JOINTS).unwrap();
    store.load_dictionary(&dict, "toml", &master, &[]).await.unwrap();
    store
        .upsert_organisations(&[
            org("RRK", "University Hospitals Birmingham"),
            org("RTH", "Oxford University Hospitals"),
        ])
        .await
        .unwrap();
    Fixture { store, master, njr: RegistryId::parse("njr").unwrap(), dict }
}

fn org(code: &str, name: &str) -> Organisation {
    Organisation {
        ods: OdsCode::parse(code).unwrap(),
        name: name.into(),
        kind: OrganisationKind::NhsTrust,
        region: "Test".into(),
    }
}

const NHS: &str = "9990000018";
const FAMILY: &str = "Zebediah-Quarterman";
const GIVEN: &str = "Philomena";
const DOB: &str = "1947-06-13";
const POSTCODE: &str = "ZE2 9QX";

fn patient_input() -> PatientInput<'static> {
    PatientInput {
        nhs_number: NHS,
        family_name: FAMILY,
        given_name: GIVEN,
        date_of_birth: DOB,
        sex: "F",
        postcode: POSTCODE,
        date_of_death: "",
        opted_out: "no",
        consent: "given",
    }
}

fn hip(side: &'static str, bmi: &'static str) -> Vec<(&'static str, &'static str)> {
    vec![
        ("hp_side", side),
        ("hp_operation_date", "2024-05-01"),
        ("hp_procedure_type", "THR"),
        ("hp_indication", "OA"),
        ("hp_asa_grade", "2"),
        ("hp_bmi", bmi),
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

/// Writes one patient with one hip primary record; returns (patient id, record id).
async fn add_patient_with_hip(f: &Fixture, version: u32, dict: &Dictionary) -> (uuid::Uuid, uuid::Uuid) {
    add_hip_for(f, version, dict, NHS).await
}

/// As [`add_patient_with_hip`], for the patient with NHS number `nhs`.
async fn add_hip_for(f: &Fixture, version: u32, dict: &Dictionary, nhs: &str) -> (uuid::Uuid, uuid::Uuid) {
    let (key_version, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let patient = PatientInput { nhs_number: nhs, ..patient_input() }.parse(true, TODAY).unwrap();
    let new_patient = NewPatient::seal(&patient, &cipher, key_version).unwrap();
    let form = dict.form("hip_primary").unwrap();
    let record = dict.validate(form, &hip("L", "27.4"), TODAY).unwrap();
    let new_record = NewRecord::new(&f.njr, new_patient.id(), &OdsCode::parse("RRK").unwrap(), form, &record, version);
    let mut w = f.store.writer(&f.njr).await.unwrap();
    w.insert_patients(std::slice::from_ref(&new_patient)).await.unwrap();
    w.insert_records(std::slice::from_ref(&new_record), None).await.unwrap();
    w.insert_implants(&[NewImplant {
        record_id: new_record.id(),
        organisation: "RRK".into(),
        gtin: "05012345678900".into(),
        lot: Some("LOT42".into()),
        serial: None,
        expiry: Some(date!(2028 - 12 - 31)),
        entry: "manual",
        patient_id: Some(new_patient.id()),
        implanted_on: Some(date!(2024 - 05 - 01)),
        manufactured: None,
        site: Some("hip".into()),
        side: Some("L".into()),
    }])
    .await
    .unwrap();
    w.commit().await.unwrap();
    (new_patient.id(), new_record.id())
}

async fn migrations_apply_once_and_reconnecting_is_harmless(db: &TestDb) {
    let f = fixture(db).await;
    f.store.close().await;
    let again = Store::connect(db.url()).await.expect("second start applies nothing new");
    assert_eq!(again.registries().await.unwrap().len(), 1);
    assert_eq!(again.organisations().await.unwrap().len(), 2);
}

async fn a_dictionary_creates_its_registry_and_changes_become_new_versions(db: &TestDb) {
    let f = fixture(db).await;
    let same = f.store.load_dictionary(&f.dict, "toml", &f.master, &[]).await.unwrap();
    assert_eq!((same.version, same.outcome), (1, LoadOutcome::Unchanged));
    let changed = Dictionary::from_toml(&JOINTS.replace("min = 10.0", "min = 12.0")).unwrap();
    let v2 = f.store.load_dictionary(&changed, "toml", &f.master, &[]).await.unwrap();
    assert_eq!((v2.version, v2.outcome), (2, LoadOutcome::NewVersion));
    assert_eq!(f.store.dictionary(&f.njr, 1).await.unwrap(), f.dict);
    assert_eq!(f.store.latest_dictionary(&f.njr).await.unwrap(), (2, changed));
    assert!(matches!(f.store.dictionary(&f.njr, 3).await, Err(StoreError::NotFound(_))));
    let other = RegistryId::parse("nope").unwrap();
    assert!(matches!(f.store.latest_dictionary(&other).await, Err(StoreError::NotFound(_))));
}

async fn a_record_keeps_the_dictionary_version_it_was_captured_with(db: &TestDb) {
    let f = fixture(db).await;
    let (_, record_id) = add_patient_with_hip(&f, 1, &f.dict).await;
    // Version 2 makes BMI required.
    let v2_text = JOINTS.replacen("name = \"hp_bmi\"", "name = \"hp_bmi\"\nrequired = true", 1);
    let v2 = Dictionary::from_toml(&v2_text).unwrap();
    assert_eq!(f.store.load_dictionary(&v2, "toml", &f.master, &[]).await.unwrap().version, 2);

    let stored = f.store.record(record_id).await.unwrap();
    assert_eq!(stored.current.dictionary_version, 1);
    let v1 = f.store.dictionary(&f.njr, stored.current.dictionary_version).await.unwrap();
    let pairs: Vec<(&str, &str)> = stored.current.values.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert!(v1.validate(v1.form("hip_primary").unwrap(), &pairs, TODAY).is_ok(), "old record still valid under v1");

    // A new record without BMI is refused under v2, while the old one remains readable.
    let mut no_bmi = hip("R", "27.4");
    no_bmi.retain(|(k, _)| *k != "hp_bmi");
    let problems = v2.validate(v2.form("hip_primary").unwrap(), &no_bmi, TODAY).unwrap_err();
    assert_eq!(problems.iter().next().unwrap().field, "hp_bmi");
    assert_eq!(f.store.record_history(record_id).await.unwrap().len(), 1);
}

async fn corrections_add_revisions_and_never_overwrite(db: &TestDb) {
    let f = fixture(db).await;
    let (_, record_id) = add_patient_with_hip(&f, 1, &f.dict).await;
    let form = f.dict.form("hip_primary").unwrap();
    let corrected = f.dict.validate(form, &hip("L", "31.2"), TODAY).unwrap();
    let rev = f.store.correct_record(record_id, form, &corrected, 1, "BMI transcribed wrongly").await.unwrap();
    assert_eq!(rev, 2);
    let history = f.store.record_history(record_id).await.unwrap();
    assert_eq!(history.len(), 2);
    let bmi = |r: &tessera_store::Revision| r.values.iter().find(|(k, _)| k == "hp_bmi").unwrap().1.clone();
    assert_eq!(bmi(&history[0]), "27.4");
    assert_eq!(bmi(&history[1]), "31.2");
    assert_eq!(history[1].reason.as_deref(), Some("BMI transcribed wrongly"));
    assert_eq!(f.store.record(record_id).await.unwrap().current.revision, 2);

    // The database itself refuses to rewrite or delete a revision.
    let update = "UPDATE records SET data = '[]'";
    let delete = "DELETE FROM records";
    match &f.store {
        Store::Sqlite(p) => {
            assert!(sqlx::query(update).execute(p).await.is_err());
            assert!(sqlx::query(delete).execute(p).await.is_err());
        }
        Store::Postgres(p) => {
            assert!(sqlx::query(update).execute(p).await.is_err());
            assert!(sqlx::query(delete).execute(p).await.is_err());
        }
    }
    assert_eq!(f.store.record_history(record_id).await.unwrap(), history);

    // A correction must be of the same form.
    let knee_form = f.dict.form("follow_up").unwrap();
    let follow_up = f
        .dict
        .validate(
            knee_form,
            &[("fu_date", "2025-01-01"), ("fu_joint", "HIP"), ("fu_side", "L"), ("fu_timepoint", "Y1")],
            TODAY,
        )
        .unwrap();
    assert!(matches!(
        f.store.correct_record(record_id, knee_form, &follow_up, 1, "x").await,
        Err(StoreError::Conflict(_))
    ));
    assert!(matches!(f.store.correct_record(record_id, form, &follow_up, 1, "x").await, Err(StoreError::Conflict(_))));
    let missing = uuid::Uuid::now_v7();
    assert!(matches!(f.store.correct_record(missing, form, &corrected, 1, "x").await, Err(StoreError::NotFound(_))));
}

async fn identifiers_are_sealed_and_found_again_by_nhs_number(db: &TestDb) {
    let f = fixture(db).await;
    let (patient_id, record_id) = add_patient_with_hip(&f, 1, &f.dict).await;
    let (_, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let found = f.store.find_patient(&cipher, &NhsNumber::parse("999 000 0018").unwrap()).await.unwrap();
    assert_eq!(found, Some(patient_id));
    assert_eq!(f.store.find_patient(&cipher, &NhsNumber::parse("9434765919").unwrap()).await.unwrap(), None);
    let view = f.store.patient(&cipher, patient_id).await.unwrap();
    let ids = view.patient.identifiers().unwrap();
    assert_eq!(ids.nhs_number().digits(), NHS);
    assert_eq!(ids.family_name(), FAMILY);
    assert_eq!(ids.given_name(), GIVEN);
    assert_eq!(ids.date_of_birth().to_string(), DOB);
    assert_eq!(ids.postcode().as_str(), POSTCODE);
    assert_eq!(f.store.records_of_patient(patient_id).await.unwrap(), vec![record_id]);
    let implants = f.store.implants_of(record_id).await.unwrap();
    assert_eq!(implants.len(), 1);
    assert_eq!(implants[0].gtin, "05012345678900");
    assert_eq!(implants[0].expiry, Some(date!(2028 - 12 - 31)));

    // A patient recorded without consent has no identifiers at all.
    let (kv, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let anon = PatientInput { consent: "refused", ..patient_input() }.parse(true, TODAY).unwrap();
    let new = NewPatient::seal(&anon, &cipher, kv).unwrap();
    assert!(new.blind_index().is_none());
    let mut w = f.store.writer(&f.njr).await.unwrap();
    w.insert_patients(std::slice::from_ref(&new)).await.unwrap();
    w.commit().await.unwrap();
    assert!(f.store.patient(&cipher, new.id()).await.unwrap().patient.identifiers().is_none());
}

async fn a_ciphertext_moved_to_another_patient_fails_to_open(db: &TestDb) {
    let f = fixture(db).await;
    let (a, _) = add_patient_with_hip(&f, 1, &f.dict).await;
    let (kv, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let other =
        PatientInput { nhs_number: "9434765919", family_name: "Other", ..patient_input() }.parse(true, TODAY).unwrap();
    let b = NewPatient::seal(&other, &cipher, kv).unwrap();
    let mut w = f.store.writer(&f.njr).await.unwrap();
    w.insert_patients(std::slice::from_ref(&b)).await.unwrap();
    w.commit().await.unwrap();
    // An insider copies A's sealed family name onto B's row, and B's postcode into B's name column.
    let copy = "UPDATE patients SET family_name = (SELECT family_name FROM patients WHERE id = $1) WHERE id = $2";
    let swap = "UPDATE patients SET given_name = postcode WHERE id = $1";
    match &f.store {
        Store::Sqlite(p) => {
            sqlx::query(copy).bind(a).bind(b.id()).execute(p).await.unwrap();
        }
        Store::Postgres(p) => {
            sqlx::query(copy).bind(a).bind(b.id()).execute(p).await.unwrap();
        }
    }
    assert!(matches!(f.store.patient(&cipher, b.id()).await, Err(StoreError::Vault(_))));
    match &f.store {
        Store::Sqlite(p) => {
            sqlx::query(swap).bind(a).execute(p).await.unwrap();
        }
        Store::Postgres(p) => {
            sqlx::query(swap).bind(a).execute(p).await.unwrap();
        }
    }
    assert!(matches!(f.store.patient(&cipher, a).await, Err(StoreError::Vault(_))));
}

async fn the_same_person_in_two_registries_is_two_unlinked_patients(db: &TestDb) {
    let f = fixture(db).await;
    let bcir = Dictionary::from_toml(BREAST).unwrap();
    f.store.load_dictionary(&bcir, "toml", &f.master, &[]).await.unwrap();
    let (njr_patient, _) = add_patient_with_hip(&f, 1, &f.dict).await;
    let bcir_id = RegistryId::parse("bcir").unwrap();
    let (kv, cipher) = f.store.registry_cipher(&bcir_id, &f.master).await.unwrap();
    let p = NewPatient::seal(&patient_input().parse(true, TODAY).unwrap(), &cipher, kv).unwrap();
    let mut w = f.store.writer(&bcir_id).await.unwrap();
    w.insert_patients(std::slice::from_ref(&p)).await.unwrap();
    w.commit().await.unwrap();
    assert_ne!(p.id(), njr_patient);
    let (_, njr_cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let nhs = NhsNumber::parse(NHS).unwrap();
    assert_ne!(njr_cipher.blind_index(&nhs), cipher.blind_index(&nhs), "blind indexes must not link registries");
    assert_eq!(f.store.find_patient(&cipher, &nhs).await.unwrap(), Some(p.id()));
    // The other registry's keys cannot open this registry's patient.
    assert!(f.store.patient(&njr_cipher, p.id()).await.is_err());
}

/// Every table's every row, as text, for the clear-text search on PostgreSQL.
async fn postgres_dump(pool: &sqlx::PgPool) -> String {
    let tables: Vec<(String,)> = sqlx::query_as("SELECT tablename::text FROM pg_tables WHERE schemaname = 'public'")
        .fetch_all(pool)
        .await
        .unwrap();
    let mut all = String::new();
    for (t,) in tables {
        // Table names come from the catalogue, not from input.
        let sql = format!("SELECT t::text FROM \"{t}\" t");
        for row in sqlx::query(sqlx::AssertSqlSafe(sql)).fetch_all(pool).await.unwrap() {
            all.push_str(&row.get::<String, _>(0));
            all.push('\n');
        }
    }
    all
}

async fn no_identifier_is_stored_in_clear(db: &TestDb) {
    let f = fixture(db).await;
    for nhs in [NHS, "9434765919", "4010232137"] {
        add_hip_for(&f, 1, &f.dict, nhs).await;
    }
    let needles = [NHS, "9434765919", "4010232137", "999 000 0018", FAMILY, GIVEN, DOB, POSTCODE, "ZE29QX"];
    match &f.store {
        Store::Sqlite(p) => {
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(p).await.unwrap();
            f.store.close().await;
            let dir = db.sqlite_path().unwrap().parent().unwrap().to_owned();
            let mut scanned = 0;
            for entry in std::fs::read_dir(dir).unwrap() {
                let bytes = std::fs::read(entry.unwrap().path()).unwrap();
                scanned += bytes.len();
                for n in needles {
                    assert!(
                        !bytes.windows(n.len()).any(|w| w == n.as_bytes()),
                        "{n} found in clear in the SQLite files"
                    );
                }
            }
            assert!(scanned > 4096, "the database files were read");
        }
        Store::Postgres(p) => {
            // bytea columns print as hex, so the hex of each identifier is searched as well.
            let dump = postgres_dump(p).await;
            assert!(dump.contains("05012345678900"), "the dump holds the data (sanity check)");
            for n in needles {
                assert!(!dump.contains(n), "{n} found in clear in PostgreSQL");
                let hex = hex_of(n);
                assert!(!dump.contains(&hex), "{n} found in clear (as bytea) in PostgreSQL");
            }
        }
    }
}

fn hex_of(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

async fn a_dropped_writer_leaves_nothing_behind(db: &TestDb) {
    let f = fixture(db).await;
    let (kv, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let p = NewPatient::seal(&patient_input().parse(true, TODAY).unwrap(), &cipher, kv).unwrap();
    {
        let mut w = f.store.writer(&f.njr).await.unwrap();
        w.insert_patients(std::slice::from_ref(&p)).await.unwrap();
        // Dropped without commit, as when an import fails half-way.
    }
    assert_eq!(f.store.find_patient(&cipher, &NhsNumber::parse(NHS).unwrap()).await.unwrap(), None);
    assert!(f.store.stats().await.unwrap().is_empty());
}

async fn a_submission_id_can_be_stored_only_once(db: &TestDb) {
    let f = fixture(db).await;
    let info = SubmissionInfo {
        id: "abc".into(),
        form: "hip_primary".into(),
        rows_total: 1,
        rows_stored: 1,
        rows_rejected: 0,
        created_at: time::OffsetDateTime::now_utc(),
    };
    let mut w = f.store.writer(&f.njr).await.unwrap();
    w.add_submission(&info, "file.csv").await.unwrap();
    w.commit().await.unwrap();
    let stored = f.store.submission(&f.njr, "abc").await.unwrap().unwrap();
    assert_eq!((stored.rows_total, stored.form.as_str()), (1, "hip_primary"));
    let mut w = f.store.writer(&f.njr).await.unwrap();
    assert!(matches!(w.add_submission(&info, "file.csv").await, Err(StoreError::Conflict(_))));
}

async fn stats_count_records_and_patients_per_organisation_and_form(db: &TestDb) {
    let f = fixture(db).await;
    add_hip_for(&f, 1, &f.dict, NHS).await;
    add_hip_for(&f, 1, &f.dict, "9434765919").await;
    let stats = f.store.stats().await.unwrap();
    assert_eq!(stats.len(), 1);
    assert_eq!(
        (stats[0].registry.as_str(), stats[0].organisation.as_str(), stats[0].form.as_str()),
        ("njr", "RRK", "hip_primary")
    );
    assert_eq!((stats[0].records, stats[0].patients), (2, 2));
}

async fn a_registry_key_does_not_open_under_another_master_key(db: &TestDb) {
    let f = fixture(db).await;
    let stranger = MasterKey::generate().unwrap();
    assert!(matches!(f.store.registry_cipher(&f.njr, &stranger).await, Err(StoreError::Vault(_))));
}

/// The audit event of an entry or a correction is in the record's own transaction: when the
/// event cannot be stored (here: a control character, which the canonical encoding refuses),
/// neither is the record, nor its patient, nor any audit event.
async fn a_record_whose_audit_event_cannot_be_stored_is_not_stored_either(db: &TestDb) {
    use tessera_domain::access::{Grant, Grants, Principal, Role, Scope};
    use tessera_store::{AuditActor, AuditNote, AuditOutcome};
    let f = fixture(db).await;
    let rrk = OdsCode::parse("RRK").unwrap();
    let grants = Grants::new(
        Principal::User("u-1".into()),
        vec![Grant {
            id: "g".into(),
            registry: f.njr.clone(),
            role: Role::Submitter,
            scope: Scope::Organisation(rrk.clone()),
            expires_at: i64::MAX,
        }],
    );
    let write = grants.records_write(&f.njr, &rrk).unwrap();
    let (key_version, cipher) = f.store.registry_cipher(&f.njr, &f.master).await.unwrap();
    let patient = patient_input().parse(true, TODAY).unwrap();
    let form = f.dict.form("hip_primary").unwrap();
    let record = f.dict.validate(form, &hip("L", "27.4"), TODAY).unwrap();
    let note = |purpose: &str| {
        AuditNote::new(AuditActor::User("u-1".into()), "record.enter", AuditOutcome::Success)
            .registry("njr")
            .purpose(purpose)
    };
    let refused =
        f.store.enter_record(&write, &cipher, key_version, &patient, false, form, &record, 1, note("care\u{7}")).await;
    assert!(refused.is_err(), "the entry fails with its audit event");
    assert_eq!(f.store.stats().await.unwrap().len(), 0, "no record was stored");
    assert!(f.store.find_patient(&cipher, patient.identifiers().unwrap().nhs_number()).await.unwrap().is_none());
    assert!(f.store.audit_events(0, u64::MAX, 10).await.unwrap().is_empty(), "no audit event either");
    let entered = f
        .store
        .enter_record(&write, &cipher, key_version, &patient, false, form, &record, 1, note("care"))
        .await
        .unwrap();
    let events = f.store.audit_events(0, u64::MAX, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        events[0].event.as_ref().unwrap().target.as_deref(),
        Some(format!("record:{}", entered.record_id).as_str())
    );
}
