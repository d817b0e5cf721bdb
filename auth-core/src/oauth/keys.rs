//! The authorization server's signing keys, rotated without a restart.
//!
//! A rotation has two steps, so that resource servers never meet a token
//! signed with a key they have not been able to fetch:
//! 1. [`publish_next_key`](super::server::AuthorizationServer::publish_next_key)
//!    puts the next key in the JWKS; tokens are still signed with the
//!    current one.
//! 2. [`activate_next_key`](super::server::AuthorizationServer::activate_next_key),
//!    once resource servers have had time to refetch (their JWKS cache
//!    lifetime), signs with it. The old key stays in the JWKS, and keeps
//!    verifying, until every token it signed has expired.

use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Validation};

use crate::error::ConfigError;

/// One signing key: the private half and what verifies it.
pub(crate) struct Signer {
    pub(crate) key: EncodingKey,
    pub(crate) alg: Algorithm,
    pub(crate) kid: String,
    jwk: Jwk,
    pub(crate) decoding: DecodingKey,
    /// The checks of a token it signed (the server's issuer and audiences,
    /// this key's algorithm): built once, when the key joins the ring.
    pub(crate) validation: Validation,
}

impl Signer {
    /// Refuses HMAC keys: their "public" JWK is the secret itself.
    pub(crate) fn new(key: EncodingKey, alg: Algorithm, kid: String) -> Result<Self, ConfigError> {
        let refuse = || {
            ConfigError::invalid(
                "the signing key must be asymmetric (ES256, RS256, EdDSA…): resource servers verify with its public half",
            )
        };
        if matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return Err(refuse());
        }
        if kid.is_empty() {
            return Err(ConfigError::invalid("a signing key needs a kid"));
        }
        let mut jwk = Jwk::from_encoding_key(&key, alg).map_err(|_| refuse())?;
        jwk.common.key_id = Some(kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        let decoding = DecodingKey::from_jwk(&jwk)
            .map_err(|e| ConfigError::invalid(format!("signing key: {e}")))?;
        Ok(Self {
            key,
            alg,
            kid,
            jwk,
            decoding,
            validation: Validation::new(alg),
        })
    }
}

struct State {
    current: Option<Arc<Signer>>,
    next: Option<Arc<Signer>>,
    /// Keys no longer signing, published until the instant given.
    retired: Vec<(Arc<Signer>, SystemTime)>,
    /// Other public keys the JWKS carries (keys the server does not sign
    /// with, e.g. the application's own).
    extra: Vec<Jwk>,
}

/// The current, next and retired keys.
pub(crate) struct KeyRing {
    state: RwLock<State>,
    /// How long a retired key keeps verifying: the access-token lifetime
    /// plus resource servers' leeway.
    keep: Duration,
    /// The checks every key's tokens get; each key adds its algorithm.
    template: Validation,
}

impl KeyRing {
    pub(crate) fn new(
        current: Option<Signer>,
        extra: Vec<Jwk>,
        keep: Duration,
        template: Validation,
    ) -> Self {
        let current = current.map(|s| Arc::new(Self::adopt(&template, s)));
        Self {
            state: RwLock::new(State {
                current,
                next: None,
                retired: Vec::new(),
                extra,
            }),
            keep,
            template,
        }
    }

    /// `signer` with the checks of its tokens.
    fn adopt(template: &Validation, mut signer: Signer) -> Signer {
        let mut v = template.clone();
        v.algorithms = vec![signer.alg];
        signer.validation = v;
        signer
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        // Changes are single assignments: a poisoned lock leaves it whole.
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The key tokens are signed with now.
    pub(crate) fn current(&self) -> Option<Arc<Signer>> {
        self.read().current.clone()
    }

    /// The key with `kid` that may verify a token now: current, next, or
    /// retired and still within its tokens' lifetime.
    pub(crate) fn verifier(&self, kid: &str) -> Option<Arc<Signer>> {
        let now = SystemTime::now();
        let s = self.read();
        s.current
            .iter()
            .chain(s.next.iter())
            .chain(s.retired.iter().filter(|(_, t)| *t > now).map(|(k, _)| k))
            .find(|k| k.kid == kid)
            .cloned()
    }

    fn kid_taken(s: &State, kid: &str) -> bool {
        s.current
            .iter()
            .chain(s.next.iter())
            .chain(s.retired.iter().map(|(k, _)| k))
            .any(|k| k.kid == kid)
            || s.extra
                .iter()
                .any(|j| j.common.key_id.as_deref() == Some(kid))
    }

    pub(crate) fn publish_next(&self, signer: Signer) -> Result<(), ConfigError> {
        let mut s = self.write();
        if Self::kid_taken(&s, &signer.kid) {
            return Err(ConfigError::invalid(
                "the kid is in use: each key needs a kid of its own",
            ));
        }
        s.next = Some(Arc::new(Self::adopt(&self.template, signer)));
        Ok(())
    }

    pub(crate) fn activate_next(&self) -> Result<(), ConfigError> {
        let now = SystemTime::now();
        let mut s = self.write();
        let next = s
            .next
            .take()
            .ok_or_else(|| ConfigError::invalid("no next key is published"))?;
        if let Some(old) = s.current.replace(next) {
            s.retired.push((old, now + self.keep));
        }
        s.retired.retain(|(_, t)| *t > now);
        Ok(())
    }

    /// The published public keys: current, next, retired but live, extra.
    pub(crate) fn jwks(&self) -> JwkSet {
        let now = SystemTime::now();
        let s = self.read();
        let keys = s
            .current
            .iter()
            .chain(s.next.iter())
            .chain(s.retired.iter().filter(|(_, t)| *t > now).map(|(k, _)| k))
            .map(|k| k.jwk.clone())
            .chain(s.extra.iter().cloned())
            .collect();
        JwkSet { keys }
    }
}
