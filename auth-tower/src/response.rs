//! Rendering a core [`Rejection`] as an `http` response.

use auth_core::Rejection;
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};

/// The response for `rejection`: its status, headers and problem body, as is.
pub fn rejection_response<B: From<Bytes>>(rejection: &Rejection) -> Response<B> {
    let mut res = Response::new(B::from(Bytes::copy_from_slice(rejection.body())));
    *res.status_mut() =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let headers = res.headers_mut();
    for (name, value) in rejection.headers() {
        // Names are static lower-case tokens and values are built from
        // quoted strings by the core; a value that still does not fit a
        // header is dropped rather than sent broken.
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.append(HeaderName::from_static(name), v);
        }
    }
    res
}
