//! actix-web extractors: [`Auth`], [`MaybeAuth`] and [`Claims<T>`].

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

/// The verified token claims of the caller, as `T`.
///
/// A caller whose credential has no claims (an API key, Basic) or whose
/// claims do not deserialise into `T` gets the middleware's 401
/// `invalid_token`.
///
/// ```
/// use auth_actix::Claims;
///
/// #[derive(serde::Deserialize)]
/// struct Access {
///     sub: String,
///     tenant: String,
/// }
///
/// async fn handler(Claims(access): Claims<Access>) -> String {
///     format!("{} of {}", access.sub, access.tenant)
/// }
/// # let _ = actix_web::web::get().to(handler);
/// ```
#[derive(Clone, Debug)]
pub struct Claims<T>(pub T);

impl<T: serde::de::DeserializeOwned> FromRequest for Claims<T> {
    type Error = actix_web::Error;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let identity = match Auth::from_request(req, payload).into_inner() {
            Ok(Auth(id)) => id,
            Err(e) => return ready(Err(e)),
        };
        ready(identity.claims_as::<T>().map(Claims).map_err(|err| {
            let checked = req.extensions().get::<Checked>().cloned();
            match checked {
                Some(checked) => {
                    AuthRejection(checked.guard.reject(&err, &ActixHead::new(req))).into()
                }
                None => missing_middleware(),
            }
        }))
    }
}
