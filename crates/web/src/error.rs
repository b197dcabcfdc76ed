//! One error type for every handler: a friendly page with the right status.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use doublecheck_gate::release::ReleaseError;
use doublecheck_store::StoreError;

/// An error page: status, a short title and one or two sentences of what to do.
#[derive(Debug)]
pub struct AppError {
    pub status: StatusCode,
    pub title: &'static str,
    pub message: String,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    status: u16,
    message: &'a str,
    nav: Option<crate::util::Nav>,
}

impl AppError {
    pub fn new(status: StatusCode, title: &'static str, message: impl Into<String>) -> AppError {
        AppError {
            status,
            title,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> AppError {
        AppError::new(
            StatusCode::BAD_REQUEST,
            "Something in the request is not right",
            message,
        )
    }

    pub fn forbidden(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::FORBIDDEN, "Not allowed", message)
    }

    pub fn not_found() -> AppError {
        AppError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such page or held message, or it is not yours to see.",
        )
    }

    pub fn conflict(message: impl Into<String>) -> AppError {
        AppError::new(StatusCode::CONFLICT, "That cannot be done now", message)
    }

    pub fn internal(message: impl std::fmt::Display) -> AppError {
        tracing::error!(error = %message, "review queue: internal error");
        AppError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong",
            "The review queue hit an internal error. Try again; if it persists, tell your administrator.",
        )
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> AppError {
        match e {
            StoreError::NotFound => AppError::not_found(),
            StoreError::Conflict(m) => AppError::conflict(capitalize(&m)),
            StoreError::Forbidden(m) => AppError::forbidden(capitalize(&m)),
            StoreError::Invalid(m) => AppError::bad_request(capitalize(&m)),
            StoreError::TooLarge { .. } => {
                AppError::new(StatusCode::PAYLOAD_TOO_LARGE, "Too large", e.to_string())
            }
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "review queue: database unavailable");
                AppError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "The database is not answering",
                    "Try again in a moment.",
                )
            }
            other => AppError::internal(other),
        }
    }
}

impl From<ReleaseError> for AppError {
    fn from(e: ReleaseError) -> AppError {
        match e {
            ReleaseError::Store(s) => s.into(),
            ReleaseError::AlreadyRejected => AppError::conflict(e.to_string()),
            ReleaseError::Delivery(..) | ReleaseError::NoUpstream | ReleaseError::Command(_) => {
                AppError::new(
                    StatusCode::BAD_GATEWAY,
                    "Released, but not delivered yet",
                    capitalize(&e.to_string()),
                )
            }
        }
    }
}

fn capitalize(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect::<String>(),
        None => String::new(),
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let page = ErrorPage {
            title: self.title,
            status: self.status.as_u16(),
            message: &self.message,
            nav: None,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => (self.status, self.message).into_response(),
        }
    }
}
