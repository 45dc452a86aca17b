//! Device recalls over HTTP: a safety officer starts a recall and sees counts everywhere but no
//! patient; each hospital sees only its own patients on its worklist, with a stated purpose,
//! audited before the answer and failing without the audit log; follow-up steps are kept.
//! Two hospitals (RAA, RBB) of the test registry each hold one patient with the same recalled
//! unit's GTIN and lot.

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera_store::{Product, Store};

use crate::helpers::{
    Browser, TestApp, accept_audit, assert_audit_names_nobody, audit_events, grant, refuse_audit, spawn_app,
};
use crate::on_both;
use crate::records::{person, world};

/// The recalled product's GTIN (in the catalogue), and the lot recalled.
pub(crate) const GTIN: &str = "05012345678900";
pub(crate) const LOT: &str = "LOT1";
/// Patient at RAA and at RBB.
const NHS_A: &str = "9434765919";
const FAMILY_A: &str = "Quenby";
const NHS_B: &str = "9434765870";
const FAMILY_B: &str = "Bramwell";

/// Steps up with a fresh TOTP code, then follows the redirect to `path`.
pub(crate) async fn step_up(app: &TestApp, b: &mut Browser, seed: &[u8], path: &str) -> crate::helpers::Page {
    let r = b.get(path).await;
    if let Some(to) = r.location().filter(|l| l.starts_with("/step-up")) {
        b.get(to).await;
        let code = app.next_code(seed);
        let target = path.split('?').next().unwrap();
        let r = b.post("/step-up", &[("code", &code), ("next", target)]).await;
        assert!(r.location().is_some(), "{}", r.body);
        return b.get(path).await;
    }
    r
}

