//! HTTP Basic (RFC 7617), hardened: TLS only unless told otherwise,
//! argon2id hashes, the same work for unknown users, a short-lived cache of
//! verified credentials, and lockout after repeated failures.
//!
//! ```
//! use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
//! use auth_core::{Guard, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let alice = BasicUser::new("alice", hash_password("correct horse").unwrap())
//!     .scopes(["reports:read"]);
//! let basic = BasicAuthenticator::builder().user(alice).build().unwrap();
//! let guard = Guard::builder(basic).realm("demo").build().unwrap();
//!
//! // "alice:correct horse"
//! let ok = SimpleRequest::get("/").tls(true)
//!     .header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==");
//! assert_eq!(guard.check(&ok).await.unwrap().into_identity().unwrap().subject(), "alice");
//!
//! // The same over plaintext is refused, and Basic is not offered there.
//! let plain = SimpleRequest::get("/")
//!     .header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==");
//! let refused = guard.check(&plain).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! assert_eq!(refused.header_values("www-authenticate").count(), 0);
//! # });
//! ```
//!
//! # Users from a store
//!
//! Beside (or instead of) a fixed list, users can be looked up by name when
//! they log in, from a [`UserStore`] (a database, a directory;
//! [`MemoryUserStore`] in process): [`BasicAuthenticatorBuilder::user_store`].
//! Everything below holds for them as for the fixed list; a store that
//! cannot answer is a 503 with `Retry-After`, never a 401.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
//! use auth_core::store::MemoryUserStore;
//! use auth_core::{Guard, SimpleRequest};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let users = Arc::new(MemoryUserStore::new());
//! let basic = BasicAuthenticator::builder()
//!     .user_store(users.clone())
//!     .build()
//!     .unwrap();
//! let guard = Guard::builder(basic).realm("demo").build().unwrap();
//!
//! // Added at run time, after the guard was built.
//! users.insert(BasicUser::new("alice", hash_password("correct horse").unwrap())).unwrap();
//! // "alice:correct horse"
//! let alice = SimpleRequest::get("/").tls(true)
//!     .header("authorization", "Basic YWxpY2U6Y29ycmVjdCBob3JzZQ==");
//! assert_eq!(guard.check(&alice).await.unwrap().into_identity().unwrap().subject(), "alice");
//!
//! // "bob:correct horse": not in the store, 401 with the Basic challenge.
//! let bob = SimpleRequest::get("/").tls(true)
//!     .header("authorization", "Basic Ym9iOmNvcnJlY3QgaG9yc2U=");
//! let refused = guard.check(&bob).await.unwrap_err();
//! assert_eq!(refused.status(), 401);
//! assert!(refused.header_values("www-authenticate").any(|c| c.starts_with("Basic ")));
//! # });
//! ```
//!
//! # Security considerations
//!
//! - Basic sends the password with every request; it is refused on plaintext
//!   transports unless [`BasicAuthenticatorBuilder::insecure_allow_plaintext`]
//!   is called. Behind a TLS-terminating proxy, list it with
//!   [`BasicAuthenticatorBuilder::trusted_proxies`] so its
//!   `X-Forwarded-Proto: https` is believed.
//! - The verified-credential cache is keyed by an HMAC (with a per-process
//!   random key) of the pair, never the pair; entries live
//!   [`BasicAuthenticatorBuilder::cache_ttl`] (60 s by default), so a changed
//!   password takes up to that long to take effect.
//! - Lockout counts failures per user name, known or not, and client
//!   address: 5 in 15 minutes lock that name for that client, and ten times
//!   as many from all clients lock it for everyone (see
//!   [`Lockout`] for the trade-off). Attempts are
//!   counted before the password is checked.
//! - Work is bounded before any hashing: user-ids over [`MAX_USER_LEN`]
//!   bytes and passwords over [`MAX_PASSWORD_LEN`] are refused unread, and
//!   at most [`BasicAuthenticatorBuilder::max_concurrent_hashes`] checks run
//!   at once (503 with `Retry-After` beyond that).
//! - Hashes must be argon2id with at least OWASP's minimum parameters; an
//!   unknown user is checked against a dummy hash made with the strongest
//!   parameters any user has.
//! - Store users ([`BasicAuthenticatorBuilder::user_store`]) are checked
//!   when read, since they cannot be checked at build: a record whose hash
//!   is not argon2id, is below OWASP's minimum or costs more than
//!   [`BasicAuthenticatorBuilder::store_hash_params`] (what the dummy hash
//!   is made with), or whose name is not the one asked for (a database
//!   matching names case-insensitively would let a guesser spread one name
//!   over many lockout counters), is refused like an unknown user (checked
//!   against the dummy hash, 401) and logged as an error.
//! - A user removed from the store, or whose password, scopes or roles
//!   change there, is still accepted with what was read for at most
//!   [`BasicAuthenticatorBuilder::cache_ttl`], counted from before the
//!   store was read. A pair refused is remembered as long: a user added,
//!   or a password set, just after that very pair was tried answers 401
//!   until then. Lower the TTL (or set it to zero) where that matters
//!   more than one argon2 check per request.
//! - The store is read for every check that is not answered from the
//!   caches, for known and unknown names alike, before hashing; how long
//!   the store takes to answer a hit and a miss is the store's to keep
//!   alike. Users of the fixed list are found without asking the store.
//!
//! # Internationalised names and passwords (RFC 8265)
//!
//! The challenge says `charset="UTF-8"`, and both halves of a pair are
//! prepared as RFC 7617 §2.1 asks, through `precis-profiles`, before they
//! are compared or hashed:
//!
//! - the user name by UsernameCasePreserved ([`prepare_username`]): width
//!   mapping, NFC, no symbols, punctuation or spaces outside ASCII, and the
//!   bidi rule; parts separated by ASCII spaces (`Jane Doe`) are allowed,
//!   as RFC 8265 §3.5 permits, and case is kept;
//! - the password by OpaqueString ([`prepare_password`]): non-ASCII spaces
//!   to U+0020, NFC, and no control, unassigned or default-ignorable code
//!   points (a zero-width space, a soft hyphen, an emoji's variation
//!   selector U+FE0F); the empty password is refused.
//!
//! So `René` typed as `e` + combining accent and `René` precomposed are one
//! user, and a password typed with a no-break space matches one set with a
//! space. A pair that RFC 8265 refuses gets the 401 of a malformed pair: no
//! argon2 check, and nothing counted against the user (it can never be
//! right). A user name it refuses is a [`ConfigError`] for the fixed list,
//! an error from [`MemoryUserStore::insert`], and a store record with such a
//! name is refused like an unknown user. [`hash_password`] refuses a
//! password it refuses.
//!
//! ## Migrating hashes made before RFC 8265 enforcement
//!
//! Earlier releases prepared by mapping and NFC alone and refused no code
//! point. For every name and password RFC 8265 accepts, the prepared text is
//! the same byte for byte, so stored hashes keep verifying (a test checks an
//! `ä`/`ö` password hashed by the earlier code). What changes:
//!
//! - **User names** with a character UsernameCasePreserved refuses, or a
//!   space at either end, now fail [`BasicAuthenticatorBuilder::build`] with
//!   a message naming the rule. Rename those users (`prepare_username` over
//!   your list finds them all before you upgrade).
//! - **Passwords** holding a code point OpaqueString refuses (most often
//!   U+FE0F after an emoji, U+200B or U+00AD pasted from a document) can no
//!   longer log in: their pairs are refused before the hash is read. A hash
//!   does not tell which users these are, and the decision log names no
//!   user for a refused pair (a password typed into the name field must not
//!   reach it); it does count them as `reason="malformed_password_rfc8265"`.
//!   Announce the change, and have users whose password stops working set
//!   a new one. Passwords of ASCII only, and
//!   non-ASCII passwords of letters, digits, symbols and spaces, are
//!   unaffected.

