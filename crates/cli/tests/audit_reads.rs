//! Every read of identifiable data carries a stated purpose and leaves exactly one audit event
//! (issue 5). The test walks every route of `tessera_web::routes::route_table()`, which must each
//! be classified here as returning identifiable data or not: an unclassified route fails the
//! test, so a new route cannot be forgotten. For each identifiable route, an authorised person:
//! - without a purpose gets no data (a "Why are you opening this?" page, or 422 from the API or
//!   the search) and leaves no event;
//! - with a purpose gets 200 and the data, and the log grows by exactly one event with the
//!   expected action, actor, registry, purpose and pseudonymous target, and no NHS number or
//!   name anywhere in it.
//!
//! The subject-access report ("who accessed this patient") states its purpose by being what it
//! is: its event always carries `subject_access`, so it has no unstated form to refuse.
//!
//! Then the audit log is made to refuse every append (a trigger on `audit_events`), and every
//! identifiable read answers 5xx with no patient name, NHS number or record in the body: no
//! audit, no data.
//!
//! A real `tessera serve` on synthetic data, once on SQLite and once on PostgreSQL.

mod common;

use std::collections::BTreeMap;

use common::{Env, PASSWORD, Server, grant, member, ok, sql_exec, sql_text, sql_uuid};
use tessera_audit::{Actor, AuditEvent};
use tessera_store::Store;
use tessera_testkit::TestDb;
use tessera_testkit::http::{Browser, Page};

/// Names planted on the one patient whose record is read.
const FAMILY: &str = "Wrenfeather";
const GIVEN: &str = "Halcyonne";

