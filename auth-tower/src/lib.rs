#![doc = include_str!("../README.md")]

mod request;
pub mod require_auth;
mod response;

#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "server")]
mod server;

pub use request::{ConnectionInfo, HeadView};
pub use require_auth::{RequireAuth, RequireAuthLayer};
pub use response::rejection_response;

#[cfg(feature = "axum")]
pub use extract::{Auth, AuthRejection, Claims};
#[cfg(feature = "server")]
pub use server::serve;

pub use auth_core;
