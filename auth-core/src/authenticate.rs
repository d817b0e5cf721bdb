//! [`Authenticator`]: turns a presented credential into an [`Identity`], and
//! composes with [`AnyOf`] and [`AllOf`].
//!
//! A method is one type implementing [`Authenticator`]: it names the headers
//! it reads its credential from, says how specifically it recognises what a
//! request presents, verifies it, and offers its own challenge. No adapter
//! and nothing else in the core changes for a new method.
//!
//! ```
//! use auth_core::{
//!     AuthError, AuthErrorKind, AuthMethod, AuthRequest, Authenticator, BoxFuture,
//!     Challenge, Guard, Identity, RequestHead, SimpleRequest, Specificity,
//! };
//!
//! /// Accepts `X-Toy: let-me-in` (an example, not a pattern to copy).
//! struct Toy;
//!
//! impl Authenticator for Toy {
//!     fn credential_headers(&self, out: &mut Vec<&'static str>) {
//!         out.push("x-toy");
//!     }
//!     fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
//!         req.credential().header("x-toy").map(|_| Specificity::Exact)
//!     }
//!     fn authenticate<'a>(&'a self, req: &'a AuthRequest<'a>) -> BoxFuture<'a, Result<Identity, AuthError>> {
//!         let ok = req.credential().header("x-toy").is_some_and(|v| v.expose() == b"let-me-in");
//!         Box::pin(async move {
//!             if ok {
//!                 Ok(Identity::new("guest", AuthMethod::Custom))
//!             } else {
//!                 Err(AuthError::new(AuthErrorKind::InvalidCredentials)
//!                     .with_challenge(Challenge::new("Toy").with_param("header", "X-Toy")))
//!             }
//!         })
//!     }
//!     fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
//!         out.push(Challenge::new("Toy").with_param("header", "X-Toy"));
//!     }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let guard = Guard::builder(Toy).realm("example").build().unwrap();
//! let ok = SimpleRequest::get("/").header("x-toy", "let-me-in");
//! let decision = guard.check(&ok).await.unwrap();
//! assert_eq!(decision.identity().unwrap().subject(), "guest");
//! let bad = SimpleRequest::get("/").header("x-toy", "nope");
//! let refused = guard.check(&bad).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! assert_eq!(
//!     refused.header_values("www-authenticate").collect::<Vec<_>>(),
//!     ["Toy realm=\"example\", header=\"X-Toy\""],
//! );
//! # });
//! ```

use std::future::Future;
use std::pin::Pin;

use crate::credentials::Credential;
use crate::error::AuthError;
use crate::identity::Identity;
use crate::rejection::Challenge;
use crate::request::RequestHead;

/// A boxed, `Send` future: what authenticators and stores return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A request as an authenticator sees it: the neutral head plus the credential
/// parsed from it once, and (feature `mtls`) the client certificate it
/// presents, worked out at most once per request.
pub struct AuthRequest<'a> {
    head: &'a dyn RequestHead,
    credential: &'a Credential<'a>,
    #[cfg(feature = "mtls")]
    forwarded: Option<&'a crate::mtls::ForwardedCertificates>,
    #[cfg(feature = "mtls")]
    certificate: std::sync::OnceLock<crate::mtls::ClientCertificate>,
}

impl<'a> AuthRequest<'a> {
    /// Pairs a head with the credential parsed from it.
    pub fn new(head: &'a dyn RequestHead, credential: &'a Credential<'a>) -> Self {
        Self {
            head,
            credential,
            #[cfg(feature = "mtls")]
            forwarded: None,
            #[cfg(feature = "mtls")]
            certificate: std::sync::OnceLock::new(),
        }
    }

    /// Also believes client certificates that `forwarded`'s trusted proxies
    /// forward (the guard sets its
    /// [`forwarded_certificates`](crate::GuardBuilder::forwarded_certificates)).
    #[cfg(feature = "mtls")]
    pub fn with_forwarded_certificates(
        mut self,
        forwarded: Option<&'a crate::mtls::ForwardedCertificates>,
    ) -> Self {
        self.forwarded = forwarded;
        self
    }

