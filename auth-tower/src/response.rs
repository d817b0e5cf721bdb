//! Rendering a core [`Rejection`] as an `http` response, and adding a
//! decision's headers to one.

use auth_core::Rejection;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};

use crate::grpc;
use crate::require_auth::ResponseBody;

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

/// The response refusing the request of `parts`, for the layers of this
/// crate: a gRPC status for gRPC, the rejection's own status, headers and
/// body otherwise.
pub(crate) fn refusal<B>(rejection: &Rejection, parts: &Parts) -> Response<ResponseBody<B>> {
    if grpc::is_grpc(parts) {
        return grpc::rejection_response(rejection);
    }
    let mut res = Response::new(ResponseBody::refusal(Bytes::copy_from_slice(
        rejection.body(),
    )));
    *res.status_mut() =
        StatusCode::from_u16(rejection.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    add_headers(res.headers_mut(), rejection.headers());
    res
}
