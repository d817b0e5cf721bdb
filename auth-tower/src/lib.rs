#![doc = include_str!("../README.md")]

mod future;
mod layer;
mod request;
mod response;
mod service;

#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "server")]
mod server;

pub use future::ResponseFuture;
pub use layer::RequireAuthLayer;
pub use request::ConnectionInfo;
pub use response::rejection_response;
pub use service::RequireAuth;

#[cfg(feature = "axum")]
pub use extract::{Auth, Claims};
#[cfg(feature = "server")]
pub use server::serve;

pub use auth_core;
