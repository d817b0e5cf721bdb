//! axum extractors: [`Auth`], `Option<Auth>` and [`Claims<T>`], and their
//! rejection, [`AuthRejection`].
//!
//! `Auth` requires an identity; `Option<Auth>` accepts anonymous callers on
//! routes whose layer [allows them](crate::RequireAuthLayer::allow_anonymous).
//! Either one used on a route without [`RequireAuthLayer`](crate::RequireAuthLayer)
//! is a programming error: the handler answers 500 and logs why, rather than
//! pretend the caller is unauthenticated.

use auth_core::{AuthError, AuthErrorKind, Identity, Rejection};
use axum::extract::{FromRequestParts, OptionalFromRequestParts};
use axum::response::{IntoResponse, Response};
use http::StatusCode;
use http::request::Parts;

use crate::request::HeadView;
use crate::require_auth::Checked;
use crate::response::rejection_response;

/// The authenticated caller, for axum handlers.
#[derive(Clone, Debug)]
pub struct Auth(pub Identity);

/// Why an extractor of this crate refused, as a response. A handler can
/// return it (or `?` a [`Rejection`] into it).
///
/// ```
/// use auth_core::{Guard, Rejection};
/// use auth_tower::{AuthRejection, HeadView};
/// use axum::response::IntoResponse;
///
/// async fn upgrade(guard: Guard, parts: http::request::Parts) -> Result<&'static str, AuthRejection> {
///     let decision = guard.check(&HeadView::new(&parts)).await?;
///     Ok(if decision.identity().is_some() { "welcome" } else { "anonymous" })
/// }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum AuthRejection {
    /// The request is refused: the core's status, challenges and body.
    Refused(Rejection),
    /// The route has no [`RequireAuthLayer`](crate::RequireAuthLayer): a
    /// programming error, answered with 500.
    NotConfigured,
}

impl From<Rejection> for AuthRejection {
    fn from(r: Rejection) -> Self {
        Self::Refused(r)
    }
}

impl IntoResponse for AuthRejection {
    fn into_response(self) -> Response {
        match self {
            Self::Refused(r) => rejection_response(&r),
            Self::NotConfigured => {
                tracing::error!(
                    target: "auth_tower",
                    "an auth extractor was used on a route without RequireAuthLayer; add the layer (or route_layer) to this route"
                );
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "authentication is not configured for this route",
                )
                    .into_response()
            }
        }
    }
}

/// Refuses `err` as the layer that ran on `parts` would have.
fn refuse(parts: &Parts, err: &AuthError) -> AuthRejection {
    match parts.extensions.get::<Checked>() {
        Some(checked) => AuthRejection::Refused(checked.guard.reject(err, &HeadView::new(parts))),
        None => AuthRejection::NotConfigured,
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        match parts.extensions.get::<Identity>() {
            Some(id) => Ok(Auth(id.clone())),
            // The layer let an anonymous request through, but this handler
            // needs a caller: answer as the layer would have.
            None => Err(refuse(
                parts,
                &AuthError::new(AuthErrorKind::MissingCredentials),
            )),
        }
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for Auth {
    type Rejection = AuthRejection;

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
            Err(AuthRejection::NotConfigured)
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
    type Rejection = AuthRejection;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let Auth(identity) =
            <Auth as FromRequestParts<S>>::from_request_parts(parts, state).await?;
        identity
            .claims_as::<T>()
            .map(Claims)
            .map_err(|err| refuse(parts, &err))
    }
}
