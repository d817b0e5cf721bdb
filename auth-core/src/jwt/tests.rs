//! Unit tests of the JWT authenticator with static keys.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;

use super::*;
use crate::{AuthMethod, Guard, Secret, SimpleRequest};

struct Es256 {
    encoding: EncodingKey,
    public_pem: String,
}

fn es256() -> Es256 {
    let kp = rcgen::KeyPair::generate().unwrap();
    Es256 {
        encoding: EncodingKey::from_ec_pem(kp.serialize_pem().as_bytes()).unwrap(),
        public_pem: kp.public_key_pem(),
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn access_claims(iss: &str) -> serde_json::Value {
    json!({
        "iss": iss, "aud": "api", "sub": "user-1", "client_id": "c1",
        "iat": now(), "exp": now() + 600, "jti": format!("j-{}", rand_jti()),
        "scope": "read write"
    })
}

/// The issuer of [`one_issuer`] and of `setup`'s ES256 tokens.
const A: &str = "https://a.example";

fn rand_jti() -> u64 {
    use rand::Rng as _;
    crate::secret::os_rng().next_u64()
}

/// An authenticator builder trusting only `https://a.example`, with `a`'s
/// public key as `a1`.
fn one_issuer(a: &Es256) -> JwtAuthenticatorBuilder {
    JwtAuthenticator::builder().issuer(
        Issuer::new("https://a.example").audience("api").key(
            JwtKey::from_pem(a.public_pem.as_bytes(), Algorithm::ES256)
                .unwrap()
                .with_kid("a1"),
        ),
    )
}

/// An ES256 access token from `a` (kid `a1`).
fn es_token(a: &Es256, claims: &serde_json::Value) -> String {
    sign(
        claims,
        &header(Algorithm::ES256, "a1", "at+jwt"),
        &a.encoding,
    )
}

fn header(alg: Algorithm, kid: &str, typ: &str) -> Header {
    let mut h = Header::new(alg);
    h.kid = Some(kid.to_owned());
    h.typ = Some(typ.to_owned());
    h
}

fn sign(claims: &serde_json::Value, h: &Header, key: &EncodingKey) -> String {
    encode(h, claims, key).unwrap()
}

fn setup() -> (JwtAuthenticator, Es256, Secret) {
    let a = es256();
    let secret = Secret::new(vec![7u8; 32]);
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("https://a.example")
                .audience("api")
                .key(
                    JwtKey::from_pem(a.public_pem.as_bytes(), Algorithm::ES256)
                        .unwrap()
                        .with_kid("a1"),
                )
                .roles_claim("roles"),
        )
        .issuer(
            Issuer::new("urn:internal")
                .audience("api")
                .key(
                    JwtKey::hmac(&secret, Algorithm::HS256)
                        .unwrap()
                        .with_kid("h1"),
                )
                .token_types(["JWT", "at+jwt"]),
        )
        .build()
        .unwrap();
    (jwt, a, secret)
}

async fn check(jwt: &JwtAuthenticator, token: &str) -> Result<Identity, AuthError> {
    jwt.verify(token.as_bytes()).await
}

#[test]
fn builder_refuses_unsafe_configurations() {
    let a = es256();
    let key = || JwtKey::from_pem(a.public_pem.as_bytes(), Algorithm::ES256).unwrap();
    assert!(JwtAuthenticator::builder().build().is_err(), "no issuer");
    let no_aud = JwtAuthenticator::builder()
        .issuer(Issuer::new("i").key(key()))
        .build();
    assert!(no_aud.is_err(), "audience is required");
    let no_keys = JwtAuthenticator::builder()
        .issuer(Issuer::new("i").audience("a"))
        .build();
    assert!(no_keys.is_err(), "keys are required");
    let wrong_alg = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("i")
                .audience("a")
                .algorithms([Algorithm::RS256])
                .key(key()),
        )
        .build();
    assert!(wrong_alg.is_err(), "key bound outside the allow-list");
    let twice = JwtAuthenticator::builder()
        .issuer(Issuer::new("i").audience("a").key(key()))
        .issuer(Issuer::new("i").audience("a").key(key()))
        .build();
    assert!(twice.is_err());
    let bad_jwk = JwtAuthenticator::builder()
        .issuer(
            Issuer::new("i")
                .audience("a")
                .jwk("{\"kty\":\"oct\",\"alg\":\"HS256\",\"k\":\"c2hvcnQ\"}"),
        )
        .build();
    assert!(bad_jwk.is_err(), "a short oct JWK");
    assert!(
        JwtAuthenticator::builder()
            .issuer(Issuer::new("i").any_audience().key(key()))
            .build()
            .is_ok()
    );
}

