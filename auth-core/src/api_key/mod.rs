//! API keys: self-identifying, generated from the OS CSPRNG, stored only as
//! keyed hashes, with tiers, expiry, revocation and rotation.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, KeyTier, NewKey, Pepper};
//! use auth_core::{Guard, Policy, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let keys = ApiKeys::in_memory(Pepper::generate());
//! let (key, record) = keys
//!     .issue(NewKey::new("acme", Environment::Live).scopes(["reports:read"]).tier(KeyTier::Main))
//!     .await
//!     .unwrap();
//! assert!(key.expose().starts_with("ask_live_"));
//!
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
//!     .realm("demo")
//!     .build()
//!     .unwrap()
//!     .with_policy(Policy::scope("reports:read"));
//!
//! let allowed = SimpleRequest::get("/v1/reports")
//!     .header("authorization", format!("Bearer {}", key.expose()));
//! assert_eq!(guard.check(&allowed).await.unwrap().into_identity().unwrap().subject(), "acme");
//!
//! // Rotation: the old key keeps working for the grace window only.
//! let (new_key, _) = keys.rotate(&record.id, Duration::ZERO).await.unwrap().unwrap();
//! let refused = guard.check(&allowed).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! let rotated = SimpleRequest::get("/v1/reports").header("x-api-key", new_key.expose());
//! assert!(guard.check(&rotated).await.is_ok());
//! # });
//! ```
//!
//! # Security considerations
//!
//! Keys carry 256 bits of secret, so a fast keyed hash (HMAC-SHA-256 with a
//! server-side pepper) is enough: a slow password hash would add nothing but
//! latency. The pepper must stay out of the key store; whoever has both can
//! test guesses offline (and still faces 2^256 of them).

mod format;
mod record;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use hmac::{Hmac, Mac};
use rand::Rng as _;
use sha2::Sha256;

use crate::authenticate::{AuthRequest, Authenticator, BoxFuture, Specificity};
use crate::error::{AuthError, AuthErrorKind, ConfigError, StoreError};
use crate::identity::{AuthMethod, Identity};
use crate::rejection::Challenge;
use crate::request::RequestHead;
use crate::secret::{Secret, SecretRef};
use crate::store::{KeyStore, MemoryKeyStore};

pub use format::{
    ApiKey, CHECKSUM_LEN, Environment, FormatError, ID_LEN, KeyParts, SECRET_LEN, parse,
};
pub use record::{KeyHash, KeyRecord, KeyTier};

/// The header API keys may be sent in, besides `Authorization: Bearer`.
pub const API_KEY_HEADER: &str = "X-API-Key";

/// [`API_KEY_HEADER`] in lower case, as header names are compared.
const API_KEY_HEADER_LOWER: &str = "x-api-key";

/// The default key prefix (`ask_live_…`).
pub const DEFAULT_PREFIX: &str = "ask";

/// How often, at most, a key's `last_used_at` is written.
const TOUCH_INTERVAL: u64 = 60;

/// The server-side secret that keys the hash of every API key.
#[derive(Clone, Debug)]
pub struct Pepper(Secret);

impl Pepper {
    /// 32 fresh bytes from the OS CSPRNG.
    pub fn generate() -> Self {
        let mut bytes = vec![0u8; 32];
        crate::secret::os_rng().fill_bytes(&mut bytes);
        Self(Secret::new(bytes))
    }

    /// A pepper from bytes; at least 32 of them.
    pub fn from_secret(secret: Secret) -> Result<Self, ConfigError> {
        if secret.len() < 32 {
            return Err(ConfigError::invalid("pepper shorter than 32 bytes"));
        }
        Ok(Self(secret))
    }

    /// A pepper from unpadded base64url text.
    pub fn from_base64url(text: &str) -> Result<Self, ConfigError> {
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(text.trim())
            .map_err(|e| ConfigError::parse("pepper", e))?;
        Self::from_secret(Secret::new(bytes))
    }

