//! Properties of every parser on the request path (proptest): none panics
//! on arbitrary input, every refusal is a 4xx, and whatever the stack both
//! produces and parses comes back as it went in: API keys, Basic pairs,
//! `Authorization` headers, challenges, JWT claims, stored key records.
//!
//! The cargo-fuzz targets in `fuzz/` drive the same entry points for
//! longer; these run in the normal test run (a few seconds in debug).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)] // test code: a panic is a failed test

use std::collections::BTreeSet;
use std::sync::OnceLock;
use std::time::Duration;

use auth_core::api_key::{
    self, ApiKeyAuthenticator, ApiKeys, Environment, FormatError, KeyHash, KeyRecord, NewKey,
    Pepper,
};
use auth_core::basic::{
    BasicAuthenticator, BasicUser, hash_password, prepare_password, prepare_username,
};
use auth_core::credentials::is_b64token;
use auth_core::jwt::{Issuer, JwtAuthenticator, JwtKey};
use auth_core::rejection::{push_quoted, retry_after_secs};
use auth_core::{
    AnyOf, AuthError, AuthErrorKind, AuthRequest, Authenticator, Challenge, Credential, Guard,
    Rejection, Secret, SimpleRequest,
};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;

// ---------------------------------------------------------------- fixtures

fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    })
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    rt().block_on(f)
}

const JWT_SECRET: &[u8] = b"properties-secret-of-at-least-32-bytes";

fn jwt() -> &'static JwtAuthenticator {
    static JWT: OnceLock<JwtAuthenticator> = OnceLock::new();
    JWT.get_or_init(|| {
        let key = JwtKey::hmac(&Secret::new(JWT_SECRET.to_vec()), Algorithm::HS256).unwrap();
        JwtAuthenticator::builder()
            .issuer(
                Issuer::new("urn:props")
                    .audience("api")
                    .key(key)
                    .token_types(["JWT"])
                    .roles_claim("roles"),
            )
            .build()
            .unwrap()
    })
}

/// Parses Basic pairs and never hashes: no permit for argon2, so a pair
/// that parses is shed with 503 `hashing_busy`.
fn basic_parse_only() -> &'static BasicAuthenticator {
    static BASIC: OnceLock<BasicAuthenticator> = OnceLock::new();
    BASIC.get_or_init(|| {
        BasicAuthenticator::builder()
            .insecure_allow_plaintext()
            .max_concurrent_hashes(0)
            .cache_ttl(Duration::ZERO)
            .build()
            .unwrap()
    })
}

fn guard() -> &'static Guard {
    static GUARD: OnceLock<Guard> = OnceLock::new();
    GUARD.get_or_init(|| {
        let keys = ApiKeys::in_memory(Pepper::generate());
        Guard::builder(
            AnyOf::new()
                .or(ApiKeyAuthenticator::new(keys))
                .or(basic_parse_only().clone())
                .or(jwt().clone()),
        )
        .realm("props")
        .build()
        .unwrap()
    })
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

// ------------------------------------------------------------- strategies

/// RFC 9110 `token`.
fn token() -> impl Strategy<Value = String> {
    "[!#$%&'*+.^_`|~0-9A-Za-z-]{1,12}"
}

/// RFC 6750 `b64token`.
fn b64token() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._~+/-]{1,40}={0,2}"
}

/// Header values: raw bytes, or shaped like what the parsers look for.
fn header_value() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..48),
        (token(), prop::collection::vec(any::<u8>(), 0..32)).prop_map(|(s, rest)| [
            s.as_bytes(),
            b" ",
            &rest
        ]
        .concat()),
        prop::collection::vec(any::<u8>(), 0..32)
            .prop_map(|pair| format!("Basic {}", b64(&pair)).into_bytes()),
        "[ -~]{0,60}".prop_map(|s| format!("Bearer {s}").into_bytes()),
        "[ -~]{0,60}".prop_map(|s| format!("Bearer ask_live_{s}").into_bytes()),
    ]
}

fn header_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("authorization".to_owned()),
        Just("Authorization".to_owned()),
        Just("x-api-key".to_owned()),
        Just("X-API-Key".to_owned()),
        Just("x-forwarded-proto".to_owned()),
        "[a-zA-Z-]{1,12}",
    ]
}

