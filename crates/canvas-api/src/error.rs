//! The one mapping from errors to HTTP answers: `{"State": <status>, "Msg": "<text>"}`.
//! 4xx messages explain; 5xx stay opaque and their cause chain is logged once.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use canvas_store::StoreError;
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("request body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error(
        "too many failed authentication attempts from this address or for this Consumer; \
         try again in {0} s (a correct key is accepted meanwhile)"
    )]
    TooManyRequests(u64),
    /// A limit of the server's configuration was reached (429).
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize)]
struct ErrorBody<'a> {
    #[serde(rename = "State")]
    state: u16,
    #[serde(rename = "Msg")]
    msg: &'a str,
}

impl ApiError {
    pub fn internal(e: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self::Internal(Box::new(e))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::TooManyRequests(_) | Self::Limit(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => Self::NotFound("Not found".into()),
            // A client's change met another's (a unique name taken, a row
            // changed meanwhile): theirs to resolve, so a 4xx that says so.
            StoreError::Conflict(what) => Self::Conflict(format!(
                "the change conflicts with what is stored ({what}): another request changed it meanwhile; read it again and retry"
            )),
            other => Self::internal(other),
        }
    }
}

fn cause_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let msg = match &self {
            Self::Internal(cause) => {
                tracing::error!(error = %cause_chain(cause.as_ref()), "request failed");
                "Internal server error".to_string()
            }
            Self::Unavailable(m) => m.clone(),
            other => other.to_string(),
        };
        let body = ErrorBody {
            state: status.as_u16(),
            msg: &msg,
        };
        let mut response = (status, axum::Json(body)).into_response();
        if let Self::TooManyRequests(wait) = self {
            response
                .headers_mut()
                .insert(axum::http::header::RETRY_AFTER, wait.into());
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_conflict_is_a_409_that_explains() {
        let e = ApiError::from(StoreError::Conflict("unique"));
        assert_eq!(e.status(), StatusCode::CONFLICT);
        assert!(
            e.to_string()
                .contains("conflicts with what is stored (unique)"),
            "{e}"
        );
    }
}
