//! RFC 7617 §2 credential parsing and RFC 8265 preparation.

use base64::Engine as _;

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
    /// Not a user name under RFC 8265 UsernameCasePreserved.
    User,
    /// Not a password under RFC 8265 OpaqueString (the empty one included).
    Password,
    TooLong,
}

/// Decodes `base64(user-id ":" password)`, splits at the first colon (a
/// user-id cannot contain one), refuses control characters, and enforces
/// RFC 8265 on both parts for `charset="UTF-8"` comparison.
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
    prepare_pair(user, password)
}

/// A user-id and password as sent, by Basic or by a login form: bounded in
/// length, without control characters, a user-id not empty, and both
/// enforced under RFC 8265.
pub(crate) fn prepare_pair(user: &str, password: &str) -> Result<UserPass, ParseError> {
    if user.len() > MAX_USER_LEN || password.len() > MAX_PASSWORD_LEN {
        return Err(ParseError::TooLong);
    }
    if user.chars().any(char::is_control) || password.chars().any(char::is_control) {
        return Err(ParseError::Control);
    }
    if user.is_empty() {
        return Err(ParseError::EmptyUser);
    }
    let user = prepare_username(user).map_err(|_| ParseError::User)?;
    let password = prepare_password(password).map_err(|_| ParseError::Password)?;
    Ok(UserPass {
        user,
        password: Secret::from(password),
    })
}

/// Why a user name or password is not valid under RFC 8265.
///
/// It never holds the refused text, so it is safe to log.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct PrepareError(PrepareErrorKind);

/// The kind of a [`PrepareError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PrepareErrorKind {
    /// Empty, or (a user name) a space at either end.
    Empty,
    /// A code point the profile's string class does not allow: a control
    /// character, an unassigned or default-ignorable code point (a zero-width
    /// space, a soft hyphen), and in a user name also symbols, punctuation and
    /// spaces outside ASCII.
    Disallowed,
    /// A user name that breaks the bidi rule of RFC 5893 §2 (right-to-left
    /// and left-to-right text mixed in one part).
    Direction,
}

impl PrepareError {
    /// What was wrong.
    pub fn kind(&self) -> PrepareErrorKind {
        self.0
    }

    fn from_precis(e: &precis_profiles::precis_core::Error) -> Self {
        use precis_profiles::precis_core::Error;
        Self(match e {
            // Emptiness is checked before the profile runs, so `Invalid` is
            // the directionality rule (the only other rule that answers it).
            Error::Invalid => PrepareErrorKind::Direction,
            Error::BadCodepoint(_) | Error::Unexpected(_) => PrepareErrorKind::Disallowed,
        })
    }
}

impl std::fmt::Debug for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("PrepareError").field(&self.0).finish()
    }
}

impl std::fmt::Display for PrepareError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0 {
            PrepareErrorKind::Empty => "empty, or a space at either end",
            PrepareErrorKind::Disallowed => "a code point RFC 8265 does not allow here",
            PrepareErrorKind::Direction => "mixed text direction (RFC 5893 bidi rule)",
        })
    }
}

impl std::error::Error for PrepareError {}

/// Enforces RFC 8265 §3.4 UsernameCasePreserved on a user name, through
/// `precis-profiles`: fullwidth and halfwidth characters mapped to their
/// decomposition, NFC, the IdentifierClass's repertoire and the bidi rule.
///
/// As RFC 8265 §3.5 allows, a name may be several parts separated by ASCII
/// spaces (`"Jane Doe"`), each enforced on its own; a space at either end is
/// refused. Case is kept: `Alice` and `alice` are two users.
///
/// ```
/// use auth_core::basic::{PrepareErrorKind, prepare_username};
///
/// // NFD "é" and fullwidth letters prepare to the same name as NFC and ASCII.
/// assert_eq!(prepare_username("Rene\u{301}").unwrap(), "Ren\u{e9}");
/// assert_eq!(prepare_username("\u{FF41}lice").unwrap(), "alice");
/// assert_eq!(prepare_username("Jane Doe").unwrap(), "Jane Doe");
/// // Refused: an emoji, a leading space, a zero-width space.
/// let kind = |s| prepare_username(s).unwrap_err().kind();
/// assert_eq!(kind("\u{1F600}"), PrepareErrorKind::Disallowed);
/// assert_eq!(kind(" alice"), PrepareErrorKind::Empty);
/// assert_eq!(kind("al\u{200B}ice"), PrepareErrorKind::Disallowed);
/// ```
pub fn prepare_username(user: &str) -> Result<String, PrepareError> {
    if user.is_empty() || user.starts_with(' ') || user.ends_with(' ') {
        return Err(PrepareError(PrepareErrorKind::Empty));
    }
    let mut out = String::with_capacity(user.len());
    for (i, part) in user.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        // Several spaces in a row leave empty parts: RFC 8265 §3.5 allows
        // `1*SP` between parts, and the spaces are kept as sent.
        if !part.is_empty() {
            out.push_str(&enforce_username_part(part)?);
        }
    }
    Ok(out)
}

