//! [`FileKeyStore`]: API keys in a JSON file, served from memory, written by
//! a thread of its own.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::memory::MemoryKeyStore;
use super::{FoundKey, KeyHash, KeyRecord, KeyStore};
use crate::authenticate::BoxFuture;
use crate::error::{ConfigError, StoreError};

/// A key store kept in a JSON file of hashes and metadata.
///
/// Lookups and changes are served from memory at once; a writer thread of
/// the store's own then rewrites the file (to a temporary file, synced, then
/// renamed over it), folding changes that arrive while it writes into the
/// next write. No request waits on the disk: a key's `last_used_at` is
/// written in the background, while [`ApiKeys`](crate::api_key::ApiKeys)
/// waits through [`KeyStore::flush`] after issuing, revoking or rotating a
/// key, so those are durable when they return. Meant for a single process;
/// shared stores for several are planned.
///
/// ```
/// use auth_core::api_key::{ApiKeys, Environment, NewKey, Pepper};
/// use auth_core::store::FileKeyStore;
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir().unwrap();
/// let path = dir.path().join("keys.json");
/// let keys = ApiKeys::new(FileKeyStore::open(&path).unwrap(), Pepper::generate());
/// let (key, record) = keys.issue(NewKey::new("acme", Environment::Live)).await.unwrap();
/// let text = std::fs::read_to_string(&path).unwrap();
/// assert!(text.contains(&record.id) && !text.contains(key.expose()));
/// # });
/// ```
pub struct FileKeyStore {
    memory: Arc<MemoryKeyStore>,
    writer: Arc<Writer>,
    written: watch::Receiver<Written>,
}

/// What the writer thread is asked for.
struct Writer {
    state: Mutex<Wanted>,
    wake: Condvar,
    writes: AtomicU64,
}

#[derive(Default)]
struct Wanted {
    /// Bumped by every change.
    generation: u64,
    closed: bool,
}

/// What the writer thread has done: the generation the file holds, and the
/// last write's error, if it failed.
#[derive(Clone, Default)]
struct Written {
    generation: u64,
    error: Option<Arc<str>>,
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
    /// Opens `path`, or starts an empty store there if it does not exist,
    /// and starts its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let memory = Arc::new(MemoryKeyStore::new());
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: FileFormat = serde_json::from_slice(&bytes)
                    .map_err(|e| ConfigError::parse(path.display().to_string(), e))?;
                if file.version != 1 {
                    return Err(ConfigError::invalid("key store file version"));
                }
                for e in file.keys {
                    memory.insert_now(e.hash, e.record);
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(ConfigError::io(path.display().to_string(), e)),
        }
        let writer = Arc::new(Writer {
            state: Mutex::new(Wanted::default()),
            wake: Condvar::new(),
            writes: AtomicU64::new(0),
        });
        let (tx, written) = watch::channel(Written::default());
        let (m, w) = (memory.clone(), writer.clone());
        std::thread::Builder::new()
            .name("auth-key-store".to_owned())
            .spawn(move || write_loop(&m, &w, &path, &tx))
            .map_err(|e| ConfigError::io("key store writer thread", e))?;
        Ok(Self {
            memory,
            writer,
            written,
        })
    }

    /// How many times the file has been written (for tests and metrics).
    pub fn writes(&self) -> u64 {
        self.writer.writes.load(Ordering::Acquire)
    }

    /// Asks the writer for a write of everything changed so far.
    fn changed(&self) {
        let mut wanted = self.writer.lock();
        wanted.generation += 1;
        self.writer.wake.notify_one();
    }
}

impl Writer {
    fn lock(&self) -> std::sync::MutexGuard<'_, Wanted> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Drop for FileKeyStore {
    fn drop(&mut self) {
        // The writer finishes what is pending, then stops.
        self.writer.lock().closed = true;
        self.writer.wake.notify_one();
    }
}

fn write_loop(memory: &MemoryKeyStore, writer: &Writer, path: &Path, tx: &watch::Sender<Written>) {
    let mut done = 0;
    loop {
        let target = {
            let mut wanted = writer.lock();
            while wanted.generation == done && !wanted.closed {
                wanted = writer.wake.wait(wanted).unwrap_or_else(|e| e.into_inner());
            }
            if wanted.generation == done {
                return;
            }
            wanted.generation
        };
        let error = match write_file(memory, path) {
            Ok(()) => {
                writer.writes.fetch_add(1, Ordering::AcqRel);
                None
            }
            Err(e) => {
                tracing::warn!(target: "auth_core", path = %path.display(), error = %e, "cannot write the key store");
                Some(Arc::from(e.to_string()))
            }
        };
        done = target;
        tx.send_replace(Written {
            generation: done,
            error,
        });
    }
}

fn write_file(memory: &MemoryKeyStore, path: &Path) -> std::io::Result<()> {
    let mut keys: Vec<FileEntry> = memory
        .read()
        .by_hash
        .iter()
        .map(|(h, r)| FileEntry {
            hash: *h,
            record: (**r).clone(),
        })
        .collect();
    keys.sort_by(|a, b| a.record.id.cmp(&b.record.id));
    let bytes = serde_json::to_vec_pretty(&FileFormat { version: 1, keys })?;
    let tmp = temp_path(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

impl KeyStore for FileKeyStore {
    fn get<'a>(
        &'a self,
        hash: &'a KeyHash,
    ) -> BoxFuture<'a, Result<Option<Arc<KeyRecord>>, StoreError>> {
        self.memory.get(hash)
    }

    fn find<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<FoundKey>, StoreError>> {
        self.memory.find(id)
    }

    fn insert_if_absent(
        &self,
        hash: KeyHash,
        record: KeyRecord,
    ) -> BoxFuture<'_, Result<bool, StoreError>> {
        let inserted = self.memory.insert_now(hash, record);
        if inserted {
            self.changed();
        }
        Box::pin(std::future::ready(Ok(inserted)))
    }

    fn compare_and_set<'a>(
        &'a self,
        hash: &'a KeyHash,
        current: &'a KeyRecord,
        new: KeyRecord,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        let set = self.memory.compare_and_set_now(hash, current, new);
        if set {
            self.changed();
        }
        Box::pin(std::future::ready(Ok(set)))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<KeyRecord>, StoreError>> {
        self.memory.list()
    }

    fn flush(&self) -> BoxFuture<'_, Result<(), StoreError>> {
        let target = self.writer.lock().generation;
        let mut written = self.written.clone();
        Box::pin(async move {
            let state = written
                .wait_for(|w| w.generation >= target)
                .await
                .map_err(|_| StoreError::new("key store writer stopped", None))?;
            match &state.error {
                None => Ok(()),
                Some(e) => Err(StoreError::new(
                    "key store file",
                    Some(Box::new(std::io::Error::other(e.to_string()))),
                )),
            }
        })
    }
}

impl std::fmt::Debug for FileKeyStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileKeyStore")
            .field("writes", &self.writes())
            .finish_non_exhaustive()
    }
}