fn request() -> impl Strategy<Value = SimpleRequest> {
    (
        "[ -~]{0,40}",
        prop::collection::vec((header_name(), header_value()), 0..4),
        any::<bool>(),
    )
        .prop_map(|(target, headers, tls)| {
            let mut req = SimpleRequest::get(&format!("/{target}")).tls(tls);
            for (n, v) in headers {
                req = req.header(&n, v);
            }
            req
        })
}

/// What the Basic parse path must answer for a payload: a model written
/// from RFC 7617 and the module's documentation.
fn basic_model(payload: &[u8]) -> &'static str {
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload.trim_ascii()) else {
        return "malformed_base64";
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return "malformed_utf8";
    };
    let Some((user, password)) = text.split_once(':') else {
        return "malformed_no_colon";
    };
    if user.chars().chain(password.chars()).any(char::is_control) {
        return "malformed_control_character";
    }
    if user.is_empty() {
        return "malformed_empty_user";
    }
    if prepare_username(user).is_err() {
        return "malformed_user_rfc8265";
    }
    if prepare_password(password).is_err() {
        return "malformed_password_rfc8265";
    }
    "hashing_busy"
}

/// The Basic parse path's answer for `Authorization: Basic <payload>`.
fn basic_answer(payload: &[u8]) -> Option<(Vec<u8>, AuthError)> {
    let req = SimpleRequest::get("/").header("authorization", [b"Basic ", payload].concat());
    let names = ["authorization"];
    let credential = Credential::from_head(&req, &names).ok()?;
    let seen = credential.authorization()?.value().expose().to_vec();
    let areq = AuthRequest::new(&req, &credential);
    let err = block_on(basic_parse_only().authenticate(&areq)).unwrap_err();
    Some((seen, err))
}

/// A reference parser for one rendered challenge (RFC 9110 §11.2):
/// `scheme SP name="value" *( ", " name="value" )`, quoted-string values
/// unescaped.
fn parse_challenge(s: &str) -> Option<(String, Vec<(String, String)>)> {
    let (scheme, mut rest) = s.split_once(' ')?;
    let mut params = Vec::new();
    loop {
        let (name, after) = rest.split_once('=')?;
        let mut chars = after.strip_prefix('"')?.char_indices();
        let mut value = String::new();
        let end = loop {
            match chars.next()? {
                (_, '\\') => value.push(chars.next()?.1),
                (i, '"') => break i + 2,
                (_, c) => value.push(c),
            }
        };
        params.push((name.to_owned(), value));
        rest = &after[end..];
        if rest.is_empty() {
            return Some((scheme.to_owned(), params));
        }
        rest = rest.strip_prefix(", ")?;
    }
}

