//! Settings: a TOML file, then `TESSERA_…` environment variables, with the master key in a file of
//! its own that only its owner may read.

use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};
use tessera_vault::MasterKey;

/// The config file's name inside a Tessera directory.
pub const CONFIG_FILE: &str = "tessera.toml";

/// Typed settings. `Debug` hides any password in the database URL.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// `sqlite:PATH` or `postgres://…`. Env: `TESSERA_DATABASE_URL`.
    pub database_url: String,
    /// Path of the master key file. Env: `TESSERA_MASTER_KEY_FILE`.
    pub master_key_file: PathBuf,
    /// The web server (`tessera serve`).
    #[serde(default, skip_serializing_if = "WebSettings::is_default")]
    pub web: WebSettings,
    /// The audit trail's checkpoints (`[audit]`).
    #[serde(default, skip_serializing_if = "crate::audit_cli::AuditSettings::is_default")]
    pub audit: crate::audit_cli::AuditSettings,
    /// The directory relative paths are resolved against (the config file's).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// The `[web]` section: how `tessera serve` listens, where people reach it, where mail goes.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct WebSettings {
    /// Address to listen on (default `127.0.0.1:8080`). Env: `TESSERA_LISTEN`.
    pub listen: Option<String>,
    /// The address people use, for links in email and the passkey origin (default
    /// `http://localhost:<port>`). Env: `TESSERA_PUBLIC_URL`.
    pub public_url: Option<String>,
    /// The `web/` directory with `static/` and `node_modules/` (default: the source tree's).
    /// Env: `TESSERA_WEB_DIR`.
    pub web_dir: Option<PathBuf>,
    /// PEM certificate chain, to serve HTTPS directly (with `tls_key`).
    pub tls_cert: Option<PathBuf>,
    /// PEM private key.
    pub tls_key: Option<PathBuf>,
    /// Mail transport (default: a file outbox in `outbox/` next to the config).
    pub mail: Option<tessera_auth::MailConfig>,
    /// Platform roles that must use passkeys rather than TOTP (e.g. `["operator"]`).
    pub passkey_required_roles: Vec<String>,
    /// Failed sign-ins allowed from one address per hour (default 1000).
    pub address_limit: Option<i64>,
    /// Days without a sign-in after which an account is suspended (default 90).
    pub dormant_after_days: Option<i64>,
    /// Proxies (CIDR ranges) whose `X-Forwarded-For` header is believed for the client address
    /// (default: none, so the header is ignored). Needed for registry network allowlists behind
    /// a load balancer.
    pub trusted_proxies: Vec<String>,
}

impl WebSettings {
    fn is_default(&self) -> bool {
        *self == WebSettings::default()
    }
}

impl std::fmt::Debug for Settings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Settings")
            .field("database_url", &self.redacted_database_url())
            .field("master_key_file", &self.master_key_file)
            .finish()
    }
}

impl Settings {
    /// The database URL with any password replaced by `***`, for messages.
    pub fn redacted_database_url(&self) -> String {
        let url = &self.database_url;
        match (url.find("://"), url.rfind('@')) {
            (Some(scheme), Some(at)) if at > scheme => {
                let userinfo = &url[scheme + 3..at];
                match userinfo.split_once(':') {
                    Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                    None => url.clone(),
                }
            }
            _ => url.clone(),
        }
    }

    /// Reads `path` (if it exists), then applies environment overrides. Relative paths in the file
    /// are taken relative to the file's directory.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let mut settings = if path.exists() {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            let mut s: Settings = toml::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
            let base = path.parent().unwrap_or(Path::new("."));
            s.base_dir = base.to_path_buf();
            if s.master_key_file.is_relative() {
                s.master_key_file = base.join(&s.master_key_file);
            }
            if let Some(rest) = s.database_url.strip_prefix("sqlite:") {
                let p = Path::new(rest.trim_start_matches("//"));
                if p.is_relative() {
                    s.database_url = format!("sqlite:{}", base.join(p).display());
                }
            }
            Some(s)
        } else {
            None
        };
        if let Ok(url) = std::env::var("TESSERA_DATABASE_URL") {
            match settings.as_mut() {
                Some(s) => s.database_url = url,
                None => {
                    settings = Some(Settings {
                        database_url: url,
                        master_key_file: PathBuf::new(),
                        web: WebSettings::default(),
                        audit: Default::default(),
                        base_dir: PathBuf::from("."),
                    })
                }
            }
        }
        if let Ok(key) = std::env::var("TESSERA_MASTER_KEY_FILE")
            && let Some(s) = settings.as_mut()
        {
            s.master_key_file = PathBuf::from(key);
        }
        if let Some(s) = settings.as_mut() {
            for (var, field) in [("TESSERA_LISTEN", &mut s.web.listen), ("TESSERA_PUBLIC_URL", &mut s.web.public_url)] {
                if let Ok(v) = std::env::var(var) {
                    *field = Some(v);
                }
            }
            if let Ok(v) = std::env::var("TESSERA_WEB_DIR") {
                s.web.web_dir = Some(PathBuf::from(v));
            }
        }
        match settings {
            Some(s) if !s.master_key_file.as_os_str().is_empty() => Ok(s),
            _ => bail!(
                "no configuration at {} (run `tessera init`, or set TESSERA_DATABASE_URL and TESSERA_MASTER_KEY_FILE)",
                path.display()
            ),
        }
    }

    /// Reads the master key, refusing a file that anyone but its owner could read.
    pub fn master_key(&self) -> anyhow::Result<MasterKey> {
        let path = &self.master_key_file;
        let meta =
            std::fs::metadata(path).with_context(|| format!("reading the master key file {}", path.display()))?;
        if meta.permissions().mode() & 0o077 != 0 {
            bail!("the master key file {} must be readable by its owner only (chmod 600)", path.display());
        }
        let text = zeroize::Zeroizing::new(std::fs::read_to_string(path)?);
        MasterKey::decode(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}

/// Writes a new master key to `path` with mode 0600. Never overwrites an existing key: losing
/// one loses every registry's data.
pub fn write_new_master_key(path: &Path) -> anyhow::Result<()> {
    let key = MasterKey::generate()?;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating the master key file {}", path.display()))?;
    f.write_all(key.encode().as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_in_database_urls_are_never_shown() {
        let s = Settings {
            database_url: "postgres://app:s3cret@db.example:5432/tessera".into(),
            master_key_file: "k".into(),
            web: WebSettings::default(),
            audit: Default::default(),
            base_dir: PathBuf::new(),
        };
        assert_eq!(s.redacted_database_url(), "postgres://app:***@db.example:5432/tessera");
        assert!(!format!("{s:?}").contains("s3cret"));
        let plain = Settings { database_url: "sqlite:/tmp/t.db".into(), ..s.clone() };
        assert_eq!(plain.redacted_database_url(), "sqlite:/tmp/t.db");
    }
}
