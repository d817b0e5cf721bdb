//! Configuration: trusted issuers ([`Issuer`], [`IssuerBuilder`]) and the
//! [`JwtAuthenticatorBuilder`], checked and turned into the per-issuer state
//! verification reads.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{Algorithm, Validation};

use super::cache::VerifiedCache;
use super::jwks::{JwksCache, JwksConfig, Source};
use super::keys::{JwtKey, KeySet};
use super::validate;
use super::verify::{Inner, JwtAuthenticator};
use crate::claims::ClaimsMapping;
use crate::error::ConfigError;
use crate::store::{MemoryRevocations, RevocationStore};

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
    plain_loopback: bool,
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
            plain_loopback: false,
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

    /// Fetches keys from a JWKS URL, cached ([`JwksCache`]). It must be
    /// `https` (see [`allow_plain_http_loopback`](Self::allow_plain_http_loopback));
    /// redirects are followed only within its origin.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.source = Some(Source::Url(url.into()));
        self
    }

    /// Finds the JWKS URL in the issuer's metadata (OIDC discovery, then
    /// RFC 8414), which must name this issuer. The issuer and the
    /// `jwks_uri` it names must be `https`, as for
    /// [`jwks_url`](Self::jwks_url).
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

    /// Accepts `http://` JWKS and metadata URLs whose host is a loopback
    /// address (`127.0.0.0/8`, `::1`, as IP literals): for tests and a
    /// service fetching its own keys on one machine. Any other plain-http
    /// URL is still refused, at build time (or, for a discovered
    /// `jwks_uri`, when it is found): whoever is on the path could hand
    /// out the keys.
    pub fn allow_plain_http_loopback(mut self) -> Self {
        self.plain_loopback = true;
        self
    }

    /// The HTTP client for JWKS and metadata (e.g. with a private CA).
    /// Whatever its redirect policy, a response that came from another
    /// origin than the URL asked for is refused; the default client does not
    /// follow such redirects at all.
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
    if let Some(Source::Url(url) | Source::Discovery(url)) = &b.source {
        super::jwks::fetchable(url, b.plain_loopback).map_err(ConfigError::invalid)?;
    }
    let jwks = match b.source {
        Some(source) => Some(Arc::new(
            JwksCache::start(
                source,
                algorithms.clone(),
                b.jwks_config,
                b.client,
                b.plain_loopback,
            )
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
        // `exp` always, and `aud` whenever an audience is set: no
        // `required_claims` list can make them optional (without `aud` in
        // this list jsonwebtoken accepts a token that has none).
        let audience_required = (!audience.is_empty()).then_some("aud");
        let spec: Vec<&str> = required
            .iter()
            .map(String::as_str)
            .filter(|c| ["exp", "nbf", "sub", "iss", "aud"].contains(c))
            .chain(["exp"])
            .chain(audience_required)
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

/// One issuer, as built: what verification of its tokens reads.
pub(crate) struct IssuerState {
    name: String,
    pub(crate) algorithms: Vec<Algorithm>,
    pub(crate) static_keys: KeySet,
    pub(crate) jwks: Option<Arc<JwksCache>>,
    pub(crate) validations: HashMap<Algorithm, Validation>,
    pub(crate) typ: Vec<String>,
    pub(crate) required: Vec<String>,
    /// How its claims become an identity.
    pub(crate) mapping: ClaimsMapping,
}
