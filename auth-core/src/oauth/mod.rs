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
//! Access tokens can be bound to the client's TLS certificate (RFC 8705,
//! [`Client::certificate_bound_tokens`](client::Client::certificate_bound_tokens)).
//!
//! A client gets a token at the token endpoint, and a resource server that
//! trusts the server's published keys lets it in for what it was granted,
//! and no further:
//!
//! ```
//! use auth_core::basic::hash_password;
//! use auth_core::jwt::{Issuer, JwtAuthenticator};
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::server::AuthorizationServer;
//! use auth_core::{Guard, Policy, SimpleRequest};
//! use jsonwebtoken::{Algorithm, EncodingKey};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
//! # let signing_key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
//! let clients = ClientRegistry::builder()
//!     .client(Client::confidential("reports-job", hash_password("s3cret").unwrap())
//!         .grants([GrantType::ClientCredentials])
//!         .scopes(["reports:read"]))
//!     .build()
//!     .unwrap();
//! let server = AuthorizationServer::builder("https://as.example", clients)
//!     .audience("https://api.example")
//!     .signing_key(signing_key, Algorithm::ES256, "k1")
//!     .build()
//!     .unwrap();
//!
//! // `POST /oauth/token` over TLS, as `reports-job:s3cret` (client_secret_basic).
//! let head = SimpleRequest::new("POST", "/oauth/token").tls(true)
//!     .header("content-type", "application/x-www-form-urlencoded")
//!     .header("authorization", "Basic cmVwb3J0cy1qb2I6czNjcmV0");
//! let res = server.token(&head, b"grant_type=client_credentials").await;
//! assert_eq!(res.status, 200);
//! let body: serde_json::Value = serde_json::from_slice(&res.body).unwrap();
//! let bearer = format!("Bearer {}", body["access_token"].as_str().unwrap());
//!
//! // The resource server: the issuer's JWKS (fetched from its URL in production).
//! let jwks = serde_json::to_string(&server.jwks()).unwrap();
//! let jwt = JwtAuthenticator::builder()
//!     .issuer(Issuer::new("https://as.example").audience("https://api.example").jwks_document(&jwks))
//!     .build()
//!     .unwrap();
//! let guard = Guard::builder(jwt).build().unwrap();
//! let req = SimpleRequest::get("/v1/reports").header("authorization", &bearer);
//! let reports = guard.with_policy(Policy::scope("reports:read"));
//! assert_eq!(reports.check(&req).await.unwrap().into_identity().unwrap().subject(), "reports-job");
//! let admin = guard.with_policy(Policy::scope("admin"));
//! assert_eq!(admin.check(&req).await.unwrap_err().status(), 403);
//! # });
//! ```

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
