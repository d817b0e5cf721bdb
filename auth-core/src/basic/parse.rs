//! RFC 7617 §2 credential parsing and RFC 8265 preparation.

use base64::Engine as _;
use unicode_normalization::UnicodeNormalization;

use crate::secret::Secret;

/// A decoded, normalised `user-id:password` pair.
pub(crate) struct UserPass {
    pub(crate) user: String,
    pub(crate) password: Secret,
}

/// The longest user-id accepted, in bytes (before preparation).
pub const MAX_USER_LEN: usize = 256;
/// The longest password accepted, in bytes (before preparation).
pub const MAX_PASSWORD_LEN: usize = 1024;
/// The longest base64 payload that can hold both (with a little slack for
/// padding).
const MAX_PAYLOAD_LEN: usize = (MAX_USER_LEN + 1 + MAX_PASSWORD_LEN).div_ceil(3) * 4 + 4;

/// Why a Basic payload is refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ParseError {
    Base64,
    Utf8,
    NoColon,
    Control,
    EmptyUser,
    TooLong,
}

/// Decodes `base64(user-id ":" password)`, splits at the first colon (a
/// user-id cannot contain one), refuses control characters, and prepares
/// both parts for `charset="UTF-8"` comparison.
pub(crate) fn parse(payload: &[u8]) -> Result<UserPass, ParseError> {
    let payload = payload.trim_ascii();
    if payload.len() > MAX_PAYLOAD_LEN {
        return Err(ParseError::TooLong);
    }
    let decoded = Secret::new(
        base64::engine::general_purpose::STANDARD
            .decode(payload)
            .map_err(|_| ParseError::Base64)?,
    );
    let text = decoded.expose_str().ok_or(ParseError::Utf8)?;
    let (user, password) = text.split_once(':').ok_or(ParseError::NoColon)?;
    if user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(ParseError::TooLong);
    }
    if user.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return Err(ParseError::Control);
    }
    let user = prepare_username(user);
    if user.is_empty() {
        return Err(ParseError::EmptyUser);
    }
    Ok(UserPass {
        user,
        password: Secret::from(prepare_password(password)),
    })
}

/// RFC 8265 §3.4 UsernameCasePreserved, in the parts that matter for
/// matching: fullwidth and halfwidth characters mapped to their
/// decomposition (width mapping), then NFC.
pub fn prepare_username(user: &str) -> String {
    user.chars()
        .flat_map(|c| {
            let wide = ('\u{FF01}'..='\u{FFEF}').contains(&c);
            let mapped: Vec<char> = if wide {
                std::iter::once(c).nfkc().collect()
            } else {
                vec![c]
            };
            mapped
        })
        .nfc()
        .collect()
}

/// RFC 8265 §4.2 OpaqueString: non-ASCII spaces mapped to U+0020, then NFC.
pub fn prepare_password(password: &str) -> String {
    password
        .chars()
        .map(|c| if is_non_ascii_space(c) { ' ' } else { c })
        .nfc()
        .collect()
}

fn is_non_ascii_space(c: char) -> bool {
    matches!(
        c,
        '\u{00A0}' | '\u{1680}' | '\u{2000}'..='\u{200A}' | '\u{202F}' | '\u{205F}' | '\u{3000}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        base64::engine::general_purpose::STANDARD
            .encode(s)
            .into_bytes()
    }

    #[test]
    fn rfc7617_example() {
        // RFC 7617 §2: "Aladdin:open sesame" -> QWxhZGRpbjpvcGVuIHNlc2FtZQ==
        let up = parse(b"QWxhZGRpbjpvcGVuIHNlc2FtZQ==").unwrap();
        assert_eq!(up.user, "Aladdin");
        assert_eq!(up.password.expose(), b"open sesame");
    }

    #[test]
    fn first_colon_splits() {
        let up = parse(&b64("user:pa:ss")).unwrap();
        assert_eq!(up.user, "user");
        assert_eq!(up.password.expose(), b"pa:ss");
        let up = parse(&b64("user:")).unwrap();
        assert!(up.password.is_empty());
    }

    #[test]
    fn refusals() {
        assert_eq!(parse(b"!!!notbase64").err(), Some(ParseError::Base64));
        assert_eq!(parse(b"QQ=").err(), Some(ParseError::Base64));
        assert_eq!(parse(&b64("nocolon")).err(), Some(ParseError::NoColon));
        assert_eq!(parse(&b64("us\u{0}er:pw")).err(), Some(ParseError::Control));
        assert_eq!(
            parse(&b64("user:p\u{7f}w")).err(),
            Some(ParseError::Control)
        );
        assert_eq!(parse(&b64("user:p\nw")).err(), Some(ParseError::Control));
        assert_eq!(parse(&b64(":pw")).err(), Some(ParseError::EmptyUser));
        let latin1 = base64::engine::general_purpose::STANDARD.encode([0x75, 0xe9, b':', b'p']);
        assert_eq!(parse(latin1.as_bytes()).err(), Some(ParseError::Utf8));
    }

    #[test]
    fn lengths_are_capped() {
        let at = |u: usize, p: usize| format!("{}:{}", "u".repeat(u), "p".repeat(p));
        assert!(parse(&b64(&at(MAX_USER_LEN, MAX_PASSWORD_LEN))).is_ok());
        let long_user = parse(&b64(&at(MAX_USER_LEN + 1, 1)));
        assert_eq!(long_user.err(), Some(ParseError::TooLong));
        let long_password = parse(&b64(&at(1, MAX_PASSWORD_LEN + 1)));
        assert_eq!(long_password.err(), Some(ParseError::TooLong));
        // A payload too long to hold both is refused before it is decoded:
        // this one is not even base64.
        let huge = vec![b'!'; MAX_PAYLOAD_LEN + 1];
        assert_eq!(parse(&huge).err(), Some(ParseError::TooLong));
        let just = vec![b'!'; MAX_PAYLOAD_LEN];
        assert_eq!(parse(&just).err(), Some(ParseError::Base64));
        // Surrounding whitespace does not count.
        let mut padded = b64(&at(MAX_USER_LEN, MAX_PASSWORD_LEN));
        padded.extend([b' '; 64]);
        assert!(parse(&padded).is_ok());
    }

    #[test]
    fn normalisation() {
        // "é" as e + combining acute (NFD) matches the precomposed form (NFC).
        assert_eq!(prepare_username("re\u{301}ne"), "r\u{e9}ne");
        assert_eq!(prepare_password("caf\u{65}\u{301}"), "caf\u{e9}");
        // Fullwidth letters map to ASCII in user names.
        assert_eq!(prepare_username("\u{FF41}lice"), "alice");
        // A no-break space in a password is an ordinary space.
        assert_eq!(prepare_password("a\u{A0}b"), "a b");
    }
}