// ------------------------------------------------------ no panic, 4xx only

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn credential_parsing_never_panics(req in request(), extra in "[a-z-]{0,10}") {
        let names = ["authorization", "x-api-key", extra.as_str()];
        match Credential::from_head(&req, &names) {
            Ok(Credential::Authorization(a)) => {
                prop_assert!(!a.scheme().is_empty() && a.scheme().chars().all(is_tchar));
                if a.is("bearer") {
                    prop_assert!(is_b64token(a.value().expose()));
                }
            }
            Ok(_) => {}
            Err(e) => prop_assert!(matches!(e.status(), 400 | 401), "{e:?}"),
        }
    }

    #[test]
    fn the_guard_refuses_with_a_sendable_rejection(req in request()) {
        if let Err(r) = block_on(guard().check(&req)) {
            prop_assert!(matches!(r.status(), 400 | 401 | 403 | 429 | 503));
            for (name, value) in r.headers() {
                prop_assert!(!value.contains(['\r', '\n', '\0']), "{name}: {value:?}");
            }
            let body: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
            prop_assert_eq!(&body["status"], &serde_json::json!(r.status()));
        }
    }

    #[test]
    fn basic_decoding_matches_the_model(payload in prop::collection::vec(any::<u8>(), 0..48)) {
        if let Some((seen, err)) = basic_answer(&payload) {
            prop_assert_eq!(err.reason(), basic_model(&seen), "payload {:?}", seen);
        }
    }

    #[test]
    fn basic_decoding_of_encoded_pairs_matches_the_model(pair in prop::collection::vec(any::<u8>(), 0..48)) {
        let payload = b64(&pair);
        let (seen, err) = basic_answer(payload.as_bytes()).unwrap();
        prop_assert_eq!(err.reason(), basic_model(&seen), "pair {:?}", pair);
    }

    #[test]
    fn preparation_is_idempotent(s in any::<String>()) {
        // What RFC 8265 accepts once, it accepts again, unchanged; what it
        // refuses, it refuses for the same reason however often asked.
        let user = prepare_username(&s);
        if let Ok(u) = &user {
            prop_assert_eq!(&prepare_username(u), &user);
        }
        prop_assert_eq!(prepare_username(&s), user);
        let password = prepare_password(&s);
        if let Ok(p) = &password {
            prop_assert_eq!(&prepare_password(p), &password);
        }
    }

    #[test]
    fn api_key_parsing_never_panics(
        token in prop::collection::vec(any::<u8>(), 0..80),
        text in "[a-z]{2,4}_(live|test|prod)_[A-Za-z0-9_]{0,70}",
    ) {
        for t in [token.as_slice(), text.as_bytes()] {
            if let Ok(parts) = api_key::parse(t, "ask") {
                prop_assert_eq!(parts.id.len(), api_key::ID_LEN);
            }
        }
    }

    #[test]
    fn challenge_rendering_never_panics(
        scheme in any::<String>(),
        realm in any::<String>(),
        params in prop::collection::vec((any::<String>(), any::<String>()), 0..4),
    ) {
        let mut c = Challenge::new(scheme);
        for (n, v) in params {
            c = c.with_param(n, v);
        }
        let _ = c.render(&realm, &[("error", "x")]);
        let _ = c.is_valid();
        let err = AuthError::new(AuthErrorKind::InvalidCredentials).with_challenge(c.clone());
        let r = Rejection::from_error(&err, "r", &[c]);
        for (_, value) in r.headers() {
            prop_assert!(!value.contains(['\r', '\n']));
        }
    }

    #[test]
    fn jwt_verification_of_arbitrary_strings_refuses_with_401(
        token in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..120),
            "[A-Za-z0-9_.-]{0,120}".prop_map(String::into_bytes),
        ]
    ) {
        let err = block_on(jwt().verify(&token)).unwrap_err();
        prop_assert_eq!(err.status(), 401);
    }

    #[test]
    fn jwt_verification_of_signed_arbitrary_claims(
        changes in prop::collection::btree_map(
            prop_oneof![
                Just("iss".to_owned()), Just("aud".to_owned()), Just("sub".to_owned()),
                Just("exp".to_owned()), Just("nbf".to_owned()), Just("iat".to_owned()),
                Just("scope".to_owned()), Just("scp".to_owned()), Just("roles".to_owned()),
                Just("act".to_owned()), Just("cnf".to_owned()), Just("jti".to_owned()),
                "[a-z]{1,5}",
            ],
            // None: the claim is removed.
            prop::option::of(prop_oneof![
                Just(serde_json::json!("urn:props")),
                Just(serde_json::json!("api")),
                Just(serde_json::json!(["api", "x"])),
                Just(serde_json::json!(4_102_444_800_u64)),
                Just(serde_json::json!(1)),
                Just(serde_json::json!(u64::MAX)),
                Just(serde_json::json!(-1)),
                Just(serde_json::json!(1.5)),
                Just(serde_json::json!({"sub": {"sub": "x"}})),
                Just(serde_json::Value::Null),
                any::<String>().prop_map(serde_json::Value::from),
            ]),
            0..4,
        ),
        typ in prop::option::of(prop_oneof![Just("JWT"), Just("at+jwt"), Just("application/jwt")]),
    ) {
        // Valid claims, then some changed or removed.
        let mut claims: serde_json::Map<String, serde_json::Value> = serde_json::from_value(serde_json::json!({
            "iss": "urn:props", "aud": "api", "sub": "s", "exp": 4_102_444_800_u64,
        }))
        .unwrap();
        for (name, value) in &changes {
            match value {
                Some(v) => claims.insert(name.clone(), v.clone()),
                None => claims.remove(name),
            };
        }
        let mut header = Header::new(Algorithm::HS256);
        header.typ = typ.map(str::to_owned);
        let token = jsonwebtoken::encode(
            &header,
            &claims,
            &EncodingKey::from_secret(JWT_SECRET).unwrap(),
        )
        .unwrap();
        match block_on(jwt().verify(token.as_bytes())) {
            Ok(id) => {
                prop_assert!(matches!(typ, Some("JWT" | "application/jwt")));
                prop_assert_eq!(claims.get("iss"), Some(&serde_json::json!("urn:props")));
                let aud = claims.get("aud").unwrap();
                prop_assert!(aud == "api" || aud.as_array().is_some_and(|a| a.contains(&"api".into())));
                prop_assert_eq!(claims.get("exp"), Some(&serde_json::json!(4_102_444_800_u64)));
                prop_assert!(claims.get("nbf").is_none_or(|n| n.as_u64().is_some_and(|n| n <= 4_000_000_000)));
                prop_assert_eq!(id.subject(), claims["sub"].as_str().unwrap());
            }
            Err(e) => {
                prop_assert_eq!(e.status(), 401, "{:?}", e);
                // Unchanged valid claims with an accepted type are never refused.
                prop_assert!(!(changes.is_empty() && matches!(typ, Some("JWT" | "application/jwt"))), "{:?}", e);
            }
        }
    }

    #[test]
    fn retry_after_rounds_up_to_a_whole_second(ms in any::<u32>()) {
        let d = Duration::from_millis(u64::from(ms));
        let s = retry_after_secs(d);
        prop_assert!(s >= 1 && Duration::from_secs(s) >= d);
        prop_assert!(Duration::from_secs(s - 1) < d.max(Duration::from_nanos(1)));
    }
}

