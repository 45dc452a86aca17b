//! Outcome statistics on synthetic registries: the planted poor-performing brands and the planted
//! outlier hospital are found, nothing else beyond chance, and the same report comes out of
//! SQLite and PostgreSQL.

use tessera::synth_run::synth_to_store;
use tessera_domain::funnel::FunnelPosition;
use tessera_domain::{Dictionary, RegistryId};
use tessera_report::{Audience, RegistryReport, Settings};
use tessera_store::Store;
use tessera_synth::{SynthConfig, World};
use tessera_testkit::TestDb;
use tessera_vault::MasterKey;
use time::macros::date;

const JOINTS: &str = include_str!("../../../registries/joints.toml");
const BREAST: &str = include_str!("../../../registries/breast.toml");

async fn synthesised(db: &TestDb, patients: u64, seed: u64) -> (Store, MasterKey, World) {
    let store = Store::connect(db.url()).await.unwrap();
    let master = MasterKey::generate().unwrap();
    for text in [JOINTS, BREAST] {
        store.load_dictionary(&Dictionary::from_toml(text).unwrap(), "toml", &master, &[]).await.unwrap();
    }
    let world = World::new(SynthConfig::new(patients, seed));
    synth_to_store(&store, &master, &world, date!(2026 - 11 - 30), false).await.unwrap();
    (store, master, world)
}

