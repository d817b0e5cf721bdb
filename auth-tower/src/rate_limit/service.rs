//! [`RateLimit`], the service [`RateLimitLayer`](super::RateLimitLayer) builds.

use std::sync::Arc;
use std::task::{Context, Poll};

use auth_core::Identity;
use auth_core::limits::{Limit, check_limit};
use http::{Request, Response};
use tower_service::Service;

use super::{RateLimitLayer, ResponseBody, ResponseFuture};
use crate::request::HeadView;
use crate::require_auth::Checked;

/// Runs a [`Limit`] before `S` sees a request; see the
/// [module docs](super).
#[derive(Clone)]
pub struct RateLimit<S> {
    inner: S,
    limit: Arc<dyn Limit>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for RateLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S> RateLimit<S> {
    /// Wraps `inner`.
    pub fn new(inner: S, limit: impl Limit) -> Self {
        Self::from_shared(inner, Arc::new(limit))
    }

    /// Wraps `inner` with a limit that is shared already.
    pub fn from_shared(inner: S, limit: Arc<dyn Limit>) -> Self {
        Self { inner, limit }
    }

    /// A layer that wraps services with `limit`.
    pub fn layer(limit: impl Limit) -> RateLimitLayer {
        RateLimitLayer::new(limit)
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

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for RateLimit<S>
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
        let (parts, body) = req.into_parts();
        let limit = Arc::clone(&self.limit);
        let check = Box::pin(async move {
            // The auth layer outside put the caller here (none: anonymous)
            // and marked the request with its guard, which renders refusals.
            let identity = parts.extensions.get::<Identity>();
            let guard = parts.extensions.get::<Checked>().map(|c| &c.guard);
            let outcome = check_limit(&*limit, &HeadView::new(&parts), identity, guard).await;
            (outcome, parts)
        });
        ResponseFuture::new(check, body, inner)
    }
}
