//! The audit pages: a registry's controller and auditor read its log (filters by person, action
//! family and date; keyset pages), nobody else does, and no other registry's event shows; "who
//! accessed this patient" lists exactly that patient's events, needs step-up and is itself
//! logged; everyone sees only their own sign-ins. Events are planted with `Store::audit_append`
//! (the auth crate's sign-in events are tested with it); grants are inserted directly.

use reqwest::StatusCode;
use serde_json::json;
use tessera_domain::{Dictionary, NhsNumber, RegistryId};
use tessera_store::{AuditActor, AuditNote, AuditOutcome};

use crate::helpers::{Browser, TestApp, grant, spawn_app};
use crate::on_both;
use crate::records::world;

/// A second registry, to show its events never reach the first one's log.
const OTHER_DICTIONARY: &str = r#"
id = "oth"
name = "Other registry"
description = "A second registry for the audit tests."

[[forms]]
name = "visit"
title = "Visit"
description = "One visit."

[[forms.fields]]
name = "v_date"
label = "Date of visit"
type = "date"
required = true
"#;

const NHS_1: &str = "9434765919";
const NHS_2: &str = "9999999999";
/// Valid, but nobody's.
const NHS_UNKNOWN: &str = "4010232137";

/// An invited, enrolled person with `role` in `registry`.
async fn person(
    app: &TestApp,
    op: &mut Browser,
    email: &str,
    name: &str,
    registry: &str,
    role: &str,
    organisation: Option<&str>,
) -> (Browser, Vec<u8>) {
    let (b, seed) = app.member(op, email, name).await;
    grant(app, email, registry, role, organisation).await;
    (b, seed)
}

async fn user_id(app: &TestApp, email: &str) -> String {
    app.store.user_by_email(email).await.unwrap().expect("account").id
}

