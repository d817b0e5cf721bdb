//! JWT bearer tokens (RFC 7519, RFC 8725, RFC 9068), verified with
//! jsonwebtoken against keys that come only from configuration: PEM, JWK,
//! JWKS documents, JWKS URLs or issuer metadata, cached per issuer.
//!
//! The builder cannot make an unsafe validator: every issuer needs an
//! audience (or an explicit [`IssuerBuilder::any_audience`]) and keys bound
//! to algorithms; `none` cannot be expressed; HMAC secrets under 32 bytes are
//! refused.
//!
//! ```
//! use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
//! use auth_core::{Guard, Secret, SimpleRequest};
//! use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let secret = Secret::from("an example secret of at least 32 bytes!!");
//! let jwt = JwtAuthenticator::builder()
//!     .issuer(
//!         Issuer::new("urn:example")
//!             .audience("api")
//!             .key(JwtKey::hmac(&secret, Algorithm::HS256).unwrap())
//!             .token_types(["JWT"]),
//!     )
//!     .build()
//!     .unwrap();
//! let guard = Guard::builder(jwt).realm("demo").build().unwrap();
//!
//! let claims = serde_json::json!({
//!     "iss": "urn:example", "aud": "api", "sub": "svc", "exp": 4102444800u64, "scope": "read"
//! });
//! let token = encode(&Header::new(Algorithm::HS256), &claims,
//!     &EncodingKey::from_secret(secret.expose()).unwrap()).unwrap();
//! let ok = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
//! let id = guard.check(&ok).await.unwrap().unwrap();
//! assert_eq!(id.subject(), "svc");
//! assert!(id.has_scope("read"));
//!
//! // Another audience: refused.
//! let claims = serde_json::json!({"iss": "urn:example", "aud": "other", "sub": "svc", "exp": 4102444800u64});
//! let token = encode(&Header::new(Algorithm::HS256), &claims,
//!     &EncodingKey::from_secret(secret.expose()).unwrap()).unwrap();
//! let bad = SimpleRequest::get("/").header("authorization", format!("Bearer {token}"));
//! let refused = guard.check(&bad).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! # });
//! ```
//!
//! # Security considerations
//!
//! - A token's `iss` picks the issuer; only that issuer's keys and algorithms
//!   can verify it.
//! - `jku`, `x5u`, `x5c` and `jwk` headers are never read, and `kid` is only
//!   a bounded lookup key: no token content causes a request.
//! - Clocks: `exp`, `nbf` and `iat` are checked with a leeway (30 s by
//!   default, [`JwtAuthenticatorBuilder::leeway`]).

mod cache;
mod jwks;
mod keys;
mod revocation;
mod validate;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Validation};
use serde_json::Value;

use crate::authenticate::{AuthRequest, Authenticator, BoxFuture};
use crate::claims::ClaimsMapping;
use crate::credentials::Credential;
use crate::error::{AuthError, AuthErrorKind, ConfigError, Scheme};
use crate::identity::{AuthMethod, Claims, Identity};
use crate::rejection::Challenge;
use crate::request::RequestHead;

pub use jwks::{JwksCache, JwksConfig};
pub use keys::JwtKey;
pub use revocation::{MemoryRevocations, RevocationStore};

use cache::{KeySource, NOT_COUNTED, Verified, VerifiedCache, split_signature, unix_now};
use jwks::{Lookup, Source};
use keys::KeySet;

const ALL_ALGORITHMS: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::ES256,
    Algorithm::ES384,
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::EdDSA,
];

/// The claims RFC 9068 requires of an access token.
const RFC9068_CLAIMS: &[&str] = &["iss", "exp", "aud", "sub", "client_id", "iat", "jti"];

/// One trusted issuer: its identifier, audience, keys, algorithms and token
/// types.
#[derive(Debug)]
pub struct IssuerBuilder {
    issuer: String,
    audience: Option<Vec<String>>,
    keys: Vec<JwtKey>,
    source: Option<Source>,
    algorithms: Option<Vec<Algorithm>>,
    typ: Option<Vec<String>>,
    required: Option<Vec<String>>,
    roles_claim: Option<String>,
    jwks_config: JwksConfig,
    client: Option<reqwest::Client>,
    static_sets: Vec<KeySet>,
    errors: Vec<ConfigError>,
}

/// Starts an [`IssuerBuilder`].
pub struct Issuer;

