//! `tessera serve`: builds the web application from the settings and runs it until SIGINT or
//! SIGTERM. Prints (to standard output, never to the log) the single-use bootstrap link while
//! no account exists.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context as _;
use tessera_auth::{AccountSettings, Accounts, Clock, MailConfig, Mailer, PasswordPolicy};
use tessera_store::Store;
use tessera_vault::PlatformKeys;
use tessera_web::{AppState, Assets};

use crate::config::Settings;

/// The `web/` directory: configured, or the source tree's.
pub fn web_dir(settings: &Settings) -> PathBuf {
    settings.web.web_dir.clone().unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../web")))
}

/// The application state for these settings, reachable at `public_url`.
pub fn build_state(settings: &Settings, store: Store, public_url: &str, clock: Clock) -> anyhow::Result<AppState> {
    let assets = Assets { web_dir: web_dir(settings) };
    assets.check()?;
    let master = settings.master_key()?;
    let policy = PasswordPolicy::load(&assets.password_list())?;
    let mail = settings.web.mail.clone().unwrap_or_else(|| MailConfig::Outbox {
        dir: settings.base_dir.join("outbox"),
        from: "Tessera <no-reply@tessera.invalid>".into(),
    });
    let mut account_settings =
        AccountSettings::new(url::Url::parse(public_url).with_context(|| format!("public URL {public_url}"))?);
    account_settings.passkey_required_roles = settings.web.passkey_required_roles.clone();
    if let Some(limit) = settings.web.address_limit {
        account_settings.address_limit = limit;
    }
    if let Some(days) = settings.web.dormant_after_days {
        anyhow::ensure!(days >= 1, "web.dormant_after_days must be at least 1");
        account_settings.dormant_after = days * 86_400;
    }
    account_settings.trusted_proxies = settings
        .web
        .trusted_proxies
        .iter()
        .map(|p| p.parse().with_context(|| format!("web.trusted_proxies: {p:?} is not a CIDR range")))
        .collect::<anyhow::Result<_>>()?;
    let accounts = Accounts::new(
        store.clone(),
        clock,
        PlatformKeys::derive(&master),
        policy,
        Mailer::new(&mail)?,
        account_settings,
    )?;
    // Outcome reports are rebuilt at most every ten minutes: the statistics run over a whole
    // registry, and new records do not need to show within seconds.
    let master = std::sync::Arc::new(master);
    let reports = tessera_report::Reports::new(store, master.clone(), std::time::Duration::from_secs(600));
    Ok(AppState::new(accounts, assets).with_reports(reports).with_vault(master))
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let terminate = async {
        match term.as_mut() {
            Some(t) => {
                t.recv().await;
            }
            None => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// Emails an invitation to become a platform operator (`tessera operator invite`).
pub async fn invite_operator(
    settings: &Settings,
    store: Store,
    email: &str,
    name: &str,
    public_url: Option<String>,
) -> anyhow::Result<()> {
    let public_url = public_url.or_else(|| settings.web.public_url.clone()).unwrap_or_else(|| {
        let listen = settings.web.listen.clone().unwrap_or_else(|| "127.0.0.1:8080".into());
        let port = listen.rsplit(':').next().unwrap_or("8080").to_owned();
        format!("http://localhost:{port}")
    });
    let state = build_state(settings, store.clone(), &public_url, Clock::system())?;
    state.accounts().invite_operator(email, name).await.map_err(|e| anyhow::anyhow!("{e}"))?;
    store.close().await;
    Ok(())
}

/// Runs the server until a signal. `listen` overrides the settings.
pub async fn serve(settings: &Settings, store: Store, listen: Option<String>) -> anyhow::Result<()> {
    let listen = listen.or_else(|| settings.web.listen.clone()).unwrap_or_else(|| "127.0.0.1:8080".into());
    let addr: SocketAddr = listen.parse().with_context(|| format!("listen address {listen}"))?;
    let std_listener = std::net::TcpListener::bind(addr).with_context(|| format!("listening on {addr}"))?;
    let port = std_listener.local_addr()?.port();
    let tls = settings.web.tls_cert.is_some() && settings.web.tls_key.is_some();
    let public_url = settings
        .web
        .public_url
        .clone()
        .unwrap_or_else(|| format!("{}://localhost:{port}", if tls { "https" } else { "http" }));
    let state = build_state(settings, store.clone(), &public_url, Clock::system())?;
    println!("Tessera is listening on {public_url} (bound to {})", std_listener.local_addr()?);
    if let Some(link) = state.accounts().bootstrap_link().await? {
        println!(
            "\nNo account exists yet. To create the first platform operator, open this single-use link \
             (it expires in 1 hour; restarting makes a new one):\n\n  {}\n",
            link.as_str()
        );
    }
    crate::audit_cli::spawn_checkpointer(settings, store.clone())?;
    // Sessions past their limits are refused when presented; this sweep only tidies the table.
    let sweeper = state.accounts().clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(300)).await;
            let s = sweeper.settings();
            let now = sweeper.clock().now();
            if let Err(e) = sweeper.store().purge_sessions(now - s.idle_timeout, now - s.absolute_timeout, now).await {
                tracing::warn!(error = %e, "session sweep failed");
            }
        }
    });
    // Dormant accounts are suspended once at start and then hourly (sign-in also refuses them).
    let dormancy = state.accounts().clone();
    tokio::spawn(async move {
        let mut hourly = tokio::time::interval(std::time::Duration::from_secs(3600));
        loop {
            hourly.tick().await;
            if let Err(e) = dormancy.suspend_dormant().await {
                tracing::warn!(error = %e, "dormancy sweep failed");
            }
        }
    });
    if tls {
        let (cert, key) =
            (settings.web.tls_cert.clone().unwrap_or_default(), settings.web.tls_key.clone().unwrap_or_default());
        tessera_web::serve_tls(std_listener, state, &cert, &key, shutdown_signal()).await?;
    } else {
        std_listener.set_nonblocking(true)?;
        let listener = tokio::net::TcpListener::from_std(std_listener)?;
        tessera_web::serve(listener, state, shutdown_signal()).await?;
    }
    store.close().await;
    Ok(())
}
