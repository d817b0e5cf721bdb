//! A client's own credentials towards an authorization server
//! (`client_secret_basic`, RFC 6749 §2.3.1), for the calls the core makes:
//! introspection and outbound token requests.

use crate::secret::Secret;

/// `Basic base64(form(client_id) ":" form(client_secret))` (RFC 6749
/// §2.3.1: both are form-encoded before they are joined).
pub(crate) fn basic_client_auth(client_id: &str, secret: &Secret) -> Secret {
    use base64::Engine as _;
    let mut pair = Vec::new();
    form_encode_into(client_id.as_bytes(), &mut pair);
    pair.push(b':');
    form_encode_into(secret.expose(), &mut pair);
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(&pair)
    );
    zeroize::Zeroize::zeroize(&mut pair);
    Secret::new(value.into_bytes())
}

/// `application/x-www-form-urlencoded`: unreserved bytes as they are,
/// space as `+`, the rest as `%XX`.
pub(crate) fn form_encode_into(bytes: &[u8], out: &mut Vec<u8>) {
    use std::io::Write as _;
    for &b in bytes {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => out.push(b),
            b' ' => out.push(b'+'),
            // Writing to a Vec cannot fail.
            _ => drop(write!(out, "%{b:02X}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_credentials_are_form_encoded_then_basic() {
        let auth = basic_client_auth("rs client", &Secret::new(b"p:w%d".to_vec()));
        // base64("rs+client:p%3Aw%25d")
        assert_eq!(
            auth.expose_str(),
            Some("Basic cnMrY2xpZW50OnAlM0F3JTI1ZA==")
        );
        let mut out = Vec::new();
        form_encode_into(b"aZ09-._*~+/= \xff", &mut out);
        assert_eq!(out, b"aZ09-._*%7E%2B%2F%3D+%FF");
    }
}