/// Enforces RFC 8265 §4.2 OpaqueString on a password, through
/// `precis-profiles`: non-ASCII spaces mapped to U+0020, NFC, and the
/// FreeformClass's repertoire. The empty password is refused.
///
/// A password whose hash was made before this preparation refused anything
/// (a default-ignorable or unassigned code point) can no longer be used;
/// the [module docs](crate::basic#migrating-hashes-made-before-rfc-8265-enforcement)
/// say how to migrate.
///
/// ```
/// use auth_core::basic::{PrepareErrorKind, prepare_password};
///
/// assert_eq!(prepare_password("caf\u{65}\u{301}").unwrap(), "caf\u{e9}");
/// assert_eq!(prepare_password("a\u{A0}b").unwrap(), "a b"); // no-break space
/// assert_eq!(prepare_password("").unwrap_err().kind(), PrepareErrorKind::Empty);
/// assert_eq!(
///     prepare_password("pass\u{200B}word").unwrap_err().kind(),
///     PrepareErrorKind::Disallowed
/// );
/// ```
pub fn prepare_password(password: &str) -> Result<String, PrepareError> {
    use precis_profiles::OpaqueString;
    use precis_profiles::precis_core::profile::{Profile as _, Rules as _};
    if password.is_empty() {
        return Err(PrepareError(PrepareErrorKind::Empty));
    }
    // In RFC 8264 §7's order: the profile's mappings first, the check of
    // the string class last (see `enforce_username_part`).
    let profile = OpaqueString::new();
    let precis = |e| PrepareError::from_precis(&e);
    let mapped = profile.additional_mapping_rule(password).map_err(precis)?;
    let normal = profile.normalization_rule(mapped).map_err(precis)?;
    let enforced = profile.enforce(normal).map_err(precis)?;
    Ok(enforced.into_owned())
}

