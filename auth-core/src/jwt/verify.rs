//! Verification: a token checked against its issuer's keys and rules, then
//! remembered in the verified-token cache until its `exp`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::Algorithm;
use jsonwebtoken::errors::ErrorKind;
use serde_json::Value;

use super::cache::{KeySource, NOT_COUNTED, Verified, VerifiedCache, split_signature, unix_now};
use super::config::IssuerState;
use super::jwks::{JwksCache, Lookup};
use super::keys::{JwtKey, KeySet};
use super::validate;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Claims, Identity};
use crate::rejection::Challenge;
use crate::store::RevocationStore;

/// What a [`JwtAuthenticator`] shares between its clones; built by
/// [`JwtAuthenticatorBuilder::build`](super::JwtAuthenticatorBuilder::build).
pub(crate) struct Inner {
    pub(crate) issuers: HashMap<String, IssuerState>,
    pub(crate) cache: Option<VerifiedCache>,
    pub(crate) revocations: Arc<dyn RevocationStore>,
    pub(crate) max_token_len: usize,
    pub(crate) leeway: u64,
    pub(crate) signature_checks: std::sync::atomic::AtomicU64,
}

/// Verifies JWT bearer tokens from trusted issuers. Cheap to clone.
#[derive(Clone)]
pub struct JwtAuthenticator {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for JwtAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtAuthenticator")
            .field("issuers", &self.inner.issuers.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

fn refuse(kind: AuthErrorKind, (reason, detail): validate::Refusal) -> AuthError {
    AuthError::new(kind)
        .with_challenge(Challenge::bearer_error("invalid_token"))
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

    /// Revokes the token `jti` of `issuer`, which expires at `exp`: it is
    /// refused from now on, even from the verified-token cache, and the
    /// revocation is kept until `exp` plus the clock leeway, as long as the
    /// token could be accepted. Fails with
    /// [`StoreErrorKind::Full`](crate::StoreErrorKind::Full) when the store
    /// has no room (it never drops another revocation to make some).
    pub async fn revoke(
        &self,
        issuer: &str,
        jti: &str,
        exp: SystemTime,
    ) -> Result<(), crate::StoreError> {
        let until = exp
            .checked_add(Duration::from_secs(self.inner.leeway))
            .unwrap_or(exp);
        self.inner.revocations.revoke(issuer, jti, until).await
    }

    /// Verifies a token and returns the caller's identity.
    ///
    /// It has no request, so it cannot check a certificate binding
    /// (`cnf.x5t#S256`): the [`Authenticator`](crate::Authenticator)
    /// implementation does, or call
    /// [`check_certificate_binding`](crate::claims::check_certificate_binding)
    /// after this.
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
        if let Some((iss, jti)) = &hit.jti {
            let store = &self.inner.revocations;
            // Read before the lookup: a revocation landing after it changes
            // the count, and the next hit looks again.
            let count = store.revocations();
            let seen = hit.revocations_seen.load(Ordering::Acquire);
            if count.is_none_or(|c| c != seen) {
                if store.is_revoked(iss, jti).await? {
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
        let (candidates, from_jwks) = self.keys_for(issuer, head.kid.as_deref(), head.alg).await?;
        let validation = issuer
            .validations
            .get(&head.alg)
            .ok_or_else(|| invalid(("alg_not_allowed", "the token's algorithm is not allowed")))?;
        let text = std::str::from_utf8(token)
            .map_err(|_| invalid(("malformed_jwt", "the token is not a well-formed JWT")))?;
        let mut last_err = invalid(("unknown_kid", "no key of the issuer matches the token"));
        let mut verified = None;
        for key in &candidates {
            inner
                .signature_checks
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            match jsonwebtoken::decode::<Claims>(text, key.decoding_key(), validation) {
                Ok(data) => {
                    verified = Some((data.claims, key));
                    break;
                }
                Err(e) => last_err = map_jwt_error(&e),
            }
        }
        let (claims, key) = verified.ok_or(last_err)?;
        // A cache hit re-checks that this very key (by thumbprint) is still
        // published under the token's `kid`.
        let key_source = match from_jwks {
            Some((jwks, removals)) => KeySource::Jwks {
                jwks,
                kid: head.kid.clone(),
                thumbprint: key.thumbprint(),
                removals,
            },
            None => KeySource::Fixed,
        };
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
        let jti = claims
            .get("jti")
            .and_then(Value::as_str)
            .map(|jti| (head.iss.clone(), jti.to_owned()));
        let revocations_seen = inner.revocations.revocations().unwrap_or(NOT_COUNTED);
        if let Some((iss, jti)) = &jti
            && inner.revocations.is_revoked(iss, jti).await?
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
            .with_expiry(
                UNIX_EPOCH
                    .checked_add(Duration::from_secs(exp))
                    .unwrap_or(UNIX_EPOCH),
            );
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
    ) -> Result<(Vec<Arc<JwtKey>>, Option<(Arc<JwksCache>, u64)>), AuthError> {
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
            return Ok((pick(&issuer.static_keys)?, None));
        }
        let Some(jwks) = &issuer.jwks else {
            return Ok((pick(&issuer.static_keys)?, None));
        };
        // Read before the keys: a key that leaves the set while this token
        // is verified is then noticed on the first cache hit.
        let removals = jwks.removals();
        match jwks.lookup(kid).await {
            Lookup::Keys(set) => {
                let keys = pick(&set)?;
                Ok((keys, Some((Arc::clone(jwks), removals))))
            }
            Lookup::UnknownKid => Err(unknown()),
            Lookup::Unavailable => Err(AuthError::new(AuthErrorKind::Unavailable)
                .with_reason("jwks_unavailable")
                .with_detail("the keys to verify this token are not available")),
        }
    }
}
