//! JWT: `jsonwebtoken::decode_header`, and `JwtAuthenticator::verify` on
//! (a) the input as a token and (b), when the input holds a NUL byte,
//! `header JSON \0 claims JSON` signed with the issuers' HMAC secret, so
//! that the claims checks (types, `exp`/`nbf`/`iat`, `aud`, `iss`, `typ`,
//! required claims, revocation, the identity mapping, the verified-token
//! cache) see arbitrary JSON behind a valid signature.
#![no_main]

use std::time::{SystemTime, UNIX_EPOCH};

use auth_core::Identity;
use auth_core_fuzz::{ISSUER, ISSUER_AT, ISSUER_EC, REVOKED_JTI, block_on, jwt, sign_hs256};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn aud_has_api(aud: Option<&Value>) -> bool {
    match aud {
        Some(Value::String(s)) => s == "api",
        Some(Value::Array(a)) => a.iter().any(|v| v.as_str() == Some("api")),
        _ => false,
    }
}

/// What an accepted token must be.
fn check_accepted(id: &Identity) {
    let claims = id.claims().expect("a JWT identity carries its claims");
    let iss = claims.get("iss").and_then(Value::as_str).expect("iss");
    assert!([ISSUER, ISSUER_AT, ISSUER_EC].contains(&iss), "iss {iss}");
    if iss != ISSUER_EC {
        assert!(
            aud_has_api(claims.get("aud")),
            "aud {:?}",
            claims.get("aud")
        );
    }
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let exp = claims.get("exp").and_then(Value::as_u64).expect("exp");
    assert!(exp + 30 >= now, "expired: {exp}");
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_u64) {
        assert!(nbf <= now + 30, "not yet valid: {nbf}");
    }
    assert_ne!(claims.get("jti").and_then(Value::as_str), Some(REVOKED_JTI));
    assert_eq!(
        id.subject(),
        claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default()
    );
}

fn verify(token: &[u8]) {
    let auth = jwt();
    let first = block_on(auth.verify(token));
    match &first {
        Ok(id) => check_accepted(id),
        Err(e) => assert_eq!(e.status(), 401, "{e:?}"),
    }
    // Again: now from the verified-token cache when it passed.
    let second = block_on(auth.verify(token));
    match (&first, &second) {
        (Ok(a), Ok(b)) => assert_eq!(a.subject(), b.subject()),
        (Err(a), Err(b)) => assert_eq!(a.reason(), b.reason()),
        _ => panic!("the cache changed the answer: {first:?} then {second:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = jsonwebtoken::decode_header(text);
    }
    verify(data);
    if let Some(nul) = data.iter().position(|b| *b == 0) {
        let (header, claims) = data.split_at(nul);
        let token = sign_hs256(header, &claims[1..]);
        verify(token.as_bytes());
    }
});
