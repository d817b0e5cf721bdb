//! gRPC: refusals as gRPC statuses, for tonic services behind
//! [`RequireAuthLayer`](crate::RequireAuthLayer).
//!
//! A request whose `content-type` starts with `application/grpc` is refused
//! the gRPC way: HTTP 200 with no body (a "trailers-only" response) whose
//! `grpc-status` says why, with a fixed `grpc-message` that never echoes
//! the credential, and the `www-authenticate` challenges and `retry-after`
//! kept as metadata.
//!
//! | HTTP refusal | gRPC status |
//! | --- | --- |
//! | 400 | `INVALID_ARGUMENT` (3) |
//! | 401 | `UNAUTHENTICATED` (16) |
//! | 403 | `PERMISSION_DENIED` (7) |
//! | 429 | `RESOURCE_EXHAUSTED` (8) |
//! | 503 | `UNAVAILABLE` (14) |
//!
//! A tonic handler finds the caller in the request's extensions
//! (`request.extensions().get::<auth_core::Identity>()`), as any inner
//! service does:
//!
//! ```
//! use std::convert::Infallible;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::{Guard, Identity};
//! use auth_tower::RequireAuthLayer;
//! use http::{Request, Response};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let keys = ApiKeys::in_memory(Pepper::generate());
//! # let (key, _) = keys.issue(NewKey::new("acme", Environment::Test)).await.unwrap();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).realm("demo").build().unwrap();
//! // Stands in for a tonic service.
//! let reports = service_fn(|req: Request<String>| async move {
//!     let id = req.extensions().get::<Identity>().expect("behind the layer");
//!     let res = Response::builder().header("grpc-status", "0").body(id.subject().to_owned());
//!     Ok::<_, Infallible>(res.unwrap())
//! });
//! let svc = ServiceBuilder::new().layer(RequireAuthLayer::new(guard)).service(reports);
//! let call = |key: &str| {
//!     Request::post("/demo.Reports/List").header("content-type", "application/grpc")
//!         .header("x-api-key", key).body(String::new()).unwrap()
//! };
//!
//! let ok = svc.clone().oneshot(call(key.expose())).await.unwrap();
//! assert_eq!(ok.headers()["grpc-status"], "0");
//! let refused = svc.oneshot(call("ask_test_not-a-key")).await.unwrap();
//! assert_eq!(refused.status(), 200); // gRPC refusals travel in grpc-status
//! assert_eq!(refused.headers()["grpc-status"], "16"); // UNAUTHENTICATED
//! assert!(refused.headers().contains_key("www-authenticate"));
//! # });
//! ```
//!
//! `examples/grpc-service` serves a tonic service this way, per-method
//! policies included.

use auth_core::Rejection;
use http::request::Parts;
use http::{HeaderValue, Response, StatusCode};

use crate::response::add_headers;

/// The gRPC status code for `rejection`.
///
/// ```
/// use auth_core::{AuthError, AuthErrorKind, Rejection};
///
/// let missing = Rejection::from_error(&AuthError::new(AuthErrorKind::MissingCredentials), "api", &[]);
/// assert_eq!(auth_tower::grpc::status_code(&missing), 16); // UNAUTHENTICATED
/// ```
pub fn status_code(rejection: &Rejection) -> u8 {
    match rejection.status() {
        400 => 3,
        401 => 16,
        403 => 7,
        429 => 8,
        503 => 14,
        // No refusal has another status; UNKNOWN if one ever does.
        _ => 2,
    }
}

