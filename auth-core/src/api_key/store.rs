//! Where API key hashes and metadata live: the [`KeyStore`] trait, an
//! in-memory store and a file-backed store.
//!
//! Stores hold only keyed hashes ([`KeyHash`]) of keys, never the keys.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};

use crate::authenticate::BoxFuture;
use crate::error::{ConfigError, StoreError};

use super::format::Environment;

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
        if s.len() != 64 {
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
}

/// Storage for key hashes and metadata.
///
/// Implement it for your database; the in-process [`MemoryKeyStore`] and
/// [`FileKeyStore`] come with the crate.
pub trait KeyStore: Send + Sync + 'static {
    /// The record of the key with this hash.
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>>;

    /// Adds a key.
    fn insert(&self, hash: KeyHash, record: KeyRecord) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Changes the record of the key with public id `id`; `false` if there is none.
    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Box<dyn FnOnce(&mut KeyRecord) + Send + 'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Every record.
    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>>;
}

#[derive(Default)]
struct Table {
    by_hash: HashMap<KeyHash, Arc<KeyRecord>>,
    by_id: HashMap<String, KeyHash>,
}

impl Table {
    fn insert(&mut self, hash: KeyHash, record: KeyRecord) {
        self.by_id.insert(record.id.clone(), hash);
        self.by_hash.insert(hash, Arc::new(record));
    }

    fn update(&mut self, id: &str, change: Box<dyn FnOnce(&mut KeyRecord) + Send + '_>) -> bool {
        let Some(hash) = self.by_id.get(id) else {
            return false;
        };
        let Some(rec) = self.by_hash.get_mut(hash) else {
            return false;
        };
        change(Arc::make_mut(rec));
        true
    }
}

/// An in-process key store.
#[derive(Default)]
pub struct MemoryKeyStore {
    table: RwLock<Table>,
}

impl MemoryKeyStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Table> {
        // A poisoned lock only means another thread panicked mid-update of
        // plain data; the table is still usable.
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Table> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl KeyStore for MemoryKeyStore {
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        let found = self.read().by_hash.get(hash).cloned();
        Box::pin(std::future::ready(Ok(found)))
    }

    fn insert(&self, hash: KeyHash, record: KeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.write().insert(hash, record);
        Box::pin(std::future::ready(Ok(())))
    }

    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Box<dyn FnOnce(&mut KeyRecord) + Send + 'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let changed = self.write().update(id, change);
        Box::pin(std::future::ready(Ok(changed)))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        let all = self
            .read()
            .by_hash
            .values()
            .map(|r| (**r).clone())
            .collect();
        Box::pin(std::future::ready(Ok(all)))
    }
}

/// A key store kept in a JSON file of hashes and metadata.
///
/// The whole file is rewritten (to a temporary file, then renamed) on every
/// change; lookups are served from memory. Meant for a single process; use
/// the Redis store for several.
pub struct FileKeyStore {
    memory: MemoryKeyStore,
    path: PathBuf,
    write_lock: std::sync::Mutex<()>,
}

#[derive(Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    keys: Vec<FileEntry>,
}

#[derive(Serialize, Deserialize)]
struct FileEntry {
    hash: KeyHash,
    #[serde(flatten)]
    record: KeyRecord,
}

impl FileKeyStore {
    /// Opens `path`, or starts an empty store there if it does not exist.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let memory = MemoryKeyStore::new();
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: FileFormat = serde_json::from_slice(&bytes)
                    .map_err(|e| ConfigError::parse(path.display().to_string(), e))?;
                if file.version != 1 {
                    return Err(ConfigError::invalid("key store file version"));
                }
                let mut table = memory.write();
                for e in file.keys {
                    table.insert(e.hash, e.record);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConfigError::io(path.display().to_string(), e)),
        }
        Ok(Self {
            memory,
            path,
            write_lock: std::sync::Mutex::new(()),
        })
    }

    fn persist(&self) -> Result<(), StoreError> {
        let _one_writer = self.write_lock.lock().unwrap_or_else(|e| e.into_inner());
        let mut keys: Vec<FileEntry> = self
            .memory
            .read()
            .by_hash
            .iter()
            .map(|(h, r)| FileEntry {
                hash: *h,
                record: (**r).clone(),
            })
            .collect();
        keys.sort_by(|a, b| a.record.id.cmp(&b.record.id));
        let bytes = serde_json::to_vec_pretty(&FileFormat { version: 1, keys })
            .map_err(|e| StoreError::new("key store encoding", Some(Box::new(e))))?;
        let tmp = self.path.with_extension("tmp");
        std::fs::write(&tmp, bytes)
            .and_then(|()| std::fs::rename(&tmp, &self.path))
            .map_err(|e| StoreError::new("key store file", Some(Box::new(e))))
    }
}

impl KeyStore for FileKeyStore {
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        self.memory.get(hash)
    }

    fn insert(&self, hash: KeyHash, record: KeyRecord) -> BoxFuture<'_, Result<(), StoreError>> {
        self.memory.write().insert(hash, record);
        Box::pin(std::future::ready(self.persist()))
    }

    fn update<'a>(
        &'a self,
        id: &'a str,
        change: Box<dyn FnOnce(&mut KeyRecord) + Send + 'a>,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let changed = self.memory.write().update(id, change);
        let result = if changed {
            self.persist().map(|()| true)
        } else {
            Ok(false)
        };
        Box::pin(std::future::ready(result))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        self.memory.list()
    }
}
