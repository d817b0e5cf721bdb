#![doc = include_str!("../README.md")]

mod error;
mod extract;
mod middleware;
pub mod oauth;
mod request;
#[cfg(feature = "rustls")]
mod tls;

pub use error::{AuthRejection, rejection_response};
pub use extract::{Auth, Claims, MaybeAuth};
pub use middleware::{RequireAuth, RequireAuthMiddleware};
pub use request::{HeadView, TlsConnection};
#[cfg(feature = "rustls")]
pub use tls::on_connect;

pub use auth_core;
