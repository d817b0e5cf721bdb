#![doc = include_str!("../README.md")]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod authenticate;
pub mod claims;
pub mod cookie;
pub mod credentials;
pub mod error;
pub mod guard;
pub mod identity;
pub mod limits;
#[cfg(feature = "openapi")]
pub mod openapi;
pub mod policy;
pub mod rate_limit;
pub mod rejection;
pub mod request;
pub mod secret;
pub mod store;

#[cfg(feature = "api-key")]
pub mod api_key;
#[cfg(feature = "basic")]
pub mod basic;
#[cfg(feature = "jwt")]
pub mod jwt;

#[cfg(feature = "introspection")]
pub mod introspection;

#[cfg(feature = "oauth")]
pub mod oauth;

#[cfg(feature = "outbound")]
pub mod outbound;

#[cfg(feature = "mtls")]
pub mod mtls;

#[cfg(feature = "tls")]
pub mod tls;

#[cfg(any(feature = "api-key", feature = "basic"))]
mod mac;

#[cfg(any(feature = "introspection", feature = "outbound"))]
mod client_auth;

pub use authenticate::{AllOf, AnyOf, AuthRequest, Authenticator, BoxFuture, Specificity};
pub use credentials::{Authorization, Credential};
pub use error::{
    AuthError, AuthErrorKind, ConfigError, ConfigErrorKind, StoreError, StoreErrorKind,
};
pub use guard::{Decision, Guard, GuardBuilder};
pub use identity::{AuthMethod, Claims, Identity};
pub use policy::Policy;
pub use rejection::{Challenge, Rejection, RenderRejection, Rendered};
pub use request::{HeaderOnce, RequestHead, SimpleRequest, TrustedProxies};
pub use secret::{Secret, SecretRef};