// -------------------------------------------------------------- round trips

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn authorization_header_round_trip(
        scheme in token(),
        value in "[!-~]([ -~]{0,40}[!-~])?",
        pad in "[ \t]{0,3}",
        gap in " {1,3}",
    ) {
        let bearer = scheme.eq_ignore_ascii_case("bearer");
        prop_assume!(!bearer || is_b64token(value.as_bytes()));
        let header = format!("{pad}{scheme}{gap}{value}{pad}");
        let req = SimpleRequest::get("/").header("authorization", &header);
        let c = Credential::from_head(&req, &["authorization"]).unwrap();
        let a = c.authorization().unwrap();
        prop_assert_eq!(a.scheme(), scheme.as_str());
        prop_assert_eq!(a.value().expose(), value.as_bytes());
        prop_assert_eq!(c.bearer().is_some(), bearer);
    }

    #[test]
    fn bearer_b64token_round_trip(t in b64token()) {
        let req = SimpleRequest::get("/").header("authorization", format!("bEaReR {t}"));
        let c = Credential::from_head(&req, &["authorization"]).unwrap();
        prop_assert_eq!(c.bearer().unwrap().expose(), t.as_bytes());
    }

    #[test]
    fn api_key_header_round_trip(v in "[!-~]{1,60}", pad in "[ \t]{0,3}") {
        let req = SimpleRequest::get("/").header("X-Api-Key", format!("{pad}{v}{pad}"));
        let c = Credential::from_head(&req, &["authorization", "x-api-key"]).unwrap();
        prop_assert_eq!(c.header("x-api-key").unwrap().expose(), v.as_bytes());
    }

    #[test]
    fn challenge_render_then_parse_round_trip(
        scheme in token(),
        realm in "[ -~\u{a0}-\u{ff}]{1,20}",
        params in prop::collection::vec((token(), "[ -~]{0,20}"), 0..4),
    ) {
        let mut c = Challenge::new(scheme.clone());
        for (n, v) in &params {
            c = c.with_param(n.clone(), v.clone());
        }
        prop_assert!(c.is_valid());
        let rendered = c.render(&realm, &[("error", "insufficient_scope")]);
        let (s, parsed) = parse_challenge(&rendered).unwrap();
        prop_assert_eq!(s, scheme);
        let mut want = vec![("realm".to_owned(), realm.clone())];
        want.extend(params.iter().cloned());
        want.push(("error".to_owned(), "insufficient_scope".to_owned()));
        prop_assert_eq!(parsed, want);
        let mut quoted = String::new();
        push_quoted(&mut quoted, &realm);
        prop_assert!(rendered.contains(&quoted));
    }

    #[test]
    fn key_hash_hex_round_trip(key in prop::collection::vec(any::<u8>(), 0..64)) {
        let keys = key_hasher();
        let h = keys.hash(&key);
        let hex = h.to_hex();
        prop_assert_eq!(hex.len(), 64);
        prop_assert_eq!(KeyHash::from_hex(&hex), Some(h));
        prop_assert_eq!(KeyHash::from_hex(&hex.to_uppercase()), Some(h));
        let json = serde_json::to_string(&h).unwrap();
        prop_assert_eq!(serde_json::from_str::<KeyHash>(&json).unwrap(), h);
    }

    #[test]
    fn pepper_base64url_round_trip(bytes in prop::collection::vec(any::<u8>(), 32..80)) {
        let p = Pepper::from_secret(Secret::new(bytes)).unwrap();
        let text = p.to_base64url();
        let back = Pepper::from_base64url(text.expose_str().unwrap()).unwrap();
        let (a, b) = (ApiKeys::in_memory(p), ApiKeys::in_memory(back));
        prop_assert_eq!(a.hash(b"k"), b.hash(b"k"));
    }
}

