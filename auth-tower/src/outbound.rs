//! [`AddCredentialLayer`]: credentials on outgoing requests, from an
//! [`auth_core::outbound::TokenSource`], for Tower HTTP clients such as
//! hyper-util's `Client`.
//!
//! Each request gets the source's credential header, marked sensitive (so
//! it stays out of `Debug` output and HPACK tables); a value the request
//! already had under that name is replaced. When the answer is `401`, the
//! layer tells the source ([`TokenSource::invalidate`]), which drops the
//! credential if it is still the current one, and sends the request once
//! more with the fresh credential. The second answer is final.
//!
//! # Which requests are retried
//!
//! A `401` is a refusal before the request was acted on, so the method
//! does not matter (a `POST` is retried as a `GET` is); the body does: it
//! must be sent again, and a stream that was sent is gone. So a request is
//! retried only when its body type says it can be replayed
//! ([`ReplayBody`]): bodies held in memory ([`Full`], [`Empty`], `String`)
//! can; boxed and streaming bodies can only when they are known to be empty
//! (`is_end_stream`), as a `GET`'s is. Otherwise the `401` is passed
//! through, and the next request has the fresh credential. A request is
//! also not retried when the source has nothing fresher than what was sent
//! (a static key whose file has not changed).
//!
//! A source that cannot give a credential (the token endpoint is down or
//! refuses our client) fails the request with
//! [`AddCredentialError::Credential`]: nothing is sent without one.
//!
//! ```
//! use auth_core::outbound::{SecretFrom, StaticSource};
//! use auth_core::Secret;
//! use auth_tower::outbound::AddCredentialLayer;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, service_fn};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Stands in for the client: the API it calls takes one token.
//! let api = service_fn(|req: Request<Full<Bytes>>| async move {
//!     assert!(req.headers()["authorization"].is_sensitive());
//!     let ok = req.headers()["authorization"] == "Bearer good";
//!     let status = if ok { StatusCode::OK } else { StatusCode::UNAUTHORIZED };
//!     Ok::<_, std::convert::Infallible>(Response::builder().status(status).body(()).unwrap())
//! });
//! let token = |t: &str| StaticSource::bearer(SecretFrom::Value(Secret::from(t))).unwrap();
//!
//! let client = ServiceBuilder::new().layer(AddCredentialLayer::new(token("good"))).service(api.clone());
//! let res = client.oneshot(Request::new(Full::new(Bytes::from("{}")))).await.unwrap();
//! assert_eq!(res.status(), StatusCode::OK);
//!
//! // Refused, and nothing fresher to retry with: the 401 is the answer.
//! let client = ServiceBuilder::new().layer(AddCredentialLayer::new(token("stale"))).service(api);
//! let res = client.oneshot(Request::new(Full::new(Bytes::from("{}")))).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//! # });
//! ```
//!
//! With hyper-util's client and client-credentials tokens (for `https`, a
//! connector such as hyper-rustls's in place of `build_http`):
//!
//! ```no_run
//! use auth_core::outbound::ClientCredentials;
//! use auth_core::Secret;
//! use auth_tower::outbound::AddCredentialLayer;
//! use bytes::Bytes;
//! use http_body_util::Full;
//! use hyper_util::client::legacy::Client;
//! use hyper_util::rt::TokioExecutor;
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! let tokens = ClientCredentials::builder(
//!     "https://as.example.com/oauth/token",
//!     "reports-job",
//!     Secret::from("its client secret"),
//! )
//! .scope("reports:write")
//! .build()?;
//! let client = ServiceBuilder::new()
//!     .layer(AddCredentialLayer::new(tokens))
//!     .service(Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>());
//!
//! let req = http::Request::post("http://reports.internal/v1/reports")
//!     .body(Full::new(Bytes::from_static(b"{\"month\":\"2025-01\"}")))?;
//! let res = client.oneshot(req).await?;
//! # let _ = res; Ok(()) }
//! ```
//!
//! reqwest is not a Tower client; [`auth_core::outbound`] shows the few
//! lines that do the same around its `send` (its
//! [reqwest section](auth_core::outbound#with-reqwest)).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::BoxFuture;
use auth_core::outbound::{CredentialHeader, OutboundError, OutboundErrorKind, TokenSource};
use bytes::Buf;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body::Body;
use http_body_util::combinators::{BoxBody, UnsyncBoxBody};
use http_body_util::{Either, Empty, Full};
use tower_layer::Layer;
use tower_service::Service;

/// A body that can be sent again, for the retry after a `401` (see the
/// [module documentation](self#which-requests-are-retried)). Implement it
/// for a body type of one's own; answer `None` when it cannot be replayed.
pub trait ReplayBody: Sized {
    /// A copy to send again, taken before the body is sent; `None` if it
    /// cannot be had.
    fn replay(&self) -> Option<Self>;
}

impl<D: Clone> ReplayBody for Full<D> {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<D> ReplayBody for Empty<D> {
    fn replay(&self) -> Option<Self> {
        Some(Empty::new())
    }
}

impl ReplayBody for String {
    fn replay(&self) -> Option<Self> {
        Some(self.clone())
    }
}

impl<L: ReplayBody, R: ReplayBody> ReplayBody for Either<L, R> {
    fn replay(&self) -> Option<Self> {
        match self {
            Either::Left(l) => l.replay().map(Either::Left),
            Either::Right(r) => r.replay().map(Either::Right),
        }
    }
}

/// Only when known to be empty: a stream cannot be read twice.
impl<D: Buf + 'static, E> ReplayBody for BoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        self.is_end_stream().then(BoxBody::default)
    }
}