    /// The pepper as unpadded base64url, to store it.
    pub fn to_base64url(&self) -> Secret {
        Secret::from(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.0.expose()))
    }
}

/// What to issue: owner, environment, scopes, tier, expiry.
#[derive(Clone, Debug)]
pub struct NewKey {
    owner: String,
    environment: Environment,
    scopes: Vec<String>,
    tier: KeyTier,
    expires_at: Option<SystemTime>,
}

impl NewKey {
    /// A standard key for `owner` with no scopes and no expiry.
    pub fn new(owner: impl Into<String>, environment: Environment) -> Self {
        Self {
            owner: owner.into(),
            environment,
            scopes: Vec::new(),
            tier: KeyTier::Standard,
            expires_at: None,
        }
    }

    /// The scopes the key grants.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Main or standard.
    pub fn tier(mut self, tier: KeyTier) -> Self {
        self.tier = tier;
        self
    }

    /// When the key stops working.
    pub fn expires_at(mut self, at: SystemTime) -> Self {
        self.expires_at = Some(at);
        self
    }
}

/// Issues, verifies, rotates and revokes API keys over a [`KeyStore`].
/// Cheap to clone.
#[derive(Clone)]
pub struct ApiKeys {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn KeyStore>,
    /// HMAC-SHA-256 already keyed with the pepper; cloned per hash.
    mac: Hmac<Sha256>,
    prefix: String,
}

impl ApiKeys {
    /// Keys kept in `store`, hashed with `pepper`.
    pub fn new(store: impl KeyStore, pepper: Pepper) -> Self {
        Self::with_store(Arc::new(store), pepper)
    }

    /// Keys kept in a shared store.
    pub fn with_store(store: Arc<dyn KeyStore>, pepper: Pepper) -> Self {
        let mac = crate::mac::keyed(pepper.0.expose());
        Self {
            inner: Arc::new(Inner {
                store,
                mac,
                prefix: DEFAULT_PREFIX.to_owned(),
            }),
        }
    }

    /// Keys kept in memory.
    pub fn in_memory(pepper: Pepper) -> Self {
        Self::new(MemoryKeyStore::new(), pepper)
    }

