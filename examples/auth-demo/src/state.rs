//! The state directory: written on first start, read back on later starts.
//!
//! ```text
//! credentials.json        what a client needs (plaintext keys and passwords): the demo user's file
//! ca.pem                  the demo CA, to trust the TLS listener
//! server.pem server.key   the TLS listener's certificate and key
//! server/pepper           the API key pepper (server secret)
//! server/api-keys.json    API key hashes and metadata (no plaintext)
//! server/basic-users.json argon2id hashes of the Basic users (no plaintext)
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use auth_core::api_key::{ApiKeys, Environment, KeyTier, NewKey, Pepper};
use auth_core::basic::{BasicUser, hash_password};
use auth_core::store::FileKeyStore;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey};
use serde::{Deserialize, Serialize};

use crate::DemoError;

/// The scopes of the `main` key: everything.
pub const MAIN_SCOPES: &[&str] = &["reports:read", "reports:write", "admin"];
/// The scopes of the `standard` key.
pub const STANDARD_SCOPES: &[&str] = &["reports:read", "reports:write"];
/// How long `rotated_old` keeps working after the rotation.
pub const ROTATION_GRACE: Duration = Duration::from_secs(7 * 24 * 3600);

/// `credentials.json`, as DEMO.md describes it. Its `Debug` names the
/// credentials but never shows them.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    /// The issuer of the current run.
    pub issuer: String,
    /// API keys by name: main, standard, expired, revoked, rotated_old, rotated_new.
    pub api_keys: BTreeMap<String, String>,
    /// Basic users by name.
    pub basic_users: BTreeMap<String, BasicUserCredentials>,
    /// JWT issuers and their keys.
    pub jwt: JwtFiles,
    /// Certificates, with paths relative to the state directory.
    pub tls: TlsFiles,
    /// OAuth clients of the built-in authorization server, by name
    /// (`service`: JWT access tokens; `opaque`: opaque ones).
    #[serde(default)]
    pub oauth_clients: BTreeMap<String, OAuthClientCredentials>,
}

/// The redirect URI of the demo's authorization-code clients (DEMO.md); on
/// this loopback address any port is accepted (RFC 8252).
pub(crate) const DEMO_REDIRECT_URI: &str = "http://127.0.0.1:9999/cb";

/// One OAuth client's credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct OAuthClientCredentials {
    /// The client id.
    pub client_id: String,
    /// The secret of a confidential client.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The redirect URI of a client of the authorization-code grant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
}

/// The JWT part of `credentials.json` (no `Debug`: it holds a secret).
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct JwtFiles {
    /// The audience every token must name.
    pub audience: String,
    /// Where the public keys are served (relative to the issuer's HTTP address).
    pub jwks_uri: String,
    /// The ES256 signing key.
    pub es256: SigningKeyFile,
    /// The RS256 signing key.
    pub rs256: SigningKeyFile,
    /// The symmetric internal issuer.
    pub internal_hs256: InternalIssuer,
}

/// A signing key: its `kid` (RFC 7638 thumbprint) and its private key file.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SigningKeyFile {
    /// The key id.
    pub kid: String,
    /// The PKCS#8 PEM file, relative to the state directory.
    pub private_key: String,
}

/// The HS256 issuer `urn:demo:internal`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct InternalIssuer {
    /// Its `iss`.
    pub issuer: String,
    /// The shared secret, unpadded base64url.
    pub secret_b64url: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("issuer", &self.issuer)
            .field("api_keys", &self.api_keys.keys().collect::<Vec<_>>())
            .field("basic_users", &self.basic_users.keys().collect::<Vec<_>>())
            .field("jwt_audience", &self.jwt.audience)
            .field(
                "oauth_clients",
                &self.oauth_clients.keys().collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// One Basic user's credentials.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct BasicUserCredentials {
    /// The password.
    pub password: String,
    /// The scopes the user has.
    pub scopes: Vec<String>,
}

/// Certificate files.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TlsFiles {
    /// The demo CA certificate (PEM): trust it to reach the TLS listener.
    pub ca: String,
    /// `spiffe://demo.local/billing`: the client `/v1/service` admits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_billing: Option<CertFiles>,
    /// `spiffe://demo.local/reporting`: trusted, but not admitted to
    /// `/v1/service`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_reporting: Option<CertFiles>,
    /// Issued by a CA the server does not trust.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_untrusted: Option<CertFiles>,
    /// Past its validity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_expired: Option<CertFiles>,
    /// Listed in the CRL the server loads (`crl.pem`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_revoked: Option<CertFiles>,
}

/// A client certificate and its private key (PEM files in the state
/// directory).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct CertFiles {
    /// The certificate.
    pub cert: String,
    /// The private key.
    pub key: String,
}

