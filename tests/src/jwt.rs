//! Minting tokens with the demo's keys, honest ones and hostile ones.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sha2::Sha256;

use auth_demo::Credentials;

/// Unpadded base64url.
pub fn b64(bytes: impl AsRef<[u8]>) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The demo's signing keys, loaded from its state directory.
pub struct Minter {
    /// The issuer of the run.
    pub issuer: String,
    /// The ES256 key id.
    pub es_kid: String,
    /// The RS256 key id.
    pub rs_kid: String,
    es: EncodingKey,
    rs: EncodingKey,
    /// The RS256 public key, PEM (SubjectPublicKeyInfo), with its trailing newline.
    pub rs_public_pem: String,
    /// The RS256 public key, DER.
    pub rs_public_der: Vec<u8>,
    hs_secret: Vec<u8>,
}

impl Minter {
    /// Loads the keys named in `credentials`.
    pub fn load(state_dir: &Path, c: &Credentials) -> Self {
        let read = |f: &str| std::fs::read_to_string(state_dir.join(f)).unwrap_or_default();
        let es_pem = read(&c.jwt.es256.private_key);
        let rs_pem = read(&c.jwt.rs256.private_key);
        let rs_pair =
            rcgen::KeyPair::from_pem(&rs_pem).unwrap_or_else(|e| panic!("RS256 key: {e}"));
        Self {
            issuer: c.issuer.clone(),
            es_kid: c.jwt.es256.kid.clone(),
            rs_kid: c.jwt.rs256.kid.clone(),
            es: EncodingKey::from_ec_pem(es_pem.as_bytes())
                .unwrap_or_else(|e| panic!("ES256 key: {e}")),
            rs: EncodingKey::from_rsa_pem(rs_pem.as_bytes())
                .unwrap_or_else(|e| panic!("RS256 key: {e}")),
            rs_public_pem: rs_pair.public_key_pem(),
            rs_public_der: rcgen::PublicKeyData::subject_public_key_info(&rs_pair),
            hs_secret: base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(&c.jwt.internal_hs256.secret_b64url)
                .unwrap_or_default(),
        }
    }

    /// RFC 9068 access-token claims from the demo issuer.
    pub fn claims(&self, scope: &str) -> Value {
        json!({
            "iss": self.issuer, "aud": "demo-api", "sub": "user-42", "client_id": "client-7",
            "iat": now(), "exp": now() + 600, "jti": format!("jti-{}", rand::random::<u64>()),
            "scope": scope,
        })
    }

    /// Claims of the internal HS256 issuer.
    pub fn internal_claims(&self, scope: &str) -> Value {
        json!({"iss": "urn:demo:internal", "aud": "demo-api", "sub": "batch-job",
               "exp": now() + 600, "scope": scope})
    }

    fn header(alg: Algorithm, kid: Option<&str>, typ: &str) -> Header {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_owned);
        h.typ = Some(typ.to_owned());
        h
    }

    /// Signed with the ES256 key, `typ: at+jwt`.
    pub fn es256(&self, claims: &Value) -> String {
        self.es256_typ(claims, "at+jwt")
    }

    /// Signed with the ES256 key and the given `typ`.
    pub fn es256_typ(&self, claims: &Value, typ: &str) -> String {
        jsonwebtoken::encode(
            &Self::header(Algorithm::ES256, Some(&self.es_kid), typ),
            claims,
            &self.es,
        )
        .unwrap_or_default()
    }

    /// Signed with the RS256 key.
    pub fn rs256(&self, claims: &Value) -> String {
        jsonwebtoken::encode(
            &Self::header(Algorithm::RS256, Some(&self.rs_kid), "at+jwt"),
            claims,
            &self.rs,
        )
        .unwrap_or_default()
    }

    /// Signed with the internal HS256 secret.
    pub fn internal(&self, claims: &Value, typ: &str) -> String {
        hs256_with_key(
            &json!({"alg": "HS256", "typ": typ}),
            claims,
            &self.hs_secret,
        )
    }

    /// Any header, signed with the ES256 key (for headers jsonwebtoken
    /// would not write, such as `crit`).
    pub fn es256_raw_header(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &self.es, Algorithm::ES256)
            .unwrap_or_default();
        format!("{message}.{sig}")
    }
}

/// `header.claims.signature` from JSON values and raw signature bytes.
pub fn raw(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        b64(header.to_string()),
        b64(claims.to_string()),
        b64(signature)
    )
}

/// HS256 over `header.claims` with any key at all (the confusion attacks).
pub fn hs256_with_key(header: &Value, claims: &Value, key: &[u8]) -> String {
    let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
    let mut mac =
        <Hmac<Sha256> as hmac::KeyInit>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    mac.update(message.as_bytes());
    format!("{message}.{}", b64(mac.finalize().into_bytes()))
}

/// An attacker's own EC key, with its public JWK.
pub struct Attacker {
    key: EncodingKey,
    /// The public key as a JWK.
    pub jwk: Value,
}

impl Attacker {
    /// A fresh P-256 key.
    pub fn new() -> Self {
        let kp = rcgen::KeyPair::generate().unwrap_or_else(|e| panic!("{e}"));
        let key = EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes())
            .unwrap_or_else(|e| panic!("{e}"));
        let jwk = jsonwebtoken::jwk::Jwk::from_encoding_key(&key, Algorithm::ES256)
            .ok()
            .and_then(|j| serde_json::to_value(j).ok())
            .unwrap_or(Value::Null);
        Self { key, jwk }
    }

    /// Any header, signed with the attacker's key.
    pub fn sign(&self, header: &Value, claims: &Value) -> String {
        let message = format!("{}.{}", b64(header.to_string()), b64(claims.to_string()));
        let sig = jsonwebtoken::crypto::sign(message.as_bytes(), &self.key, Algorithm::ES256)
            .unwrap_or_default();
        format!("{message}.{sig}")
    }
}

impl Default for Attacker {
    fn default() -> Self {
        Self::new()
    }
}
