//! [`Authenticator`]: turns a presented credential into an [`Identity`], and
//! composes with [`AnyOf`] and [`AllOf`].
//!
//! Writing your own takes three methods:
//!
//! ```
//! use auth_core::{
//!     AuthError, AuthErrorKind, AuthMethod, AuthRequest, Authenticator, BoxFuture,
//!     Challenge, Credential, Guard, Identity, RequestHead, Scheme, SimpleRequest,
//! };
//!
//! /// Accepts the bearer token `let-me-in` (an example, not a pattern to copy).
//! struct Fixed;
//!
//! impl Authenticator for Fixed {
//!     fn claims(&self, req: &AuthRequest<'_>) -> bool {
//!         matches!(req.credential(), Credential::Bearer(_))
//!     }
//!     fn authenticate<'a>(&'a self, req: &'a AuthRequest<'a>) -> BoxFuture<'a, Result<Identity, AuthError>> {
//!         Box::pin(async move {
//!             match req.credential() {
//!                 Credential::Bearer(t) if t.expose() == b"let-me-in" => {
//!                     Ok(Identity::new("guest", AuthMethod::Custom))
//!                 }
//!                 _ => Err(AuthError::new(AuthErrorKind::InvalidCredentials, Scheme::Bearer)),
//!             }
//!         })
//!     }
//!     fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
//!         out.push(Challenge::Bearer);
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let guard = Guard::builder(Fixed).realm("example").build().unwrap();
//! let ok = SimpleRequest::get("/").header("authorization", "Bearer let-me-in");
//! assert_eq!(guard.check(&ok).await.unwrap().unwrap().subject(), "guest");
//! let bad = SimpleRequest::get("/").header("authorization", "Bearer nope");
//! assert_eq!(guard.check(&bad).await.unwrap_err().status(), 401);
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;

use crate::credentials::Credential;
use crate::error::{AuthError, AuthErrorKind, Scheme};
use crate::identity::Identity;
use crate::rejection::Challenge;
use crate::request::RequestHead;

/// A boxed, `Send` future: what authenticators and stores return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request as an authenticator sees it: the neutral head plus the credential
/// parsed from it once.
pub struct AuthRequest<'a> {
    head: &'a dyn RequestHead,
    credential: &'a Credential<'a>,
}

impl<'a> AuthRequest<'a> {
    /// Pairs a head with the credential parsed from it.
    pub fn new(head: &'a dyn RequestHead, credential: &'a Credential<'a>) -> Self {
        Self { head, credential }
    }

    /// The request head.
    pub fn head(&self) -> &'a dyn RequestHead {
        self.head
    }

    /// The credential presented in the headers.
    pub fn credential(&self) -> &'a Credential<'a> {
        self.credential
    }
}

/// An authentication method.
pub trait Authenticator: Send + Sync + 'static {
    /// Whether this authenticator handles what the request presents (an API
    /// key recognised by its prefix, a `Basic` header, …). Cheap and pure.
    fn claims(&self, req: &AuthRequest<'_>) -> bool;

    /// Verifies the credential this authenticator claimed.
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>>;

    /// The challenges to offer on `head`'s listener when no credential was
    /// presented (e.g. `Basic` only over TLS).
    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>);

    /// Authenticates if this authenticator claims the request, in one pass;
    /// `None` if it does not. Composites override it to look at each member
    /// once.
    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        self.claims(req).then(|| self.authenticate(req))
    }
}

impl<A: Authenticator + ?Sized> Authenticator for Box<A> {
    fn claims(&self, req: &AuthRequest<'_>) -> bool {
        (**self).claims(req)
    }
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        (**self).authenticate(req)
    }
    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        (**self).challenges(head, out)
    }
    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        (**self).try_authenticate(req)
    }
}

impl<A: Authenticator + ?Sized> Authenticator for std::sync::Arc<A> {
    fn claims(&self, req: &AuthRequest<'_>) -> bool {
        (**self).claims(req)
    }
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        (**self).authenticate(req)
    }
    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        (**self).challenges(head, out)
    }
    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        (**self).try_authenticate(req)
    }
}

/// Any one of several methods: the credential presented decides which.
///
/// If more than one member claims the request (two different credentials at
/// once), it is refused with `400 invalid_request`.
#[derive(Default)]
pub struct AnyOf {
    members: Vec<Box<dyn Authenticator>>,
}

impl AnyOf {
    /// An empty set; add members with [`or`](Self::or).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method.
    pub fn or(mut self, a: impl Authenticator) -> Self {
        self.members.push(Box::new(a));
        self
    }
}

