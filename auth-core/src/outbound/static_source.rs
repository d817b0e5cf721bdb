//! [`StaticSource`]: a bearer token, an API key or a Basic password from
//! the environment, a file (read again when it changes) or the program.

use std::borrow::Cow;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use super::{CredentialHeader, OutboundError, TokenSource, is_tchar, is_visible_ascii};
use crate::authenticate::BoxFuture;
use crate::error::ConfigError;
use crate::secret::Secret;

const TARGET: &str = "auth_core::outbound";

/// The largest secret file read.
const MAX_FILE: u64 = 64 * 1024;

/// Where a static secret is read from.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum SecretFrom {
    /// An environment variable, read once when the source is built.
    Env(String),
    /// A file (a mounted Kubernetes or Docker secret, say), read when the
    /// source is built and again whenever its modification time or length
    /// changes, looked at no more than once a second. A trailing newline is
    /// not part of the secret.
    File(PathBuf),
    /// A value the program has (from a secrets manager's client, say).
    Value(Secret),
}

/// A credential that stays the same until its file changes, as a
/// [`TokenSource`]: `Authorization: Bearer`, `Authorization: Basic` or an
/// API-key header.
///
/// The secret is read when the source is built, so a missing variable or
/// an unreadable file is a [`ConfigError`] then, never a failed request.
/// Later, a file that cannot be read, or that holds something that cannot
/// be sent in a header, leaves the last good value in use and logs a
/// warning (without the value). A refusal of the current value
/// ([`invalidate`](TokenSource::invalidate)) makes the next request read
/// the file again at once.
///
/// ```
/// use auth_core::outbound::{SecretFrom, StaticSource, TokenSource};
///
/// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("token");
/// std::fs::write(&path, "first\n")?;
/// let source = StaticSource::bearer(SecretFrom::File(path.clone()))?
///     .check_interval(std::time::Duration::ZERO);
/// assert_eq!(source.credential().await?.value().expose(), b"Bearer first");
///
/// std::fs::write(&path, "second-token\n")?;
/// assert_eq!(source.credential().await?.value().expose(), b"Bearer second-token");
///
/// let missing = StaticSource::bearer(SecretFrom::File(dir.path().join("nope")));
/// assert_eq!(missing.unwrap_err().kind(), auth_core::ConfigErrorKind::Io);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # }).unwrap();
/// ```
#[derive(Clone)]
pub struct StaticSource {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StaticSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticSource")
            .field("header", &self.inner.name)
            .field("file", &self.inner.file)
            .finish_non_exhaustive()
    }
}

struct Inner {
    name: Cow<'static, str>,
    shape: Shape,
    file: Option<PathBuf>,
    state: Mutex<State>,
}

/// How the secret becomes the header's value.
enum Shape {
    Bearer,
    Basic {
        user: String,
    },
    /// The secret itself (an API key).
    Raw,
}

struct State {
    current: CredentialHeader,
    /// The file's modification time and length when it was last read.
    stamp: Option<Stamp>,
    check_every: Duration,
    last_check: Instant,
    /// A check is in flight; other requests use the current value.
    checking: bool,
    /// Read the file at the next request, changed or not.
    force: bool,
    /// The last check failed (warned once until a check succeeds).
    failing: bool,
}

#[derive(Clone, Copy, PartialEq, Eq)]
struct Stamp {
    modified: Option<SystemTime>,
    len: u64,
}

impl StaticSource {
    /// `Authorization: Bearer <token>`. The token must be visible ASCII.
    pub fn bearer(token: SecretFrom) -> Result<Self, ConfigError> {
        Self::new(Cow::Borrowed("authorization"), Shape::Bearer, token)
    }

    /// `Authorization: Basic base64(user ":" password)` (RFC 7617, UTF-8).
    /// `user` may not hold a colon or a control character.
    pub fn basic(user: impl Into<String>, password: SecretFrom) -> Result<Self, ConfigError> {
        let user = user.into();
        if user.contains(':') || user.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                "a Basic user name may not hold a colon or a control character",
            ));
        }
        Self::new(
            Cow::Borrowed("authorization"),
            Shape::Basic { user },
            password,
        )
    }

    /// `<header>: <key>`, e.g. `X-API-Key`. The key must be visible ASCII.
    pub fn api_key(header: impl AsRef<str>, key: SecretFrom) -> Result<Self, ConfigError> {
        let header = header.as_ref();
        if header.is_empty() || !header.bytes().all(is_tchar) {
            return Err(ConfigError::invalid(format!(
                "{header:?} is not a header name"
            )));
        }
        Self::new(Cow::Owned(header.to_ascii_lowercase()), Shape::Raw, key)
    }

    /// How often, at most, a file source looks at its file (default 1 s).
    pub fn check_interval(self, every: Duration) -> Self {
        self.inner.state().check_every = every;
        self
    }

    fn new(name: Cow<'static, str>, shape: Shape, from: SecretFrom) -> Result<Self, ConfigError> {
        let (secret, file, stamp, what) = match from {
            SecretFrom::Env(var) => {
                let what = format!("environment variable {var}");
                let Some(value) = std::env::var_os(&var) else {
                    return Err(ConfigError::invalid(format!("{what} is not set")));
                };
                let mut bytes = value.into_encoded_bytes();
                trim_newline(&mut bytes);
                (Secret::new(bytes), None, None, what)
            }
            SecretFrom::File(path) => {
                let what = format!("secret file {}", path.display());
                let (secret, stamp) =
                    read_file(&path).map_err(|e| ConfigError::io(what.clone(), e))?;
                (secret, Some(path), Some(stamp), what)
            }
            SecretFrom::Value(secret) => (secret, None, None, "the secret value".to_owned()),
        };
        if secret.is_empty() {
            return Err(ConfigError::invalid(format!("{what} is empty")));
        }
        let current = shape.header(name.clone(), &secret).ok_or_else(|| {
            ConfigError::invalid(format!(
                "{what} holds bytes that cannot be sent in a header"
            ))
        })?;
        Ok(Self {
            inner: Arc::new(Inner {
                name,
                shape,
                file,
                state: Mutex::new(State {
                    current,
                    stamp,
                    check_every: Duration::from_secs(1),
                    last_check: Instant::now(),
                    checking: false,
                    force: false,
                    failing: false,
                }),
            }),
        })
    }
}

