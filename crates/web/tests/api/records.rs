//! Record pages and API behind grants: a submitter enters, sees every problem and corrects; a
//! second organisation's people and a viewer get nothing they should not; API tokens are held to
//! their organisation and stop at revocation and expiry. Grants are inserted directly (the
//! approvals workflow has its own tests).

use reqwest::StatusCode;
use serde_json::json;
use tessera_auth::{Client, SessionToken, TokenPermission, TokenSpec};
use tessera_domain::{Dictionary, OdsCode, Organisation, OrganisationKind, RegistryId};

use crate::helpers::{Browser, TestApp, grant, spawn_app};
use crate::on_both;

const DICTIONARY: &str = r#"
id = "tst"
name = "Test registry"
description = "A small registry for the record tests."

[[code_lists]]
name = "side"
codes = [{ code = "L", label = "Left" }, { code = "R", label = "Right" }]

[[code_lists]]
name = "approach"
codes = [
  { code = "A", label = "Anterior" },
  { code = "B", label = "Lateral" },
  { code = "C", label = "Posterior" },
  { code = "D", label = "Direct superior" },
  { code = "E", label = "Other" },
  { code = "F", label = "Not known" },
]

[[forms]]
name = "operation"
title = "Operation"
description = "One operation on one side."

[[forms.fields]]
name = "op_date"
label = "Date of operation"
type = "date"
required = true
help = "The day the operation started."

[[forms.fields]]
name = "op_side"
label = "Side"
type = "code"
code_list = "side"
required = true

[[forms.fields]]
name = "op_approach"
label = "Approach"
type = "code"
code_list = "approach"

[[forms.fields]]
name = "op_bmi"
label = "Body mass index"
type = "decimal"
min = 10.0
max = 90.0

[[forms.fields]]
name = "op_height_cm"
label = "Height (cm)"
type = "integer"
min = 100
max = 250

[[forms.fields]]
name = "op_cemented"
label = "Cemented"
type = "boolean"

[[forms.fields]]
name = "op_notes"
label = "Notes"
type = "text"
max_length = 200
"#;

/// A valid test NHS number and one that fails its check digit.
const NHS: &str = "943 476 5919";
const NHS_DIGITS: &str = "9434765919";
const OTHER_NHS: &str = "9999999999";
const FAMILY: &str = "Quenby";

fn org(code: &str) -> Organisation {
    Organisation {
        ods: OdsCode::parse(code).unwrap(),
        name: format!("Hospital {code}"),
        kind: OrganisationKind::NhsTrust,
        region: "Test".into(),
    }
}

/// Loads the test registry and two organisations, RAA and RBB.
pub(crate) async fn world(app: &TestApp) {
    let dict = Dictionary::from_toml(DICTIONARY).unwrap();
    app.store.load_dictionary(&dict, "toml", &app.master, &[]).await.unwrap();
    app.store.upsert_organisations(&[org("RAA"), org("RBB")]).await.unwrap();
}

/// An invited, enrolled person with `role` at `organisation`.
pub(crate) async fn person(
    app: &TestApp,
    operator: &mut Browser,
    email: &str,
    role: &str,
    organisation: &str,
) -> (Browser, Vec<u8>) {
    let (b, seed) = app.member(operator, email, &format!("Test {role} {organisation}")).await;
    grant(app, email, "tst", role, Some(organisation)).await;
    (b, seed)
}

fn good_entry(organisation: &str, side: &str) -> Vec<(&'static str, String)> {
    vec![
        ("form", "operation".into()),
        ("organisation", organisation.into()),
        ("p_nhs_number", NHS.into()),
        ("p_family_name", FAMILY.into()),
        ("p_given_name", "Ada".into()),
        ("p_date_of_birth", "1950-03-27".into()),
        ("p_sex", "F".into()),
        ("p_postcode", "LS1 4AP".into()),
        ("p_consent", "given".into()),
        ("f_op_date", "2024-05-01".into()),
        ("f_op_side", side.into()),
        ("f_op_approach", "C".into()),
        ("f_op_bmi", "27.5".into()),
        ("f_op_cemented", "true".into()),
    ]
}

