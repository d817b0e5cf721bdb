//! [`RateLimit`]: a rate limit as an actix-web middleware of its own.

use crate::middleware::pass_or_refuse;
use std::future::{Ready, ready};
use std::rc::Rc;
use std::sync::Arc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use auth_core::Identity;
use auth_core::limits::{Limit, check_limit};

use crate::middleware::{Checked, LocalBoxFuture};
use crate::request::HeadRef;

/// Runs a [`Limit`] (an [`auth_core::rate_limit::RateLimiter`], say) on
/// each request, for the caller a [`RequireAuth`](crate::RequireAuth)
/// around it let through (none: an anonymous caller, whom a `RateLimiter`
/// limits by its anonymous quota, keyed by client address).
///
/// Allowed requests go on, and the limit's headers (`RateLimit-Policy`,
/// `RateLimit`) are added to the response. A refusal is `429` with
/// `Retry-After`, the same fields and the problem body, rendered by the
/// guard that let the request through exactly as that guard renders a
/// refusal of its own limits stage
/// ([`Guard::with_limit`](auth_core::Guard::with_limit)), and exactly as
/// the Tower adapter's `RateLimitLayer` renders it.
///
/// Wrap it *inside* [`RequireAuth`](crate::RequireAuth): in actix-web the
/// last `wrap` is the outermost, so `.wrap(RateLimit::new(..))` comes
/// before `.wrap(RequireAuth::new(..))`. Outside, it sees no caller, and
/// every request counts as anonymous.
///
/// ```
/// use std::time::Duration;
/// use actix_web::{App, HttpResponse, test, web};
/// use auth_actix::{Auth, RateLimit, RequireAuth};
/// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
/// use auth_core::rate_limit::{Quota, RateLimiter};
/// use auth_core::Guard;
///
/// # actix_web::rt::System::new().block_on(async {
/// let keys = ApiKeys::in_memory(Pepper::generate());
/// let (key, _) = keys.issue(NewKey::new("acme", Environment::Test)).await.unwrap();
/// let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).build().unwrap();
/// let limiter = RateLimiter::builder()
///     .default_quota(Quota::new("api", 1, Duration::from_secs(60)).unwrap())
///     .build();
///
/// let app = test::init_service(App::new().service(
///     web::resource("/reports")
///         .wrap(RateLimit::new(limiter))
///         .wrap(RequireAuth::new(guard))
///         .to(|Auth(id): Auth| async move { HttpResponse::Ok().body(id.subject().to_owned()) }),
/// ))
/// .await;
/// let req = || test::TestRequest::get().uri("/reports").insert_header(("x-api-key", key.expose())).to_request();
///
/// let ok = test::call_service(&app, req()).await;
/// assert_eq!(ok.status(), 200);
/// assert_eq!(ok.headers().get("ratelimit-policy").unwrap(), "\"api\";q=1;w=60");
///
/// let refused = test::call_service(&app, req()).await;
/// assert_eq!(refused.status(), 429);
/// assert_eq!(refused.headers().get("retry-after").unwrap(), "60");
/// # });
/// ```
#[derive(Clone)]
pub struct RateLimit {
    limit: Arc<dyn Limit>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit").finish_non_exhaustive()
    }
}

impl RateLimit {
    /// Middleware running `limit`. Clones of a
    /// [`RateLimiter`](auth_core::rate_limit::RateLimiter) share their
    /// state: give two resources clones of one limiter for one quota over
    /// both.
    pub fn new(limit: impl Limit) -> Self {
        Self {
            limit: Arc::new(limit),
        }
    }

    /// Middleware running a limit that is shared already.
    pub fn from_shared(limit: Arc<dyn Limit>) -> Self {
        Self { limit }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RateLimit
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RateLimitMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        ready(Ok(RateLimitMiddleware {
            service: Rc::new(service),
            limit: Arc::clone(&self.limit),
        }))
    }
}

/// The service [`RateLimit`] wraps around the inner one.
pub struct RateLimitMiddleware<S> {
    service: Rc<S>,
    limit: Arc<dyn Limit>,
}

impl<S> std::fmt::Debug for RateLimitMiddleware<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimitMiddleware")
            .finish_non_exhaustive()
    }
}

impl<S, B> Service<ServiceRequest> for RateLimitMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, req: ServiceRequest) -> Self::Future {
        // What `RequireAuth` around this left: the caller (none: anonymous)
        // and its guard, which renders refusals.
        let (identity, guard) = {
            let ext = req.extensions();
            (
                ext.get::<Identity>().cloned(),
                ext.get::<Checked>().map(|c| c.guard.clone()),
            )
        };
        let limit = Arc::clone(&self.limit);
        let service = Rc::clone(&self.service);
        Box::pin(async move {
            // The head is read in place while the limit decides, not copied.
            let head = HeadRef::new(req.request(), &[]);
            let outcome = check_limit(&*limit, &head, identity.as_ref(), guard.as_ref()).await;
            pass_or_refuse(&*service, req, outcome).await
        })
    }
}
