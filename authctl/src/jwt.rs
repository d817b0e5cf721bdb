//! `authctl jwt mint | inspect` and `authctl jwks`, with jsonwebtoken.

use std::io::Read as _;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use jsonwebtoken::jwk::{EllipticCurve, Jwk, JwkSet, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use serde_json::{Map, Value};

use crate::cli::{Alg, JwksArgs, JwtInspectArgs, JwtMintArgs};
use crate::error::{CliError, CliResult, io_out};
use crate::state::Credentials;
use crate::{Console, files};

/// The longest a development token may live.
const MAX_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// The shortest HS256 secret (RFC 7518 §3.2: a key of the hash's size).
const MIN_HMAC_SECRET: usize = 32;
/// The largest token `jwt inspect` reads.
const MAX_TOKEN: u64 = 64 * 1024;

/// What `jwt inspect` says, on standard error and in its output.
const NOT_VERIFIED: &str = "NOTHING was verified: not the signature, not the issuer, not the \
    audience, not the expiry. Anyone can make a token that decodes like this one; decoding is \
    not authentication.";

/// Claims set by `jwt mint`'s own flags, which `--claim` may not replace.
const OWN_CLAIMS: &[&str] = &[
    "iss",
    "sub",
    "aud",
    "exp",
    "iat",
    "nbf",
    "jti",
    "scope",
    "client_id",
];

fn algorithm(alg: Alg) -> Algorithm {
    match alg {
        Alg::Es256 => Algorithm::ES256,
        Alg::Es384 => Algorithm::ES384,
        Alg::Rs256 => Algorithm::RS256,
        Alg::Ps256 => Algorithm::PS256,
        Alg::EdDsa => Algorithm::EdDSA,
        Alg::Hs256 => Algorithm::HS256,
    }
}

/// A private key read from PEM, with its public JWK (kid = RFC 7638
/// thumbprint).
struct PrivateKey {
    key: EncodingKey,
    alg: Algorithm,
    jwk: Jwk,
}

/// The first PEM block's label.
fn pem_label(text: &str) -> Option<String> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .next()
        .and_then(Result::ok)
        .map(|p| p.label)
}

fn not_a_key(path: &Path, what: &str) -> CliError {
    CliError::failed(format!("{}: {what}", path.display()))
}

/// A private key: EC P-256/P-384, RSA or Ed25519, PKCS#8 (RSA also PKCS#1).
fn private_key(path: &Path, text: &str, rsa_alg: Algorithm) -> CliResult<PrivateKey> {
    let bytes = text.as_bytes();
    let (key, alg) = if let Ok(key) = EncodingKey::from_ec_pem(bytes) {
        let alg = [Algorithm::ES256, Algorithm::ES384]
            .into_iter()
            .find(|a| Jwk::from_encoding_key(&key, *a).is_ok())
            .ok_or_else(|| not_a_key(path, "an EC key on a curve other than P-256 or P-384"))?;
        (key, alg)
    } else if let Ok(key) = EncodingKey::from_rsa_pem(bytes) {
        (key, rsa_alg)
    } else if let Ok(key) = EncodingKey::from_ed_pem(bytes) {
        (key, Algorithm::EdDSA)
    } else if pem_label(text).as_deref() == Some("EC PRIVATE KEY") {
        return Err(not_a_key(
            path,
            "a SEC1 EC key: convert it to PKCS#8 (openssl pkcs8 -topk8 -nocrypt -in KEY)",
        ));
    } else {
        return Err(not_a_key(
            path,
            "not a PEM private key (PKCS#8 EC P-256/P-384, RSA or Ed25519)",
        ));
    };
    // The public half through rcgen where it reads the key (jsonwebtoken
    // takes only the 48-byte PKCS#8 v1 form of an Ed25519 key), else
    // through jsonwebtoken (PKCS#1 RSA keys).
    let jwk = match rcgen::KeyPair::from_pem(text) {
        Ok(pair) => public_jwk(path, &pair.public_key_pem(), alg)?,
        Err(_) => {
            let jwk = Jwk::from_encoding_key(&key, alg)
                .map_err(|e| not_a_key(path, &format!("cannot read the public key: {e}")))?;
            finish_jwk(jwk, alg)?
        }
    };
    Ok(PrivateKey { key, alg, jwk })
}