fn key_hasher() -> &'static ApiKeys {
    static KEYS: OnceLock<ApiKeys> = OnceLock::new();
    KEYS.get_or_init(|| ApiKeys::in_memory(Pepper::generate()))
}

proptest! {
    // Each case issues keys (OS randomness, a store): fewer cases.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn api_key_generate_format_parse_round_trip(
        prefix in "[a-z]{2,8}",
        live in any::<bool>(),
        owner in any::<String>(),
        scopes in prop::collection::vec("[ -~]{0,12}", 0..4),
        at in any::<prop::sample::Index>(),
        with in "[A-Za-z0-9]",
    ) {
        let env = if live { Environment::Live } else { Environment::Test };
        let keys = ApiKeys::in_memory(Pepper::generate()).with_prefix(&prefix).unwrap();
        let (key, record) = block_on(keys.issue(NewKey::new(owner.clone(), env).scopes(scopes.clone()))).unwrap();
        let text = key.expose();
        let start = format!("{prefix}_{}_", env.as_str());
        prop_assert!(text.starts_with(&start), "{} does not start with {}", text, start);
        let parts = api_key::parse(text.as_bytes(), &prefix).unwrap();
        prop_assert_eq!(parts.id, record.id.as_str());
        prop_assert_eq!(parts.environment, env);
        prop_assert!(keys.recognises(text.as_bytes()));
        let found = block_on(keys.verify(text.as_bytes())).unwrap();
        prop_assert_eq!(&found.owner, &owner);
        prop_assert_eq!(&found.scopes, &scopes);
        // Under another prefix it is not a key.
        let other = if prefix == "zz" { "yy" } else { "zz" };
        prop_assert_eq!(api_key::parse(text.as_bytes(), other), Err(FormatError::Malformed));
        // One character changed after the prefix: never a key (CRC-32
        // catches every change of one byte, and the base62 checksum
        // keeps all 32 bits).
        let i = prefix.len() + 1 + at.index(text.len() - prefix.len() - 1);
        let mut bytes = text.as_bytes().to_vec();
        prop_assume!(bytes[i] != with.as_bytes()[0] && bytes[i] != b'_');
        bytes[i] = with.as_bytes()[0];
        prop_assert!(api_key::parse(&bytes, &prefix).is_err());
        prop_assert!(block_on(keys.verify(&bytes)).is_err());
    }

    #[test]
    fn key_record_serialize_deserialize_round_trip(
        owner in any::<String>(),
        scopes in prop::collection::vec(any::<String>(), 0..4),
        expires in prop::option::of(0u64..=253_402_300_799),
    ) {
        let keys = key_hasher();
        let mut new = NewKey::new(owner, Environment::Test).scopes(scopes);
        if let Some(s) = expires {
            new = new.expires_at(std::time::UNIX_EPOCH + Duration::from_secs(s));
        }
        let (_, record) = block_on(keys.issue(new)).unwrap();
        let json = serde_json::to_vec(&record).unwrap();
        let back: KeyRecord = serde_json::from_slice(&json).unwrap();
        prop_assert_eq!(&back, &record);
        prop_assert_eq!(back.expires_at, expires);
    }

    #[test]
    fn jwt_claims_round_trip(
        sub in any::<String>(),
        scopes in prop::collection::vec("[!-~]{1,10}", 0..4),
        roles in prop::collection::vec(any::<String>(), 0..3),
        client in prop::option::of(any::<String>()),
    ) {
        let mut claims = serde_json::json!({
            "iss": "urn:props", "aud": "api", "sub": sub, "exp": 4_102_444_800_u64,
            "scope": scopes.join(" "), "roles": roles,
        });
        if let Some(c) = &client {
            claims["client_id"] = c.clone().into();
        }
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some("JWT".to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(JWT_SECRET).unwrap()).unwrap();
        let id = block_on(jwt().verify(token.as_bytes())).unwrap();
        prop_assert_eq!(id.subject(), sub.as_str());
        // Scopes and roles are sets.
        prop_assert_eq!(id.scopes().collect::<BTreeSet<_>>(), scopes.iter().map(String::as_str).collect::<BTreeSet<_>>());
        prop_assert_eq!(id.roles().collect::<BTreeSet<_>>(), roles.iter().map(String::as_str).collect::<BTreeSet<_>>());
        prop_assert_eq!(id.client_id(), client.as_deref());
        prop_assert_eq!(id.claims().unwrap().get("sub"), Some(&serde_json::json!(sub)));
    }
}