    /// Uses `prefix` (2 to 8 lower-case letters) instead of `ask`.
    pub fn with_prefix(self, prefix: &str) -> Result<Self, ConfigError> {
        if !format::valid_prefix(prefix) {
            return Err(ConfigError::invalid(
                "API key prefix (2 to 8 lower-case letters)",
            ));
        }
        let inner = Inner {
            store: self.inner.store.clone(),
            mac: self.inner.mac.clone(),
            prefix: prefix.to_owned(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// The same keys (pepper and prefix) kept in another store, e.g. a
    /// shared one a local file was copied into.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use auth_core::api_key::{ApiKeys, Environment, NewKey, Pepper};
    /// use auth_core::store::{KeyStore, MemoryKeyStore};
    ///
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// let local = ApiKeys::in_memory(Pepper::generate());
    /// let (key, record) = local.issue(NewKey::new("acme", Environment::Live)).await.unwrap();
    /// let shared = local.with_other_store(Arc::new(MemoryKeyStore::new()));
    /// let (hash, found) = local.store().find(&record.id).await.unwrap().unwrap();
    /// assert!(shared.store().insert_if_absent(hash, (*found).clone()).await.unwrap());
    /// assert_eq!(shared.verify(key.expose().as_bytes()).await.unwrap().owner, "acme");
    /// # });
    /// ```
    pub fn with_other_store(&self, store: Arc<dyn KeyStore>) -> Self {
        Self {
            inner: Arc::new(Inner {
                store,
                mac: self.inner.mac.clone(),
                prefix: self.inner.prefix.clone(),
            }),
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn KeyStore> {
        &self.inner.store
    }

    /// The keyed hash of a key text.
    pub fn hash(&self, key: &[u8]) -> KeyHash {
        let mut mac = self.inner.mac.clone();
        mac.update(key);
        KeyHash(mac.finalize().into_bytes().into())
    }

    /// Whether `token` looks like one of these keys (by its prefix).
    pub fn recognises(&self, token: &[u8]) -> bool {
        format::has_prefix(token, &self.inner.prefix)
    }

    /// Issues a key: stores its hash and record, returns the key text once.
    pub async fn issue(&self, new: NewKey) -> Result<(ApiKey, KeyRecord), StoreError> {
        let (key, id) = format::generate(&self.inner.prefix, new.environment);
        let record = KeyRecord {
            id,
            owner: new.owner,
            scopes: new.scopes,
            tier: new.tier,
            environment: new.environment,
            created_at: unix_now(),
            expires_at: new.expires_at.map(unix),
            revoked_at: None,
            last_used_at: None,
            replaced_by: None,
            identity: Default::default(),
        };
        let hash = self.hash(key.as_secret().expose());
        // 128 random bits of id and 256 of secret: a clash is not a thing
        // to recover from.
        if !self
            .inner
            .store
            .insert_if_absent(hash, record.clone())
            .await?
        {
            return Err(StoreError::new("a key with this id already exists", None));
        }
        self.inner.store.flush().await?;
        Ok((key, record))
    }

    /// Changes the record of key `id` with `change`, by compare-and-set,
    /// until it sticks; `None` if there is no such key.
    async fn change(
        &self,
        id: &str,
        change: impl Fn(&mut KeyRecord),
    ) -> Result<Option<KeyRecord>, StoreError> {
        let store = &self.inner.store;
        // Each lost race means another writer changed the record; a few
        // rounds settle any real contention.
        for _ in 0..16 {
            let Some((hash, current)) = store.find(id).await? else {
                return Ok(None);
            };
            let mut new = (*current).clone();
            change(&mut new);
            if store.compare_and_set(&hash, &current, new.clone()).await? {
                store.flush().await?;
                return Ok(Some(new));
            }
        }
        Err(StoreError::new("key record kept changing", None))
    }

    /// Revokes the key with public id `id`; `false` if there is none.
    pub async fn revoke(&self, id: &str) -> Result<bool, StoreError> {
        let now = unix_now();
        let changed = self
            .change(id, |r| {
                r.revoked_at.get_or_insert(now);
            })
            .await?;
        Ok(changed.is_some())
    }

    /// Issues a replacement for key `id` (same owner, scopes, tier and
    /// environment); the old key keeps working for `grace`, then is refused.
    /// `None` if there is no such key.
    pub async fn rotate(
        &self,
        id: &str,
        grace: Duration,
    ) -> Result<Option<(ApiKey, KeyRecord)>, StoreError> {
        let Some((_, old)) = self.inner.store.find(id).await? else {
            return Ok(None);
        };
        let mut new = NewKey::new(old.owner.clone(), old.environment)
            .scopes(old.scopes.clone())
            .tier(old.tier);
        new.expires_at = old
            .expires_at
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)));
        let (key, record) = self.issue(new).await?;
        let cutoff = unix_now().saturating_add(grace.as_secs());
        self.change(id, |r| {
            r.expires_at = Some(r.expires_at.map_or(cutoff, |e| e.min(cutoff)));
            r.replaced_by = Some(record.id.clone());
        })
        .await?;
        Ok(Some((key, record)))
    }

    /// Verifies a presented key. A refusal names no challenge: the caller
    /// knows how the key was presented.
    pub async fn verify(&self, presented: &[u8]) -> Result<Arc<KeyRecord>, AuthError> {
        let invalid = |reason, detail| {
            AuthError::new(AuthErrorKind::InvalidCredentials)
                .with_reason(reason)
                .with_detail(detail)
        };
        let parts = format::parse(presented, &self.inner.prefix).map_err(|e| match e {
            FormatError::Malformed => invalid("malformed_api_key", "the API key is malformed"),
            FormatError::BadChecksum => invalid("bad_checksum", "the API key is malformed"),
        })?;
        let hash = self.hash(presented);
        let record = self
            .inner
            .store
            .get(&hash)
            .await?
            .ok_or_else(|| invalid("unknown_api_key", "the API key is not recognised"))?;
        if record.id != parts.id || record.environment != parts.environment {
            return Err(invalid("unknown_api_key", "the API key is not recognised"));
        }
        if record.revoked_at.is_some() {
            return Err(AuthError::new(AuthErrorKind::RevokedCredentials)
                .with_reason("key_revoked")
                .with_detail("the API key was revoked"));
        }
        let now = unix_now();
        // A stored expiry past year 9999 is no date this system issues: a
        // corrupt or forged record, refused like a bad token.
        if record.expires_at.is_some_and(|e| e > MAX_STORED_TIME) {
            return Err(invalid(
                "time_out_of_range",
                "the API key's record holds a time out of range",
            ));
        }
        if record.expires_at.is_some_and(|e| e <= now) {
            let (reason, detail) = if record.replaced_by.is_some() {
                (
                    "key_rotated_out",
                    "the API key was replaced and its grace period has ended",
                )
            } else {
                ("key_expired", "the API key has expired")
            };
            return Err(AuthError::new(AuthErrorKind::ExpiredCredentials)
                .with_reason(reason)
                .with_detail(detail));
        }
        if record
            .last_used_at
            .is_none_or(|t| now.saturating_sub(t) >= TOUCH_INTERVAL)
        {
            // One compare-and-set: of many requests at once, one records the
            // use and the rest lose the race, as they should. The store
            // writes it to disk off the request path.
            let mut touched = (*record).clone();
            touched.last_used_at = Some(now);
            if let Err(e) = self
                .inner
                .store
                .compare_and_set(&hash, &record, touched)
                .await
            {
                // Bookkeeping only: the key is valid, so let the request in.
                tracing::warn!(target: "auth_core", error = %e, "could not record API key use");
            }
        }
        Ok(record)
    }
}

impl std::fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiKeys")
            .field("prefix", &self.inner.prefix)
            .finish_non_exhaustive()
    }
}