impl Credentials {
    /// Reads `credentials.json` from `state_dir`.
    pub fn load(state_dir: &Path) -> Result<Self, DemoError> {
        let path = state_dir.join("credentials.json");
        let bytes = std::fs::read(&path).map_err(|e| DemoError::io(&path, e))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| DemoError::msg(format!("{}: {e}", path.display())))
    }

    /// An OAuth client's id and secret, by name (`service`, `opaque`).
    pub fn oauth_client(&self, name: &str) -> (&str, &str) {
        self.oauth_clients.get(name).map_or(("", ""), |c| {
            (
                c.client_id.as_str(),
                c.client_secret.as_deref().unwrap_or_default(),
            )
        })
    }

    /// An API key by name.
    pub fn api_key(&self, name: &str) -> &str {
        self.api_keys.get(name).map_or("", String::as_str)
    }

    /// A Basic user's password.
    pub fn password(&self, user: &str) -> &str {
        self.basic_users
            .get(user)
            .map_or("", |u| u.password.as_str())
    }
}

/// Everything the server side needs from the state directory.
pub(crate) struct ServerState {
    /// The state directory.
    pub(crate) dir: std::path::PathBuf,
    pub(crate) keys: ApiKeys,
    /// The RS256 public key, which the authorization server publishes
    /// beside its own ES256 signing key.
    pub(crate) rs256_jwk: jsonwebtoken::jwk::Jwk,
    /// The internal issuer's HMAC secret.
    pub(crate) internal_secret: auth_core::Secret,
    /// The login page's CSRF key: the same for every process on this state
    /// directory, so a page one serves can be posted to another.
    pub(crate) csrf_key: auth_core::Secret,
    pub(crate) users: Vec<BasicUser>,
    pub(crate) credentials: Credentials,
    pub(crate) server_cert: PathBuf,
    pub(crate) server_key: PathBuf,
}

/// Writes a file only its owner can read, replacing any old one at once: a
/// temporary file beside it, created exclusively with mode 0600 (never
/// readable by others, not even for a moment), synced, then renamed over it.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    use std::io::Write as _;
    let err = |e| DemoError::io(path, e);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(name);
    // Left behind by an earlier process that had this id and crashed.
    let _ = std::fs::remove_file(&tmp);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let written = options.open(&tmp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    if let Err(e) = written.and_then(|()| std::fs::rename(&tmp, path)) {
        let _ = std::fs::remove_file(&tmp);
        return Err(err(e));
    }
    Ok(())
}

/// Creates `dir` and its missing parents, each only its owner can enter.
pub(crate) fn create_private_dir(dir: &Path) -> Result<(), DemoError> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| DemoError::io(dir, e))
}

