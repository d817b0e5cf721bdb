//! actix-web extractors: [`Auth`] and `Option<Auth>`.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::error::InternalError;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use auth_core::{AuthError, AuthErrorKind, Identity, Scheme};

use crate::error::AuthRejection;
use crate::middleware::Checked;
use crate::request::ActixHead;

/// The authenticated caller, for actix-web handlers.
///
/// Used on a route without [`RequireAuth`](crate::RequireAuth), it answers 500
/// and logs why. Where the middleware allows anonymous callers, take
/// `Option<Auth>`.
#[derive(Clone, Debug)]
pub struct Auth(pub Identity);

impl FromRequest for Auth {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        if let Some(id) = ext.get::<Identity>() {
            return ready(Ok(Auth(id.clone())));
        }
        let checked = ext.get::<Checked>().cloned();
        drop(ext);
        ready(Err(match checked {
            Some(checked) => {
                let err = AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None);
                AuthRejection(checked.guard.reject(&err, &ActixHead::new(req))).into()
            }
            None => missing_middleware(),
        }))
    }
}

/// `Option<Auth>` is `None` for an anonymous caller the middleware let in.
/// (actix-web's own `Option<T>` extractor would also swallow a missing
/// middleware; use [`MaybeAuth`] to keep that a 500.)
#[derive(Clone, Debug)]
pub struct MaybeAuth(pub Option<Identity>);

impl FromRequest for MaybeAuth {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        if let Some(id) = ext.get::<Identity>() {
            return ready(Ok(MaybeAuth(Some(id.clone()))));
        }
        if ext.get::<Checked>().is_some() {
            ready(Ok(MaybeAuth(None)))
        } else {
            ready(Err(missing_middleware()))
        }
    }
}

fn missing_middleware() -> actix_web::Error {
    tracing::error!(
        target: "auth_actix",
        "the Auth extractor was used on a route without RequireAuth; wrap the route in the middleware"
    );
    InternalError::new(
        "authentication is not configured for this route",
        StatusCode::INTERNAL_SERVER_ERROR,
    )
    .into()
}
