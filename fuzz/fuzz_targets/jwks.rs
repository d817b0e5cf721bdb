//! JWKS documents and single JWKs, through the public builder
//! (`IssuerBuilder::jwks_document`, `IssuerBuilder::jwk`), which parse them
//! as a fetched JWKS is; every key that builds is then handed a token of
//! each asymmetric algorithm with a garbage signature, which must be
//! refused.
#![no_main]

use auth_core::jwt::{Issuer, JwtAuthenticator};
use auth_core_fuzz::{b64url, block_on};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;

const ALGS: [&str; 6] = ["ES256", "ES384", "RS256", "PS256", "EdDSA", "HS256"];

fn try_build(issuer: auth_core::jwt::IssuerBuilder) {
    let Ok(auth) = JwtAuthenticator::builder().issuer(issuer).build() else {
        return;
    };
    let claims = b64url(br#"{"iss":"urn:fuzz:jwks","sub":"s","exp":4102444800,"aud":"a"}"#);
    for alg in ALGS {
        let header = b64url(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#).as_bytes());
        for sig in ["c2ln", "AAAA", &"A".repeat(342)] {
            let token = format!("{header}.{claims}.{sig}");
            let r = block_on(auth.verify(token.as_bytes()));
            assert!(r.is_err(), "a garbage signature verified with {alg}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let issuer = || {
        Issuer::new("urn:fuzz:jwks")
            .any_audience()
            .token_types(["JWT"])
    };
    try_build(issuer().jwks_document(text));
    try_build(
        issuer()
            .algorithms([Algorithm::ES256, Algorithm::RS256])
            .jwks_document(text),
    );
    try_build(issuer().jwk(text));
});
