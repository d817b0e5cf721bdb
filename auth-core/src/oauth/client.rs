//! The client registry and client authentication.
//!
//! Confidential clients' secrets are stored as argon2id PHC hashes
//! ([`hash_password`](crate::basic::hash_password) makes one) and checked
//! through the same machinery as HTTP Basic: a bounded number of checks at
//! once (503 beyond), a short cache of verified secrets, refused pairs
//! remembered, a lockout per client and address, and a dummy hash for
//! unknown client ids so they answer no faster.
//!
//! ```
//! use auth_core::basic::hash_password;
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::form::Form;
//! use auth_core::SimpleRequest;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let registry = ClientRegistry::builder()
//!     .client(Client::confidential("svc", hash_password("s3cret").unwrap())
//!         .grants([GrantType::ClientCredentials]))
//!     .client(Client::public("cli").grants([GrantType::AuthorizationCode]).redirect_uri("http://127.0.0.1/cb"))
//!     .build()
//!     .unwrap();
//! let head = SimpleRequest::new("POST", "/oauth/token").tls(true);
//! let form = |body: &[u8]| Form::parse(body).unwrap();
//!
//! let (svc, _) = registry.authenticate(&head, &form(b"client_id=svc&client_secret=s3cret")).await.unwrap();
//! assert!(svc.check_grant(GrantType::ClientCredentials).is_ok());
//! let refused = registry.authenticate(&head, &form(b"client_id=svc&client_secret=wrong")).await.unwrap_err();
//! assert_eq!((refused.status(), refused.kind().as_str()), (401, "invalid_client"));
//!
//! // A public client names itself, and may use only its own grants.
//! let (cli, _) = registry.authenticate(&head, &form(b"client_id=cli")).await.unwrap();
//! assert!(cli.check_grant(GrantType::ClientCredentials).is_err());
//! // A loopback redirect URI matches on any port (RFC 8252 §7.3), nothing else varies.
//! assert!(cli.redirect_uri_matches("http://127.0.0.1:53123/cb"));
//! assert!(!cli.redirect_uri_matches("http://127.0.0.1:53123/cb/other"));
//! # });
//! ```

use std::collections::HashMap;
use std::time::Duration;

use base64::Engine as _;

use super::form::{Form, decode};
use super::{OAuthError, OAuthErrorCode};
use crate::basic::{BasicAuthenticator, BasicUser};
use crate::error::{AuthErrorKind, ConfigError};
use crate::request::RequestHead;
use crate::secret::Secret;

/// The grant types a client may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GrantType {
    /// `authorization_code` (with PKCE).
    AuthorizationCode,
    /// `client_credentials`.
    ClientCredentials,
    /// `refresh_token`.
    RefreshToken,
    /// `urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693).
    TokenExchange,
}

impl GrantType {
    /// The `grant_type` value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthorizationCode => "authorization_code",
            Self::ClientCredentials => "client_credentials",
            Self::RefreshToken => "refresh_token",
            Self::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// The grant type named by `value`; `unsupported_grant_type` otherwise.
    pub fn parse(value: &str) -> Result<Self, OAuthError> {
        [
            Self::AuthorizationCode,
            Self::ClientCredentials,
            Self::RefreshToken,
            Self::TokenExchange,
        ]
        .into_iter()
        .find(|g| g.as_str() == value)
        .ok_or_else(|| {
            OAuthError::new(
                OAuthErrorCode::UnsupportedGrantType,
                "the grant type is not supported",
            )
        })
    }
}

/// How a client authenticated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientAuthMethod {
    /// `client_secret_basic`.
    SecretBasic,
    /// `client_secret_post`.
    SecretPost,
    /// A public client, by `client_id` alone.
    None,
    /// `tls_client_auth` (RFC 8705 §2.1): the client's certificate on the
    /// TLS connection.
    TlsClientAuth,
}