/// The trailers-only gRPC response for `rejection`.
///
/// ```
/// use auth_core::{AuthError, AuthErrorKind, Rejection};
///
/// let denied = Rejection::from_error(&AuthError::new(AuthErrorKind::Forbidden), "api", &[]);
/// let res = auth_tower::grpc::rejection_response::<String>(&denied);
/// assert_eq!(res.status(), 200);
/// assert_eq!(res.headers()["grpc-status"], "7");
/// assert_eq!(res.headers()["content-type"], "application/grpc");
/// ```
pub fn rejection_response<B: Default>(rejection: &Rejection) -> Response<B> {
    let mut res = Response::new(B::default());
    *res.status_mut() = StatusCode::OK;
    let kept: Vec<(&'static str, String)> = rejection
        .headers()
        .iter()
        .filter(|(name, _)| *name != "content-type")
        .cloned()
        .collect();
    let headers = res.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    headers.insert(
        "grpc-status",
        HeaderValue::from(u16::from(status_code(rejection))),
    );
    if let Ok(message) = HeaderValue::from_str(&percent_encode(rejection.detail())) {
        headers.insert("grpc-message", message);
    }
    add_headers(headers, &kept);
    res
}

/// Whether `parts` is a gRPC request (`content-type: application/grpc…`).
pub(crate) fn is_grpc(parts: &Parts) -> bool {
    parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// `grpc-message` encoding: bytes outside printable ASCII, and `%`, as
/// `%XX` (gRPC over HTTP/2, "Responses").
fn percent_encode(text: &str) -> String {
    use std::fmt::Write as _;
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if (0x20..=0x7e).contains(&b) && b != b'%' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use auth_core::{AuthError, AuthErrorKind, Challenge};

    fn refusal(kind: AuthErrorKind) -> Rejection {
        Rejection::from_error(&AuthError::new(kind), "api", &[Challenge::bearer()])
    }

    #[test]
    fn every_refusal_status_has_its_grpc_code() {
        for (kind, code) in [
            (AuthErrorKind::InvalidRequest, 3),
            (AuthErrorKind::MissingCredentials, 16),
            (AuthErrorKind::InvalidCredentials, 16),
            (AuthErrorKind::ExpiredCredentials, 16),
            (AuthErrorKind::RevokedCredentials, 16),
            (AuthErrorKind::InsufficientScope, 7),
            (AuthErrorKind::Forbidden, 7),
            (AuthErrorKind::LockedOut, 8),
            (AuthErrorKind::RateLimited, 8),
            (AuthErrorKind::Unavailable, 14),
        ] {
            let r = refusal(kind);
            assert_eq!(status_code(&r), code, "{kind:?}");
            let res = rejection_response::<String>(&r);
            assert_eq!(res.headers()["grpc-status"], code.to_string().as_str());
            assert!(res.body().is_empty());
        }
    }

    #[test]
    fn challenges_and_retry_after_are_kept_as_metadata() {
        let r = refusal(AuthErrorKind::MissingCredentials);
        let res = rejection_response::<String>(&r);
        assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"api\"");
        assert_eq!(res.headers()["cache-control"], "no-store");
        assert_eq!(res.headers().get_all("content-type").iter().count(), 1);
        let busy = refusal(AuthErrorKind::Unavailable);
        let res = rejection_response::<String>(&busy);
        assert_eq!(res.headers()["retry-after"], "1");
        assert_eq!(
            res.headers()["grpc-message"].to_str().unwrap_or_default(),
            percent_encode(busy.detail())
        );
    }

    #[test]
    fn messages_are_percent_encoded() {
        assert_eq!(percent_encode("a b%c"), "a b%25c");
        assert_eq!(percent_encode("é\n"), "%C3%A9%0A");
        assert_eq!(percent_encode("~ !"), "~ !");
    }

    #[test]
    fn grpc_requests_are_told_by_content_type() {
        let parts = |ct: &str| {
            http::Request::post("/x")
                .header("content-type", ct)
                .body(())
                .unwrap_or_default()
                .into_parts()
                .0
        };
        assert!(is_grpc(&parts("application/grpc")));
        assert!(is_grpc(&parts("application/grpc+proto")));
        assert!(!is_grpc(&parts("application/json")));
        assert!(!is_grpc(
            &http::Request::get("/")
                .body(())
                .unwrap_or_default()
                .into_parts()
                .0
        ));
    }
}