#[tokio::test]
async fn access_token_happy_path_and_identity() {
    let (jwt, a, _) = setup();
    let mut claims = access_claims("https://a.example");
    claims["roles"] = json!(["admin", "ops"]);
    claims["cnf"] = json!({"x5t#S256": "abc"});
    claims["act"] = json!({"sub": "svc-b", "act": {"sub": "svc-c"}});
    let t = es_token(&a, &claims);
    let id = check(&jwt, &t).await.unwrap();
    assert_eq!(id.subject(), "user-1");
    assert_eq!(id.method(), AuthMethod::Jwt);
    assert!(id.has_scope("read") && id.has_scope("write"));
    assert!(id.has_role("ops"));
    assert_eq!(id.client_id(), Some("c1"));
    assert_eq!(id.cert_thumbprint(), Some("abc"));
    assert_eq!(id.actors(), ["svc-b", "svc-c"]);
    assert_eq!(id.claims().unwrap()["aud"], "api");
    let exp = claims["exp"].as_u64().unwrap();
    assert_eq!(id.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(exp)));
    // `application/at+jwt` is the same type.
    let t = sign(
        &access_claims("https://a.example"),
        &header(Algorithm::ES256, "a1", "application/at+jwt"),
        &a.encoding,
    );
    assert!(check(&jwt, &t).await.is_ok());
}

#[tokio::test]
async fn refusals() {
    let (jwt, a, secret) = setup();
    let hs = EncodingKey::from_secret(secret.expose()).unwrap();
    let es = |c: &serde_json::Value| es_token(&a, c);
    let with = |k: &str, v: serde_json::Value| {
        let mut c = access_claims("https://a.example");
        c[k] = v;
        c
    };
    let without = |k: &str| {
        let mut c = access_claims("https://a.example");
        c.as_object_mut().unwrap().remove(k);
        c
    };
    let other = es256();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "wrong aud",
            es(&with("aud", json!("other"))),
            "wrong_audience",
        ),
        (
            "expired",
            es(&with("exp", json!(now() - 3600))),
            "token_expired",
        ),
        (
            "nbf in the future",
            es(&with("nbf", json!(now() + 3600))),
            "token_not_yet_valid",
        ),
        (
            "iat in the future",
            es(&with("iat", json!(now() + 3600))),
            "issued_in_future",
        ),
        (
            "exp as a string",
            es(&with("exp", json!("9999999999"))),
            "bad_claim_type",
        ),
        (
            "missing jti (RFC 9068)",
            es(&without("jti")),
            "missing_claim",
        ),
        ("missing exp", es(&without("exp")), "missing_claim"),
        (
            "unknown issuer",
            es(&with("iss", json!("https://evil.example"))),
            "unknown_issuer",
        ),
        (
            "wrong typ",
            sign(
                &access_claims("https://a.example"),
                &header(Algorithm::ES256, "a1", "JWT"),
                &a.encoding,
            ),
            "wrong_typ",
        ),
        (
            "no typ",
            {
                let mut h = header(Algorithm::ES256, "a1", "x");
                h.typ = None;
                sign(&access_claims("https://a.example"), &h, &a.encoding)
            },
            "wrong_typ",
        ),
        (
            "signed by another key",
            sign(
                &access_claims("https://a.example"),
                &header(Algorithm::ES256, "a1", "at+jwt"),
                &other.encoding,
            ),
            "bad_signature",
        ),
        (
            "unknown kid",
            sign(
                &access_claims("https://a.example"),
                &header(Algorithm::ES256, "zz", "at+jwt"),
                &a.encoding,
            ),
            "unknown_kid",
        ),
        // Issuer A's claims, signed with issuer B's (HMAC) key: A allows no HS256.
        (
            "issuer A signed by B's key",
            sign(
                &access_claims("https://a.example"),
                &header(Algorithm::HS256, "h1", "at+jwt"),
                &hs,
            ),
            "alg_not_allowed",
        ),
    ];
    for (name, token, reason) in cases {
        let err = check(&jwt, &token).await.unwrap_err();
        assert_eq!(err.reason(), reason, "{name}");
        assert_eq!(err.status(), 401, "{name}");
        assert_eq!(
            err.challenge(),
            Some(&Challenge::bearer_error("invalid_token")),
            "{name}"
        );
    }
}