async fn report(store: &Store, master: &MasterKey, registry: &str) -> RegistryReport {
    tessera_report::load(store, master, &RegistryId::parse(registry).unwrap(), None, &Settings::default())
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn planted_poor_performers_and_the_outlier_hospital_are_found_and_nothing_else_beyond_chance() {
    let db = TestDb::sqlite();
    let started = std::time::Instant::now();
    let (store, master, world) = synthesised(&db, 120_000, 7).await;
    println!("synthesised in {:.1} s", started.elapsed().as_secs_f64());
    let poor: Vec<&str> = world.brands().iter().filter(|b| b.is_poor_performer()).map(|b| b.name).collect();
    assert_eq!(poor.len(), 3);

    for registry in ["njr", "bcir"] {
        let started = std::time::Instant::now();
        let r = report(&store, &master, registry).await;
        println!("{registry}: report built in {:.1} s", started.elapsed().as_secs_f64());
        assert!(r.unreadable.is_empty(), "{:?}", r.unreadable);
        for o in &r.outliers {
            println!(
                "{registry}: {:<34} {:<24} primaries {:>6} rate {:.3} (group {:.3}) NJR {} AOANJRR {}",
                o.name, o.group, o.primaries, o.rate.per_100_years, o.njr_group_rate, o.njr_level1, o.aoanjrr
            );
            let planted = poor.contains(&o.name.as_str());
            assert_eq!(o.njr_level1, planted, "NJR Level 1 on {}", o.name);
            assert_eq!(o.aoanjrr, planted, "AOANJRR on {}", o.name);
        }
        let flagged: usize = r.outliers.iter().filter(|o| o.njr_level1 || o.aoanjrr).count();
        println!("{registry}: {flagged} of {} components flagged", r.outliers.len());
    }

    // Hospitals: the planted one lies above the 99.8% limit; the others only as chance allows.
    let r = report(&store, &master, "njr").await;
    let outlier_ods = world.organisations[world.outlier].ods.as_str();
    let mut counts = std::collections::BTreeMap::new();
    for u in &r.funnel {
        let (ods, _) = r.organisation(u.organisation);
        if ods == outlier_ods {
            println!(
                "planted outlier {ods}: O {} E {:.1} O/E {:.2} {:?}",
                u.observed,
                u.expected,
                u.ratio(),
                u.position
            );
            assert_eq!(u.position, Some(FunnelPosition::Above998));
        } else {
            *counts.entry(format!("{:?}", u.position)).or_insert(0usize) += 1;
        }
    }
    let others: usize = counts.values().sum();
    println!("other organisations ({others}): {counts:?}");
    let n = |k: &str| counts.get(k).copied().unwrap_or(0);
    // Under the null each of the four tails holds 2.5% (95%) or 0.1% (99.8%) of units: with ~150
    // units about 3.7 beyond each 95% limit and 0.15 beyond each 99.8% limit. Allow what a
    // binomial count reaches 999 times in 1000.
    assert!(n("Some(Above998)") <= 2, "{counts:?}");
    assert!(n("Some(Below998)") <= 2, "{counts:?}");
    assert!(n("Some(Above95)") + n("Some(Above998)") <= 10, "{counts:?}");
    assert!(n("Some(Below95)") + n("Some(Below998)") <= 10, "{counts:?}");
    let signalled: Vec<&str> =
        r.cusums.iter().filter(|c| !c.cusum.signals.is_empty()).map(|c| r.organisation(c.organisation).0).collect();
    println!(
        "CUSUM (h = {}) signalled at {} of {}: {signalled:?}",
        r.settings.cusum_h,
        signalled.len(),
        r.cusums.len()
    );
    assert!(signalled.contains(&outlier_ods), "the planted hospital's CUSUM signals");

    // The published folder: every chart and its CSV, and no count below 5 in the clear.
    let dir = tempfile::tempdir().unwrap();
    let files = tessera_report::write_folder(&r, dir.path(), Audience::Published).unwrap();
    assert!(files.iter().any(|f| f.ends_with("funnel.svg")));
    assert!(files.iter().any(|f| f.ends_with("hip-brand-acetabular-cup.svg")));
    assert!(files.iter().any(|f| f.ends_with("index.html")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_report_comes_out_of_sqlite_and_postgresql_to_the_last_bit() {
    let (sqlite, postgres) = (TestDb::sqlite(), TestDb::postgres().await);
    let mut reports = Vec::new();
    for db in [&sqlite, &postgres] {
        let (store, master, _) = synthesised(db, 20_000, 3).await;
        reports.push(report(&store, &master, "njr").await.to_json(Audience::Analyst));
    }
    assert_eq!(reports[0], reports[1]);
    assert!(reports[0]["sites"][0]["primaries"].as_u64().unwrap() > 5_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_small_registry_the_published_report_hides_small_groups_everywhere() {
    let db = TestDb::sqlite();
    let (store, master, _) = synthesised(&db, 1_500, 9).await;
    for registry in ["njr", "bcir"] {
        let r = report(&store, &master, registry).await;
        let json = r.to_json(Audience::Published);
        assert!(tessera_testkit::no_small_count(&json) > 20);
        let mut hidden_groups = 0;
        for (site, site_json) in r.sites.iter().zip(json["sites"].as_array().unwrap()) {
            for (section, section_json) in site.sections.iter().zip(site_json["sections"].as_array().unwrap()) {
                let csv = tessera_charts::km_csv(&r.km_chart(section, Audience::Published));
                for g in section_json["groups"].as_array().unwrap() {
                    if g["revisions"].is_number() {
                        continue;
                    }
                    hidden_groups += 1;
                    let label = g["label"].as_str().unwrap();
                    assert!(!csv.lines().any(|l| l.starts_with(&format!("{label},"))), "{label} has a curve");
                    let cells = g["cumulative_percent_revision"].as_array().unwrap();
                    assert!(cells.iter().all(|c| c["estimate"].is_null()), "{label} has percentages");
                    assert!(g["revisions_per_100_component_years"].is_null());
                }
            }
        }
        // Hidden funnel units are neither listed nor drawn.
        let funnel = tessera_charts::funnel_csv(&r.funnel_chart(Audience::Published));
        let listed: Vec<&str> =
            json["funnel"]["units"].as_array().unwrap().iter().map(|u| u["ods_code"].as_str().unwrap()).collect();
        for (ods, _) in &r.organisations {
            if !listed.contains(&ods.as_str()) {
                let on_plot = funnel.lines().skip(1).any(|l| {
                    let label = l.split(',').next().unwrap_or_default().trim_matches('"');
                    label == ods || label.ends_with(&format!("({ods})"))
                });
                assert!(!on_plot, "hidden organisation {ods} is on the funnel plot");
            }
        }
        assert!(json["funnel"]["not_plotted_revisions_hidden"].as_u64().unwrap() > 0);
        // CUSUM paths are for analysts only.
        assert!(
            r.cusums.iter().all(|c| r.cusum_chart(r.organisation(c.organisation).0, Audience::Published).is_none())
        );
        println!("{registry}: {hidden_groups} hidden groups");
        if registry == "njr" {
            assert!(hidden_groups > 0, "a registry this small has groups with fewer than 5 revisions");
        }
    }
}