impl Shape {
    fn header(&self, name: Cow<'static, str>, secret: &Secret) -> Option<CredentialHeader> {
        match self {
            Self::Bearer => CredentialHeader::bearer(secret),
            Self::Basic { user } => {
                use base64::Engine as _;
                let mut pair = Vec::with_capacity(user.len() + 1 + secret.len());
                pair.extend_from_slice(user.as_bytes());
                pair.push(b':');
                pair.extend_from_slice(secret.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(&pair);
                zeroize::Zeroize::zeroize(&mut pair);
                CredentialHeader::new(name, Secret::from(format!("Basic {encoded}")))
            }
            Self::Raw => is_visible_ascii(secret.expose())
                .then(|| CredentialHeader::new(name, secret.clone()))
                .flatten(),
        }
    }
}

fn trim_newline(bytes: &mut Vec<u8>) {
    while bytes.last().is_some_and(|b| *b == b'\n' || *b == b'\r') {
        bytes.pop();
    }
}

fn stamp_of(meta: &std::fs::Metadata) -> Stamp {
    Stamp {
        modified: meta.modified().ok(),
        len: meta.len(),
    }
}

/// The file's content (without a trailing newline) and its stamp, taken
/// before the read so that a write during it is seen at the next check.
fn read_file(path: &Path) -> std::io::Result<(Secret, Stamp)> {
    let file = std::fs::File::open(path)?;
    let stamp = stamp_of(&file.metadata()?);
    let mut bytes = Vec::new();
    file.take(MAX_FILE + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE {
        zeroize::Zeroize::zeroize(&mut bytes);
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE} bytes"),
        ));
    }
    trim_newline(&mut bytes);
    Ok((Secret::new(bytes), stamp))
}

/// Marks the end of a check, however it ends (a request may be dropped
/// while it waits for the read).
struct CheckDone<'a>(&'a Inner);

impl Drop for CheckDone<'_> {
    fn drop(&mut self) {
        self.0.state().checking = false;
    }
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this call should look at the file now; if so, the others
    /// do not until it is done.
    fn claim_check(&self) -> Option<(bool, Option<Stamp>)> {
        let mut st = self.state();
        let due = st.force || st.last_check.elapsed() >= st.check_every;
        if st.checking || !due {
            return None;
        }
        st.checking = true;
        st.last_check = Instant::now();
        Some((std::mem::take(&mut st.force), st.stamp))
    }

    async fn check(&self, path: &Path, force: bool, known: Option<Stamp>) {
        let _done = CheckDone(self);
        let owned = path.to_owned();
        // A stat, and a read only when something changed; off the async
        // threads, as any file I/O.
        let job = move || -> std::io::Result<Option<(Secret, Stamp)>> {
            let stamp = stamp_of(&std::fs::metadata(&owned)?);
            if !force && Some(stamp) == known {
                return Ok(None);
            }
            read_file(&owned).map(Some)
        };
        let result = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => runtime
                .spawn_blocking(job)
                .await
                .unwrap_or_else(|e| Err(std::io::Error::other(e))),
            Err(_) => job(),
        };
        let mut st = self.state();
        match result {
            Ok(None) => st.failing = false,
            Ok(Some((secret, stamp))) => {
                st.stamp = Some(stamp);
                match self
                    .shape
                    .header(self.name.clone(), &secret)
                    .filter(|_| !secret.is_empty())
                {
                    Some(header) => {
                        if header != st.current {
                            tracing::info!(target: TARGET, path = %path.display(), "secret file changed; its new value is used");
                            st.current = header;
                        }
                        st.failing = false;
                    }
                    None => {
                        tracing::warn!(target: TARGET, path = %path.display(), "secret file is empty or holds bytes that cannot be sent in a header; the last good value stays in use");
                        st.failing = true;
                    }
                }
            }
            Err(e) => {
                if !std::mem::replace(&mut st.failing, true) {
                    tracing::warn!(target: TARGET, path = %path.display(), error = %e, "secret file cannot be read; the last good value stays in use");
                }
            }
        }
    }
}

impl TokenSource for StaticSource {
    fn credential(&self) -> BoxFuture<'_, Result<CredentialHeader, OutboundError>> {
        Box::pin(async move {
            if let Some(path) = &self.inner.file
                && let Some((force, known)) = self.inner.claim_check()
            {
                self.inner.check(path, force, known).await;
            }
            Ok(self.inner.state().current.clone())
        })
    }

    fn invalidate<'a>(&'a self, sent: &'a CredentialHeader) -> BoxFuture<'a, ()> {
        if self.inner.file.is_some() {
            let mut st = self.inner.state();
            if st.current == *sent {
                st.force = true;
            }
        }
        Box::pin(std::future::ready(()))
    }
}
