//! Verification keys, each bound to the algorithms it may verify.
//!
//! A key is never used with an algorithm it was not bound to: an RSA or EC
//! public key can never act as an HMAC secret (RFC 8725 §3.1), and HMAC
//! secrets shorter than the hash output are refused (RFC 8725 §3.5).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};

use crate::error::ConfigError;
use crate::secret::Secret;

/// The longest `kid` accepted, in bytes.
pub(crate) const MAX_KID_LEN: usize = 256;

/// A verification key and the algorithms it is bound to.
#[derive(Clone)]
pub struct JwtKey {
    kid: Option<String>,
    algorithms: Vec<Algorithm>,
    key: DecodingKey,
    /// What the key is, whatever it is called: a SHA-256 over its RFC 7638
    /// thumbprint (JWKs), its PEM, or its secret (HMAC), so a key replaced
    /// under the same `kid` is told apart. Never shown.
    thumbprint: [u8; 32],
}

/// A domain-separated SHA-256 of `bytes`.
fn fingerprint(kind: &[u8], bytes: &[u8]) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"auth-stack key\0");
    h.update(kind);
    h.update(b"\0");
    h.update(bytes);
    h.finalize().into()
}

impl std::fmt::Debug for JwtKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtKey")
            .field("kid", &self.kid)
            .field("algorithms", &self.algorithms)
            .finish_non_exhaustive()
    }
}

fn is_hmac(alg: Algorithm) -> bool {
    matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512)
}

fn is_rsa(alg: Algorithm) -> bool {
    matches!(
        alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::PS256
            | Algorithm::PS384
            | Algorithm::PS512
    )
}

fn min_hmac_len(alg: Algorithm) -> usize {
    match alg {
        Algorithm::HS384 => 48,
        Algorithm::HS512 => 64,
        _ => 32,
    }
}

impl JwtKey {
    /// An HMAC secret for `alg` (HS256, HS384 or HS512); at least as long as
    /// the hash output (32, 48, 64 bytes).
    pub fn hmac(secret: &Secret, alg: Algorithm) -> Result<Self, ConfigError> {
        if !is_hmac(alg) {
            return Err(ConfigError::invalid(
                "an HMAC secret can only be bound to HS256, HS384 or HS512",
            ));
        }
        if secret.len() < min_hmac_len(alg) {
            return Err(ConfigError::invalid(
                "HMAC secret shorter than the hash output (RFC 8725 §3.5: at least 32 bytes for HS256)",
            ));
        }
        let key = DecodingKey::from_secret(secret.expose())
            .map_err(|e| ConfigError::parse("HMAC secret", e))?;
        Ok(Self {
            kid: None,
            algorithms: vec![alg],
            key,
            thumbprint: fingerprint(b"hmac", secret.expose()),
        })
    }

    /// A public key in PEM (SubjectPublicKeyInfo, or a certificate's key for
    /// RSA) for `alg`, which must be an RSA, EC or EdDSA algorithm.
    pub fn from_pem(pem: &[u8], alg: Algorithm) -> Result<Self, ConfigError> {
        let key = match alg {
            a if is_rsa(a) => DecodingKey::from_rsa_pem(pem),
            Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(pem),
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => {
                return Err(ConfigError::invalid(
                    "a public key can never be an HMAC secret (RFC 8725 §3.1)",
                ));
            }
        }
        .map_err(|e| ConfigError::parse("public key PEM", e))?;
        Ok(Self {
            kid: None,
            algorithms: vec![alg],
            key,
            thumbprint: fingerprint(b"pem", pem),
        })
    }