/// A public key (`PUBLIC KEY`, `RSA PUBLIC KEY`) or a certificate's.
fn public_jwk(path: &Path, text: &str, rsa_alg: Algorithm) -> CliResult<Jwk> {
    let label = pem_label(text);
    let spki_pem;
    let text = if label.as_deref() == Some("CERTIFICATE") {
        let der = x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
            .next()
            .and_then(Result::ok)
            .map(|p| p.contents)
            .unwrap_or_default();
        let (_, cert) = x509_parser::parse_x509_certificate(&der)
            .map_err(|_| not_a_key(path, "not an X.509 certificate"))?;
        spki_pem = pem("PUBLIC KEY", cert.public_key().raw);
        spki_pem.as_str()
    } else {
        text
    };
    let bytes = text.as_bytes();
    let (key, alg) = if let Ok(key) = DecodingKey::from_ec_pem(bytes) {
        let curve = match Jwk::from_decoding_key(&key, None).map(|j| j.algorithm) {
            Ok(jsonwebtoken::jwk::AlgorithmParameters::EllipticCurve(p)) => p.curve,
            _ => return Err(not_a_key(path, "an EC key jsonwebtoken cannot read")),
        };
        let alg = match curve {
            EllipticCurve::P256 => Algorithm::ES256,
            EllipticCurve::P384 => Algorithm::ES384,
            _ => {
                return Err(not_a_key(
                    path,
                    "an EC key on a curve other than P-256 or P-384",
                ));
            }
        };
        (key, alg)
    } else if let Ok(key) = DecodingKey::from_rsa_pem(bytes) {
        (key, rsa_alg)
    } else if let Ok(key) = DecodingKey::from_ed_pem(bytes) {
        (key, Algorithm::EdDSA)
    } else {
        return Err(not_a_key(
            path,
            "not a PEM public key, private key or certificate (EC P-256/P-384, RSA, Ed25519)",
        ));
    };
    let jwk = Jwk::from_decoding_key(&key, Some(alg))
        .map_err(|e| not_a_key(path, &format!("cannot read the public key: {e}")))?;
    finish_jwk(jwk, alg)
}

/// `use: sig`, `alg`, and the RFC 7638 SHA-256 thumbprint as `kid`.
fn finish_jwk(mut jwk: Jwk, alg: Algorithm) -> CliResult<Jwk> {
    jwk.common.key_algorithm = Some(alg.into());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| CliError::failed(format!("JWK thumbprint: {e}")))?;
    jwk.common.key_id = Some(kid);
    Ok(jwk)
}