/// Opens (or creates on first start) the state directory.
pub(crate) async fn open(dir: &Path, issuer: &str) -> Result<ServerState, DemoError> {
    let server_dir = dir.join("server");
    create_private_dir(&server_dir)?;
    let pepper_path = server_dir.join("pepper");
    let first_start = !dir.join("credentials.json").exists();
    if first_start {
        // A half-written directory from an interrupted first start is redone.
        let _ = std::fs::remove_file(server_dir.join("api-keys.json"));
        write_private(&pepper_path, Pepper::generate().to_base64url().expose())?;
        crate::pki::write_pki(dir)?;
    }
    let pepper_text =
        std::fs::read_to_string(&pepper_path).map_err(|e| DemoError::io(&pepper_path, e))?;
    let pepper = Pepper::from_base64url(&pepper_text).map_err(DemoError::config)?;
    // Derived from the pepper (a random server secret) under a label of its
    // own, rather than kept in one more file.
    let csrf_key = {
        use sha2::Digest as _;
        let mut h = sha2::Sha256::new();
        h.update(b"auth-demo oauth csrf key\0");
        h.update(pepper_text.trim().as_bytes());
        auth_core::Secret::new(h.finalize().to_vec())
    };
    let store = FileKeyStore::open(server_dir.join("api-keys.json")).map_err(DemoError::config)?;
    let keys = ApiKeys::new(store, pepper);
    let users_path = server_dir.join("basic-users.json");

    let mut credentials = if first_start {
        let api_keys = issue_keys(&keys).await?;
        let mut basic_users = BTreeMap::new();
        let mut users = Vec::new();
        for (name, scopes) in [
            ("alice", &["reports:read", "reports:write"][..]),
            ("bob", &["reports:read"][..]),
            // A non-ASCII name, to try RFC 7617 charset="UTF-8" normalisation
            // (send it decomposed, as NFD, and it still matches).
            ("zo\u{eb}", &["reports:read"][..]),
        ] {
            let password = random_password();
            let hash = hash_password(&password).map_err(DemoError::config)?;
            users.push(BasicUser::new(name, hash).scopes(scopes.iter().copied()));
            basic_users.insert(
                name.to_owned(),
                BasicUserCredentials {
                    password,
                    scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
                },
            );
        }
        let json = serde_json::to_vec_pretty(&users).map_err(|e| DemoError::msg(e.to_string()))?;
        write_private(&users_path, &json)?;
        Credentials {
            issuer: issuer.to_owned(),
            api_keys,
            basic_users,
            jwt: write_jwt_keys(dir)?,
            tls: TlsFiles {
                ca: "ca.pem".to_owned(),
                ..TlsFiles::default()
            },
            oauth_clients: BTreeMap::new(),
        }
    } else {
        Credentials::load(dir)?
    };
    // Client certificates and the CRL, added to a state directory made
    // before they existed.
    if credentials.tls.client_revoked.is_none() || !dir.join(crate::pki::CRL).exists() {
        crate::pki::write_client_pki(dir, &mut credentials.tls)?;
    }
    // OAuth clients, added to a state directory made before they existed.
    for (name, secret, redirect) in [
        ("confidential", true, true),
        ("public", false, true),
        ("service", true, false),
        ("opaque", true, false),
    ] {
        credentials
            .oauth_clients
            .entry(name.to_owned())
            .or_insert_with(|| OAuthClientCredentials {
                client_id: format!("demo-{name}"),
                client_secret: secret.then(random_password),
                redirect_uri: redirect.then(|| DEMO_REDIRECT_URI.to_owned()),
            });
    }
    credentials.issuer = issuer.to_owned();
    let json =
        serde_json::to_vec_pretty(&credentials).map_err(|e| DemoError::msg(e.to_string()))?;
    write_private(&dir.join("credentials.json"), &json)?;

    let users_bytes = std::fs::read(&users_path).map_err(|e| DemoError::io(&users_path, e))?;
    let users: Vec<BasicUser> = serde_json::from_slice(&users_bytes)
        .map_err(|e| DemoError::msg(format!("{}: {e}", users_path.display())))?;
    let rs256_jwk = rs256_jwk(dir, &credentials.jwt)?;
    let internal_secret = auth_core::Secret::new(
        base64::Engine::decode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            &credentials.jwt.internal_hs256.secret_b64url,
        )
        .map_err(|e| DemoError::msg(format!("internal HS256 secret: {e}")))?,
    );
    Ok(ServerState {
        dir: dir.to_path_buf(),
        keys,
        rs256_jwk,
        internal_secret,
        csrf_key,
        users,
        credentials,
        server_cert: dir.join("server.pem"),
        server_key: dir.join("server.key"),
    })
}

async fn issue_keys(keys: &ApiKeys) -> Result<BTreeMap<String, String>, DemoError> {
    let store_err = |e: auth_core::StoreError| DemoError::msg(e.to_string());
    let mut out = BTreeMap::new();
    let new = |scopes: &[&str], tier| {
        NewKey::new("demo-customer", Environment::Test)
            .scopes(scopes.iter().copied())
            .tier(tier)
    };
    let (main, _) = keys
        .issue(new(MAIN_SCOPES, KeyTier::Main))
        .await
        .map_err(store_err)?;
    out.insert("main".to_owned(), main.expose().to_owned());
    let (standard, _) = keys
        .issue(new(STANDARD_SCOPES, KeyTier::Standard))
        .await
        .map_err(store_err)?;
    out.insert("standard".to_owned(), standard.expose().to_owned());
    let (expired, _) = keys
        .issue(
            new(STANDARD_SCOPES, KeyTier::Standard)
                .expires_at(SystemTime::now() - Duration::from_secs(24 * 3600)),
        )
        .await
        .map_err(store_err)?;
    out.insert("expired".to_owned(), expired.expose().to_owned());
    let (revoked, rec) = keys
        .issue(new(STANDARD_SCOPES, KeyTier::Standard))
        .await
        .map_err(store_err)?;
    keys.revoke(&rec.id).await.map_err(store_err)?;
    out.insert("revoked".to_owned(), revoked.expose().to_owned());
    let (old, rec) = keys
        .issue(new(STANDARD_SCOPES, KeyTier::Standard))
        .await
        .map_err(store_err)?;
    let (rotated, _) = keys
        .rotate(&rec.id, ROTATION_GRACE)
        .await
        .map_err(store_err)?
        .ok_or_else(|| DemoError::msg("rotated key vanished".to_owned()))?;
    out.insert("rotated_old".to_owned(), old.expose().to_owned());
    out.insert("rotated_new".to_owned(), rotated.expose().to_owned());
    Ok(out)
}