proptest! {
    // Argon2 at its default parameters (as the authenticator requires):
    // each case hashes a dummy and every user's password once and checks
    // each pair once (the second login is a cache hit), so few cases.
    #![proptest_config(ProptestConfig::with_cases(12))]

    #[test]
    fn basic_encode_then_decode_round_trip(
        users in prop::collection::vec(
            ("[^:\\p{Cc}]{1,12}", "[^\\p{Cc}]{0,16}"),
            1..3,
        ),
    ) {
        let mut seen = std::collections::HashSet::new();
        let users: Vec<_> = users
            .into_iter()
            .filter(|(u, p)| {
                prepare_password(p).is_ok()
                    && prepare_username(u).is_ok_and(|prepared| seen.insert(prepared))
            })
            .collect();
        prop_assume!(!users.is_empty());
        let auth = BasicAuthenticator::builder()
            .users(users.iter().map(|(u, p)| BasicUser::new(u.clone(), hash_password(p).unwrap())))
            .insecure_allow_plaintext()
            .build()
            .unwrap();
        let g = Guard::builder(auth.clone()).build().unwrap();
        for (user, password) in &users {
            let header = format!("Basic {}", b64(format!("{user}:{password}").as_bytes()));
            let req = SimpleRequest::get("/").header("authorization", header);
            let id = block_on(g.check(&req)).unwrap().into_identity().unwrap();
            prop_assert_eq!(id.subject(), user.as_str());
            // The same pair in another Unicode normal form logs in too (as
            // the same cache entry: no second check).
            let nfd: String = unicode_normalization::UnicodeNormalization::nfd(password.as_str()).collect();
            let header = format!("Basic {}", b64(format!("{user}:{nfd}").as_bytes()));
            let req = SimpleRequest::get("/").header("authorization", header);
            prop_assert!(block_on(g.check(&req)).is_ok());
        }
        prop_assert_eq!(auth.verification_count(), users.len() as u64);
    }
}

