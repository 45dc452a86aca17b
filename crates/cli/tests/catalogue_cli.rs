//! `tessera catalogue load` end to end, on both databases: a good file becomes a version, a file
//! with bad rows is refused whole with every row and field named, a changed file becomes the
//! next version and the old one stays readable.

mod common;

use common::{Env, count, ok, registries_dir};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    the_shipped_catalogue_loads_as_version_one_with_its_audit_event,
    a_file_with_bad_rows_names_each_row_and_field_and_stores_nothing,
    a_changed_file_becomes_version_two_and_version_one_stays_readable,
);

fn shipped() -> String {
    std::fs::read_to_string(registries_dir().join("catalogue.csv")).unwrap()
}

async fn store(db: &TestDb) -> tessera_store::Store {
    tessera_store::Store::connect(db.url()).await.unwrap()
}

async fn the_shipped_catalogue_loads_as_version_one_with_its_audit_event(db: &TestDb) {
    let env = Env::new(db);
    let n = shipped().lines().count() - 1;
    let out = ok(&env.run(&["catalogue", "load", registries_dir().join("catalogue.csv").to_str().unwrap()]));
    assert_eq!(out.trim(), format!("catalogue version 1: {n} added, 0 changed, 0 unchanged"));
    assert_eq!(count(db, "products").await, n as i64);
    let store = store(db).await;
    let events = store.audit_events(0, u64::MAX, 100).await.unwrap();
    let loads: Vec<_> =
        events.iter().filter_map(|e| e.event.as_ref().ok()).filter(|e| e.action == "catalogue.load").collect();
    assert_eq!(loads.len(), 1);
    assert_eq!(loads[0].target.as_deref(), Some("catalogue:v1"));
    let versions = store.catalogue_versions().await.unwrap();
    assert_eq!(versions[0].source, "catalogue.csv");
}

async fn a_file_with_bad_rows_names_each_row_and_field_and_stores_nothing(db: &TestDb) {
    let env = Env::new(db);
    let mut lines: Vec<String> = shipped().lines().map(str::to_owned).collect();
    // Row 3: a wrong check digit. Row 5: an unknown category. Row 7: no manufacturer.
    let check = lines[2].as_bytes()[13];
    let wrong = if check == b'9' { '0' } else { char::from(check + 1) };
    lines[2].replace_range(13..14, &wrong.to_string());
    lines[4] = lines[4].replace("Hip femoral stem", "Hip thing");
    let mut cells: Vec<&str> = lines[6].split(',').collect();
    cells[1] = "";
    lines[6] = cells.join(",");
    let file = env.path("bad.csv");
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let before_products = count(db, "products").await;
    let out = env.run(&["catalogue", "load", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    for expected in ["row 3, gtin: ", "row 5, category: ", "row 7, manufacturer: is empty", "3 problem(s)"] {
        assert!(stderr.contains(expected), "{expected:?} in {stderr}");
    }
    assert!(stderr.contains("check digit"), "{stderr}");
    assert!(stderr.contains("nothing was stored"), "{stderr}");
    assert_eq!(count(db, "catalogue_versions").await, 0);
    assert_eq!(count(db, "product_history").await, 0);
    assert_eq!(count(db, "products").await, before_products);
}

async fn a_changed_file_becomes_version_two_and_version_one_stays_readable(db: &TestDb) {
    let env = Env::new(db);
    ok(&env.run(&["catalogue", "load", registries_dir().join("catalogue.csv").to_str().unwrap()]));
    let text = shipped();
    let n = text.lines().count() - 1;
    // One product's material corrected, one new product.
    let first = text.lines().nth(1).unwrap();
    let gtin = first.split(',').next().unwrap().to_owned();
    let changed_line = first.replace("Stainless steel", "Stainless steel (ORTRON 90)");
    let mut changed = text.replacen(first, &changed_line, 1);
    changed.push_str("05012345099996,Aldgate Orthopaedics,Aldgate Revision Stem,Size 1,ALD-99999,Hip femoral stem,,Uncemented,Titanium alloy\n");
    let file = env.path("catalogue-v2.csv");
    std::fs::write(&file, changed).unwrap();
    let out = ok(&env.run(&["catalogue", "load", file.to_str().unwrap()]));
    assert_eq!(out.trim(), format!("catalogue version 2: 1 added, 1 changed, {} unchanged", n - 1));

    let store = store(db).await;
    let now = store.product(&gtin).await.unwrap().unwrap();
    assert_eq!((now.version, now.attributes["material"].as_str()), (Some(2), "Stainless steel (ORTRON 90)"));
    let history = store.product_history(&gtin).await.unwrap();
    assert_eq!(history.len(), 2, "both versions kept");
    assert_eq!((history[0].version, history[0].attributes["material"].as_str()), (Some(1), "Stainless steel"));
    // An unchanged product was not rewritten.
    let other = text.lines().nth(2).unwrap().split(',').next().unwrap();
    assert_eq!(store.product(other).await.unwrap().unwrap().version, Some(1));
    assert_eq!(store.product_history(other).await.unwrap().len(), 1);
    assert_eq!(count(db, "catalogue_versions").await, 2);
}