mod parse;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use argon2::{Algorithm, Argon2, Params, Version};
use argon2::{PasswordHash, PasswordHasher};
use hmac::Hmac;
use rand::Rng as _;
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use crate::authenticate::{AuthRequest, Authenticator, BoxFuture, Specificity};
use crate::error::{AuthError, AuthErrorKind, ConfigError};
use crate::identity::{AuthMethod, Identity};
use crate::limits::{Attempt, Lockout};
use crate::rejection::Challenge;
use crate::request::{RequestHead, TrustedProxies};
use crate::secret::Secret;
use crate::store::{CounterStore, UserStore};

#[cfg(doc)]
use crate::store::MemoryUserStore;

/// argon2's parameters (memory in KiB, passes, lanes), re-exported.
pub use argon2::Params as Argon2Params;
pub use parse::{
    MAX_PASSWORD_LEN, MAX_USER_LEN, PrepareError, PrepareErrorKind, prepare_password,
    prepare_username,
};

/// Hashes a password as an argon2id PHC string (default parameters, random
/// salt), after RFC 8265 OpaqueString preparation; a password that
/// preparation refuses ([`prepare_password`]) is an error.
pub fn hash_password(password: &str) -> Result<String, ConfigError> {
    let prepared = Secret::from(prepare_password(password).map_err(|e| {
        ConfigError::invalid(format!(
            "password not valid under RFC 8265 OpaqueString: {e}"
        ))
    })?);
    Argon2::default()
        .hash_password(prepared.expose())
        .map(|h| h.to_string())
        .map_err(|_| ConfigError::invalid("password hashing"))
}

/// Whether argon2id `params` meet OWASP's Password Storage Cheat Sheet
/// minimum: 46 MiB (47,104 KiB) with 1 pass, 19 MiB with 2, 12 MiB with 3, 9 MiB with 4,
/// or 7 MiB with 5 or more (parallelism 1 or more in each).
///
/// ```
/// use auth_core::basic::{Argon2Params as Params, params_are_strong_enough};
///
/// assert!(params_are_strong_enough(&Params::default())); // 19 MiB, 2 passes
/// assert!(!params_are_strong_enough(&Params::new(19_455, 2, 1, None).unwrap()));
/// assert!(params_are_strong_enough(&Params::new(7_168, 5, 1, None).unwrap()));
/// ```
pub fn params_are_strong_enough(params: &Params) -> bool {
    let min_kib = match params.t_cost() {
        0 => return false,
        1 => 47_104,
        2 => 19_456,
        3 => 12_288,
        4 => 9_216,
        _ => 7_168,
    };
    params.m_cost() >= min_kib
}

/// The work one check with `params` costs, to pick the strongest.
fn cost(params: &Params) -> u64 {
    u64::from(params.m_cost()) * u64::from(params.t_cost())
}

/// Whether two parameter sets cost the same work (memory, passes, lanes);
/// the output length a hash records is not work.
fn same_work(a: &Params, b: &Params) -> bool {
    (a.m_cost(), a.t_cost(), a.p_cost()) == (b.m_cost(), b.t_cost(), b.p_cost())
}

/// A user who may log in with Basic.
#[derive(Clone, Serialize, Deserialize)]
pub struct BasicUser {
    username: String,
    password_hash: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

impl BasicUser {
    /// A user with an argon2id PHC hash (see [`hash_password`]).
    pub fn new(username: impl Into<String>, password_hash: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            password_hash: password_hash.into(),
            scopes: Vec::new(),
            roles: Vec::new(),
        }
    }

    /// Scopes granted to the user.
    pub fn scopes<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.scopes = scopes.into_iter().map(Into::into).collect();
        self
    }

    /// Roles of the user.
    pub fn roles<I, S>(mut self, roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.roles = roles.into_iter().map(Into::into).collect();
        self
    }

    /// The user name.
    pub fn username(&self) -> &str {
        &self.username
    }
}

impl std::fmt::Debug for BasicUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicUser")
            .field("username", &self.username)
            .field("scopes", &self.scopes)
            .field("roles", &self.roles)
            .finish_non_exhaustive()
    }
}

/// Builds a [`BasicAuthenticator`].
pub struct BasicAuthenticatorBuilder {
    users: Vec<BasicUser>,
    cache_ttl: Duration,
    max_failures: usize,
    lockout_window: Duration,
    lockout: Option<Arc<dyn CounterStore>>,
    ceiling: Option<usize>,
    trusted: TrustedProxies,
    allow_plaintext: bool,
    max_hashes: usize,
    store: Option<Arc<dyn UserStore>>,
    store_params: Params,
}

impl BasicAuthenticatorBuilder {
    /// Adds a user.
    pub fn user(mut self, user: BasicUser) -> Self {
        self.users.push(user);
        self
    }

    /// Adds users.
    pub fn users(mut self, users: impl IntoIterator<Item = BasicUser>) -> Self {
        self.users.extend(users);
        self
    }

    /// Looks users up in `store` by name at each check (after the fixed
    /// list, which wins for a name in both). Records are checked when read
    /// as the fixed list is at build; see the module's security
    /// considerations for what is refused and how long a removed user
    /// stays accepted (at most [`cache_ttl`](Self::cache_ttl)).
    pub fn user_store(mut self, store: Arc<dyn UserStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// The argon2id parameters the store's hashes are made with (default:
    /// argon2's, OWASP's 19 MiB with 2 passes, what [`hash_password`]
    /// uses). Unknown users are checked against a dummy hash with the
    /// costliest of these and the fixed users' parameters; a store record
    /// costlier than that is refused (it would answer slower than an
    /// unknown name). To move to stronger parameters, raise this first,
    /// then rehash.
    pub fn store_hash_params(mut self, params: Params) -> Self {
        self.store_params = params;
        self
    }

    /// How long a verified credential is remembered (default 60 s; zero
    /// turns the cache off).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.cache_ttl = ttl;
        self
    }

    /// Lock a user for one client address after `max_failures` failures
    /// from it within `window` (default 5 in 15 minutes). See
    /// [`Lockout`] for how it is keyed.
    pub fn lockout(mut self, max_failures: usize, window: Duration) -> Self {
        self.max_failures = max_failures;
        self.lockout_window = window;
        self
    }

