//! `tessera audit …` and the server's checkpointing: signed checkpoints of the audit log, made
//! every N events or T seconds, stored in the database and appended to a file outside it;
//! verification of the stored log against both; export; and the offline verifier, which needs
//! only an export and the public key.
//!
//! The checkpoint-signing key is Ed25519, derived from the master key
//! ([`tessera_vault::MasterKey::audit_signing_seed`]), so every server sharing the master key
//! signs with the same key and `tessera audit public-key` prints the one key auditors need.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use clap::Subcommand;
use serde::{Deserialize, Serialize};
use tessera_audit::{Checkpoint, Position, SignedCheckpoint, SigningKey, VerifyingKey};
use tessera_store::{AuditFault, AuditTree, Store};
use tessera_vault::MasterKey;

use crate::config::Settings;

/// The `[audit]` section of the settings.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct AuditSettings {
    /// The file outside the database that every checkpoint is appended to (default
    /// `audit-checkpoints.txt` beside the configuration). Keep it where a database
    /// administrator cannot write, or copy it off the machine.
    pub checkpoint_file: Option<PathBuf>,
    /// A checkpoint at least every this many events (default 1000).
    pub checkpoint_every: Option<u64>,
    /// A checkpoint at least every this many seconds while events arrive (default 60).
    pub checkpoint_seconds: Option<u64>,
}

impl AuditSettings {
    /// Whether nothing is set (the section is then not written).
    pub fn is_default(&self) -> bool {
        *self == AuditSettings::default()
    }
}

/// `tessera audit …`.
#[derive(Subcommand)]
pub enum AuditCommand {
    /// Recompute the chain, the Merkle tree and every checkpoint signature from the database and
    /// the checkpoint file; name the first position that fails (exit status 1).
    Verify,
    /// Make a signed checkpoint of the log now (if it has events no checkpoint covers).
    Checkpoint,
    /// Write the log as NDJSON with its signed checkpoints (a fresh one covering every event
    /// first), for `tessera audit verify-export`.
    Export {
        /// The file to write.
        #[arg(long)]
        out: PathBuf,
    },
    /// Verify an export with nothing but the export and the public key: no database, no
    /// configuration, no server.
    VerifyExport {
        /// The export file.
        file: PathBuf,
        /// The public key: 64 hexadecimal digits, or a file holding them.
        #[arg(long)]
        public_key: String,
    },
    /// Print the checkpoint-signing public key (64 hexadecimal digits), for auditors.
    PublicKey,
}

/// The checkpoint-signing key for this master key.
pub fn signing_key(master: &MasterKey) -> SigningKey {
    SigningKey::from_bytes(&master.audit_signing_seed())
}

/// The checkpoint file these settings name.
pub fn checkpoint_path(settings: &Settings) -> PathBuf {
    let file = settings.audit.checkpoint_file.clone().unwrap_or_else(|| PathBuf::from("audit-checkpoints.txt"));
    settings.base_dir.join(file)
}

/// Makes checkpoints: keeps the log's tree in memory, reading only new events each time.
pub struct Checkpointer {
    store: Store,
    key: SigningKey,
    file: PathBuf,
    tree: AuditTree,
}

impl Checkpointer {
    /// A checkpointer for `store`, signing with `key` and appending to `file`.
    pub fn new(store: Store, key: SigningKey, file: PathBuf) -> Self {
        Checkpointer { store, key, file, tree: AuditTree::new() }
    }

    /// Signs a checkpoint of the whole log as it stands, stores it and appends it to the file,
    /// unless a checkpoint of that size exists already. Refuses (error) if a stored row does
    /// not match its stored hashes: no signature over an edited log.
    pub async fn checkpoint(&mut self) -> anyhow::Result<Option<SignedCheckpoint>> {
        self.store.audit_catch_up(&mut self.tree).await.context("reading the audit log")?;
        let size = self.tree.size();
        let latest = self.store.audit_latest_checkpoint().await?.map_or(0, |c| c.tree_size);
        if size == 0 || size <= latest {
            return Ok(None);
        }
        let cp = Checkpoint::new(size, self.tree.root(), self.tree.chain_head(), time::OffsetDateTime::now_utc())
            .sign(&self.key)?;
        if !self.store.audit_add_checkpoint(&cp, &self.key.verifying_key()).await? {
            return Ok(None);
        }
        append_line(&self.file, &cp.line()?)
            .with_context(|| format!("appending to the checkpoint file {}", self.file.display()))?;
        Ok(Some(cp))
    }
}