#[tokio::test]
async fn second_issuer_with_its_own_rules() {
    let (jwt, _, secret) = setup();
    let hs = EncodingKey::from_secret(secret.expose()).unwrap();
    let claims = json!({"iss": "urn:internal", "aud": "api", "sub": "job", "exp": now() + 60});
    let t = sign(&claims, &header(Algorithm::HS256, "h1", "JWT"), &hs);
    assert_eq!(check(&jwt, &t).await.unwrap().subject(), "job");
    // Its claims, but an ES256 header naming its HMAC key: the alg must match the key.
    let mut h = header(Algorithm::HS384, "h1", "JWT");
    h.alg = Algorithm::HS384;
    let long = EncodingKey::from_secret(&[7u8; 48]).unwrap();
    let t = sign(&claims, &h, &long);
    assert_eq!(
        check(&jwt, &t).await.unwrap_err().reason(),
        "alg_not_allowed"
    );
}

#[tokio::test]
async fn cache_skips_signature_work_and_honours_revocation() {
    let (jwt, a, _) = setup();
    let claims = access_claims("https://a.example");
    let t = es_token(&a, &claims);
    for _ in 0..10 {
        check(&jwt, &t).await.unwrap();
    }
    assert_eq!(
        jwt.signature_checks(),
        1,
        "one verification, then cache hits"
    );
    let jti = claims["jti"].as_str().unwrap();
    jwt.revoke(A, jti, SystemTime::now() + Duration::from_secs(600))
        .await
        .unwrap();
    let err = check(&jwt, &t).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RevokedCredentials);
    assert_eq!(err.status(), 401);
    // Refused tokens are never cached.
    let bad = es_token(&a, &json!({"iss": "https://a.example"}));
    let before = jwt.signature_checks();
    for _ in 0..3 {
        assert!(check(&jwt, &bad).await.is_err());
    }
    assert_eq!(jwt.signature_checks() - before, 3);
}

/// Forwards to a [`MemoryRevocations`], counting lookups; with `counted`
/// false it hides the store's revocation count.
struct Lookups {
    store: MemoryRevocations,
    counted: bool,
    lookups: std::sync::atomic::AtomicUsize,
}

impl RevocationStore for Lookups {
    fn revoke<'a>(
        &'a self,
        iss: &'a str,
        jti: &'a str,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<(), crate::StoreError>> {
        self.store.revoke(iss, jti, until)
    }
    fn is_revoked<'a>(
        &'a self,
        iss: &'a str,
        jti: &'a str,
    ) -> BoxFuture<'a, Result<bool, crate::StoreError>> {
        self.lookups
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.store.is_revoked(iss, jti)
    }
    fn revocations(&self) -> Option<u64> {
        if self.counted {
            self.store.revocations()
        } else {
            None
        }
    }
}

fn with_store(a: &Es256, counted: bool) -> (JwtAuthenticator, Arc<Lookups>) {
    let store = Arc::new(Lookups {
        store: MemoryRevocations::new(),
        counted,
        lookups: std::sync::atomic::AtomicUsize::new(0),
    });
    let jwt = one_issuer(a).revocations(store.clone()).build().unwrap();
    (jwt, store)
}

#[tokio::test]
async fn cache_hits_look_up_revocations_only_after_one() {
    let a = es256();
    let (jwt, store) = with_store(&a, true);
    let lookups = || store.lookups.load(std::sync::atomic::Ordering::Relaxed);
    let claims = access_claims("https://a.example");
    let t = es_token(&a, &claims);
    for _ in 0..5 {
        check(&jwt, &t).await.unwrap();
    }
    assert_eq!(
        lookups(),
        1,
        "looked up when verified; hits trust the count"
    );
    // Another token is revoked: the next hit looks again, once.
    let until = SystemTime::now() + Duration::from_secs(600);
    jwt.revoke(A, "someone-else", until).await.unwrap();
    for _ in 0..5 {
        check(&jwt, &t).await.unwrap();
    }
    assert_eq!(lookups(), 2);
    // This one is revoked: refused from the cache.
    jwt.revoke(A, claims["jti"].as_str().unwrap(), until)
        .await
        .unwrap();
    let err = check(&jwt, &t).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RevokedCredentials);
    assert_eq!(jwt.signature_checks(), 1, "all of it from the cache");
}

#[tokio::test]
async fn a_store_without_a_count_is_asked_on_every_hit() {
    let a = es256();
    let (jwt, store) = with_store(&a, false);
    let claims = access_claims("https://a.example");
    let t = es_token(&a, &claims);
    for _ in 0..5 {
        check(&jwt, &t).await.unwrap();
    }
    assert_eq!(store.lookups.load(std::sync::atomic::Ordering::Relaxed), 5);
    jwt.revoke(
        A,
        claims["jti"].as_str().unwrap(),
        SystemTime::now() + Duration::from_secs(600),
    )
    .await
    .unwrap();
    let err = check(&jwt, &t).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RevokedCredentials);
}

