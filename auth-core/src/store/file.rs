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
/// the store's own then rewrites the file (to a temporary file created
/// exclusively with mode 0600, synced, then renamed over it, and the
/// directory synced), folding changes that arrive while it writes into the
/// next write. No request waits on the disk: a key's `last_used_at` is
/// written in the background, while [`ApiKeys`](crate::api_key::ApiKeys)
/// waits through [`KeyStore::flush`] after issuing, revoking or rotating a
/// key, so those are durable when they return.
///
/// Several stores on one file (processes of one service) never undo each
/// other's changes: each write holds an exclusive lock on `<file>.lock`,
/// reads the file first and folds in what another writer put there (keys
/// it issued; its revocations, expiries and `last_used_at`, the more
/// restrictive value winning), then writes. The file is also re-read every
/// [`RELOAD_EVERY`] when it changed, so a key revoked by another process is
/// refused here within that time. Redis-backed stores are planned.
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
    thread: Option<std::thread::JoinHandle<()>>,
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

/// How often a [`FileKeyStore`] looks whether another writer changed its
/// file.
pub const RELOAD_EVERY: std::time::Duration = std::time::Duration::from_secs(2);

/// Reads the file, if there is one.
fn read_file(path: &Path) -> Result<Option<FileFormat>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => {
            let file: FileFormat = serde_json::from_slice(&bytes)
                .map_err(|e| ConfigError::parse(path.display().to_string(), e))?;
            if file.version != 1 {
                return Err(ConfigError::invalid("key store file version"));
            }
            Ok(Some(file))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ConfigError::io(path.display().to_string(), e)),
    }
}

/// What tells one version of the file from the next: each write renames a
/// new file over it, so its inode changes even when two writes share a
/// modification time (a coarse clock tick).
type Version = Option<(u64, std::time::SystemTime)>;

fn version(path: &Path) -> Version {
    let meta = std::fs::metadata(path).ok()?;
    #[cfg(unix)]
    let inode = std::os::unix::fs::MetadataExt::ino(&meta);
    #[cfg(not(unix))]
    let inode = meta.len();
    Some((inode, meta.modified().ok()?))
}

impl FileKeyStore {
    /// Opens `path`, or starts an empty store there if it does not exist,
    /// and starts its writer thread.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, ConfigError> {
        let path = path.as_ref().to_path_buf();
        let lock = open_lock(&path)?;
        // Taken before the read: a change after it is always seen.
        let seen = version(&path);
        let memory = Arc::new(MemoryKeyStore::new());
        for e in read_file(&path)?.map(|f| f.keys).unwrap_or_default() {
            memory.insert_now(e.hash, e.record);
        }
        let writer = Arc::new(Writer {
            state: Mutex::new(Wanted::default()),
            wake: Condvar::new(),
            writes: AtomicU64::new(0),
        });
        let (tx, written) = watch::channel(Written::default());
        let (m, w) = (memory.clone(), writer.clone());
        let thread = std::thread::Builder::new()
            .name("auth-key-store".to_owned())
            .spawn(move || write_loop(&m, &w, &path, &lock, seen, &tx))
            .map_err(|e| ConfigError::io("key store writer thread", e))?;
        Ok(Self {
            memory,
            writer,
            written,
            thread: Some(thread),
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
        // The writer finishes what is pending, then stops; waited for, so
        // that the file holds every change once the store is gone.
        self.writer.lock().closed = true;
        self.writer.wake.notify_one();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Opens `<path>.lock` (created 0600), which writers lock in turn.
fn open_lock(path: &Path) -> Result<std::fs::File, ConfigError> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(&lock_path)
        .map_err(|e| ConfigError::io(lock_path.display().to_string(), e))
}

/// Folds what another writer put in the file into `memory`. Under the lock.
fn merge_from_file(memory: &MemoryKeyStore, path: &Path) -> std::io::Result<()> {
    let file = read_file(path).map_err(std::io::Error::other)?;
    for e in file.map(|f| f.keys).unwrap_or_default() {
        memory.merge_now(e.hash, e.record);
    }
    Ok(())
}

fn write_loop(
    memory: &MemoryKeyStore,
    writer: &Writer,
    path: &Path,
    lock: &std::fs::File,
    mut seen: Version,
    tx: &watch::Sender<Written>,
) {
    let mut done = 0;
    loop {
        let target = {
            let mut wanted = writer.lock();
            while wanted.generation == done && !wanted.closed {
                let (next, waited) = writer
                    .wake
                    .wait_timeout(wanted, RELOAD_EVERY)
                    .unwrap_or_else(|e| e.into_inner());
                wanted = next;
                if waited.timed_out() && wanted.generation == done && version(path) != seen {
                    drop(wanted);
                    // Another writer changed the file: take in its changes.
                    let reloaded = lock
                        .lock()
                        .and_then(|()| {
                            seen = version(path);
                            merge_from_file(memory, path)
                        })
                        .and(lock.unlock());
                    if let Err(e) = reloaded {
                        tracing::warn!(target: "auth_core", path = %path.display(), error = %e, "cannot reload the key store");
                    }
                    wanted = writer.lock();
                }
            }
            if wanted.generation == done {
                return;
            }
            wanted.generation
        };
        let result = lock.lock().and_then(|()| {
            let written = merge_from_file(memory, path).and_then(|()| write_file(memory, path));
            seen = version(path);
            written
        });
        let _ = lock.unlock();
        let error = match result {
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
    // Exclusively: never through a file or link someone put there.
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp)?;
    let written = file
        .write_all(&bytes)
        .and_then(|()| file.sync_all())
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written?;
    // The rename itself is durable once the directory is synced.
    #[cfg(unix)]
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// `<file>.<random>.tmp` beside the file.
fn temp_path(path: &Path) -> PathBuf {
    use rand::Rng as _;
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{:016x}.tmp", crate::secret::os_rng().next_u64()));
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
