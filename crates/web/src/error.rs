//! Errors, mapped to HTTP once. What the person sees is kept apart from what is logged: a
//! server fault shows a plain apology with the request's id, and the detail goes to the log.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tessera_auth::AuthError;

use crate::views;

/// Why a request failed.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// The page does not exist.
    #[error("page not found")]
    NotFound,
    /// Signed in, but not allowed.
    #[error("forbidden")]
    Forbidden,
    /// The form's CSRF token was missing or wrong (often: the page was open too long).
    #[error("the form's security token did not match")]
    Csrf,
    /// The request body did not parse.
    #[error("the form could not be read")]
    BadForm,
    /// A fault in Tessera or its database.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<AuthError> for WebError {
    fn from(e: AuthError) -> Self {
        WebError::Internal(e.into())
    }
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, text) = match &self {
            WebError::NotFound => {
                (StatusCode::NOT_FOUND, "Page not found", "If you typed the web address, check it is correct.")
            }
            WebError::Forbidden => (
                StatusCode::FORBIDDEN,
                "You do not have access to this page",
                "Your account does not have the permission this page needs.",
            ),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "This form has expired",
                "For your security, forms stop working when you sign in or out, or after a while. Go back, reload the page and try again.",
            ),
            WebError::BadForm => {
                (StatusCode::BAD_REQUEST, "The form could not be read", "Go back, reload the page and try again.")
            }
            WebError::Internal(e) => {
                tracing::error!(error = %e, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Sorry, there is a problem with the service",
                    "Try again later. If it keeps happening, tell the service desk the time it happened.",
                )
            }
        };
        (status, views::message_page(title, text)).into_response()
    }
}
