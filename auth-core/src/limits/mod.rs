//! The limits stage: what runs after authentication and policy, and may
//! refuse a caller who is who they say and may do what they ask, but not
//! now (rate limits), adding response headers either way.
//!
//! ```
//! use auth_core::limits::{Limit, ResponseHeaders};
//! use auth_core::{
//!     AuthError, AuthErrorKind, AuthMethod, AuthRequest, Authenticator, BoxFuture, Challenge,
//!     Guard, Identity, RequestHead, SimpleRequest, Specificity,
//! };
//!
//! /// Lets through callers whose subject is not `mallory`, telling each one so.
//! struct NotMallory;
//!
//! impl Limit for NotMallory {
//!     fn check<'a>(
//!         &'a self,
//!         _head: &'a dyn RequestHead,
//!         identity: Option<&'a Identity>,
//!         headers: &'a mut ResponseHeaders,
//!     ) -> BoxFuture<'a, Result<(), AuthError>> {
//!         headers.push(("x-checked", "1".to_owned()));
//!         let refused = identity.is_some_and(|id| id.subject() == "mallory");
//!         Box::pin(async move {
//!             if refused {
//!                 Err(AuthError::new(AuthErrorKind::RateLimited))
//!             } else {
//!                 Ok(())
//!             }
//!         })
//!     }
//! }
//!
//! # struct Name;
//! # impl Authenticator for Name {
//! #     fn credential_headers(&self, out: &mut Vec<&'static str>) { out.push("x-name"); }
//! #     fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
//! #         req.credential().header("x-name").map(|_| Specificity::Exact)
//! #     }
//! #     fn authenticate<'a>(&'a self, req: &'a AuthRequest<'a>) -> BoxFuture<'a, Result<Identity, AuthError>> {
//! #         let name = req.credential().header("x-name").map(|v| String::from_utf8_lossy(v.expose()).into_owned());
//! #         Box::pin(async move { Ok(Identity::new(name.unwrap_or_default(), AuthMethod::Custom)) })
//! #     }
//! #     fn challenges(&self, _: &dyn RequestHead, out: &mut Vec<Challenge>) { out.push(Challenge::new("Name")); }
//! # }
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let guard = Guard::builder(Name).build().unwrap().with_limit(NotMallory);
//! let alice = SimpleRequest::get("/").header("x-name", "alice");
//! let decision = guard.check(&alice).await.unwrap();
//! assert_eq!(decision.headers(), [("x-checked", "1".to_owned())]);
//!
//! let mallory = SimpleRequest::get("/").header("x-name", "mallory");
//! let refused = guard.check(&mallory).await.unwrap_err();
//! assert_eq!(refused.status(), 429);
//! assert_eq!(refused.header_values("x-checked").collect::<Vec<_>>(), ["1"]);
//! # });
//! ```

mod lockout;

pub(crate) use lockout::client_bucket;
pub use lockout::{Attempt, Lockout};

use crate::authenticate::BoxFuture;
use crate::error::AuthError;
use crate::guard::Guard;
use crate::identity::Identity;
use crate::rejection::Rejection;
use crate::request::RequestHead;

/// Response headers a decision adds: lower-case static names and values.
pub type ResponseHeaders = Vec<(&'static str, String)>;

/// A check after authentication and policy. It may push response headers
/// (e.g. `RateLimit` fields): they go on the allowed response, and on the
/// refusal when this or a later limit refuses.
pub trait Limit: Send + Sync + 'static {
    /// Checks `identity` (`None` for an allowed anonymous caller).
    fn check<'a>(
        &'a self,
        head: &'a dyn RequestHead,
        identity: Option<&'a Identity>,
        headers: &'a mut ResponseHeaders,
    ) -> BoxFuture<'a, Result<(), AuthError>>;
}

/// Runs `limit` by itself, as a standalone adapter layer does after the
/// auth layer (rather than in a guard's limits stage): the headers to add
/// to the response, or the refusal to send, with the headers `limit`
/// pushed added to it.
///
/// The refusal is rendered by `guard` (the guard that let the request
/// through, so a custom [`RenderRejection`](crate::RenderRejection)
/// applies) exactly as [`Guard::check`] renders a refusal of its own
/// limits stage; without a guard, as [`Rejection::from_error`] renders it.
/// A refusal is logged as the guard logs one (target
/// `auth_core::decision`, `outcome = "deny"`).
///
/// ```
/// use std::time::Duration;
/// use auth_core::limits::check_limit;
/// use auth_core::rate_limit::{Quota, RateLimiter};
/// use auth_core::SimpleRequest;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let limiter = RateLimiter::builder()
///     .anonymous_quota(Quota::new("anon", 1, Duration::from_secs(60)).unwrap())
///     .build();
/// let req = SimpleRequest::get("/").peer("203.0.113.9:5000".parse().unwrap());
/// let headers = check_limit(&limiter, &req, None, None).await.unwrap();
/// assert!(headers.contains(&("ratelimit-policy", "\"anon\";q=1;w=60".to_owned())));
/// let refused = check_limit(&limiter, &req, None, None).await.unwrap_err();
/// assert_eq!(refused.status(), 429);
/// assert_eq!(refused.header_values("retry-after").collect::<Vec<_>>(), ["60"]);
/// # });
/// ```
pub async fn check_limit(
    limit: &dyn Limit,
    head: &dyn RequestHead,
    identity: Option<&Identity>,
    guard: Option<&Guard>,
) -> Result<ResponseHeaders, Rejection> {
    let mut headers = ResponseHeaders::new();
    let Err(err) = limit.check(head, identity, &mut headers).await else {
        return Ok(headers);
    };
    tracing::info!(
        target: "auth_core::decision",
        outcome = "deny",
        kind = err.kind().code(),
        reason = err.reason(),
        status = err.status(),
        subject = identity.map(Identity::subject),
        path = head.path(),
    );
    let mut rejection = match guard {
        Some(guard) => guard.reject(&err, head),
        None => Rejection::from_error(&err, "api", &[]),
    };
    for (name, value) in headers {
        rejection = rejection.with_header(name, value);
    }
    Err(rejection)
}
