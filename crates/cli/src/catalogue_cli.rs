//! `tessera catalogue …`: load a device catalogue file (CSV) as a new catalogue version, and write
//! the synthetic catalogue as such a file.
//!
//! A file with any problem is refused whole and every problem is printed (row, column, reason);
//! nothing is written. The demo loads the shipped `registries/catalogue.csv` (the synthetic
//! catalogue, written by `tessera catalogue synthetic`) through the same [`load_text`].

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use tessera_domain::Problems;
use tessera_domain::catalogue::{CatalogueProduct, parse_catalogue_csv, write_catalogue_csv};
use tessera_domain::gs1::Gtin;
use tessera_store::{AuditActor, AuditNote, AuditOutcome, CatalogueLoad, Store};
use tessera_synth::catalogue::{Brand, Category, catalogue};

/// The shipped catalogue: the synthetic catalogue's products with realistic details.
pub const SHIPPED_CSV: &str = include_str!("../../../registries/catalogue.csv");

/// `tessera catalogue …`.
#[derive(Debug, clap::Subcommand)]
pub enum CatalogueCommand {
    /// Load a catalogue CSV (columns gtin, manufacturer, brand, model, catalogue_ref, category,
    /// then attributes such as bearing, fixation, material) as a new catalogue version. Any
    /// problem refuses the whole file: every one is listed and nothing is stored (exit status 2).
    Load {
        /// The CSV file.
        file: PathBuf,
    },
    /// Write the synthetic catalogue (the devices `tessera synth` implants) as a catalogue CSV.
    Synthetic {
        /// The CSV file to write.
        out: PathBuf,
    },
}

