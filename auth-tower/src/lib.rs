#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod grpc;
pub mod rate_limit;
mod request;
pub mod require_auth;
mod response;

#[cfg(feature = "axum")]
mod extract;
#[cfg(feature = "axum")]
pub mod oauth;
#[cfg(feature = "outbound")]
pub mod outbound;
#[cfg(feature = "server")]
pub mod server;

pub use rate_limit::{RateLimit, RateLimitLayer};
pub use request::{ConnectionInfo, HeadView};
pub use require_auth::{RequireAuth, RequireAuthLayer};
pub use response::rejection_response;

#[cfg(feature = "axum")]
pub use extract::{Auth, AuthRejection, Claims};
#[cfg(feature = "outbound")]
pub use outbound::{AddCredential, AddCredentialLayer};
#[cfg(feature = "server")]
pub use server::{Server, serve};

pub use auth_core;
