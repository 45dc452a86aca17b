//! Recalls over a synthetic world written by the same path as `tessera synth`: the units a recall
//! reaches, and which of them were revised, belong to patients who died or opted out, are worked
//! out independently from the in-memory synthetic patients and must equal the store's counts and
//! worklists exactly, on both databases.

use std::collections::BTreeMap;

use tessera::synth_run::synth_to_store;
use tessera_domain::access::{Grant, Grants, Principal, Role, RunRecalls, Scope};
use tessera_domain::outcomes::{OutcomeSpec, ProcedureKind};
use tessera_domain::recall::{RecallCriteria, RecallInput};
use tessera_domain::{Dictionary, OdsCode, RegistryId};
use tessera_store::{AuditActor, AuditNote, AuditOutcome, NewRecall, Store};
use tessera_synth::{SynthConfig, World, ods};
use tessera_testkit::{TestDb, on_both_databases};
use tessera_vault::MasterKey;
use time::Date;
use time::macros::date;

const JOINTS: &str = include_str!("../../../registries/joints.toml");
const BREAST: &str = include_str!("../../../registries/breast.toml");
const PATIENTS: u64 = 4_000;
const SEED: u64 = 11;

on_both_databases!(every_planted_unit_is_found_with_its_revision_death_and_opt_out);

/// One unit the recall should reach, as the synthetic world knows it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Expected {
    nhs: Option<String>,
    gtin: String,
    lot: String,
    implanted_on: Date,
    revised_on: Option<Date>,
    deceased_on: Option<Date>,
    opted_out: bool,
}

/// Every implanted unit of the world matching `criteria`, by (registry, organisation): read from
/// the synthetic patients' own records, revision by the same patient, site and side strictly
/// later.
fn expected(world: &World, criteria: &RecallCriteria) -> BTreeMap<(String, String), Vec<Expected>> {
    let mut out: BTreeMap<(String, String), Vec<Expected>> = BTreeMap::new();
    for i in 0..world.config().patients {
        let p = world.patient(i);
        let spec = OutcomeSpec::shipped(p.registry).expect("shipped registry");
        let operation = |r: &tessera_synth::SynthRecord| {
            let form = spec.form(r.form)?;
            let values: Vec<(String, String)> = r.fields.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect();
            Some((form.site.clone(), form.read(&values).expect("synthetic operation reads")))
        };
        let revisions: Vec<(String, String, Date)> = p
            .records
            .iter()
            .filter_map(operation)
            .filter(|(_, f)| f.kind == ProcedureKind::Revision)
            .map(|(site, f)| (site, f.side, f.date))
            .collect();
        for r in &p.records {
            for unit in &r.implants {
                let in_lots = criteria.lots.is_empty() || criteria.lots.contains(&unit.lot);
                if !criteria.gtins.contains(&unit.gtin) || !in_lots {
                    continue;
                }
                let (site, facts) = operation(r).expect("implants come with an operation");
                let revised_on = revisions
                    .iter()
                    .filter(|(s, side, d)| *s == site && *side == facts.side && *d > facts.date)
                    .map(|(_, _, d)| *d)
                    .min();
                out.entry((p.registry.to_owned(), ods(world, r.organisation).to_string())).or_default().push(
                    Expected {
                        nhs: (p.consent == "given").then(|| p.nhs_number.digits()),
                        gtin: unit.gtin.clone(),
                        lot: unit.lot.clone(),
                        implanted_on: facts.date,
                        revised_on,
                        deceased_on: p.date_of_death,
                        opted_out: p.opted_out,
                    },
                );
            }
        }
    }
    for units in out.values_mut() {
        units.sort();
    }
    out
}

fn grants(role: Role, registry: &str, scope: Scope) -> Grants {
    Grants::new(
        Principal::User("officer".into()),
        vec![Grant {
            id: "g".into(),
            registry: RegistryId::parse(registry).unwrap(),
            role,
            scope,
            expires_at: i64::MAX,
        }],
    )
}

fn run_both() -> RunRecalls {
    let g = Grants::new(
        Principal::User("officer".into()),
        ["njr", "bcir"]
            .map(|r| Grant {
                id: r.into(),
                registry: RegistryId::parse(r).unwrap(),
                role: Role::SafetyOfficer,
                scope: Scope::All,
                expires_at: i64::MAX,
            })
            .to_vec(),
    );
    g.recalls().unwrap()
}

fn note(action: &str) -> AuditNote {
    AuditNote::new(AuditActor::User("officer".into()), action, AuditOutcome::Success)
}