    /// Lock a user for every client after `ceiling` failures from all of
    /// them within the lockout window (default ten times `max_failures`).
    pub fn lockout_per_user_ceiling(mut self, ceiling: usize) -> Self {
        self.ceiling = Some(ceiling);
        self
    }

    /// At most `n` password checks at once in this process (default: the
    /// number of cores); a request that finds them all running gets 503
    /// with `Retry-After` at once.
    pub fn max_concurrent_hashes(mut self, n: usize) -> Self {
        self.max_hashes = n;
        self
    }

    /// Keeps lockout counters in `store` (e.g. Redis, shared by processes).
    pub fn lockout_store(mut self, store: Arc<dyn CounterStore>) -> Self {
        self.lockout = Some(store);
        self
    }

    /// Proxies whose `X-Forwarded-Proto: https` makes a request count as TLS.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted = proxies;
        self
    }

    /// Accepts Basic over plaintext HTTP. Passwords then cross the network
    /// in the clear (RFC 7617 §4): for tests and loopback only.
    pub fn insecure_allow_plaintext(mut self) -> Self {
        self.allow_plaintext = true;
        self
    }

    /// Builds the authenticator; refuses hashes that are not argon2id PHC
    /// strings, argon2id parameters below OWASP's minimum (see
    /// [`params_are_strong_enough`]), user names longer than
    /// [`MAX_USER_LEN`] and duplicate user names.
    pub fn build(self) -> Result<BasicAuthenticator, ConfigError> {
        let mut users = HashMap::new();
        // The users' own parameters, never a default beside them: a dummy
        // slower (or faster) than every user's hash tells who exists.
        let mut strongest: Option<Params> = None;
        if self.store.is_some() {
            if !params_are_strong_enough(&self.store_params) {
                return Err(ConfigError::invalid(
                    "store hash parameters (argon2id parameters below OWASP's minimum)",
                ));
            }
            strongest = Some(self.store_params.clone());
        }
        for user in self.users {
            let params = hash_params(&user.password_hash)?;
            match &strongest {
                Some(s) if same_work(s, &params) => {}
                Some(s) => {
                    tracing::warn!(target: "auth_core", "Basic users hashed with different argon2 parameters: unknown users are checked with the costliest, so users with cheaper ones answer faster than unknown users; rehash them");
                    if cost(&params) > cost(s) {
                        strongest = Some(params);
                    }
                }
                None => strongest = Some(params),
            }
            let name = prepared_name(&user)?;
            if users.insert(name, Arc::new(user)).is_some() {
                return Err(ConfigError::invalid("duplicate Basic user name"));
            }
        }
        // Unknown users are checked against this hash, so that they cost
        // what a wrong password costs: made with the strongest parameters
        // any user has, so that no unknown user answers faster than the
        // slowest known one.
        let mut random = [0u8; 32];
        crate::secret::os_rng().fill_bytes(&mut random);
        let dummy_params = strongest.unwrap_or_default();
        let dummy_hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, dummy_params.clone())
            .hash_password(&random)
            .map(|h| h.to_string())
            .map_err(|_| ConfigError::invalid("password hashing"))?;
        let mut cache_key = [0u8; 32];
        crate::secret::os_rng().fill_bytes(&mut cache_key);
        let mut lockout = match self.lockout {
            Some(store) => Lockout::with_store(store, self.max_failures, self.lockout_window),
            None => Lockout::new(self.max_failures, self.lockout_window),
        };
        if let Some(ceiling) = self.ceiling {
            lockout = lockout.per_user_ceiling(ceiling);
        }
        Ok(BasicAuthenticator {
            inner: Arc::new(Inner {
                users,
                dummy_hash,
                cache: moka::future::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(self.cache_ttl)
                    .expire_after(UntilDeadline)
                    .build(),
                refused: moka::sync::Cache::builder()
                    .max_capacity(10_000)
                    .time_to_live(self.cache_ttl)
                    .build(),
                cache_ttl: self.cache_ttl,
                cache_mac: crate::mac::keyed(&cache_key),
                lockout,
                trusted: self.trusted,
                allow_plaintext: self.allow_plaintext,
                verifications: AtomicU64::new(0),
                hashing: Arc::new(tokio::sync::Semaphore::new(self.max_hashes)),
                memory: std::sync::Mutex::new(Vec::new()),
                store: self.store,
                dummy_params,
                warned_cheaper: std::sync::atomic::AtomicBool::new(false),
                #[cfg(test)]
                running: tests::Running::default(),
            }),
        })
    }
}

/// Authenticates `Authorization: Basic`. Cheap to clone.
#[derive(Clone)]
pub struct BasicAuthenticator {
    inner: Arc<Inner>,
}

struct Inner {
    users: HashMap<String, Arc<BasicUser>>,
    dummy_hash: String,
    cache: moka::future::Cache<[u8; 32], Verified>,
    /// Pairs whose check failed, by the same MAC, for as long as successes
    /// are remembered: the same wrong pair again costs no hashing (it still
    /// counts towards the lockout).
    refused: moka::sync::Cache<[u8; 32], ()>,
    cache_ttl: Duration,
    cache_mac: Hmac<Sha256>,
    lockout: Lockout,
    trusted: TrustedProxies,
    allow_plaintext: bool,
    verifications: AtomicU64,
    hashing: Arc<tokio::sync::Semaphore>,
    /// argon2 working memory, one buffer per check running at most.
    memory: std::sync::Mutex<Vec<Vec<argon2::Block>>>,
    /// Users looked up at each check, after `users`.
    store: Option<Arc<dyn UserStore>>,
    /// What the dummy hash is made with: no store record may cost more.
    dummy_params: Params,
    /// Whether a store record cheaper than the dummy has been warned about.
    warned_cheaper: std::sync::atomic::AtomicBool,
    #[cfg(test)]
    running: tests::Running,
}

/// A verified credential, remembered until `until` (the cache's TTL
/// counted from before the user was looked up), or the TTL from insertion
/// when that instant cannot be represented.
#[derive(Clone)]
struct Verified {
    identity: Identity,
    until: Option<std::time::Instant>,
}

/// Expires each verified credential at its own deadline.
struct UntilDeadline;

impl moka::Expiry<[u8; 32], Verified> for UntilDeadline {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        v: &Verified,
        created_at: std::time::Instant,
    ) -> Option<Duration> {
        v.until.map(|u| u.saturating_duration_since(created_at))
    }
}

/// The parameters of an argon2id PHC hash at least as strong as OWASP's
/// minimum, or why it is refused.
fn hash_params(phc: &str) -> Result<Params, ConfigError> {
    let hash = PasswordHash::new(phc)
        .map_err(|_| ConfigError::invalid("password hash (not a PHC string)"))?;
    if hash.algorithm != Algorithm::Argon2id.ident() {
        return Err(ConfigError::invalid("password hash (not argon2id)"));
    }
    let params = Params::try_from(&hash)
        .map_err(|_| ConfigError::invalid("password hash (argon2 parameters)"))?;
    if !params_are_strong_enough(&params) {
        return Err(ConfigError::invalid(
            "password hash (argon2id parameters below OWASP's minimum)",
        ));
    }
    Ok(params)
}