#[tokio::test]
async fn a_cached_tokens_signature_on_other_bytes_is_verified_afresh() {
    let (jwt, a, _) = setup();
    let claims = access_claims("https://a.example");
    let t = es_token(&a, &claims);
    check(&jwt, &t).await.unwrap();
    let (_, signature) = t.rsplit_once('.').unwrap();
    let mut forged_claims = claims.clone();
    forged_claims["sub"] = json!("admin");
    let forged = es_token(&a, &forged_claims);
    let (forged_input, _) = forged.rsplit_once('.').unwrap();
    let swapped = format!("{forged_input}.{signature}");
    let err = check(&jwt, &swapped).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::InvalidCredentials);
    assert_eq!(
        jwt.signature_checks(),
        2,
        "verified, not served from the cache"
    );
    assert_eq!(check(&jwt, &t).await.unwrap().subject(), "user-1");
    assert_eq!(jwt.signature_checks(), 2, "the honest token still cached");
}

#[tokio::test]
async fn a_cached_token_is_not_served_past_its_exp() {
    let a = es256();
    let jwt = one_issuer(&a).leeway(Duration::ZERO).build().unwrap();
    let mut claims = access_claims("https://a.example");
    let exp = now() + 1;
    claims["exp"] = json!(exp);
    let t = es_token(&a, &claims);
    check(&jwt, &t).await.unwrap();
    check(&jwt, &t).await.unwrap();
    assert_eq!(
        jwt.signature_checks(),
        1,
        "the second check was a cache hit"
    );
    let sleep_until = |at: SystemTime| async move {
        if let Ok(wait) = at.duration_since(SystemTime::now()) {
            tokio::time::sleep(wait).await;
        }
    };
    let exp_at = UNIX_EPOCH + Duration::from_secs(exp);
    // Within `exp`'s second the token is still valid (RFC 7519 compares whole
    // seconds), but the cache entry is gone: it is verified afresh.
    sleep_until(exp_at + Duration::from_millis(100)).await;
    if SystemTime::now() < exp_at + Duration::from_millis(900) {
        check(&jwt, &t).await.unwrap();
        assert_eq!(jwt.signature_checks(), 2, "not served from the cache");
    }
    sleep_until(exp_at + Duration::from_millis(1100)).await;
    let err = check(&jwt, &t).await.unwrap_err();
    assert_eq!(err.reason(), "token_expired");
}

#[tokio::test]
async fn through_the_guard_with_challenges() {
    let (jwt, a, _) = setup();
    let guard = Guard::builder(jwt).realm("r").build().unwrap();
    let mut claims = access_claims("https://a.example");
    claims["aud"] = json!("elsewhere");
    let t = es_token(&a, &claims);
    let req = SimpleRequest::get("/").header("authorization", format!("Bearer {t}"));
    let r = guard.check(&req).await.unwrap_err();
    assert_eq!(
        r.header_values("www-authenticate").collect::<Vec<_>>(),
        ["Bearer realm=\"r\", error=\"invalid_token\""]
    );
    assert!(!String::from_utf8_lossy(r.body()).contains(&t));
}

/// A validly signed token whose times overflow a `SystemTime`: refused as an
/// invalid token, never a panic (`exp` of 2^63 used to panic the handler).
#[tokio::test]
async fn signed_times_past_year_9999_are_refused() {
    let (jwt, a, _) = setup();
    for (claim, t) in [
        ("exp", u64::MAX),
        ("exp", 1u64 << 63),
        ("exp", super::validate::MAX_TIME + 1),
        ("nbf", u64::MAX),
        ("iat", 1u64 << 63),
    ] {
        let mut claims = access_claims("https://a.example");
        claims[claim] = json!(t);
        let err = check(&jwt, &es_token(&a, &claims)).await.unwrap_err();
        assert_eq!(err.reason(), "time_out_of_range", "{claim}={t}");
        assert_eq!(err.status(), 401);
        assert_eq!(
            err.challenge(),
            Some(&Challenge::bearer_error("invalid_token"))
        );
    }
    // The last second of 9999 is a time like any other.
    let mut claims = access_claims("https://a.example");
    claims["exp"] = json!(super::validate::MAX_TIME);
    let id = check(&jwt, &es_token(&a, &claims)).await.unwrap();
    assert_eq!(id.subject(), "user-1");
}