/// Only when known to be empty: a stream cannot be read twice.
impl<D: Buf + 'static, E> ReplayBody for UnsyncBoxBody<D, E> {
    fn replay(&self) -> Option<Self> {
        self.is_end_stream().then(UnsyncBoxBody::default)
    }
}

/// Only when known to be empty: a stream cannot be read twice.
#[cfg(feature = "axum")]
impl ReplayBody for axum::body::Body {
    fn replay(&self) -> Option<Self> {
        self.is_end_stream().then(axum::body::Body::empty)
    }
}

/// A layer that puts a [`TokenSource`]'s credential on every request and
/// retries once after a `401` (see the [module documentation](self)).
#[derive(Clone)]
pub struct AddCredentialLayer {
    source: Arc<dyn TokenSource>,
}

impl std::fmt::Debug for AddCredentialLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddCredentialLayer").finish_non_exhaustive()
    }
}

impl AddCredentialLayer {
    /// A layer over `source` (an `Arc<dyn TokenSource>` is one too).
    pub fn new(source: impl TokenSource) -> Self {
        Self {
            source: Arc::new(source),
        }
    }
}

impl<S> Layer<S> for AddCredentialLayer {
    type Service = AddCredential<S>;

    fn layer(&self, inner: S) -> Self::Service {
        AddCredential {
            inner,
            source: Arc::clone(&self.source),
        }
    }
}

/// Sends requests through `S` with a [`TokenSource`]'s credential.
#[derive(Clone)]
pub struct AddCredential<S> {
    inner: S,
    source: Arc<dyn TokenSource>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for AddCredential<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AddCredential")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> AddCredential<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, source: impl TokenSource) -> Self {
        Self {
            inner,
            source: Arc::new(source),
        }
    }

    /// A layer that wraps services with `source`.
    pub fn layer(source: impl TokenSource) -> AddCredentialLayer {
        AddCredentialLayer::new(source)
    }

    /// The wrapped service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The wrapped service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// The wrapped service, unwrapped.
    pub fn into_inner(self) -> S {
        self.inner
    }
}

/// Why [`AddCredential`] could not answer.
#[derive(Debug)]
pub enum AddCredentialError<E> {
    /// No credential could be had; the request was not sent (or, after a
    /// `401`, not sent again).
    Credential(OutboundError),
    /// The inner service (the client) failed.
    Service(E),
}

impl<E: std::fmt::Display> std::fmt::Display for AddCredentialError<E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Credential(e) => write!(f, "no credential for the request: {e}"),
            Self::Service(e) => e.fmt(f),
        }
    }
}

impl<E: std::error::Error + 'static> std::error::Error for AddCredentialError<E> {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Credential(e) => Some(e),
            Self::Service(e) => Some(e),
        }
    }
}

/// The response future of [`AddCredential`].
pub struct ResponseFuture<T, E> {
    inner: BoxFuture<'static, Result<T, AddCredentialError<E>>>,
}

