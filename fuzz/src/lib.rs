//! Fixtures shared by the fuzz targets: one runtime, fixed keys (so that the
//! seeds in `seeds/` verify), authenticators built once, and the checks
//! every refusal must pass.
//!
//! Everything here goes through auth-core's public API only.

use std::future::Future;
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, KeyRecord, Pepper};
use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::store::{KeyStore, MemoryKeyStore};
use auth_core::{AnyOf, Guard, Rejection, Secret, TrustedProxies};
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Runs a future to completion on a current-thread runtime made once.
pub fn block_on<F: Future>(f: F) -> F::Output {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
    .block_on(f)
}

/// The fixed pepper of the fuzz key store.
pub const PEPPER: [u8; 32] = *b"fuzz-pepper-fuzz-pepper-fuzz-pep";

/// The ids of the keys in the fuzz store: valid, revoked, rotated out.
pub const KEY_IDS: [&str; 3] = ["FuzzKeyId000", "FuzzKeyId001", "FuzzKeyId002"];

/// The 43-character secret part of every fuzz key (the ids differ).
pub const KEY_SECRET: &str = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFG";

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The key format's checksum (CRC-32 in 6 base62 digits), written from the
/// format's documentation rather than borrowed from auth-core.
pub fn checksum(body: &[u8]) -> String {
    let mut n = crc32fast::hash(body);
    let mut out = [b'0'; 6];
    for slot in out.iter_mut().rev() {
        *slot = BASE62[(n % 62) as usize];
        n /= 62;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The text of fuzz key `i` (0: valid, 1: revoked, 2: rotated out).
pub fn api_key_text(i: usize) -> String {
    let body = format!("ask_live_{}_{KEY_SECRET}", KEY_IDS[i % KEY_IDS.len()]);
    let sum = checksum(body.as_bytes());
    format!("{body}{sum}")
}

/// The API keys of the fuzz store, with the three keys above in it.
pub fn api_keys() -> &'static ApiKeys {
    static KEYS: OnceLock<ApiKeys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let pepper = Pepper::from_secret(Secret::new(PEPPER.to_vec()))
            .unwrap_or_else(|e| panic!("pepper: {e}"));
        let store = std::sync::Arc::new(MemoryKeyStore::new());
        let keys = ApiKeys::with_store(store.clone(), pepper);
        let records = [
            r#"{"id":"FuzzKeyId000","owner":"fuzz","scopes":["read"],"tier":"main","environment":"live","created_at":0,"expires_at":null,"revoked_at":null,"last_used_at":null,"replaced_by":null}"#,
            r#"{"id":"FuzzKeyId001","owner":"fuzz","scopes":[],"tier":"standard","environment":"live","created_at":0,"expires_at":null,"revoked_at":1,"last_used_at":null,"replaced_by":null}"#,
            r#"{"id":"FuzzKeyId002","owner":"fuzz","scopes":[],"tier":"standard","environment":"live","created_at":0,"expires_at":1,"revoked_at":null,"last_used_at":null,"replaced_by":"FuzzKeyId000"}"#,
        ];
        for (i, json) in records.iter().enumerate() {
            let record: KeyRecord =
                serde_json::from_str(json).unwrap_or_else(|e| panic!("record: {e}"));
            let hash = keys.hash(api_key_text(i).as_bytes());
            let added = block_on(store.insert_if_absent(hash, record))
                .unwrap_or_else(|e| panic!("store: {e}"));
            assert!(added);
        }
        keys
    })
}

/// The HMAC secret of the fuzz JWT issuers.
pub const JWT_SECRET: &[u8] = b"fuzz-jwt-secret-of-at-least-32-bytes!!";

/// The issuer of plain `typ: JWT` tokens (HS256, audience `api`).
pub const ISSUER: &str = "urn:fuzz";
/// The issuer of RFC 9068 access tokens (HS256 key `k1`, audience `api`).
pub const ISSUER_AT: &str = "urn:fuzz:at";
/// The issuer whose key comes from a JWKS document (ES256 `ec1`).
pub const ISSUER_EC: &str = "urn:fuzz:ec";

/// The RFC 7517 example P-256 key, as a JWKS document.
pub const EC_JWKS: &str = r#"{"keys":[{"kty":"EC","crv":"P-256","kid":"ec1","alg":"ES256","x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU","y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}]}"#;

/// The revoked `jti`.
pub const REVOKED_JTI: &str = "revoked";