/// The issuer of the symmetric internal tokens.
pub const INTERNAL_ISSUER: &str = "urn:demo:internal";
/// The audience of every demo token.
pub const AUDIENCE: &str = "demo-api";

pub(crate) fn encoding_key(
    dir: &Path,
    key: &SigningKeyFile,
    alg: Algorithm,
) -> Result<EncodingKey, DemoError> {
    let path = dir.join(&key.private_key);
    let pem = std::fs::read(&path).map_err(|e| DemoError::io(&path, e))?;
    match alg {
        Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem),
        _ => EncodingKey::from_ec_pem(&pem),
    }
    .map_err(|e| DemoError::msg(format!("{}: {e}", path.display())))
}

fn public_jwk(key: &EncodingKey, alg: Algorithm) -> Result<Jwk, DemoError> {
    Jwk::from_encoding_key(key, alg).map_err(|e| DemoError::msg(format!("JWK: {e}")))
}

/// Generates the ES256 and RS256 signing keys and the internal HS256 secret.
fn write_jwt_keys(dir: &Path) -> Result<JwtFiles, DemoError> {
    let pki = |e: rcgen::Error| DemoError::msg(format!("key generation: {e}"));
    let mut files = Vec::new();
    for (name, alg, rcgen_alg) in [
        (
            "jwt-es256.pem",
            Algorithm::ES256,
            &rcgen::PKCS_ECDSA_P256_SHA256,
        ),
        ("jwt-rs256.pem", Algorithm::RS256, &rcgen::PKCS_RSA_SHA256),
    ] {
        let kp = rcgen::KeyPair::generate_for(rcgen_alg).map_err(pki)?;
        write_private(&dir.join(name), kp.serialize_pem().as_bytes())?;
        let file = SigningKeyFile {
            kid: String::new(),
            private_key: name.to_owned(),
        };
        let jwk = public_jwk(&encoding_key(dir, &file, alg)?, alg)?;
        let kid = jwk
            .thumbprint(ThumbprintHash::SHA256)
            .map_err(|e| DemoError::msg(format!("JWK thumbprint: {e}")))?;
        files.push(SigningKeyFile { kid, ..file });
    }
    let mut secret = [0u8; 32];
    rand::Rng::fill_bytes(
        &mut rand::rand_core::UnwrapErr(rand::rngs::SysRng),
        &mut secret,
    );
    let rs256 = files.pop().ok_or_else(|| DemoError::msg("RS256 key"))?;
    let es256 = files.pop().ok_or_else(|| DemoError::msg("ES256 key"))?;
    Ok(JwtFiles {
        audience: AUDIENCE.to_owned(),
        jwks_uri: "/.well-known/jwks.json".to_owned(),
        es256,
        rs256,
        internal_hs256: InternalIssuer {
            issuer: INTERNAL_ISSUER.to_owned(),
            secret_b64url: base64::Engine::encode(
                &base64::engine::general_purpose::URL_SAFE_NO_PAD,
                secret,
            ),
        },
    })
}

/// The RS256 public key with its `kid` and `use: sig`.
fn rs256_jwk(dir: &Path, jwt: &JwtFiles) -> Result<Jwk, DemoError> {
    let mut jwk = public_jwk(
        &encoding_key(dir, &jwt.rs256, Algorithm::RS256)?,
        Algorithm::RS256,
    )?;
    jwk.common.key_id = Some(jwt.rs256.kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    Ok(jwk)
}

/// A 24-character password (about 143 bits) from the OS CSPRNG.
pub(crate) fn random_password() -> String {
    use rand::RngExt as _;
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
        .sample_iter(&rand::distr::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // test code: a panic is a failed test

    use super::*;

    #[cfg(unix)]
    fn mode(path: &Path) -> u32 {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn private_files_are_private_from_the_start_and_replaced_whole() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("a/b");
        create_private_dir(&nested).unwrap();
        let file = nested.join("secret");
        write_private(&file, b"one").unwrap();
        write_private(&file, b"two").unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
        let left: Vec<_> = std::fs::read_dir(&nested).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left behind");
        #[cfg(unix)]
        {
            assert_eq!(mode(&file), 0o600);
            assert_eq!(mode(&nested), 0o700);
            assert_eq!(mode(&dir.path().join("a")), 0o700);
        }
        // A file that cannot be written leaves the old one as it was.
        let missing = dir.path().join("nope/secret");
        assert!(write_private(&missing, b"x").is_err());
        assert_eq!(std::fs::read(&file).unwrap(), b"two");
    }
}
