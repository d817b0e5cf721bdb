//! What is checked before any signature work: size, syntax, the header
//! (`alg`, `kid`, `typ`, `crit`) and the JSON types of the claims.

use std::str::FromStr;

use base64::Engine as _;
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};

use super::keys::valid_kid;

/// A refusal reason code and its problem detail.
pub(crate) type Refusal = (&'static str, &'static str);

/// The parts of a token read before verification.
#[derive(Debug)]
pub(crate) struct Unverified {
    pub(crate) alg: Algorithm,
    pub(crate) kid: Option<String>,
    pub(crate) typ: Option<String>,
    pub(crate) iss: String,
}

/// Which bytes may appear in a base64url segment.
// A 256-entry table indexed by a byte: every index is in bounds.
#[allow(clippy::indexing_slicing)]
const B64URL_CHARS: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 256 {
        let b = i as u8;
        t[i] = b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        i += 1;
    }
    t
};

/// Whether a bearer token is meant as a JWT: two dots, as a JWS compact
/// serialisation has. (The charset was checked with the RFC 6750 syntax;
/// [`inspect`] checks the base64url alphabet before any verification.)
pub(crate) fn is_jwt_shaped(token: &[u8]) -> bool {
    // Counted per 64-byte chunk in a u8 (vectorises well); the chunk sums are
    // at most 64, so neither count can overflow before the early exit.
    let mut dots = 0usize;
    for chunk in token.chunks(64) {
        dots += usize::from(chunk.iter().map(|b| u8::from(*b == b'.')).sum::<u8>());
        if dots > 2 {
            return false;
        }
    }
    dots == 2
}

/// Whether `token` has the shape of a JWS compact serialisation: three
/// base64url segments.
pub(crate) fn looks_like_jwt(token: &[u8]) -> bool {
    is_jwt_shaped(token)
        && token
            .iter()
            .all(|b| *b == b'.' || in_table(&B64URL_CHARS, *b))
}

fn b64_json(segment: &[u8], what: Refusal) -> Result<Map<String, Value>, Refusal> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(segment)
        .map_err(|_| what)?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(what),
    }
}

/// Normalises a `typ` value: case-insensitive, `application/` optional
/// (RFC 7515 §4.1.9).
pub(crate) fn normalise_typ(typ: &str) -> String {
    let lower = typ.to_ascii_lowercase();
    lower
        .strip_prefix("application/")
        .map_or(lower.clone(), str::to_owned)
}

/// Reads and checks the header and the claims' JSON types.
pub(crate) fn inspect(token: &[u8], max_len: usize) -> Result<Unverified, Refusal> {
    if token.len() > max_len {
        return Err(("token_too_large", "the token is too large"));
    }
    if !looks_like_jwt(token) {
        return Err(("malformed_jwt", "the token is not a well-formed JWT"));
    }
    let mut parts = token.split(|b| *b == b'.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(("malformed_jwt", "the token is not a well-formed JWT"));
    };
    if signature.is_empty() {
        return Err(("missing_signature", "the token is not signed"));
    }
    let header = b64_json(
        header,
        ("malformed_header", "the token header is malformed"),
    )?;
    let alg = match header.get("alg") {
        Some(Value::String(a)) if a.eq_ignore_ascii_case("none") => {
            return Err(("alg_none", "unsigned tokens are not accepted"));
        }
        Some(Value::String(a)) => Algorithm::from_str(a)
            .map_err(|_| ("unsupported_alg", "the token's algorithm is not supported"))?,
        _ => return Err(("malformed_header", "the token header is malformed")),
    };
    if header.contains_key("crit") {
        // No JWS extension is understood here, so every critical one is unknown.
        return Err((
            "unsupported_crit",
            "the token uses a critical header extension that is not supported",
        ));
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if valid_kid(k) => Some(k.clone()),
        Some(_) => return Err(("bad_kid", "the token's key id is malformed")),
    };
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(normalise_typ(t)),
        Some(_) => return Err(("malformed_header", "the token header is malformed")),
    };
    // jku, x5u, x5c and jwk are never read: keys come only from configuration.
    let claims = b64_json(
        payload,
        ("malformed_claims", "the token claims are malformed"),
    )?;
    check_claim_types(&claims)?;
    let iss = match claims.get("iss") {
        Some(Value::String(i)) => i.clone(),
        _ => return Err(("missing_iss", "the token has no issuer")),
    };
    Ok(Unverified { alg, kid, typ, iss })
}

