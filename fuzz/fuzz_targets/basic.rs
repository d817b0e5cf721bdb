//! HTTP Basic: the payload of `Authorization: Basic <payload>` through the
//! authenticator's parse path (base64, UTF-8, the first colon, control
//! characters, RFC 8265 preparation), against an independent model of what
//! it must decide; the input is tried both as the payload and base64-encoded
//! (so that the fuzzer reaches what follows decoding). Argon2 never runs:
//! the authenticator has no hashing permit, so a pair that parses is shed
//! with 503 `hashing_busy`.
//!
//! `basic::parse` is `pub(crate)`: the reason code of the refusal is what
//! tells which step refused.
#![no_main]

use auth_core::basic::{MAX_PASSWORD_LEN, MAX_USER_LEN, prepare_password, prepare_username};
use auth_core::{AuthRequest, Authenticator, Credential, SimpleRequest};
use auth_core_fuzz::{basic_parse_only, block_on};
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

/// What the parse path must answer for `payload` (as it arrives after the
/// `Authorization` header's own trimming).
fn expected(payload: &[u8]) -> &'static str {
    let payload = payload.trim_ascii();
    // Longer than any base64 of a user-id, a colon and a password at their caps.
    if payload.len() > (MAX_USER_LEN + 1 + MAX_PASSWORD_LEN).div_ceil(3) * 4 + 4 {
        return "credential_too_long";
    }
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(payload) else {
        return "malformed_base64";
    };
    let Ok(text) = std::str::from_utf8(&decoded) else {
        return "malformed_utf8";
    };
    let Some((user, password)) = text.split_once(':') else {
        return "malformed_no_colon";
    };
    if user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN {
        return "credential_too_long";
    }
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

fn check(payload: &[u8]) {
    let mut value = b"Basic ".to_vec();
    value.extend_from_slice(payload);
    let req = SimpleRequest::get("/").header("authorization", &value);
    let names = ["authorization"];
    let Ok(credential) = Credential::from_head(&req, &names) else {
        return;
    };
    let Some(a) = credential.authorization() else {
        return;
    };
    let seen = a.value().expose();
    let auth = basic_parse_only();
    let areq = AuthRequest::new(&req, &credential);
    assert!(auth.recognise(&areq).is_some());
    let err = block_on(auth.authenticate(&areq)).expect_err("no permit: nothing passes");
    assert_eq!(err.reason(), expected(seen), "payload {seen:?}");
    let status = err.status();
    assert!(status == 401 || status == 503, "status {status}");
}

fuzz_target!(|data: &[u8]| {
    check(data);
    check(
        base64::engine::general_purpose::STANDARD
            .encode(data)
            .as_bytes(),
    );
    if let Ok(text) = std::str::from_utf8(data) {
        // RFC 8264 §7: enforcement is idempotent; what it accepts it
        // accepts again unchanged, and its answer does not vary.
        let user = prepare_username(text);
        if let Ok(u) = &user {
            assert_eq!(prepare_username(u).as_ref(), Ok(u), "username of {text:?}");
            assert!(!u.is_empty() && !u.starts_with(' ') && !u.ends_with(' '));
        }
        assert_eq!(prepare_username(text), user, "username of {text:?}");
        let password = prepare_password(text);
        if let Ok(p) = &password {
            assert_eq!(prepare_password(p).as_ref(), Ok(p), "password of {text:?}");
            // RFC 8265 §4.2.1: no non-ASCII space is left, and it is not empty.
            assert!(!p.is_empty());
            assert!(!p.chars().any(|c| matches!(
                c,
                '\u{00A0}' | '\u{1680}' | '\u{2000}'
                    ..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
            )));
        }
    }
});
