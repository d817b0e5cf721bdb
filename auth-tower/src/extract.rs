//! axum extractors: [`Auth`], `Option<Auth>` and [`Claims<T>`].
//!
//! `Auth` requires an identity; `Option<Auth>` accepts anonymous callers on
//! routes whose layer [allows them](crate::RequireAuthLayer::allow_anonymous).
//! Either one used on a route without [`RequireAuthLayer`](crate::RequireAuthLayer)
//! is a programming error: the handler answers 500 and logs why, rather than
//! pretend the caller is unauthenticated.

use auth_core::{AuthError, AuthErrorKind, Identity, Scheme};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::request::HttpHead;
use crate::response::rejection_response;
use crate::service::Checked;

/// The authenticated caller, for axum handlers.
#[derive(Clone, Debug)]
pub struct Auth(pub Identity);

fn missing_layer() -> Response {
    tracing::error!(
        target: "auth_tower",
        "the Auth extractor was used on a route without RequireAuthLayer; add the layer (or route_layer) to this route"
    );
    (
        StatusCode::INTERNAL_SERVER_ERROR,
        "authentication is not configured for this route",
    )
        .into_response()
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        if let Some(id) = parts.extensions.get::<Identity>() {
            return Ok(Auth(id.clone()));
        }
        match parts.extensions.get::<Checked>() {
            // The layer let an anonymous request through, but this handler
            // needs a caller: answer as the layer would have.
            Some(checked) => {
                let err = AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None);
                let rejection = checked.guard.reject(&err, &HttpHead::new(parts));
                Err(rejection_response(&rejection))
            }
            None => Err(missing_layer()),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        if let Some(id) = parts.extensions.get::<Identity>() {
            return Ok(Some(Auth(id.clone())));
        }
        if parts.extensions.get::<Checked>().is_some() {
            Ok(None)
        } else {
            Err(missing_layer())
        }
    }
}

/// The verified token claims of the caller, as `T`.
///
/// A caller whose credential has no claims (an API key, Basic) or whose
/// claims do not deserialise into `T` gets the layer's 401 `invalid_token`.
///
/// ```
/// use auth_tower::Claims;
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
/// # let _: axum::routing::MethodRouter = axum::routing::get(handler);
/// ```
#[derive(Clone, Debug)]
pub struct Claims<T>(pub T);

impl<S, T> FromRequestParts<S> for Claims<T>
where
    S: Send + Sync,
    T: serde::de::DeserializeOwned,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(identity) =
            <Auth as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        identity.claims_as::<T>().map(Claims).map_err(|err| {
            match parts.extensions.get::<Checked>() {
                Some(checked) => {
                    rejection_response(&checked.guard.reject(&err, &HttpHead::new(parts)))
                }
                None => missing_layer(),
            }
        })
    }
}