/// Base64url without padding.
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `b64url(header).b64url(claims).b64url(HMAC-SHA-256)` with [`JWT_SECRET`]:
/// a token whose signature verifies whatever the JSON says, so that the
/// fuzzer reaches the claims checks.
pub fn sign_hs256(header: &[u8], claims: &[u8]) -> String {
    let input = format!("{}.{}", b64url(header), b64url(claims));
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(JWT_SECRET)
        .unwrap_or_else(|e| panic!("hmac: {e}"));
    mac.update(input.as_bytes());
    let sig = mac.finalize().into_bytes();
    format!("{input}.{}", b64url(&sig))
}

/// The JWT authenticator: three issuers, a revoked `jti`.
pub fn jwt() -> &'static JwtAuthenticator {
    static JWT: OnceLock<JwtAuthenticator> = OnceLock::new();
    JWT.get_or_init(|| {
        let secret = Secret::new(JWT_SECRET.to_vec());
        let key = || {
            JwtKey::hmac(&secret, jsonwebtoken::Algorithm::HS256)
                .unwrap_or_else(|e| panic!("key: {e}"))
        };
        let jwt = JwtAuthenticator::builder()
            .issuer(
                Issuer::new(ISSUER)
                    .audience("api")
                    .key(key())
                    .token_types(["JWT"])
                    .roles_claim("roles"),
            )
            .issuer(
                Issuer::new(ISSUER_AT)
                    .audience("api")
                    .key(key().with_kid("k1")),
            )
            .issuer(
                Issuer::new(ISSUER_EC)
                    .any_audience()
                    .jwks_document(EC_JWKS)
                    .token_types(["JWT"]),
            )
            .build()
            .unwrap_or_else(|e| panic!("jwt: {e}"));
        block_on(jwt.revoke(
            ISSUER,
            REVOKED_JTI,
            SystemTime::now() + Duration::from_secs(100 * 365 * 86400),
        ))
        .unwrap_or_else(|e| panic!("revoke: {e}"));
        jwt
    })
}

/// A Basic authenticator that parses everything and hashes nothing: no
/// permit for argon2 (a parsed pair is shed with 503 `hashing_busy`), no
/// cache, plaintext allowed. Argon2 costs tens of milliseconds per check
/// and its parameters are not configurable.
pub fn basic_parse_only() -> &'static BasicAuthenticator {
    static BASIC: OnceLock<BasicAuthenticator> = OnceLock::new();
    BASIC.get_or_init(|| basic_builder().insecure_allow_plaintext().build_or_panic())
}

fn basic_builder() -> auth_core::basic::BasicAuthenticatorBuilder {
    let hash = hash_password("pw").unwrap_or_else(|e| panic!("hash: {e}"));
    BasicAuthenticator::builder()
        .user(BasicUser::new("alice", hash).scopes(["read"]))
        .max_concurrent_hashes(0)
        .cache_ttl(Duration::ZERO)
        .lockout(5, Duration::from_secs(900))
}

trait BuildOrPanic {
    fn build_or_panic(self) -> BasicAuthenticator;
}

impl BuildOrPanic for auth_core::basic::BasicAuthenticatorBuilder {
    fn build_or_panic(self) -> BasicAuthenticator {
        self.build().unwrap_or_else(|e| panic!("basic: {e}"))
    }
}

/// The whole guard: API keys, Basic (TLS only, `10.0.0.0/8` trusted as a
/// proxy, parse-only as above) and JWT.
pub fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let proxies =
            TrustedProxies::new(["10.0.0.0/8"]).unwrap_or_else(|e| panic!("proxies: {e}"));
        let basic = basic_builder().trusted_proxies(proxies).build_or_panic();
        Guard::builder(
            AnyOf::new()
                .or(ApiKeyAuthenticator::new(api_keys().clone()))
                .or(basic)
                .or(jwt().clone()),
        )
        .realm("fuzz")
        .build()
        .unwrap_or_else(|e| panic!("guard: {e}"))
    })
}