impl<T, E> Future for ResponseFuture<T, E> {
    type Output = Result<T, AddCredentialError<E>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<T, E> std::fmt::Debug for ResponseFuture<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, B, ResBody> Service<Request<B>> for AddCredential<S>
where
    S: Service<Request<B>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    S::Error: Send + 'static,
    B: ReplayBody + Send + 'static,
    ResBody: Send + 'static,
{
    type Response = Response<ResBody>;
    type Error = AddCredentialError<S::Error>;
    type Future = ResponseFuture<Response<ResBody>, S::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner
            .poll_ready(cx)
            .map_err(AddCredentialError::Service)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        // The service that was polled ready is the one that must be called;
        // keep a fresh clone in its place (tower's poll_ready contract).
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let source = Arc::clone(&self.source);
        let (parts, body) = req.into_parts();
        // What a retry would send, and the service to send it with (made
        // ready only if it is needed).
        let again = body
            .replay()
            .map(|body| (parts.clone(), body, self.inner.clone()));
        let inner = Box::pin(async move {
            let sent = source
                .credential()
                .await
                .map_err(AddCredentialError::Credential)?;
            let first = with_credential(Request::from_parts(parts, body), &sent)?;
            let res = inner
                .call(first)
                .await
                .map_err(AddCredentialError::Service)?;
            if res.status() != StatusCode::UNAUTHORIZED {
                return Ok(res);
            }
            source.invalidate(&sent).await;
            let Some((parts, body, mut svc)) = again else {
                tracing::debug!(target: "auth_tower::outbound", "401 for a request whose body cannot be sent again; passed through");
                return Ok(res);
            };
            let fresh = source
                .credential()
                .await
                .map_err(AddCredentialError::Credential)?;
            if fresh == sent {
                // Nothing fresher to offer: the refusal stands.
                return Ok(res);
            }
            drop(res);
            std::future::poll_fn(|cx| svc.poll_ready(cx))
                .await
                .map_err(AddCredentialError::Service)?;
            let second = with_credential(Request::from_parts(parts, body), &fresh)?;
            svc.call(second).await.map_err(AddCredentialError::Service)
        });
        ResponseFuture { inner }
    }
}

/// `req` with the credential header set (replacing any), marked sensitive.
fn with_credential<B, E>(
    mut req: Request<B>,
    credential: &CredentialHeader,
) -> Result<Request<B>, AddCredentialError<E>> {
    // A `CredentialHeader` is a valid header by construction; this only
    // guards against that changing.
    let invalid = || {
        AddCredentialError::Credential(OutboundError::new(
            OutboundErrorKind::BadResponse,
            "the credential cannot be sent as a header",
        ))
    };
    let name = HeaderName::from_bytes(credential.name().as_bytes()).map_err(|_| invalid())?;
    let mut value = HeaderValue::from_bytes(credential.value().expose()).map_err(|_| invalid())?;
    value.set_sensitive(true);
    req.headers_mut().insert(name, value);
    Ok(req)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    #[test]
    fn bodies_in_memory_replay_streams_only_when_empty() {
        let full = Full::new(Bytes::from_static(b"{}"));
        assert!(full.replay().is_some());
        assert!(Empty::<Bytes>::new().replay().is_some());
        assert_eq!("x".to_owned().replay().as_deref(), Some("x"));
        let either: Either<Full<Bytes>, Empty<Bytes>> = Either::Left(full.clone());
        assert!(either.replay().is_some());

        let boxed = |b: Full<Bytes>| BoxBody::<Bytes, std::convert::Infallible>::new(b);
        assert!(boxed(full.clone()).replay().is_none());
        assert!(boxed(Full::new(Bytes::new())).replay().is_some());
        let empty = BoxBody::<Bytes, std::convert::Infallible>::new(Empty::new());
        assert!(empty.replay().is_some());
        let unsync = UnsyncBoxBody::<Bytes, std::convert::Infallible>::new(full);
        assert!(unsync.replay().is_none());

        #[cfg(feature = "axum")]
        {
            assert!(axum::body::Body::empty().replay().is_some());
            assert!(axum::body::Body::from("x").replay().is_none());
        }
    }
}
