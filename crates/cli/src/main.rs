//! The `tessera` command.

#![forbid(unsafe_code)]

use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, bail};
use clap::{Parser, Subcommand, ValueEnum};
use tessera::config::{CONFIG_FILE, Settings, write_new_master_key};
use tessera::import::{ImportOptions, ImportOutcome, import_csv};
use tessera::synth_run::{synth_form_csv, synth_to_csv, synth_to_store};
use tessera::{shipped, today};
use tessera_domain::dictionary::RegistryMeta;
use tessera_domain::{Dictionary, RegistryId};
use tessera_store::{LoadOutcome, Store};
use tessera_synth::{SynthConfig, World};

/// Tessera: an open, secure platform for national clinical outcome registries.
/// mimalloc: imports allocate many small buffers on several threads, where glibc's allocator
/// spent a fifth of the CPU time (measured with perf).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// The configuration file (default: ./tessera.toml, else ./.tessera/tessera.toml as written
    /// by `tessera init` and `tessera demo`).
    #[arg(long, global = true, env = "TESSERA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

/// `tessera operator …`.
#[derive(Debug, clap::Subcommand)]
enum OperatorCommand {
    /// Email a single-use invitation to become a platform operator. Only those who run the
    /// service (with the configuration and master key) can do this; operators read no patient
    /// data, and two of them are needed to approve a registry's first controller.
    Invite {
        /// The person's email address.
        #[arg(long)]
        email: String,
        /// The person's name.
        #[arg(long)]
        name: String,
        /// The address people reach Tessera at, for the link (default: `web.public_url`, else
        /// http://localhost and the port of `web.listen`).
        #[arg(long)]
        public_url: Option<String>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Create a configuration, a master key (mode 0600) and the database. Never overwrites a key.
    Init {
        /// Directory for the configuration, key and SQLite database.
        #[arg(long, default_value = ".tessera")]
        dir: PathBuf,
        /// Use this database instead of SQLite in `dir` (e.g. postgres://…).
        #[arg(long)]
        database_url: Option<String>,
    },
    /// Registries and their data dictionaries.
    Registry {
        #[command(subcommand)]
        command: RegistryCommand,
    },
    /// Organisations (hospitals) that submit to registries.
    Organisations {
        #[command(subcommand)]
        command: OrganisationsCommand,
    },
    /// Import a CSV of one form's records: all or nothing unless --allow-partial.
    Import {
        /// Registry id, e.g. njr.
        registry: String,
        /// Form name, e.g. hip_primary.
        form: String,
        /// The CSV file.
        file: PathBuf,
        /// Store the good rows even when some rows are bad.
        #[arg(long)]
        allow_partial: bool,
        /// Submission id (default: SHA-256 of registry, form and file). Re-importing one id does nothing.
        #[arg(long)]
        submission_id: Option<String>,
        /// Also write every problem (line, field, reason) to this CSV file.
        #[arg(long)]
        report: Option<PathBuf>,
        /// Show a progress bar.
        #[arg(long)]
        progress: bool,
    },
    /// Generate realistic, reproducible synthetic data.
    Synth {
        /// Number of patients across both registries.
        #[arg(long, default_value_t = 10_000)]
        patients: u64,
        /// Random seed: the same seed gives the same data.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Write import-ready CSV files into this directory instead of the database.
        #[arg(long)]
        csv: Option<PathBuf>,
        /// With --out: write only this form (of whichever shipped registry has it), and
        /// organisations.csv beside it.
        #[arg(long, requires = "out")]
        form: Option<String>,
        /// With --form: the number of rows to write.
        #[arg(long, requires = "form")]
        rows: Option<u64>,
        /// With --form: the CSV file to write.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Share of joint patients whose first joint is a hip.
        #[arg(long, default_value_t = 0.46)]
        hip_share: f64,
        /// Share of patients in the breast implant registry.
        #[arg(long, default_value_t = 0.15)]
        breast_share: f64,
        /// Share of joint patients who have a second joint replaced.
        #[arg(long, default_value_t = 0.25)]
        second_joint_share: f64,
        /// Show a progress bar.
        #[arg(long)]
        progress: bool,
    },
    /// Counts of records and patients per registry, organisation and form.
    Stats,
    /// Write a registry's outcome report to a folder: cumulative percent revision by brand,
    /// combination and attribute, implant outliers, the hospital funnel plot and CUSUMs, as SVG
    /// charts with their CSV, report.json and a summary index.html.
    Report {
        /// Registry id, e.g. njr.
        registry: String,
        /// The folder to write (created if missing).
        #[arg(long, default_value = "report")]
        out: PathBuf,
        /// Who the report is for: `published` suppresses counts below 5 (with secondary
        /// suppression); `analyst` shows every count.
        #[arg(long, default_value = "published", value_parser = ["published", "analyst"])]
        audience: String,
        /// Data cut-off (YYYY-MM-DD); default: the latest operation date recorded.
        #[arg(long)]
        cutoff: Option<String>,
    },
    /// Kaplan–Meier (per group), the log-rank test (optionally stratified) and, with
    /// `--covariates`, a Cox model, on any CSV, printed as JSON. Rows with a missing value in a
    /// column used are left out and counted.
    Survival {
        /// The CSV file.
        file: PathBuf,
        /// Column of times (0 or more).
        #[arg(long)]
        time: String,
        /// Column of event indicators (1/0, true/false, yes/no).
        #[arg(long)]
        event: String,
        /// Column to group by.
        #[arg(long)]
        group: Option<String>,
        /// Column to stratify the log-rank test (and the Cox model) by.
        #[arg(long)]
        strata: Option<String>,
        /// Scale of the confidence limits.
        #[arg(long, value_enum, default_value = "log")]
        conf_type: ConfTypeArg,
        /// Confidence level.
        #[arg(long, default_value_t = 0.95)]
        conf_level: f64,
        /// Numeric columns to fit a Cox proportional hazards model on, comma-separated.
        #[arg(long, value_delimiter = ',')]
        covariates: Vec<String>,
        /// How the Cox model handles tied event times.
        #[arg(long, value_enum, default_value = "efron")]
        ties: TiesArg,
    },
    /// Platform operators: invite another (the second operator is what lets a registry get its
    /// first controller, which needs two operators' approval).
    Operator {
        #[command(subcommand)]
        command: OperatorCommand,
    },
    /// The tamper-evident audit trail: verify, checkpoint, export, verify an export offline.
    Audit {
        #[command(subcommand)]
        command: tessera::audit_cli::AuditCommand,
    },
    /// The device catalogue: `tessera catalogue load <file.csv>` adds a catalogue version.
    Catalogue {
        #[command(subcommand)]
        command: tessera::catalogue_cli::CatalogueCommand,
    },
    /// GS1 barcodes: `tessera gs1 parse <input>` shows what Tessera reads from a scan.
    Gs1 {
        #[command(subcommand)]
        command: tessera::gs1_cli::Gs1Command,
    },
    /// Run the web server (pages and JSON API) until interrupted. While no account exists it
    /// prints a single-use bootstrap link for the first platform operator.
    Serve {
        /// Address to listen on (overrides the settings; default 127.0.0.1:8080).
        #[arg(long)]
        listen: Option<String>,
    },
    /// The demonstration: init, load both shipped registries, synthesise patients, print stats,
    /// then run the web server. Safe to run again: each step is skipped when already done.
    Demo {
        /// Directory for the configuration, key and database.
        #[arg(long, default_value = ".tessera")]
        dir: PathBuf,
        /// Number of synthetic patients.
        #[arg(long, default_value_t = 100_000)]
        patients: u64,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Address for the web server.
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Stop after loading the data, without starting the web server.
        #[arg(long)]
        no_serve: bool,
    },
}

#[derive(Subcommand)]
enum RegistryCommand {
    /// Load a dictionary: creates the registry, or adds a version if it changed.
    Load {
        /// A TOML dictionary or a REDCap-style CSV data dictionary.
        file: PathBuf,
        /// The file's format (default: by extension).
        #[arg(long, value_enum)]
        format: Option<Format>,
        /// For REDCap CSV: the registry id.
        #[arg(long)]
        id: Option<String>,
        /// For REDCap CSV: the registry name.
        #[arg(long)]
        name: Option<String>,
        /// For REDCap CSV: identifiers only with consent.
        #[arg(long)]
        consent_required: bool,
        /// For REDCap CSV: a form that records implants (repeatable).
        #[arg(long = "implant-form")]
        implant_forms: Vec<String>,
    },
    /// List registries and their current dictionary versions.
    List,
}

#[derive(Subcommand)]
enum OrganisationsCommand {
    /// Add or update organisations from a CSV with columns ods_code,name,kind,region
    /// (kind: nhs or independent), in one transaction.
    Load {
        /// The CSV file.
        file: PathBuf,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ConfTypeArg {
    Plain,
    Log,
    #[value(name = "log-log")]
    LogLog,
}

#[derive(Clone, Copy, ValueEnum)]
enum TiesArg {
    Efron,
    Breslow,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Toml,
    Redcap,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("TESSERA_LOG").unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open(config: &Path) -> anyhow::Result<(Settings, Store)> {
    let settings = Settings::load(config)?;
    let store = Store::connect(&settings.database_url).await.context("opening the database")?;
    Ok((settings, store))
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let config = cli.config.clone().unwrap_or_else(|| {
        let here = PathBuf::from(CONFIG_FILE);
        let init_default = Path::new(".tessera").join(CONFIG_FILE);
        if !here.exists() && init_default.exists() { init_default } else { here }
    });
    let cli = Cli { config: Some(config), ..cli };
    let config_path = cli.config.as_deref().expect("resolved above");
    match cli.command {
        Command::Init { dir, database_url } => {
            init(&dir, database_url).await?;
        }
        Command::Registry {
            command: RegistryCommand::Load { file, format, id, name, consent_required, implant_forms },
        } => {
            let (settings, store) = open(config_path).await?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let redcap = match format {
                Some(Format::Redcap) => true,
                Some(Format::Toml) => false,
                None => file.extension().is_some_and(|e| e.eq_ignore_ascii_case("csv")),
            };
            let dict = if redcap {
                let id = id.context("a REDCap CSV needs --id (and --name)")?;
                let meta = RegistryMeta {
                    id: RegistryId::parse(&id).map_err(|e| anyhow::anyhow!("--id: {e}"))?,
                    name: name.context("a REDCap CSV needs --name")?,
                    description: String::new(),
                    consent_required,
                    implant_forms,
                };
                Dictionary::from_redcap_csv(&text, meta)
            } else {
                Dictionary::from_toml(&text)
            };
            let dict = match dict {
                Ok(d) => d,
                Err(tessera_domain::DictionaryError::Invalid(problems)) => {
                    eprintln!("{} is not a valid dictionary:", file.display());
                    for p in problems.iter() {
                        eprintln!("  {}: {}", p.field, p.reason);
                    }
                    return Ok(ExitCode::FAILURE);
                }
                Err(e) => bail!("{}: {e}", file.display()),
            };
            let load = store
                .load_dictionary(
                    &dict,
                    if redcap { "redcap-csv" } else { "toml" },
                    &settings.master_key()?,
                    &[loaded_from_cli()],
                )
                .await?;
            println!("{}", describe_load(&load));
        }
        Command::Registry { command: RegistryCommand::List } => {
            let (_, store) = open(config_path).await?;
            for r in store.registries().await? {
                println!("{}\tv{}\t{}", r.id, r.latest_version, r.name);
            }
        }
        Command::Organisations { command: OrganisationsCommand::Load { file } } => {
            let (_, store) = open(config_path).await?;
            let orgs = tessera::synth_run::read_organisations_csv(&file)?;
            store.upsert_organisations(&orgs).await?;
            println!("loaded {} organisations", orgs.len());
        }
        Command::Import { registry, form, file, allow_partial, submission_id, report, progress } => {
            let (settings, store) = open(config_path).await?;
            let registry = RegistryId::parse(&registry).map_err(|e| anyhow::anyhow!("{e}"))?;
            let opts = ImportOptions { allow_partial, submission_id, today: today(), progress };
            let started = std::time::Instant::now();
            let r = import_csv(&store, &settings.master_key()?, &registry, &form, &file, &opts).await?;
            const SHOWN: usize = 50;
            for p in r.problems.iter().take(SHOWN) {
                eprintln!("line {}: {}: {}", p.line, p.field, p.reason);
            }
            if r.problems.len() > SHOWN {
                eprintln!(
                    "… and {} more problem(s){}",
                    r.problems.len() - SHOWN,
                    if report.is_some() { " (all in the report)" } else { " (use --report FILE for all)" }
                );
            }
            if let Some(path) = report {
                let mut w = csv::Writer::from_path(&path)?;
                w.write_record(["line", "field", "reason"])?;
                for p in &r.problems {
                    w.write_record([p.line.to_string(), p.field.clone(), p.reason.clone()])?;
                }
                w.flush()?;
            }
            let secs = started.elapsed().as_secs_f64();
            match r.outcome {
                ImportOutcome::AlreadyImported(info) => {
                    println!(
                        "submission {} was already imported on {} ({} rows stored); nothing done",
                        r.submission_id,
                        info.created_at.date(),
                        info.rows_stored
                    );
                }
                ImportOutcome::Rejected => {
                    println!(
                        "rejected: {} of {} rows have problems; nothing was stored (fix them, or use --allow-partial)",
                        r.rows_rejected, r.rows_total
                    );
                    return Ok(ExitCode::from(2));
                }
                ImportOutcome::Stored => {
                    println!(
                        "stored {} of {} rows ({} new patients) as submission {} in {secs:.1} s ({:.0} rows/s){}",
                        r.rows_stored,
                        r.rows_total,
                        r.new_patients,
                        r.submission_id,
                        r.rows_total as f64 / secs.max(1e-9),
                        if r.rows_rejected > 0 {
                            format!("; {} rows rejected", r.rows_rejected)
                        } else {
                            String::new()
                        }
                    );
                }
            }
        }
        Command::Synth {
            patients,
            seed,
            csv,
            form,
            rows,
            out,
            hip_share,
            breast_share,
            second_joint_share,
            progress,
        } => {
            let config =
                SynthConfig { hip_share, breast_share, second_joint_share, ..SynthConfig::new(patients, seed) };
            let world = World::new(config);
            let started = std::time::Instant::now();
            if let (Some(form), Some(out)) = (form, out) {
                let dicts = shipped::dictionaries();
                let dict =
                    dicts.iter().find(|d| d.form(&form).is_some()).context("no shipped registry has that form")?;
                let n = synth_form_csv(&world, dict, &form, rows.unwrap_or(patients), &out)?;
                println!(
                    "wrote {} rows of {form} ({n} patients) to {} in {:.1} s",
                    rows.unwrap_or(patients),
                    out.display(),
                    started.elapsed().as_secs_f64()
                );
            } else if let Some(dir) = csv {
                for (path, n) in synth_to_csv(&world, &shipped::dictionaries(), &dir)? {
                    println!("{n}\t{}", path.display());
                }
            } else {
                let (settings, store) = open(config_path).await?;
                let s = synth_to_store(&store, &settings.master_key()?, &world, today(), progress).await?;
                report_synth(&s, started);
            }
        }
        Command::Stats => {
            let (_, store) = open(config_path).await?;
            print_stats(&store).await?;
        }
        Command::Report { registry, out, audience, cutoff } => {
            let (settings, store) = open(config_path).await?;
            let audience = tessera_report::Audience::parse(&audience).context("audience")?;
            let written =
                tessera::report_run::run(&settings, &store, &registry, &out, audience, cutoff.as_deref()).await?;
            println!("wrote {} files to {}; open {}", written, out.display(), out.join("index.html").display());
        }
        Command::Survival { file, time, event, group, strata, conf_type, conf_level, covariates, ties } => {
            use tessera_domain::survival::ConfType;
            let conf = match conf_type {
                ConfTypeArg::Plain => ConfType::Plain,
                ConfTypeArg::Log => ConfType::Log,
                ConfTypeArg::LogLog => ConfType::LogLog,
            };
            let out = tessera::survival_cli::run(&tessera::survival_cli::SurvivalArgs {
                file: &file,
                time: &time,
                event: &event,
                group: group.as_deref(),
                strata: strata.as_deref(),
                conf,
                level: conf_level,
                covariates: &covariates,
                ties: match ties {
                    TiesArg::Efron => tessera_domain::cox::Ties::Efron,
                    TiesArg::Breslow => tessera_domain::cox::Ties::Breslow,
                },
            })?;
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        Command::Audit { command } => return tessera::audit_cli::run(config_path, command).await,
        Command::Gs1 { command } => return tessera::gs1_cli::run(command),
        Command::Catalogue { command } => return tessera::catalogue_cli::run(config_path, command).await,
        Command::Operator { command: OperatorCommand::Invite { email, name, public_url } } => {
            let (settings, store) = open(config_path).await?;
            tessera::server::invite_operator(&settings, store, &email, &name, public_url).await?;
            println!("An invitation to become a platform operator has been emailed to {email}.");
        }
        Command::Serve { listen } => {
            let (settings, store) = open(config_path).await?;
            tessera::server::serve(&settings, store, listen).await?;
        }
        Command::Demo { dir, patients, seed, listen, no_serve } => {
            init(&dir, None).await?;
            let config = dir.join(CONFIG_FILE);
            let (settings, store) = open(&config).await?;
            let master = settings.master_key()?;
            for dict in shipped::dictionaries() {
                println!(
                    "{}",
                    describe_load(&store.load_dictionary(&dict, "toml", &master, &[loaded_from_cli()]).await?)
                );
            }
            println!("{}", tessera::catalogue_cli::load_shipped(&store).await?);
            let world = World::new(SynthConfig::new(patients, seed));
            let started = std::time::Instant::now();
            report_synth(&synth_to_store(&store, &master, &world, today(), true).await?, started);
            print_stats(&store).await?;
            println!(
                "\nDatabase: {}\nRun `tessera --config {} stats` to see these counts again.",
                settings.redacted_database_url(),
                config.display()
            );
            if !no_serve {
                println!("Emails (invitations, resets) go to {} in this demo.\n", dir.join("outbox").display());
                tessera::server::serve(&settings, store, Some(listen)).await?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn report_synth(s: &tessera::synth_run::SynthSummary, started: std::time::Instant) {
    for registry in &s.skipped {
        println!("registry {registry} already holds data: synthesis skipped for it");
    }
    if s.patients > 0 {
        println!(
            "synthesised {} patients, {} records, {} implants in {:.1} s",
            s.patients,
            s.records,
            s.implants,
            started.elapsed().as_secs_f64()
        );
    }
}

/// The audit event of a dictionary loaded from the command line: by the system (whoever holds
/// the configuration and master key), client `cli`; the store adds the registry and version.
fn loaded_from_cli() -> tessera_store::AuditNote {
    tessera_store::AuditNote::new(
        tessera_store::AuditActor::System,
        "dictionary.load",
        tessera_store::AuditOutcome::Success,
    )
    .client("cli")
}

fn describe_load(load: &tessera_store::DictionaryLoad) -> String {
    match load.outcome {
        LoadOutcome::CreatedRegistry => {
            format!("registry {} created with its own data key; dictionary version 1", load.registry)
        }
        LoadOutcome::NewVersion => format!("registry {}: dictionary version {} stored", load.registry, load.version),
        LoadOutcome::Unchanged => {
            format!("registry {}: dictionary unchanged (version {})", load.registry, load.version)
        }
    }
}

async fn init(dir: &Path, database_url: Option<String>) -> anyhow::Result<()> {
    if !dir.exists() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    let config = dir.join(CONFIG_FILE);
    let key = dir.join("master.key");
    if !config.exists() {
        let settings = Settings {
            database_url: database_url.unwrap_or_else(|| "sqlite:tessera.db".into()),
            master_key_file: PathBuf::from("master.key"),
            web: Default::default(),
            audit: Default::default(),
            base_dir: PathBuf::new(),
        };
        std::fs::write(&config, toml::to_string(&settings)?)?;
        println!("wrote {}", config.display());
    }
    if !key.exists() {
        write_new_master_key(&key)?;
        println!(
            "wrote a new master key to {} (mode 0600): back it up; without it the data cannot be read",
            key.display()
        );
    }
    let settings = Settings::load(&config)?;
    settings.master_key()?;
    // The database holds pseudonymous clinical data: owner-only, like the key. SQLite gives its
    // -wal and -shm files the main file's permissions.
    if let Some(path) = settings.database_url.strip_prefix("sqlite:") {
        let path = Path::new(path.trim_start_matches("//"));
        if !path.exists() {
            std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
        }
    }
    Store::connect(&settings.database_url).await.context("creating the database")?.close().await;
    Ok(())
}

async fn print_stats(store: &Store) -> anyhow::Result<()> {
    let rows = store.stats().await?;
    let mut per_registry: std::collections::BTreeMap<(String, String), (i64, i64)> = Default::default();
    let mut orgs: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> = Default::default();
    for r in &rows {
        let e = per_registry.entry((r.registry.clone(), r.form.clone())).or_default();
        e.0 += r.records;
        orgs.entry(r.registry.clone()).or_default().insert(r.organisation.clone());
    }
    println!("{:<8} {:<20} {:>10}", "registry", "form", "records");
    for ((registry, form), (records, _)) in &per_registry {
        println!("{registry:<8} {form:<20} {records:>10}");
    }
    for (registry, o) in &orgs {
        println!("{registry}: records from {} organisations", o.len());
    }
    println!("\nper organisation (registry, organisation, form, records, patients):");
    for r in rows {
        println!("{}\t{}\t{}\t{}\t{}", r.registry, r.organisation, r.form, r.records, r.patients);
    }
    Ok(())
}