    /// The request head.
    pub fn head(&self) -> &'a dyn RequestHead {
        self.head
    }

    /// The credential presented in the headers.
    pub fn credential(&self) -> &'a Credential<'a> {
        self.credential
    }

    /// The client certificate this request presents: its connection's,
    /// or one a trusted proxy forwarded (see
    /// [`ForwardedCertificates`](crate::mtls::ForwardedCertificates)).
    /// Worked out on the first call, then kept for the request.
    #[cfg(feature = "mtls")]
    pub fn client_certificate(&self) -> &crate::mtls::ClientCertificate {
        self.certificate.get_or_init(|| match self.forwarded {
            Some(f) => f.resolve(self.head),
            None => crate::mtls::ClientCertificate::direct(self.head),
        })
    }

    /// The SHA-256 of the DER of the client certificate this request
    /// presents (the bytes of its RFC 8705 `x5t#S256`); `None` when it
    /// presents none, or one that cannot be read.
    pub fn client_certificate_sha256(&self) -> Option<[u8; 32]> {
        #[cfg(feature = "mtls")]
        {
            self.client_certificate().certificate().map(|c| *c.sha256())
        }
        #[cfg(not(feature = "mtls"))]
        {
            use sha2::Digest as _;
            self.head
                .peer_certificates()
                .first()
                .map(|der| sha2::Sha256::digest(der).into())
        }
    }
}

/// How specifically an authenticator recognises what a request presents.
/// In an [`AnyOf`], the most specific recogniser decides; among equals, the
/// member added first.
///
/// ```
/// use auth_core::Specificity;
/// assert!(Specificity::Exact > Specificity::Shape);
/// assert!(Specificity::Shape > Specificity::Any);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[non_exhaustive]
pub enum Specificity {
    /// Any credential of a form: any other bearer token (an opaque OAuth
    /// token checked by introspection).
    Any,
    /// By its structure: a JWT's three base64url segments.
    Shape,
    /// By a mark of its own: an API key's prefix, its own header or scheme
    /// (`X-API-Key`, `Basic`), a client certificate.
    Exact,
}

/// An authentication method.
pub trait Authenticator: Send + Sync + 'static {
    /// The lower-case names of the headers a credential of this method is
    /// presented in, besides `authorization` (always one). The guard refuses
    /// a request presenting two of them at once (400), and both adapters
    /// mark them sensitive. The default names none.
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        let _ = out;
    }

    /// Headers that carry secrets but are not credentials on their own (a
    /// DPoP proof, a request signature): adapters mark them sensitive. The
    /// default names none.
    fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
        let _ = out;
    }

    /// Whether, and how specifically, this authenticator recognises what the
    /// request presents (an API key by its prefix, a JWT by its shape, a
    /// `Basic` header by its scheme). Cheap and pure.
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity>;

    /// Verifies the credential this authenticator recognised.
    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>>;

    /// The challenges to offer on `head`'s listener when no credential was
    /// presented (e.g. `Basic` only over TLS). A method without an HTTP
    /// authentication scheme (a TLS client certificate) offers none.
    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>);

    /// The OpenAPI security schemes a credential of this method is
    /// presented with (feature `openapi`); none by default.
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        crate::openapi::Security::none()
    }

    /// Authenticates if this authenticator recognises the request, in one
    /// pass; `None` if it does not. Composites override it to look at each
    /// member once.
    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        self.recognise(req).map(|_| self.authenticate(req))
    }
}

