//! `application/x-www-form-urlencoded` bodies, as OAuth endpoints read them.
//!
//! ```
//! use auth_core::oauth::form::{Form, MAX_FORM_LEN};
//!
//! let form = Form::parse(b"grant_type=client_credentials&scope=reports%3Aread+admin&state=").unwrap();
//! assert_eq!(form.get("grant_type"), Some("client_credentials"));
//! assert_eq!(form.get("scope"), Some("reports:read admin"));
//! assert_eq!(form.get("state"), None); // empty means omitted (RFC 6749 §3.1)
//!
//! // A repeated parameter is refused, not resolved one way or the other.
//! let err = Form::parse(b"scope=read&scope=admin").unwrap_err();
//! assert_eq!((err.status(), err.kind().as_str()), (400, "invalid_request"));
//! assert!(Form::parse(&vec![b'a'; MAX_FORM_LEN + 1]).is_err());
//! ```

use super::OAuthError;

/// The longest form body read (64 KiB): token requests are small.
pub const MAX_FORM_LEN: usize = 64 * 1024;

/// A parsed form: names and values, decoded, each name once.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Form {
    pairs: Vec<(String, String)>,
}

impl std::fmt::Debug for Form {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Values carry secrets (client_secret, codes, tokens): names only.
        f.debug_list()
            .entries(self.pairs.iter().map(|(n, _)| n))
            .finish()
    }
}

impl Form {
    /// Parses `body`. Refuses with `invalid_request` a body over
    /// [`MAX_FORM_LEN`], a malformed escape, a value that is not UTF-8, and a
    /// parameter sent twice (RFC 6749 §3.1); empty parameters are dropped
    /// (RFC 6749 §3.1: "treated as if they were omitted").
    ///
    /// ```
    /// use auth_core::oauth::form::Form;
    ///
    /// let f = Form::parse(b"grant_type=client_credentials&scope=a+b%3Ac").unwrap();
    /// assert_eq!(f.get("scope"), Some("a b:c"));
    /// assert!(Form::parse(b"scope=a&scope=b").is_err());
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self, OAuthError> {
        if body.len() > MAX_FORM_LEN {
            return Err(OAuthError::invalid_request("the request body is too large"));
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
            let (name, value) = match part.iter().position(|b| *b == b'=') {
                Some(i) => (
                    part.get(..i).unwrap_or_default(),
                    part.get(i + 1..).unwrap_or_default(),
                ),
                None => (part, &b""[..]),
            };
            let name = decode(name)?;
            let value = decode(value)?;
            if value.is_empty() {
                continue;
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(OAuthError::invalid_request(
                    "a parameter was sent more than once",
                ));
            }
            pairs.push((name, value));
        }
        Ok(Self { pairs })
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Decodes one form component: `+` is a space, `%XX` a byte; the result
/// must be UTF-8.
pub fn decode(raw: &[u8]) -> Result<String, OAuthError> {
    let bad = || OAuthError::invalid_request("the request body is not a valid form");
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while let Some(&b) = raw.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = raw.get(i + 1..i + 3).ok_or_else(bad)?;
                let hex = std::str::from_utf8(hex).map_err(|_| bad())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| bad())?);
                i += 2;
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).map_err(|_| bad())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_and_refuse_repeats_and_junk() {
        let f = Form::parse(b"a=1&b=x%20y+z&c=&&d").unwrap_or_default();
        assert_eq!(f.get("a"), Some("1"));
        assert_eq!(f.get("b"), Some("x y z"));
        assert_eq!(f.get("c"), None);
        assert_eq!(f.get("d"), None);
        assert!(!format!("{f:?}").contains('1'));
        for bad in [
            &b"a=%"[..],
            b"a=%4",
            b"a=%zz",
            b"a=%ff",
            b"a=1&a=2",
            b"a=1&a=1",
        ] {
            assert!(Form::parse(bad).is_err(), "{bad:?}");
        }
        // An empty repeat is an omitted one.
        assert!(Form::parse(b"a=1&a=").is_ok());
        assert!(Form::parse(&vec![b'a'; MAX_FORM_LEN + 1]).is_err());
        assert!(Form::parse(&vec![b'a'; MAX_FORM_LEN]).is_ok());
        assert_eq!(decode(b"%C3%A9%2B").ok().as_deref(), Some("é+"));
    }
}