/// A registered client. Its `Debug` leaves the secret's hash out.
#[derive(Clone, PartialEq, Eq)]
pub struct Client {
    id: String,
    secret_hash: Option<String>,
    /// `tls_client_auth`: the identity name its certificate must carry.
    tls_subject: Option<String>,
    /// Tokens are bound to the certificate of the token request (RFC 8705
    /// §3) when it has one.
    bound_tokens: bool,
    redirect_uris: Vec<String>,
    grants: Vec<GrantType>,
    scopes: Vec<String>,
    opaque_tokens: bool,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("confidential", &self.is_confidential())
            .field("tls_subject", &self.tls_subject)
            .field("bound_tokens", &self.bound_tokens)
            .field("redirect_uris", &self.redirect_uris)
            .field("grants", &self.grants)
            .field("scopes", &self.scopes)
            .field("opaque_tokens", &self.opaque_tokens)
            .finish()
    }
}

impl Client {
    /// A confidential client whose secret has this argon2id PHC hash.
    pub fn confidential(id: impl Into<String>, secret_hash: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret_hash: Some(secret_hash.into()),
            tls_subject: None,
            bound_tokens: false,
            redirect_uris: Vec::new(),
            grants: Vec::new(),
            scopes: Vec::new(),
            opaque_tokens: false,
        }
    }

    /// A public client (no secret: a native or browser app).
    pub fn public(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            secret_hash: None,
            tls_subject: None,
            bound_tokens: false,
            redirect_uris: Vec::new(),
            grants: Vec::new(),
            scopes: Vec::new(),
            opaque_tokens: false,
        }
    }

    /// A confidential client that authenticates with its TLS client
    /// certificate (RFC 8705 §2.1 `tls_client_auth`): the certificate, which
    /// the TLS listener verified against its trusted CAs, must carry
    /// `subject` as its identity name (a SPIFFE ID or other URI SAN, else a
    /// DNS SAN, an email SAN, the CN; see
    /// [`PeerCertificate::identity_name`](crate::mtls::PeerCertificate::identity_name)).
    /// Its access tokens are always bound to that certificate.
    pub fn tls_client_auth(id: impl Into<String>, subject: impl Into<String>) -> Self {
        let mut c = Self::public(id);
        c.tls_subject = Some(subject.into());
        c.bound_tokens = true;
        c
    }

    /// Binds its access tokens to the client certificate of the token
    /// request, when there is one (RFC 8705 §3, `cnf.x5t#S256`): a token
    /// stolen without the certificate's key is then worthless at resource
    /// servers that check bindings.
    pub fn certificate_bound_tokens(mut self) -> Self {
        self.bound_tokens = true;
        self
    }

    /// Whether its tokens are bound to the token request's certificate.
    pub fn binds_tokens(&self) -> bool {
        self.bound_tokens
    }

    /// Registers a redirect URI, matched exactly (but for a loopback port,
    /// see [`redirect_uri_matches`](Self::redirect_uri_matches)).
    pub fn redirect_uri(mut self, uri: impl Into<String>) -> Self {
        self.redirect_uris.push(uri.into());
        self
    }

    /// The grant types it may use.
    pub fn grants(mut self, grants: impl IntoIterator<Item = GrantType>) -> Self {
        self.grants.extend(grants);
        self
    }

    /// The scopes it may be given.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes.extend(scopes.into_iter().map(Into::into));
        self
    }

    /// Issues it opaque access tokens (checked by introspection) rather
    /// than JWTs.
    pub fn opaque_tokens(mut self) -> Self {
        self.opaque_tokens = true;
        self
    }

    /// The client id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The grant types it may use.
    pub fn allowed_grants(&self) -> impl Iterator<Item = GrantType> + '_ {
        self.grants.iter().copied()
    }

    /// The scopes it may be granted.
    pub fn allowed_scopes(&self) -> impl Iterator<Item = &str> + '_ {
        self.scopes.iter().map(String::as_str)
    }

    /// Its redirect URIs.
    pub fn redirect_uris(&self) -> impl Iterator<Item = &str> + '_ {
        self.redirect_uris.iter().map(String::as_str)
    }

    /// Whether it authenticates (with a secret or a certificate).
    pub fn is_confidential(&self) -> bool {
        self.secret_hash.is_some() || self.tls_subject.is_some()
    }

    /// Whether it authenticates with its certificate (`tls_client_auth`).
    pub fn uses_tls_client_auth(&self) -> bool {
        self.tls_subject.is_some()
    }

    /// Whether its access tokens are opaque.
    pub fn wants_opaque_tokens(&self) -> bool {
        self.opaque_tokens
    }

    /// Whether it may use `grant`; `unauthorized_client` otherwise.
    pub fn check_grant(&self, grant: GrantType) -> Result<(), OAuthError> {
        if self.grants.contains(&grant) {
            Ok(())
        } else {
            Err(OAuthError::new(
                OAuthErrorCode::UnauthorizedClient,
                "the client may not use this grant type",
            ))
        }
    }

    /// Whether `uri` is one of its redirect URIs: byte for byte, except
    /// that for a registered `http` loopback IP literal (`127.0.0.1`,
    /// `[::1]`) any port is accepted (RFC 8252 §7.3). `localhost` is
    /// matched exactly (RFC 8252 §8.3 recommends the IP literal).
    pub fn redirect_uri_matches(&self, uri: &str) -> bool {
        self.redirect_uris
            .iter()
            .any(|r| r == uri || loopback_port_varies(r, uri))
    }

    /// The scopes to grant for a request's `scope` (space-separated): all
    /// of the client's when absent; `invalid_scope` for one it may not have.
    pub fn grant_scopes(&self, requested: Option<&str>) -> Result<Vec<String>, OAuthError> {
        let Some(requested) = requested else {
            return Ok(self.scopes.clone());
        };
        let mut out: Vec<String> = Vec::new();
        for s in requested.split(' ').filter(|s| !s.is_empty()) {
            if !self.scopes.iter().any(|c| c == s) {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidScope,
                    "a requested scope is not allowed for this client",
                ));
            }
            if !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
        Ok(out)
    }
}

