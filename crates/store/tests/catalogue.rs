//! The versioned device catalogue and the unknown-GTIN queue, on both databases.

use tessera_domain::catalogue::{CatalogueProduct, parse_catalogue_csv};
use tessera_store::{AuditActor, AuditNote, AuditOutcome, Product, Store, StoreError, UnknownStatus};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    a_load_adds_a_version_with_history_and_an_audit_event,
    a_second_load_changes_only_what_changed_and_keeps_the_old_version_readable,
    a_load_whose_audit_event_cannot_be_stored_stores_nothing,
    search_finds_by_gtin_prefix_and_by_words_in_any_case,
    unknown_gtins_are_counted_then_added_by_a_load_or_dismissed,
    products_written_before_any_load_are_kept_and_described_by_the_first_load,
);

const HEAD: &str = "gtin,manufacturer,brand,model,catalogue_ref,category,bearing,fixation,material\n";
const STEM: &str = "05012345001005";
const CUP: &str = "05012345002002";
const HEAD_GTIN: &str = "05012345003009";

fn v1() -> Vec<CatalogueProduct> {
    parse_catalogue_csv(&format!(
        "{HEAD}{STEM},Aldgate Orthopaedics,Aldgate Taper Stem,Size 8,ALD-100-08,Hip femoral stem,,Cemented,Cobalt chrome\n\
         {CUP},Aldgate Orthopaedics,Aldgate Halo Cup,54 mm,ALD-200-54,Acetabular cup,Ceramic-on-polyethylene,Uncemented,Titanium\n"
    ))
    .expect("valid catalogue")
}

fn v2() -> Vec<CatalogueProduct> {
    // The stem unchanged, the cup's material corrected, a femoral head added.
    parse_catalogue_csv(&format!(
        "{HEAD}{STEM},Aldgate Orthopaedics,Aldgate Taper Stem,Size 8,ALD-100-08,Hip femoral stem,,Cemented,Cobalt chrome\n\
         {CUP},Aldgate Orthopaedics,Aldgate Halo Cup,54 mm,ALD-200-54,Acetabular cup,Ceramic-on-polyethylene,Uncemented,Titanium alloy\n\
         {HEAD_GTIN},Brigantia Medical,Brigantia Cobalt Head,28 mm,BRG-400-28,Femoral head,Metal-on-polyethylene,,Cobalt chrome\n"
    ))
    .expect("valid catalogue")
}

fn note() -> AuditNote {
    AuditNote::new(AuditActor::System, "catalogue.load", AuditOutcome::Success).client("cli")
}

async fn store(db: &TestDb) -> Store {
    Store::connect(db.url()).await.expect("connect and migrate")
}

