//! [`RequireAuthLayer`]: builds [`RequireAuth`] services.

use auth_core::{Guard, Policy};
use tower_layer::Layer;

use super::RequireAuth;

/// A layer that lets a request through only if its [`Guard`] accepts it,
/// with the caller's [`Identity`](auth_core::Identity) in the request
/// extensions and the decision's headers (from the guard's limits) on the
/// response. A refusal is a response (401, 403, 400, 429 or 503), not an
/// error. The headers the guard's methods read credentials from are marked
/// sensitive.
///
/// ```
/// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
/// use auth_core::{Guard, Policy};
/// use auth_tower::{Auth, RequireAuthLayer};
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let keys = ApiKeys::in_memory(Pepper::generate());
/// let (key, _) = keys.issue(NewKey::new("acme", Environment::Test).scopes(["reports:read"])).await.unwrap();
/// let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).realm("demo").build().unwrap();
///
/// let app = Router::new()
///     .route("/reports", get(|Auth(id): Auth| async move { id.subject().to_owned() }))
///     .route_layer(RequireAuthLayer::new(guard).policy(Policy::scope("reports:read")));
///
/// let ok = Request::get("/reports").header("x-api-key", key.expose()).body(Body::empty()).unwrap();
/// assert_eq!(app.clone().oneshot(ok).await.unwrap().status(), StatusCode::OK);
///
/// let refused = Request::get("/reports").body(Body::empty()).unwrap();
/// let res = app.oneshot(refused).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// assert_eq!(res.headers()["www-authenticate"], "Bearer realm=\"demo\"");
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct RequireAuthLayer {
    guard: Guard,
}

impl RequireAuthLayer {
    /// A layer over `guard`.
    pub fn new(guard: Guard) -> Self {
        Self { guard }
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Checks `policy` after authentication (per route, with `route_layer`).
    pub fn policy(self, policy: Policy) -> Self {
        Self {
            guard: self.guard.with_policy(policy),
        }
    }

    /// Lets requests with no credential through without an identity;
    /// handlers take `Option<Auth>`. A credential that is presented must
    /// still be valid.
    pub fn allow_anonymous(self) -> Self {
        Self {
            guard: self.guard.allow_anonymous(),
        }
    }
}

impl<S> Layer<S> for RequireAuthLayer {
    type Service = RequireAuth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RequireAuth::new(inner, self.guard.clone())
    }
}