fn pem(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Any PEM file for `jwks`: private keys give their public half.
fn any_jwk(path: &Path, rsa_alg: Algorithm) -> CliResult<Jwk> {
    let text = files::read_text(path)?;
    match pem_label(&text) {
        Some(label) if label.contains("PRIVATE KEY") => {
            private_key(path, &text, rsa_alg).map(|k| k.jwk)
        }
        Some(_) => public_jwk(path, &text, rsa_alg),
        None => Err(not_a_key(path, "no PEM block")),
    }
}

fn rsa_alg(alg: Alg) -> CliResult<Algorithm> {
    match alg {
        Alg::Rs256 | Alg::Ps256 => Ok(algorithm(alg)),
        _ => Err(CliError::usage("--rsa-alg is RS256 or PS256")),
    }
}

/// `jwks`.
pub(crate) fn jwks(args: &JwksArgs, console: &mut Console<'_>) -> CliResult {
    let rsa = rsa_alg(args.rsa_alg)?;
    let mut paths: Vec<std::path::PathBuf> = Vec::new();
    if let Some(dir) = &args.state_dir {
        let creds = Credentials::load(dir)?;
        paths.push(dir.join(&creds.jwt.es256.private_key));
        paths.push(dir.join(&creds.jwt.rs256.private_key));
    }
    paths.extend(args.files.iter().cloned());
    let mut set = JwkSet { keys: Vec::new() };
    for path in &paths {
        let jwk = any_jwk(path, rsa)?;
        if !set
            .keys
            .iter()
            .any(|k| k.common.key_id == jwk.common.key_id)
        {
            set.keys.push(jwk);
        }
    }
    let text = serde_json::to_string_pretty(&set)
        .map_err(|e| CliError::failed(format!("cannot encode the JWKS: {e}")))?;
    writeln!(console.stdout, "{text}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "JWKS of {} key(s), public parameters only, kid = RFC 7638 SHA-256 thumbprint",
        set.keys.len()
    );
    Ok(())
}

/// How `jwt mint` signs.
struct Signer {
    key: EncodingKey,
    alg: Algorithm,
    /// The public key's thumbprint (none for HMAC).
    kid: Option<String>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// `jwt mint`.
pub(crate) fn mint(args: &JwtMintArgs, console: &mut Console<'_>) -> CliResult {
    if !args.dev {
        return Err(CliError::refused(
            "`jwt mint` makes development tokens only, and refuses to run without --dev; \
             nothing was signed",
        ));
    }
    if args.ttl.is_zero() || args.ttl > MAX_TTL {
        return Err(CliError::usage("--ttl is between 1s and 24h"));
    }
    let mut extra = Map::new();
    for c in &args.claims {
        let (name, value) = c
            .split_once('=')
            .ok_or_else(|| CliError::usage(format!("--claim {c:?}: use NAME=VALUE")))?;
        if name.is_empty() {
            return Err(CliError::usage(format!("--claim {c:?}: the name is empty")));
        }
        if OWN_CLAIMS.contains(&name) {
            return Err(CliError::usage(format!(
                "--claim {name}: set by its own flag (--iss, --sub, --aud, --scope, --client-id, --ttl)"
            )));
        }
        let value = serde_json::from_str(value).unwrap_or_else(|_| Value::from(value));
        extra.insert(name.to_owned(), value);
    }

    let mut iss = args.iss.clone();
    let mut aud = args.aud.clone();
    let signer = if let Some(dir) = &args.state_dir {
        let creds = Credentials::load(dir)?;
        let alg = args.alg.unwrap_or(Alg::Es256);
        let file = match alg {
            Alg::Es256 => Some(&creds.jwt.es256.private_key),
            Alg::Rs256 | Alg::Ps256 => Some(&creds.jwt.rs256.private_key),
            Alg::Hs256 => None,
            Alg::Es384 | Alg::EdDsa => {
                return Err(CliError::usage(
                    "the demo's keys are ES256, RS256 (or PS256) and HS256",
                ));
            }
        };
        if aud.is_empty() {
            aud.push(creds.jwt.audience.clone());
        }
        match file {
            Some(file) => {
                iss.get_or_insert_with(|| creds.issuer.clone());
                let path = dir.join(file);
                let text = files::read_text(&path)?;
                let k = private_key(&path, &text, algorithm(alg))?;
                Signer {
                    key: k.key,
                    alg: k.alg,
                    kid: k.jwk.common.key_id,
                }
            }
            None => {
                iss.get_or_insert_with(|| creds.jwt.internal_hs256.issuer.clone());
                let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(creds.jwt.internal_hs256.secret_b64url.trim())
                    .map_err(|_| {
                        CliError::failed(
                            "credentials.json: the internal HS256 secret is not base64url",
                        )
                    })?;
                hmac_signer(&secret)?
            }
        }
    } else if let Some(path) = &args.key {
        let text = files::read_text(path)?;
        let rsa = match args.alg {
            Some(Alg::Ps256) => Algorithm::PS256,
            _ => Algorithm::RS256,
        };
        let k = private_key(path, &text, rsa)?;
        if let Some(want) = args.alg
            && algorithm(want) != k.alg
        {
            return Err(CliError::usage(format!(
                "--alg {:?} does not fit {} (a {:?} key)",
                algorithm(want),
                path.display(),
                k.alg
            )));
        }
        Signer {
            key: k.key,
            alg: k.alg,
            kid: k.jwk.common.key_id,
        }
    } else if let Some(path) = &args.secret_file {
        if args.alg.is_some_and(|a| a != Alg::Hs256) {
            return Err(CliError::usage("--secret-file signs with HS256 only"));
        }
        let mut secret = files::read(path)?;
        if secret.last() == Some(&b'\n') {
            secret.pop();
            if secret.last() == Some(&b'\r') {
                secret.pop();
            }
        }
        hmac_signer(&secret)?
    } else {
        return Err(CliError::usage(
            "say which key: --state-dir DIR, --key FILE (PEM private key) or --secret-file FILE (HS256)",
        ));
    };
    let iss = iss.ok_or_else(|| CliError::usage("--iss is required without --state-dir"))?;

    let now = unix_now();
    let exp = now.saturating_add(args.ttl.as_secs());
    let mut claims = Map::new();
    claims.insert("iss".to_owned(), iss.clone().into());
    claims.insert("sub".to_owned(), args.sub.clone().into());
    match aud.as_slice() {
        [] => {}
        [one] => {
            claims.insert("aud".to_owned(), one.clone().into());
        }
        many => {
            claims.insert("aud".to_owned(), many.to_vec().into());
        }
    }
    claims.insert("client_id".to_owned(), args.client_id.clone().into());
    claims.insert("iat".to_owned(), now.into());
    claims.insert("exp".to_owned(), exp.into());
    claims.insert("jti".to_owned(), random_id().into());
    if !args.scopes.is_empty() {
        claims.insert("scope".to_owned(), args.scopes.join(" ").into());
    }
    claims.extend(extra);

    let mut header = Header::new(signer.alg);
    header.typ = Some(args.typ.clone());
    header.kid = args.kid.clone().or(signer.kid);
    let token = jsonwebtoken::encode(&header, &Value::Object(claims), &signer.key)
        .map_err(|e| CliError::failed(format!("cannot sign: {e}")))?;
    writeln!(console.stdout, "{token}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "minted a DEVELOPMENT token: {:?}, kid {}, iss {iss}, aud {}, sub {}, scope {:?}, \
         expires in {} s. Never use such tokens in production.",
        signer.alg,
        header.kid.as_deref().unwrap_or("(none)"),
        if aud.is_empty() {
            "(none)".to_owned()
        } else {
            aud.join(",")
        },
        args.sub,
        args.scopes.join(" "),
        args.ttl.as_secs()
    );
    Ok(())
}

fn hmac_signer(secret: &[u8]) -> CliResult<Signer> {
    if secret.len() < MIN_HMAC_SECRET {
        return Err(CliError::refused(format!(
            "the HS256 secret has {} bytes: at least {MIN_HMAC_SECRET} are needed (RFC 7518 §3.2)",
            secret.len()
        )));
    }
    Ok(Signer {
        key: EncodingKey::from_secret(secret)
            .map_err(|e| CliError::failed(format!("HS256 secret: {e}")))?,
        alg: Algorithm::HS256,
        kid: None,
    })
}

/// 128 random bits, base64url.
fn random_id() -> String {
    use rand::Rng as _;
    let mut bytes = [0u8; 16];
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// `jwt inspect`.
pub(crate) fn inspect(args: &JwtInspectArgs, console: &mut Console<'_>) -> CliResult {
    if !args.rest.is_empty() {
        // Not echoed: it may be a token.
        return Err(CliError::usage(
            "`jwt inspect` reads the token from standard input or --file, not from the command \
             line (where other users and the shell history see it)",
        ));
    }
    let mut raw = Vec::new();
    let read = match &args.file {
        Some(path) => std::fs::File::open(path)
            .map_err(|e| files::read_error(path, &e))?
            .take(MAX_TOKEN + 1)
            .read_to_end(&mut raw),
        None => (&mut *console.stdin)
            .take(MAX_TOKEN + 1)
            .read_to_end(&mut raw),
    };
    read.map_err(|e| CliError::failed(format!("cannot read the token: {e}")))?;
    if raw.len() as u64 > MAX_TOKEN {
        return Err(CliError::failed(format!(
            "the input is longer than {MAX_TOKEN} bytes: not a token"
        )));
    }
    let text = std::str::from_utf8(&raw)
        .map_err(|_| CliError::failed("the input is not text"))?
        .trim();
    let text = text.strip_prefix("Bearer ").unwrap_or(text).trim();
    if text.is_empty() {
        return Err(CliError::failed("no token on the input"));
    }
    let parts: Vec<&str> = text.split('.').collect();
    let (header, claims) = match parts.as_slice() {
        [h, c, _sig] => (decode_part(h, "header")?, decode_part(c, "claims")?),
        [_, _, _, _, _] => {
            return Err(CliError::failed(
                "an encrypted token (JWE, five parts): its claims cannot be read without its key",
            ));
        }
        _ => {
            return Err(CliError::failed(
                "not a JWT: a signed token has three base64url parts separated by dots",
            ));
        }
    };
    let _ = writeln!(console.stderr, "WARNING: {NOT_VERIFIED}");
    let mut times = Map::new();
    let now = unix_now();
    for name in ["iat", "nbf", "exp"] {
        if let Some(t) = claims.get(name).and_then(Value::as_u64) {
            let when = crate::keys::timestamp(t);
            let note = if name == "exp" {
                if t <= now {
                    format!("{when} (expired {} s ago)", now - t)
                } else {
                    format!("{when} (in {} s)", t - now)
                }
            } else {
                when
            };
            times.insert(name.to_owned(), note.into());
        }
    }
    // In this order, the warning first (a `json!` object would sort its keys).
    let fields = [
        ("warning", Value::from(NOT_VERIFIED)),
        ("verified", Value::Bool(false)),
        ("header", header),
        ("claims", claims),
        ("times", Value::Object(times)),
    ];
    let mut out = String::from("{\n");
    for (i, (name, value)) in fields.iter().enumerate() {
        let value = serde_json::to_string_pretty(value)
            .map_err(|e| CliError::failed(format!("cannot encode: {e}")))?;
        let comma = if i + 1 < fields.len() { "," } else { "" };
        out.push_str(&format!(
            "  {name:?}: {}{comma}\n",
            value.replace('\n', "\n  ")
        ));
    }
    out.push('}');
    writeln!(console.stdout, "{out}").map_err(io_out)
}

fn decode_part(part: &str, what: &str) -> CliResult<Value> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| CliError::failed(format!("the token's {what} is not base64url")))?;
    let value: Value = serde_json::from_slice(&bytes)
        .map_err(|_| CliError::failed(format!("the token's {what} is not JSON")))?;
    if !value.is_object() {
        return Err(CliError::failed(format!(
            "the token's {what} is not a JSON object"
        )));
    }
    Ok(value)
}
