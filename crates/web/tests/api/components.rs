//! Implant capture over HTTP: a scanned unit under an open recall is answered with a warning
//! naming the recall (page and API); a GTIN the catalogue does not know is stored and queued; a
//! barcode the parser refuses is shown with the AI and the reason; typed entry works; people of
//! another organisation, or who only read, cannot add units.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{audit_events, spawn_app};
use crate::on_both;
use crate::recalls::{GTIN, LOT, catalogue, operation, safety_officer, scan, start_recall};
use crate::records::{person, world};

/// A GTIN with a good check digit that the catalogue does not hold.
const UNKNOWN_GTIN: &str = "04012345678901";

on_both! {
    async fn scanning_a_recalled_unit_warns_the_person_entering_it(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        catalogue(&app.store).await;
        let (mut op, _) = app.operator().await;
        let (mut a, _) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
        let (mut s, _) = safety_officer(&app, &mut op).await;
        let record = operation(&mut a, "RAA", "9434765919", "Quenby").await;
        start_recall(&mut s, "MDA-2026-007").await;
        let path = format!("/registries/tst/records/{record}/components");

        // The page: the scan field is focused; a scanner's keystrokes with a typed <GS> work.
        let page = a.get(&path).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("name=\"scan\"") && page.body.contains("autofocus"));
        let raw = format!("]d201{GTIN}10{LOT}<GS>21SER42");
        let page = a.post(&path, &[("mode", "scan"), ("scan", raw.as_str())]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        let warning = crate::helpers::between(&page.body, "class=\"nhsuk-warning-callout\"", "</div>").expect("a warning");
        assert!(warning.contains("MDA-2026-007") && warning.contains("Liner wear in Acme Cup"), "{warning}");
        assert!(page.body.contains("SER42") && page.body.contains("Acme Cup"), "the unit is listed with its product");
        assert!(!page.body.contains("id=\"unknown-gtin\""), "the catalogue knows it");

        // A unit of another lot: saved, no warning. Typed fields work too (entry manual).
        let page = a
            .post(&path, &[("mode", "manual"), ("gtin", GTIN), ("lot", "LOT9"), ("serial", "S9"), ("expiry", "2030-01-31")])
            .await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(!page.body.contains("nhsuk-warning-callout") && page.body.contains("The component has been saved"));

        // The API answers the recalls it matches.
        let answer = scan(&mut a, &record, &format!("01{GTIN}10{LOT}\u{1d}21SER43")).await;
        assert_eq!(answer["implant"]["entry"], "scanned");
        assert_eq!(answer["implant"]["serial"], "SER43");
        assert_eq!(answer["recalls"][0]["reference"], "MDA-2026-007");
        assert_eq!(answer["recalls"][0]["title"], "Liner wear in Acme Cup");
        let answer: Value = serde_json::from_str(
            &a.post_json(&format!("/api/v1{path}"), json!({ "gtin": GTIN, "lot": "LOT9" })).await.body,
        )
        .unwrap();
        assert_eq!(answer["implant"]["entry"], "manual");
        assert_eq!(answer["recalls"], json!([]));

        // Stored on the record, each with its audit event.
        let implants = app.store.implants_of(record.parse().unwrap()).await.unwrap();
        assert_eq!(implants.len(), 4);
        assert_eq!(implants.iter().filter(|i| i.entry == "scanned").count(), 2);
        assert_eq!(audit_events(&app).await.iter().filter(|e| e.action == "implant.add").count(), 4);
    }

    async fn an_unknown_gtin_is_stored_and_queued_and_a_bad_scan_names_the_ai(kind: &str) {
        let app = spawn_app(kind).await;
        world(&app).await;
        catalogue(&app.store).await;
        let (mut op, _) = app.operator().await;
        let (mut a, _) = person(&app, &mut op, "ann@a.example", "submitter", "RAA").await;
        let (mut b, _) = person(&app, &mut op, "bob@b.example", "submitter", "RBB").await;
        let (mut v, _) = person(&app, &mut op, "val@a.example", "viewer", "RAA").await;
        let record = operation(&mut a, "RAA", "9434765919", "Quenby").await;
        let path = format!("/registries/tst/records/{record}/components");

        // Unknown GTIN: saved, and queued for the catalogue's review.
        a.get(&path).await;
        let raw = format!("(01){UNKNOWN_GTIN}(10)B7");
        let page = a.post(&path, &[("mode", "scan"), ("scan", raw.as_str())]).await;
        assert_eq!(page.status, StatusCode::OK, "{}", page.body);
        assert!(page.body.contains("id=\"unknown-gtin\""), "{}", page.body);
        let queued = app.store.unknown_gtins(tessera_store::UnknownStatus::Pending).await.unwrap();
        assert!(queued.iter().any(|u| u.gtin == UNKNOWN_GTIN), "queued: {queued:?}");
        let answer = scan(&mut a, &record, &format!("01{UNKNOWN_GTIN}10B8")).await;
        assert_eq!(answer["catalogued"], false);

        // A bad scan: the AI and the reason, nothing saved.
        let before = app.store.implants_of(record.parse().unwrap()).await.unwrap().len();
        let bad = format!("(01){GTIN}(17)271331");
        let page = a.post(&path, &[("mode", "scan"), ("scan", bad.as_str())]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        let summary = crate::helpers::between(&page.body, "nhsuk-error-summary__list", "</ul>").unwrap();
        assert!(summary.contains("href=\"#scan\"") && summary.contains("(17)") && summary.contains("month 13"), "{summary}");
        assert!(page.body.contains(&format!("value=\"{bad}\"")), "the scan is kept");
        let r = a.post_json(&format!("/api/v1{path}"), json!({ "scan": format!("01{GTIN}10") })).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
        let problems: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(problems["errors"][0]["field"], "scan");
        assert!(problems["errors"][0]["message"].as_str().unwrap().contains("(10)"), "{problems}");
        let page = a.post(&path, &[("mode", "manual"), ("gtin", "05012345678901"), ("expiry", "soon")]).await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(page.body.contains("<a href=\"#gtin\">GTIN: check digit") && page.body.contains("<a href=\"#expiry\">"), "{}", page.body);
        assert_eq!(app.store.implants_of(record.parse().unwrap()).await.unwrap().len(), before, "nothing saved");

        // Another hospital: not found; a viewer: may read, not write.
        assert_eq!(b.get(&path).await.status, StatusCode::NOT_FOUND);
        let r = b.post_json(&format!("/api/v1{path}"), json!({ "gtin": GTIN })).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert_eq!(v.get(&path).await.status, StatusCode::FORBIDDEN);
        let r = v.post_json(&format!("/api/v1{path}"), json!({ "gtin": GTIN })).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        assert_eq!(app.store.implants_of(record.parse().unwrap()).await.unwrap().len(), before);
    }
}
