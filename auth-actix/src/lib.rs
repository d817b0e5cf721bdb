#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod error;
mod extract;
mod middleware;
pub mod oauth;
mod rate_limit;
mod request;
#[cfg(feature = "rustls")]
mod tls;

pub use error::{AuthRejection, rejection_response};
pub use extract::{Auth, Claims, MaybeAuth};
pub use middleware::{RequireAuth, RequireAuthMiddleware};
pub use rate_limit::{RateLimit, RateLimitMiddleware};
pub use request::{HeadView, TlsConnection};
#[cfg(feature = "rustls")]
pub use tls::on_connect;

pub use auth_core;