/// The request came over TLS with a client certificate, valid now, whose
/// identity name is the client's `tls_client_auth` subject.
fn certificate_matches(head: &dyn RequestHead, c: &Client) -> bool {
    let Some(cert) = head.is_tls().then(|| head.peer_certificate()).flatten() else {
        return false;
    };
    cert.is_valid_at(std::time::SystemTime::now())
        && cert
            .identity_name()
            .is_some_and(|n| Some(n) == c.tls_subject.as_deref())
}

/// `registered` is `http://127.0.0.1:<port>/path` or `http://[::1]:…`, and
/// `uri` is the same but for the port.
fn loopback_port_varies(registered: &str, uri: &str) -> bool {
    let split = |u: &str| -> Option<(String, String)> {
        let rest = u.strip_prefix("http://")?;
        let (authority, path) = rest.split_at(rest.find(['/', '?', '#']).unwrap_or(rest.len()));
        let host = if let Some(v6) = authority.strip_prefix('[') {
            let end = v6.find(']')?;
            let port = v6.get(end + 1..)?;
            if !(port.is_empty() || port.strip_prefix(':')?.bytes().all(|b| b.is_ascii_digit())) {
                return None;
            }
            format!("[{}]", v6.get(..end)?)
        } else {
            let (host, port) = authority.split_once(':').unwrap_or((authority, ""));
            if !port.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            host.to_owned()
        };
        Some((host, path.to_owned()))
    };
    let (Some((rh, rp)), Some((uh, up))) = (split(registered), split(uri)) else {
        return false;
    };
    (rh == "127.0.0.1" || rh == "[::1]") && rh == uh && rp == up
}

/// Builds a [`ClientRegistry`].
#[derive(Debug, Default)]
pub struct ClientRegistryBuilder {
    clients: Vec<Client>,
    allow_plaintext: bool,
    cache_ttl: Option<Duration>,
    realm: Option<String>,
}

impl ClientRegistryBuilder {
    /// Registers `client`.
    pub fn client(mut self, client: Client) -> Self {
        self.clients.push(client);
        self
    }

    /// Accepts client secrets over plaintext HTTP (tests, a TLS-terminating
    /// proxy in front). RFC 6749 §2.3.1 requires TLS.
    pub fn insecure_allow_plaintext(mut self) -> Self {
        self.allow_plaintext = true;
        self
    }