/// Whether a route returns identifiable data, and so needs a purpose and an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reads {
    /// Returns identifiable patient data (or a record's contents); the caller states why.
    Identifiable,
    /// Returns identifiable data for the one purpose the route exists for, which its event names.
    IdentifiableFor(&'static str),
    /// Does not; the reason is kept beside it for the reader.
    Not(&'static str),
}

use Reads::{Identifiable, IdentifiableFor, Not};

/// Every route, classified. A route missing here fails the test: decide, then add it.
const CLASSIFIED: &[(&str, &str, Reads)] = &[
    // Records: the identifiable reads.
    ("GET", "/registries/{registry}/records", Identifiable),
    ("GET", "/registries/{registry}/records.csv", Identifiable),
    ("GET", "/registries/{registry}/records/{id}", Identifiable),
    ("GET", "/registries/{registry}/records/{id}/correct", Identifiable),
    ("POST", "/registries/{registry}/records/search", Identifiable),
    ("GET", "/api/v1/registries/{registry}/records", Identifiable),
    ("GET", "/api/v1/registries/{registry}/records/{id}", Identifiable),
    ("POST", "/api/v1/registries/{registry}/patients/search", Identifiable),
    // Records: forms and writes, which show back only what the caller typed.
    ("GET", "/registries/{registry}/records/search", Not("an empty search form")),
    ("GET", "/registries/{registry}/records/new", Not("an empty entry form")),
    (
        "POST",
        "/registries/{registry}/records/new",
        Not(
            "a write (audited as record.enter); on error it shows back only the caller's input, and a mismatch with a patient held shows nothing",
        ),
    ),
    (
        "POST",
        "/registries/{registry}/records/{id}/correct",
        Not("a write (audited as record.correct); on error it shows back only the caller's input"),
    ),
    ("POST", "/api/v1/registries/{registry}/records", Not("a write: answers the new record's id")),
    ("POST", "/api/v1/registries/{registry}/records/{id}/revisions", Not("a write: answers the revision number")),
    // Outcomes: published aggregates under disclosure control.
    ("GET", "/registries/{registry}/outcomes", Not("published aggregates")),
    ("GET", "/registries/{registry}/outcomes/survival/{section}", Not("published aggregates")),
    ("GET", "/registries/{registry}/outcomes/survival/{section}/{file}", Not("published aggregates")),
    ("GET", "/registries/{registry}/outcomes/outliers.csv", Not("published aggregates")),
    ("GET", "/registries/{registry}/outcomes/funnel", Not("published aggregates")),
    ("GET", "/registries/{registry}/outcomes/funnel/{file}", Not("published aggregates")),
    ("GET", "/api/v1/registries/{registry}/outcomes", Not("published aggregates")),
    // The audit trail's proofs: hashes and signed sizes.
    ("GET", "/api/v1/audit/checkpoint", Not("a signed tree size and hash")),
    ("GET", "/api/v1/audit/inclusion", Not("hashes")),
    ("GET", "/api/v1/audit/consistency", Not("hashes")),
    // The audit pages: the log shows pseudonymous targets only; the subject-access report,
    // which names a patient, is an identifiable read.
    ("GET", "/registries/{registry}/audit", Not("the log: pseudonymous targets only")),
    ("GET", "/registries/{registry}/audit/patient", Not("an empty form")),
    ("POST", "/registries/{registry}/audit/patient", IdentifiableFor("subject_access")),
    ("GET", "/account/sign-ins", Not("the caller's own sign-ins")),
    // The device catalogue describes products, never patients.
    ("GET", "/catalogue", Not("the device catalogue: products, no patient")),
    ("GET", "/catalogue/review", Not("unknown GTINs: products, no patient")),
    ("POST", "/catalogue/review", Not("a write (audited as catalogue.dismiss)")),
    ("GET", "/api/v1/catalogue", Not("the device catalogue: products, no patient")),
    // Device recalls: counts are aggregates; a worklist names the patients of one organisation,
    // read only for recall safety.
    ("GET", "/recalls", Not("recalls: references and titles")),
    ("GET", "/recalls/new", Not("an empty form")),
    ("POST", "/recalls/new", Not("a write (audited as recall.create); on error it shows back only the caller's input")),
    ("GET", "/recalls/{id}", Not("counts per organisation, no patient (audited as recall.counts)")),
    ("POST", "/recalls/{id}/close", Not("a write (audited as recall.close)")),
    ("GET", "/recalls/{id}/registries/{registry}/organisations/{org}", IdentifiableFor("recall_safety")),
    ("GET", "/recalls/{id}/registries/{registry}/organisations/{org}/worklist.csv", IdentifiableFor("recall_safety")),
    (
        "POST",
        "/recalls/{id}/registries/{registry}/organisations/{org}/implants/{implant}/follow-up",
        Not("a write (audited as recall.followup); redirects to the worklist"),
    ),
    ("GET", "/api/v1/recalls", Not("recalls: references and titles")),
    ("POST", "/api/v1/recalls", Not("a write: answers the new recall's id")),
    ("GET", "/api/v1/recalls/{id}", Not("counts per organisation, no patient (audited as recall.counts)")),
    ("GET", "/api/v1/recalls/{id}/org-counts", Not("counts per organisation (audited as recall.counts)")),
    ("GET", "/api/v1/recalls/{id}/worklist", IdentifiableFor("recall_safety")),
    (
        "POST",
        "/api/v1/recalls/{id}/implants/{implant}/follow-up",
        Not("a write: answers the unit's follow-up steps, no patient"),
    ),
    // Implant capture: a record's units (GTIN, lot, serial), never its patient.
    ("GET", "/registries/{registry}/records/{id}/components", Not("the record's units, no patient")),
    (
        "POST",
        "/registries/{registry}/records/{id}/components",
        Not("a write (audited as implant.add): the record's units and any matching recall"),
    ),
    (
        "POST",
        "/api/v1/registries/{registry}/records/{id}/components",
        Not("a write: answers the unit and any matching recall"),
    ),
    // Access management: staff accounts and grants, no patient data.
    ("GET", "/access", Not("the caller's grants")),
    ("POST", "/access", Not("an access request")),
    ("GET", "/registries/{registry}/access", Not("staff grants and requests")),
    ("POST", "/registries/{registry}/access/decide", Not("a decision on a request")),
    ("POST", "/registries/{registry}/access/revoke", Not("a revocation")),
    ("POST", "/registries/{registry}/access/reactivate", Not("a reactivation")),
    ("POST", "/registries/{registry}/access/networks", Not("a network allowlist")),
    ("GET", "/registries/{registry}/access/recertify", Not("staff grants")),
    ("POST", "/registries/{registry}/access/recertify", Not("a recertification")),
    ("GET", "/platform/access", Not("staff requests")),
    ("POST", "/platform/access/decide", Not("a decision on a request")),
    ("GET", "/platform/dashboard", Not("counts of staff requests")),
    ("GET", "/account/tokens", Not("the caller's API tokens")),
    ("POST", "/account/tokens", Not("a new API token")),
    ("POST", "/account/tokens/revoke", Not("a token revocation")),
    // Accounts, sign-in and the platform's own pages.
    ("GET", "/", Not("the home page")),
    ("GET", "/health", Not("liveness")),
    ("GET", "/ready", Not("readiness")),
    ("GET", "/api/openapi.json", Not("the API's description")),
    ("POST", "/api/v1/session", Not("sign-in")),
    ("DELETE", "/api/v1/session", Not("sign-out")),
    ("POST", "/api/v1/session/totp", Not("a second factor")),
    ("GET", "/api/v1/me", Not("the caller's own account")),
    ("GET", "/api/v1/sessions", Not("the caller's own sessions")),
    ("GET", "/sign-in", Not("a form")),
    ("POST", "/sign-in", Not("sign-in")),
    ("GET", "/sign-in/verify", Not("a form")),
    ("POST", "/sign-in/verify", Not("a second factor")),
    ("POST", "/sign-in/verify/passkey/start", Not("a passkey ceremony")),
    ("POST", "/sign-in/verify/passkey/finish", Not("a passkey ceremony")),
    ("POST", "/sign-in/passkey/start", Not("a passkey ceremony")),
    ("POST", "/sign-in/passkey/finish", Not("a passkey ceremony")),
    ("POST", "/sign-out", Not("sign-out")),
    ("GET", "/welcome/{token}", Not("a form")),
    ("POST", "/welcome", Not("accepting an invitation")),
    ("GET", "/reset/{token}", Not("a form")),
    ("POST", "/reset", Not("a password reset")),
    ("GET", "/account", Not("the caller's own account")),
    ("GET", "/account/security/setup", Not("a form")),
    ("GET", "/account/security/totp", Not("the caller's own setup key")),
    ("POST", "/account/security/totp", Not("a second factor")),
    ("POST", "/account/security/passkey/start", Not("a passkey ceremony")),
    ("POST", "/account/security/passkey/finish", Not("a passkey ceremony")),
    ("GET", "/account/security/recovery-codes", Not("a form")),
    ("POST", "/account/security/recovery-codes", Not("the caller's own recovery codes")),
    ("POST", "/account/security/revoke", Not("removing a factor")),
    ("POST", "/account/sessions/end", Not("ending a session")),
    ("POST", "/account/password", Not("a password change")),
    ("GET", "/step-up", Not("a form")),
    ("POST", "/step-up", Not("a second factor")),
    ("POST", "/step-up/passkey/start", Not("a passkey ceremony")),
    ("POST", "/step-up/passkey/finish", Not("a passkey ceremony")),
    ("GET", "/admin/invitations", Not("staff invitations")),
    ("POST", "/admin/invitations", Not("an invitation")),
    ("POST", "/admin/invitations/bulk", Not("invitations")),
    ("GET", "/admin/users", Not("staff accounts")),
    ("POST", "/admin/users/reset", Not("a password reset")),
];

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// What the test made: one identified patient's record at organisation A, read by a submitter
/// there.
struct World {
    record: String,
    patient: uuid::Uuid,
    /// The NHS number, ten digits.
    nhs: String,
    postcode: String,
    /// The submitter at the patient's organisation, who reads the records.
    user: String,
    /// The registry's auditor, who reads the subject-access report.
    auditor: String,
    /// A recall reaching the patient's implant, started by the auditor (also a safety officer).
    recall: String,
    /// The patient's organisation (ODS code).
    org: String,
}

impl World {
    /// Everything that must never be in an audit event, nor in an answer that returns no data.
    fn identifiers(&self) -> Vec<String> {
        let spaced = format!("{} {} {}", &self.nhs[..3], &self.nhs[3..6], &self.nhs[6..]);
        vec![FAMILY.into(), GIVEN.into(), self.nhs.clone(), spaced, self.postcode.clone()]
    }
}

/// The events appended since `after`.
async fn events_after(store: &Store, after: u64) -> Vec<AuditEvent> {
    store.audit_events(after, u64::MAX, 1000).await.unwrap().into_iter().map(|r| r.event.unwrap()).collect()
}

async fn head(store: &Store) -> u64 {
    store.audit_head().await.unwrap().last_seq
}

/// One identifiable read, as requested with or without a purpose.
struct Read {
    /// The event's action.
    action: &'static str,
    /// The event's target, where the read is of one thing.
    target: Option<String>,
}

/// Makes the request of an identifiable route, with `purpose` (a code) or without one.
async fn request(b: &mut Browser, w: &World, method: &str, path: &str, purpose: Option<&str>) -> Page {
    let registry_path = path.replace("{registry}", "njr").replace("{id}", &w.record);
    let query = |sep: char| purpose.map(|p| format!("{sep}purpose={p}")).unwrap_or_default();
    match (method, path) {
        ("GET", _) if path.contains("/recalls/") => {
            // A worklist is read for recall safety only: with a purpose, that one.
            let purpose = purpose.map(|_| "recall_safety");
            let at = path.replace("{id}", &w.recall).replace("{registry}", "njr").replace("{org}", &w.org);
            let query = match (at.starts_with("/api/"), purpose) {
                (true, p) => format!(
                    "?registry=njr&organisation={}{}",
                    w.org,
                    p.map(|p| format!("&purpose={p}")).unwrap_or_default()
                ),
                (false, Some(p)) => format!("?purpose={p}"),
                (false, None) => String::new(),
            };
            b.get(&format!("{at}{query}")).await
        }
        ("GET", _) => b.get(&format!("{registry_path}{}", query('?'))).await,
        ("POST", "/registries/{registry}/records/search") => {
            b.get("/registries/njr/records/search").await;
            let mut fields = vec![("p_nhs_number", w.nhs.as_str())];
            if let Some(p) = purpose {
                fields.extend([("purpose", p), ("purpose_detail", "hip clinic")]);
            }
            b.post(&registry_path, &fields).await
        }
        ("POST", "/api/v1/registries/{registry}/patients/search") => {
            let mut body = serde_json::json!({ "nhs_number": w.nhs });
            if let Some(p) = purpose {
                body["purpose"] = p.into();
                body["purpose_detail"] = "hip clinic".into();
            }
            b.post_json(&registry_path, body).await
        }
        ("POST", "/registries/{registry}/audit/patient") => {
            b.get("/registries/njr/audit/patient").await;
            b.post(&registry_path, &[("nhs_number", w.nhs.as_str())]).await
        }
        _ => {
            panic!("{method} {path} is classified as identifiable but the test does not know how to read it: teach it")
        }
    }
}

/// What a successful read of the route must show, and the event it must leave.
fn expected(w: &World, method: &str, path: &str) -> Read {
    let record = Some(format!("record:{}", w.record));
    let patient = Some(format!("patient:{}", w.patient));
    match (method, path) {
        ("GET", "/registries/{registry}/records") | ("GET", "/api/v1/registries/{registry}/records") => {
            Read { action: "records.list", target: None }
        }
        ("GET", "/registries/{registry}/records.csv") => Read { action: "records.download", target: None },
        ("GET", "/registries/{registry}/records/{id}")
        | ("GET", "/registries/{registry}/records/{id}/correct")
        | ("GET", "/api/v1/registries/{registry}/records/{id}") => Read { action: "record.view", target: record },
        ("POST", "/registries/{registry}/records/search")
        | ("POST", "/api/v1/registries/{registry}/patients/search") => {
            Read { action: "patient.search", target: patient }
        }
        ("POST", "/registries/{registry}/audit/patient") => Read { action: "audit.subject_access", target: patient },
        ("GET", "/recalls/{id}/registries/{registry}/organisations/{org}")
        | ("GET", "/api/v1/recalls/{id}/worklist") => {
            Read { action: "recall.worklist", target: Some(format!("recall:{}", w.recall)) }
        }
        ("GET", "/recalls/{id}/registries/{registry}/organisations/{org}/worklist.csv") => {
            Read { action: "recall.worklist_download", target: Some(format!("recall:{}", w.recall)) }
        }
        _ => panic!("{method} {path}: no expectation"),
    }
}

/// Asserts that a successful answer carries the data it exists for.
fn assert_data(w: &World, method: &str, path: &str, page: &Page) {
    let who = format!("{method} {path}");
    assert_eq!(page.status, 200, "{who} with a purpose: {}", &page.body[..page.body.len().min(600)]);
    match path {
        "/registries/{registry}/records"
        | "/registries/{registry}/records.csv"
        | "/api/v1/registries/{registry}/records" => {
            assert!(page.body.contains(&w.record), "{who} lists the record")
        }
        "/registries/{registry}/records/{id}/correct" => {
            assert!(page.body.contains("Correct:") && page.body.contains(" checked"), "{who} shows the record's values")
        }
        "/registries/{registry}/audit/patient" => {
            let simple = w.patient.simple().to_string();
            assert!(page.body.contains(&simple[simple.len() - 10..]), "{who} shows the patient's reference")
        }
        _ => assert!(page.body.contains(FAMILY), "{who} shows the patient"),
    }
    if path.ends_with(".csv") {
        let kind = page.headers.get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(kind.starts_with("text/csv"), "{who} is CSV: {kind}");
    }
}

/// Asserts that an answer carries no patient data at all: no identifier, no record.
fn assert_no_data(w: &World, who: &str, page: &Page, record_allowed: bool) {
    for marker in w.identifiers() {
        // A search may show back the NHS number the caller typed; that is their own input.
        if marker.chars().all(|c| c.is_ascii_digit() || c == ' ') && who.contains("search") {
            continue;
        }
        assert!(!page.body.contains(&marker), "{who}: the answer shows a patient identifier");
    }
    if !record_allowed {
        assert!(!page.body.contains(&w.record), "{who}: the answer shows the record");
    }
}

/// The world: the joint registry, one imported identified patient at organisation A (names
/// planted), a platform operator and a submitter at organisation A, signed in.
async fn make_world(db: &TestDb) -> (Env, Server, Browser, Browser, World) {
    let env = Env::new(db);
    let csv_path = env.hip_csv(30, 41);
    let mut r = csv::Reader::from_path(&csv_path).unwrap();
    let header = r.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap_or_else(|| panic!("column {n}"));
    let row = r
        .records()
        .map(Result::unwrap)
        .find(|row| &row[col("consent")] == "given" && row[col("date_of_death")].is_empty())
        .expect("a living, consenting patient");
    let mut fields: Vec<String> = row.iter().map(str::to_owned).collect();
    fields[col("family_name")] = FAMILY.to_owned();
    fields[col("given_name")] = GIVEN.to_owned();
    let mut out = csv::Writer::from_path(&csv_path).unwrap();
    out.write_record(&header).unwrap();
    out.write_record(&fields).unwrap();
    out.flush().unwrap();
    ok(&env.run(&["import", "njr", "hip_primary", csv_path.to_str().unwrap()]));
    let org = row[col("organisation")].to_owned();
    let nhs: String = row[col("nhs_number")].chars().filter(char::is_ascii_digit).collect();
    let postcode = row[col("postcode")].to_owned();

    let server = Server::start(&env.config, &env.path("server.log"), "info");
    let mut operator = Browser::new(&server.ip_url());
    let (secret, factor) = operator
        .bootstrap_operator(server.bootstrap.as_deref().unwrap(), "Olivia Operator", "olivia@ops.example", PASSWORD)
        .await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let r = operator
        .post("/account/security/totp", &[("factor", &factor), ("code", &tessera_auth::totp::code_at(&seed, now()))])
        .await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);
    let email = "sub@trust.example";
    let submitter = member(&server, &env.path("t/outbox"), &mut operator, email, "Sam Submitter").await;
    grant(db, email, "njr", "submitter", Some(&org)).await;
    let user = sql_text(db, "SELECT id FROM users WHERE email = $1", &[email]).await;
    let auditor_email = "aud@registry.example";
    let auditor = member(&server, &env.path("t/outbox"), &mut operator, auditor_email, "Ada Auditor").await;
    grant(db, auditor_email, "njr", "auditor", None).await;
    let auditor_id = sql_text(db, "SELECT id FROM users WHERE email = $1", &[auditor_email]).await;
    let record = sql_uuid(db, "SELECT id FROM records WHERE registry_id = 'njr' LIMIT 1", &[]).await.to_string();
    let patient = sql_uuid(db, "SELECT patient_id FROM records WHERE registry_id = 'njr' LIMIT 1", &[]).await;
    // The patient's implant is scanned in, and the auditor, also a safety officer, recalls it.
    let mut submitter = submitter;
    let mut auditor = auditor;
    let r = submitter
        .post_json(
            &format!("/api/v1/registries/njr/records/{record}/components"),
            serde_json::json!({ "scan": "(01)05012345678900(10)AUDITLOT" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    grant(db, auditor_email, "njr", "safety_officer", None).await;
    let r = auditor
        .post_json(
            "/api/v1/recalls",
            serde_json::json!({ "reference": "AUDIT-1", "title": "Audit reads", "manufacturer": "Acme",
                                "gtins": "05012345678900", "lots": "AUDITLOT" }),
        )
        .await;
    assert_eq!(r.status, 201, "{}", r.body);
    let recall = serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["id"].as_str().unwrap().to_owned();
    let world = World { record, patient, nhs, postcode, user, auditor: auditor_id, recall, org };
    (env, server, submitter, auditor, world)
}

/// Makes every append to the audit log fail, as a full disk or a broken connection would.
async fn refuse_audit_appends(db: &TestDb) {
    if db.url().starts_with("sqlite") {
        sql_exec(
            db,
            "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events \
             BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END",
            &[],
        )
        .await;
    } else {
        sql_exec(
            db,
            "CREATE FUNCTION test_refuse_audit() RETURNS trigger LANGUAGE plpgsql AS \
             $$ BEGIN RAISE EXCEPTION 'audit refused by the test'; END $$",
            &[],
        )
        .await;
        sql_exec(
            db,
            "CREATE TRIGGER test_refuse_audit BEFORE INSERT ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION test_refuse_audit()",
            &[],
        )
        .await;
    }
}

async fn run(kind: &str) {
    let db = TestDb::of(kind).await;
    let (_env, _server, mut submitter, mut auditor, w) = make_world(&db).await;
    let store = Store::connect(db.url()).await.unwrap();

    // Every route is classified, and the classification names only routes that exist (besides
    // the audit pages, which may come later).
    let table = tessera_web::routes::route_table();
    let class: BTreeMap<(&str, &str), Reads> = CLASSIFIED.iter().map(|(m, p, r)| ((*m, *p), *r)).collect();
    assert_eq!(class.len(), CLASSIFIED.len(), "a route is classified twice");
    let unclassified: Vec<String> = table
        .iter()
        .filter(|r| !class.contains_key(&(r.method, r.path.as_str())))
        .map(|r| format!("{} {}", r.method, r.path))
        .collect();
    assert!(
        unclassified.is_empty(),
        "routes not classified as identifiable or not (add them to CLASSIFIED): {unclassified:#?}"
    );
    for (m, p, _) in CLASSIFIED {
        let exists = table.iter().any(|r| r.method == *m && r.path == *p);
        assert!(exists || p.contains("/audit") || p.contains("sign-ins"), "{m} {p} is classified but not served");
    }

    let identifiable: Vec<_> =
        table.iter().filter(|r| !matches!(class[&(r.method, r.path.as_str())], Not(_))).cloned().collect();
    assert!(identifiable.len() >= 8, "{} identifiable routes", identifiable.len());
    let purposes = ["direct_care", "clinical_audit", "data_quality", "recall_safety", "subject_access"];
    for (i, route) in identifiable.iter().enumerate() {
        let (method, path) = (route.method, route.path.as_str());
        let who = format!("{method} {path}");
        let (b, actor) = if path.contains("/audit/") { (&mut auditor, &w.auditor) } else { (&mut submitter, &w.user) };
        let fixed = match class[&(method, path)] {
            IdentifiableFor(purpose) => Some(purpose),
            _ => None,
        };

        // Without a purpose: no data, no event.
        // (A route with its own purpose has no such request: the route is its purpose.)
        let before = head(&store).await;
        if fixed.is_none() {
            let page = request(b, &w, method, path, None).await;
            let api = path.starts_with("/api/");
            if api || method == "POST" {
                assert_eq!(page.status, 422, "{who} without a purpose: {}", &page.body[..page.body.len().min(600)]);
                assert!(page.body.contains("purpose"), "{who}: the problem names the purpose");
            } else {
                assert_eq!(page.status, 200, "{who} without a purpose asks for one");
                assert!(page.body.contains("Why are you opening this?"), "{who} asks why");
            }
            // The record's own address may appear where the caller typed it (the form's action).
            assert_no_data(&w, &format!("{who} without a purpose"), &page, path.contains("{id}"));
            assert!(!page.body.contains("id=\"patient\"") && !page.body.contains("id=\"records\""), "{who}: no data");
            assert_eq!(head(&store).await, before, "{who} without a purpose writes no event");
        }

        // With one: the data, and exactly one event.
        let purpose = fixed.unwrap_or(purposes[i % purposes.len()]);
        let before = head(&store).await;
        let page = request(b, &w, method, path, Some(purpose)).await;
        assert_data(&w, method, path, &page);
        let events = events_after(&store, before).await;
        assert_eq!(events.len(), 1, "{who} leaves exactly one event: {events:#?}");
        let e = &events[0];
        let want = expected(&w, method, path);
        assert_eq!(e.action, want.action, "{who}: action");
        assert_eq!(e.actor, Actor::User(actor.clone()), "{who}: actor");
        assert_eq!(e.registry.as_deref(), Some("njr"), "{who}: registry");
        let stated = e.purpose.as_deref().unwrap_or("");
        assert!(stated == purpose || stated.starts_with(&format!("{purpose}: ")), "{who}: purpose {stated:?}");
        assert_eq!(e.target, want.target, "{who}: target");
        let line = e.canonical().unwrap();
        for marker in w.identifiers() {
            assert!(!line.contains(&marker), "{who}: the audit event holds a patient identifier");
        }
    }

    // No audit, no data: with appends refused, every identifiable read fails whole.
    refuse_audit_appends(&db).await;
    let before = head(&store).await;
    for route in &identifiable {
        let (method, path) = (route.method, route.path.as_str());
        let who = format!("{method} {path} with the audit log refusing");
        let b = if path.contains("/audit/") { &mut auditor } else { &mut submitter };
        let page = request(b, &w, method, path, Some("direct_care")).await;
        assert!(page.status.is_server_error(), "{who}: {} {}", page.status, &page.body[..page.body.len().min(600)]);
        assert_no_data(&w, &who, &page, false);
    }
    assert_eq!(head(&store).await, before, "nothing was appended");
    eprintln!("audit reads on {kind}: {} identifiable routes of {} checked", identifiable.len(), table.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identifiable_read_needs_a_purpose_and_leaves_one_event_and_fails_without_audit_on_sqlite() {
    run("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_identifiable_read_needs_a_purpose_and_leaves_one_event_and_fails_without_audit_on_postgres() {
    run("postgres").await;
}