/// Enters an operation for a patient at `organisation` through the API; returns the record id.
pub(crate) async fn operation(b: &mut Browser, organisation: &str, nhs: &str, family: &str) -> String {
    let r = b
        .post_json(
            "/api/v1/registries/tst/records",
            json!({
                "organisation": organisation, "form": "operation",
                "patient": { "nhs_number": nhs, "family_name": family, "given_name": "Ada",
                    "date_of_birth": "1950-03-27", "sex": "F", "postcode": "LS1 4AP", "consent": "given" },
                "values": { "op_date": "2024-05-01", "op_side": "L" }
            }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    serde_json::from_str::<Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned()
}

/// Scans a unit onto a record through the API; returns the answer.
pub(crate) async fn scan(b: &mut Browser, record: &str, scan: &str) -> Value {
    let r = b.post_json(&format!("/api/v1/registries/tst/records/{record}/components"), json!({ "scan": scan })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    serde_json::from_str(&r.body).unwrap()
}

/// Puts the recalled product in the catalogue.
pub(crate) async fn catalogue(store: &Store) {
    let product = Product {
        gtin: GTIN.into(),
        manufacturer: "Acme Orthopaedics".into(),
        brand: "Acme Cup".into(),
        category: "Acetabular cup".into(),
    };
    store.upsert_products(&[product]).await.unwrap();
}

/// A safety officer of the test registry (every organisation), signed in.
pub(crate) async fn safety_officer(app: &TestApp, op: &mut Browser) -> (Browser, Vec<u8>) {
    let email = "sofia@mhra.example";
    let (b, seed) = app.member(op, email, "Sofia Safety").await;
    grant(app, email, "tst", "safety_officer", None).await;
    (b, seed)
}

/// Starts a recall of the GTIN and lot through the API; returns its id.
pub(crate) async fn start_recall(s: &mut Browser, reference: &str) -> String {
    let r = s
        .post_json(
            "/api/v1/recalls",
            json!({ "reference": reference, "title": "Liner wear in Acme Cup", "manufacturer": "Acme Orthopaedics",
                    "gtins": GTIN, "lots": LOT }),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    serde_json::from_str::<Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned()
}

struct Recall {
    app: TestApp,
    a: Browser,
    seed_a: Vec<u8>,
    b: Browser,
    seed_b: Vec<u8>,
    s: Browser,
    seed_s: Vec<u8>,
    id: String,
    implant_a: String,
    implant_b: String,
}

/// Two hospitals with one patient each carrying the recalled unit, a safety officer, a recall.
async fn recall_world(kind: &str) -> Recall {
    let app = spawn_app(kind).await;
    world(&app).await;
    catalogue(&app.store).await;
    let (mut op, _) = app.operator().await;
    let (mut a, seed_a) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
    let (mut b, seed_b) = person(&app, &mut op, "bob@b.example", "submitter", "RBB").await;
    let (mut s, seed_s) = safety_officer(&app, &mut op).await;
    let record_a = operation(&mut a, "RAA", NHS_A, FAMILY_A).await;
    let record_b = operation(&mut b, "RBB", NHS_B, FAMILY_B).await;
    let implant_a = scan(&mut a, &record_a, &format!("(01){GTIN}(10){LOT}(21)SA1")).await["implant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let implant_b = scan(&mut b, &record_b, &format!("(01){GTIN}(10){LOT}(21)SB1")).await["implant"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Another lot is not recalled.
    scan(&mut a, &record_a, &format!("(01){GTIN}(10)LOT9(21)SA2")).await;
    let id = start_recall(&mut s, "MDA-2026-001").await;
    Recall { app, a, seed_a, b, seed_b, s, seed_s, id, implant_a, implant_b }
}

fn worklist(id: &str, org: &str) -> String {
    format!("/recalls/{id}/registries/tst/organisations/{org}")
}

on_both! {
    async fn a_hospital_sees_only_its_own_patients_and_a_safety_officer_counts_but_no_patients(kind: &str) {
        let Recall { app, mut a, seed_a, mut b, seed_b, mut s, seed_s, id, implant_a, implant_b } = recall_world(kind).await;

        // The safety officer: counts over every organisation of the registry.
        let r = s.get(&format!("/api/v1/recalls/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let counts: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(counts["total"], 2, "{counts}");
        let orgs: Vec<(String, u64)> = counts["organisations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| (o["organisation"].as_str().unwrap().to_owned(), o["total"].as_u64().unwrap()))
            .collect();
        assert_eq!(orgs, vec![("RAA".to_owned(), 1), ("RBB".to_owned(), 1)]);
        assert!(!r.body.contains(FAMILY_A) && !r.body.contains(NHS_A));
        let page = s.get(&format!("/recalls/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"org-tst-RAA\"") && page.body.contains("id=\"org-tst-RBB\""));
        assert!(!page.body.contains("class=\"worklist-link\""), "no worklist without reading records there");
        let r = s.get(&format!("/api/v1/recalls/{id}/org-counts")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("\"RAA\"") && r.body.contains("\"RBB\""), "{}", r.body);
        // ... and no patient: 404 on every worklist, as for records out of reach.
        for org in ["RAA", "RBB"] {
            let page = step_up(&app, &mut s, &seed_s, &format!("{}?purpose=recall_safety", worklist(&id, org))).await;
            assert_eq!(page.status, StatusCode::NOT_FOUND, "{org}");
            assert!(!page.body.contains(FAMILY_A) && !page.body.contains(FAMILY_B));
            let csv = s.get(&format!("{}/worklist.csv?purpose=recall_safety", worklist(&id, org))).await;
            assert_eq!(csv.status, StatusCode::NOT_FOUND);
            let api = s
                .get(&format!("/api/v1/recalls/{id}/worklist?registry=tst&organisation={org}&purpose=recall_safety"))
                .await;
            assert_eq!(api.status, StatusCode::NOT_FOUND);
        }

        // Hospital A: its own row with a worklist link, not B's; counts of the registry are not theirs.
        let page = a.get(&format!("/recalls/{id}")).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(&worklist(&id, "RAA")) && !page.body.contains("RBB"), "{}", page.body);
        // ... counted within A's own reach: one unit, new to A until its worklist is opened.
        let row = page.body.split("id=\"org-tst-RAA\"").nth(1).unwrap().split("</tr>").next().unwrap();
        assert!(row.contains(">1<") && row.contains("1 new since you last looked"), "{row}");
        assert_eq!(a.get(&format!("/api/v1/recalls/{id}")).await.status, StatusCode::NOT_FOUND);
        let list = a.get("/recalls").await;
        assert!(list.body.contains("MDA-2026-001") && !list.body.contains("id=\"new-recall\""));

        // A's worklist: A's patient, never B's.
        let page = step_up(&app, &mut a, &seed_a, &format!("{}?purpose=recall_safety", worklist(&id, "RAA"))).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains(FAMILY_A) && page.body.contains("943 476 5919") && page.body.contains(&implant_a));
        assert!(!page.body.contains(FAMILY_B) && !page.body.contains(&implant_b) && !page.body.contains("SA2"));
        let page = a.get(&format!("{}?purpose=recall_safety", worklist(&id, "RBB"))).await;
        assert_eq!(page.status, StatusCode::NOT_FOUND);
        assert!(!page.body.contains(FAMILY_B));
        let page = a.get(&format!("/recalls/{id}")).await;
        assert!(!page.body.contains("new since you last looked"), "opening the worklist marks its units seen");
        let csv = a.get(&format!("{}/worklist.csv?purpose=recall_safety", worklist(&id, "RAA"))).await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers["content-type"].to_str().unwrap().starts_with("text/csv"));
        assert!(csv.body.contains(NHS_A) && csv.body.contains(&implant_a) && csv.body.contains(FAMILY_A));
        assert!(!csv.body.contains(NHS_B) && !csv.body.contains(&implant_b) && !csv.body.contains(FAMILY_B));
        assert_eq!(a.get(&format!("{}/worklist.csv?purpose=recall_safety", worklist(&id, "RBB"))).await.status, StatusCode::NOT_FOUND);
        let api = a.get(&format!("/api/v1/recalls/{id}/worklist?registry=tst&organisation=RAA&purpose=recall_safety")).await;
        assert_eq!(api.status, StatusCode::OK, "{}", api.body);
        let rows: Value = serde_json::from_str(&api.body).unwrap();
        assert_eq!(rows.as_array().unwrap().len(), 1);
        assert_eq!(rows[0]["nhs_number"], NHS_A);
        let api = a.get(&format!("/api/v1/recalls/{id}/worklist?registry=tst&organisation=RBB&purpose=recall_safety")).await;
        assert_eq!(api.status, StatusCode::NOT_FOUND);

        // Hospital B: the mirror image.
        let page = step_up(&app, &mut b, &seed_b, &format!("{}?purpose=recall_safety", worklist(&id, "RBB"))).await;
        assert!(page.body.contains(FAMILY_B) && !page.body.contains(FAMILY_A), "{}", page.body);
        assert_eq!(b.get(&format!("{}?purpose=recall_safety", worklist(&id, "RAA"))).await.status, StatusCode::NOT_FOUND);
        // A follow-up on another hospital's unit is not found either.
        let r = b
            .post_json(&format!("/api/v1/recalls/{id}/implants/{implant_a}/follow-up"), json!({ "status": "contacted" }))
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
        b.get("/").await;
        let r = b
            .post(&format!("{}/implants/{implant_a}/follow-up", worklist(&id, "RAA")), &[("status", "contacted")])
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }

    async fn a_worklist_without_a_purpose_shows_and_writes_nothing_with_one_writes_one_event_and_fails_without_audit(kind: &str) {
        let Recall { app, mut a, seed_a, mut s, id, .. } = recall_world(kind).await;
        let path = worklist(&id, "RAA");
        let head = || async { app.store.audit_head().await.unwrap().last_seq };

        let before = head().await;
        let page = step_up(&app, &mut a, &seed_a, &path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("Why are you opening this?") && page.body.contains("value=\"recall_safety\""));
        assert!(!page.body.contains(FAMILY_A) && !page.body.contains("943 476 5919"));
        for wrong in ["direct_care", "curiosity"] {
            let page = a.get(&format!("{path}?purpose={wrong}")).await;
            assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{wrong}");
            assert!(!page.body.contains(FAMILY_A));
        }
        let csv = a.get(&format!("{path}/worklist.csv")).await;
        assert!(csv.body.contains("Why are you opening this?") && !csv.body.contains(NHS_A));
        let api = a.get(&format!("/api/v1/recalls/{id}/worklist?registry=tst&organisation=RAA")).await;
        assert_eq!(api.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(api.body.contains("\"field\":\"purpose\"") && !api.body.contains(FAMILY_A), "{}", api.body);
        assert_eq!(head().await, before, "no purpose, no event");

        // With the purpose: exactly one event, purpose recall_safety, no identifier in it.
        let before = head().await;
        let page = a.get(&format!("{path}?purpose=recall_safety")).await;
        assert!(page.body.contains(FAMILY_A));
        let new: Vec<_> =
            app.store.audit_events(before, u64::MAX, 100).await.unwrap().into_iter().map(|r| r.event.unwrap()).collect();
        assert_eq!(new.len(), 1, "{new:#?}");
        assert_eq!(new[0].action, "recall.worklist");
        assert_eq!(new[0].purpose.as_deref(), Some("recall_safety"));
        assert_eq!(new[0].target.as_deref(), Some(format!("recall:{id}").as_str()));
        assert_eq!(new[0].organisation.as_deref(), Some("RAA"));
        let before = head().await;
        a.get(&format!("{path}/worklist.csv?purpose=recall_safety")).await;
        assert_eq!(head().await, before + 1, "the download is one event");
        assert_audit_names_nobody(&app, &[FAMILY_A, FAMILY_B, NHS_A, NHS_B, "943 476 5919"]).await;

        // No audit, no data.
        refuse_audit(&app.store).await;
        let page = a.get(&format!("{path}?purpose=recall_safety")).await;
        assert!(page.status.is_server_error(), "{}", page.status);
        assert!(!page.body.contains(FAMILY_A) && !page.body.contains("943 476 5919"));
        let csv = a.get(&format!("{path}/worklist.csv?purpose=recall_safety")).await;
        assert!(csv.status.is_server_error() && !csv.body.contains(NHS_A));
        let api = a.get(&format!("/api/v1/recalls/{id}/worklist?registry=tst&organisation=RAA&purpose=recall_safety")).await;
        assert!(api.status.is_server_error() && !api.body.contains(NHS_A));
        // The counts are read while their event is appended: they too leave only with it.
        for counts in [format!("/api/v1/recalls/{id}"), format!("/api/v1/recalls/{id}/org-counts")] {
            let r = s.get(&counts).await;
            assert!(r.status.is_server_error(), "{counts}: {}", r.status);
            assert!(!r.body.contains("\"total\"") && !r.body.contains("\"implants\""), "{counts}: {}", r.body);
        }
        let page = s.get(&format!("/recalls/{id}")).await;
        assert!(page.status.is_server_error() && !page.body.contains("Matching implants"), "{}", page.status);
        accept_audit(&app.store).await;
        let r = s.get(&format!("/api/v1/recalls/{id}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        assert!(r.body.contains("\"total\":2"), "{}", r.body);
    }

    async fn follow_up_steps_are_recorded_and_kept_as_history(kind: &str) {
        let Recall { app, mut a, seed_a, mut s, id, implant_a, .. } = recall_world(kind).await;
        let path = worklist(&id, "RAA");
        let page = step_up(&app, &mut a, &seed_a, &format!("{path}?purpose=recall_safety")).await;
        assert!(page.body.contains("To contact"));
        let post = format!("{path}/implants/{implant_a}/follow-up");
        let r = a.post(&post, &[("status", "contacted"), ("note", "Letter sent"), ("purpose", "recall_safety")]).await;
        let to = r.location().expect("back to the worklist").to_owned();
        assert!(to.starts_with(&format!("{path}?purpose=recall_safety")), "{to}");
        let r = a.post(&post, &[("status", "sideways"), ("note", "")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        let long = "x".repeat(501);
        let r = a.post(&post, &[("status", "reviewed"), ("note", long.as_str())]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        a.get(&format!("{path}?purpose=recall_safety")).await;
        let r = a.post(&post, &[("status", "reviewed"), ("note", "")]).await;
        assert!(r.location().is_some(), "{}", r.body);

        let page = a.get(&to).await;
        assert!(page.body.contains("The follow-up step has been recorded."));
        let status = crate::helpers::between(&page.body, &format!("id=\"status-{implant_a}\">"), "<").unwrap();
        assert!(status.starts_with("Reviewed in clinic"), "{status}");
        let history = crate::helpers::between(&page.body, &format!("id=\"history-{implant_a}\""), "</details>").unwrap();
        assert!(history.contains("Patient contacted (Letter sent)") && history.contains("Reviewed in clinic"), "{history}");

        let r = a
            .post_json(&format!("/api/v1/recalls/{id}/implants/{implant_a}/follow-up"), json!({ "status": "explanted", "registry": "tst" }))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
        let answer: Value = serde_json::from_str(&r.body).unwrap();
        let steps: Vec<&str> = answer["history"].as_array().unwrap().iter().map(|h| h["status"].as_str().unwrap()).collect();
        assert_eq!(steps, ["contacted", "reviewed", "explanted"]);
        let r = a.post_json(&format!("/api/v1/recalls/{id}/implants/{implant_a}/follow-up"), json!({ "status": "gone" })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

        // The counts show the step reached, to the safety officer too.
        let counts: Value = serde_json::from_str(&s.get(&format!("/api/v1/recalls/{id}")).await.body).unwrap();
        let raa = counts["organisations"].as_array().unwrap().iter().find(|o| o["organisation"] == "RAA").unwrap().clone();
        assert!(raa["by_status"].as_array().unwrap().iter().any(|b| b["status"] == "explanted" && b["count"] == 1), "{raa}");
        let events = audit_events(&app).await;
        assert_eq!(events.iter().filter(|e| e.action == "recall.followup").count(), 3);

        // A closed recall's follow-up no longer changes.
        s.get(&format!("/recalls/{id}")).await;
        assert_eq!(s.post(&format!("/recalls/{id}/close"), &[]).await.location(), Some("/recalls?done=closed"));
        let r = a.post_json(&format!("/api/v1/recalls/{id}/implants/{implant_a}/follow-up"), json!({ "status": "contacted" })).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.body);
        a.get(&format!("{path}?purpose=recall_safety")).await;
        assert_eq!(a.post(&post, &[("status", "contacted")]).await.status, StatusCode::CONFLICT);
    }

    async fn a_new_recall_shows_every_problem_by_field_and_refuses_a_used_reference(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        let (mut op, _) = app.operator().await;
        let (mut a, _) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
        let (mut s, _) = safety_officer(&app, &mut op).await;
        assert_eq!(a.get("/recalls/new").await.status, StatusCode::FORBIDDEN);
        assert_eq!(
            a.post_json("/api/v1/recalls", json!({ "reference": "X", "gtins": GTIN })).await.status,
            StatusCode::FORBIDDEN
        );

        let page = s.get("/recalls/new").await;
        assert_eq!(page.status, StatusCode::OK);
        let bad = [
            ("reference", "MDA-2026-002"),
            ("title", ""),
            ("manufacturer", "Acme"),
            ("gtins", "05012345678900\n05012345678901"),
            ("lots", "LOT 1"),
            ("expiry_from", "2026-13-01"),
            ("implanted_from", "2025-06-01"),
            ("implanted_to", "2025-01-01"),
            ("organisations", "not an ods code!"),
        ];
        let page = s.post("/recalls/new", &bad).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
        assert!(page.body.contains("nhsuk-error-summary"));
        for anchor in ["#title", "#gtins", "#lots", "#expiry_from", "#implanted_to", "#organisations"] {
            assert!(page.body.contains(&format!("<a href=\"{anchor}\">")), "{anchor} in the summary: {}", page.body);
        }
        assert!(page.body.contains("entry 2 is not a GTIN"), "the entry is named");
        assert!(page.body.contains("value=\"MDA-2026-002\""), "values are kept");

        let good = [
            ("reference", "MDA-2026-002"),
            ("title", "Liner wear"),
            ("manufacturer", "Acme"),
            ("gtins", GTIN),
            ("lots", "LOT1, LOT2"),
            ("implanted_from", "2024-01-01"),
        ];
        let r = s.post("/recalls/new", &good).await;
        let to = r.location().expect("to the dashboard").to_owned();
        let page = s.get(&to).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("MDA-2026-002") && page.body.contains("LOT1, LOT2") && page.body.contains("from 2024-01-01"));
        s.get("/recalls/new").await;
        let page = s.post("/recalls/new", &good).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("<a href=\"#reference\">A recall with this reference already exists"));
        let r = s.post_json("/api/v1/recalls", json!({ "reference": "MDA-2026-002", "title": "t", "manufacturer": "m", "gtins": GTIN })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("\"field\":\"reference\""));

        // Closing it: listed as closed.
        let id = to.rsplit('/').next().unwrap();
        s.get(&to).await;
        let r = s.post(&format!("/recalls/{id}/close"), &[]).await;
        assert_eq!(r.location(), Some("/recalls?done=closed"));
        let list = s.get("/recalls?done=closed").await;
        assert!(list.body.contains("Closed") && list.body.contains("The recall has been closed."));
        assert!(audit_events(&app).await.iter().any(|e| e.action == "recall.close"));
    }
}