/// What every refusal must be: a 4xx or 503 status, header values that
/// cannot split a response, known challenges, and a problem body naming
/// the same status.
pub fn check_rejection(r: &Rejection) {
    let status = r.status();
    assert!(
        matches!(status, 400 | 401 | 403 | 429 | 503),
        "unexpected status {status}"
    );
    for (name, value) in r.headers() {
        assert!(
            !value.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0),
            "header {name} carries a line break: {value:?}"
        );
        if *name == "www-authenticate" {
            assert!(
                ["Bearer realm=", "Basic realm=", "ApiKey realm="]
                    .iter()
                    .any(|p| value.starts_with(p)),
                "unknown challenge {value:?}"
            );
        }
    }
    let body: serde_json::Value = serde_json::from_slice(r.body())
        .unwrap_or_else(|e| panic!("problem body is not JSON: {e}"));
    assert_eq!(body["status"], u64::from(status));
}

/// A request head in a line format that seeds can be written in:
///
/// ```text
/// <flags, space-separated>
/// <METHOD> <target>
/// <name>:<value>
/// ...
/// ```
///
/// Lines end at `\n` only; values are raw bytes (anything but `\n`).
#[derive(Debug, Default)]
pub struct Head {
    /// Words of the first line (`tls`, `peer=10.0.0.1:80`, `anon`, …).
    pub flags: Vec<String>,
    /// The method.
    pub method: String,
    /// The target (`/path?query`).
    pub target: String,
    /// The headers, in order.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl Head {
    /// Parses the line format; never fails.
    pub fn parse(data: &[u8]) -> Self {
        let mut lines = data.split(|b| *b == b'\n');
        let flags = String::from_utf8_lossy(lines.next().unwrap_or_default())
            .split(' ')
            .filter(|w| !w.is_empty())
            .map(str::to_owned)
            .collect();
        let request = String::from_utf8_lossy(lines.next().unwrap_or_default()).into_owned();
        let (method, target) = match request.split_once(' ') {
            Some((m, t)) => (m.to_owned(), t.to_owned()),
            None => ("GET".to_owned(), request),
        };
        let headers = lines
            .filter(|l| !l.is_empty())
            .map(|line| match line.iter().position(|b| *b == b':') {
                Some(i) => (
                    String::from_utf8_lossy(&line[..i]).into_owned(),
                    line[i + 1..].to_vec(),
                ),
                None => (String::from_utf8_lossy(line).into_owned(), Vec::new()),
            })
            .collect();
        Self {
            flags,
            method,
            target,
            headers,
        }
    }

    /// The value of flag `name=value`, for each time it is given.
    pub fn flag_values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.flags.iter().filter_map(move |f| {
            f.split_once('=')
                .filter(|(n, _)| *n == name)
                .map(|(_, v)| v)
        })
    }

    /// Whether the bare flag `name` is given.
    pub fn has(&self, name: &str) -> bool {
        self.flags.iter().any(|f| f == name)
    }

    /// The peer address of `peer=ip:port` or `peer=ip`.
    pub fn peer(&self) -> Option<std::net::SocketAddr> {
        let p = self.flag_values("peer").next()?;
        p.parse().ok().or_else(|| {
            p.parse::<std::net::IpAddr>()
                .ok()
                .map(|ip| (ip, 443).into())
        })
    }

    /// The request, values expanded by `expand`.
    pub fn request(&self, expand: impl Fn(&[u8]) -> Vec<u8>) -> auth_core::SimpleRequest {
        let mut req =
            auth_core::SimpleRequest::new(&self.method, &self.target).tls(self.has("tls"));
        for (name, value) in &self.headers {
            req = req.header(name, expand(value));
        }
        if let Some(peer) = self.peer() {
            req = req.peer(peer);
        }
        req
    }
}

/// Expands the templates of a header value (after leading spaces):
/// `@basic:<pair>` becomes `Basic base64(pair)`, `@jwt:<header>\0<claims>`
/// becomes `Bearer` and that token signed with [`JWT_SECRET`]; anything else
/// is kept as it is.
pub fn expand(value: &[u8]) -> Vec<u8> {
    let v = value.trim_ascii_start();
    if let Some(pair) = v.strip_prefix(b"@basic:") {
        let b = base64::engine::general_purpose::STANDARD.encode(pair);
        return format!("Basic {b}").into_bytes();
    }
    if let Some(parts) = v.strip_prefix(b"@jwt:") {
        let (header, claims) = match parts.iter().position(|b| *b == 0) {
            Some(i) => (&parts[..i], &parts[i + 1..]),
            None => (parts, &b""[..]),
        };
        return format!("Bearer {}", sign_hs256(header, claims)).into_bytes();
    }
    value.to_vec()
}
