//! The `tessera` command end to end: set-up, dictionaries, synthetic data through CSV and import.

mod common;

use std::os::unix::fs::PermissionsExt as _;

use common::{Env, count, ok, registries_dir, tessera};
use tessera_testkit::{TestDb, on_both_databases};

on_both_databases!(
    synthetic_csv_files_import_to_the_same_counts_as_synthesis_into_the_store,
    dictionaries_load_from_toml_and_redcap_and_every_mistake_is_reported,
);

async fn synthetic_csv_files_import_to_the_same_counts_as_synthesis_into_the_store(db: &TestDb) {
    // One database filled by `synth` directly…
    let direct = tempfile::tempdir().unwrap();
    let config = direct.path().join("tessera.toml");
    ok(&tessera(&config, &["init", "--dir", direct.path().to_str().unwrap()]));
    for f in ["joints.toml", "breast.toml"] {
        ok(&tessera(&config, &["registry", "load", registries_dir().join(f).to_str().unwrap()]));
    }
    ok(&tessera(&config, &["synth", "--patients", "3000", "--seed", "9"]));
    let direct_stats = ok(&tessera(&config, &["stats"]));

    // …and the test database filled by importing the CSV files of the same seed.
    let env = Env::new(db);
    ok(&env.run(&["registry", "load", registries_dir().join("breast.toml").to_str().unwrap()]));
    let dir = env.path("csv");
    let listing = ok(&env.run(&["synth", "--patients", "3000", "--seed", "9", "--csv", dir.to_str().unwrap()]));
    assert!(listing.contains("organisations.csv"), "{listing}");
    ok(&env.run(&["organisations", "load", dir.join("organisations.csv").to_str().unwrap()]));
    let mut imported = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
        let Some((registry, form)) = name.split_once('-') else { continue };
        let out = ok(&env.run(&["import", registry, form, path.to_str().unwrap()]));
        assert!(out.starts_with("stored "), "{out}");
        imported += 1;
    }
    assert_eq!(imported, 7, "five joint forms and two breast forms");
    let imported_stats = ok(&env.run(&["stats"]));
    // Same records per registry, organisation and form. (Patient counts differ: a patient
    // without consent is anonymous, so each of their records imports as a patient of its own.)
    let records_only = |s: &str| -> Vec<String> {
        s.lines()
            .filter(|l| l.split('\t').count() == 5)
            .map(|l| l.split('\t').take(4).collect::<Vec<_>>().join("\t"))
            .collect()
    };
    assert!(!records_only(&direct_stats).is_empty());
    assert_eq!(records_only(&direct_stats), records_only(&imported_stats));
    assert!(count(db, "records").await > 3000);
    // Identified patients match one to one (anonymous ones are one per record by design).
    let direct_db = TestDb::Sqlite {
        url: format!("sqlite:{}", direct.path().join("tessera.db").display()),
        dir: tempfile::tempdir().unwrap(),
    };
    let identified = "patients WHERE nhs_blind IS NOT NULL";
    assert_eq!(count(db, identified).await, count(&direct_db, identified).await);
}

async fn dictionaries_load_from_toml_and_redcap_and_every_mistake_is_reported(db: &TestDb) {
    let env = Env::new(db);
    // Loading the same dictionary again changes nothing.
    let again = ok(&env.run(&["registry", "load", registries_dir().join("joints.toml").to_str().unwrap()]));
    assert!(again.contains("unchanged (version 1)"), "{again}");
    // A changed dictionary becomes version 2.
    let changed = env.path("joints-v2.toml");
    let text = std::fs::read_to_string(registries_dir().join("joints.toml")).unwrap();
    std::fs::write(&changed, text.replacen("min = 10.0", "min = 12.0", 1)).unwrap();
    let v2 = ok(&env.run(&["registry", "load", changed.to_str().unwrap()]));
    assert!(v2.contains("dictionary version 2 stored"), "{v2}");

    let csv = registries_dir().join("breast.redcap.csv");
    let out = ok(&env.run(&[
        "registry",
        "load",
        csv.to_str().unwrap(),
        "--id",
        "bcir",
        "--name",
        "Breast and Cosmetic Implant Registry",
        "--consent-required",
        "--implant-form",
        "implant_operation",
    ]));
    assert!(out.contains("registry bcir created"), "{out}");
    let list = ok(&env.run(&["registry", "list"]));
    assert!(list.contains("bcir\tv1") && list.contains("njr\tv2"), "{list}");

    let broken = env.path("broken.toml");
    std::fs::write(
        &broken,
        "id = \"x1\"\nname = \"Broken\"\n[[forms]]\nname = \"f\"\ntitle = \"F\"\n[[forms.fields]]\nname = \"a_b\"\nlabel = \"B\"\ntype = \"code\"\ncode_list = \"none\"\n[[forms.fields]]\nname = \"a_c\"\nlabel = \"\"\ntype = \"integer\"\nmin = 5\nmax = 1\n",
    )
    .unwrap();
    let out = env.run(&["registry", "load", broken.to_str().unwrap()]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    for expected in
        ["forms.f: a form name must be 2 to 64", "\"none\" is not defined", "needs a label", "min is greater than max"]
    {
        assert!(err.contains(expected), "{expected} not in {err}");
    }
    assert!(!ok(&env.run(&["registry", "list"])).contains("x1"));
}

#[test]
fn the_master_key_is_created_owner_only_and_refused_if_others_can_read_it() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.path().to_str().unwrap()]));
    let key = dir.path().join("master.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    let db = dir.path().join("tessera.db");
    assert_eq!(std::fs::metadata(&db).unwrap().permissions().mode() & 0o777, 0o600, "the database too");
    let before = std::fs::read(&key).unwrap();
    // init again never replaces the key.
    ok(&tessera(&config, &["init", "--dir", dir.path().to_str().unwrap()]));
    assert_eq!(std::fs::read(&key).unwrap(), before);
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = tessera(&config, &["registry", "load", registries_dir().join("joints.toml").to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("readable by its owner only"));
}

#[test]
fn synth_refuses_more_patients_than_test_nhs_numbers_with_a_message_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("tessera.toml");
    ok(&tessera(&config, &["init", "--dir", dir.path().to_str().unwrap()]));
    let out_file = dir.path().join("hips.csv");
    let out = tessera(
        &config,
        &[
            "synth",
            "--form",
            "hip_primary",
            "--rows",
            "10",
            "--patients",
            "3000000",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert_eq!(out.status.code(), Some(1), "an error exit, not a panic (101)");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("at most 900000 per registry"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(!out_file.exists(), "nothing is written");
}