impl Issuer {
    /// An issuer whose tokens carry exactly this `iss`. By default it
    /// expects RFC 9068 access tokens (`typ: at+jwt` and the claims
    /// `iss exp aud sub client_id iat jti`).
    #[allow(clippy::new_ret_no_self)] // a builder's entry point
    pub fn new(issuer: impl Into<String>) -> IssuerBuilder {
        IssuerBuilder {
            issuer: issuer.into(),
            audience: None,
            keys: Vec::new(),
            source: None,
            algorithms: None,
            typ: None,
            required: None,
            roles_claim: None,
            jwks_config: JwksConfig::default(),
            client: None,
            static_sets: Vec::new(),
            errors: Vec::new(),
        }
    }
}

impl IssuerBuilder {
    /// The audience this service is: `aud` must contain it.
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience.get_or_insert_with(Vec::new).push(aud.into());
        self
    }

    /// Accepts any `aud`. Only for issuers that mint tokens for this service
    /// alone: otherwise a token meant for another service is accepted here.
    pub fn any_audience(mut self) -> Self {
        self.audience = Some(Vec::new());
        self
    }

    /// A key of this issuer.
    pub fn key(mut self, key: JwtKey) -> Self {
        self.keys.push(key);
        self
    }

    /// Every usable key of a JWKS document (JSON text).
    pub fn jwks_document(mut self, json: &str) -> Self {
        let allowed = self.allowed();
        match KeySet::from_jwks(json.as_bytes(), &allowed) {
            Ok((set, _)) if !set.is_empty() => self.static_set_merge(set),
            Ok(_) => self
                .errors
                .push(ConfigError::invalid("JWKS document with no usable key")),
            Err(e) => self
                .errors
                .push(ConfigError::invalid(format!("JWKS document: {e}"))),
        }
        self
    }

    fn static_set_merge(&mut self, set: KeySet) {
        self.static_sets.push(set);
    }

    /// One JWK (JSON text).
    pub fn jwk(mut self, json: &str) -> Self {
        let allowed = self.allowed();
        match serde_json::from_str::<Jwk>(json) {
            Ok(jwk) => match JwtKey::from_jwk(&jwk, &allowed, true) {
                Ok(k) => self.keys.push(k),
                Err(e) => self.errors.push(e),
            },
            Err(e) => self.errors.push(ConfigError::parse("JWK", e)),
        }
        self
    }

    /// Fetches keys from a JWKS URL, cached ([`JwksCache`]).
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Finds the JWKS URL in the issuer's metadata (OIDC discovery, then
    /// RFC 8414), which must name this issuer.
    pub fn discover(mut self) -> Self {
        self.source = Some(Source::Discovery(self.issuer.clone()));
        self
    }

    /// The algorithms this issuer signs with. By default: those of the keys
    /// given, plus ES256 and RS256 for remote keys.
    pub fn algorithms(mut self, algs: impl IntoIterator<Item = Algorithm>) -> Self {
        self.algorithms = Some(algs.into_iter().collect());
        self
    }

    /// The accepted `typ` values instead of `at+jwt` (compared
    /// case-insensitively, `application/` optional); a token without `typ`
    /// is refused. Also relaxes the required claims to `iss exp sub` (and
    /// `aud` when an audience is set) unless [`required_claims`](Self::required_claims)
    /// says otherwise.
    pub fn token_types<I, S>(mut self, types: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.typ = Some(
            types
                .into_iter()
                .map(|t| validate::normalise_typ(t.as_ref()))
                .collect(),
        );
        self
    }

    /// The claims a token must carry.
    pub fn required_claims<I, S>(mut self, claims: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.required = Some(claims.into_iter().map(Into::into).collect());
        self
    }

    /// The claim that lists roles (an array of strings or a space-separated string).
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = Some(claim.into());
        self
    }

    /// Timing of the JWKS cache.
    pub fn jwks_config(mut self, config: JwksConfig) -> Self {
        self.jwks_config = config;
        self
    }

    /// The HTTP client for JWKS and metadata (e.g. with a private CA).
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// What keys given to the builder may be bound to: the explicit list,
    /// or every algorithm jsonwebtoken verifies.
    fn allowed(&self) -> Vec<Algorithm> {
        self.algorithms
            .clone()
            .unwrap_or_else(|| ALL_ALGORITHMS.to_vec())
    }
}