/// One part of a user name under UsernameCasePreserved.
///
/// `precis-profiles`' `enforce` checks the string class before it
/// normalises, so an NFD Hangul syllable (conjoining jamo, which the classes
/// disallow as "old Hangul jamo") would be refused although its NFC form is
/// allowed. RFC 8264 §7 applies the mappings and NFC first and the class
/// check last; this does that, with the profile's own rules, and then
/// `enforce` on the NFC form (which maps nothing further) checks the class
/// and the bidi rule.
fn enforce_username_part(part: &str) -> Result<String, PrepareError> {
    use precis_profiles::UsernameCasePreserved;
    use precis_profiles::precis_core::profile::{Profile as _, Rules as _};
    let profile = UsernameCasePreserved::new();
    let precis = |e| PrepareError::from_precis(&e);
    let mapped = profile.width_mapping_rule(part).map_err(precis)?;
    let normal = profile.normalization_rule(mapped).map_err(precis)?;
    let enforced = profile.enforce(normal).map_err(precis)?;
    Ok(enforced.into_owned())
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
        // RFC 8265's OpaqueString has no empty password.
        assert_eq!(parse(&b64("user:")).err(), Some(ParseError::Password));
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
        assert_eq!(prepare_username("re\u{301}ne").unwrap(), "r\u{e9}ne");
        assert_eq!(prepare_password("caf\u{65}\u{301}").unwrap(), "caf\u{e9}");
        // Fullwidth letters map to ASCII in user names.
        assert_eq!(prepare_username("\u{FF41}lice").unwrap(), "alice");
        // An NFD Hangul syllable (conjoining jamo, which the string classes
        // disallow on their own) is its NFC form, in both.
        assert_eq!(prepare_password("\u{1100}\u{1161}").unwrap(), "\u{AC00}");
        assert_eq!(prepare_username("\u{1100}\u{1161}").unwrap(), "\u{AC00}");
        // A no-break space in a password is an ordinary space, and so is
        // every other non-ASCII space.
        assert_eq!(prepare_password("a\u{A0}b").unwrap(), "a b");
        assert_eq!(prepare_password("a\u{3000}b\u{2009}c").unwrap(), "a b c");
        // Case is preserved, and ASCII passes untouched.
        assert_eq!(prepare_username("Alice").unwrap(), "Alice");
        assert_eq!(prepare_password("Tr0ub4dor&3 x").unwrap(), "Tr0ub4dor&3 x");
    }

    #[test]
    fn usernames_are_userparts() {
        // RFC 8265 §3.5: parts separated by one or more ASCII spaces.
        assert_eq!(prepare_username("Jane Doe").unwrap(), "Jane Doe");
        assert_eq!(prepare_username("a  b").unwrap(), "a  b");
        assert_eq!(
            prepare_username("Ren\u{65}\u{301} \u{FF42}").unwrap(),
            "Ren\u{e9} b"
        );
        for edge in ["", " ", " alice", "alice ", "  "] {
            let e = prepare_username(edge).unwrap_err();
            assert_eq!(e.kind(), PrepareErrorKind::Empty, "{edge:?}");
        }
    }

    #[test]
    fn rfc8265_refusals() {
        let user = |s| prepare_username(s).map_err(|e| e.kind());
        let password = |s| prepare_password(s).map_err(|e| e.kind());
        // IdentifierClass: no symbols or punctuation outside ASCII, no
        // ideographic (fullwidth) space, no default-ignorable code points.
        assert_eq!(user("\u{2603}man"), Err(PrepareErrorKind::Disallowed));
        assert_eq!(user("a\u{3000}b"), Err(PrepareErrorKind::Disallowed));
        assert_eq!(user("a\u{A0}b"), Err(PrepareErrorKind::Disallowed));
        assert_eq!(user("al\u{AD}ice"), Err(PrepareErrorKind::Disallowed));
        // ASCII symbols are fine in a user name.
        assert_eq!(
            user("o'neil-2@example.com").as_deref(),
            Ok("o'neil-2@example.com")
        );
        // The bidi rule: a right-to-left part may not begin with a digit
        // of another direction, nor mix in left-to-right letters.
        assert_eq!(user("\u{5D0}a"), Err(PrepareErrorKind::Direction));
        assert_eq!(user("\u{5D0}\u{5D1}").as_deref(), Ok("\u{5D0}\u{5D1}"));
        // FreeformClass: symbols and spaces are fine in a password, but not
        // an unassigned or default-ignorable code point.
        assert_eq!(
            password("\u{2603} \u{1F600}").as_deref(),
            Ok("\u{2603} \u{1F600}")
        );
        assert_eq!(
            password("pass\u{200B}word"),
            Err(PrepareErrorKind::Disallowed)
        );
        assert_eq!(password("x\u{E0001}"), Err(PrepareErrorKind::Disallowed));
        assert_eq!(password("x\u{0378}"), Err(PrepareErrorKind::Disallowed));
        assert_eq!(password(""), Err(PrepareErrorKind::Empty));
        // A refused password is answered like any malformed pair.
        assert_eq!(
            parse(&b64("u:pass\u{200B}word")).err(),
            Some(ParseError::Password)
        );
        assert_eq!(parse(&b64("\u{2603}:pw")).err(), Some(ParseError::User));
        // The error never carries the text.
        let e = prepare_password("s3cr3t\u{200B}").unwrap_err();
        assert!(!format!("{e:?} {e}").contains("s3cr3t"));
    }

    #[test]
    fn errors_say_which_rule_and_nothing_else() {
        // Debug names the kind; Display says the rule, one text per kind.
        let cases = [
            (
                prepare_username(" a").unwrap_err(),
                "Empty",
                "empty, or a space at either end",
            ),
            (
                prepare_username("\u{2603}").unwrap_err(),
                "Disallowed",
                "a code point RFC 8265 does not allow here",
            ),
            (
                prepare_username("\u{5D0}a").unwrap_err(),
                "Direction",
                "mixed text direction (RFC 5893 bidi rule)",
            ),
        ];
        for (e, kind, text) in cases {
            assert_eq!(format!("{e:?}"), format!("PrepareError({kind})"));
            assert_eq!(e.to_string(), text);
        }
    }
}
