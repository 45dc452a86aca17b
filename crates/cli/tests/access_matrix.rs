//! The cross-tenant access matrix: every route the router declares (HTML and API, from
//! `tessera_web::routes::route_table`, so a new route cannot escape), for every role and the
//! platform operator, against objects of another organisation and of another registry. Nothing
//! leaks: those requests are refused with 403 or 404 (never data, never a count), no response
//! anywhere carries another organisation's patient identifiers, and the operator sees no
//! patient's identifiers on any route.
//!
//! The server is a real `tessera serve` on synthetic data in a fresh database, once on SQLite
//! and once on PostgreSQL. Grants are written straight into the table: how they come to exist
//! (requests and approvals) is tested elsewhere; this test is about what they let through.

mod common;

use std::collections::BTreeMap;

use common::{PASSWORD, Server, grant, member, ok, registries_dir, sql_uuid, tessera};
use tessera_testkit::TestDb;
use tessera_testkit::http::{Browser, between};

/// Identifiers planted on the organisation-B patient; none may appear in an answer to anyone
/// outside organisation B (except registry-wide readers: the controller).
const B_FAMILY: &str = "Zephyrine";
const B_GIVEN: &str = "Brambleton";
/// The organisation-A patient's, which the operator and the non-reading roles must never see.
const A_FAMILY: &str = "Quillonby";
const A_GIVEN: &str = "Alderney";

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

/// What the test knows about the world it made.
struct World {
    org_a: String,
    org_b: String,
    /// A record of organisation B in njr.
    record_b: String,
    /// The planted record of organisation A in njr.
    record_a: String,
    /// A record of the other registry (bcir).
    record_bcir: String,
    /// Organisation B's patient's NHS number (10 digits).
    nhs_b: String,
    nhs_a: String,
}

/// One person taking part, with their browser (fully signed in, second factor just checked).
struct Person {
    label: &'static str,
    browser: Browser,
    /// Whether their grants read records at organisation B of njr.
    reads_b: bool,
    /// Whether their grants read organisation A's records (else A's identifiers must not show).
    reads_a: bool,
}

