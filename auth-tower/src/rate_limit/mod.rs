//! [`RateLimitLayer`] and its [`RateLimit`] service: a rate limit (or any
//! [`Limit`](auth_core::limits::Limit)) as a layer of its own, inside
//! [`RequireAuthLayer`](crate::RequireAuthLayer).
//!
//! The layer reads the caller the auth layer put in the request's
//! extensions (none: an anonymous caller, whom an
//! [`auth_core::rate_limit::RateLimiter`] limits by its anonymous quota,
//! keyed by client address), runs the limit, and then either calls the
//! inner service and adds the limit's headers (`RateLimit-Policy`,
//! `RateLimit`) to its response, or refuses: `429` with `Retry-After`, the
//! same fields and the problem body, rendered by the guard that let the
//! request through, exactly as that guard renders a refusal of its own
//! limits stage ([`Guard::with_limit`](auth_core::Guard::with_limit)); a
//! gRPC request gets `RESOURCE_EXHAUSTED` with the same fields as metadata
//! ([`grpc`](crate::grpc)). A store that cannot answer is a `503` with
//! `Retry-After` (or, with `fail_open`, the request goes through).
//!
//! Attaching the limiter to the guard (`guard.with_limit(limiter)`) and
//! attaching it as this layer give the same answers; the layer lets one
//! auth layer serve routes with different limits, or none.
//!
//! Put it *inside* the auth layer (added before it on an axum router, or
//! after it in a `ServiceBuilder`): outside, it sees no caller, and every
//! request counts as anonymous.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::rate_limit::{Quota, RateLimiter};
//! use auth_core::Guard;
//! use auth_tower::rate_limit::RateLimitLayer;
//! use auth_tower::{Auth, RequireAuthLayer};
//! use axum::{Router, body::Body, routing::get};
//! use http::{Request, StatusCode};
//! use tower::ServiceExt;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let keys = ApiKeys::in_memory(Pepper::generate());
//! let (key, _) = keys.issue(NewKey::new("acme", Environment::Test)).await.unwrap();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).build().unwrap();
//! let limiter = RateLimiter::builder()
//!     .default_quota(Quota::new("api", 1, Duration::from_secs(60)).unwrap())
//!     .build();
//!
//! let app = Router::new()
//!     .route("/reports", get(|Auth(id): Auth| async move { id.subject().to_owned() }))
//!     // The last layer added is the outermost: auth first, then the limit.
//!     .route_layer(RateLimitLayer::new(limiter))
//!     .route_layer(RequireAuthLayer::new(guard));
//! let req = || Request::get("/reports").header("x-api-key", key.expose()).body(Body::empty()).unwrap();
//!
//! let ok = app.clone().oneshot(req()).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! assert_eq!(ok.headers()["ratelimit-policy"], "\"api\";q=1;w=60");
//!
//! let refused = app.oneshot(req()).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert_eq!(refused.headers()["retry-after"], "60");
//! assert_eq!(refused.headers()["content-type"], "application/problem+json");
//! # });
//! ```

mod layer;
mod service;

pub use crate::require_auth::{ResponseBody, ResponseFuture};
pub use layer::RateLimitLayer;
pub use service::RateLimit;