// ---------------------------------------------- bugs these properties found
// (both fixed: the regression tests are named after what they found)

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `KeyHash::from_hex` accepts exactly 64 hex digits. It used
    /// `u8::from_str_radix` per pair, which also takes a sign: `"+f"` read as
    /// 0x0f, so 32 × `"+0"` was accepted as the all-zero hash (a
    /// non-canonical spelling of a hash in a key store file).
    #[test]
    fn key_hash_from_hex_accepts_only_hex_digits(
        s in prop::collection::vec(prop_oneof!["[0-9a-fA-F]{2}", "[+][0-9a-fA-F]"], 32)
            .prop_map(|pairs| pairs.concat())
    ) {
        let parsed = KeyHash::from_hex(&s);
        let all_hex = s.bytes().all(|b| b.is_ascii_hexdigit());
        prop_assert_eq!(parsed.is_some(), all_hex, "{}", s);
        if let Some(h) = parsed {
            prop_assert_eq!(h.to_hex(), s.to_ascii_lowercase());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Every header of a rejection can be sent, whatever it is built from:
    /// `Rejection::from_error` leaves out a challenge or an extra param that
    /// cannot be sent, and rendered the realm as it was given, so a realm
    /// with a line break split the `WWW-Authenticate` field. (The guard
    /// checks its realm at build; `from_error` is public.) Now a realm that
    /// cannot be sent leaves the challenges out.
    #[test]
    fn rejection_headers_never_carry_line_breaks(
        realm in any::<String>(),
        scheme in prop_oneof![Just("Bearer".to_owned()), token()],
        params in prop::collection::vec((token(), any::<String>()), 0..3),
    ) {
        let mut c = Challenge::new(scheme);
        for (n, v) in params {
            c = c.with_param(n, v);
        }
        let err = AuthError::new(AuthErrorKind::MissingCredentials);
        let r = Rejection::from_error(&err, &realm, &[c]);
        for (name, value) in r.headers() {
            prop_assert!(
                value.bytes().all(|b| b == b'\t' || b == b' ' || b.is_ascii_graphic()),
                "{}: {:?}",
                name,
                value
            );
        }
    }
}

// ------------------------------------------------------ client certificates

/// A real certificate's DER, made once (rcgen), to mutate.
fn leaf_der() -> &'static [u8] {
    static DER: OnceLock<Vec<u8>> = OnceLock::new();
    DER.get_or_init(|| {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params = rcgen::CertificateParams::new(vec!["a.test".to_owned()]).unwrap();
        params.subject_alt_names.push(rcgen::SanType::URI(
            "spiffe://demo.local/billing".try_into().unwrap(),
        ));
        params.self_signed(&key).unwrap().der().to_vec()
    })
}

fn mtls_guard() -> &'static Guard {
    use auth_core::mtls::{ForwardedCertificates, MtlsAuthenticator, MtlsRule};
    static G: OnceLock<Guard> = OnceLock::new();
    G.get_or_init(|| {
        let mtls = MtlsAuthenticator::builder()
            .rule(MtlsRule::prefix("spiffe://demo.local/"))
            .build()
            .unwrap();
        Guard::builder(mtls)
            .forwarded_certificates(ForwardedCertificates::client_cert(
                auth_core::TrustedProxies::new(["127.0.0.1"]).unwrap(),
            ))
            .build()
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Certificates, `Client-Cert` and XFCC values: any bytes give an
    /// answer, never a panic; the real certificate, corrupted anywhere,
    /// too; and whatever a trusted proxy forwards is a 200 or a 401.
    #[test]
    fn certificate_parsers_never_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..256),
        at in any::<prop::sample::Index>(),
        flip in 1u8..=255,
        cut in any::<prop::sample::Index>(),
    ) {
        use auth_core::mtls::{PeerCertificate, decode_client_cert, decode_xfcc};
        let _ = PeerCertificate::from_der(&bytes);
        let _ = decode_client_cert(&bytes);
        let _ = decode_xfcc(&bytes);
        let mut der = leaf_der().to_vec();
        let i = at.index(der.len());
        der[i] ^= flip;
        der.truncate(cut.index(der.len() + 1).max(1));
        let _ = PeerCertificate::from_der(&der);
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        let headers = [
            format!(":{b64}:"),
            format!("Cert=\"-----BEGIN%20CERTIFICATE-----%0A{b64}%0A-----END%20CERTIFICATE-----\""),
            String::from_utf8_lossy(&bytes).into_owned(),
        ];
        for value in &headers {
            let _ = decode_xfcc(value.as_bytes());
            let req = SimpleRequest::get("/")
                .peer("127.0.0.1:1".parse().unwrap())
                .header("client-cert", value.as_bytes());
            match block_on(mtls_guard().check(&req)) {
                Ok(d) => prop_assert!(d.identity().is_some()),
                Err(r) => prop_assert_eq!(r.status(), 401),
            }
        }
    }
}