    /// How long a verified secret is remembered (default 60 s).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = Some(ttl);
        self
    }

    /// The realm of the `invalid_client` challenge (default `oauth`).
    pub fn realm(mut self, realm: impl Into<String>) -> Self {
        self.realm = Some(realm.into());
        self
    }

    /// The registry. Fails on a repeated client id, an unusable secret
    /// hash (or one below OWASP's argon2id minimum), or a realm that cannot
    /// be sent.
    pub fn build(self) -> Result<ClientRegistry, ConfigError> {
        let mut clients = HashMap::new();
        let mut users = Vec::new();
        for c in self.clients {
            // RFC 6749 §3.1.2: absolute, and no fragment.
            if c.redirect_uris.iter().any(|u| {
                u.contains('#')
                    || !u
                        .split_once("://")
                        .is_some_and(|(s, r)| !s.is_empty() && !r.is_empty())
            }) {
                return Err(ConfigError::invalid(
                    "a redirect URI must be absolute and carry no fragment",
                ));
            }
            if let Some(hash) = &c.secret_hash {
                users.push(BasicUser::new(c.id.clone(), hash.clone()));
            }
            if clients.insert(c.id.clone(), c).is_some() {
                return Err(ConfigError::invalid("a client id is registered twice"));
            }
        }
        let mut basic = BasicAuthenticator::builder()
            .users(users)
            .cache_ttl(self.cache_ttl.unwrap_or(Duration::from_secs(60)));
        if self.allow_plaintext {
            basic = basic.insecure_allow_plaintext();
        }
        let realm = self.realm.unwrap_or_else(|| "oauth".to_owned());
        if !crate::rejection::valid_realm(&realm) {
            return Err(ConfigError::invalid("the realm must be visible ASCII"));
        }
        Ok(ClientRegistry {
            clients,
            secrets: basic.build()?,
            allow_plaintext: self.allow_plaintext,
            challenge: format!("Basic realm=\"{realm}\""),
        })
    }
}

/// The registered clients, and client authentication at the token,
/// introspection and revocation endpoints.
#[derive(Debug)]
pub struct ClientRegistry {
    clients: HashMap<String, Client>,
    secrets: BasicAuthenticator,
    allow_plaintext: bool,
    challenge: String,
}

/// The longest client id or secret read (bytes, encoded).
const MAX_CLIENT_FIELD: usize = 1024;

impl ClientRegistry {
    /// A builder.
    pub fn builder() -> ClientRegistryBuilder {
        ClientRegistryBuilder::default()
    }

    /// The client with `id`.
    pub fn get(&self, id: &str) -> Option<&Client> {
        self.clients.get(id)
    }

    /// Every registered client.
    pub fn clients(&self) -> impl Iterator<Item = &Client> {
        self.clients.values()
    }

