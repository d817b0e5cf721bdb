//! TLS client certificates as credentials (mutual TLS, RFC 8705): SPIFFE
//! IDs and other names mapped to identities, strict or permissive per
//! route, certificates forwarded by a trusted TLS-terminating proxy
//! (RFC 9440), and the certificate that bound tokens are checked against.
//!
//! - [`PeerCertificate`] is what the core reads from a client certificate:
//!   its SANs, CN, validity and `x5t#S256` thumbprint. Adapters parse the
//!   leaf **once per connection** and hand the same
//!   `Arc<PeerCertificate>` to every request on it
//!   ([`RequestHead::peer_certificate`](crate::RequestHead::peer_certificate)).
//! - [`MtlsAuthenticator`] maps a certificate's identity name (its SPIFFE
//!   ID first, then DNS, email, CN) through [`MtlsRule`]s to a subject and
//!   scopes; an unmatched certificate is refused.
//! - A route allows only some workloads with a [`Policy`](crate::Policy):
//!   `Policy::method(AuthMethod::Mtls).and(Policy::subject_in([…]))`. A
//!   policy, not an authenticator option, because the allow-list is per
//!   route while the rules (who a certificate is) are per service, and
//!   because a policy refusal is the right answer: the caller *is*
//!   authenticated (a trusted certificate) but not allowed here, `403`,
//!   where an unmatched rule is `401`.
//! - [`ForwardedCertificates`] believes `Client-Cert` or
//!   `x-forwarded-client-cert` from [`TrustedProxies`](crate::TrustedProxies)
//!   only.
//! - Tokens with `cnf.x5t#S256` (JWTs, introspected tokens) are checked
//!   against the request's certificate by
//!   [`check_certificate_binding`](crate::claims::check_certificate_binding).
//!
//! ```
//! use auth_core::mtls::{MtlsAuthenticator, MtlsRule};
//! use auth_core::{AuthMethod, Guard, Policy, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Two workload certificates (in production: from the TLS handshake).
//! let cert = |spiffe_id: &str| {
//!     let key = rcgen::KeyPair::generate().unwrap();
//!     let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
//!     params.subject_alt_names.push(rcgen::SanType::URI(spiffe_id.try_into().unwrap()));
//!     params.self_signed(&key).unwrap().der().to_vec()
//! };
//! let billing = cert("spiffe://demo.local/billing");
//! let reporting = cert("spiffe://demo.local/reporting");
//!
//! let mtls = MtlsAuthenticator::builder()
//!     .rule(MtlsRule::prefix("spiffe://demo.local/").scopes(["service"]))
//!     .build()
//!     .unwrap();
//! let service = Guard::builder(mtls.strict())
//!     .build()
//!     .unwrap()
//!     .with_policy(
//!         Policy::method(AuthMethod::Mtls).and(Policy::subject_in(["spiffe://demo.local/billing"])),
//!     );
//!
//! let req = |der: Option<&Vec<u8>>| {
//!     let r = SimpleRequest::get("/v1/service").tls(true);
//!     match der {
//!         Some(der) => r.peer_certificates(vec![der.clone()]),
//!         None => r,
//!     }
//! };
//! let id = service.check(&req(Some(&billing))).await.unwrap().into_identity().unwrap();
//! assert_eq!(id.subject(), "spiffe://demo.local/billing");
//! assert_eq!(id.method(), AuthMethod::Mtls);
//! assert_eq!(id.cert_thumbprint().map(str::len), Some(43));
//!
//! // Trusted, but not allowed on this route.
//! assert_eq!(service.check(&req(Some(&reporting))).await.unwrap_err().status(), 403);
//! // No certificate: 401, and no `WWW-Authenticate` (there is no scheme to name).
//! let refused = service.check(&req(None)).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! assert_eq!(refused.header_values("www-authenticate").count(), 0);
//! # });
//! ```
//!
//! # Strict and permissive routes
//!
//! [`MtlsMode::Strict`] refuses a request without a certificate (`401`).
//! The authenticator then decides every request it is shown, so it goes
//! alone on a route (certificates only: the `401` carries no
//! `WWW-Authenticate`), or in an [`AllOf`](crate::AllOf) with a token that
//! must be bound to the certificate.
//!
//! [`MtlsMode::Permissive`] takes a certificate as the credential when no
//! header credential is presented, and otherwise answers "nothing
//! presented": in an [`AnyOf`](crate::AnyOf) the request falls through to
//! the route's other methods (an API key, a JWT), whose challenges a `401`
//! lists; on a route with [`allow_anonymous`](crate::Guard::allow_anonymous)
//! it passes anonymously. A certificate presented next to a header
//! credential is still the request's certificate for binding checks.
//!
//! # Migrating to mTLS
//!
//! Two switches, as in a service mesh: whether the **listener** asks for a
//! certificate in the TLS handshake (rustls's configuration), and whether
//! a **route** requires one (the mode here). Istio's `PeerAuthentication`
//! modes map onto them:
//!
//! | Istio `PeerAuthentication` | listener (rustls `ServerConfig`) | route ([`MtlsMode`]) |
//! | --- | --- | --- |
//! | `DISABLE` | no client certificate requested: `with_no_client_auth()` | no `MtlsAuthenticator` on the route (the "disabled" mode is the listener's: a certificate never arrives) |
//! | `PERMISSIVE` | requested, optional: `WebPkiClientVerifier::builder(roots).allow_unauthenticated()` | [`MtlsMode::Permissive`], in an `AnyOf` with the methods clients use today |
//! | `STRICT` | required: `WebPkiClientVerifier::builder(roots).build()` (a client without one fails the handshake), or optional as above with `Strict` routes | [`MtlsMode::Strict`] |
//!
//! A migration goes left to right one service at a time: request
//! certificates optionally and make routes `Permissive` (clients with
//! certificates are identified by them, the others keep their API keys or
//! tokens); watch the decision log's `method` field until every caller of
//! a route shows `mtls`; then make the route `Strict`, and once every
//! route of a listener is, the listener may require certificates.
//!
//! # Security considerations
//!
//! - **The handshake verifies, this module reads.** Chains, trust anchors,
//!   validity and revocation (CRLs) are rustls/webpki's, in the TLS
//!   handshake. A certificate from an untrusted CA, or an expired one, is
//!   refused there: the client sees a TLS alert and the connection fails,
//!   it never gets an HTTP `401`. This module parses only certificates
//!   that passed, and re-checks their validity period per request (a
//!   long-lived connection can outlast its certificate).
//! - **Forwarded certificates** ([`ForwardedCertificates`]) are believed
//!   only from the configured proxies, which must strip or overwrite the
//!   header on every request they forward (RFC 9440 §4); from any other
//!   peer the header is ignored and a warning is logged without its
//!   value. The proxy has verified the chain; this module does not.
//! - **Bounded.** A certificate over 16 KiB, with more than 64 SANs or a
//!   name over 1 KiB, or a forwarded header over 48 KiB, is unreadable:
//!   refused (`401`), never taken for "no certificate", never a panic.
//! - **Prefixes end at a path boundary**: [`MtlsRule::prefix`] must end
//!   with `/`.

mod authenticator;
mod certificate;
mod forwarded;

pub use authenticator::{MtlsAuthenticator, MtlsAuthenticatorBuilder, MtlsMode, MtlsRule};
pub use certificate::{
    CertificateError, CertificateErrorKind, MAX_CERTIFICATE_LEN, MAX_NAME_LEN, MAX_NAMES, NameKind,
    PeerCertificate, thumbprint_of,
};
pub use forwarded::{
    CLIENT_CERT, ClientCertificate, DEFAULT_MAX_HEADER_LEN, ForwardedCertificates, ForwardedHeader,
    XFCC, decode_client_cert, decode_xfcc,
};
