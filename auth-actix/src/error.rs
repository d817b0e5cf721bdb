//! Rendering a core [`Rejection`] as an actix-web response, adding a
//! decision's headers to one, and [`AuthRejection`], the extractors' error.

use actix_web::http::StatusCode;
use actix_web::http::header::{HeaderMap, HeaderName, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use auth_core::Rejection;

/// The response for `rejection`: its status, headers and problem body, as is.
pub fn rejection_response(rejection: &Rejection) -> HttpResponse {
    let status =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = HttpResponse::build(status).body(rejection.body().to_vec());
    add_headers(res.headers_mut(), rejection.headers());
    res
}

/// Appends `headers` (lower-case names, values built by the core). A pair
/// that still does not fit a header is dropped rather than sent broken.
pub(crate) fn add_headers(map: &mut HeaderMap, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let (Ok(n), Ok(v)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(n, v);
        }
    }
}

/// Why an extractor of this crate refused, as an actix-web error. A handler
/// can return it (or `?` a [`Rejection`] into it).
///
/// ```
/// use actix_web::HttpRequest;
/// use auth_actix::{AuthRejection, HeadView};
/// use auth_core::Guard;
///
/// async fn upgrade(guard: Guard, req: HttpRequest) -> Result<&'static str, AuthRejection> {
///     let decision = guard.check(&HeadView::new(&req)).await?;
///     Ok(if decision.identity().is_some() { "welcome" } else { "anonymous" })
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The request is refused: the core's status, challenges and body.
    Refused(Rejection),
    /// The route has no [`RequireAuth`](crate::RequireAuth): a programming
    /// error, answered with 500.
    NotConfigured,
}

impl From<Rejection> for AuthRejection {
    fn from(r: Rejection) -> Self {
        Self::Refused(r)
    }
}

impl std::fmt::Display for AuthRejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Refused(r) => write!(f, "request refused with status {}", r.status()),
            Self::NotConfigured => f.write_str("authentication is not configured for this route"),
        }
    }
}

impl ResponseError for AuthRejection {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::Refused(r) => {
                StatusCode::from_u16(r.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::NotConfigured => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            Self::Refused(r) => rejection_response(r),
            Self::NotConfigured => {
                tracing::error!(
                    target: "auth_actix",
                    "an auth extractor was used on a route without RequireAuth; wrap the route in the middleware"
                );
                HttpResponse::InternalServerError()
                    .body("authentication is not configured for this route")
            }
        }
    }
}
