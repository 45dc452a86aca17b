//! `tessera report`: a registry's outcome report, written to a folder.

use std::path::Path;

use anyhow::Context as _;
use tessera_domain::RegistryId;
use tessera_report::{Audience, Settings as ReportSettings};
use tessera_store::Store;

use crate::config::Settings;

/// Builds the report of `registry` and writes it to `out`; returns how many files were written.
pub async fn run(
    settings: &Settings,
    store: &Store,
    registry: &str,
    out: &Path,
    audience: Audience,
    cutoff: Option<&str>,
) -> anyhow::Result<usize> {
    let id = RegistryId::parse(registry).with_context(|| format!("registry id {registry:?}"))?;
    let cutoff = cutoff
        .map(|c| time::Date::parse(c, &time::format_description::well_known::Iso8601::DATE))
        .transpose()
        .context("--cutoff must be a date, YYYY-MM-DD")?;
    let master = settings.master_key()?;
    let report = tessera_report::load(store, &master, &id, cutoff, &ReportSettings::default())
        .await
        .with_context(|| format!("building the report of {registry}"))?;
    let written = tessera_report::write_folder(&report, out, audience)
        .with_context(|| format!("writing the report to {}", out.display()))?;
    Ok(written.len())
}
