//! [`ResponseFuture`]: first the check (the guard's decision, or a limit),
//! then the inner service, then the check's headers on its response.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use auth_core::limits::ResponseHeaders;
use auth_core::{BoxFuture, Rejection};
use http::request::Parts;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use super::ResponseBody;
use crate::response::{add_headers, refusal};

/// The check: the headers for the response (the request's parts already
/// carry what the check puts in them, e.g. the identity), or the refusal.
pub(crate) type Check = BoxFuture<'static, (Result<ResponseHeaders, Rejection>, Parts)>;

pin_project! {
    /// The response future of [`RequireAuth`](super::RequireAuth) and of
    /// [`RateLimit`](crate::rate_limit::RateLimit).
    pub struct ResponseFuture<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        #[pin]
        state: State<S, ReqBody>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, ReqBody>
    where
        S: Service<Request<ReqBody>>,
    {
        Checking {
            check: Check,
            body: Option<ReqBody>,
            inner: Option<S>,
        },
        Calling {
            #[pin]
            fut: S::Future,
            headers: ResponseHeaders,
        },
    }
}

impl<S, ReqBody> ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    pub(crate) fn new(check: Check, body: ReqBody, inner: S) -> Self {
        Self {
            state: State::Checking {
                check,
                body: Some(body),
                inner: Some(inner),
            },
        }
    }
}

impl<S, ReqBody> std::fmt::Debug for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Future for ResponseFuture<S, ReqBody>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
{
    type Output = Result<Response<ResponseBody<ResBody>>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            match this.state.as_mut().project() {
                StateProj::Checking { check, body, inner } => {
                    let (outcome, parts) = ready!(check.as_mut().poll(cx));
                    match outcome {
                        Err(rejection) => return Poll::Ready(Ok(refusal(&rejection, &parts))),
                        Ok(headers) => {
                            let (Some(body), Some(mut svc)) = (body.take(), inner.take()) else {
                                // Only reachable if polled after completion.
                                return Poll::Pending;
                            };
                            let fut = svc.call(Request::from_parts(parts, body));
                            this.state.set(State::Calling { fut, headers });
                        }
                    }
                }
                StateProj::Calling { fut, headers } => {
                    let mut res = ready!(fut.poll(cx))?;
                    add_headers(res.headers_mut(), headers);
                    return Poll::Ready(Ok(res.map(ResponseBody::inner)));
                }
            }
        }
    }
}