/// Checks a user as [`BasicAuthenticatorBuilder::build`] checks the fixed
/// list (an argon2id hash at OWASP's minimum or above, a name within
/// [`MAX_USER_LEN`] that RFC 8265 allows); for stores that refuse bad
/// records when written. Answers the prepared name.
pub(crate) fn check_user(user: &BasicUser) -> Result<String, ConfigError> {
    let name = prepared_name(user)?;
    hash_params(&user.password_hash)?;
    Ok(name)
}

/// A user's name as requests will present it (RFC 8265 prepared), or why it
/// cannot be one.
fn prepared_name(user: &BasicUser) -> Result<String, ConfigError> {
    if user.username.len() > MAX_USER_LEN {
        return Err(ConfigError::invalid("Basic user name too long"));
    }
    prepare_username(&user.username).map_err(|e| {
        ConfigError::invalid(format!(
            "Basic user name not valid under RFC 8265 UsernameCasePreserved: {e}"
        ))
    })
}

/// Checks `password` against the argon2id PHC string `phc`, in `blocks`
/// (grown to the hash's memory size when smaller); the output is compared
/// in constant time.
fn verify_into(phc: &str, password: &[u8], blocks: &mut Vec<argon2::Block>) -> bool {
    use subtle::ConstantTimeEq as _;
    let Ok(hash) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (hash.salt, hash.hash) else {
        return false;
    };
    let Ok(params) = Params::try_from(&hash) else {
        return false;
    };
    let version = hash
        .version
        .map_or(Ok(Version::V0x13), Version::try_from)
        .unwrap_or(Version::V0x13);
    let need = params.block_count();
    if blocks.len() < need {
        blocks.resize(need, argon2::Block::default());
    }
    let mut out = vec![0u8; expected.len()];
    let argon2 = Argon2::new(Algorithm::Argon2id, version, params);
    argon2
        .hash_password_into_with_memory(password, &salt, &mut out, blocks.as_mut_slice())
        .is_ok()
        && bool::from(out.as_slice().ct_eq(expected.as_bytes()))
}

impl BasicAuthenticator {
    /// A builder with the defaults: 60 s cache, 5 failures in 15 minutes,
    /// TLS required, no trusted proxy.
    pub fn builder() -> BasicAuthenticatorBuilder {
        BasicAuthenticatorBuilder {
            users: Vec::new(),
            cache_ttl: Duration::from_secs(60),
            max_failures: 5,
            lockout_window: Duration::from_secs(15 * 60),
            lockout: None,
            ceiling: None,
            trusted: TrustedProxies::none(),
            allow_plaintext: false,
            max_hashes: std::thread::available_parallelism().map_or(2, usize::from),
            store: None,
            store_params: Params::default(),
        }
    }

    /// How many argon2 verifications have run (for tests and metrics).
    pub fn verification_count(&self) -> u64 {
        self.inner.verifications.load(Ordering::Relaxed)
    }

    /// Checks `user` and `password` (already decoded and prepared) for a
    /// request with `head`: the lockout, the caches, then the bounded
    /// argon2id check. The transport is the caller's to check.
    pub(crate) async fn check_pair(
        &self,
        head: &dyn RequestHead,
        user: String,
        password: Secret,
    ) -> Result<Identity, AuthError> {
        let pair = parse::UserPass { user, password };
        // A locked account is refused even with the right password, and
        // even when that password is cached.
        let client = self.inner.trusted.client_ip(head);
        let attempt = self.inner.lockout.attempt(&pair.user, client);
        if let Some(left) = self.inner.lockout.locked_for(&attempt).await? {
            return Err(locked(left));
        }
        let key = crate::mac::tag(
            &self.inner.cache_mac,
            &[pair.user.as_bytes(), pair.password.expose()],
        );
        let user = pair.user.clone();
        if self.inner.cache_ttl.is_zero() {
            return self.counted(attempt, user, pair.password).await;
        }
        // The same wrong pair again: refused from memory, not hashed,
        // but counted as a failure like any other.
        if self.inner.refused.contains_key(&key) {
            if let Some(left) = self.inner.lockout.begin(&attempt).await? {
                return Err(locked(left));
            }
            return Err(wrong_credentials("wrong_credentials"));
        }
        // Concurrent requests with the same credential share one
        // counted verification. Its entry lives the TTL counted from
        // before the user is looked up, so what a store said is never
        // believed for longer than that.
        let until = std::time::Instant::now().checked_add(self.inner.cache_ttl);
        let verify = async move {
            let identity = self.counted(attempt, user, pair.password).await?;
            Ok::<_, AuthError>(Verified { identity, until })
        };
        let result = self
            .inner
            .cache
            .try_get_with(key, verify)
            .await
            .map(|v| v.identity)
            .map_err(|e| (*e).clone());
        if result
            .as_ref()
            .is_err_and(|e| e.kind() == AuthErrorKind::InvalidCredentials)
        {
            self.inner.refused.insert(key, ());
        }
        result
    }

    /// Checks the payload of an `Authorization: Basic` header (for the
    /// OAuth authorization endpoint's scripted logins).
    #[cfg(feature = "oauth")]
    pub(crate) async fn check_basic_payload(
        &self,
        head: &dyn RequestHead,
        payload: &[u8],
    ) -> Result<Identity, AuthError> {
        let pair = parse::parse(payload).map_err(|_| {
            wrong_credentials("malformed").with_detail("the Basic credentials are malformed")
        })?;
        self.check_pair(head, pair.user, pair.password).await
    }

    /// Checks a user name and password from a login form, bounded and
    /// prepared as a Basic pair is.
    #[cfg(feature = "oauth")]
    pub(crate) async fn check_login(
        &self,
        head: &dyn RequestHead,
        user: &str,
        password: &str,
    ) -> Result<Identity, AuthError> {
        let pair =
            parse::prepare_pair(user, password).map_err(|_| wrong_credentials("malformed"))?;
        self.check_pair(head, pair.user, pair.password).await
    }

    pub(crate) fn transport_ok(&self, head: &dyn RequestHead) -> bool {
        self.inner.allow_plaintext || self.inner.trusted.transport_is_secure(head)
    }

    /// Verifies with the attempt counted first: concurrent guesses get at
    /// most the lockout's limit of checks. Only a wrong password keeps its
    /// attempt counted.
    async fn counted(
        &self,
        attempt: Attempt,
        user: String,
        password: Secret,
    ) -> Result<Identity, AuthError> {
        if let Some(left) = self.inner.lockout.begin(&attempt).await? {
            return Err(locked(left));
        }
        let result = self.verify(user.clone(), password).await;
        if !result
            .as_ref()
            .is_err_and(|e| e.kind() == AuthErrorKind::InvalidCredentials)
        {
            self.inner.lockout.succeeded(&attempt).await?;
        }
        result
    }