/// 9999-12-31T23:59:59Z, the last time a stored record may hold.
const MAX_STORED_TIME: u64 = 253_402_300_799;

fn unix(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

fn unix_now() -> u64 {
    unix(SystemTime::now())
}

/// Authenticates API keys sent as `Authorization: Bearer <key>` (recognised
/// by the key prefix) or `X-API-Key: <key>`.
///
/// A refused bearer key answers `Bearer realm="…", error="invalid_token"`;
/// a refused `X-API-Key` answers `ApiKey realm="…", header="X-API-Key"`.
#[derive(Clone, Debug)]
pub struct ApiKeyAuthenticator {
    keys: ApiKeys,
}

impl ApiKeyAuthenticator {
    /// An authenticator over `keys`.
    pub fn new(keys: ApiKeys) -> Self {
        Self { keys }
    }

    /// The key presented, and the challenge that answers its refusal.
    fn presented<'a>(&self, req: &AuthRequest<'a>) -> Option<(SecretRef<'a>, bool)> {
        let credential = req.credential();
        if let Some(key) = credential.header(API_KEY_HEADER_LOWER) {
            return Some((key, true));
        }
        credential
            .bearer()
            .filter(|t| self.keys.recognises(t.expose()))
            .map(|t| (t, false))
    }
}

fn api_key_header_challenge() -> Challenge {
    Challenge::new("ApiKey").with_param("header", API_KEY_HEADER)
}

/// The identity of a key: built once per stored record and shared.
fn identity_of(record: &KeyRecord) -> Identity {
    record
        .identity
        .get_or_init(|| {
            let mut id = Identity::new(record.owner.as_str(), AuthMethod::ApiKey)
                .with_scopes(record.scopes.iter().map(String::as_str))
                .with_roles([record.tier.role()])
                .with_key_id(record.id.as_str());
            if let Some(exp) = record
                .expires_at
                .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
            {
                id = id.with_expiry(exp);
            }
            id
        })
        .clone()
}