impl AnyOf {
    fn two_credentials<'a>() -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(std::future::ready(Err(AuthError::new(
            AuthErrorKind::InvalidRequest,
            Scheme::Bearer,
        )
        .with_reason("multiple_credentials")
        .with_detail("more than one credential was presented; send one"))))
    }
}

impl Authenticator for AnyOf {
    fn claims(&self, req: &AuthRequest<'_>) -> bool {
        self.members.iter().any(|m| m.claims(req))
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        self.try_authenticate(req).unwrap_or_else(|| {
            Box::pin(std::future::ready(Err(AuthError::new(
                AuthErrorKind::MissingCredentials,
                Scheme::None,
            ))))
        })
    }

    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        let mut rest = self.members.iter();
        let first = rest.by_ref().find(|m| m.claims(req))?;
        // A second claimant means two different credentials at once.
        if rest.any(|m| m.claims(req)) {
            return Some(Self::two_credentials());
        }
        Some(first.authenticate(req))
    }

    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        for m in &self.members {
            m.challenges(head, out);
        }
    }
}

/// All of several methods at once (e.g. a client certificate and a token
/// bound to it). Every member must claim the request and accept it; the
/// identity is the first member's.
#[derive(Default)]
pub struct AllOf {
    members: Vec<Box<dyn Authenticator>>,
}

impl AllOf {
    /// An empty set; add members with [`and`](Self::and).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method that must also succeed.
    pub fn and(mut self, a: impl Authenticator) -> Self {
        self.members.push(Box::new(a));
        self
    }
}

impl Authenticator for AllOf {
    fn claims(&self, req: &AuthRequest<'_>) -> bool {
        self.members.iter().any(|m| m.claims(req))
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let mut identity = None;
            for m in &self.members {
                if !m.claims(req) {
                    return Err(
                        AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None)
                            .with_reason("incomplete_credentials")
                            .with_detail("this resource requires more than one credential"),
                    );
                }
                let id = m.authenticate(req).await?;
                identity.get_or_insert(id);
            }
            identity.ok_or_else(|| AuthError::new(AuthErrorKind::MissingCredentials, Scheme::None))
        })
    }

    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        for m in &self.members {
            m.challenges(head, out);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthMethod, Guard, SimpleRequest};

    /// Claims requests carrying `header`; accepts the value `ok`.
    struct HeaderAuth(&'static str);

    impl Authenticator for HeaderAuth {
        fn claims(&self, req: &AuthRequest<'_>) -> bool {
            !req.head().header_values(self.0).is_empty()
        }
        fn authenticate<'a>(
            &'a self,
            req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            let ok = req.head().header_values(self.0) == [b"ok"];
            Box::pin(async move {
                if ok {
                    Ok(Identity::new(self.0, AuthMethod::Custom))
                } else {
                    Err(AuthError::new(
                        AuthErrorKind::InvalidCredentials,
                        Scheme::Bearer,
                    ))
                }
            })
        }
        fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
            out.push(Challenge::Bearer);
        }
    }

    async fn status(guard: &Guard, req: SimpleRequest) -> Result<String, u16> {
        guard
            .check(&req)
            .await
            .map(|id| id.map(|i| i.subject().to_owned()).unwrap_or_default())
            .map_err(|r| r.status())
    }

    #[tokio::test]
    async fn any_of_lets_the_credential_decide_and_refuses_two() {
        let g = Guard::builder(AnyOf::new().or(HeaderAuth("x-a")).or(HeaderAuth("x-b")))
            .build()
            .unwrap();
        let req = || SimpleRequest::get("/");
        assert_eq!(
            status(&g, req().header("x-a", "ok")).await,
            Ok("x-a".into())
        );
        assert_eq!(
            status(&g, req().header("x-b", "ok")).await,
            Ok("x-b".into())
        );
        assert_eq!(status(&g, req().header("x-b", "no")).await, Err(401));
        assert_eq!(status(&g, req()).await, Err(401));
        // Two credentials of different methods at once.
        assert_eq!(
            status(&g, req().header("x-a", "ok").header("x-b", "ok")).await,
            Err(400)
        );
    }

    #[tokio::test]
    async fn all_of_needs_every_member() {
        let g = Guard::builder(AllOf::new().and(HeaderAuth("x-a")).and(HeaderAuth("x-b")))
            .build()
            .unwrap();
        let req = || SimpleRequest::get("/");
        assert_eq!(
            status(&g, req().header("x-a", "ok").header("x-b", "ok")).await,
            Ok("x-a".into()),
            "the first member's identity"
        );
        assert_eq!(status(&g, req().header("x-a", "ok")).await, Err(401));
        assert_eq!(
            status(&g, req().header("x-a", "ok").header("x-b", "no")).await,
            Err(401)
        );
        assert_eq!(status(&g, req()).await, Err(401));
    }
}