async fn a_load_adds_a_version_with_history_and_an_audit_event(db: &TestDb) {
    let store = store(db).await;
    let load = store.load_catalogue("catalogue.csv", None, &v1(), &note()).await.unwrap();
    assert_eq!((load.version, load.added, load.changed, load.unchanged), (1, 2, 0, 0));
    let cup = store.product(CUP).await.unwrap().expect("stored");
    assert_eq!(cup.brand, "Aldgate Halo Cup");
    assert_eq!(cup.model.as_deref(), Some("54 mm"));
    assert_eq!(cup.catalogue_ref.as_deref(), Some("ALD-200-54"));
    assert_eq!(cup.attributes["bearing"], "Ceramic-on-polyethylene");
    assert_eq!(cup.version, Some(1));
    let stem = store.product(STEM).await.unwrap().expect("stored");
    assert!(!stem.attributes.contains_key("bearing"), "an empty cell is no attribute");
    assert_eq!(store.product_history(CUP).await.unwrap().len(), 1);
    assert_eq!(store.product("05012345009995").await.unwrap(), None);
    // The outcome statistics' view of the catalogue still works.
    let products = store.products().await.unwrap();
    assert_eq!(products.iter().map(|p| p.gtin.as_str()).collect::<Vec<_>>(), [STEM, CUP]);

    let versions = store.catalogue_versions().await.unwrap();
    assert_eq!(versions.len(), 1);
    assert_eq!((versions[0].source.as_str(), versions[0].products, versions[0].added), ("catalogue.csv", 2, 2));
    let events = store.audit_events(0, u64::MAX, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    let event = events[0].event.as_ref().unwrap();
    assert_eq!(event.action, "catalogue.load");
    assert_eq!(event.target.as_deref(), Some("catalogue:v1"));
}

async fn a_second_load_changes_only_what_changed_and_keeps_the_old_version_readable(db: &TestDb) {
    let store = store(db).await;
    store.load_catalogue("v1.csv", None, &v1(), &note()).await.unwrap();
    let load = store.load_catalogue("v2.csv", Some("user:op"), &v2(), &note()).await.unwrap();
    assert_eq!((load.version, load.added, load.changed, load.unchanged), (2, 1, 1, 1));
    // Unchanged: still as version 1 wrote it, with one history row.
    assert_eq!(store.product(STEM).await.unwrap().unwrap().version, Some(1));
    assert_eq!(store.product_history(STEM).await.unwrap().len(), 1);
    // Changed: now version 2, and version 1's description still readable.
    let cup = store.product(CUP).await.unwrap().unwrap();
    assert_eq!((cup.version, cup.attributes["material"].as_str()), (Some(2), "Titanium alloy"));
    let history = store.product_history(CUP).await.unwrap();
    assert_eq!(history.iter().map(|h| h.version).collect::<Vec<_>>(), [Some(1), Some(2)]);
    assert_eq!(history[0].attributes["material"], "Titanium");
    assert_eq!(store.product(HEAD_GTIN).await.unwrap().unwrap().version, Some(2));
    let versions = store.catalogue_versions().await.unwrap();
    assert_eq!(
        versions.iter().map(|v| (v.version, v.added, v.changed, v.unchanged)).collect::<Vec<_>>(),
        [(1, 2, 0, 0), (2, 1, 1, 1)]
    );
    assert_eq!(versions[1].loaded_by.as_deref(), Some("user:op"));
    // Loading the same file again writes a version that changes nothing.
    let again = store.load_catalogue("v2.csv", None, &v2(), &note()).await.unwrap();
    assert_eq!((again.version, again.added, again.changed, again.unchanged), (3, 0, 0, 3));
    assert_eq!(store.product_history(CUP).await.unwrap().len(), 2);
    // History cannot be rewritten.
    let sql = "UPDATE product_history SET brand = 'x'";
    let refused = match &store {
        Store::Sqlite(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
        Store::Postgres(p) => sqlx::query(sql).execute(p).await.map(|_| ()),
    };
    assert!(refused.is_err(), "product history is append-only");
}

async fn a_load_whose_audit_event_cannot_be_stored_stores_nothing(db: &TestDb) {
    let store = store(db).await;
    // A purpose with a control character is refused by the audit log.
    let bad = note().purpose("x\u{7}");
    assert!(store.load_catalogue("v1.csv", None, &v1(), &bad).await.is_err());
    assert_eq!(store.product(CUP).await.unwrap(), None);
    assert!(store.catalogue_versions().await.unwrap().is_empty());
    assert!(store.product_history(CUP).await.unwrap().is_empty());
    assert!(store.audit_events(0, u64::MAX, 10).await.unwrap().is_empty());
    // And the next load is version 1.
    assert_eq!(store.load_catalogue("v1.csv", None, &v1(), &note()).await.unwrap().version, 1);
}

async fn search_finds_by_gtin_prefix_and_by_words_in_any_case(db: &TestDb) {
    let store = store(db).await;
    store.load_catalogue("v2.csv", None, &v2(), &note()).await.unwrap();
    let gtins = |rows: Vec<tessera_store::CatalogueEntry>| rows.into_iter().map(|r| r.gtin).collect::<Vec<_>>();
    assert_eq!(gtins(store.catalogue_search("0501234500", 50).await.unwrap()), [STEM, CUP, HEAD_GTIN]);
    assert_eq!(gtins(store.catalogue_search(" 050123450030", 50).await.unwrap()), [HEAD_GTIN]);
    assert_eq!(gtins(store.catalogue_search("halo", 50).await.unwrap()), [CUP]);
    assert_eq!(gtins(store.catalogue_search("BRIGANTIA", 50).await.unwrap()), [HEAD_GTIN]);
    assert_eq!(gtins(store.catalogue_search("ald-100", 50).await.unwrap()), [STEM]);
    assert_eq!(gtins(store.catalogue_search("28 mm", 50).await.unwrap()), [HEAD_GTIN]);
    assert_eq!(gtins(store.catalogue_search("femoral", 50).await.unwrap()), [STEM, HEAD_GTIN]);
    // LIKE's wildcards are searched for, not obeyed.
    assert!(store.catalogue_search("%", 50).await.unwrap().is_empty());
    assert!(store.catalogue_search("_", 50).await.unwrap().is_empty());
    assert_eq!(store.catalogue_search("", 2).await.unwrap().len(), 2, "empty lists, up to the limit");
}

async fn unknown_gtins_are_counted_then_added_by_a_load_or_dismissed(db: &TestDb) {
    let store = store(db).await;
    store.load_catalogue("v1.csv", None, &v1(), &note()).await.unwrap();
    let other = "05012345004006";
    assert!(!store.note_unknown_gtin(CUP, "njr", "RRK").await.unwrap(), "a known GTIN is not queued");
    assert!(store.note_unknown_gtin(HEAD_GTIN, "njr", "RRK").await.unwrap());
    assert!(store.note_unknown_gtin(HEAD_GTIN, "njr", "RTH").await.unwrap());
    assert!(store.note_unknown_gtin(other, "bcir", "RTH").await.unwrap());
    let pending = store.unknown_gtins(UnknownStatus::Pending).await.unwrap();
    let head = pending.iter().find(|u| u.gtin == HEAD_GTIN).expect("queued");
    assert_eq!((head.times_seen, head.organisation.as_deref()), (2, Some("RRK")));
    assert!(head.last_seen >= head.first_seen);
    assert_eq!(pending.len(), 2);

    // A load that includes it marks it added.
    store.load_catalogue("v2.csv", None, &v2(), &note()).await.unwrap();
    let added = store.unknown_gtins(UnknownStatus::Added).await.unwrap();
    assert_eq!(added.iter().map(|u| u.gtin.as_str()).collect::<Vec<_>>(), [HEAD_GTIN]);

    // Dismissing: once, with its audit event; a second time or an unknown GTIN is not found.
    let dismiss = AuditNote::new(AuditActor::User("op".into()), "catalogue.dismiss", AuditOutcome::Success);
    let before = store.audit_head().await.unwrap().last_seq;
    store.dismiss_unknown_gtin(other, Some("user:op"), &dismiss).await.unwrap();
    let events = store.audit_events(before, u64::MAX, 10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].event.as_ref().unwrap().target.as_deref(), Some(format!("gtin:{other}").as_str()));
    assert!(matches!(store.dismiss_unknown_gtin(other, None, &dismiss).await, Err(StoreError::NotFound(_))));
    assert!(matches!(store.dismiss_unknown_gtin(HEAD_GTIN, None, &dismiss).await, Err(StoreError::NotFound(_))));
    assert!(store.unknown_gtins(UnknownStatus::Pending).await.unwrap().is_empty());
    assert_eq!(store.unknown_gtins(UnknownStatus::Dismissed).await.unwrap()[0].gtin, other);
    // A dismissed GTIN scanned again is counted but stays dismissed.
    store.note_unknown_gtin(other, "bcir", "RTH").await.unwrap();
    let dismissed = store.unknown_gtins(UnknownStatus::Dismissed).await.unwrap();
    assert_eq!(dismissed[0].times_seen, 2);
}

async fn products_written_before_any_load_are_kept_and_described_by_the_first_load(db: &TestDb) {
    let store = store(db).await;
    let synthetic = |gtin: &str, brand: &str| Product {
        gtin: gtin.into(),
        manufacturer: "Aldgate Orthopaedics".into(),
        brand: brand.into(),
        category: "Hip femoral stem".into(),
    };
    let other = "05012345004006";
    store.upsert_products(&[synthetic(STEM, "Aldgate Taper Stem"), synthetic(other, "Aldgate Other")]).await.unwrap();
    assert_eq!(store.product(STEM).await.unwrap().unwrap().version, None);
    let load = store.load_catalogue("v1.csv", None, &v1(), &note()).await.unwrap();
    // The stem gains its model and attributes (changed); the cup is new; the other is kept.
    assert_eq!((load.added, load.changed, load.unchanged), (1, 1, 0));
    assert_eq!(store.product(STEM).await.unwrap().unwrap().model.as_deref(), Some("Size 8"));
    assert_eq!(store.product(other).await.unwrap().unwrap().version, None);
    assert_eq!(store.products().await.unwrap().len(), 3);
    // upsert_products still works on a versioned catalogue and leaves the load's details.
    store.upsert_products(&[synthetic(STEM, "Aldgate Taper Stem")]).await.unwrap();
    assert_eq!(store.product(STEM).await.unwrap().unwrap().catalogue_ref.as_deref(), Some("ALD-100-08"));
}
