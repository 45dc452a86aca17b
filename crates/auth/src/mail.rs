//! Notification email: SMTP (lettre, rustls) in service, a file outbox (one `.eml` per message)
//! for development and tests. Messages carry at most a single-use link, never a password, code
//! or secret; they are not logged.

use std::path::PathBuf;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncFileTransport, AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};
use serde::{Deserialize, Serialize};

use crate::AuthError;

/// Where mail goes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "transport", rename_all = "lowercase", deny_unknown_fields)]
pub enum MailConfig {
    /// Write each message as a file in this directory.
    Outbox {
        /// The directory.
        dir: PathBuf,
        /// The From address.
        from: String,
    },
    /// Send through an SMTP relay with STARTTLS (or implicit TLS on port 465).
    Smtp {
        /// Relay host.
        host: String,
        /// Port (587 for STARTTLS, 465 for implicit TLS).
        port: u16,
        /// User name, if the relay needs one.
        username: Option<String>,
        /// File holding the password (0600), if the relay needs one.
        password_file: Option<PathBuf>,
        /// The From address.
        from: String,
    },
}

/// Sends mail.
#[derive(Clone)]
pub enum Mailer {
    /// File outbox.
    Outbox(AsyncFileTransport<Tokio1Executor>, String),
    /// SMTP.
    Smtp(AsyncSmtpTransport<Tokio1Executor>, String),
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mailer::Outbox(..) => f.write_str("Mailer(outbox)"),
            Mailer::Smtp(..) => f.write_str("Mailer(smtp)"),
        }
    }
}

impl Mailer {
    /// Builds the transport a configuration names (creating an outbox directory if needed).
    pub fn new(config: &MailConfig) -> Result<Self, AuthError> {
        match config {
            MailConfig::Outbox { dir, from } => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| AuthError::Setup(format!("mail outbox {}: {e}", dir.display())))?;
                Ok(Mailer::Outbox(AsyncFileTransport::new(dir), from.clone()))
            }
            MailConfig::Smtp { host, port, username, password_file, from } => {
                let builder = if *port == 465 {
                    AsyncSmtpTransport::<Tokio1Executor>::relay(host)
                } else {
                    AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(host)
                }
                .map_err(|e| AuthError::Setup(format!("SMTP relay {host}: {e}")))?
                .port(*port);
                let builder = match (username, password_file) {
                    (Some(u), Some(p)) => {
                        let password = std::fs::read_to_string(p)
                            .map_err(|e| AuthError::Setup(format!("SMTP password file {}: {e}", p.display())))?;
                        builder.credentials(Credentials::new(u.clone(), password.trim().to_owned()))
                    }
                    _ => builder,
                };
                Ok(Mailer::Smtp(builder.build(), from.clone()))
            }
        }
    }

    /// Sends a plain-text message.
    pub async fn send(&self, to: &str, subject: &str, body: &str) -> Result<(), AuthError> {
        let from = match self {
            Mailer::Outbox(_, from) | Mailer::Smtp(_, from) => from,
        };
        let message = Message::builder()
            .from(from.parse().map_err(|e| AuthError::Setup(format!("From address: {e}")))?)
            .to(to.parse().map_err(|_| AuthError::Invalid("the email address is not valid".into()))?)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body.to_owned())
            .map_err(|e| AuthError::Mail(e.to_string()))?;
        match self {
            Mailer::Outbox(t, _) => t.send(message).await.map(drop).map_err(|e| AuthError::Mail(e.to_string())),
            Mailer::Smtp(t, _) => t.send(message).await.map(drop).map_err(|e| AuthError::Mail(e.to_string())),
        }
    }
}
