//! [`RequireAuth`], the service [`RequireAuthLayer`](super::RequireAuthLayer) builds.

use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::Guard;
use http::{HeaderName, Request, Response};
use tower_service::Service;

use super::{RequireAuthLayer, ResponseBody, ResponseFuture};
use crate::request::HeadView;

/// Authenticates requests before `S` sees them.
#[derive(Clone, Debug)]
pub struct RequireAuth<S> {
    inner: S,
    guard: Guard,
    /// The guard's sensitive header names, parsed once.
    sensitive: Arc<[HeaderName]>,
}

/// Marks that a [`RequireAuth`] ran on this request (the identity may be
/// absent when anonymous access is allowed). Extractors use it to tell a
/// missing layer from an anonymous caller.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) guard: Guard,
}

impl<S> RequireAuth<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, guard: Guard) -> Self {
        let sensitive = guard
            .sensitive_headers()
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        Self {
            inner,
            guard,
            sensitive,
        }
    }

    /// A layer that wraps services with `guard`.
    pub fn layer(guard: Guard) -> RequireAuthLayer {
        RequireAuthLayer::new(guard)
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RequireAuth<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone + Send + 'static,
    S::Future: Send,
    ReqBody: Send + 'static,
{
    type Response = Response<ResponseBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // The service that was polled ready is the one that must be called;
        // keep a fresh clone in its place (tower's poll_ready contract).
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let (mut parts, body) = req.into_parts();
        // Credentials are marked sensitive for whatever runs inside (Debug
        // output, HPACK). A request passes the guard only with at most one
        // of each credential header; a repeated one is refused, so marking
        // the first value is enough.
        for name in self.sensitive.iter() {
            if let Some(value) = parts.headers.get_mut(name) {
                value.set_sensitive(true);
            }
        }
        let guard = self.guard.clone();
        let check = Box::pin(async move {
            let decision = guard.check(&HeadView::new(&parts)).await;
            let outcome = decision.map(|decision| {
                let (identity, headers) = decision.into_parts();
                if let Some(id) = identity {
                    parts.extensions.insert(id);
                }
                parts.extensions.insert(Checked { guard });
                headers
            });
            (outcome, parts)
        });
        ResponseFuture::new(check, body, inner)
    }
}