macro_rules! forward_authenticator {
    ($($ptr:ty),*) => {$(
        impl<A: Authenticator + ?Sized> Authenticator for $ptr {
            fn credential_headers(&self, out: &mut Vec<&'static str>) {
                (**self).credential_headers(out)
            }
            fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
                (**self).sensitive_headers(out)
            }
            fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
                (**self).recognise(req)
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
            #[cfg(feature = "openapi")]
            fn openapi_security(&self) -> crate::openapi::Security {
                (**self).openapi_security()
            }
            fn try_authenticate<'a>(
                &'a self,
                req: &'a AuthRequest<'a>,
            ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
                (**self).try_authenticate(req)
            }
        }
    )*};
}

forward_authenticator!(Box<A>, std::sync::Arc<A>);

/// The members of a composite, and what they say together.
#[derive(Default)]
struct Members(Vec<Box<dyn Authenticator>>);

impl Members {
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        self.0.iter().for_each(|m| m.credential_headers(out));
    }
    fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
        self.0.iter().for_each(|m| m.sensitive_headers(out));
    }
    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        self.0.iter().for_each(|m| m.challenges(head, out));
    }
}

/// Any one of several methods: the credential presented decides which.
///
/// Each member says how specifically it recognises the credential; the most
/// specific one verifies it (an API key's prefix beats a JWT's shape, which
/// beats a catch-all for opaque tokens), and among equals the member added
/// first. Two *different* credentials at once never reach it: the guard
/// refuses them with `400 invalid_request`.
#[derive(Default)]
pub struct AnyOf {
    members: Members,
}

impl AnyOf {
    /// An empty set; add members with [`or`](Self::or).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method.
    pub fn or(mut self, a: impl Authenticator) -> Self {
        self.members.0.push(Box::new(a));
        self
    }

    /// The member that decides, and how specifically it recognised.
    fn best(&self, req: &AuthRequest<'_>) -> Option<(&dyn Authenticator, Specificity)> {
        let mut best: Option<(&dyn Authenticator, Specificity)> = None;
        for m in &self.members.0 {
            if let Some(s) = m.recognise(req)
                && best.is_none_or(|(_, b)| s > b)
            {
                best = Some((m.as_ref(), s));
            }
        }
        best
    }
}

impl Authenticator for AnyOf {
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        self.members.credential_headers(out);
    }

    fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
        self.members.sensitive_headers(out);
    }

    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        self.best(req).map(|(_, s)| s)
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        self.try_authenticate(req).unwrap_or_else(|| {
            Box::pin(std::future::ready(Err(AuthError::new(
                crate::AuthErrorKind::MissingCredentials,
            ))))
        })
    }

    fn try_authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> Option<BoxFuture<'a, Result<Identity, AuthError>>> {
        self.best(req).map(|(m, _)| m.authenticate(req))
    }

    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        self.members.challenges(head, out);
    }

    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        self.members
            .0
            .iter()
            .fold(crate::openapi::Security::none(), |any, m| {
                any.or(m.openapi_security())
            })
    }
}

/// All of several methods at once (e.g. a client certificate and a token
/// bound to it). Every member must recognise the request and accept it; the
/// identity is the first member's.
#[derive(Default)]
pub struct AllOf {
    members: Members,
}

impl AllOf {
    /// An empty set; add members with [`and`](Self::and).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a method that must also succeed.
    pub fn and(mut self, a: impl Authenticator) -> Self {
        self.members.0.push(Box::new(a));
        self
    }
}

