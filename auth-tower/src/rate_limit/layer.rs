//! [`RateLimitLayer`]: builds [`RateLimit`] services.

use std::sync::Arc;

use auth_core::limits::Limit;
use tower_layer::Layer;

use super::RateLimit;

/// A layer that runs a [`Limit`] (an
/// [`auth_core::rate_limit::RateLimiter`], say) on each request, for the
/// caller a [`RequireAuthLayer`](crate::RequireAuthLayer) outside it let
/// through; see the [module docs](super).
///
/// ```
/// use std::time::Duration;
/// use auth_core::rate_limit::{Quota, RateLimiter};
/// use auth_tower::ConnectionInfo;
/// use auth_tower::rate_limit::RateLimitLayer;
/// use axum::{Router, body::Body, routing::get};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// // An open route: anonymous callers, one request a minute per address.
/// let limiter = RateLimiter::builder()
///     .anonymous_quota(Quota::new("open", 1, Duration::from_secs(60)).unwrap())
///     .build();
/// let app = Router::new()
///     .route("/status", get(|| async { "up" }))
///     .layer(RateLimitLayer::new(limiter));
/// let req = || {
///     let mut req = Request::get("/status").body(Body::empty()).unwrap();
///     // What `auth_tower::serve` records for each connection.
///     let peer = "203.0.113.9:5000".parse().ok();
///     req.extensions_mut().insert(ConnectionInfo::new(peer, false, Vec::new()));
///     req
/// };
/// assert_eq!(app.clone().oneshot(req()).await.unwrap().status(), StatusCode::OK);
/// assert_eq!(app.oneshot(req()).await.unwrap().status(), StatusCode::TOO_MANY_REQUESTS);
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimitLayer {
    limit: Arc<dyn Limit>,
}

impl std::fmt::Debug for RateLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitLayer").finish_non_exhaustive()
    }
}

impl RateLimitLayer {
    /// A layer running `limit`. Clones of a
    /// [`RateLimiter`](auth_core::rate_limit::RateLimiter) share their
    /// state: give two routes clones of one limiter for one quota over both.
    pub fn new(limit: impl Limit) -> Self {
        Self {
            limit: Arc::new(limit),
        }
    }

    /// A layer running a limit that is shared already.
    pub fn from_shared(limit: Arc<dyn Limit>) -> Self {
        Self { limit }
    }
}

impl<S> Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;

    fn layer(&self, inner: S) -> Self::Service {
        RateLimit::from_shared(inner, Arc::clone(&self.limit))
    }
}
