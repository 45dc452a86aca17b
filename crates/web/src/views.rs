//! The pages, as askama templates (compile-time checked, HTML auto-escaped). Handlers fill
//! these structs; nothing else produces HTML.

use askama::Template;
use axum::response::{Html, IntoResponse, Response};

use crate::session::Ctx;

/// What the layout needs on every page.
pub struct Layout {
    /// Page title (also the `<title>`).
    pub title: String,
    /// CSRF token for the page's forms (and its script's requests).
    pub csrf: String,
    /// The signed-in person's name, for the header.
    pub user_name: Option<String>,
}

impl Layout {
    /// The layout for a page titled `title`, for this request.
    pub fn new(title: &str, ctx: &Ctx) -> Self {
        let user_name = ctx.signed_in().then(|| ctx.session.as_ref().map(|s| s.row.display_name.clone())).flatten();
        Layout { title: title.to_owned(), csrf: ctx.csrf.clone(), user_name }
    }

    fn bare(title: &str) -> Self {
        Layout { title: title.to_owned(), csrf: String::new(), user_name: None }
    }
}

/// One problem to show in the error summary, linked to its field.
pub struct FieldError {
    /// The field's id.
    pub field: &'static str,
    /// What is wrong, in plain English.
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: &'static str, message: impl Into<String>) -> Self {
        FieldError { field, message: message.into() }
    }
}

/// Renders a template as an HTML response.
pub fn render<T: Template>(t: &T) -> Response {
    match t.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            (axum::http::StatusCode::INTERNAL_SERVER_ERROR, "template error").into_response()
        }
    }
}

#[derive(Template)]
#[template(path = "message.html")]
/// A page with a heading, a sentence and maybe a link.
pub struct MessagePage {
    /// Layout.
    pub l: Layout,
    /// The sentence.
    pub text: String,
    /// (href, label).
    pub link: Option<(String, String)>,
}

/// A bare message page (for errors, without a session's details).
pub fn message_page(title: &str, text: &str) -> Response {
    render(&MessagePage { l: Layout::bare(title), text: text.to_owned(), link: None })
}

#[derive(Template)]
#[template(path = "sign_in.html")]
/// Sign-in.
pub struct SignInPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice (e.g. after a reset).
    pub notice: Option<String>,
    /// Address typed (kept on refusal: it is what the person typed).
    pub email: String,
}

#[derive(Template)]
#[template(path = "verify.html")]
/// Second factor (at sign-in, or step-up).
pub struct VerifyPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// Heading.
    pub heading: String,
    /// Form action.
    pub action: String,
    /// Where to go afterwards (step-up).
    pub next: String,
    /// Whether TOTP is offered (not when the role requires passkeys).
    pub totp_allowed: bool,
    /// Whether the account has passkeys.
    pub has_passkeys: bool,
    /// Base path of the passkey JSON endpoints.
    pub passkey_base: String,
}

#[derive(Template)]
#[template(path = "welcome.html")]
/// Set a password from a bootstrap, invitation or reset link.
pub struct WelcomePage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// Heading.
    pub heading: String,
    /// Form action.
    pub action: String,
    /// Whether this is the bootstrap (asks for name and address).
    pub bootstrap: bool,
    /// The link's token (posted back in the body, never in a URL of ours).
    pub token: String,
    /// Name (invited, or typed).
    pub name: String,
    /// Address (invited, or typed).
    pub email: String,
}

#[derive(Template)]
#[template(path = "security_setup.html")]
/// Choose a second factor.
pub struct SecuritySetupPage {
    /// Layout.
    pub l: Layout,
    /// Whether TOTP is offered.
    pub totp_allowed: bool,
}

#[derive(Template)]
#[template(path = "totp_setup.html")]
/// Add an authenticator app.
pub struct TotpSetupPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// QR code data URI.
    pub qr: String,
    /// Base32 key.
    pub secret: String,
    /// Factor id.
    pub factor: String,
}

#[derive(Template)]
#[template(path = "recovery_codes.html")]
/// Recovery codes (shown once).
pub struct RecoveryCodesPage {
    /// Layout.
    pub l: Layout,
    /// The codes, when just made.
    pub codes: Vec<String>,
}

#[derive(Template)]
#[template(path = "home.html")]
/// Start page.
pub struct HomePage {
    /// Layout.
    pub l: Layout,
    /// Name.
    pub name: String,
    /// Whether an operator.
    pub operator: bool,
    /// The registries the person holds grants in, with what their grants open.
    pub registries: Vec<HomeRegistry>,
}

/// One registry on the home page: only the links the person's grants open.
pub struct HomeRegistry {
    /// Registry id.
    pub id: String,
    /// Registry name.
    pub name: String,
    /// Outcome reports (controller, analyst, safety officer).
    pub outcomes: bool,
    /// Search and read records.
    pub records: bool,
    /// Enter records.
    pub enter: bool,
    /// Manage access (controller).
    pub manage: bool,
    /// Read the audit log (controller, auditor).
    pub audit: bool,
}

/// A factor as listed.
pub struct FactorView {
    /// `totp` or `passkey`.
    pub kind: &'static str,
    /// Id.
    pub id: String,
    /// Label.
    pub label: String,
    /// Added (UTC).
    pub added: String,
    /// Last used (UTC) or "never".
    pub last_used: String,
}

/// A session as listed.
pub struct SessionView {
    /// Stored hash (not the cookie).
    pub id: String,
    /// Browser.
    pub browser: String,
    /// Address.
    pub address: String,
    /// Started (UTC).
    pub started: String,
    /// Whether it is this one.
    pub current: bool,
}

#[derive(Template)]
#[template(path = "account.html")]
/// The account page.
pub struct AccountPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
    /// Unused recovery codes.
    pub recovery_left: i64,
    /// Factors.
    pub factors: Vec<FactorView>,
    /// Sessions.
    pub sessions: Vec<SessionView>,
}

/// An invitation as listed.
pub struct InvitationView {
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
    /// Expiry (UTC).
    pub expires: String,
}

#[derive(Template)]
#[template(path = "invitations.html")]
/// Invitations (operators).
pub struct InvitationsPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// Open invitations.
    pub invitations: Vec<InvitationView>,
}

/// An account as listed.
pub struct UserView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
    /// Status text.
    pub status: String,
    /// Last sign-in (UTC) or "never".
    pub last_sign_in: String,
}

#[derive(Template)]
#[template(path = "users.html")]
/// Accounts (operators).
pub struct UsersPage {
    /// Layout.
    pub l: Layout,
    /// A notice.
    pub notice: Option<String>,
    /// Counts.
    pub counts: tessera_store::AccountCounts,
    /// Accounts.
    pub users: Vec<UserView>,
}

#[derive(Template)]
#[template(path = "outcomes.html")]
/// A registry's outcome statistics.
pub struct OutcomesPage {
    /// Layout.
    pub l: Layout,
    /// The report as text (published).
    pub v: tessera_report::View,
}

#[derive(Template)]
#[template(path = "outcomes_section.html")]
/// One cumulative-revision table with its chart.
pub struct SectionPage {
    /// Layout.
    pub l: Layout,
    /// Registry id.
    pub registry: String,
    /// The table.
    pub s: tessera_report::SectionView,
    /// Column headings of the report years.
    pub years: Vec<String>,
}

#[derive(Template)]
#[template(path = "outcomes_funnel.html")]
/// The funnel plot and its table.
pub struct FunnelPage {
    /// Layout.
    pub l: Layout,
    /// The report as text (published).
    pub v: tessera_report::View,
}
