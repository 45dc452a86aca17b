//! The outcome pages, charts and API of a real `tessera serve` on synthetic data: behind
//! sign-in, published output only (no count from 1 to 4 in the clear), charts as SVG and CSV.

mod common;

use common::{PASSWORD, Server, grant, member, ok, registries_dir, tessera};
use tessera_testkit::TestDb;
use tessera_testkit::http::Browser;
use tessera_testkit::no_small_count;

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

#[tokio::test]
async fn outcome_pages_charts_and_api_are_behind_sign_in_and_publish_no_small_count() {
    let db = TestDb::sqlite();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("t/tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.path().join("t").to_str().unwrap(), "--database-url", db.url()]));
    for f in ["joints.toml", "breast.toml"] {
        ok(&tessera(&config, &["registry", "load", registries_dir().join(f).to_str().unwrap()]));
    }
    ok(&tessera(&config, &["synth", "--patients", "20000", "--seed", "5"]));
    let server = Server::start(&config, &dir.path().join("server.log"), "info");
    let link = server.bootstrap.clone().expect("bootstrap link");

    // Not signed in: the pages send people to sign in, the API refuses.
    let mut anonymous = Browser::new(&server.ip_url());
    let r = anonymous.get("/registries/njr/outcomes").await;
    assert!(r.status.is_redirection(), "{}", r.status);
    assert!(anonymous.get("/registries/njr/outcomes/funnel/chart.svg").await.status.is_redirection());
    assert_eq!(anonymous.get("/api/v1/registries/njr/outcomes").await.status, 401);

    let mut b = Browser::new(&server.ip_url());
    let (secret, factor) = b.bootstrap_operator(&link, "Olivia Operator", "olivia@ops.example", PASSWORD).await;
    let seed = tessera_auth::totp::seed_from_base32(&secret).unwrap();
    let code = tessera_auth::totp::code_at(&seed, now());
    let r = b.post("/account/security/totp", &[("factor", &factor), ("code", &code)]).await;
    assert_eq!(r.location(), Some("/account/security/recovery-codes"), "{}", r.body);
    // The operator reads no registry's outcomes; an analyst of both registries does.
    assert_eq!(b.get("/registries/njr/outcomes").await.status, 404);
    assert_eq!(b.get("/api/v1/registries/njr/outcomes").await.status, 404);
    let outbox = dir.path().join("t/outbox");
    let mut b = member(&server, &outbox, &mut b, "ana@registry.example", "Ana Analyst").await;
    grant(&db, "ana@registry.example", "njr", "analyst", None).await;
    grant(&db, "ana@registry.example", "bcir", "analyst", None).await;

    let index = b.get("/registries/njr/outcomes").await;
    assert_eq!(index.status, 200);
    for text in ["Implant outliers", "Dunmore Crescent MoM Cup", "Corvel Arclight Knee Femoral", "Hip", "Knee"] {
        assert!(index.body.contains(text), "the outcomes page shows {text}");
    }
    let section = b.get("/registries/njr/outcomes/survival/hip-brand-acetabular-cup").await;
    assert_eq!(section.status, 200);
    assert!(section.body.contains("Log-rank test"));
    let svg = b.get("/registries/njr/outcomes/survival/hip-brand-acetabular-cup/chart.svg").await;
    assert_eq!(svg.status, 200);
    assert_eq!(svg.headers["content-type"], "image/svg+xml; charset=utf-8");
    assert!(svg.body.starts_with("<svg") && svg.body.contains("role=\"img\""));
    let csv = b.get("/registries/njr/outcomes/survival/hip-brand-acetabular-cup/curves.csv").await;
    assert_eq!(csv.status, 200);
    assert!(csv.headers["content-disposition"].to_str().unwrap().starts_with("attachment"));
    assert!(csv.body.starts_with("group,time,value,lower,upper"), "{}", &csv.body[..60.min(csv.body.len())]);
    for path in [
        "/registries/njr/outcomes/survival/hip-brand-acetabular-cup/at-risk.csv",
        "/registries/njr/outcomes/funnel",
        "/registries/njr/outcomes/funnel/chart.svg",
        "/registries/njr/outcomes/funnel/data.csv",
        "/registries/njr/outcomes/outliers.csv",
        "/registries/bcir/outcomes",
        "/registries/bcir/outcomes/survival/breast-brand-breast-implant",
    ] {
        assert_eq!(b.get(path).await.status, 200, "{path}");
    }
    for path in [
        "/registries/nope/outcomes",
        "/registries/njr/outcomes/survival/no-such-table",
        "/registries/njr/outcomes/cusum/XXXXX",
        "/registries/njr/outcomes/survival/hip-overall/other.txt",
        "/registries/njr/outcomes/funnel/other.svg",
        "/registries/NJR%27--/outcomes",
    ] {
        assert_eq!(b.get(path).await.status, 404, "{path}");
    }

    // The API: published output, with no count from 1 to 4 anywhere.
    let api = b.get("/api/v1/registries/njr/outcomes").await;
    assert_eq!(api.status, 200);
    let json: serde_json::Value = serde_json::from_str(&api.body).unwrap();
    assert_eq!(json["audience"], "published");
    let mut checked = 0;
    checked += no_small_count(&json);
    assert!(checked > 100, "{checked} counts checked");
    // With 20,000 patients many hospitals have 1 to 4 revisions: they (and any hidden to protect
    // them) are left off the funnel.
    assert!(json["funnel"]["not_plotted_revisions_hidden"].as_u64().unwrap() > 10);
    // A group whose counts are hidden has no curve in any download, and no percentages.
    for site in json["sites"].as_array().unwrap() {
        for section in site["sections"].as_array().unwrap() {
            let id = section["id"].as_str().unwrap();
            let curves = b.get(&format!("/registries/njr/outcomes/survival/{id}/curves.csv")).await.body;
            for g in section["groups"].as_array().unwrap() {
                if !g["revisions"].is_number() {
                    let label = g["label"].as_str().unwrap();
                    assert!(!curves.contains(&format!("{label},")), "{id}: hidden group {label} has a curve");
                    assert!(
                        g["cumulative_percent_revision"].as_array().unwrap().iter().all(|a| a["estimate"].is_null())
                    );
                }
            }
        }
    }
    let bcir: serde_json::Value = serde_json::from_str(&b.get("/api/v1/registries/bcir/outcomes").await.body).unwrap();
    assert!(no_small_count(&bcir) > 20);
    let flagged: Vec<&str> = json["implant_outliers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["njr_level1"]["outlier"] == true && o["aoanjrr_first_stage"]["outlier"] == true)
        .map(|o| o["component"].as_str().unwrap())
        .collect();
    assert_eq!(flagged, ["Dunmore Crescent MoM Cup", "Corvel Arclight Knee Femoral"]);
}