/// Builds a [`JwtAuthenticator`].
pub struct JwtAuthenticatorBuilder {
    issuers: Vec<IssuerBuilder>,
    leeway: Duration,
    max_token_len: usize,
    cache_capacity: u64,
    cache_max_ttl: Duration,
    revocations: Option<Arc<dyn RevocationStore>>,
}

impl JwtAuthenticatorBuilder {
    /// Trusts an issuer.
    pub fn issuer(mut self, issuer: IssuerBuilder) -> Self {
        self.issuers.push(issuer);
        self
    }

    /// Clock leeway for `exp`, `nbf` and `iat` (30 s).
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Tokens longer than this are refused before any parsing (8 KiB).
    pub fn max_token_len(mut self, len: usize) -> Self {
        self.max_token_len = len;
        self
    }

    /// Size of the verified-token cache; 0 turns it off (10 000).
    pub fn cache_capacity(mut self, n: u64) -> Self {
        self.cache_capacity = n;
        self
    }

    /// Longest time a verified token is remembered, however far its `exp` (5 min).
    pub fn cache_max_ttl(mut self, ttl: Duration) -> Self {
        self.cache_max_ttl = ttl;
        self
    }

    /// Where revoked `jti`s are kept (in process by default).
    pub fn revocations(mut self, store: Arc<dyn RevocationStore>) -> Self {
        self.revocations = Some(store);
        self
    }

    /// Builds the authenticator; JWKS fetcher threads start here.
    pub fn build(self) -> Result<JwtAuthenticator, ConfigError> {
        // jsonwebtoken needs one crypto provider; install ours unless the
        // process already chose one.
        let _ = jsonwebtoken::crypto::aws_lc::DEFAULT_PROVIDER.install_default();
        if self.issuers.is_empty() {
            return Err(ConfigError::invalid(
                "a JWT authenticator needs at least one issuer",
            ));
        }
        let mut issuers = HashMap::new();
        for b in self.issuers {
            let state = build_issuer(b, self.leeway)?;
            if issuers.insert(state.name.clone(), state).is_some() {
                return Err(ConfigError::invalid("the same issuer twice"));
            }
        }
        Ok(JwtAuthenticator {
            inner: Arc::new(Inner {
                issuers,
                cache: (self.cache_capacity > 0)
                    .then(|| VerifiedCache::new(self.cache_capacity, self.cache_max_ttl)),
                revocations: self
                    .revocations
                    .unwrap_or_else(|| Arc::new(MemoryRevocations::new())),
                max_token_len: self.max_token_len,
                leeway: self.leeway.as_secs(),
                signature_checks: std::sync::atomic::AtomicU64::new(0),
            }),
        })
    }
}

fn build_issuer(b: IssuerBuilder, leeway: Duration) -> Result<IssuerState, ConfigError> {
    if let Some(e) = b.errors.into_iter().next() {
        return Err(e);
    }
    let audience = b.audience.ok_or_else(|| {
        ConfigError::invalid("issuer without an audience: call audience(..) or any_audience()")
    })?;
    let mut static_keys = KeySet::default();
    for set in &b.static_sets {
        static_keys.merge(set);
    }
    let explicit = b.algorithms.is_some();
    let mut algorithms = b.algorithms.clone().unwrap_or_default();
    for k in b.keys {
        if explicit {
            if !k.algorithms().iter().any(|a| algorithms.contains(a)) {
                return Err(ConfigError::invalid(
                    "a key bound to an algorithm the issuer does not allow",
                ));
            }
        } else {
            algorithms.extend(
                k.algorithms()
                    .iter()
                    .filter(|a| !algorithms.contains(a))
                    .copied()
                    .collect::<Vec<_>>(),
            );
        }
        static_keys.merge(&KeySet::from_keys([k]));
    }
    if !explicit {
        algorithms.extend(
            static_keys
                .algorithms()
                .into_iter()
                .filter(|a| !algorithms.contains(a))
                .collect::<Vec<_>>(),
        );
        if b.source.is_some() {
            for a in [Algorithm::ES256, Algorithm::RS256] {
                if !algorithms.contains(&a) {
                    algorithms.push(a);
                }
            }
        }
    }
    if algorithms.is_empty() {
        return Err(ConfigError::invalid("issuer with an empty algorithm list"));
    }
    if static_keys.is_empty() && b.source.is_none() {
        return Err(ConfigError::invalid(
            "issuer without keys: give a key, a JWKS or a JWKS URL",
        ));
    }
    let jwks = match b.source {
        Some(source) => Some(Arc::new(
            JwksCache::start(source, algorithms.clone(), b.jwks_config, b.client)
                .map_err(|e| ConfigError::io("JWKS fetcher thread", e))?,
        )),
        None => None,
    };
    let access_profile = b.typ.is_none();
    let typ = b.typ.unwrap_or_else(|| vec!["at+jwt".to_owned()]);
    let required = b.required.unwrap_or_else(|| {
        if access_profile {
            RFC9068_CLAIMS.iter().map(|c| (*c).to_owned()).collect()
        } else {
            let mut r: Vec<String> = ["iss", "exp", "sub"]
                .iter()
                .map(|c| (*c).to_owned())
                .collect();
            if !audience.is_empty() {
                r.push("aud".to_owned());
            }
            r
        }
    });
    let mut validations = HashMap::new();
    for alg in &algorithms {
        let mut v = Validation::new(*alg);
        v.leeway = leeway.as_secs();
        v.validate_exp = true;
        v.validate_nbf = true;
        v.set_issuer(&[b.issuer.as_str()]);
        if audience.is_empty() {
            v.validate_aud = false;
        } else {
            v.set_audience(&audience);
        }
        let spec: Vec<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|c| ["exp", "nbf", "sub", "iss", "aud"].contains(c))
            .chain(["exp"])
            .collect();
        v.set_required_spec_claims(&spec);
        validations.insert(*alg, v);
    }
    Ok(IssuerState {
        name: b.issuer,
        algorithms,
        static_keys,
        jwks,
        validations,
        typ,
        required,
        mapping: match b.roles_claim {
            Some(claim) => ClaimsMapping::new().roles_claim(claim),
            None => ClaimsMapping::new(),
        },
    })
}