/// Makes the world: both registries, synthetic patients, and two hand-made njr patients with
/// planted names, one at organisation A and one at organisation B.
fn make_world(db: &TestDb, dir: &std::path::Path) -> (std::path::PathBuf, String, String, String, String) {
    let config = dir.join("t/tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.join("t").to_str().unwrap(), "--database-url", db.url()]));
    for f in ["joints.toml", "breast.toml"] {
        ok(&tessera(&config, &["registry", "load", registries_dir().join(f).to_str().unwrap()]));
    }
    ok(&tessera(&config, &["synth", "--patients", "300", "--seed", "11"]));
    let csv = dir.join("hips.csv");
    ok(&tessera(
        &config,
        &[
            "synth",
            "--patients",
            "40",
            "--seed",
            "12",
            "--hip-share",
            "1",
            "--breast-share",
            "0",
            "--second-joint-share",
            "0",
            "--form",
            "hip_primary",
            "--rows",
            "40",
            "--out",
            csv.to_str().unwrap(),
        ],
    ));
    // Two living, consenting patients at two different organisations get the planted names.
    let mut r = csv::Reader::from_path(&csv).unwrap();
    let header = r.headers().unwrap().clone();
    let col = |n: &str| header.iter().position(|h| h == n).unwrap_or_else(|| panic!("column {n}"));
    let rows: Vec<csv::StringRecord> = r.records().map(Result::unwrap).collect();
    let usable = |row: &csv::StringRecord| &row[col("consent")] == "given" && row[col("date_of_death")].is_empty();
    let a = rows.iter().find(|r| usable(r)).unwrap().clone();
    let b = rows.iter().find(|r| usable(r) && r[col("organisation")] != a[col("organisation")]).unwrap().clone();
    let plant = |row: &csv::StringRecord, family: &str, given: &str| {
        let mut f: Vec<String> = row.iter().map(str::to_owned).collect();
        f[col("family_name")] = family.to_owned();
        f[col("given_name")] = given.to_owned();
        f
    };
    let mut w = csv::Writer::from_path(&csv).unwrap();
    w.write_record(&header).unwrap();
    w.write_record(plant(&a, A_FAMILY, A_GIVEN)).unwrap();
    w.write_record(plant(&b, B_FAMILY, B_GIVEN)).unwrap();
    w.flush().unwrap();
    ok(&tessera(&config, &["import", "njr", "hip_primary", csv.to_str().unwrap()]));
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    (
        config,
        a[col("organisation")].to_owned(),
        b[col("organisation")].to_owned(),
        digits(&a[col("nhs_number")]),
        digits(&b[col("nhs_number")]),
    )
}

/// Fills a route template's parameters; every parameter name must be known here, so a route
/// with a new kind of parameter makes this test fail until it is taught what to put there.
fn fill(template: &str, values: &BTreeMap<&str, String>) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        let name = rest[start + 1..end].trim_start_matches('*');
        let value = values.get(name).unwrap_or_else(|| {
            panic!("route {template} has a parameter {{{name}}} the access matrix does not know: teach it")
        });
        out.push_str(value);
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// Routes that end or change the caller's own session go last, so the matrix runs signed in.
fn session_changing(path: &str) -> bool {
    ["/sign-in", "/sign-out", "/welcome", "/reset", "/step-up", "/api/v1/session"].iter().any(|p| path.starts_with(p))
}

async fn run_matrix(kind: &str) {
    let db = TestDb::of(kind).await;
    let dir = tempfile::tempdir().unwrap();
    let (config, org_a, org_b, nhs_a, nhs_b) = make_world(&db, dir.path());
    let record_b = sql_uuid(
        &db,
        "SELECT r.id FROM records r WHERE r.registry_id = 'njr' AND r.organisation = $1 \
         ORDER BY r.created_at DESC LIMIT 1",
        &[&org_b],
    )
    .await
    .to_string();
    let record_a = sql_uuid(
        &db,
        "SELECT r.id FROM records r WHERE r.registry_id = 'njr' AND r.organisation = $1 \
         ORDER BY r.created_at DESC LIMIT 1",
        &[&org_a],
    )
    .await
    .to_string();
    let record_bcir = sql_uuid(&db, "SELECT id FROM records WHERE registry_id = 'bcir' LIMIT 1", &[]).await.to_string();
    let world = World { org_a, org_b, record_b, record_a: record_a.clone(), record_bcir, nhs_b, nhs_a };

    let server = Server::start(&config, &dir.path().join("server.log"), "info");
    let outbox = dir.path().join("t/outbox");
    let mut operator = Browser::new(&server.ip_url());
    let (secret, factor) = operator
        .bootstrap_operator(server.bootstrap.as_deref().unwrap(), "Olivia Operator", "olivia@ops.example", PASSWORD)
        .await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let r = operator
        .post("/account/security/totp", &[("factor", &factor), ("code", &tessera_auth::totp::code_at(&seed, now()))])
        .await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);

    // (label, role, organisation or all, reads org A, reads org B)
    let cast: [(&str, &str, Option<&str>, bool, bool); 6] = [
        ("controller", "controller", None, true, true),
        ("submitter", "submitter", Some(&world.org_a), true, false),
        ("viewer", "viewer", Some(&world.org_a), true, false),
        ("analyst", "analyst", None, false, false),
        ("safety officer", "safety_officer", None, false, false),
        ("auditor", "auditor", None, false, false),
    ];
    let mut people = Vec::new();
    for (label, role, org, reads_a, reads_b) in cast {
        let email = format!("{}@trust.example", role);
        let browser = member(&server, &outbox, &mut operator, &email, &format!("Test {label}")).await;
        grant(&db, &email, "njr", role, org).await;
        people.push(Person { label, browser, reads_b, reads_a });
    }
    people.push(Person { label: "operator", browser: operator, reads_b: false, reads_a: false });

    // Controls: the grants work, so a refusal below is the access check and not a broken fixture.
    // The submitter reads and finds their own organisation's patient; the controller reads B's.
    let submitter = &mut people[1].browser;
    let own = submitter.get(&format!("/registries/njr/records/{record_a}?purpose=direct_care")).await;
    assert_eq!(own.status, 200, "the submitter reads their own organisation's record");
    assert!(own.body.contains(A_FAMILY));
    submitter.get("/registries/njr/records/search").await;
    let found = submitter
        .post("/registries/njr/records/search", &[("p_nhs_number", &world.nhs_a), ("purpose", "direct_care")])
        .await;
    assert!(found.body.contains(A_FAMILY), "the submitter finds their own patient: {}", found.status);
    let controller = &mut people[0].browser;
    let theirs = controller.get(&format!("/registries/njr/records/{}?purpose=direct_care", world.record_b)).await;
    assert_eq!(theirs.status, 200, "the controller reads every organisation's records");
    assert!(theirs.body.contains(B_FAMILY));
    let analyst = &mut people[3].browser;
    assert_eq!(analyst.get("/registries/njr/outcomes").await.status, 200, "the analyst reads the outcomes");

    let table = tessera_web::routes::route_table();
    assert!(table.len() >= 40, "the route table lists {} routes", table.len());

    let staying: Vec<_> = table.iter().filter(|r| !session_changing(&r.path)).collect();
    let leaving: Vec<_> = table.iter().filter(|r| session_changing(&r.path)).collect();

    let mut refused = 0usize;
    let mut checked = 0usize;
    for person in &mut people {
        let csrf = {
            let home = person.browser.get("/").await;
            between(&home.body, "name=\"csrf\" value=\"", "\"").unwrap_or_default()
        };
        // Variants: another registry's object; another organisation's object (same registry).
        let mut variants: Vec<(&str, BTreeMap<&str, String>)> = Vec::new();
        let base = |registry: &str, id: &str| -> BTreeMap<&str, String> {
            BTreeMap::from([
                ("registry", registry.to_owned()),
                ("id", id.to_owned()),
                ("section", "hip-overall".to_owned()),
                ("file", "chart.svg".to_owned()),
                ("token", "matrix-token".to_owned()),
                ("organisation", world.org_b.clone()),
                ("user", "someone".to_owned()),
                ("grant", "g-controller".to_owned()),
                ("request", "r-none".to_owned()),
                ("org", world.org_b.clone()),
                ("implant", "00000000-0000-4000-8000-000000000000".to_owned()),
            ])
        };
        variants.push(("other registry", base("bcir", &world.record_bcir)));
        if !person.reads_b {
            variants.push(("other organisation", base("njr", &world.record_b)));
        }
        // Every variant of every route that keeps the session first; those that may end it last.
        let mut plan: Vec<(&str, &BTreeMap<&str, String>, &tessera_web::routes::RouteInfo)> = Vec::new();
        for routes in [&staying, &leaving] {
            for (variant, values) in &variants {
                plan.extend(routes.iter().map(|r| (*variant, values, *r)));
            }
        }
        {
            for (variant, values, route) in plan {
                let path = fill(&route.path, values);
                let api = route.path.starts_with("/api/");
                let fields: Vec<(&str, &str)> = vec![
                    ("csrf", &csrf),
                    ("nhs_number", &world.nhs_b),
                    ("p_nhs_number", &world.nhs_b),
                    ("purpose", "direct_care"),
                    ("purpose_detail", "matrix"),
                    ("reason", "matrix"),
                    ("justification", "matrix"),
                    ("form", "hip_primary"),
                    ("organisation", &world.org_b),
                    ("role", "viewer"),
                    ("decision", "approve"),
                ];
                let page = match route.method {
                    // With a stated purpose, so identifiable reads go as far as their data.
                    "GET" => person.browser.get(&format!("{path}?purpose=direct_care")).await,
                    "DELETE" => person.browser.delete(&path).await,
                    _ if api => {
                        let body: serde_json::Map<String, serde_json::Value> =
                            fields.iter().map(|(k, v)| ((*k).to_owned(), serde_json::Value::from(*v))).collect();
                        person.browser.post_json(&path, serde_json::Value::Object(body)).await
                    }
                    _ => person.browser.post_raw(&path, &fields).await,
                };
                checked += 1;
                let who = format!("{} on {} {} ({variant})", person.label, route.method, route.path);
                let about_object =
                    route.path.contains("{id}") || (route.path.contains("{registry}") && variant == "other registry");
                if about_object {
                    // Everyone here is fully signed in with a fresh second factor, so nothing
                    // but the access check can refuse: exactly 403 or 404.
                    let s = page.status.as_u16();
                    assert!(
                        s == 403 || s == 404,
                        "{who}: {s} (expected 403 or 404)\n{}",
                        &page.body[..page.body.len().min(400)]
                    );
                    refused += 1;
                }
                // Identifiers, and the record's own id (which lists and downloads would carry).
                let mut forbidden = vec![B_FAMILY, B_GIVEN, world.nhs_b.as_str(), world.record_b.as_str()];
                if !person.reads_a {
                    forbidden.extend([A_FAMILY, A_GIVEN, world.nhs_a.as_str(), world.record_a.as_str()]);
                }
                // A form may show back the NHS number the caller typed (a search with no match
                // keeps its input); that is their own input, not a disclosure. Names, dates and
                // record ids, which they did not send, are still checked.
                if route.method == "POST" {
                    forbidden.retain(|m| *m != world.nhs_b.as_str());
                }
                // The audit log names records by their pseudonymous id, by design, to those who
                // audit the whole registry; names and NHS numbers are still checked.
                if route.path == "/registries/{registry}/audit" {
                    forbidden.retain(|m| *m != world.record_b.as_str() && *m != world.record_a.as_str());
                }
                for marker in forbidden {
                    assert!(!page.body.contains(marker), "{who}: the answer shows a patient identifier it must not");
                }
            }
        }
    }
    assert!(refused >= 200, "{refused} object requests refused of {checked}");
    eprintln!("access matrix on {kind}: {checked} requests, {refused} object requests refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_leaks_across_organisations_or_registries_for_any_role_on_sqlite() {
    run_matrix("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_route_leaks_across_organisations_or_registries_for_any_role_on_postgres() {
    run_matrix("postgres").await;
}