/// Runs a `tessera catalogue` command.
pub async fn run(config: &Path, command: CatalogueCommand) -> anyhow::Result<ExitCode> {
    match command {
        CatalogueCommand::Load { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let settings = crate::config::Settings::load(config)?;
            let store = Store::connect(&settings.database_url).await.context("opening the database")?;
            let source = file.file_name().map_or_else(|| file.display().to_string(), |n| n.to_string_lossy().into());
            match load_text(&store, &source, &text).await? {
                Ok(load) => {
                    println!("{}", describe(&load));
                    Ok(ExitCode::SUCCESS)
                }
                Err(problems) => {
                    eprintln!("{} is not a valid catalogue; nothing was stored:", file.display());
                    for p in problems.iter() {
                        eprintln!("  {}: {}", p.field, p.reason);
                    }
                    eprintln!("{} problem(s)", problems.len());
                    Ok(ExitCode::from(2))
                }
            }
        }
        CatalogueCommand::Synthetic { out } => {
            std::fs::write(&out, synthetic_csv()).with_context(|| format!("writing {}", out.display()))?;
            println!("wrote {} products to {}", synthetic_products().len(), out.display());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Parses `text` and, if it has no problem, loads it as a new catalogue version audited as
/// `catalogue.load` by the system from the command line. `Ok(Err(problems))`: nothing stored.
pub async fn load_text(store: &Store, source: &str, text: &str) -> anyhow::Result<Result<CatalogueLoad, Problems>> {
    let products = match parse_catalogue_csv(text) {
        Ok(p) => p,
        Err(problems) => return Ok(Err(problems)),
    };
    let note = AuditNote::new(AuditActor::System, "catalogue.load", AuditOutcome::Success).client("cli");
    Ok(Ok(store.load_catalogue(source, None, &products, &note).await?))
}

/// One line saying what a load did.
pub fn describe(load: &CatalogueLoad) -> String {
    format!(
        "catalogue version {}: {} added, {} changed, {} unchanged",
        load.version, load.added, load.changed, load.unchanged
    )
}

/// The demo's step: loads the shipped catalogue unless the catalogue already says the same.
pub async fn load_shipped(store: &Store) -> anyhow::Result<String> {
    let shipped = parse_catalogue_csv(SHIPPED_CSV).map_err(|p| anyhow::anyhow!("shipped catalogue: {p}"))?;
    let mut same = true;
    for p in &shipped {
        let stored = store.product(p.gtin.as_str()).await?;
        if stored.is_none_or(|s| s.version.is_none()) {
            same = false;
            break;
        }
    }
    if same {
        return Ok("catalogue already loaded".into());
    }
    match load_text(store, "registries/catalogue.csv", SHIPPED_CSV).await? {
        Ok(load) => Ok(describe(&load)),
        Err(problems) => anyhow::bail!("shipped catalogue: {problems}"),
    }
}

/// The synthetic catalogue as a catalogue file's text.
pub fn synthetic_csv() -> String {
    write_catalogue_csv(&synthetic_products())
}

/// The synthetic catalogue's products, one per GTIN (size), with a model (the size), a
/// catalogue number (manufacturer prefix and item number from the GTIN) and the bearing,
/// fixation and material a component of its kind plausibly has.
pub fn synthetic_products() -> Vec<CatalogueProduct> {
    catalogue()
        .iter()
        .flat_map(|b| {
            b.gtins.iter().enumerate().map(move |(size, gtin)| {
                let (bearing, fixation, material) = details(b);
                let attributes = [("bearing", bearing), ("fixation", fixation), ("material", material)]
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                let prefix: String =
                    b.manufacturer.chars().filter(char::is_ascii_alphabetic).take(3).collect::<String>().to_uppercase();
                CatalogueProduct {
                    gtin: Gtin::parse(gtin).expect("synthetic GTINs have check digits"),
                    manufacturer: b.manufacturer.to_owned(),
                    brand: b.name.to_owned(),
                    model: Some(model(b.category, size)),
                    catalogue_ref: Some(format!("{prefix}-{}-{:02}", &gtin[8..13], size + 1)),
                    category: b.category.label().to_owned(),
                    attributes,
                }
            })
        })
        .collect()
}

/// The size a GTIN of a brand stands for.
fn model(category: Category, size: usize) -> String {
    use Category::*;
    match category {
        AcetabularCup | AcetabularLiner => format!("{} mm", 46 + 2 * size),
        FemoralHead => format!("{} mm, {}", [28, 32, 36, 40][size % 4], ["short", "medium"][size / 4 % 2]),
        BreastImplant => format!("{} cc", 200 + 50 * size),
        KneeTibialTray | KneeInsert | KneeFemoral | KneeUnicompartmental => format!("Size {}", size + 1),
        KneePatella => format!("{} mm", 26 + 3 * size),
        HipStem => format!("Size {}", size + 1),
    }
}

/// Bearing, fixation and material for a brand (empty where the attribute does not apply).
fn details(b: &Brand) -> (&'static str, &'static str, &'static str) {
    use Category::*;
    let name = b.name;
    match b.category {
        HipStem if name.contains("Taper") => ("", "Cemented", "Stainless steel"),
        HipStem => ("", "Uncemented", "Titanium alloy, hydroxyapatite coated"),
        AcetabularCup if name.contains("MoM") => ("Metal-on-metal", "Uncemented", "Cobalt chrome"),
        AcetabularCup if name.contains("Cemented") => {
            ("Metal-on-polyethylene", "Cemented", "Highly cross-linked polyethylene")
        }
        AcetabularCup => ("Ceramic-on-polyethylene", "Uncemented", "Titanium alloy shell"),
        AcetabularLiner => ("", "", "Highly cross-linked polyethylene"),
        FemoralHead if name.contains("Ceramic") => ("", "", "Alumina matrix composite ceramic"),
        FemoralHead => ("", "", "Cobalt chrome"),
        KneeFemoral => ("", "Cemented", "Cobalt chrome"),
        KneeTibialTray => ("Fixed bearing", "Cemented", "Titanium alloy"),
        KneeInsert => ("Fixed bearing", "", "Highly cross-linked polyethylene"),
        KneePatella => ("", "Cemented", "Polyethylene"),
        KneeUnicompartmental => ("Mobile bearing", "Cemented", "Cobalt chrome"),
        BreastImplant if name.contains("Textured") => ("", "", "Cohesive silicone gel, textured shell"),
        BreastImplant if name.contains("Smooth") => ("", "", "Silicone gel, smooth shell"),
        BreastImplant => ("", "", "Silicone gel"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_catalogue_is_the_synthetic_one_written_out() {
        // Regenerate with `tessera catalogue synthetic registries/catalogue.csv`.
        assert_eq!(SHIPPED_CSV, synthetic_csv());
    }

    #[test]
    fn every_synthetic_gtin_is_in_the_catalogue_once() {
        let products = synthetic_products();
        let gtins: std::collections::BTreeSet<&str> = products.iter().map(|p| p.gtin.as_str()).collect();
        assert_eq!(gtins.len(), products.len());
        let synth: usize = catalogue().iter().map(|b| b.gtins.len()).sum();
        assert_eq!(products.len(), synth);
        assert_eq!(parse_catalogue_csv(&synthetic_csv()).expect("valid"), products);
    }
}
