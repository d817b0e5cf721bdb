//! [`RequireAuth`]: the actix-web middleware.

use auth_core::Rejection;
use auth_core::limits::ResponseHeaders;
use std::future::{Future, Ready, ready};
use std::pin::Pin;
use std::rc::Rc;

use actix_web::HttpMessage;
use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Service, ServiceRequest, ServiceResponse, Transform, forward_ready};
use actix_web::http::header::HeaderName;
use auth_core::{Guard, Policy};

use crate::error::{add_headers, rejection_response};
use crate::request::HeadRef;

/// Lets a request through only if its [`Guard`] accepts it, with the caller's
/// [`Identity`](auth_core::Identity) in the request extensions and the
/// decision's headers (from the guard's limits) on the response. A refusal is
/// a response (401, 403, 400, 429 or 503), rendered from the core's
/// [`Rejection`](auth_core::Rejection) exactly as the Tower adapter renders
/// it. The headers the guard's methods read credentials from are marked
/// sensitive.
///
/// ```
/// use actix_web::{App, HttpResponse, test, web};
/// use auth_actix::{Auth, RequireAuth};
/// use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
/// use auth_core::{Guard, Policy};
///
/// # actix_web::rt::System::new().block_on(async {
/// let keys = ApiKeys::in_memory(Pepper::generate());
/// let (key, _) = keys.issue(NewKey::new("acme", Environment::Test).scopes(["reports:read"])).await.unwrap();
/// let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).realm("demo").build().unwrap();
///
/// let app = test::init_service(App::new().service(
///     web::resource("/reports")
///         .wrap(RequireAuth::new(guard).policy(Policy::scope("reports:read")))
///         .to(|Auth(id): Auth| async move { HttpResponse::Ok().body(id.subject().to_owned()) }),
/// ))
/// .await;
///
/// let ok = test::TestRequest::get().uri("/reports").insert_header(("x-api-key", key.expose())).to_request();
/// assert_eq!(test::call_service(&app, ok).await.status(), 200);
///
/// let refused = test::call_service(&app, test::TestRequest::get().uri("/reports").to_request()).await;
/// assert_eq!(refused.status(), 401);
/// assert_eq!(refused.headers().get("www-authenticate").unwrap(), "Bearer realm=\"demo\"");
/// # });
/// ```
#[derive(Clone, Debug)]
pub struct RequireAuth {
    guard: Guard,
}

/// Marks that [`RequireAuth`] ran on this request.
#[derive(Clone, Debug)]
pub(crate) struct Checked {
    pub(crate) guard: Guard,
}

impl RequireAuth {
    /// Middleware over `guard`.
    pub fn new(guard: Guard) -> Self {
        Self { guard }
    }

    /// The guard.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }

    /// Checks `policy` after authentication.
    pub fn policy(self, policy: Policy) -> Self {
        Self {
            guard: self.guard.with_policy(policy),
        }
    }

    /// Lets requests with no credential through without an identity;
    /// handlers take `Option<Auth>`.
    pub fn allow_anonymous(self) -> Self {
        Self {
            guard: self.guard.allow_anonymous(),
        }
    }
}

impl<S, B> Transform<S, ServiceRequest> for RequireAuth
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Transform = RequireAuthMiddleware<S>;
    type InitError = ();
    type Future = Ready<Result<Self::Transform, Self::InitError>>;

    fn new_transform(&self, service: S) -> Self::Future {
        let sensitive = self
            .guard
            .sensitive_headers()
            .iter()
            .filter_map(|n| HeaderName::from_bytes(n.as_bytes()).ok())
            .collect();
        ready(Ok(RequireAuthMiddleware {
            service: Rc::new(service),
            guard: self.guard.clone(),
            sensitive,
        }))
    }
}

/// The service [`RequireAuth`] wraps around the inner one.
pub struct RequireAuthMiddleware<S> {
    service: Rc<S>,
    guard: Guard,
    /// The guard's sensitive header names, parsed once.
    sensitive: Rc<[HeaderName]>,
}

pub(crate) type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// What both middlewares do with a check's outcome: call `service` and put
/// the headers on its response, or answer with the refusal.
pub(crate) async fn pass_or_refuse<S, B>(
    service: &S,
    req: ServiceRequest,
    outcome: Result<ResponseHeaders, Rejection>,
) -> Result<ServiceResponse<EitherBody<B>>, actix_web::Error>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    B: MessageBody,
{
    match outcome {
        Ok(headers) => {
            let mut res = service.call(req).await?;
            add_headers(res.headers_mut(), &headers);
            Ok(res.map_into_left_body())
        }
        Err(rejection) => Ok(req
            .into_response(rejection_response(&rejection))
            .map_into_right_body()),
    }
}

impl<S, B> Service<ServiceRequest> for RequireAuthMiddleware<S>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error> + 'static,
    B: MessageBody + 'static,
{
    type Response = ServiceResponse<EitherBody<B>>;
    type Error = actix_web::Error;
    type Future = LocalBoxFuture<Result<Self::Response, Self::Error>>;

    forward_ready!(service);

    fn call(&self, mut req: ServiceRequest) -> Self::Future {
        // Credentials are marked sensitive for whatever runs inside (Debug
        // output, HPACK); a request passes with at most one of each.
        for name in self.sensitive.iter() {
            if let Some(value) = req.headers_mut().get_mut(name) {
                value.set_sensitive(true);
            }
        }
        let guard = self.guard.clone();
        let service = self.service.clone();
        let names = Rc::clone(&self.sensitive);
        Box::pin(async move {
            // The head is read in place while the guard decides, not copied.
            let decided = guard.check(&HeadRef::new(req.request(), &names)).await;
            let outcome = decided.map(|decision| {
                let (identity, headers) = decision.into_parts();
                let mut ext = req.extensions_mut();
                if let Some(id) = identity {
                    ext.insert(id);
                }
                ext.insert(Checked { guard });
                headers
            });
            pass_or_refuse(&*service, req, outcome).await
        })
    }
}
