//! The access workflow's pages (askama templates `access_*.html`): requests, a registry's access
//! page, recertification, the operators' first-controller approvals and dashboard, and API
//! tokens. Handlers in `access_pages.rs` fill these with text already formatted.

use askama::Template;

use crate::views::{FieldError, Layout};

/// A choice in a `<select>`: (value, label).
pub type Choice = (String, String);

/// A request as listed.
pub struct RequestView {
    /// Its id.
    pub id: String,
    /// Requester's name.
    pub user_name: String,
    /// Requester's address.
    pub user_email: String,
    /// Registry id.
    pub registry: String,
    /// Role label.
    pub role: String,
    /// Organisation or "All organisations".
    pub scope: String,
    /// Why.
    pub justification: String,
    /// Request or invitation.
    pub origin: String,
    /// Status text.
    pub status: String,
    /// When made (UTC).
    pub created: String,
    /// The decision's reason, once decided.
    pub reason: String,
    /// "1 of 2" approvals.
    pub approvals: String,
}

/// A grant as listed.
pub struct GrantView {
    /// Its id.
    pub id: String,
    /// Holder's name.
    pub user_name: String,
    /// Holder's address.
    pub user_email: String,
    /// Registry id.
    pub registry: String,
    /// Role label.
    pub role: String,
    /// Organisation or "All organisations".
    pub scope: String,
    /// Expiry (UTC).
    pub expires: String,
    /// Last recertified (UTC) or "never".
    pub recertified: String,
}

#[derive(Template)]
#[template(path = "access_mine.html")]
/// `/access`: your access, your requests, and the request form.
pub struct MyAccessPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// Live grants.
    pub grants: Vec<GrantView>,
    /// Registries the person manages (id).
    pub manages: Vec<String>,
    /// Own requests.
    pub requests: Vec<RequestView>,
    /// Registries to choose from.
    pub registries: Vec<Choice>,
    /// Roles to choose from.
    pub roles: Vec<Choice>,
}

/// A dormant account as listed.
pub struct DormantView {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Address.
    pub email: String,
    /// When suspended (UTC).
    pub suspended: String,
}

#[derive(Template)]
#[template(path = "access_registry.html")]
/// `/registries/{registry}/access`: a controller's page.
pub struct RegistryAccessPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// Registry id.
    pub registry: String,
    /// Pending requests.
    pub pending: Vec<RequestView>,
    /// Live grants.
    pub grants: Vec<GrantView>,
    /// Dormant accounts that may be reactivated.
    pub dormant: Vec<DormantView>,
    /// The allowlist as text, one range per line.
    pub networks: String,
}

#[derive(Template)]
#[template(path = "access_recertify.html")]
/// `/registries/{registry}/access/recertify`: grants due in the next 30 days.
pub struct RecertifyPage {
    /// Layout.
    pub l: Layout,
    /// A notice.
    pub notice: Option<String>,
    /// Registry id.
    pub registry: String,
    /// Grants lapsing soon.
    pub grants: Vec<GrantView>,
}

#[derive(Template)]
#[template(path = "access_platform.html")]
/// `/platform/access`: operators decide registries' first controllers.
pub struct PlatformAccessPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// Pending first-controller requests.
    pub pending: Vec<RequestView>,
}

/// One line of the dashboard.
pub struct CountsView {
    /// Registry (or "All accounts").
    pub label: String,
    /// Registered.
    pub registered: i64,
    /// Active.
    pub active: i64,
    /// Suspended.
    pub suspended: i64,
    /// Invited, not accepted.
    pub invited: i64,
}

#[derive(Template)]
#[template(path = "access_dashboard.html")]
/// `/platform/dashboard`: registered vs active vs suspended vs invited.
pub struct DashboardPage {
    /// Layout.
    pub l: Layout,
    /// The dormancy period in days.
    pub days: i64,
    /// Overall.
    pub overall: CountsView,
    /// Per registry.
    pub registries: Vec<CountsView>,
}

/// An API token as listed.
pub struct TokenView {
    /// Id.
    pub id: String,
    /// Label.
    pub label: String,
    /// Registry.
    pub registry: String,
    /// Organisation.
    pub organisation: String,
    /// Permissions.
    pub permissions: String,
    /// Expiry (UTC).
    pub expires: String,
    /// Last used (UTC) or "never".
    pub last_used: String,
    /// Active, revoked or expired.
    pub status: String,
    /// Whether it can still be revoked.
    pub live: bool,
}

#[derive(Template)]
#[template(path = "access_tokens.html")]
/// `/account/tokens`: API tokens.
pub struct TokensPage {
    /// Layout.
    pub l: Layout,
    /// Problems.
    pub errors: Vec<FieldError>,
    /// A notice.
    pub notice: Option<String>,
    /// A token just made: its secret, shown this once.
    pub secret: Option<String>,
    /// Tokens.
    pub tokens: Vec<TokenView>,
    /// Registries the person holds grants in.
    pub registries: Vec<String>,
}