/// `aud` as a list: accepted when it names this audience, refused otherwise.
#[tokio::test]
async fn audience_lists() {
    let (jwt, a, _) = setup();
    let mut claims = access_claims("https://a.example");
    claims["aud"] = json!(["other", "api"]);
    let id = check(&jwt, &es_token(&a, &claims)).await.unwrap();
    assert_eq!(id.subject(), "user-1");
    claims["aud"] = json!(["other", "more"]);
    let err = check(&jwt, &es_token(&a, &claims)).await.unwrap_err();
    assert_eq!(err.status(), 401);
    claims["aud"] = json!(["api", 7]);
    let err = check(&jwt, &es_token(&a, &claims)).await.unwrap_err();
    assert_eq!(err.reason(), "bad_claim_type");
}

#[tokio::test]
async fn a_revocation_lasts_through_the_leeway_after_exp() {
    let (jwt, a, _) = setup();
    // Expired 10 s ago: still accepted within the 30 s leeway.
    let mut claims = access_claims(A);
    claims["exp"] = json!(now() - 10);
    let t = es_token(&a, &claims);
    check(&jwt, &t).await.unwrap();
    let exp = UNIX_EPOCH + Duration::from_secs(now() - 10);
    jwt.revoke(A, claims["jti"].as_str().unwrap(), exp)
        .await
        .unwrap();
    let err = check(&jwt, &t).await.unwrap_err();
    assert_eq!(err.kind(), AuthErrorKind::RevokedCredentials);
}

#[tokio::test]
async fn revocations_are_keyed_by_issuer_and_jti() {
    let (jwt, a, secret) = setup();
    let es = access_claims(A);
    let mut internal = es.clone();
    internal["iss"] = json!("urn:internal");
    let key = EncodingKey::from_secret(secret.expose()).unwrap();
    let hs = sign(&internal, &header(Algorithm::HS256, "h1", "at+jwt"), &key);
    let es = es_token(&a, &es);
    check(&jwt, &es).await.unwrap();
    check(&jwt, &hs).await.unwrap();
    // The same jti, revoked at the internal issuer only.
    let until = SystemTime::now() + Duration::from_secs(600);
    jwt.revoke("urn:internal", internal["jti"].as_str().unwrap(), until)
        .await
        .unwrap();
    assert_eq!(
        check(&jwt, &hs).await.unwrap_err().kind(),
        AuthErrorKind::RevokedCredentials
    );
    check(&jwt, &es).await.unwrap();
}

#[tokio::test]
async fn a_full_revocation_store_refuses_rather_than_forgets() {
    let a = es256();
    let store = Arc::new(MemoryRevocations::with_capacity(2));
    let jwt = one_issuer(&a).revocations(store).build().unwrap();
    let tokens: Vec<_> = (0..3).map(|_| access_claims(A)).collect();
    let until = SystemTime::now() + Duration::from_secs(600);
    for c in &tokens[..2] {
        jwt.revoke(A, c["jti"].as_str().unwrap(), until)
            .await
            .unwrap();
    }
    let full = jwt
        .revoke(A, tokens[2]["jti"].as_str().unwrap(), until)
        .await
        .unwrap_err();
    assert_eq!(full.kind(), crate::StoreErrorKind::Full);
    let refused = AuthError::from(full);
    assert_eq!(refused.status(), 503);
    // Nothing was evicted: both earlier revocations hold.
    for c in &tokens[..2] {
        let err = check(&jwt, &es_token(&a, c)).await.unwrap_err();
        assert_eq!(err.kind(), AuthErrorKind::RevokedCredentials);
    }
    // Revoking one of them again is no new entry: fine.
    jwt.revoke(A, tokens[0]["jti"].as_str().unwrap(), until)
        .await
        .unwrap();
}

#[tokio::test]
async fn required_claims_cannot_make_the_audience_optional() {
    let a = es256();
    let jwt = JwtAuthenticator::builder()
        .issuer(
            Issuer::new(A)
                .audience("api")
                .required_claims(["iss", "exp", "sub"])
                .key(
                    JwtKey::from_pem(a.public_pem.as_bytes(), Algorithm::ES256)
                        .unwrap()
                        .with_kid("a1"),
                ),
        )
        .build()
        .unwrap();
    let mut claims = access_claims(A);
    check(&jwt, &es_token(&a, &claims)).await.unwrap();
    claims.as_object_mut().unwrap().remove("aud");
    let err = check(&jwt, &es_token(&a, &claims)).await.unwrap_err();
    assert_eq!(err.status(), 401);
    claims["aud"] = json!("another-service");
    let err = check(&jwt, &es_token(&a, &claims)).await.unwrap_err();
    assert_eq!(err.status(), 401);
}
