//! The device catalogue over HTTP: anyone signed in searches it (page and API), nobody else
//! does; platform operators review unknown GTINs and dismiss one (CSRF-checked, audited), and
//! nobody else can.

use reqwest::StatusCode;
use tessera_domain::catalogue::parse_catalogue_csv;
use tessera_store::{AuditActor, AuditNote, AuditOutcome, UnknownStatus};

use crate::helpers::{audit_events, spawn_app};
use crate::on_both;

const CATALOGUE: &str = "gtin,manufacturer,brand,model,catalogue_ref,category,bearing,fixation,material\n\
05012345001005,Aldgate Orthopaedics,Aldgate Taper Stem,Size 8,ALD-100-08,Hip femoral stem,,Cemented,Stainless steel\n\
05012345002002,Aldgate Orthopaedics,Aldgate Halo Cup,54 mm,ALD-200-54,Acetabular cup,Ceramic-on-polyethylene,Uncemented,Titanium alloy\n\
05012345003009,Brigantia Medical,Brigantia Cobalt Head,28 mm,BRG-400-28,Femoral head,,,Cobalt chrome\n";

/// Valid, not in the catalogue.
const UNKNOWN: &str = "05012345004006";

on_both! {
    async fn anyone_signed_in_searches_the_catalogue_and_nobody_else_does(kind: &str) {
        let app = spawn_app(kind).await;
        let note = AuditNote::new(AuditActor::System, "catalogue.load", AuditOutcome::Success);
        app.store.load_catalogue("test.csv", None, &parse_catalogue_csv(CATALOGUE).unwrap(), &note).await.unwrap();
        let (mut op, _) = app.operator().await;
        let (mut member, _) = app.member(&mut op, "sam@hosp.example", "Sam Submitter").await;

        let page = member.get("/catalogue?q=halo").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains("Aldgate Halo Cup") && page.body.contains("Ceramic-on-polyethylene"), "{}", page.body);
        assert!(!page.body.contains("Aldgate Taper Stem"), "only matches are listed");
        let none = member.get("/catalogue?q=%3Cscript%3E").await;
        assert!(none.body.contains("No device in the catalogue matches"), "{}", none.body);
        assert!(!none.body.contains("<script>"), "the search text is escaped");

        let api = member.get("/api/v1/catalogue?q=0501234500").await;
        assert_eq!(api.status, StatusCode::OK);
        let body: serde_json::Value = serde_json::from_str(&api.body).unwrap();
        let gtins: Vec<&str> = body["products"].as_array().unwrap().iter().map(|p| p["gtin"].as_str().unwrap()).collect();
        assert_eq!(gtins, ["05012345001005", "05012345002002", "05012345003009"]);
        assert_eq!(body["products"][2]["catalogue_ref"], "BRG-400-28");

        // Not signed in: no catalogue.
        let mut stranger = app.browser();
        let refused = stranger.get("/catalogue?q=halo").await;
        assert!(!refused.body.contains("Aldgate Halo Cup"), "{}", refused.status);
        assert_ne!(refused.status, StatusCode::OK);
        assert_eq!(stranger.get("/api/v1/catalogue?q=halo").await.status, StatusCode::UNAUTHORIZED);
        // Searching writes nothing to the audit log (no identifiable data is read).
        assert!(audit_events(&app).await.iter().all(|e| !e.action.starts_with("catalogue.") || e.action == "catalogue.load"));
    }

    async fn operators_review_and_dismiss_unknown_gtins_and_nobody_else_can(kind: &str) {
        let app = spawn_app(kind).await;
        let (mut op, _) = app.operator().await;
        let (mut member, _) = app.member(&mut op, "sam@hosp.example", "Sam Submitter").await;
        assert!(app.store.note_unknown_gtin(UNKNOWN, "njr", "RRK").await.unwrap());
        app.store.note_unknown_gtin(UNKNOWN, "njr", "RRK").await.unwrap();

        let page = op.get("/catalogue/review").await;
        assert_eq!(page.status, StatusCode::OK);
        assert!(page.body.contains(UNKNOWN), "{}", page.body);

        // Not an operator: neither the queue nor the dismissal.
        let refused = member.get("/catalogue/review").await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        assert!(!refused.body.contains(UNKNOWN));
        member.get("/catalogue").await;
        let refused = member.post("/catalogue/review", &[("gtin", UNKNOWN)]).await;
        assert_eq!(refused.status, StatusCode::FORBIDDEN);
        // An operator without the form's CSRF token: refused.
        let no_csrf = op.post_raw("/catalogue/review", &[("gtin", UNKNOWN)]).await;
        assert_ne!(no_csrf.status, StatusCode::SEE_OTHER);
        assert_eq!(app.store.unknown_gtins(UnknownStatus::Pending).await.unwrap().len(), 1, "still pending");

        op.get("/catalogue/review").await;
        let done = op.post("/catalogue/review", &[("gtin", UNKNOWN)]).await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{}", done.body);
        assert_eq!(done.location(), Some(format!("/catalogue/review?dismissed={UNKNOWN}").as_str()));
        let after = op.get(done.location().unwrap()).await;
        assert!(after.body.contains("was dismissed") && after.body.contains("No unknown device"), "{}", after.body);
        assert!(app.store.unknown_gtins(UnknownStatus::Pending).await.unwrap().is_empty());
        let events = audit_events(&app).await;
        let dismissals: Vec<_> = events.iter().filter(|e| e.action == "catalogue.dismiss").collect();
        assert_eq!(dismissals.len(), 1);
        assert_eq!(dismissals[0].target.as_deref(), Some(format!("gtin:{UNKNOWN}").as_str()));
        // Dismissing again: nothing pending, so not found.
        op.get("/catalogue/review").await;
        assert_eq!(op.post("/catalogue/review", &[("gtin", UNKNOWN)]).await.status, StatusCode::NOT_FOUND);
    }
}
