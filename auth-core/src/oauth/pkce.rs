//! PKCE (RFC 7636) with the `S256` method only.
//!
//! `plain` is refused: it protects nothing against an attacker who can read
//! the authorization request, which is the attack PKCE exists for
//! (RFC 9700 §2.1.1). A missing challenge is refused too: every client uses
//! PKCE.
//!
//! ```
//! use auth_core::oauth::pkce;
//!
//! // RFC 7636 Appendix B.
//! let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
//! let challenge = pkce::s256_challenge(verifier);
//! assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
//! assert!(pkce::verify(verifier, &challenge).is_ok());
//!
//! // Another verifier does not redeem the code.
//! let err = pkce::verify(&pkce::new_verifier(), &challenge).unwrap_err();
//! assert_eq!(err.kind().as_str(), "invalid_grant");
//! // Neither `plain` nor a missing method is accepted in the authorization request.
//! assert!(pkce::check_request(Some(&challenge), Some("S256")).is_ok());
//! assert!(pkce::check_request(Some(verifier), Some("plain")).is_err());
//! assert!(pkce::check_request(Some(&challenge), None).is_err());
//! ```

use base64::Engine as _;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::{OAuthError, OAuthErrorCode};

/// `BASE64URL(SHA256(ASCII(verifier)))`, unpadded.
pub fn s256_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Z] / [a-z] / [0-9] / "-" /
/// "." / "_" / "~"`.
pub fn is_valid_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

/// The challenge and method of an authorization request, checked: `S256`
/// and a 43-character base64url challenge (the length of a SHA-256 digest).
/// A missing method means `plain` (RFC 7636 §4.3) and is refused.
pub fn check_request(challenge: Option<&str>, method: Option<&str>) -> Result<String, OAuthError> {
    let Some(challenge) = challenge else {
        return Err(OAuthError::invalid_request(
            "code_challenge is required (PKCE with S256)",
        ));
    };
    if method != Some("S256") {
        return Err(OAuthError::invalid_request(
            "code_challenge_method must be S256",
        ));
    }
    let well_formed = challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !well_formed {
        return Err(OAuthError::invalid_request(
            "code_challenge is not an S256 challenge",
        ));
    }
    Ok(challenge.to_owned())
}

/// Checks the token request's `code_verifier` against the challenge bound
/// to the code, in constant time. Any failure is `invalid_grant`.
pub fn verify(verifier: &str, challenge: &str) -> Result<(), OAuthError> {
    if !is_valid_verifier(verifier) {
        return Err(OAuthError::new(
            OAuthErrorCode::InvalidGrant,
            "the code_verifier is malformed",
        ));
    }
    let computed = s256_challenge(verifier);
    if computed.as_bytes().ct_eq(challenge.as_bytes()).into() {
        Ok(())
    } else {
        Err(OAuthError::new(
            OAuthErrorCode::InvalidGrant,
            "the code_verifier does not match the code_challenge",
        ))
    }
}

/// A new random verifier (64 characters, 384 bits) for clients and tests.
pub fn new_verifier() -> String {
    use rand::Rng as _;
    let mut bytes = [0u8; 48];
    crate::secret::os_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const B_VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
    const B_CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";

    #[test]
    fn rfc7636_appendix_b() {
        assert_eq!(s256_challenge(B_VERIFIER), B_CHALLENGE);
        assert!(verify(B_VERIFIER, B_CHALLENGE).is_ok());
    }

    #[test]
    fn verifiers_are_checked_for_form_and_match() {
        assert!(is_valid_verifier(&"a".repeat(43)));
        assert!(is_valid_verifier(&"a".repeat(128)));
        assert!(!is_valid_verifier(&"a".repeat(42)));
        assert!(!is_valid_verifier(&"a".repeat(129)));
        assert!(!is_valid_verifier(&format!("{}+", "a".repeat(42))));
        assert!(is_valid_verifier(&format!("{}-._~", "a".repeat(40))));
        let other = new_verifier();
        assert!(is_valid_verifier(&other));
        assert_ne!(other, new_verifier());
        let e = verify(&other, B_CHALLENGE).unwrap_err();
        assert_eq!(e.kind(), OAuthErrorCode::InvalidGrant);
        // A malformed verifier whose hash would match is still refused.
        let short = "abc";
        assert!(verify(short, &s256_challenge(short)).is_err());
        // The challenge itself, or nothing, is not a verifier of it.
        assert!(verify(B_CHALLENGE, B_CHALLENGE).is_err());
        assert!(verify("", B_CHALLENGE).is_err());
    }

    #[test]
    fn only_s256_challenges_are_accepted() {
        assert_eq!(
            check_request(Some(B_CHALLENGE), Some("S256"))
                .ok()
                .as_deref(),
            Some(B_CHALLENGE)
        );
        for (c, m) in [
            (None, Some("S256")),
            (None, None),
            (Some(B_CHALLENGE), None),
            (Some(B_CHALLENGE), Some("plain")),
            (Some(B_CHALLENGE), Some("s256")),
            (Some("short"), Some("S256")),
            (Some(&format!("{}=", &B_CHALLENGE[..42])[..]), Some("S256")),
            (Some(&format!("{B_CHALLENGE}A")[..]), Some("S256")),
        ] {
            let e = check_request(c, m).unwrap_err();
            assert_eq!(e.kind(), OAuthErrorCode::InvalidRequest, "{c:?} {m:?}");
        }
    }
}