struct IssuerState {
    name: String,
    algorithms: Vec<Algorithm>,
    static_keys: KeySet,
    jwks: Option<Arc<JwksCache>>,
    validations: HashMap<Algorithm, Validation>,
    typ: Vec<String>,
    required: Vec<String>,
    /// How its claims become an identity.
    mapping: ClaimsMapping,
}

struct Inner {
    issuers: HashMap<String, IssuerState>,
    cache: Option<VerifiedCache>,
    revocations: Arc<dyn RevocationStore>,
    max_token_len: usize,
    leeway: u64,
    signature_checks: std::sync::atomic::AtomicU64,
}

/// Verifies JWT bearer tokens from trusted issuers. Cheap to clone.
#[derive(Clone)]
pub struct JwtAuthenticator {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("issuers", &self.inner.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn refuse(kind: AuthErrorKind, (reason, detail): validate::Refusal) -> AuthError {
    AuthError::new(kind, Scheme::Bearer)
        .with_reason(reason)
        .with_detail(detail)
}

fn invalid(r: validate::Refusal) -> AuthError {
    refuse(AuthErrorKind::InvalidCredentials, r)
}

fn map_jwt_error(e: &jsonwebtoken::errors::Error) -> AuthError {
    match e.kind() {
        ErrorKind::ExpiredSignature => refuse(
            AuthErrorKind::ExpiredCredentials,
            ("token_expired", "the token has expired"),
        ),
        ErrorKind::ImmatureSignature => {
            invalid(("token_not_yet_valid", "the token is not valid yet"))
        }
        ErrorKind::InvalidSignature => invalid(("bad_signature", "the token signature is invalid")),
        ErrorKind::InvalidAudience => {
            invalid(("wrong_audience", "the token is meant for another audience"))
        }
        ErrorKind::InvalidIssuer => invalid(("wrong_issuer", "the token issuer is not trusted")),
        ErrorKind::InvalidAlgorithm => {
            invalid(("alg_not_allowed", "the token's algorithm is not allowed"))
        }
        ErrorKind::MissingRequiredClaim(_) => {
            invalid(("missing_claim", "the token lacks a required claim"))
        }
        ErrorKind::InvalidClaimFormat(_) => {
            invalid(("bad_claim_type", "a token claim has the wrong type"))
        }
        _ => invalid(("invalid_token", "the token is invalid")),
    }
}

impl JwtAuthenticator {
    /// A builder; add at least one [`Issuer`].
    pub fn builder() -> JwtAuthenticatorBuilder {
        JwtAuthenticatorBuilder {
            issuers: Vec::new(),
            leeway: Duration::from_secs(30),
            max_token_len: 8 * 1024,
            cache_capacity: 10_000,
            cache_max_ttl: Duration::from_secs(300),
            revocations: None,
        }
    }

    /// Waits until every issuer with remote keys has loaded them, up to
    /// `timeout`; `true` if all have.
    pub async fn ready(&self, timeout: Duration) -> bool {
        for issuer in self.inner.issuers.values() {
            if let Some(j) = &issuer.jwks
                && !j.ready(timeout).await
            {
                return false;
            }
        }
        true
    }

    /// How many signature verifications have run (cache hits run none).
    pub fn signature_checks(&self) -> u64 {
        self.inner
            .signature_checks
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The JWKS cache of `issuer`, if its keys are remote.
    pub fn jwks(&self, issuer: &str) -> Option<&JwksCache> {
        self.inner
            .issuers
            .get(issuer)
            .and_then(|i| i.jwks.as_deref())
    }

    /// Revokes the token with this `jti` until `until` (its `exp`): it is
    /// refused from now on, even from the verified-token cache.
    pub async fn revoke(&self, jti: &str, until: SystemTime) -> Result<(), crate::StoreError> {
        self.inner.revocations.revoke(jti, until).await
    }

    /// Verifies a token and returns the caller's identity.
    pub async fn verify(&self, token: &[u8]) -> Result<Identity, AuthError> {
        let inner = &self.inner;
        if token.len() > inner.max_token_len {
            return Err(invalid(("token_too_large", "the token is too large")));
        }
        let key = inner.cache.as_ref().map(|_| VerifiedCache::key(token));
        if let (Some(cache), Some((key, signing_input))) = (&inner.cache, &key)
            && let Some(hit) = cache.get(key, signing_input)
        {
            match self.still_valid(&hit).await {
                Ok(true) => return Ok(hit.identity.clone()),
                Ok(false) => cache.remove(key),
                Err(e) => {
                    cache.remove(key);
                    return Err(e);
                }
            }
        }
        let verified = self.verify_uncached(token).await?;
        let identity = verified.identity.clone();
        if let (Some(cache), Some((key, _))) = (&inner.cache, key) {
            cache.insert(key, verified);
        }
        Ok(identity)
    }

    /// Whether a cached verification still holds: not revoked, its key still
    /// published. (The cache itself never returns an entry past its `exp`;
    /// within the leeway after `exp` a token is verified afresh.)
    async fn still_valid(&self, hit: &Verified) -> Result<bool, AuthError> {
        if let Some(jti) = &hit.jti {
            let store = &self.inner.revocations;
            // Read before the lookup: a revocation landing after it changes
            // the count, and the next hit looks again.
            let count = store.revocations();
            let seen = hit.revocations_seen.load(Ordering::Acquire);
            if count.is_none_or(|c| c != seen) {
                if store.is_revoked(jti).await? {
                    return Err(refuse(
                        AuthErrorKind::RevokedCredentials,
                        ("token_revoked", "the token was revoked"),
                    ));
                }
                if let Some(c) = count {
                    hit.revocations_seen.store(c, Ordering::Release);
                }
            }
        }
        Ok(hit.key.still_published())
    }

    async fn verify_uncached(&self, token: &[u8]) -> Result<Verified, AuthError> {
        let inner = &self.inner;
        let head = validate::inspect(token, inner.max_token_len).map_err(invalid)?;
        let issuer = inner
            .issuers
            .get(&head.iss)
            .ok_or_else(|| invalid(("unknown_issuer", "the token issuer is not trusted")))?;
        match &head.typ {
            Some(t) if issuer.typ.contains(t) => {}
            _ => {
                return Err(invalid((
                    "wrong_typ",
                    "the token type is not accepted here",
                )));
            }
        }
        if !issuer.algorithms.contains(&head.alg) {
            return Err(invalid((
                "alg_not_allowed",
                "the token's algorithm is not allowed",
            )));
        }
        let (candidates, key_source) = self.keys_for(issuer, head.kid.as_deref(), head.alg).await?;
        let validation = issuer
            .validations
            .get(&head.alg)
            .ok_or_else(|| invalid(("alg_not_allowed", "the token's algorithm is not allowed")))?;
        let text = std::str::from_utf8(token)
            .map_err(|_| invalid(("malformed_jwt", "the token is not a well-formed JWT")))?;
        let mut last_err = invalid(("unknown_kid", "no key of the issuer matches the token"));
        let mut claims = None;
        for key in &candidates {
            inner
                .signature_checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match jsonwebtoken::decode::<Claims>(text, key.decoding_key(), validation) {
                Ok(data) => {
                    claims = Some(data.claims);
                    break;
                }
                Err(e) => last_err = map_jwt_error(&e),
            }
        }
        let claims = claims.ok_or(last_err)?;
        let now = unix_now();
        if claims
            .get("iat")
            .and_then(Value::as_u64)
            .is_some_and(|iat| iat > now + inner.leeway)
        {
            return Err(invalid((
                "issued_in_future",
                "the token was issued in the future",
            )));
        }
        if issuer.required.iter().any(|c| !claims.contains_key(c)) {
            return Err(invalid((
                "missing_claim",
                "the token lacks a required claim",
            )));
        }
        let jti = claims.get("jti").and_then(Value::as_str).map(str::to_owned);
        let revocations_seen = inner.revocations.revocations().unwrap_or(NOT_COUNTED);
        if let Some(jti) = &jti
            && inner.revocations.is_revoked(jti).await?
        {
            return Err(refuse(
                AuthErrorKind::RevokedCredentials,
                ("token_revoked", "the token was revoked"),
            ));
        }
        let exp = claims.get("exp").and_then(Value::as_u64).unwrap_or(0);
        // The identity expires with the cache entry: at `exp`, or at 0 when
        // `exp` is no integer (the mapping then sets no expiry).
        let identity = issuer
            .mapping
            .to_identity(&claims, AuthMethod::Jwt)
            .with_expiry(UNIX_EPOCH + Duration::from_secs(exp));
        Ok(Verified {
            signing_input: split_signature(token).0.into(),
            identity: identity.with_claims(Arc::new(claims)),
            exp,
            jti,
            revocations_seen: AtomicU64::new(revocations_seen),
            key: key_source,
        })
    }

    async fn keys_for(
        &self,
        issuer: &IssuerState,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<(Vec<Arc<JwtKey>>, KeySource), AuthError> {
        let unknown = || invalid(("unknown_kid", "no key of the issuer matches the token"));
        let mismatch = || {
            invalid((
                "alg_key_mismatch",
                "the token's algorithm does not match its key",
            ))
        };
        let pick = |set: &KeySet| -> Result<Vec<Arc<JwtKey>>, AuthError> {
            match kid {
                Some(k) => {
                    let key = set.get(k).ok_or_else(unknown)?;
                    if key.algorithms().contains(&alg) {
                        Ok(vec![key.clone()])
                    } else {
                        Err(mismatch())
                    }
                }
                None => {
                    let c = set.candidates(alg);
                    if c.is_empty() { Err(unknown()) } else { Ok(c) }
                }
            }
        };
        if kid.is_some_and(|k| issuer.static_keys.contains_kid(k))
            || (kid.is_none() && !issuer.static_keys.candidates(alg).is_empty())
        {
            return Ok((pick(&issuer.static_keys)?, KeySource::Fixed));
        }
        let Some(jwks) = &issuer.jwks else {
            return Ok((pick(&issuer.static_keys)?, KeySource::Fixed));
        };
        // Read before the keys: a key that leaves the set while this token
        // is verified is then noticed on the first cache hit.
        let removals = jwks.removals();
        match jwks.lookup(kid).await {
            Lookup::Keys(set) => {
                let keys = pick(&set)?;
                let source = match kid {
                    Some(kid) => KeySource::Jwks {
                        jwks: Arc::clone(jwks),
                        kid: kid.to_owned(),
                        removals,
                    },
                    None => KeySource::Fixed,
                };
                Ok((keys, source))
            }
            Lookup::UnknownKid => Err(unknown()),
            Lookup::Unavailable => Err(AuthError::new(AuthErrorKind::Unavailable, Scheme::None)
                .with_reason("jwks_unavailable")
                .with_detail("the keys to verify this token are not available")),
        }
    }
}

impl Authenticator for JwtAuthenticator {
    fn claims(&self, req: &AuthRequest<'_>) -> bool {
        matches!(req.credential(), Credential::Bearer(t) if validate::is_jwt_shaped(t.expose()))
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            match req.credential() {
                Credential::Bearer(token) => self.verify(token.expose()).await,
                _ => Err(AuthError::new(
                    AuthErrorKind::MissingCredentials,
                    Scheme::None,
                )),
            }
        })
    }

    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::Bearer);
    }
}