/// Checks the store's counts and every organisation's worklist against `expected`.
async fn check(
    store: &Store,
    master: &MasterKey,
    id: uuid::Uuid,
    expected: &BTreeMap<(String, String), Vec<Expected>>,
) {
    let counts = store.recall_counts(&run_both(), id).await.unwrap();
    let all: Vec<&Expected> = expected.values().flatten().collect();
    let n = |f: fn(&Expected) -> bool| all.iter().filter(|e| f(e)).count() as u64;
    assert_eq!(
        (counts.total, counts.revised, counts.implanted, counts.deceased, counts.alive, counts.opted_out),
        (
            all.len() as u64,
            n(|e| e.revised_on.is_some()),
            n(|e| e.revised_on.is_none()),
            n(|e| e.deceased_on.is_some()),
            n(|e| e.deceased_on.is_none()),
            n(|e| e.opted_out)
        )
    );
    let per: Vec<(String, String, u64, u64, u64, u64)> = counts
        .per_org
        .iter()
        .map(|o| (o.registry.clone(), o.organisation.clone(), o.total, o.revised, o.deceased, o.opted_out))
        .collect();
    let want: Vec<(String, String, u64, u64, u64, u64)> = expected
        .iter()
        .map(|((r, o), units)| {
            let c = |f: fn(&Expected) -> bool| units.iter().filter(|e| f(e)).count() as u64;
            (
                r.clone(),
                o.clone(),
                units.len() as u64,
                c(|e| e.revised_on.is_some()),
                c(|e| e.deceased_on.is_some()),
                c(|e| e.opted_out),
            )
        })
        .collect();
    assert_eq!(per, want);
    let mut org_totals: BTreeMap<String, u64> = BTreeMap::new();
    for ((_, o), units) in expected {
        *org_totals.entry(o.clone()).or_default() += units.len() as u64;
    }
    assert_eq!(store.recall_org_counts(&run_both(), id).await.unwrap(), org_totals.into_iter().collect::<Vec<_>>());

    for ((registry, org), units) in expected {
        let registry_id = RegistryId::parse(registry).unwrap();
        let (_, cipher) = store.registry_cipher(&registry_id, master).await.unwrap();
        let code = OdsCode::parse(org).unwrap();
        let read =
            grants(Role::Viewer, registry, Scope::Organisation(code.clone())).records_read(&registry_id).unwrap();
        let list = store.recall_worklist(&read, &cipher, id, &code, &note("recall.worklist")).await.unwrap();
        let mut got: Vec<Expected> = list
            .iter()
            .map(|r| Expected {
                nhs: r.nhs_number.as_ref().map(|n| n.digits()),
                gtin: r.gtin.clone(),
                lot: r.lot.clone().expect("synthetic units have lots"),
                implanted_on: r.implanted_on.expect("synthetic units have an implant date"),
                revised_on: r.revised_on,
                deceased_on: r.deceased_on,
                opted_out: r.opted_out,
            })
            .collect();
        got.sort();
        assert_eq!(&got, units, "worklist of {registry} {org}");
        assert!(list.iter().all(|r| !r.joined_after_opening), "every unit was there before the recall");
    }
}

async fn every_planted_unit_is_found_with_its_revision_death_and_opt_out(db: &TestDb) {
    let store = Store::connect(db.url()).await.unwrap();
    let master = MasterKey::generate().unwrap();
    for text in [JOINTS, BREAST] {
        store.load_dictionary(&Dictionary::from_toml(text).unwrap(), "toml", &master, &[]).await.unwrap();
    }
    let world = World::new(SynthConfig::new(PATIENTS, SEED));
    synth_to_store(&store, &master, &world, date!(2026 - 11 - 30), false).await.unwrap();

    // Units of every GTIN, so the recall can be planted where revisions, deaths and opt-outs all
    // occur: the GTIN with most units among those that have all three.
    let gtins: Vec<String> = world.brands().iter().flat_map(|b| b.gtins.iter().cloned()).collect();
    let whole = |gtin: &str| {
        let (_, c) = RecallInput { reference: "x", title: "x", manufacturer: "x", gtins: gtin, ..Default::default() }
            .parse()
            .unwrap();
        c
    };
    let (gtin, planted) = gtins
        .iter()
        .map(|g| (g.clone(), expected(&world, &whole(g))))
        .filter(|(_, e)| {
            let all: Vec<&Expected> = e.values().flatten().collect();
            all.iter().any(|u| u.revised_on.is_some())
                && all.iter().any(|u| u.deceased_on.is_some())
                && all.iter().any(|u| u.opted_out)
                && all.iter().any(|u| u.nhs.is_none())
        })
        .max_by_key(|(_, e)| e.values().map(Vec::len).sum::<usize>())
        .expect("a GTIN with revised, deceased, opted-out and anonymous patients");
    let total: usize = planted.values().map(Vec::len).sum();
    println!("GTIN {gtin}: {total} units at {} organisations", planted.len());
    assert!(total >= 50, "a recall worth the name: {total}");

    let officer = run_both();
    let (header, criteria) = RecallInput {
        reference: "FSN-WHOLE",
        title: "Whole GTIN",
        manufacturer: "Synthetic",
        gtins: &gtin,
        ..Default::default()
    }
    .parse()
    .unwrap();
    let id = store.create_recall(&officer, &NewRecall { header, criteria }, &note("recall.create")).await.unwrap();
    check(&store, &master, id, &planted).await;

    // A batch recall: the three lots of that GTIN with most units.
    let mut lots: BTreeMap<String, usize> = BTreeMap::new();
    for u in planted.values().flatten() {
        *lots.entry(u.lot.clone()).or_default() += 1;
    }
    let mut lots: Vec<(String, usize)> = lots.into_iter().collect();
    lots.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let lots: Vec<String> = lots.into_iter().take(3).map(|(l, _)| l).collect();
    let lot_text = lots.join("\n");
    let (header, criteria) = RecallInput {
        reference: "FSN-BATCH",
        title: "Three batches",
        manufacturer: "Synthetic",
        gtins: &gtin,
        lots: &lot_text,
        ..Default::default()
    }
    .parse()
    .unwrap();
    let batch = expected(&world, &criteria);
    let batch_total: usize = batch.values().map(Vec::len).sum();
    println!("lots {lots:?}: {batch_total} units");
    assert!(batch_total >= 3 && batch_total < total, "{batch_total} of {total}");
    let id = store.create_recall(&officer, &NewRecall { header, criteria }, &note("recall.create")).await.unwrap();
    check(&store, &master, id, &batch).await;
}
