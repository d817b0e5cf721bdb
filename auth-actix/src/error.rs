//! Rendering a core [`Rejection`] as an actix-web response.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use auth_core::Rejection;

/// The response for `rejection`: its status, headers and problem body, as is.
pub fn rejection_response(rejection: &Rejection) -> HttpResponse {
    let status =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status);
    for (name, value) in rejection.headers() {
        res.append_header((*name, value.as_str()));
    }
    res.body(rejection.body().to_vec())
}

/// A refusal as an actix-web error, for handlers and extractors that want to
/// return one with `?`.
#[derive(Debug)]
pub struct AuthRejection(pub Rejection);

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "request refused with status {}", self.0.status())
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.0.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        rejection_response(&self.0)
    }
}