const BAD_TYPE: Refusal = ("bad_claim_type", "a token claim has the wrong type");
const BAD_TIME: Refusal = ("time_out_of_range", "a token time is out of range");

/// The last second of year 9999 (UTC): the latest `exp`, `nbf` or `iat`
/// accepted. Any later time is refused before it is turned into a
/// `SystemTime`, where it could overflow.
pub(crate) const MAX_TIME: u64 = 253_402_300_799;

fn is_string_list(v: &Value) -> bool {
    v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
}

/// Claims of the wrong JSON type are refused, not ignored.
pub(crate) fn check_claim_types(claims: &Map<String, Value>) -> Result<(), Refusal> {
    for (name, value) in claims {
        let ok = match name.as_str() {
            "iss" | "sub" | "jti" | "scope" | "client_id" | "azp" => value.is_string(),
            "exp" | "nbf" | "iat" => match value.as_u64() {
                Some(t) if t > MAX_TIME => return Err(BAD_TIME),
                Some(_) => true,
                None => false,
            },
            "aud" | "scp" => value.is_string() || is_string_list(value),
            "cnf" | "act" => value.is_object(),
            _ => true,
        };
        if !ok {
            return Err(BAD_TYPE);
        }
    }
    Ok(())
}

/// Looks a byte up in a 256-entry table.
#[allow(clippy::indexing_slicing)] // a u8 indexes a [_; 256]: always in bounds
fn in_table(table: &[bool; 256], b: u8) -> bool {
    table[usize::from(b)]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(v: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v)
    }

    fn token(header: &str, claims: &str) -> Vec<u8> {
        format!("{}.{}.c2ln", b64(header), b64(claims)).into_bytes()
    }

    const CLAIMS: &str = r#"{"iss":"i","sub":"s","exp":4102444800}"#;

    #[test]
    fn none_in_every_spelling() {
        for alg in ["none", "None", "NONE", "nOnE"] {
            let t = token(&format!(r#"{{"alg":"{alg}"}}"#), CLAIMS);
            assert_eq!(inspect(&t, 8192).unwrap_err().0, "alg_none");
        }
    }

    #[test]
    fn header_rules() {
        let ok = inspect(
            &token(
                r#"{"alg":"ES256","kid":"k","typ":"application/AT+JWT"}"#,
                CLAIMS,
            ),
            8192,
        )
        .unwrap();
        assert_eq!(ok.alg, Algorithm::ES256);
        assert_eq!(ok.typ.as_deref(), Some("at+jwt"));
        assert_eq!(ok.iss, "i");
        let cases = [
            (
                r#"{"alg":"ES256","crit":["exp"],"exp":1}"#,
                "unsupported_crit",
            ),
            (r#"{"alg":"XX256"}"#, "unsupported_alg"),
            (r#"{"alg":5}"#, "malformed_header"),
            (
                r#"{"alg":"ES256","kid":"../../../etc/passwd\n"}"#,
                "bad_kid",
            ),
            (r#"{"alg":"ES256","kid":7}"#, "bad_kid"),
            (r#"["alg"]"#, "malformed_header"),
        ];
        for (h, reason) in cases {
            assert_eq!(
                inspect(&token(h, CLAIMS), 8192).unwrap_err().0,
                reason,
                "{h}"
            );
        }
    }

    #[test]
    fn claim_types() {
        let h = r#"{"alg":"ES256"}"#;
        for c in [
            r#"{"iss":"i","exp":"4102444800"}"#,
            r#"{"iss":"i","exp":1.5}"#,
            r#"{"iss":"i","exp":-1}"#,
            r#"{"iss":"i","nbf":"0"}"#,
            r#"{"iss":"i","aud":[1]}"#,
            r#"{"iss":"i","sub":{}}"#,
            r#"{"iss":"i","scope":["a"]}"#,
            r#"{"iss":"i","cnf":"x"}"#,
        ] {
            assert_eq!(
                inspect(&token(h, c), 8192).unwrap_err().0,
                "bad_claim_type",
                "{c}"
            );
        }
        assert_eq!(
            inspect(&token(h, r#"{"iss":7}"#), 8192).unwrap_err().0,
            "bad_claim_type"
        );
        // Past year 9999, up to the largest integers JSON can carry.
        for claim in ["exp", "nbf", "iat"] {
            for t in [MAX_TIME + 1, 1 << 63, u64::MAX] {
                let c = format!(r#"{{"iss":"i","{claim}":{t}}}"#);
                assert_eq!(
                    inspect(&token(h, &c), 8192).unwrap_err().0,
                    "time_out_of_range",
                    "{c}"
                );
            }
            let c = format!(r#"{{"iss":"i","{claim}":{MAX_TIME}}}"#);
            assert!(inspect(&token(h, &c), 8192).is_ok(), "{c}");
        }
        // `aud` and `scp` may be a string or a list of strings.
        for c in [
            r#"{"iss":"i","aud":["a","b"]}"#,
            r#"{"iss":"i","aud":"a"}"#,
            r#"{"iss":"i","scp":["read","write"]}"#,
            r#"{"iss":"i","aud":[]}"#,
        ] {
            assert!(inspect(&token(h, c), 8192).is_ok(), "{c}");
        }
        assert_eq!(
            inspect(&token(h, r#"{"iss":"i","aud":["a",1]}"#), 8192)
                .unwrap_err()
                .0,
            "bad_claim_type"
        );
        // Beyond u64: not an integer JSON can hand over, so the wrong type.
        let c = r#"{"iss":"i","exp":18446744073709551616}"#;
        assert_eq!(inspect(&token(h, c), 8192).unwrap_err().0, "bad_claim_type");
        assert_eq!(
            inspect(&token(h, r#"{"sub":"x"}"#), 8192).unwrap_err().0,
            "missing_iss"
        );
    }

    #[test]
    fn shape_and_size() {
        assert_eq!(inspect(b"a.b", 8192).unwrap_err().0, "malformed_jwt");
        assert_eq!(inspect(b"a.b.c.d", 8192).unwrap_err().0, "malformed_jwt");
        assert_eq!(inspect(b"a+b.c.d", 8192).unwrap_err().0, "malformed_jwt");
        let stripped = format!("{}.{}.", b64(r#"{"alg":"ES256"}"#), b64(CLAIMS));
        assert_eq!(
            inspect(stripped.as_bytes(), 8192).unwrap_err().0,
            "missing_signature"
        );
        let big = vec![b'a'; 100_000];
        assert_eq!(inspect(&big, 8192).unwrap_err().0, "token_too_large");
        // The limit itself is allowed; one byte more is not.
        let t = token(r#"{"alg":"ES256"}"#, CLAIMS);
        assert!(inspect(&t, t.len()).is_ok());
        assert_eq!(inspect(&t, t.len() - 1).unwrap_err().0, "token_too_large");
        assert!(looks_like_jwt(b"a.b.c"));
        // Dots far apart, across the 64-byte chunks of the count.
        let long = format!("{}.{}.{}", "a".repeat(63), "b".repeat(200), "c".repeat(90));
        assert!(is_jwt_shaped(long.as_bytes()));
        let three = format!("{long}.d");
        assert!(!is_jwt_shaped(three.as_bytes()));
        assert!(!is_jwt_shaped(&[b'.'; 300]));
        assert!(!is_jwt_shaped(b"nodots"));
        assert!(!looks_like_jwt(b"ask_live_x"));
    }
}