/// Appends one line and waits until it is on disk.
fn append_line(path: &Path, line: &str) -> std::io::Result<()> {
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    f.write_all(format!("{line}\n").as_bytes())?;
    f.sync_data()
}

/// Starts the server's checkpointing: a checkpoint once `checkpoint_every` events are
/// uncovered, or `checkpoint_seconds` after the last one while any are. Failures are logged
/// and retried; they never stop the server (the events themselves are already committed).
pub fn spawn_checkpointer(settings: &Settings, store: Store) -> anyhow::Result<()> {
    let mut c = Checkpointer::new(store.clone(), signing_key(&settings.master_key()?), checkpoint_path(settings));
    let every = settings.audit.checkpoint_every.unwrap_or(1000).max(1);
    let interval = Duration::from_secs(settings.audit.checkpoint_seconds.unwrap_or(60).max(1));
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(interval.min(Duration::from_secs(1)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last = Instant::now();
        loop {
            tick.tick().await;
            let due = async {
                let head = store.audit_head().await?.last_seq;
                let covered = store.audit_latest_checkpoint().await?.map_or(0, |c| c.tree_size);
                anyhow::Ok(head > covered && (head - covered >= every || last.elapsed() >= interval))
            };
            match due.await {
                Ok(false) => {}
                Ok(true) => match c.checkpoint().await {
                    Ok(made) => {
                        last = Instant::now();
                        if let Some(cp) = made {
                            tracing::info!(tree_size = cp.checkpoint.tree_size, "audit checkpoint signed");
                        }
                    }
                    Err(e) => tracing::error!(error = %format!("{e:#}"), "audit checkpoint failed"),
                },
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "audit checkpoint check failed"),
            }
        }
    });
    Ok(())
}

/// Where a checkpoint came from, to name it in messages.
#[derive(Debug, Clone)]
enum Source {
    Database,
    File(usize),
}

/// The checkpoints of the database and the file, merged (the same line once), in order of size.
async fn all_checkpoints(
    store: &Store,
    file: &Path,
) -> anyhow::Result<Result<Vec<(SignedCheckpoint, Source)>, String>> {
    let mut out: Vec<(String, SignedCheckpoint, Source)> = Vec::new();
    let stored = store.audit_checkpoints().await?;
    for c in &stored {
        match c.parse() {
            Ok(cp) => out.push((c.line.clone(), cp, Source::Database)),
            Err(e) => return Ok(Err(format!("the database's checkpoint of size {} is malformed: {e}", c.tree_size))),
        }
    }
    match std::fs::read_to_string(file) {
        Ok(text) => {
            for (i, line) in text.split_terminator('\n').enumerate() {
                match SignedCheckpoint::parse(line) {
                    Ok(cp) => out.push((line.to_owned(), cp, Source::File(i + 1))),
                    Err(e) => return Ok(Err(format!("{} line {}: {e}", file.display(), i + 1))),
                }
            }
            if !text.is_empty() && !text.ends_with('\n') {
                return Ok(Err(format!("{}: the last line is cut short", file.display())));
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !stored.is_empty() {
                return Ok(Err(format!(
                    "the checkpoint file {} is missing, but the database holds {} checkpoints",
                    file.display(),
                    stored.len()
                )));
            }
        }
        Err(e) => return Err(e).with_context(|| format!("reading {}", file.display())),
    }
    out.sort_by_key(|(_, cp, _)| cp.checkpoint.tree_size);
    out.dedup_by(|a, b| a.0 == b.0);
    Ok(Ok(out.into_iter().map(|(_, cp, s)| (cp, s)).collect()))
}

fn describe(fault: &AuditFault, sources: &[Source], file: &Path) -> String {
    let at = match fault.position() {
        Position::Event { seq } => format!("event seq {seq}"),
        Position::Checkpoint { number, tree_size } => {
            let from = match sources.get(number - 1) {
                Some(Source::File(line)) => format!("{} line {line}", file.display()),
                _ => "the database".into(),
            };
            format!("the checkpoint of tree size {tree_size} (from {from})")
        }
    };
    format!("FAILED at {at}: {fault}")
}

async fn open(config: &Path) -> anyhow::Result<(Settings, Store)> {
    let settings = Settings::load(config)?;
    let store = Store::connect(&settings.database_url).await.context("opening the database")?;
    Ok((settings, store))
}

fn parse_public_key(text: &str) -> anyhow::Result<VerifyingKey> {
    let text = text.trim();
    let hex_text = if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        text.to_owned()
    } else {
        std::fs::read_to_string(text)
            .with_context(|| format!("--public-key is neither 64 hexadecimal digits nor a readable file: {text}"))?
            .trim()
            .to_owned()
    };
    let mut bytes = [0u8; 32];
    hex::decode_to_slice(&hex_text, &mut bytes).context("the public key is not 64 hexadecimal digits")?;
    VerifyingKey::from_bytes(&bytes).context("the public key is not a valid Ed25519 key")
}

