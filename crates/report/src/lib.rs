//! Outcome reports of a registry: what `tessera report` writes and the outcome pages show.
//!
//! [`RegistryReport::build`] takes a registry's operations as the store reads them
//! ([`tessera_store::OutcomeData`]), links revisions to primaries and runs every analysis of
//! [`tessera_domain::analysis`]: cumulative percent revision by brand, brand combination and
//! attribute, revision rates, implant outliers by both rules, the hospital funnel, CUSUMs,
//! competing-risk incidence and a Cox model. [`Reports`] caches one report per registry for the
//! web server.
//!
//! Two audiences see it ([`Audience`]): the **analyst** sees every number; everything else that
//! leaves the analyst role is **published** output, where counts below 5 show as "<5" with
//! secondary suppression so no hidden count can be recovered from totals (`published.rs`).

#![forbid(unsafe_code)]

mod build;
mod charts;
mod folder;
mod json;
mod published;
mod view;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use build::{CprSection, OutlierRow, RegistryReport, Settings, SiteReport};
pub use folder::{outliers_csv, write_folder};
pub use published::{Count, HIDDEN_NOTE, PublishedCpr, cpr_counts, lone};
use tessera_domain::RegistryId;
use tessera_store::Store;
use tessera_vault::MasterKey;
pub use view::{FunnelRow, GroupRow, OutlierView, SectionView, SiteView, View, cusum_stem};

/// Who a report is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Audience {
    /// The analyst role: every count, unsuppressed.
    Analyst,
    /// Anyone else (controllers, published reports): small counts suppressed.
    Published,
}

impl Audience {
    /// Parses `analyst` or `published`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "analyst" => Some(Self::Analyst),
            "published" => Some(Self::Published),
            _ => None,
        }
    }
}

/// Why a report could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    /// The registry has no outcome specification (which forms are operations).
    #[error("registry {0} has no outcome specification: Tessera does not know which of its forms are operations")]
    NoSpec(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] tessera_store::StoreError),
    /// A statistic could not be computed.
    #[error("statistics: {0}")]
    Statistics(String),
    /// Writing the report folder failed.
    #[error("writing the report: {0}")]
    Io(#[from] std::io::Error),
}

/// Result type of this crate.
pub type Result<T, E = ReportError> = std::result::Result<T, E>;

/// Reads a registry from the store and builds its report as of `cutoff` (default: the latest
/// operation date recorded).
pub async fn load(
    store: &Store,
    master: &MasterKey,
    registry: &RegistryId,
    cutoff: Option<time::Date>,
    settings: &Settings,
) -> Result<RegistryReport> {
    let spec = tessera_domain::outcomes::OutcomeSpec::shipped(registry.as_str())
        .ok_or_else(|| ReportError::NoSpec(registry.as_str().to_owned()))?;
    let (_, cipher) = store.registry_cipher(registry, master).await?;
    let data = store.outcome_data(&cipher, &spec).await?;
    let organisations = store.organisations().await?;
    let names: HashMap<String, String> =
        organisations.into_iter().map(|o| (o.ods.as_str().to_owned(), o.name)).collect();
    // The statistics are CPU-bound: keep them off the async workers.
    let registry = registry.as_str().to_owned();
    let settings = settings.clone();
    tokio::task::spawn_blocking(move || RegistryReport::build(&registry, &spec, data, &names, cutoff, &settings))
        .await
        .map_err(|e| ReportError::Statistics(format!("the analysis task failed: {e}")))?
}

/// One registry's cached report, behind its own lock so that one build runs at a time.
type Slot = Arc<tokio::sync::Mutex<Option<(Instant, Arc<RegistryReport>)>>>;

/// Reports per registry for the web server, rebuilt when older than the time to live. A
/// registry's report is built by one request at a time; others wait for it rather than
/// starting their own whole-registry read.
pub struct Reports {
    store: Store,
    master: Arc<MasterKey>,
    settings: Settings,
    ttl: Duration,
    cache: Mutex<HashMap<String, Slot>>,
}

impl std::fmt::Debug for Reports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reports")
    }
}

impl Reports {
    /// Reports over `store`, opening registry keys with `master`; each kept for `ttl`.
    pub fn new(store: Store, master: Arc<MasterKey>, ttl: Duration) -> Self {
        Self { store, master, settings: Settings::default(), ttl, cache: Mutex::new(HashMap::new()) }
    }

    /// The report of `registry`, from the cache or built now.
    pub async fn registry(&self, registry: &RegistryId) -> Result<Arc<RegistryReport>> {
        // Only registries with an outcome specification get a cache slot.
        if tessera_domain::outcomes::OutcomeSpec::shipped(registry.as_str()).is_none() {
            return Err(ReportError::NoSpec(registry.as_str().to_owned()));
        }
        let slot =
            self.cache.lock().expect("report cache lock").entry(registry.as_str().to_owned()).or_default().clone();
        let mut cached = slot.lock().await;
        if let Some((at, report)) = cached.as_ref()
            && at.elapsed() < self.ttl
        {
            return Ok(report.clone());
        }
        let report = Arc::new(load(&self.store, &self.master, registry, None, &self.settings).await?);
        *cached = Some((Instant::now(), report.clone()));
        Ok(report)
    }
}
