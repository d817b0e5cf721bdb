//! The one secret type.
//!
//! Every credential the stack touches (API keys, passwords, bearer tokens,
//! peppers) travels as a [`Secret`]: its `Debug` output is redacted, it has no
//! `Display`, equality is constant-time, and its bytes are zeroized on drop.
//!
//! ```
//! use auth_core::Secret;
//!
//! let a = Secret::from("hunter2");
//! let b = Secret::from("hunter2".to_string());
//! assert_eq!(a, b); // constant-time comparison
//! assert_eq!(format!("{a:?}"), "Secret([redacted])");
//! assert_eq!(a.expose(), b"hunter2");
//! ```

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

/// The OS's CSPRNG (getrandom): the one source of randomness for keys,
/// peppers, salts, secrets and tokens. It panics if the OS cannot give
/// randomness (as rand's `OsRng` did): nothing secret can be made without.
#[cfg_attr(not(any(feature = "api-key", feature = "basic")), allow(dead_code))]
pub(crate) fn os_rng() -> rand::rand_core::UnwrapErr<rand::rngs::SysRng> {
    rand::rand_core::UnwrapErr(rand::rngs::SysRng)
}

/// A secret byte string: redacted `Debug`, no `Display`, constant-time
/// equality, zeroized on drop.
#[derive(Clone, Default)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps bytes as a secret.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Self(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes. Call this only where the secret is used (hashing,
    /// verification), never to log or format it.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// The secret as UTF-8 text, if it is.
    pub fn expose_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Self::new(s.as_bytes())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Self::new(v)
    }
}

impl From<&[u8]> for Secret {
    fn from(v: &[u8]) -> Self {
        Self::new(v)
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Self) -> bool {
        // `ct_eq` on slices of different lengths returns false without
        // looking at the contents; the length of a secret is not secret here.
        self.0.as_slice().ct_eq(other.0.as_slice()).into()
    }
}

impl Eq for Secret {}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

/// A borrowed view of secret bytes that live elsewhere (a request header):
/// the same redacted `Debug`, no `Display` and constant-time equality as
/// [`Secret`], without copying the bytes. Owning copies are [`Secret`]s.
#[derive(Clone, Copy)]
pub struct SecretRef<'a>(&'a [u8]);

impl<'a> SecretRef<'a> {
    /// Views `bytes` as a secret.
    pub fn new(bytes: &'a [u8]) -> Self {
        Self(bytes)
    }

    /// The secret bytes. Call this only where the secret is used.
    pub fn expose(&self) -> &'a [u8] {
        self.0
    }

    /// An owned, zeroized-on-drop copy.
    pub fn to_secret(&self) -> Secret {
        Secret::new(self.0)
    }
}

impl PartialEq for SecretRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(other.0).into()
    }
}

impl Eq for SecretRef<'_> {}

impl std::fmt::Debug for SecretRef<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from("super-secret-value");
        let dbg = format!("{s:?} {:?}", Some(&s));
        assert!(!dbg.contains("super-secret-value"));
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn borrowed_view_is_redacted_too() {
        let bytes = b"another-secret".to_vec();
        let r = SecretRef::new(&bytes);
        assert!(!format!("{r:?}").contains("another"));
        assert_eq!(r.to_secret(), Secret::from("another-secret"));
        assert_eq!(r, SecretRef::new(b"another-secret"));
    }

    #[test]
    fn equality() {
        assert_eq!(Secret::from("abc"), Secret::from("abc"));
        assert_ne!(Secret::from("abc"), Secret::from("abd"));
        assert_ne!(Secret::from("abc"), Secret::from("abcd"));
        assert_ne!(Secret::from(""), Secret::from("a"));
    }
}