    /// Authenticates the client of a token-endpoint request: its
    /// `Authorization: Basic` header (`client_secret_basic`, id and secret
    /// form-encoded inside, RFC 6749 §2.3.1), or `client_id` and
    /// `client_secret` in the form (`client_secret_post`), or, for a public
    /// client, `client_id` alone.
    ///
    /// Refuses with `invalid_request` two methods at once and a `client_id`
    /// in the form that differs from the header's; with `invalid_client`
    /// (401, with a `Basic` challenge when the header was used) an unknown
    /// client, a wrong secret, a confidential client without its secret, a
    /// secret for a public client, and secrets over plaintext unless
    /// allowed; with `temporarily_unavailable` (503) when every secret check
    /// is busy or the client is locked out.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use auth_core::basic::hash_password;
    /// use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
    /// use auth_core::oauth::form::Form;
    /// use auth_core::SimpleRequest;
    ///
    /// let registry = ClientRegistry::builder()
    ///     .client(Client::confidential("svc", hash_password("s3cret").unwrap())
    ///         .grants([GrantType::ClientCredentials]))
    ///     .build()
    ///     .unwrap();
    /// let form = Form::parse(b"grant_type=client_credentials&client_id=svc&client_secret=s3cret").unwrap();
    /// let head = SimpleRequest::new("POST", "/oauth/token").tls(true);
    /// let (client, _) = registry.authenticate(&head, &form).await.unwrap();
    /// assert_eq!(client.id(), "svc");
    /// # });
    /// ```
    pub async fn authenticate(
        &self,
        head: &dyn RequestHead,
        form: &Form,
    ) -> Result<(&Client, ClientAuthMethod), OAuthError> {
        let basic = head.header_values("authorization");
        let header = match basic.as_slice() {
            [] => None,
            [one] => Some(*one),
            _ => {
                return Err(OAuthError::invalid_request(
                    "more than one Authorization header",
                ));
            }
        };
        let header = header.filter(|h| {
            h.get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"basic "))
        });
        let form_id = form.get("client_id");
        let form_secret = form.get("client_secret");
        let (id, secret, method) = match (header, form_secret) {
            (Some(_), Some(_)) => {
                return Err(OAuthError::invalid_request(
                    "use one client authentication method",
                ));
            }
            (Some(h), None) => {
                let (id, secret) = self.decode_basic(h.get(6..).unwrap_or_default())?;
                if form_id.is_some_and(|f| f != id) {
                    return Err(OAuthError::invalid_request(
                        "client_id differs from the authenticated client",
                    ));
                }
                (id, Some(secret), ClientAuthMethod::SecretBasic)
            }
            (None, Some(secret)) => {
                let Some(id) = form_id else {
                    return Err(OAuthError::invalid_client(None));
                };
                (
                    id.to_owned(),
                    Some(secret.to_owned()),
                    ClientAuthMethod::SecretPost,
                )
            }
            (None, None) => match form_id {
                Some(id) => (id.to_owned(), None, ClientAuthMethod::None),
                None => return Err(OAuthError::invalid_client(None)),
            },
        };
        let challenge = (method == ClientAuthMethod::SecretBasic).then(|| self.challenge.clone());
        let invalid = || OAuthError::invalid_client(challenge.clone());
        if id.len() > MAX_CLIENT_FIELD
            || secret.as_ref().is_some_and(|s| s.len() > MAX_CLIENT_FIELD)
        {
            return Err(invalid());
        }
        let Some(secret) = secret else {
            // A public client names itself; a confidential one must prove it,
            // here with its certificate.
            return match self.clients.get(&id) {
                Some(c) if !c.is_confidential() => Ok((c, ClientAuthMethod::None)),
                Some(c) if c.tls_subject.is_some() && certificate_matches(head, c) => {
                    Ok((c, ClientAuthMethod::TlsClientAuth))
                }
                _ => Err(invalid()),
            };
        };
        if !self.allow_plaintext && !head.is_tls() {
            return Err(OAuthError::invalid_request(
                "client secrets are accepted over TLS only",
            ));
        }
        // Unknown ids go through the same check (against a dummy hash), so
        // they answer no faster than known ones.
        match self
            .secrets
            .check_pair(head, id.clone(), Secret::new(secret.into_bytes()))
            .await
        {
            Ok(_) => match self.clients.get(&id) {
                Some(c) if c.secret_hash.is_some() => Ok((c, method)),
                _ => Err(invalid()),
            },
            Err(e) => match e.kind() {
                AuthErrorKind::Unavailable | AuthErrorKind::LockedOut => Err(OAuthError::new(
                    OAuthErrorCode::TemporarilyUnavailable,
                    "client authentication is busy; try again shortly",
                )),
                _ => Err(invalid()),
            },
        }
    }

    /// `base64(form(id) ":" form(secret))`.
    fn decode_basic(&self, payload: &[u8]) -> Result<(String, String), OAuthError> {
        let invalid = || OAuthError::invalid_client(Some(self.challenge.clone()));
        let payload = payload.trim_ascii();
        if payload.len() > 4 * MAX_CLIENT_FIELD {
            return Err(invalid());
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| invalid())?;
        let colon = decoded
            .iter()
            .position(|b| *b == b':')
            .ok_or_else(invalid)?;
        let (id, secret) = decoded.split_at(colon);
        let id = decode(id).map_err(|_| invalid())?;
        let secret = decode(secret.get(1..).unwrap_or_default()).map_err(|_| invalid())?;
        if id.is_empty() {
            return Err(invalid());
        }
        Ok((id, secret))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::basic::hash_password;
    use crate::request::SimpleRequest;

    fn registry() -> ClientRegistry {
        let hash = hash_password("s3cret:+%").unwrap_or_default();
        ClientRegistry::builder()
            .client(
                Client::confidential("svc app", hash)
                    .grants([GrantType::ClientCredentials])
                    .scopes(["read", "write"]),
            )
            .client(
                Client::public("spa")
                    .redirect_uri("http://127.0.0.1:9999/cb")
                    .redirect_uri("https://app.example/cb")
                    .grants([GrantType::AuthorizationCode]),
            )
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn basic(id: &str, secret: &str) -> String {
        let mut pair = Vec::new();
        pair.extend_from_slice(id.replace(' ', "+").as_bytes());
        pair.push(b':');
        pair.extend_from_slice(secret.as_bytes());
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        )
    }

    fn post() -> SimpleRequest {
        SimpleRequest::new("POST", "/token").tls(true)
    }

    async fn auth(
        r: &ClientRegistry,
        head: &SimpleRequest,
        form: &str,
    ) -> Result<(String, ClientAuthMethod), OAuthError> {
        let form = Form::parse(form.as_bytes())?;
        r.authenticate(head, &form)
            .await
            .map(|(c, m)| (c.id().to_owned(), m))
    }

    #[tokio::test]
    async fn secret_basic_is_form_decoded_and_secret_post_works() {
        let r = registry();
        // The secret `s3cret:+%` form-encoded: `s3cret%3A%2B%25`.
        let head = post().header("authorization", basic("svc app", "s3cret%3A%2B%25"));
        assert_eq!(
            auth(&r, &head, "grant_type=client_credentials").await,
            Ok(("svc app".to_owned(), ClientAuthMethod::SecretBasic))
        );
        let form = "client_id=svc+app&client_secret=s3cret%3A%2B%25";
        assert_eq!(
            auth(&r, &post(), form).await,
            Ok(("svc app".to_owned(), ClientAuthMethod::SecretPost))
        );
        // Not form-decoded, the raw secret would be wrong.
        let raw = post().header("authorization", basic("svc app", "s3cret:+%"));
        let e = auth(&r, &raw, "").await.unwrap_err();
        assert_eq!((e.kind(), e.status()), (OAuthErrorCode::InvalidClient, 401));
        assert!(
            e.headers()
                .contains(&("www-authenticate", "Basic realm=\"oauth\"".to_owned()))
        );
    }

    #[tokio::test]
    async fn wrong_unknown_and_mixed_authentication_is_refused() {
        let r = registry();
        for (head, form, code) in [
            (
                post().header("authorization", basic("svc app", "nope")),
                "",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post().header("authorization", basic("ghost", "s3cret")),
                "",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post(),
                "client_id=svc+app&client_secret=nope",
                OAuthErrorCode::InvalidClient,
            ),
            (post(), "client_id=svc+app", OAuthErrorCode::InvalidClient),
            (
                post(),
                "client_secret=s3cret",
                OAuthErrorCode::InvalidClient,
            ),
            (post(), "", OAuthErrorCode::InvalidClient),
            (post(), "client_id=ghost", OAuthErrorCode::InvalidClient),
            (
                post(),
                "client_id=spa&client_secret=x",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post().header("authorization", basic("spa", "x")),
                "",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post().header("authorization", "Basic !!!"),
                "",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post().header("authorization", "Basic Og=="),
                "",
                OAuthErrorCode::InvalidClient,
            ),
            (
                post().header("authorization", basic("svc app", "s3cret%3A%2B%25")),
                "client_secret=x",
                OAuthErrorCode::InvalidRequest,
            ),
            (
                post().header("authorization", basic("svc app", "s3cret%3A%2B%25")),
                "client_id=spa",
                OAuthErrorCode::InvalidRequest,
            ),
            (
                post()
                    .header("authorization", "Basic a")
                    .header("authorization", "Basic b"),
                "",
                OAuthErrorCode::InvalidRequest,
            ),
            (
                SimpleRequest::new("POST", "/t"),
                "client_id=svc+app&client_secret=s3cret%3A%2B%25",
                OAuthErrorCode::InvalidRequest,
            ),
        ] {
            let e = auth(&r, &head, form).await.unwrap_err();
            assert_eq!(e.kind(), code, "{form}");
        }
        let long = format!(
            "client_id={}&client_secret=x",
            "a".repeat(MAX_CLIENT_FIELD + 1)
        );
        assert_eq!(
            auth(&r, &post(), &long).await.unwrap_err().kind(),
            OAuthErrorCode::InvalidClient
        );
        // A public client names itself.
        assert_eq!(
            auth(&r, &post(), "client_id=spa").await,
            Ok(("spa".to_owned(), ClientAuthMethod::None))
        );
    }

    #[test]
    fn redirect_uris_match_exactly_but_for_a_loopback_port() {
        let r = registry();
        let spa = r.get("spa").unwrap_or_else(|| panic!());
        for ok in [
            "http://127.0.0.1:9999/cb",
            "http://127.0.0.1:1234/cb",
            "http://127.0.0.1/cb",
            "https://app.example/cb",
        ] {
            assert!(spa.redirect_uri_matches(ok), "{ok}");
        }
        for bad in [
            "http://127.0.0.1:1234/cb/",
            "http://127.0.0.1:1234/cb?x=1",
            "http://127.0.0.1:12x/cb",
            "http://127.0.0.2:9999/cb",
            "http://localhost:9999/cb",
            "https://127.0.0.1:9999/cb",
            "https://app.example:443/cb",
            "https://app.example/cb2",
            "https://app.example/CB",
            "http://127.0.0.1:9999@evil.example/cb",
            "",
        ] {
            assert!(!spa.redirect_uri_matches(bad), "{bad}");
        }
        let v6 = Client::public("v6").redirect_uri("http://[::1]:80/cb");
        assert!(v6.redirect_uri_matches("http://[::1]:5000/cb"));
        assert!(!v6.redirect_uri_matches("http://[::2]:5000/cb"));
        assert!(!v6.redirect_uri_matches("http://[::1]x/cb"));
    }

    #[test]
    fn grants_and_scopes_are_per_client() {
        let r = registry();
        let svc = r.get("svc app").unwrap_or_else(|| panic!());
        assert!(svc.check_grant(GrantType::ClientCredentials).is_ok());
        assert_eq!(
            svc.check_grant(GrantType::AuthorizationCode)
                .unwrap_err()
                .kind(),
            OAuthErrorCode::UnauthorizedClient
        );
        assert_eq!(
            svc.grant_scopes(None).ok(),
            Some(vec!["read".to_owned(), "write".to_owned()])
        );
        assert_eq!(
            svc.grant_scopes(Some("read read ")).ok(),
            Some(vec!["read".to_owned()])
        );
        assert_eq!(svc.grant_scopes(Some("")).ok(), Some(vec![]));
        assert_eq!(
            svc.grant_scopes(Some("read admin")).unwrap_err().kind(),
            OAuthErrorCode::InvalidScope
        );
        for g in [
            GrantType::AuthorizationCode,
            GrantType::ClientCredentials,
            GrantType::RefreshToken,
            GrantType::TokenExchange,
        ] {
            assert_eq!(GrantType::parse(g.as_str()), Ok(g));
        }
        assert_eq!(
            GrantType::parse("password").unwrap_err().kind(),
            OAuthErrorCode::UnsupportedGrantType
        );
    }

    #[test]
    fn debug_output_leaves_secret_hashes_out() {
        let r = registry();
        let shown = format!("{r:?}");
        assert!(
            shown.contains("svc app") && !shown.contains("$argon2"),
            "{shown}"
        );
    }

    #[test]
    fn registries_refuse_repeated_ids_and_bad_realms() {
        let twice = ClientRegistry::builder()
            .client(Client::public("a"))
            .client(Client::public("a"))
            .build();
        assert!(twice.is_err());
        assert!(ClientRegistry::builder().realm("a\"b\n").build().is_err());
        assert!(ClientRegistry::builder().build().is_ok());
    }
}