    /// The user named `user` (prepared): from the fixed list, else from
    /// the store, if it is fit to be checked (see [`Self::admit`]). A
    /// store that cannot answer is an error (503), never "unknown".
    async fn find(&self, user: &str) -> Result<Option<Arc<BasicUser>>, AuthError> {
        if let Some(found) = self.inner.users.get(user) {
            return Ok(Some(found.clone()));
        }
        let Some(store) = &self.inner.store else {
            return Ok(None);
        };
        let record = store.get(user).await?;
        Ok(record.and_then(|r| self.admit(user, r)).map(Arc::new))
    }

    /// A store record, checked as the fixed list is at build; `None` (and
    /// an error logged, without the hash) for one that must not be
    /// checked, which is then refused like an unknown user.
    fn admit(&self, asked: &str, user: BasicUser) -> Option<BasicUser> {
        if user.username.len() > MAX_USER_LEN
            || prepare_username(&user.username).ok().as_deref() != Some(asked)
        {
            tracing::error!(target: "auth_core", "Basic user store answered with a user of another name (a case-insensitive lookup?); refused as unknown");
            return None;
        }
        let params = match hash_params(&user.password_hash) {
            Ok(p) => p,
            Err(e) => {
                tracing::error!(target: "auth_core", error = %e, "Basic user store record refused as unknown");
                return None;
            }
        };
        let dummy = &self.inner.dummy_params;
        if cost(&params) > cost(dummy) {
            tracing::error!(target: "auth_core", "Basic user store record hashed with costlier argon2 parameters than store_hash_params (unknown users would answer faster); refused as unknown: raise store_hash_params");
            return None;
        }
        if !same_work(&params, dummy) && !self.inner.warned_cheaper.swap(true, Ordering::Relaxed) {
            tracing::warn!(target: "auth_core", "Basic user store records hashed with cheaper argon2 parameters than store_hash_params: those users answer faster than unknown users; rehash them");
        }
        Some(user)
    }

    async fn verify(&self, user: String, password: Secret) -> Result<Identity, AuthError> {
        // Looked up first (a store may take a round trip), so that no
        // hashing permit is held while waiting for it; known and unknown
        // names alike.
        let found = self.find(&user).await?;
        // Bounded per process: each check holds about 19 MiB and a core for
        // tens of milliseconds. When all permits are taken the request is
        // shed at once with 503, rather than queued.
        let permit = self
            .inner
            .hashing
            .clone()
            .try_acquire_owned()
            .map_err(|_| busy())?;
        let inner = self.inner.clone();
        let check = move || {
            // Held until the check ends, even if the client has gone.
            let _permit = permit;
            inner.verifications.fetch_add(1, Ordering::Relaxed);
            #[cfg(test)]
            let _running = inner.running.enter();
            let phc = found
                .as_ref()
                .map_or(inner.dummy_hash.as_str(), |u| u.password_hash.as_str());
            // argon2's working memory (19 MiB by default) comes from a pool
            // of at most one buffer per hashing permit, reused: allocated
            // afresh per check, glibc kept up to one per malloc arena, about
            // 600 MiB after a flood.
            let mut blocks = inner
                .memory
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .pop()
                .unwrap_or_default();
            let ok = verify_into(phc, password.expose(), &mut blocks);
            inner
                .memory
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(blocks);
            // An unknown user never passes, whatever the dummy hash says.
            found.filter(|_| ok)
        };
        // argon2 takes tens of milliseconds: keep it off the async workers.
        let verified = match tokio::runtime::Handle::try_current() {
            Ok(handle) => handle
                .spawn_blocking(check)
                .await
                .map_err(|_| AuthError::new(AuthErrorKind::Unavailable))?,
            Err(_) => check(),
        };
        match verified {
            Some(u) => Ok(Identity::new(u.username.as_str(), AuthMethod::Basic)
                .with_scopes(u.scopes.iter().map(String::as_str))
                .with_roles(u.roles.iter().map(String::as_str))),
            None => Err(wrong_credentials("wrong_credentials")),
        }
    }
}

fn locked(left: Duration) -> AuthError {
    AuthError::new(AuthErrorKind::LockedOut)
        .with_retry_after(left)
        .with_reason("account_locked")
}

fn busy() -> AuthError {
    AuthError::new(AuthErrorKind::Unavailable)
        .with_retry_after(Duration::from_secs(1))
        .with_reason("hashing_busy")
        .with_detail("too many password checks are running; try again shortly")
}

/// `Basic realm="…", charset="UTF-8"` (RFC 7617 §2.1).
fn basic_challenge() -> Challenge {
    Challenge::new("Basic").with_param("charset", "UTF-8")
}

fn wrong_credentials(reason: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidCredentials)
        .with_challenge(basic_challenge())
        .with_reason(reason)
        .with_detail("the user name or password is wrong")
}

impl Authenticator for BasicAuthenticator {
    #[cfg(feature = "openapi")]
    fn openapi_security(&self) -> crate::openapi::Security {
        crate::openapi::Security::scheme("basic", crate::openapi::basic())
    }
    fn recognise(&self, req: &AuthRequest<'_>) -> Option<Specificity> {
        let basic = req.credential().authorization()?.is("basic");
        basic.then_some(Specificity::Exact)
    }

    fn authenticate<'a>(
        &'a self,
        req: &'a AuthRequest<'a>,
    ) -> BoxFuture<'a, Result<Identity, AuthError>> {
        Box::pin(async move {
            let Some(payload) = req
                .credential()
                .authorization()
                .filter(|a| a.is("basic"))
                .map(|a| a.value())
            else {
                return Err(AuthError::new(AuthErrorKind::MissingCredentials));
            };
            if !self.transport_ok(req.head()) {
                return Err(AuthError::new(AuthErrorKind::InsecureTransport)
                    .with_reason("basic_over_plaintext")
                    .with_detail(
                        "HTTP Basic credentials are only accepted over TLS (https); this connection is plaintext",
                    ));
            }
            let pair = parse::parse(payload.expose()).map_err(|e| {
                wrong_credentials(match e {
                    parse::ParseError::Base64 => "malformed_base64",
                    parse::ParseError::Utf8 => "malformed_utf8",
                    parse::ParseError::NoColon => "malformed_no_colon",
                    parse::ParseError::Control => "malformed_control_character",
                    parse::ParseError::EmptyUser => "malformed_empty_user",
                    parse::ParseError::User => "malformed_user_rfc8265",
                    parse::ParseError::Password => "malformed_password_rfc8265",
                    parse::ParseError::TooLong => "credential_too_long",
                })
                .with_detail("the Basic credentials are malformed")
            })?;
            self.check_pair(req.head(), pair.user, pair.password).await
        })
    }

    fn challenges(&self, head: &dyn RequestHead, out: &mut Vec<Challenge>) {
        if self.transport_ok(head) {
            out.push(basic_challenge());
        }
    }
}

