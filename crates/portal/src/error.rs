//! Errors as Stripe gives them: `{"error": {"type", "code", "message", "param"?}}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use doublecheck_store::StoreError;

/// One API error: a status, a type (`invalid_request_error`, `authentication_error`,
/// `idempotency_error`, `rate_limit_error`, `api_error`), a code, a sentence and the parameter
/// at fault.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub kind: &'static str,
    pub code: &'static str,
    pub message: String,
    pub param: Option<String>,
    /// Per-row errors of a batch.
    pub errors: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        kind: &'static str,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            kind,
            code,
            message: message.into(),
            param: None,
            errors: None,
        }
    }

    /// 400 `invalid_request_error` naming the parameter.
    pub fn invalid(
        param: impl Into<String>,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        );
        e.param = Some(param.into());
        e
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_error",
            code,
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "authentication_error",
            "api_key_invalid",
            message,
        )
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        let mut e = ApiError::new(
            StatusCode::NOT_FOUND,
            "invalid_request_error",
            "resource_missing",
            format!(
                "No such {what}: '{}'",
                id.chars().take(80).collect::<String>()
            ),
        );
        e.param = Some("id".into());
        e
    }

    pub fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!(error = %e, "portal API: internal error");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "internal_error",
            "Something went wrong on our side; try again.",
        )
    }

    pub fn json(&self) -> serde_json::Value {
        let mut e = serde_json::json!({
            "type": self.kind,
            "code": self.code,
            "message": self.message,
        });
        if let Some(p) = &self.param {
            e["param"] = p.clone().into();
        }
        if let Some(errs) = &self.errors {
            e["errors"] = errs.clone();
        }
        serde_json::json!({ "error": e })
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.json())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound => ApiError::new(
                StatusCode::NOT_FOUND,
                "invalid_request_error",
                "resource_missing",
                "No such object.",
            ),
            StoreError::InvalidTransition { from, to } => ApiError::bad_request(
                "verification_session_unexpected_state",
                format!("This verification session is {from}; it cannot become {to}."),
            ),
            StoreError::Conflict(m) => ApiError::bad_request("resource_conflict", m),
            StoreError::Invalid(m) => {
                let param = m
                    .split_once(':')
                    .map(|(p, _)| p.to_string())
                    .filter(|p| !p.contains(' '));
                let mut e = ApiError::bad_request("parameter_invalid", m);
                e.param = param;
                e
            }
            StoreError::TooLarge { .. } => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "invalid_request_error",
                "request_too_large",
                e.to_string(),
            ),
            StoreError::Unavailable(m) => {
                tracing::warn!(error = %m, "portal API: database unavailable");
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "api_error",
                    "database_unavailable",
                    "The database is not answering; try again in a moment.",
                )
            }
            other => ApiError::internal(other),
        }
    }
}
