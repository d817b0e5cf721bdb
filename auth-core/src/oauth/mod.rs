//! The OAuth 2.0 authorization-server toolkit, framework-neutral: the
//! pieces an authorization server is built from, each usable on its own.
//!
//! Built so far:
//! - [`pkce`]: RFC 7636 with `S256` only (`plain` and a missing challenge
//!   are refused);
//! - [`client`]: the client registry (confidential clients with argon2id
//!   secret hashes checked through the hardened Basic machinery, public
//!   clients, exact redirect URIs with RFC 8252's loopback port rule,
//!   allowed grants and scopes) and client authentication at the token
//!   endpoint (`client_secret_basic` with RFC 6749 §2.3.1's form decoding,
//!   `client_secret_post`, public clients by `client_id`);
//! - [`form`]: `application/x-www-form-urlencoded` request bodies, with
//!   RFC 6749 §3.1's rule that no parameter repeats;
//! - [`OAuthError`]: RFC 6749 §5.2 errors as JSON with
//!   `Cache-Control: no-store`, `invalid_client` as a 401 with a challenge.
//!
//! - [`server`]: the authorization server: `/authorize` (authorization
//!   code with PKCE, a login-and-consent page, Basic for scripted clients
//!   on TLS; see [`authorize`]), the token endpoint (`authorization_code`,
//!   `client_credentials`, `refresh_token` rotated with reuse detection,
//!   RFC 8693 token exchange), RFC 9068 JWT or opaque access tokens signed
//!   with a key that rotates without a restart, the introspection
//!   (RFC 7662) and revocation (RFC 7009) endpoints, the JWKS and RFC 8414
//!   metadata, mounted by `auth-tower` (an axum `Router`) and `auth-actix`
//!   (a `ServiceConfig`).
//!
//! - [`resource`]: RFC 9728 protected-resource metadata, for resource
//!   servers (served by `auth_tower::oauth::resource_metadata` and
//!   `auth_actix::oauth::resource_metadata`).
//!
//! Planned: certificate-bound tokens (RFC 8705).

pub mod authorize;
pub mod client;
pub mod form;
pub mod pkce;
pub mod resource;
pub mod server;

mod error;
mod grants;
mod keys;

pub use error::{OAuthError, OAuthErrorCode};
