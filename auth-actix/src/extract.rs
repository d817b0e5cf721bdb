//! actix-web extractors: [`Auth`], [`MaybeAuth`] and [`Claims<T>`]; they
//! refuse with [`AuthRejection`](crate::AuthRejection).

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpMessage, HttpRequest};
use auth_core::{AuthError, AuthErrorKind, Identity};

use crate::error::AuthRejection;
use crate::middleware::Checked;
use crate::request::HeadView;

/// The authenticated caller, for actix-web handlers.
///
/// Used on a route without [`RequireAuth`](crate::RequireAuth), it answers 500
/// and logs why. Where the middleware allows anonymous callers, take
/// [`MaybeAuth`].
#[derive(Clone, Debug)]
pub struct Auth(pub Identity);

/// Refuses `err` as the middleware that ran on `req` would have.
fn refuse(req: &HttpRequest, err: &AuthError) -> AuthRejection {
    let checked = req.extensions().get::<Checked>().cloned();
    match checked {
        Some(checked) => AuthRejection::Refused(checked.guard.reject(err, &HeadView::new(req))),
        None => AuthRejection::NotConfigured,
    }
}

impl FromRequest for Auth {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let id = req.extensions().get::<Identity>().cloned();
        ready(match id {
            Some(id) => Ok(Auth(id)),
            // The middleware let an anonymous request through, but this
            // handler needs a caller: answer as the middleware would have.
            None => Err(refuse(
                req,
                &AuthError::new(AuthErrorKind::MissingCredentials),
            )),
        })
    }
}

/// The caller, or `None` for an anonymous caller the middleware let in.
/// (actix-web's own `Option<T>` extractor would also swallow a missing
/// middleware; `MaybeAuth` keeps that a 500.)
#[derive(Clone, Debug)]
pub struct MaybeAuth(pub Option<Identity>);

impl FromRequest for MaybeAuth {
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let ext = req.extensions();
        if let Some(id) = ext.get::<Identity>() {
            return ready(Ok(MaybeAuth(Some(id.clone()))));
        }
        if ext.get::<Checked>().is_some() {
            ready(Ok(MaybeAuth(None)))
        } else {
            ready(Err(AuthRejection::NotConfigured))
        }
    }
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
    type Error = AuthRejection;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let identity = match Auth::from_request(req, payload).into_inner() {
            Ok(Auth(id)) => id,
            Err(e) => return ready(Err(e)),
        };
        ready(
            identity
                .claims_as::<T>()
                .map(Claims)
                .map_err(|err| refuse(req, &err)),
        )
    }
}