/// Runs `tessera audit …` with the configuration at `config`.
pub async fn run(config: &Path, command: AuditCommand) -> anyhow::Result<ExitCode> {
    match command {
        AuditCommand::VerifyExport { file, public_key } => {
            let key = parse_public_key(&public_key)?;
            let input = std::fs::File::open(&file).with_context(|| format!("opening the export {}", file.display()))?;
            match tessera_audit::verify_export(std::io::BufReader::new(input), &key) {
                Ok(s) => {
                    println!(
                        "the export verifies: {} events under {} signed checkpoints; root {}",
                        s.events,
                        s.checkpoints,
                        hex::encode(s.root)
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    println!("the export FAILED verification: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::PublicKey => {
            let settings = Settings::load(config)?;
            println!("{}", hex::encode(signing_key(&settings.master_key()?).verifying_key().to_bytes()));
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Checkpoint => {
            let (settings, store) = open(config).await?;
            let mut c = Checkpointer::new(store, signing_key(&settings.master_key()?), checkpoint_path(&settings));
            match c.checkpoint().await? {
                Some(cp) => println!("signed a checkpoint of {} events", cp.checkpoint.tree_size),
                None => println!("every event is already covered by a checkpoint"),
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Verify => {
            let (settings, store) = open(config).await?;
            let file = checkpoint_path(&settings);
            let key = signing_key(&settings.master_key()?).verifying_key();
            let started = Instant::now();
            let checkpoints = match all_checkpoints(&store, &file).await? {
                Ok(c) => c,
                Err(problem) => {
                    println!("the audit log FAILED verification: {problem}");
                    return Ok(ExitCode::FAILURE);
                }
            };
            let (list, sources): (Vec<_>, Vec<_>) = checkpoints.into_iter().unzip();
            match store.audit_verify(list, key).await? {
                Ok(s) => {
                    println!(
                        "the audit log verifies: {} events, {} checkpoints, {} events covered by a signature, \
                         {} after the last checkpoint; root {} ({:.1} s)",
                        s.events,
                        s.checkpoints,
                        s.covered,
                        s.uncovered,
                        hex::encode(s.root),
                        started.elapsed().as_secs_f64()
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(fault) => {
                    println!("the audit log {}", describe(&fault, &sources, &file));
                    Ok(ExitCode::FAILURE)
                }
            }
        }
        AuditCommand::Export { out } => {
            let (settings, store) = open(config).await?;
            let file = checkpoint_path(&settings);
            let key = signing_key(&settings.master_key()?);
            Checkpointer::new(store.clone(), key.clone(), file.clone()).checkpoint().await?;
            let checkpoints = match all_checkpoints(&store, &file).await? {
                Ok(c) => c.into_iter().map(|(c, _)| c).collect::<Vec<_>>(),
                Err(problem) => bail!("not exporting: {problem}"),
            };
            let upto = checkpoints.last().map_or(0, |c| c.checkpoint.tree_size);
            let partial = out.with_extension("partial");
            let w = std::fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
            match store.audit_export(w, checkpoints, key.verifying_key(), upto).await? {
                Ok(s) => {
                    std::fs::rename(&partial, &out)?;
                    println!(
                        "wrote {} events and {} checkpoints to {}; check it with `tessera audit verify-export {} \
                         --public-key {}`",
                        s.events,
                        s.checkpoints,
                        out.display(),
                        out.display(),
                        hex::encode(key.verifying_key().to_bytes())
                    );
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&partial);
                    println!("not exported: the audit log FAILED verification: {e}");
                    Ok(ExitCode::FAILURE)
                }
            }
        }
    }
}
