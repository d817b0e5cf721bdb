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
use crate::identity::Identity;
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
