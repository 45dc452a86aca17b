//! The sign-in journey in real headless Chromium against `tessera serve`: bootstrap → invite →
//! accept → refused common password → password → TOTP enrolment → sign in with TOTP → passkey
//! enrolment and passkey sign-in (CDP virtual authenticator) → sign-out, with the operator also
//! visiting the outcome statistics (registry page, a Kaplan–Meier chart, the funnel plot)
//! on synthetic data, and axe-core on every
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
    let log = dir.path().join("server.log");
    let mut server = Server::start(&config, &log, "debug");
    let bootstrap = server.bootstrap.clone().expect("a bootstrap link on first start");
    assert!(bootstrap.starts_with(&server.url));

    let artifacts = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    let _ = std::fs::remove_dir_all(&artifacts);
    let out = Command::new("node")
        .arg(web_dir().join("tests/flow.mjs"))
        .env("TESSERA_URL", &server.url)
        .env("BOOTSTRAP_LINK", &bootstrap)
        .env("OUTBOX", dir.path().join("t/outbox"))
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
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
    for address in ["olivia@ops.example", "sam.surgeon@trust.example"] {
        assert!(!log_text.contains(address), "an email address appears in the server log");
    }
    // Standard output carries the bootstrap link and nothing secret besides.
    assert_eq!(server.stdout.matches("/welcome/").count(), 1);
}
