//! [`RequireAuthLayer`] and its [`RequireAuth`] service: authenticate, check
//! the policy and limits, attach the identity, add the decision's headers.
//!
//! It wraps any Tower service, not only an axum router. A refusal is a
//! response from the layer (`Ok`, not an error); an allowed request reaches
//! the inner service with the caller's [`Identity`](auth_core::Identity) in
//! its extensions:
//!
//! ```
//! use std::convert::Infallible;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::{Guard, Identity};
//! use auth_tower::RequireAuthLayer;
//! use http::{Request, Response, StatusCode};
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let keys = ApiKeys::in_memory(Pepper::generate());
//! let (key, _) = keys.issue(NewKey::new("acme", Environment::Test)).await.unwrap();
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).realm("demo").build().unwrap();
//!
//! let whoami = service_fn(|req: Request<String>| async move {
//!     let subject = req.extensions().get::<Identity>().map(|id| id.subject().to_owned());
//!     Ok::<_, Infallible>(Response::new(subject.unwrap_or_default()))
//! });
//! let svc = ServiceBuilder::new().layer(RequireAuthLayer::new(guard)).service(whoami);
//! let req = |key: &str| Request::get("/").header("x-api-key", key).body(String::new()).unwrap();
//!
//! let ok = svc.clone().oneshot(req(key.expose())).await.unwrap();
//! assert_eq!(ok.status(), StatusCode::OK);
//! let refused = svc.oneshot(req("ask_test_not-a-key")).await.unwrap();
//! assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(refused.headers()["content-type"], "application/problem+json");
//! # });
//! ```

mod body;
mod future;
mod layer;
mod service;

pub use body::ResponseBody;
pub use future::ResponseFuture;
pub use layer::RequireAuthLayer;
pub(crate) use service::Checked;
pub use service::RequireAuth;
