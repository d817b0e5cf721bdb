//! Rendering a core [`Rejection`] as an `http` response, and adding a
//! decision's headers to one.

use auth_core::Rejection;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

/// The response for `rejection`: its status, headers and problem body, as is.
pub fn rejection_response<B: From<Bytes>>(rejection: &Rejection) -> Response<B> {
    let mut res = Response::new(B::from(Bytes::copy_from_slice(rejection.body())));
    *res.status_mut() =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
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
