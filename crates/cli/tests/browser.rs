//! The journey in real headless Chromium against `tessera serve`: bootstrap → invite → accept →
//! refused common password → password → TOTP enrolment → sign in with TOTP → passkey enrolment
//! and passkey sign-in (CDP virtual authenticator); then least privilege: Sam requests access,
//! Carol becomes the first controller with two operators' approval (the second operator invited
//! with `tessera operator invite`), Carol approves Sam, Sam enters a record, sees every validation
//! error, corrects it and saves, is asked why before the saved record (identifiable) is shown,
//! then finds the patient with a stated purpose and opens and corrects the record from the
//! results without being asked again; Carol opens a recall of one lot and Sam, scanning a unit of
//! that lot into his record (symbology identifier, group separator), is warned at once; Dan at another organisation searches and finds nothing and gets
//! 404 at the record's address; Carol visits the outcome statistics (registry page, a
//! Kaplan–Meier chart, the funnel plot) on synthetic data; sign-out. axe-core runs on every
//! page and a screenshot of each kept under `target/tmp/browser/`. The server logs at `debug`
//! throughout, and afterwards its log is searched for every secret the journey saw.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Server, ok, tessera};

fn web_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../web")
}

#[test]
fn the_sign_in_journey_works_in_chromium_is_accessible_and_leaks_no_secret_to_the_log() {
    let chromium = std::env::var("TESSERA_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        Path::new(&chromium).exists(),
        "Chromium is needed at {chromium} for the browser tests (scripts/test.sh installs Debian's chromium)"
    );
    assert!(web_dir().join("node_modules/playwright-core").exists(), "run `npm ci` in web/ (scripts/test.sh does)");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t/tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.path().join("t").to_str().unwrap()]));
    // Synthetic registries, for the outcome pages the journey visits.
    for f in ["joints.toml", "breast.toml"] {
        ok(&tessera(&config, &["registry", "load", common::registries_dir().join(f).to_str().unwrap()]));
    }
    ok(&tessera(&config, &["synth", "--patients", "40000", "--seed", "11"]));
    // A valid hip primary for the access journey to enter by hand, for a patient the registry
    // does not hold yet (the NHS's published example number; synthetic numbers start 999).
    let rows = dir.path().join("entry.csv");
    ok(&tessera(
        &config,
        &[
            "synth",
            "--patients",
            "20",
            "--seed",
            "29",
            "--hip-share",
            "1",
            "--breast-share",
            "0",
            "--form",
            "hip_primary",
            "--rows",
            "20",
            "--out",
            rows.to_str().unwrap(),
        ],
    ));
    let mut reader = csv::Reader::from_path(&rows).unwrap();
    let header = reader.headers().unwrap().clone();
    let row = reader
        .records()
        .map(Result::unwrap)
        .find(|r| r.get(header.iter().position(|h| h == "date_of_death").unwrap()) == Some(""))
        .expect("a living patient");
    let mut entry: serde_json::Map<String, serde_json::Value> =
        header.iter().zip(row.iter()).map(|(h, v)| (h.to_owned(), v.into())).collect();
    entry.insert("nhs_number".into(), "9434765919".into());
    entry.insert("family_name".into(), "Quillfeather".into());
    entry.insert("consent".into(), "given".into());
    let org_a = entry["organisation"].as_str().unwrap().to_owned();
    let orgs = std::fs::read_to_string(dir.path().join("organisations.csv")).unwrap();
    let org_b = orgs.lines().skip(1).map(|l| l.split(',').next().unwrap().to_owned()).find(|o| *o != org_a).unwrap();

    let log = dir.path().join("server.log");
    let mut server = Server::start(&config, &log, "debug");
    let bootstrap = server.bootstrap.clone().expect("a bootstrap link on first start");
    assert!(bootstrap.starts_with(&server.url));
    // The administrator invites a second platform operator from the command line.
    ok(&tessera(
        &config,
        &[
            "operator",
            "invite",
            "--email",
            "oscar@ops.example",
            "--name",
            "Oscar Operator",
            "--public-url",
            &server.url,
        ],
    ));

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&artifacts);
    let out = Command::new("node")
        .arg(web_dir().join("tests/flow.mjs"))
        .env("TESSERA_URL", &server.url)
        .env("BOOTSTRAP_LINK", &bootstrap)
        .env("OUTBOX", dir.path().join("t/outbox"))
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .env("ENTRY_ROW", serde_json::Value::Object(entry).to_string())
        .env("ORG_A", &org_a)
        .env("ORG_B", &org_b)
        .env("OSCAR", "oscar@ops.example")
        .output()
        .expect("run node (Node.js is needed for the browser tests)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    println!("{stdout}");
    server.stop();
    assert!(
        out.status.success(),
        "the browser journey failed:\n{stdout}\n{stderr}\n(screenshots in {})",
        artifacts.display()
    );
    assert!(stdout.contains("browser journey passed"), "{stdout}");

    // No secret of the journey in any log line.
    let log_text = std::fs::read_to_string(&log).unwrap();
    assert!(log_text.lines().count() > 50, "the debug log was captured ({} lines)", log_text.lines().count());
    let secrets: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(artifacts.join("secrets.json")).unwrap()).unwrap();
    let mut checked = 0;
    for (kind, values) in secrets.as_object().unwrap() {
        for v in values.as_array().unwrap() {
            let v = v.as_str().unwrap();
            // Links are checked whole and by their token; cookies and codes as they are.
            let mut needles = vec![v.to_owned()];
            if kind == "links" {
                needles.push(v.rsplit('/').next().unwrap().to_owned());
            }
            if kind == "recovery" {
                needles.push(v.replace('-', ""));
            }
            for n in needles.iter().filter(|n| n.len() >= 8) {
                assert!(!log_text.contains(n.as_str()), "a {kind} secret appears in the server log");
                checked += 1;
            }
        }
    }
    assert!(checked >= 20, "the journey reported its secrets ({checked})");
    for address in
        ["olivia@ops.example", "sam.surgeon@trust.example", "oscar@ops.example", "carol.controller@trust.example"]
    {
        assert!(!log_text.contains(address), "an email address appears in the server log");
    }
    // Standard output carries the bootstrap link and nothing secret besides.
    assert_eq!(server.stdout.matches("/welcome/").count(), 1);
    // The patient entered by hand never reaches the log either.
    for identifier in ["9434765919", "943 476 5919", "Quillfeather"] {
        assert!(!log_text.contains(identifier), "a patient identifier appears in the server log");
    }
}