impl Authenticator for AllOf {
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        self.members.credential_headers(out);
    }

    fn sensitive_headers(&self, out: &mut Vec<&'static str>) {
        self.members.sensitive_headers(out);
    }

    /// As specific as its most specific member.
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        self.members.0.iter().filter_map(|m| m.recognise(req)).max()
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let mut identity = None;
            for m in &self.members.0 {
                if m.recognise(req).is_none() {
                    return Err(AuthError::new(crate::AuthErrorKind::MissingCredentials)
                        .with_reason("incomplete_credentials")
                        .with_detail("this resource requires more than one credential"));
                }
                let id = m.authenticate(req).await?;
                identity.get_or_insert(id);
            }
            identity.ok_or_else(|| AuthError::new(crate::AuthErrorKind::MissingCredentials))
        })
    }

    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        self.members.challenges(head, out);
    }

    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        self.members
            .0
            .iter()
            .fold(crate::openapi::Security::none(), |all, m| {
                all.and(m.openapi_security())
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{AuthErrorKind, AuthMethod, Guard, SimpleRequest};

    /// Recognises `header` (at `Exact`); accepts the value `ok`.
    struct HeaderAuth(&'static str);

    impl Authenticator for HeaderAuth {
        fn credential_headers(&self, out: &mut Vec<&'static str>) {
            out.push(self.0);
        }
        fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
            req.credential().header(self.0).map(|_| Specificity::Exact)
        }
        fn authenticate<'a>(
            &'a self,
            req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            let ok = req.credential().header(self.0).map(|v| v.expose()) == Some(b"ok");
            Box::pin(async move {
                if ok {
                    Ok(Identity::new(self.0, AuthMethod::Custom))
                } else {
                    Err(AuthError::new(AuthErrorKind::InvalidCredentials)
                        .with_challenge(Challenge::new("Hdr").with_param("header", self.0)))
                }
            })
        }
        fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
            out.push(Challenge::new("Hdr").with_param("header", self.0));
        }
    }

    /// Recognises bearer tokens starting with `prefix` at `level`; accepts
    /// them all, as the subject `name`.
    struct BearerAuth {
        name: &'static str,
        prefix: &'static [u8],
        level: Specificity,
    }

    impl Authenticator for BearerAuth {
        fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
            let t = req.credential().bearer()?;
            t.expose().starts_with(self.prefix).then_some(self.level)
        }
        fn authenticate<'a>(
            &'a self,
            _req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            Box::pin(async move { Ok(Identity::new(self.name, AuthMethod::Custom)) })
        }
        fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
            out.push(Challenge::bearer());
        }
    }

    /// Recognises a TLS client certificate, as `cert:<first byte>`.
    struct Cert;

    impl Authenticator for Cert {
        fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
            (!req.head().peer_certificates().is_empty()).then_some(Specificity::Exact)
        }
        fn authenticate<'a>(
            &'a self,
            req: &'a AuthRequest<'a>,
        ) -> BoxFuture<'a, Result<Identity, AuthError>> {
            let first = req
                .head()
                .peer_certificates()
                .first()
                .and_then(|c| c.first().copied());
            Box::pin(async move { Ok(Identity::new(format!("cert:{first:?}"), AuthMethod::Mtls)) })
        }
        fn challenges(&self, _head: &dyn RequestHead, _out: &mut Vec<Challenge>) {}
    }

    async fn status(guard: &Guard, req: SimpleRequest) -> Result<String, u16> {
        guard
            .check(&req)
            .await
            .map(|d| {
                d.identity()
                    .map(|i| i.subject().to_owned())
                    .unwrap_or_default()
            })
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
    async fn any_of_precedence_is_by_specificity_then_order() {
        let member = |name, prefix, level| BearerAuth {
            name,
            prefix,
            level,
        };
        // Added least specific first, so order alone would pick wrongly.
        let any = AnyOf::new()
            .or(member("opaque", b"", Specificity::Any))
            .or(member("jwt", b"ey", Specificity::Shape))
            .or(member("key", b"eyk_", Specificity::Exact))
            .or(member("key-too", b"eyk_", Specificity::Exact));
        let g = Guard::builder(any).build().unwrap();
        let bearer =
            |t: &str| SimpleRequest::get("/").header("authorization", format!("Bearer {t}"));
        assert_eq!(
            status(&g, bearer("eyk_1")).await,
            Ok("key".into()),
            "the first of equals"
        );
        assert_eq!(status(&g, bearer("eyJ.a.b")).await, Ok("jwt".into()));
        assert_eq!(status(&g, bearer("opaque-1")).await, Ok("opaque".into()));
        let req = bearer("eyk_1");
        let cred = Credential::from_head(&req, &["authorization"]).unwrap();
        let ar = AuthRequest::new(&req, &cred);
        let g2 = AnyOf::new()
            .or(member("opaque", b"", Specificity::Any))
            .or(member("key", b"eyk_", Specificity::Exact));
        assert_eq!(g2.recognise(&ar), Some(Specificity::Exact));
    }

    #[tokio::test]
    async fn composites_offer_every_members_challenge() {
        let any = Guard::builder(AnyOf::new().or(HeaderAuth("x-a")).or(HeaderAuth("x-b")))
            .build()
            .unwrap();
        let all = Guard::builder(AllOf::new().and(HeaderAuth("x-a")).and(HeaderAuth("x-b")))
            .build()
            .unwrap();
        for g in [any, all] {
            let r = g.check(&SimpleRequest::get("/")).await.unwrap_err();
            assert_eq!(
                r.header_values("www-authenticate").collect::<Vec<_>>(),
                [
                    "Hdr realm=\"api\", header=\"x-a\"",
                    "Hdr realm=\"api\", header=\"x-b\""
                ]
            );
            assert_eq!(g.credential_headers(), ["authorization", "x-a", "x-b"]);
        }
    }

    #[tokio::test]
    async fn all_of_a_certificate_and_a_header() {
        let all = AllOf::new().and(Cert).and(HeaderAuth("x-a"));
        let req = SimpleRequest::get("/")
            .peer_certificates(vec![vec![7]])
            .header("x-a", "ok");
        let cred = Credential::from_head(&req, &["authorization", "x-a"]).unwrap();
        assert_eq!(
            all.recognise(&AuthRequest::new(&req, &cred)),
            Some(Specificity::Exact)
        );
        let g = Guard::builder(all).build().unwrap();
        assert_eq!(
            status(&g, req.clone()).await,
            Ok("cert:Some(7)".into()),
            "the first member's identity"
        );
        let wrong = req.clone().header("x-a", "no");
        assert_eq!(status(&g, wrong).await, Err(400), "x-a twice");
        let bad = SimpleRequest::get("/")
            .peer_certificates(vec![vec![7]])
            .header("x-a", "no");
        assert_eq!(status(&g, bad).await, Err(401));
        let no_cert = SimpleRequest::get("/").header("x-a", "ok");
        assert_eq!(
            status(&g, no_cert).await,
            Err(401),
            "the certificate is missing"
        );
        let nothing = SimpleRequest::get("/");
        let cred = Credential::from_head(&nothing, &["authorization"]).unwrap();
        let all = AllOf::new().and(Cert).and(HeaderAuth("x-a"));
        assert_eq!(all.recognise(&AuthRequest::new(&nothing, &cred)), None);
    }

    #[tokio::test]
    async fn all_of_needs_every_member() {
        let g = Guard::builder(AllOf::new().and(HeaderAuth("x-a")).and(HeaderAuth("x-b")))
            .build()
            .unwrap();
        let req = || SimpleRequest::get("/");
        // Two credential headers at once are refused before any member
        // looks: an all-of over two headers is not a thing to build.
        assert_eq!(
            status(&g, req().header("x-a", "ok").header("x-b", "ok")).await,
            Err(400)
        );
        assert_eq!(status(&g, req().header("x-a", "ok")).await, Err(401));
        assert_eq!(status(&g, req()).await, Err(401));
        let g = Guard::builder(AllOf::new().and(HeaderAuth("x-a")).and(BearerAuth {
            name: "bound",
            prefix: b"",
            level: Specificity::Any,
        }))
        .build()
        .unwrap();
        // `x-a` alone (the bearer member sees nothing).
        assert_eq!(status(&g, req().header("x-a", "ok")).await, Err(401));
    }
}