    /// A key from a JWK. Its `alg` (or, without one, its type and curve)
    /// binds it; `allowed` narrows further. Symmetric (`oct`) keys are
    /// accepted only with an explicit HMAC `alg` and `allow_symmetric`.
    pub fn from_jwk(
        jwk: &Jwk,
        allowed: &[Algorithm],
        allow_symmetric: bool,
    ) -> Result<Self, ConfigError> {
        if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
            return Err(ConfigError::invalid("JWK is for encryption (use: enc)"));
        }
        let stated = match jwk.common.key_algorithm {
            // The signature algorithms' names are their variant names;
            // encryption ones (RSA-OAEP, …) parse as no `Algorithm`.
            Some(ka) => Some(
                Algorithm::from_str(&format!("{ka:?}"))
                    .map_err(|_| ConfigError::invalid("JWK alg is not a signature algorithm"))?,
            ),
            None => None,
        };
        let inferred: Vec<Algorithm> = match &jwk.algorithm {
            AlgorithmParameters::EllipticCurve(p) => match p.curve {
                EllipticCurve::P256 => vec![Algorithm::ES256],
                EllipticCurve::P384 => vec![Algorithm::ES384],
                _ => Vec::new(),
            },
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => {
                vec![Algorithm::EdDSA]
            }
            AlgorithmParameters::RSA(_) => vec![
                Algorithm::RS256,
                Algorithm::RS384,
                Algorithm::RS512,
                Algorithm::PS256,
                Algorithm::PS384,
                Algorithm::PS512,
            ],
            AlgorithmParameters::OctetKey(_) if allow_symmetric => stated.into_iter().collect(),
            _ => Vec::new(),
        };
        let algorithms: Vec<Algorithm> = inferred
            .into_iter()
            .filter(|a| stated.is_none_or(|s| s == *a))
            .filter(|a| allowed.contains(a))
            .collect();
        if algorithms.is_empty() {
            return Err(ConfigError::invalid("JWK fits no allowed algorithm"));
        }
        if let AlgorithmParameters::OctetKey(p) = &jwk.algorithm {
            let len = base64::Engine::decode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                p.value.trim_end_matches('='),
            )
            .map_or(0, |b| b.len());
            if algorithms.iter().any(|a| len < min_hmac_len(*a)) {
                return Err(ConfigError::invalid(
                    "HMAC secret shorter than the hash output",
                ));
            }
        }
        let key = DecodingKey::from_jwk(jwk).map_err(|e| ConfigError::parse("JWK", e))?;
        let kid = jwk.common.key_id.clone();
        if kid.as_deref().is_some_and(|k| !valid_kid(k)) {
            return Err(ConfigError::invalid(
                "JWK kid (too long or not printable ASCII)",
            ));
        }
        // RFC 7638 over the key's required members; a key type it does not
        // cover falls back to the whole JWK.
        let thumbprint = match jwk.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256) {
            Ok(t) => fingerprint(b"jwk", t.as_bytes()),
            Err(_) => fingerprint(b"json", &serde_json::to_vec(jwk).unwrap_or_default()),
        };
        Ok(Self {
            kid,
            algorithms,
            key,
            thumbprint,
        })
    }

    /// Names the key (`kid`).
    pub fn with_kid(mut self, kid: impl Into<String>) -> Self {
        self.kid = Some(kid.into());
        self
    }

    /// The key id, if any.
    pub fn kid(&self) -> Option<&str> {
        self.kid.as_deref()
    }

    /// The algorithms the key may verify.
    pub fn algorithms(&self) -> &[Algorithm] {
        &self.algorithms
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.key
    }

    pub(crate) fn thumbprint(&self) -> [u8; 32] {
        self.thumbprint
    }
}