impl std::fmt::Debug for BasicAuthenticator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BasicAuthenticator")
            .field("users", &self.inner.users.len())
            .field("user_store", &self.inner.store.is_some())
            .field("cache_ttl", &self.inner.cache_ttl)
            .field("allow_plaintext", &self.inner.allow_plaintext)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod store_tests;

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::{Guard, SimpleRequest};
    use base64::Engine as _;

    /// How many password checks run at once, and the most that ever did.
    #[derive(Default)]
    pub(super) struct Running {
        now: AtomicUsize,
        peak: AtomicUsize,
    }

    impl Running {
        pub(super) fn enter(&self) -> impl Drop + '_ {
            let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            struct Leave<'a>(&'a Running);
            impl Drop for Leave<'_> {
                fn drop(&mut self) {
                    self.0.now.fetch_sub(1, Ordering::SeqCst);
                }
            }
            Leave(self)
        }
    }

    async fn statuses(g: &Guard, reqs: Vec<SimpleRequest>) -> Vec<u16> {
        let tasks: Vec<_> = reqs
            .into_iter()
            .map(|r| {
                let g = g.clone();
                tokio::spawn(async move { g.check(&r).await.map_or_else(|e| e.status(), |_| 200) })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    }

    #[tokio::test]
    async fn hashing_is_shed_with_503_when_every_permit_is_taken() {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()))
            .max_concurrent_hashes(0)
            .build()
            .unwrap();
        let g = Guard::builder(a.clone()).build().unwrap();
        let r = g.check(&basic("alice", "pw")).await.unwrap_err();
        assert_eq!(r.status(), 503);
        assert_eq!(r.header_values("retry-after").collect::<Vec<_>>(), ["1"]);
        assert!(r.header_values("www-authenticate").next().is_none());
        assert_eq!(a.verification_count(), 0);
        // A shed attempt is not a failure: it never locks the account.
        for _ in 0..10 {
            assert_eq!(
                g.check(&basic("alice", "x")).await.unwrap_err().status(),
                503
            );
        }
        let attempt = a.inner.lockout.attempt("alice", None);
        assert!(
            a.inner
                .lockout
                .locked_for(&attempt)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn pooled_verification_agrees_with_argon2s_own() {
        use argon2::PasswordVerifier as _;
        let mut blocks = Vec::new();
        for (m, t) in [(19_456, 2), (7_168, 5), (47_104, 1)] {
            let phc = hash_with(m, t);
            let parsed = PasswordHash::new(&phc).unwrap();
            for pw in [&b"pw"[..], b"pW", b"", b"pw "] {
                let theirs = Argon2::default().verify_password(pw, &parsed).is_ok();
                assert_eq!(
                    verify_into(&phc, pw, &mut blocks),
                    theirs,
                    "m={m} t={t} {pw:?}"
                );
            }
            assert_eq!(blocks.len(), (m as usize).max(blocks.len()));
        }
        // Memory grows to the largest hash and is reused, never shrunk.
        assert_eq!(blocks.len(), 47_104);
        assert!(!verify_into("not a hash", b"pw", &mut blocks));
        assert!(!verify_into(
            "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ",
            b"pw",
            &mut blocks
        ));
    }

    /// PHC strings written by `hash_password` on argon2 0.5.3 /
    /// password-hash 0.5 (before the move to argon2 0.6): stored hashes keep
    /// verifying, through the pooled check and argon2's own.
    const ARGON2_0_5_HASHES: [(&str, &str); 2] = [
        (
            "correct horse battery staple",
            "$argon2id$v=19$m=19456,t=2,p=1$DX8ZOrk12TsgnS7+FUzjKA$LAztsAMjLa3pFmzy9AMyWyO3Qrl0ap0alaTlm5vPQKQ",
        ),
        (
            "p\u{e4}ssw\u{f6}rd",
            "$argon2id$v=19$m=19456,t=2,p=1$iyuerJRe/ayTM8+YcoG+ig$+YzgxViBEzbQD1JPU9QWs53Ym7gQEwS+1JSGnL74XeQ",
        ),
    ];

    #[test]
    fn hashes_made_by_argon2_0_5_still_verify() {
        use argon2::PasswordVerifier as _;
        let mut blocks = Vec::new();
        for (pw, phc) in ARGON2_0_5_HASHES {
            let prepared = prepare_password(pw).unwrap();
            assert!(verify_into(phc, prepared.as_bytes(), &mut blocks), "{pw}");
            assert!(!verify_into(phc, b"wrong", &mut blocks), "{pw}");
            let parsed = PasswordHash::new(phc).unwrap();
            assert!(
                Argon2::default()
                    .verify_password(prepared.as_bytes(), &parsed)
                    .is_ok()
            );
        }
    }

    #[tokio::test]
    async fn a_user_with_an_argon2_0_5_hash_signs_in() {
        let (pw, phc) = ARGON2_0_5_HASHES[1];
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", phc))
            .build()
            .unwrap();
        let g = Guard::builder(a).build().unwrap();
        assert!(g.check(&basic("alice", pw)).await.is_ok());
        assert!(g.check(&basic("alice", "passwort")).await.is_err());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_the_permits_hash_at_once() {
        let a = BasicAuthenticator::builder()
            .max_concurrent_hashes(2)
            .build()
            .unwrap();
        let g = Guard::builder(a.clone()).build().unwrap();
        let reqs = (0..16)
            .map(|i| basic(&format!("nobody-{i}"), "pw"))
            .collect();
        let got = statuses(&g, reqs).await;
        assert!(got.iter().all(|s| [401, 503].contains(s)), "{got:?}");
        assert!(a.inner.running.peak.load(Ordering::SeqCst) <= 2);
        assert!(a.verification_count() >= 1);
        // Working memory: at most one buffer per permit, kept for reuse.
        let pooled = a.inner.memory.lock().unwrap().len();
        assert!((1..=2).contains(&pooled), "{pooled} buffers");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_wrong_passwords_get_at_most_the_limit_of_checks() {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()))
            .lockout(5, Duration::from_secs(900))
            .max_concurrent_hashes(64)
            .build()
            .unwrap();
        let g = Guard::builder(a.clone()).build().unwrap();
        let reqs = (0..32)
            .map(|i| basic("alice", &format!("guess-{i}")))
            .collect();
        let got = statuses(&g, reqs).await;
        assert_eq!(got.iter().filter(|s| **s == 401).count(), 5, "{got:?}");
        assert_eq!(got.iter().filter(|s| **s == 429).count(), 27, "{got:?}");
        assert_eq!(a.verification_count(), 5);
        // The right password now: still locked.
        assert_eq!(
            g.check(&basic("alice", "pw")).await.unwrap_err().status(),
            429
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_right_passwords_are_not_locked_out() {
        let (a, g) = build((5, Duration::from_secs(900)));
        let reqs = (0..32).map(|_| basic("alice", "pw")).collect();
        let got = statuses(&g, reqs).await;
        assert!(got.iter().all(|s| *s == 200), "{got:?}");
        assert_eq!(a.verification_count(), 1, "one shared verification");
    }

    fn basic(user: &str, pass: &str) -> SimpleRequest {
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        SimpleRequest::get("/")
            .tls(true)
            .header("authorization", format!("Basic {b}"))
    }

    fn build(lockout: (usize, Duration)) -> (BasicAuthenticator, Guard) {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()).scopes(["s"]))
            .user(BasicUser::new(
                "r\u{e9}ne",
                hash_password("caf\u{e9}").unwrap(),
            ))
            .lockout(lockout.0, lockout.1)
            .build()
            .unwrap();
        let g = Guard::builder(a.clone()).realm("r").build().unwrap();
        (a, g)
    }

    #[tokio::test]
    async fn one_verification_per_credential_within_ttl() {
        let (a, g) = build((5, Duration::from_secs(900)));
        for _ in 0..20 {
            let id = g
                .check(&basic("alice", "pw"))
                .await
                .unwrap()
                .into_identity()
                .unwrap();
            assert!(id.has_scope("s"));
        }
        assert_eq!(a.verification_count(), 1);
        // A different credential is a different entry; a wrong one is
        // checked once, then refused from memory, still counted.
        for _ in 0..3 {
            let r = g.check(&basic("alice", "nope")).await.unwrap_err();
            assert_eq!(r.status(), 401);
        }
        assert_eq!(a.verification_count(), 2);
        let attempt = a.inner.lockout.attempt("alice", None);
        assert!(
            a.inner
                .lockout
                .locked_for(&attempt)
                .await
                .unwrap()
                .is_none()
        );
        // Another wrong one is checked; the right one still passes.
        assert!(g.check(&basic("alice", "nope2")).await.is_err());
        assert_eq!(a.verification_count(), 3);
        assert!(g.check(&basic("alice", "pw")).await.is_ok());
        assert_eq!(a.verification_count(), 3, "still cached");
        // The fifth failure (three of them from memory) locks alice.
        assert_eq!(
            g.check(&basic("alice", "nope")).await.unwrap_err().status(),
            401
        );
        assert_eq!(
            g.check(&basic("alice", "nope")).await.unwrap_err().status(),
            429
        );
        assert_eq!(a.verification_count(), 3);
    }

    #[tokio::test]
    async fn unknown_user_costs_a_verification() {
        let (a, g) = build((5, Duration::from_secs(900)));
        let r = g.check(&basic("mallory", "x")).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert_eq!(a.verification_count(), 1);
    }

    #[tokio::test]
    async fn lockout_even_with_right_password() {
        let (_, g) = build((5, Duration::from_secs(900)));
        for _ in 0..5 {
            assert_eq!(
                g.check(&basic("alice", "bad")).await.unwrap_err().status(),
                401
            );
        }
        let r = g.check(&basic("alice", "pw")).await.unwrap_err();
        assert_eq!(r.status(), 429);
        let retry: u64 = r
            .header_values("retry-after")
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert!((1..=900).contains(&retry));
    }

    #[tokio::test]
    async fn normalised_names_and_passwords_match() {
        let (_, g) = build((5, Duration::from_secs(900)));
        let id = g
            .check(&basic("re\u{301}ne", "cafe\u{301}"))
            .await
            .unwrap()
            .into_identity()
            .unwrap();
        assert_eq!(id.subject(), "r\u{e9}ne");
    }

    #[tokio::test]
    async fn pairs_rfc8265_refuses_are_401_uncounted_and_unhashed() {
        let (a, g) = build((5, Duration::from_secs(900)));
        // A zero-width space in the password, an emoji in the name, a
        // trailing space, the empty password: each the same 401 with the
        // challenge as a malformed pair, with no argon2 check and nothing
        // counted against the user (a pair RFC 8265 refuses can never be
        // right).
        let cases = [
            ("alice", "p\u{200B}w"),
            ("alice", ""),
            ("al\u{1F600}ce", "pw"),
            ("alice ", "pw"),
        ];
        for _ in 0..3 {
            for (user, password) in cases {
                let r = g.check(&basic(user, password)).await.unwrap_err();
                assert_eq!(r.status(), 401, "{user:?}");
                let body = String::from_utf8_lossy(r.body());
                assert!(body.contains("malformed"), "{user:?}: {body}");
                assert!(
                    r.header_values("www-authenticate")
                        .any(|c| c.starts_with("Basic ")),
                    "{user:?}"
                );
            }
        }
        assert_eq!(a.verification_count(), 0);
        assert!(g.check(&basic("alice", "pw")).await.is_ok());
    }

    #[test]
    fn names_and_passwords_rfc8265_refuses_are_configuration_errors() {
        let hash = hash_password("pw").unwrap();
        for name in ["\u{2603}", " alice", "bob\u{200B}", ""] {
            let built = BasicAuthenticator::builder()
                .user(BasicUser::new(name, hash.clone()))
                .build();
            let e = built.err().unwrap_or_else(|| panic!("{name:?} accepted"));
            assert_eq!(
                e.kind(),
                crate::error::ConfigErrorKind::InvalidValue,
                "{name:?}"
            );
            let store = crate::store::MemoryUserStore::new();
            assert!(store.insert(BasicUser::new(name, hash.clone())).is_err());
            assert!(!store.remove(name));
        }
        // A name of parts is one user.
        assert!(
            BasicAuthenticator::builder()
                .user(BasicUser::new("Jane Doe", hash.clone()))
                .build()
                .is_ok()
        );
        for password in ["", "pw\u{FE0F}", "x\u{E0001}"] {
            assert!(hash_password(password).is_err(), "{password:?}");
        }
    }

    #[tokio::test]
    async fn plaintext_refused_unless_allowed() {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()))
            .insecure_allow_plaintext()
            .build()
            .unwrap();
        let g = Guard::builder(a).build().unwrap();
        assert!(g.check(&basic("alice", "pw").tls(false)).await.is_ok());
        let proxied = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()))
            .trusted_proxies(TrustedProxies::new(["127.0.0.1"]).unwrap())
            .build()
            .unwrap();
        let g = Guard::builder(proxied).build().unwrap();
        let via = |peer: &str| {
            basic("alice", "pw")
                .tls(false)
                .peer(peer.parse().unwrap())
                .header("x-forwarded-proto", "https")
        };
        assert!(g.check(&via("127.0.0.1:9")).await.is_ok());
        let r = g.check(&via("127.0.0.2:9")).await.unwrap_err();
        assert!(String::from_utf8_lossy(r.body()).contains("TLS"));
    }

    #[test]
    fn bad_hashes_refused_at_build() {
        let b = BasicAuthenticator::builder().user(BasicUser::new("a", "plaintext"));
        assert!(b.build().is_err());
        let argon2i = "$argon2i$v=19$m=16,t=2,p=1$c29tZXNhbHQ$dGVzdA";
        let b = BasicAuthenticator::builder().user(BasicUser::new("a", argon2i));
        assert!(b.build().is_err());
        let h = hash_password("x").unwrap();
        let b = BasicAuthenticator::builder()
            .user(BasicUser::new("a", h.clone()))
            .user(BasicUser::new("a", h));
        assert!(b.build().is_err());
    }

    fn hash_with(m: u32, t: u32) -> String {
        let params = Params::new(m, t, 1, None).unwrap();
        Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
            .hash_password(b"pw")
            .unwrap()
            .to_string()
    }

    #[test]
    fn weak_argon2_parameters_are_refused_at_build() {
        for (m, t) in [
            (47_103, 1),
            (19_455, 2),
            (12_287, 3),
            (9_215, 4),
            (7_167, 5),
            (65_536, 0),
        ] {
            let p = Params::new(m, t.max(1), 1, None).unwrap();
            let p = if t == 0 { None } else { Some(p) };
            if let Some(p) = p {
                assert!(!params_are_strong_enough(&p), "m={m} t={t}");
            }
        }
        for (m, t) in [
            (47_104, 1),
            (19_456, 2),
            (12_288, 3),
            (9_216, 4),
            (7_168, 5),
            (7_168, 9),
        ] {
            assert!(
                params_are_strong_enough(&Params::new(m, t, 1, None).unwrap()),
                "m={m} t={t}"
            );
        }
        let weak = BasicAuthenticator::builder().user(BasicUser::new("a", hash_with(8_192, 2)));
        assert!(weak.build().is_err());
        let ok = BasicAuthenticator::builder().user(BasicUser::new("a", hash_with(9_216, 4)));
        assert!(ok.build().is_ok());
    }

    #[test]
    fn the_dummy_hash_uses_the_strongest_parameters() {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("a", hash_with(19_456, 2)))
            .user(BasicUser::new("b", hash_with(47_104, 1)))
            .user(BasicUser::new("c", hash_with(9_216, 4)))
            .build()
            .unwrap();
        let dummy = PasswordHash::new(&a.inner.dummy_hash).unwrap();
        let p = Params::try_from(&dummy).unwrap();
        assert_eq!((p.m_cost(), p.t_cost()), (47_104, 1));
        assert_eq!(dummy.algorithm, Algorithm::Argon2id.ident());
        // Costliest by memory × passes: 9 MiB × 6 over 46 MiB × 1; the
        // first of two that cost the same.
        let dummy_params = |users: &[(u32, u32)]| {
            let mut b = BasicAuthenticator::builder();
            for (i, (m, t)) in users.iter().enumerate() {
                b = b.user(BasicUser::new(format!("u{i}"), hash_with(*m, *t)));
            }
            let a = b.build().unwrap();
            let p = Params::try_from(&PasswordHash::new(&a.inner.dummy_hash).unwrap()).unwrap();
            (p.m_cost(), p.t_cost())
        };
        assert_eq!(dummy_params(&[(47_104, 1), (9_216, 6)]), (9_216, 6));
        assert_eq!(dummy_params(&[(19_456, 2), (9_728, 4)]), (19_456, 2));
        // One set cheaper than the default: that set, not the default.
        let cheap = BasicAuthenticator::builder()
            .user(BasicUser::new("a", hash_with(7_168, 5)))
            .build()
            .unwrap();
        let p = Params::try_from(&PasswordHash::new(&cheap.inner.dummy_hash).unwrap()).unwrap();
        assert_eq!((p.m_cost(), p.t_cost()), (7_168, 5));
        // No user: the default (OWASP's 19 MiB, 2 passes).
        let none = BasicAuthenticator::builder().build().unwrap();
        let p = Params::try_from(&PasswordHash::new(&none.inner.dummy_hash).unwrap()).unwrap();
        assert_eq!((p.m_cost(), p.t_cost()), (19_456, 2));
    }

    #[test]
    fn long_user_names_are_refused_at_build() {
        let h = hash_password("x").unwrap();
        let long = BasicUser::new("u".repeat(MAX_USER_LEN + 1), h.clone());
        assert!(BasicAuthenticator::builder().user(long).build().is_err());
        let at = BasicUser::new("u".repeat(MAX_USER_LEN), h);
        assert!(BasicAuthenticator::builder().user(at).build().is_ok());
    }

    #[tokio::test]
    async fn over_long_credentials_cost_no_check_and_store_nothing() {
        let (a, g) = build((5, Duration::from_secs(900)));
        for (user, pass) in [
            ("u".repeat(MAX_USER_LEN + 1), "pw".to_owned()),
            ("alice".to_owned(), "p".repeat(MAX_PASSWORD_LEN + 1)),
        ] {
            let req = basic(&user, &pass);
            let r = g.check(&req).await.unwrap_err();
            assert_eq!(r.status(), 401);
            assert!(
                r.header_values("www-authenticate")
                    .any(|c| c.starts_with("Basic "))
            );
            let cred = crate::Credential::from_head(&req, &["authorization"]).unwrap();
            let err = a.authenticate(&AuthRequest::new(&req, &cred)).await;
            assert_eq!(err.unwrap_err().reason(), "credential_too_long");
        }
        // Past the cap on every credential: refused before Basic reads it,
        // with the challenges offered.
        let huge = basic(&"u".repeat(100_000), "p");
        let r = g.check(&huge).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert!(
            r.header_values("www-authenticate")
                .any(|c| c.starts_with("Basic "))
        );
        assert_eq!(a.verification_count(), 0);
        assert_eq!(a.inner.cache.entry_count(), 0);
    }

    #[tokio::test]
    async fn a_locked_client_does_not_lock_the_user_for_others() {
        let (a, g) = build((3, Duration::from_secs(900)));
        let from = |r: SimpleRequest, ip: &str| r.peer(format!("{ip}:5000").parse().unwrap());
        for _ in 0..3 {
            let r = g.check(&from(basic("alice", "bad"), "192.0.2.66")).await;
            assert_eq!(r.unwrap_err().status(), 401);
        }
        for _ in 0..20 {
            let r = g.check(&from(basic("alice", "bad"), "192.0.2.66")).await;
            assert_eq!(r.unwrap_err().status(), 429);
        }
        // Even the right password, from the locked address.
        let r = g.check(&from(basic("alice", "pw"), "192.0.2.66")).await;
        assert_eq!(r.unwrap_err().status(), 429);
        // Alice, elsewhere, logs in.
        let r = g.check(&from(basic("alice", "pw"), "198.51.100.1")).await;
        assert_eq!(r.unwrap().into_identity().unwrap().subject(), "alice");
        // One check of "bad" (its repeats came from memory), one of "pw".
        assert_eq!(a.verification_count(), 2);
    }

    #[tokio::test]
    async fn the_per_user_ceiling_locks_every_client() {
        let a = BasicAuthenticator::builder()
            .user(BasicUser::new("alice", hash_password("pw").unwrap()))
            .lockout(1, Duration::from_secs(900))
            .lockout_per_user_ceiling(2)
            .build()
            .unwrap();
        let g = Guard::builder(a).build().unwrap();
        let from = |r: SimpleRequest, ip: &str| r.peer(format!("{ip}:5000").parse().unwrap());
        for ip in ["192.0.2.1", "192.0.2.2"] {
            let r = g.check(&from(basic("alice", "bad"), ip)).await;
            assert_eq!(r.unwrap_err().status(), 401);
        }
        let r = g.check(&from(basic("alice", "pw"), "192.0.2.3")).await;
        assert_eq!(r.unwrap_err().status(), 429);
    }

    #[test]
    fn debug_has_no_hash() {
        let h = hash_password("x").unwrap();
        let u = BasicUser::new("a", h.clone());
        assert!(!format!("{u:?}").contains(&h));
    }
}