/// Enters a record for a patient through the API as `b`; returns the record's id.
async fn enter(b: &mut Browser, nhs: &str, family: &str) -> String {
    let body = json!({
        "organisation": "RAA", "form": "operation",
        "patient": { "nhs_number": nhs, "family_name": family, "given_name": "Ada",
            "date_of_birth": "1950-03-27", "sex": "F", "postcode": "LS1 4AP", "consent": "given" },
        "values": { "op_date": "2024-05-01", "op_side": "L" }
    });
    let r = b.post_json("/api/v1/registries/tst/records", body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned()
}

async fn patient_id(app: &TestApp, nhs: &str) -> String {
    let (_, cipher) = app.store.registry_cipher(&RegistryId::parse("tst").unwrap(), &app.master).await.unwrap();
    let nhs = NhsNumber::parse(nhs).unwrap();
    app.store.find_patient(&cipher, &nhs).await.unwrap().expect("patient").to_string()
}

fn note(actor: &str, action: &str, registry: &str) -> AuditNote {
    AuditNote::new(AuditActor::User(actor.to_owned()), action, AuditOutcome::Success).registry(registry).client("web")
}

/// How many events a page's table shows.
fn rows(body: &str) -> usize {
    body.matches("<tr class=\"nhsuk-table__row\" id=\"event-").count()
}

/// The `href` of the link with this id, unescaped.
fn link(body: &str, id: &str) -> Option<String> {
    let marker = format!("id=\"{id}\" href=\"");
    let rest = &body[body.find(&marker)? + marker.len()..];
    Some(rest[..rest.find('"')?].replace("&amp;", "&").replace("&#38;", "&"))
}

/// Steps up with a fresh TOTP code, then opens `path`.
async fn step_up(app: &TestApp, b: &mut Browser, seed: &[u8], path: &str) {
    let r = b.get(path).await;
    let to = r.location().filter(|l| l.starts_with("/step-up")).expect("step-up asked for").to_owned();
    b.get(&to).await;
    let code = app.next_code(seed);
    let r = b.post("/step-up", &[("code", &code), ("next", path)]).await;
    assert_eq!(r.location(), Some(path), "{}", r.body);
}

on_both! {
    async fn controllers_and_auditors_read_their_registrys_log_and_who_accessed_a_patient_and_nobody_else_does(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        app.store.load_dictionary(&Dictionary::from_toml(OTHER_DICTIONARY).unwrap(), "toml", &app.master, &[]).await.unwrap();
        let (mut op, _) = app.operator().await;
        let (mut controller, _) =
            person(&app, &mut op, "carol@reg.example", "Carol Controller", "tst", "controller", None).await;
        let (mut auditor, seed_auditor) =
            person(&app, &mut op, "audrey@reg.example", "Audrey Auditor", "tst", "auditor", None).await;
        let (mut submitter, _) =
            person(&app, &mut op, "sam@a.example", "Sam Submitter", "tst", "submitter", Some("RAA")).await;
        let (mut viewer, _) = person(&app, &mut op, "val@a.example", "Val Viewer", "tst", "viewer", Some("RAA")).await;
        let (mut analyst, _) = person(&app, &mut op, "ann@reg.example", "Ann Analyst", "tst", "analyst", None).await;
        let (mut other, _) =
            person(&app, &mut op, "otto@oth.example", "Otto Other", "oth", "controller", None).await;
        let (carol, sam, otto) = (
            user_id(&app, "carol@reg.example").await,
            user_id(&app, "sam@a.example").await,
            user_id(&app, "otto@oth.example").await,
        );

        // Two patients with a record each; their entries are already in the log.
        let record_1 = enter(&mut submitter, NHS_1, "Quenby").await;
        let record_2 = enter(&mut submitter, NHS_2, "Ravel").await;
        let (patient_1, patient_2) = (patient_id(&app, NHS_1).await, patient_id(&app, NHS_2).await);

        // Planted: reads of each patient, other actions, another registry's events, and a page's
        // worth of bulk events.
        let mut planted = vec![
            note(&carol, "record.view", "tst").target(format!("record:{record_1}")).purpose("planted-p1-view"),
            note(&sam, "patient.search", "tst").target(format!("patient:{patient_1}")).purpose("planted-p1-search"),
            note(&sam, "record.view", "tst").target(format!("record:{record_2}")).purpose("planted-p2-view"),
            note(&carol, "record.correct", "tst").organisation("RAA").purpose("planted-correct"),
            note(&carol, "records.list", "tst").purpose("planted-list"),
            note(&sam, "grant.approve", "tst").purpose("planted-approve"),
            note(&otto, "record.view", "oth").target(format!("record:{record_1}")).purpose("planted-other-registry"),
            note(&otto, "records.list", "oth").purpose("planted-other-list"),
        ];
        planted.extend((0..55).map(|i| note(&sam, "bulk.test", "tst").purpose(format!("bulk-{i}"))));
        app.store.audit_append(&planted).await.unwrap();

        // The controller and the auditor read the registry's log, newest first, with names.
        for b in [&mut controller, &mut auditor] {
            let page = b.get("/registries/tst/audit").await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            assert_eq!(rows(&page.body), 50, "one page");
            assert!(page.body.contains("<caption class=\"nhsuk-table__caption\" id=\"events-caption\">"));
            assert!(page.body.contains("Sam Submitter (sam@a.example)"));
            assert!(page.body.find("bulk-54").unwrap() < page.body.find("bulk-53").unwrap(), "newest first");
            for theirs in ["planted-other-registry", "planted-other-list"] {
                assert!(!page.body.contains(theirs), "another registry's event is never shown");
            }
        }
        let home = controller.get("/").await;
        assert!(home.body.contains("href=\"/registries/tst/audit\""), "the home page links the log");

        // Keyset pages: older, then newer again, keeping the filter.
        let page = auditor.get("/registries/tst/audit?action=bulk").await;
        assert_eq!(rows(&page.body), 50);
        assert!(link(&page.body, "newer").is_none());
        let older = link(&page.body, "older").expect("an older page");
        assert!(older.contains("action=bulk") && older.contains("before="), "{older}");
        let page = auditor.get(&older).await;
        assert_eq!(rows(&page.body), 5, "the rest");
        assert!(page.body.contains("bulk-0") && !page.body.contains("bulk-54"));
        assert!(link(&page.body, "older").is_none());
        let newer = link(&page.body, "newer").expect("a newer page");
        let page = auditor.get(&newer).await;
        assert_eq!(rows(&page.body), 50);
        assert!(page.body.contains("bulk-54") && !page.body.contains("bulk-4<"));

        // Filters: person (by email, or account id), action family or exact action, dates.
        let page = auditor.get("/registries/tst/audit?user=CAROL%40reg.example").await;
        assert_eq!(rows(&page.body), 3, "{}", page.body);
        for p in ["planted-p1-view", "planted-correct", "planted-list"] {
            assert!(page.body.contains(p), "{p}");
        }
        let page = auditor.get(&format!("/registries/tst/audit?user={carol}")).await;
        assert_eq!(rows(&page.body), 3);
        let page = auditor.get("/registries/tst/audit?user=nobody%40nowhere.example").await;
        assert_eq!(page.status, StatusCode::OK);
        assert_eq!(rows(&page.body), 0);
        assert!(page.body.contains("id=\"no-events\""));
        let page = auditor.get("/registries/tst/audit?action=record").await;
        let body = &page.body;
        assert!(body.contains("planted-p1-view") && body.contains("planted-correct") && body.contains("record.enter"));
        assert!(!body.contains("planted-list") && !body.contains("planted-p1-search"), "records.list is not below record");
        let page = auditor.get("/registries/tst/audit?action=record.view").await;
        assert_eq!(rows(&page.body), 2, "exact action");
        let today = time::OffsetDateTime::now_utc().date();
        let (yesterday, tomorrow) = (today.previous_day().unwrap(), today.next_day().unwrap());
        let page = auditor.get(&format!("/registries/tst/audit?action=record.view&from={today}&to={today}")).await;
        assert_eq!(rows(&page.body), 2);
        let page = auditor.get(&format!("/registries/tst/audit?from={tomorrow}")).await;
        assert_eq!(rows(&page.body), 0);
        let page = auditor.get(&format!("/registries/tst/audit?to={yesterday}")).await;
        assert_eq!(rows(&page.body), 0);
        let page = auditor.get(&format!("/registries/tst/audit?from={today}&to={yesterday}&action=Bad%20one")).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("nhsuk-error-summary"));
        assert!(page.body.contains("<a href=\"#action\">") && page.body.contains("<a href=\"#to\">"));
        let page = auditor.get("/registries/tst/audit?from=2026-02-30").await;
        assert!(page.body.contains("<a href=\"#from\">From must be a real date"));

        // Nobody else: a submitter, a viewer, an analyst, another registry's controller and the
        // operator get 404, as for any page they cannot open.
        for b in [&mut submitter, &mut viewer, &mut analyst, &mut other, &mut op] {
            for path in ["/registries/tst/audit", "/registries/tst/audit/patient"] {
                assert_eq!(b.get(path).await.status, StatusCode::NOT_FOUND, "{path}");
            }
            b.get("/").await;
            let r = b.post("/registries/tst/audit/patient", &[("nhs_number", NHS_1)]).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND);
            assert!(!r.body.contains("planted"));
        }
        assert!(!submitter.get("/").await.body.contains("/audit\""), "no link for those who cannot read it");
        // Their own registry's log holds none of this one's events.
        let page = other.get("/registries/oth/audit").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("planted-other-list") && page.body.contains("planted-other-registry"));
        assert!(!page.body.contains("bulk-") && !page.body.contains("planted-p"), "nothing of tst");

        // Who accessed a patient: step-up first, for the form and the lookup alike.
        app.clock.advance(600);
        let r = auditor.get("/registries/tst/audit/patient").await;
        assert!(r.location().is_some_and(|l| l.starts_with("/step-up")), "{:?}", r.location());
        auditor.get("/registries/tst/audit").await;
        let r = auditor.post("/registries/tst/audit/patient", &[("nhs_number", NHS_1)]).await;
        assert!(r.location().is_some_and(|l| l.starts_with("/step-up")), "{:?}", r.location());
        let page = auditor.get("/registries/tst/audit?action=audit.subject_access").await;
        assert_eq!(rows(&page.body), 0, "nothing was looked up");
        step_up(&app, &mut auditor, &seed_auditor, "/registries/tst/audit/patient").await;
        let form = auditor.get("/registries/tst/audit/patient").await;
        assert_eq!(form.status, StatusCode::OK);
        assert!(form.body.contains("<label class=\"nhsuk-label\" for=\"nhs_number\">"));

        let bad = auditor.post("/registries/tst/audit/patient", &[("nhs_number", "943 476 5918")]).await;
        assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(bad.body.contains("<a href=\"#nhs_number\">Not a valid NHS number"), "{}", bad.body);

        let report = auditor.post("/registries/tst/audit/patient", &[("nhs_number", "943 476 5919")]).await;
        assert_eq!(report.status, StatusCode::OK, "{}", report.body);
        let body = &report.body;
        let table = &body[body.find("<tbody").expect("a table")..];
        assert_eq!(table.matches("<tr class=\"nhsuk-table__row\">").count(), 3, "entry, view, search: {table}");
        assert!(table.contains("record.enter") && table.contains("planted-p1-view") && table.contains("planted-p1-search"));
        assert!(table.find("record.enter").unwrap() < table.find("planted-p1-view").unwrap(), "oldest first");
        for not_theirs in ["planted-p2-view", "planted-other", "planted-correct", "bulk-"] {
            assert!(!body.contains(not_theirs), "{not_theirs} is not about this patient");
        }
        assert!(body.contains("Carol Controller (carol@reg.example)"));
        assert!(!body.contains("Quenby"), "no name on the report");

        // The lookup is itself in the log, once, with the patient's pseudonymous reference only.
        let page = auditor.get("/registries/tst/audit?action=audit.subject_access").await;
        assert_eq!(rows(&page.body), 1, "{}", page.body);
        assert!(page.body.contains(&format!("patient:{patient_1}")) && page.body.contains("subject_access"));
        assert!(!page.body.contains(NHS_1) && !page.body.contains("943 476 5919"));

        // The other patient's report holds only their own events.
        let report = auditor.post("/registries/tst/audit/patient", &[("nhs_number", NHS_2)]).await;
        assert!(report.body.contains("planted-p2-view") && !report.body.contains("planted-p1"));
        assert!(report.body.contains(&patient_2[patient_2.len() - 10..]), "the patient's reference");

        // An unknown patient: a neutral answer.
        let report = auditor.post("/registries/tst/audit/patient", &[("nhs_number", NHS_UNKNOWN)]).await;
        assert_eq!(report.status, StatusCode::OK);
        assert!(report.body.contains("id=\"no-patient\""));
        assert!(!report.body.contains("planted"));
    }

    async fn everyone_sees_only_their_own_recent_sign_ins(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (mut amy, _) = app.member(&mut op, "amy@trust.example", "Amy").await;
        let (mut ben, _) = app.member(&mut op, "ben@trust.example", "Ben").await;
        let (amy_id, ben_id) = (user_id(&app, "amy@trust.example").await, user_id(&app, "ben@trust.example").await);
        let sign_in = |who: &str, action: &str, outcome: AuditOutcome, client: &str| {
            AuditNote::new(AuditActor::System, action, outcome).target(format!("user:{who}")).client(client)
        };
        app.store
            .audit_append(&[
                sign_in(&amy_id, "sign_in.failure", AuditOutcome::Failure, "192.0.2.11"),
                sign_in(&amy_id, "sign_in.success", AuditOutcome::Success, "192.0.2.12"),
                sign_in(&amy_id, "mfa.failure", AuditOutcome::Failure, "192.0.2.13"),
                sign_in(&amy_id, "mfa.enrol", AuditOutcome::Success, "192.0.2.14"),
                // Not sign-in activity, though about Amy's account.
                sign_in(&amy_id, "grant.approve", AuditOutcome::Success, "192.0.2.15"),
                sign_in(&amy_id, "sign_in_x.other", AuditOutcome::Success, "192.0.2.16"),
                sign_in(&ben_id, "sign_in.lockout", AuditOutcome::Failure, "198.51.100.21"),
            ])
            .await
            .unwrap();

        let account = amy.get("/account").await;
        assert!(account.body.contains("href=\"/account/sign-ins\""), "linked from the account page");
        let page = amy.get("/account/sign-ins").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for address in ["192.0.2.11", "192.0.2.12", "192.0.2.13", "192.0.2.14"] {
            assert!(page.body.contains(address), "{address}");
        }
        for address in ["192.0.2.15", "192.0.2.16", "198.51.100.21"] {
            assert!(!page.body.contains(address), "{address} is not Amy's sign-in activity");
        }
        assert!(page.body.contains("Second factor refused") && page.body.contains("nhsuk-tag--red"));
        assert!(page.body.find("192.0.2.14").unwrap() < page.body.find("192.0.2.11").unwrap(), "newest first");
        assert!(page.body.contains("<caption class=\"nhsuk-table__caption\">"));

        let page = ben.get("/account/sign-ins").await;
        assert!(page.body.contains("198.51.100.21") && page.body.contains("Account locked"));
        assert!(!page.body.contains("192.0.2."), "only Ben's own");

        // Signed out: sign in first.
        let mut stranger = app.browser();
        let r = stranger.get("/account/sign-ins").await;
        assert_eq!(r.location(), Some("/sign-in"));
    }
}