/// A `kid` is only a lookup key: bounded length, printable ASCII.
pub(crate) fn valid_kid(kid: &str) -> bool {
    !kid.is_empty() && kid.len() <= MAX_KID_LEN && kid.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// The keys of one issuer, by `kid`.
#[derive(Clone, Debug, Default)]
pub(crate) struct KeySet {
    by_kid: HashMap<String, Arc<JwtKey>>,
    unnamed: Vec<Arc<JwtKey>>,
}

impl KeySet {
    pub(crate) fn from_keys(keys: impl IntoIterator<Item = JwtKey>) -> Self {
        let mut set = Self::default();
        for k in keys {
            set.insert(k);
        }
        set
    }

    fn insert(&mut self, key: JwtKey) {
        match key.kid.clone() {
            Some(kid) => {
                self.by_kid.insert(kid, Arc::new(key));
            }
            None => self.unnamed.push(Arc::new(key)),
        }
    }

    /// Parses a JWKS document, keeping the keys that can verify one of
    /// `allowed` and skipping the rest (`use: enc`, unknown types, symmetric
    /// keys, unsupported curves) without failing the whole set. Returns the
    /// set and how many keys were skipped.
    pub(crate) fn from_jwks(bytes: &[u8], allowed: &[Algorithm]) -> Result<(Self, usize), String> {
        let doc: serde_json::Value =
            serde_json::from_slice(bytes).map_err(|e| format!("JWKS is not JSON: {e}"))?;
        let keys = doc
            .get("keys")
            .and_then(|k| k.as_array())
            .ok_or_else(|| "JWKS has no \"keys\" array".to_owned())?;
        let mut set = Self::default();
        let mut skipped = 0;
        for raw in keys {
            let parsed = serde_json::from_value::<Jwk>(raw.clone())
                .ok()
                .and_then(|jwk| JwtKey::from_jwk(&jwk, allowed, false).ok());
            match parsed {
                Some(k) => set.insert(k),
                None => skipped += 1,
            }
        }
        Ok((set, skipped))
    }

    pub(crate) fn merge(&mut self, other: &KeySet) {
        for (kid, k) in &other.by_kid {
            self.by_kid.entry(kid.clone()).or_insert_with(|| k.clone());
        }
        self.unnamed.extend(other.unnamed.iter().cloned());
    }

    pub(crate) fn get(&self, kid: &str) -> Option<&Arc<JwtKey>> {
        self.by_kid.get(kid)
    }

    pub(crate) fn contains_kid(&self, kid: &str) -> bool {
        self.by_kid.contains_key(kid)
    }

    /// Whether some key of `before` is missing here: a `kid` gone, a `kid`
    /// now naming another key, or a key without `kid` gone.
    pub(crate) fn lost_key_of(&self, before: &KeySet) -> bool {
        let named_lost = before.by_kid.iter().any(|(kid, k)| {
            self.by_kid
                .get(kid)
                .is_none_or(|now| now.thumbprint != k.thumbprint)
        });
        let unnamed_lost = before.unnamed.iter().any(|k| {
            !self
                .unnamed
                .iter()
                .any(|now| now.thumbprint == k.thumbprint)
        });
        named_lost || unnamed_lost
    }

    /// Whether the key with `thumbprint` is here: under `kid`, or, for a
    /// token without one, anywhere.
    pub(crate) fn still_has(&self, kid: Option<&str>, thumbprint: &[u8; 32]) -> bool {
        match kid {
            Some(kid) => self
                .by_kid
                .get(kid)
                .is_some_and(|k| k.thumbprint == *thumbprint),
            None => self
                .by_kid
                .values()
                .chain(self.unnamed.iter())
                .any(|k| k.thumbprint == *thumbprint),
        }
    }

    /// Keys without a `kid` that may verify `alg`, then named ones if there
    /// is no unnamed candidate (a token without `kid` against an issuer with
    /// a single key).
    pub(crate) fn candidates(&self, alg: Algorithm) -> Vec<Arc<JwtKey>> {
        let fits = |k: &&Arc<JwtKey>| k.algorithms.contains(&alg);
        let unnamed: Vec<_> = self.unnamed.iter().filter(fits).cloned().collect();
        if !unnamed.is_empty() {
            return unnamed;
        }
        self.by_kid.values().filter(fits).cloned().collect()
    }

    /// Every algorithm some key is bound to.
    pub(crate) fn algorithms(&self) -> Vec<Algorithm> {
        let mut out: Vec<Algorithm> = Vec::new();
        for k in self.by_kid.values().chain(self.unnamed.iter()) {
            for a in &k.algorithms {
                if !out.contains(a) {
                    out.push(*a);
                }
            }
        }
        out
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.by_kid.is_empty() && self.unnamed.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.by_kid.len() + self.unnamed.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_rules() {
        assert!(JwtKey::hmac(&Secret::new(vec![1; 31]), Algorithm::HS256).is_err());
        assert!(JwtKey::hmac(&Secret::new(vec![]), Algorithm::HS256).is_err());
        assert!(JwtKey::hmac(&Secret::new(vec![1; 32]), Algorithm::HS256).is_ok());
        assert!(JwtKey::hmac(&Secret::new(vec![1; 32]), Algorithm::HS512).is_err());
        assert!(JwtKey::hmac(&Secret::new(vec![1; 64]), Algorithm::RS256).is_err());
    }

    #[test]
    fn public_key_is_never_hmac() {
        assert!(JwtKey::from_pem(b"-----BEGIN PUBLIC KEY-----", Algorithm::HS256).is_err());
    }

    #[test]
    fn jwks_skips_what_cannot_verify() {
        let doc = br#"{"keys":[
            {"kty":"EC","crv":"P-256","kid":"ok","alg":"ES256",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"EC","crv":"P-256","kid":"enc","use":"enc",
             "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty":"oct","kid":"sym","alg":"HS256","k":"AyM1SysPpbyDfgZld3umj1qzKObwVMkoqQ-EstJQLr_T-1qS0gZH75aKtMN3Yj0iPS4hcgUuTwjAzZr1Z9CAow"},
            {"kty":"RSA","kid":"rsa-enc","alg":"RSA-OAEP","n":"AQAB","e":"AQAB"},
            {"kty":"weird","kid":"w"},
            {"kty":"EC","crv":"P-521","kid":"p521","x":"AA","y":"AA"}
        ]}"#;
        let (set, skipped) =
            KeySet::from_jwks(doc, &[Algorithm::ES256, Algorithm::RS256, Algorithm::HS256])
                .unwrap();
        assert_eq!(set.len(), 1);
        assert!(set.contains_kid("ok"));
        assert_eq!(skipped, 5);
        assert!(KeySet::from_jwks(b"[]", &[Algorithm::ES256]).is_err());
        assert!(KeySet::from_jwks(b"{\"keys\":1}", &[Algorithm::ES256]).is_err());
    }

    fn ec_jwk(kid: Option<&str>, x: &str) -> serde_json::Value {
        let mut v = serde_json::json!({"kty":"EC","crv":"P-256","alg":"ES256",
            "x": x, "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
        if let Some(k) = kid {
            v["kid"] = k.into();
        }
        v
    }

    fn set(keys: &[serde_json::Value]) -> KeySet {
        let doc = serde_json::json!({ "keys": keys });
        KeySet::from_jwks(doc.to_string().as_bytes(), &[Algorithm::ES256])
            .unwrap()
            .0
    }

    #[test]
    fn a_key_replaced_under_its_kid_or_a_kidless_key_removed_is_a_loss() {
        // Two valid P-256 points would be needed to verify with them; for
        // telling keys apart any x that parses will do.
        let (x1, x2) = (
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEA",
        );
        let before = set(&[ec_jwk(Some("a"), x1), ec_jwk(None, x2)]);
        let same = set(&[ec_jwk(None, x2), ec_jwk(Some("a"), x1)]);
        assert!(!same.lost_key_of(&before));
        let replaced = set(&[ec_jwk(Some("a"), x2), ec_jwk(None, x2)]);
        assert!(replaced.lost_key_of(&before), "kid a now names another key");
        let unnamed_gone = set(&[ec_jwk(Some("a"), x1)]);
        assert!(unnamed_gone.lost_key_of(&before));
        let kid_gone = set(&[ec_jwk(None, x2)]);
        assert!(kid_gone.lost_key_of(&before));
        // A key added is no loss.
        let more = set(&[
            ec_jwk(Some("a"), x1),
            ec_jwk(None, x2),
            ec_jwk(Some("b"), x2),
        ]);
        assert!(!more.lost_key_of(&before));

        let a1 = before.get("a").unwrap().thumbprint();
        assert!(before.still_has(Some("a"), &a1));
        assert!(!replaced.still_has(Some("a"), &a1));
        assert!(!before.still_has(Some("b"), &a1));
        let unnamed = before.unnamed[0].thumbprint();
        assert!(before.still_has(None, &unnamed));
        assert!(!unnamed_gone.still_has(None, &unnamed));
        assert!(before.still_has(None, &a1), "a kid-less token, a named key");
    }

    #[test]
    fn thumbprints_follow_the_key_not_its_name() {
        let x = "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU";
        let a = set(&[ec_jwk(Some("a"), x)]).get("a").unwrap().thumbprint();
        let b = set(&[ec_jwk(Some("b"), x)]).get("b").unwrap().thumbprint();
        assert_eq!(a, b);
        let s1 = JwtKey::hmac(&Secret::new(vec![1; 32]), Algorithm::HS256).unwrap();
        let s2 = JwtKey::hmac(&Secret::new(vec![2; 32]), Algorithm::HS256).unwrap();
        assert_ne!(s1.thumbprint(), s2.thumbprint());
        assert!(!format!("{s1:?}").contains("thumbprint"));
    }

    #[test]
    fn kid_bounds() {
        assert!(valid_kid("abc-123_x"));
        assert!(!valid_kid(""));
        assert!(!valid_kid(&"a".repeat(257)));
        assert!(!valid_kid("a\nb"));
        assert!(!valid_kid("é"));
    }
}