/// Posts a form with the session's CSRF token (read from the home page, since error pages carry
/// none), so a refusal is the access check and not a missing token.
async fn post_owned(b: &mut Browser, path: &str, fields: &[(&'static str, String)]) -> crate::helpers::Page {
    b.get("/").await;
    let borrowed: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
    b.post(path, &borrowed).await
}

/// Searches through the page and returns it.
async fn search(b: &mut Browser, nhs: &str) -> crate::helpers::Page {
    b.get("/").await;
    b.post("/registries/tst/records/search", &[("p_nhs_number", nhs), ("purpose", "direct_care")]).await
}

/// Steps up with a fresh TOTP code, then follows the redirect.
async fn step_up(app: &TestApp, b: &mut Browser, seed: &[u8], path: &str) -> crate::helpers::Page {
    let r = b.get(path).await;
    if let Some(to) = r.location().filter(|l| l.starts_with("/step-up")) {
        b.get(to).await;
        let code = app.next_code(seed);
        let r = b.post("/step-up", &[("code", &code), ("next", path)]).await;
        assert_eq!(r.location(), Some(path), "{}", r.body);
        return b.get(path).await;
    }
    r
}

on_both! {
    async fn a_submitter_enters_sees_every_problem_and_corrects_and_no_one_elsewhere_sees_it(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        let (mut op, _) = app.operator().await;
        let (mut a, seed_a) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
        let (mut b, seed_b) = person(&app, &mut op, "bob@b.example", "submitter", "RBB").await;
        let (mut v, _) = person(&app, &mut op, "val@a.example", "viewer", "RAA").await;

        // The form is generated from the dictionary: every field, by type, with markers and help.
        let page = a.get("/registries/tst/records/new?form=operation").await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        for needle in [
            "name=\"f_op_date\" type=\"date\"", "The day the operation started.", "type=\"radio\" value=\"L\"",
            "<select class=\"nhsuk-select\" id=\"f_op_approach\"", "inputmode=\"decimal\"", "inputmode=\"numeric\"",
            "(required)", "name=\"p_nhs_number\"", "<option value=\"RAA\"",
        ] {
            assert!(page.body.contains(needle), "{needle} on the form");
        }
        assert!(!page.body.contains("RBB"), "only the caller's organisations are offered");

        // Every problem at once, in the NHS.UK error summary, each linked to its field; values kept.
        let mut bad = good_entry("RAA", "");
        bad.retain(|(k, _)| *k != "f_op_date");
        bad.push(("f_op_height_cm", "tall".into()));
        bad.iter_mut().find(|(k, _)| *k == "p_nhs_number").unwrap().1 = "943 476 5918".into();
        let page = post_owned(&mut a, "/registries/tst/records/new", &bad).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", page.body);
        assert!(page.body.contains("nhsuk-error-summary"));
        for (anchor, text) in [
            ("#p_nhs_number", "NHS number"),
            ("#f_op_date", "Date of operation is required"),
            ("#f_op_side", "Side is required"),
            ("#f_op_height_cm", "Height (cm) must be a whole number"),
        ] {
            assert!(page.body.contains(&format!("<a href=\"{anchor}\">{text}")), "{anchor} in the summary");
        }
        assert!(page.body.contains(&format!("value=\"{FAMILY}\"")), "values are kept");
        assert!(page.body.contains("value=\"tall\""));
        assert!(!page.body.contains("5918</a>"), "the summary never repeats a value");

        // A good entry: saved, and shown with the patient's identifiers.
        let r = post_owned(&mut a, "/registries/tst/records/new", &good_entry("RAA", "L")).await;
        let location = r.location().expect("redirect to the record").to_owned();
        let path = location.split('?').next().unwrap().to_owned();
        let id = path.rsplit('/').next().unwrap().to_owned();
        // The record page asks why first (no purpose was stated before the entry), showing nothing.
        let page = a.get(&location).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Why are you opening this?") && page.body.contains("The record has been saved."));
        assert!(!page.body.contains(FAMILY) && !page.body.contains(NHS) && !page.body.contains("27.5"));
        let page = a.get(&format!("{location}&purpose=direct_care")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(&format!("{path}/correct?purpose=direct_care")), "the purpose is carried on");
        for needle in [NHS, FAMILY, "Left (L)", "Posterior (C)", "27.5", "The record has been saved."] {
            assert!(page.body.contains(needle), "{needle} on the record page");
        }

        // Correct: pre-filled, the reason is required, a new revision keeps the old one.
        let page = a.get(&format!("{path}/correct")).await;
        assert!(page.body.contains("Why are you opening this?") && !page.body.contains("value=\"27.5\""));
        let page = a.get(&format!("{path}/correct?purpose=direct_care")).await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("value=\"27.5\"") && page.body.contains("value=\"L\" checked"));
        let mut fields: Vec<(&'static str, String)> =
            good_entry("RAA", "R").into_iter().filter(|(k, _)| k.starts_with("f_")).collect();
        let page = post_owned(&mut a, &format!("{path}/correct"), &fields).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("<a href=\"#reason\">Enter the reason for the correction"));
        fields.push(("reason", "Side was recorded wrongly".into()));
        let r = post_owned(&mut a, &format!("{path}/correct"), &fields).await;
        assert_eq!(r.location(), Some(format!("{path}?done=corrected").as_str()), "{}", r.body);
        let page = a.get(&format!("{path}?purpose=direct_care")).await;
        assert!(page.body.contains("Right (R)") && page.body.contains("revision 2"));
        assert!(page.body.contains("Side was recorded wrongly") && page.body.contains("Left (L)"), "history kept");

        // The submitter finds the patient; a wrong purpose or number is a problem, not a search.
        let found = search(&mut a, NHS).await;
        assert!(found.body.contains(&id) && found.body.contains(FAMILY));
        a.get("/registries/tst/records/search").await;
        let r = a.post("/registries/tst/records/search", &[("p_nhs_number", NHS), ("purpose", "curiosity")]).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.body.contains("<a href=\"#purpose\">"));

        // Organisation B: nothing of A's record, by any route; the same patient entered at B is
        // B's own record, which A does not see either.
        for p in [path.clone(), format!("{path}/correct"), format!("{path}?purpose=direct_care")] {
            let r = b.get(&p).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{p}");
            assert!(!r.body.contains(FAMILY) && !r.body.contains(NHS));
        }
        let r = post_owned(&mut b, &format!("{path}/correct"), &fields).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let unknown = search(&mut b, OTHER_NHS).await;
        let not_theirs = search(&mut b, NHS).await;
        assert!(not_theirs.body.contains("id=\"no-match\"") && unknown.body.contains("id=\"no-match\""));
        assert!(!not_theirs.body.contains(FAMILY) && !not_theirs.body.contains(&id));
        assert_eq!(not_theirs.status, unknown.status);
        let r = post_owned(&mut b, "/registries/tst/records/new", &good_entry("RAA", "L")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "B cannot enter a record for A");
        let r = post_owned(&mut b, "/registries/tst/records/new", &good_entry("RBB", "R")).await;
        let b_path = r.location().unwrap().split('?').next().unwrap().to_owned();
        let b_id = b_path.rsplit('/').next().unwrap().to_owned();
        let found = search(&mut b, NHS).await;
        assert!(found.body.contains(&b_id) && !found.body.contains(&id), "B sees only B's record");
        let found = search(&mut a, NHS).await;
        assert!(found.body.contains(&id) && !found.body.contains(&b_id), "A sees only A's record");
        assert_eq!(a.get(&format!("{b_path}?purpose=direct_care")).await.status, StatusCode::NOT_FOUND);

        // Lists are bulk views: step-up first, then only one's own organisation.
        app.clock.advance(600);
        let r = a.get("/registries/tst/records").await;
        assert!(r.location().is_some_and(|l| l.starts_with("/step-up")), "list needs step-up");
        let r = a.get("/registries/tst/records.csv").await;
        assert!(r.location().is_some_and(|l| l.starts_with("/step-up")), "download needs step-up");
        let list = step_up(&app, &mut a, &seed_a, "/registries/tst/records").await;
        assert!(list.body.contains("Why are you opening this?") && !list.body.contains(&id), "asks, lists nothing");
        let list = a.get("/registries/tst/records?purpose=clinical_audit").await;
        assert_eq!(list.status, StatusCode::OK);
        assert!(list.body.contains(&id) && !list.body.contains(&b_id) && !list.body.contains(FAMILY));
        let csv = a.get("/registries/tst/records.csv?purpose=clinical_audit").await;
        assert_eq!(csv.status, StatusCode::OK);
        assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
        assert!(csv.body.contains(&id) && !csv.body.contains(&b_id) && !csv.body.contains(NHS_DIGITS));
        let list = step_up(&app, &mut b, &seed_b, "/registries/tst/records?purpose=data_quality").await;
        assert!(list.body.contains(&b_id) && !list.body.contains(&id));

        // A viewer reads their organisation's records but writes nothing.
        let seen = format!("{path}?purpose=direct_care");
        assert_eq!(v.get(&seen).await.status, StatusCode::OK);
        assert!(!v.get(&seen).await.body.contains("id=\"correct\""));
        assert_eq!(v.get(&format!("{path}/correct?purpose=direct_care")).await.status, StatusCode::FORBIDDEN);
        let r = post_owned(&mut v, &format!("{path}/correct"), &fields).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(v.get("/registries/tst/records/new?form=operation").await.status, StatusCode::NOT_FOUND);
        let r = post_owned(&mut v, "/registries/tst/records/new", &good_entry("RAA", "L")).await;
        assert!(matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN), "{}", r.status);
        assert!(search(&mut v, NHS).await.body.contains(&id));

        // The operator reads no patient data.
        assert_eq!(op.get(&format!("{path}?purpose=direct_care")).await.status, StatusCode::NOT_FOUND);
        assert!(search(&mut op, NHS).await.status == StatusCode::NOT_FOUND);
    }

    async fn the_api_enters_reads_and_corrects_within_grants_and_tokens_stop_at_revocation_and_expiry(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        let (mut op, _) = app.operator().await;
        let (mut a, _) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
        let (mut b, _) = person(&app, &mut op, "bob@b.example", "submitter", "RBB").await;
        let (mut v, _) = person(&app, &mut op, "val@a.example", "viewer", "RAA").await;
        let new_record = |organisation: &str| {
            json!({
                "organisation": organisation, "form": "operation",
                "patient": { "nhs_number": NHS_DIGITS, "family_name": FAMILY, "given_name": "Ada",
                    "date_of_birth": "1950-03-27", "sex": "F", "postcode": "LS1 4AP", "consent": "given" },
                "values": { "op_date": "2024-05-01", "op_side": "L", "op_bmi": 27.5, "op_cemented": true }
            })
        };

        // 422 lists every problem as {field, message}, without values.
        let mut bad = new_record("RAA");
        bad["patient"]["date_of_birth"] = json!("1950-02-30");
        bad["values"] = json!({ "op_side": "X", "op_height_cm": 12, "op_colour": "red" });
        let r = a.post_json("/api/v1/registries/tst/records", bad).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let errors: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        let fields: Vec<&str> = errors["errors"].as_array().unwrap().iter().map(|e| e["field"].as_str().unwrap()).collect();
        for f in ["patient.date_of_birth", "values.op_date", "values.op_side", "values.op_height_cm", "values.op_colour"] {
            assert!(fields.contains(&f), "{f} in {fields:?}");
        }
        assert!(!r.body.contains(FAMILY));

        // Create, read, correct with the session.
        let r = a.post_json("/api/v1/registries/tst/records", new_record("RAA")).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let id = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned();
        let url = format!("/api/v1/registries/tst/records/{id}");
        // Reads state their purpose: without one, 422 naming the field, and no data.
        let r = a.get(&url).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains(r#""field":"purpose""#) && !r.body.contains(FAMILY), "{}", r.body);
        assert_eq!(a.get(&format!("{url}?purpose=curiosity")).await.status, StatusCode::UNPROCESSABLE_ENTITY);
        let read = format!("{url}?purpose=direct_care");
        let r = a.get(&read).await;
        let record: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(record["patient"]["nhs_number"], NHS_DIGITS);
        assert_eq!(record["current"]["values"]["op_bmi"], "27.5");
        let r = a.post_json(&format!("{url}/revisions"), json!({ "values": { "op_date": "2024-05-01", "op_side": "R" } })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "a reason is required");
        let correction = json!({ "values": { "op_date": "2024-05-01", "op_side": "R" }, "reason": "wrong side" });
        let r = a.post_json(&format!("{url}/revisions"), correction.clone()).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        let record: serde_json::Value = serde_json::from_str(&a.get(&read).await.body).unwrap();
        assert_eq!(record["history"].as_array().unwrap().len(), 2);
        assert_eq!(record["current"]["reason"], "wrong side");

        // Another organisation: 404 for the record, "no match" for the patient, nothing listed.
        for u in [&read, &url] {
            let r = b.get(u).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "out of reach is 404, with or without a purpose");
        }
        let r = b.get(&read).await;
        assert!(!r.body.contains(FAMILY));
        assert_eq!(b.post_json(&format!("{url}/revisions"), correction.clone()).await.status, StatusCode::NOT_FOUND);
        let s = b.post_json("/api/v1/registries/tst/patients/search", json!({ "nhs_number": NHS, "purpose": "direct_care" })).await;
        assert_eq!(s.body, r#"{"matched":false,"patient":null,"records":[]}"#);
        let s = a.post_json("/api/v1/registries/tst/patients/search", json!({ "nhs_number": NHS, "purpose": "direct_care" })).await;
        assert!(s.body.contains(&id) && s.body.contains(FAMILY));
        // Knowing the NHS number is not enough: B entering a record for it with another name and
        // date of birth is refused, writes nothing and shows nothing A holds.
        let mut impostor = new_record("RBB");
        impostor["patient"]["family_name"] = json!("Someone");
        impostor["patient"]["date_of_birth"] = json!("1961-07-01");
        let r = b.post_json("/api/v1/registries/tst/records", impostor).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        assert!(r.body.contains("do not match"), "{}", r.body);
        for held in [FAMILY, "Ada", "LS1 4AP", "1950-03-27"] {
            assert!(!r.body.contains(held), "the refusal shows nothing held");
        }
        let s = b.post_json("/api/v1/registries/tst/patients/search", json!({ "nhs_number": NHS, "purpose": "direct_care" })).await;
        assert_eq!(s.body, r#"{"matched":false,"patient":null,"records":[]}"#, "B still finds nobody");
        let s = a.post_json("/api/v1/registries/tst/patients/search", json!({ "nhs_number": NHS })).await;
        assert_eq!(s.status, StatusCode::UNPROCESSABLE_ENTITY, "a purpose is required");
        let s = a
            .post_json(
                "/api/v1/registries/tst/patients/search",
                json!({ "nhs_number": NHS, "purpose": "clinical_audit", "purpose_detail": "patient 943 476 5919" }),
            )
            .await;
        assert_eq!(s.status, StatusCode::UNPROCESSABLE_ENTITY, "no NHS number in the purpose's details");
        let s = a
            .post_json(
                "/api/v1/registries/tst/patients/search",
                json!({ "nhs_number": NHS, "purpose": "clinical_audit", "purpose_detail": "hip audit 2024" }),
            )
            .await;
        assert_eq!(s.status, StatusCode::OK);

        // Every search and view is in the audit log, with its purpose, and no identifier.
        let events: Vec<_> =
            app.store.audit_events(0, u64::MAX, 10_000).await.unwrap().into_iter().map(|r| r.event.unwrap()).collect();
        let searches: Vec<_> = events.iter().filter(|e| e.action == "patient.search").collect();
        assert_eq!(searches.len(), 4, "two by A, two by B");
        assert!(searches.iter().any(|e| e.purpose.as_deref() == Some("clinical_audit: hip audit 2024")));
        assert!(searches.iter().filter(|e| e.target.is_some()).count() == 2, "B's searches found nobody");
        assert!(events.iter().any(|e| e.action == "record.view"
            && e.target == Some(format!("record:{id}"))
            && e.purpose.as_deref() == Some("direct_care")));
        assert!(events.iter().any(|e| e.action == "record.enter") && events.iter().any(|e| e.action == "record.correct"));
        let text = format!("{events:?}");
        assert!(!text.contains(NHS_DIGITS) && !text.contains(FAMILY), "no identifier in the audit log");
        assert_eq!(b.post_json("/api/v1/registries/tst/records", new_record("RAA")).await.status, StatusCode::FORBIDDEN);

        // A viewer cannot write; a session lists only after a recent second factor.
        assert_eq!(v.get(&read).await.status, StatusCode::OK);
        let r = v.post_json("/api/v1/registries/tst/records", new_record("RAA")).await;
        assert!(matches!(r.status, StatusCode::NOT_FOUND | StatusCode::FORBIDDEN));
        assert_eq!(v.post_json(&format!("{url}/revisions"), correction.clone()).await.status, StatusCode::FORBIDDEN);
        app.clock.advance(600);
        assert_eq!(a.get("/api/v1/registries/tst/records").await.status, StatusCode::FORBIDDEN, "step-up first");

        // A token scoped to A: writes at A, not at B; lists without step-up; stops when revoked.
        let session = app
            .state
            .accounts()
            .session(&SessionToken::from_cookie(&a.session_cookie().unwrap()))
            .await
            .unwrap()
            .expect("A's session");
        let client = Client { ip: "127.0.0.1".into(), user_agent: "test".into() };
        let (tst, raa) = (RegistryId::parse("tst").unwrap(), OdsCode::parse("RAA").unwrap());
        let perms = [TokenPermission::Read, TokenPermission::Write];
        let token = app.state.accounts().create_token(&session, &client, &TokenSpec { registry: &tst, organisation: &raa, permissions: &perms, label: "theatre system", days: 30 }).await.unwrap();
        let http = reqwest::Client::new();
        let call = |method: reqwest::Method, path: &str, body: Option<serde_json::Value>, bearer: &str| {
            let mut r = http.request(method, format!("{}{path}", app.base)).bearer_auth(bearer);
            if let Some(b) = body {
                r = r.json(&b);
            }
            r.send()
        };
        let secret = token.secret.as_str();
        let r = call(reqwest::Method::POST, "/api/v1/registries/tst/records", Some(new_record("RBB")), secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "a token for A cannot write to B");
        let r = call(reqwest::Method::POST, "/api/v1/registries/tst/records", Some(new_record("RAA")), secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::CREATED);
        let r = call(reqwest::Method::GET, "/api/v1/registries/tst/records", None, secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY, "a token states its purpose too");
        let r = call(reqwest::Method::GET, "/api/v1/registries/tst/records?purpose=data_quality", None, secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "tokens list without step-up");
        let list: serde_json::Value = r.json().await.unwrap();
        assert_eq!(list["records"].as_array().unwrap().len(), 2);
        assert!(!list.to_string().contains(FAMILY) && !list.to_string().contains(NHS_DIGITS));
        assert_eq!(call(reqwest::Method::GET, &read, None, secret).await.unwrap().status(), StatusCode::OK);
        assert!(app.state.accounts().revoke_token(&session, &token.id).await.unwrap());
        assert_eq!(call(reqwest::Method::GET, &read, None, secret).await.unwrap().status(), StatusCode::UNAUTHORIZED);

        // A read-only token cannot write, and stops when it expires.
        let token = app.state.accounts().create_token(&session, &client, &TokenSpec { registry: &tst, organisation: &raa, permissions: &[TokenPermission::Read], label: "reader", days: 1 }).await.unwrap();
        let secret = token.secret.as_str();
        let r = call(reqwest::Method::POST, &format!("{url}/revisions"), Some(correction.clone()), secret).await.unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "read-only token");
        assert_eq!(call(reqwest::Method::GET, &read, None, secret).await.unwrap().status(), StatusCode::OK);
        app.clock.advance(86_400 + 1);
        assert_eq!(call(reqwest::Method::GET, &read, None, secret).await.unwrap().status(), StatusCode::UNAUTHORIZED);
    }
}