impl Authenticator for ApiKeyAuthenticator {
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        use crate::openapi::{Security, api_key_header, bearer};
        Security::scheme("api_key", api_key_header("X-API-Key"))
            .or(Security::scheme("bearer", bearer(None)))
    }
    fn credential_headers(&self, out: &mut Vec<&'static str>) {
        out.push(API_KEY_HEADER_LOWER);
    }

    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        self.presented(req).map(|_| Specificity::Exact)
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        let presented = self.presented(req);
        Box::pin(async move {
            let Some((key, in_header)) = presented else {
                return Err(AuthError::new(AuthErrorKind::MissingCredentials));
            };
            let challenge = || {
                if in_header {
                    api_key_header_challenge()
                } else {
                    Challenge::bearer_error("invalid_token")
                }
            };
            let key = key.expose();
            if in_header && (key.is_empty() || !key.iter().all(u8::is_ascii_graphic)) {
                return Err(AuthError::new(AuthErrorKind::InvalidCredentials)
                    .with_challenge(challenge())
                    .with_reason("malformed_api_key")
                    .with_detail("the API key is malformed"));
            }
            let record = self.keys.verify(key).await.map_err(|e| {
                if e.status() == 401 {
                    e.with_challenge(challenge())
                } else {
                    e
                }
            })?;
            Ok(identity_of(&record))
        })
    }

    fn challenges(&self, _head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        out.push(Challenge::bearer());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Guard, SimpleRequest};

    async fn setup() -> (ApiKeys, Guard) {
        let keys = ApiKeys::in_memory(Pepper::generate());
        let guard = Guard::builder(ApiKeyAuthenticator::new(keys.clone()))
            .realm("t")
            .build()
            .unwrap();
        (keys, guard)
    }

    fn bearer(key: &str) -> SimpleRequest {
        SimpleRequest::get("/").header("authorization", format!("Bearer {key}"))
    }

    #[tokio::test]
    async fn lifecycle() {
        let (keys, guard) = setup().await;
        let (key, rec) = keys
            .issue(
                NewKey::new("o", Environment::Test)
                    .scopes(["s"])
                    .tier(KeyTier::Main),
            )
            .await
            .unwrap();
        let id = guard
            .check(&bearer(key.expose()))
            .await
            .unwrap()
            .into_identity()
            .unwrap();
        assert_eq!(id.subject(), "o");
        assert_eq!(id.key_id(), Some(rec.id.as_str()));
        assert!(id.has_role("api_key:main"));
        assert!(id.has_scope("s"));

        // last_used_at recorded.
        let stored = keys.store().list().await.unwrap();
        assert!(stored[0].last_used_at.is_some());

        assert!(keys.revoke(&rec.id).await.unwrap());
        let r = guard.check(&bearer(key.expose())).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert!(!keys.revoke("nope").await.unwrap());
    }

    #[tokio::test]
    async fn a_stored_expiry_past_year_9999_is_refused() {
        let (keys, guard) = setup().await;
        let at = |secs: u64| UNIX_EPOCH + Duration::from_secs(secs);
        let (last, _) = keys
            .issue(NewKey::new("o", Environment::Live).expires_at(at(MAX_STORED_TIME)))
            .await
            .unwrap();
        assert!(guard.check(&bearer(last.expose())).await.is_ok());
        let (past, _) = keys
            .issue(NewKey::new("o", Environment::Live).expires_at(at(MAX_STORED_TIME + 1)))
            .await
            .unwrap();
        let r = guard.check(&bearer(past.expose())).await.unwrap_err();
        assert_eq!(r.status(), 401);
        let www: Vec<_> = r.header_values("www-authenticate").collect();
        assert!(www.iter().any(|c| c.contains("invalid_token")), "{www:?}");
    }

    #[tokio::test]
    async fn expired_and_rotated() {
        let (keys, guard) = setup().await;
        let (expired, _) = keys
            .issue(
                NewKey::new("o", Environment::Live)
                    .expires_at(SystemTime::now() - Duration::from_secs(10)),
            )
            .await
            .unwrap();
        assert_eq!(
            guard
                .check(&bearer(expired.expose()))
                .await
                .unwrap_err()
                .status(),
            401
        );

        let (old, rec) = keys
            .issue(NewKey::new("o", Environment::Live).scopes(["x"]))
            .await
            .unwrap();
        let (new, new_rec) = keys
            .rotate(&rec.id, Duration::from_secs(3600))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(new_rec.scopes, ["x"]);
        assert!(
            guard.check(&bearer(old.expose())).await.is_ok(),
            "inside grace"
        );
        assert!(guard.check(&bearer(new.expose())).await.is_ok());
        // Rotating again with no grace cuts the old one off at once.
        let (newer, _) = keys
            .rotate(&new_rec.id, Duration::ZERO)
            .await
            .unwrap()
            .unwrap();
        assert!(guard.check(&bearer(new.expose())).await.is_err());
        assert!(guard.check(&bearer(newer.expose())).await.is_ok());
        assert!(
            keys.rotate("missing", Duration::ZERO)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn refusals() {
        let (keys, guard) = setup().await;
        let (key, _) = keys
            .issue(NewKey::new("o", Environment::Live))
            .await
            .unwrap();
        // A key from another deployment (other pepper) is unknown here.
        let other = ApiKeys::in_memory(Pepper::generate());
        let (foreign, _) = other
            .issue(NewKey::new("o", Environment::Live))
            .await
            .unwrap();
        for bad in [
            foreign.expose().to_owned(),
            key.expose().replacen("_live_", "_test_", 1),
            format!("{}x", key.expose()),
            "ask_live_0123".to_owned(),
        ] {
            let r = guard.check(&bearer(&bad)).await.unwrap_err();
            assert_eq!(r.status(), 401, "{bad}");
            let body = String::from_utf8(r.body().to_vec()).unwrap();
            assert!(!body.contains(&bad));
            let r = guard
                .check(&SimpleRequest::get("/").header("x-api-key", &bad))
                .await
                .unwrap_err();
            assert_eq!(
                r.header_values("www-authenticate").collect::<Vec<_>>(),
                ["ApiKey realm=\"t\", header=\"X-API-Key\""]
            );
        }
    }

    #[tokio::test]
    async fn file_store_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.json");
        let pepper = Pepper::generate();
        let keys = ApiKeys::new(
            crate::store::FileKeyStore::open(&path).unwrap(),
            pepper.clone(),
        );
        let (key, rec) = keys
            .issue(NewKey::new("o", Environment::Live).scopes(["a"]))
            .await
            .unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains(key.expose()), "no plaintext on disk");
        assert!(text.contains(&rec.id));
        let reopened = ApiKeys::new(crate::store::FileKeyStore::open(&path).unwrap(), pepper);
        let found = reopened.verify(key.expose().as_bytes()).await.unwrap();
        assert_eq!(found.scopes, ["a"]);
        std::fs::write(&path, "not json").unwrap();
        assert!(crate::store::FileKeyStore::open(&path).is_err());
    }

    #[test]
    fn pepper_rules() {
        assert!(Pepper::from_secret(Secret::new(vec![1; 31])).is_err());
        let p = Pepper::generate();
        let text = p.to_base64url();
        let back = Pepper::from_base64url(text.expose_str().unwrap()).unwrap();
        let a = ApiKeys::in_memory(p);
        let b = ApiKeys::in_memory(back);
        assert_eq!(a.hash(b"x"), b.hash(b"x"));
        assert!(a.clone().with_prefix("Bad").is_err());
        assert!(a.with_prefix("acme").is_ok());
    }
}
