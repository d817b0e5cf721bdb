//! What a key store keeps: keyed hashes ([`KeyHash`]) of keys, never the
//! keys, and a [`KeyRecord`] per key. The stores themselves live in
//! [`crate::store`].

use std::sync::OnceLock;

use serde::{Deserialize, Serialize};

use super::format::Environment;
use crate::identity::Identity;

/// The keyed hash (HMAC-SHA-256 with the server pepper) of an API key.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyHash(pub(crate) [u8; 32]);

impl KeyHash {
    /// Lower-case hex.
    pub fn to_hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses lower- or upper-case hex.
    pub fn from_hex(s: &str) -> Option<Self> {
        // Hex digits only: `from_str_radix` would also take a `+` sign.
        if s.len() != 64 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, slot) in out.iter_mut().enumerate() {
            let pair = s.get(2 * i..2 * i + 2)?;
            *slot = u8::from_str_radix(pair, 16).ok()?;
        }
        Some(Self(out))
    }
}

impl std::fmt::Debug for KeyHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // A hash of a high-entropy key is not a secret, but there is no need
        // to print all of it.
        write!(
            f,
            "KeyHash({}…)",
            self.to_hex().get(..8).unwrap_or_default()
        )
    }
}

impl Serialize for KeyHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for KeyHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::from_hex(&s).ok_or_else(|| serde::de::Error::custom("invalid key hash"))
    }
}

/// Main keys may do everything; standard keys are kept from account
/// management (as Twilio separates them). The tier is also given to the
/// identity as the role `api_key:main` or `api_key:standard`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyTier {
    /// A main key.
    Main,
    /// A standard key.
    Standard,
}

impl KeyTier {
    /// The role given to identities of this tier.
    pub fn role(self) -> &'static str {
        match self {
            Self::Main => "api_key:main",
            Self::Standard => "api_key:standard",
        }
    }
}

/// What the server knows about one key. Times are Unix seconds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct KeyRecord {
    /// The public key id (also inside the key text).
    pub id: String,
    /// Who the key belongs to; the identity's subject.
    pub owner: String,
    /// Scopes the key grants.
    pub scopes: Vec<String>,
    /// Main or standard.
    pub tier: KeyTier,
    /// Live or test.
    pub environment: Environment,
    /// When it was issued.
    pub created_at: u64,
    /// When it stops working, if ever.
    pub expires_at: Option<u64>,
    /// When it was revoked, if it was.
    pub revoked_at: Option<u64>,
    /// When it was last used (updated at most once a minute).
    pub last_used_at: Option<u64>,
    /// The id of the key that replaced it in a rotation.
    pub replaced_by: Option<String>,
    /// The identity built from this record, shared by every request that
    /// presents the key while the record is unchanged.
    #[serde(skip)]
    pub(crate) identity: IdentityCell,
}

impl KeyRecord {
    /// The same record with no identity built yet: what a store keeps, so
    /// that a record changed through its public fields never serves an
    /// identity built from what it was.
    pub(crate) fn fresh(mut self) -> Self {
        self.identity = IdentityCell::default();
        self
    }
}

/// Holds the identity built from a record. A copy starts empty, and it
/// takes no part in comparisons.
#[derive(Default)]
pub(crate) struct IdentityCell(OnceLock<Identity>);

impl IdentityCell {
    pub(crate) fn get_or_init(&self, build: impl FnOnce() -> Identity) -> &Identity {
        self.0.get_or_init(build)
    }
}

impl Clone for IdentityCell {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for IdentityCell {
    fn eq(&self, _other: &Self) -> bool {
        true
    }
}

impl Eq for IdentityCell {}

impl std::fmt::Debug for IdentityCell {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("…")
    }
}
