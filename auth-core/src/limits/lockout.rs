//! [`Lockout`]: too many failed attempts lock an account, per client first
//! and then for everyone, counted in a [`CounterStore`].
//!
//! # How it is keyed, and why
//!
//! OWASP's authentication guidance warns that a lockout keyed by the
//! account alone lets anyone lock any known user out, and recommends
//! throttling that takes the client into account. This one counts twice:
//!
//! - per account **and client address** (an IPv4 address, or the /64 an
//!   IPv6 client sits in): `max_failures` in the window (5 in 15 minutes by
//!   default) lock that account *for that client only*;
//! - per account, from every client: a higher ceiling (10 × `max_failures`
//!   by default, [`Lockout::per_user_ceiling`]) locks the account for
//!   everyone, so a guesser spread over many addresses still gets a bounded
//!   number of checks.
//!
//! The trade-off: one address can no longer lock a user out, but an
//! attacker with more addresses than `ceiling / max_failures` (10 by
//! default) still can, for one window. Attempts refused because their client
//! is locked do not count towards the account's ceiling. Behind a proxy,
//! list it in the authenticator's trusted proxies so that the client address
//! comes from `X-Forwarded-For`; otherwise every client shares the proxy's.
//!
//! Keys are fixed-size: a SHA-256 of the account (and the client), never the
//! name itself, so a long name stores no more than a short one.
//!
//! An attempt is counted *before* the password is checked and released when
//! it succeeds, so concurrent guesses cannot get more checks than the limit:
//! of 64 wrong passwords sent at once with a limit of 5, 5 are checked and
//! 59 refused.
//!
//! ```
//! use std::time::Duration;
//! use auth_core::limits::Lockout;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let lockout = Lockout::new(2, Duration::from_secs(60));
//! let here = Some("203.0.113.9".parse().unwrap());
//! let there = Some("198.51.100.7".parse().unwrap());
//! // Two attempts that fail (never released), then alice is locked here...
//! let alice_here = lockout.attempt("alice", here);
//! assert!(lockout.begin(&alice_here).await.unwrap().is_none());
//! assert!(lockout.begin(&alice_here).await.unwrap().is_none());
//! assert!(lockout.begin(&alice_here).await.unwrap().is_some());
//! // ...but not from another address.
//! let alice_there = lockout.attempt("alice", there);
//! assert!(lockout.begin(&alice_there).await.unwrap().is_none());
//! // One that succeeds gives its attempt back.
//! let bob = lockout.attempt("bob", here);
//! assert!(lockout.begin(&bob).await.unwrap().is_none());
//! lockout.succeeded(&bob).await.unwrap();
//! assert!(lockout.begin(&bob).await.unwrap().is_none());
//! assert!(lockout.begin(&bob).await.unwrap().is_none());
//! # });
//! ```

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use sha2::{Digest, Sha256};

use crate::error::StoreError;
use crate::store::{CounterStore, MemoryCounters};

/// How many counters the in-process lockout keeps at once (two per account
/// and client).
const MEMORY_CAPACITY: u64 = 200_000;

/// Locks an account after `max_failures` failures from one client, or
/// `per_user_ceiling` from all of them, within a window that starts with the
/// first of them, until that window has passed.
#[derive(Clone)]
pub struct Lockout {
    store: Arc<dyn CounterStore>,
    max_failures: u64,
    ceiling: u64,
    window: Duration,
}

/// One attempt's counter keys: fixed-size hashes of the account, and of the
/// account with the client. Made by [`Lockout::attempt`].
#[derive(Clone, PartialEq, Eq)]
pub struct Attempt {
    account: String,
    client: String,
}

impl std::fmt::Debug for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Attempt").finish_non_exhaustive()
    }
}

/// The part of a client address that identifies a client: the whole IPv4
/// address, or the /64 of an IPv6 one (an IPv4-mapped IPv6 address counts as
/// the IPv4 one).
pub(crate) fn client_bucket(client: Option<IpAddr>) -> Vec<u8> {
    match client.map(|ip| ip.to_canonical()) {
        None => vec![0],
        Some(IpAddr::V4(v4)) => std::iter::once(4).chain(v4.octets()).collect(),
        Some(IpAddr::V6(v6)) => std::iter::once(6)
            .chain(v6.octets().into_iter().take(8))
            .collect(),
    }
}

fn hashed(kind: &str, parts: &[&[u8]]) -> String {
    let mut h = Sha256::new();
    h.update(b"auth-stack lockout\0");
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    let digest = h.finalize();
    format!(
        "lockout:{kind}:{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
    )
}

impl Lockout {
    /// Counts in process memory (bounded), with the account ceiling at ten
    /// times `max_failures`.
    pub fn new(max_failures: usize, window: Duration) -> Self {
        Self::with_store(
            Arc::new(MemoryCounters::new(MEMORY_CAPACITY)),
            max_failures,
            window,
        )
    }

    /// Counts in `store` (shared by processes, for one).
    pub fn with_store(store: Arc<dyn CounterStore>, max_failures: usize, window: Duration) -> Self {
        let max_failures = u64::try_from(max_failures.max(1)).unwrap_or(u64::MAX);
        Self {
            store,
            max_failures,
            ceiling: max_failures.saturating_mul(10),
            window,
        }
    }

    /// Failures from all clients together that lock the account for
    /// everyone (default ten times `max_failures`; never below it).
    pub fn per_user_ceiling(mut self, ceiling: usize) -> Self {
        let ceiling = u64::try_from(ceiling).unwrap_or(u64::MAX);
        self.ceiling = ceiling.max(self.max_failures);
        self
    }

    /// The counter keys of an attempt on `account` from `client` (`None`
    /// when the address is not known: such clients share one bucket).
    pub fn attempt(&self, account: &str, client: Option<IpAddr>) -> Attempt {
        Attempt {
            account: hashed("a", &[account.as_bytes()]),
            client: hashed("c", &[account.as_bytes(), &client_bucket(client)]),
        }
    }

    /// How long the attempt's account stays locked for its client, if it is
    /// locked now. Reads only.
    pub async fn locked_for(&self, attempt: &Attempt) -> Result<Option<Duration>, StoreError> {
        let pair = self.store.get(&attempt.client).await?;
        let pair = pair.filter(|c| c.value >= self.max_failures);
        let all = self.store.get(&attempt.account).await?;
        let all = all.filter(|c| c.value >= self.ceiling);
        Ok([pair, all]
            .into_iter()
            .flatten()
            .map(|c| c.expires_in)
            .max())
    }

    /// Counts an attempt before it is checked. `Some(left)` if the account
    /// is locked for this client: the attempt must be refused, without a
    /// check, and is answered with `Retry-After: left`. Otherwise the caller
    /// checks it, and calls [`succeeded`](Self::succeeded) if it passes; a
    /// failed attempt stays counted.
    pub async fn begin(&self, attempt: &Attempt) -> Result<Option<Duration>, StoreError> {
        let pair = self.store.increment(&attempt.client, self.window).await?;
        if pair.value > self.max_failures {
            return Ok(Some(pair.expires_in));
        }
        let all = self.store.increment(&attempt.account, self.window).await?;
        if all.value > self.ceiling {
            // Not checked: it does not count against this client.
            self.store.decrement(&attempt.client).await?;
            return Ok(Some(all.expires_in));
        }
        Ok(None)
    }

    /// Gives back the attempt [`begin`](Self::begin) counted: it passed (or
    /// could not be checked, which is not the caller's failure).
    pub async fn succeeded(&self, attempt: &Attempt) -> Result<(), StoreError> {
        self.store.decrement(&attempt.client).await?;
        self.store.decrement(&attempt.account).await
    }
}

impl std::fmt::Debug for Lockout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lockout")
            .field("max_failures", &self.max_failures)
            .field("per_user_ceiling", &self.ceiling)
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[tokio::test]
    async fn locks_after_max_failures_and_unlocks_after_window() {
        let l = Lockout::new(3, Duration::from_secs(1));
        let u = l.attempt("u", ip("192.0.2.1"));
        for _ in 0..3 {
            assert!(l.begin(&u).await.unwrap().is_none(), "a failed attempt");
        }
        let left = l.begin(&u).await.unwrap().unwrap();
        assert!(left <= Duration::from_secs(1));
        let other = l.attempt("other", ip("192.0.2.1"));
        assert!(l.begin(&other).await.unwrap().is_none());
        tokio::time::sleep(Duration::from_millis(1050)).await;
        // A new window starts from zero.
        for _ in 0..3 {
            assert!(l.begin(&u).await.unwrap().is_none());
        }
        assert!(l.begin(&u).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn successes_give_their_attempt_back() {
        let l = Lockout::new(2, Duration::from_secs(60));
        let u = l.attempt("u", None);
        for _ in 0..10 {
            assert!(l.begin(&u).await.unwrap().is_none());
            l.succeeded(&u).await.unwrap();
        }
        assert!(l.locked_for(&u).await.unwrap().is_none());
        assert!(l.begin(&u).await.unwrap().is_none());
        assert!(l.locked_for(&u).await.unwrap().is_none(), "one of two");
        assert!(l.begin(&u).await.unwrap().is_none());
        assert!(l.locked_for(&u).await.unwrap().is_some(), "two of two");
        // Nothing to give back for an account never seen.
        let never = l.attempt("never", None);
        l.succeeded(&never).await.unwrap();
        assert!(l.begin(&never).await.unwrap().is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn concurrent_attempts_cannot_pass_the_limit() {
        let l = Arc::new(Lockout::new(5, Duration::from_secs(60)));
        let tasks: Vec<_> = (0..64)
            .map(|_| {
                let l = l.clone();
                tokio::spawn(async move {
                    let a = l.attempt("u", ip("192.0.2.1"));
                    l.begin(&a).await.unwrap().is_none()
                })
            })
            .collect();
        let mut let_through = 0;
        for t in tasks {
            let_through += usize::from(t.await.unwrap());
        }
        assert_eq!(let_through, 5);
    }

    #[tokio::test]
    async fn one_client_cannot_lock_out_another() {
        let l = Lockout::new(5, Duration::from_secs(60));
        let mallory = l.attempt("alice", ip("203.0.113.66"));
        for _ in 0..5 {
            assert!(l.begin(&mallory).await.unwrap().is_none());
        }
        // Mallory keeps hammering: refused, and none of it counts for alice.
        for _ in 0..200 {
            assert!(l.begin(&mallory).await.unwrap().is_some());
        }
        assert!(l.locked_for(&mallory).await.unwrap().is_some());
        let alice = l.attempt("alice", ip("198.51.100.1"));
        assert!(l.locked_for(&alice).await.unwrap().is_none());
        assert!(l.begin(&alice).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn many_clients_reach_the_per_user_ceiling() {
        let l = Lockout::new(2, Duration::from_secs(60)).per_user_ceiling(6);
        // Three addresses, two failures each: six, the ceiling.
        for i in 1..=3 {
            let a = l.attempt("alice", ip(&format!("192.0.2.{i}")));
            for _ in 0..2 {
                assert!(l.begin(&a).await.unwrap().is_none());
            }
        }
        let fresh = l.attempt("alice", ip("192.0.2.200"));
        assert!(l.locked_for(&fresh).await.unwrap().is_some());
        assert!(l.begin(&fresh).await.unwrap().is_some());
        // The refused attempt did not count against the fresh client.
        let fresh_pair = l.store.get(&fresh.client).await.unwrap();
        assert!(fresh_pair.is_none(), "{fresh_pair:?}");
        // Another account is untouched.
        let bob = l.attempt("bob", ip("192.0.2.1"));
        assert!(l.begin(&bob).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn the_ceiling_is_never_below_the_client_limit() {
        let l = Lockout::new(4, Duration::from_secs(60)).per_user_ceiling(1);
        let shown = format!("{l:?}");
        assert!(
            shown.contains("max_failures: 4, per_user_ceiling: 4"),
            "{shown}"
        );
        let a = l.attempt("u", ip("192.0.2.1"));
        for _ in 0..4 {
            assert!(l.begin(&a).await.unwrap().is_none());
        }
        assert!(l.begin(&a).await.unwrap().is_some());
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_and_keys_are_fixed_size() {
        let l = Lockout::new(1, Duration::from_secs(60));
        let a = l.attempt("u", ip("2001:db8:1:2::1"));
        let b = l.attempt("u", ip("2001:db8:1:2:ffff::9"));
        let c = l.attempt("u", ip("2001:db8:1:3::1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        // An IPv4-mapped address is the IPv4 client.
        assert_eq!(
            l.attempt("u", ip("::ffff:192.0.2.1")),
            l.attempt("u", ip("192.0.2.1"))
        );
        assert_ne!(l.attempt("u", ip("192.0.2.1")), l.attempt("u", None));
        let long = l.attempt(&"x".repeat(100_000), None);
        assert_eq!(long.account.len(), a.account.len());
        assert_eq!(long.client.len(), a.client.len());
        assert!(long.account.len() < 64);
        // Neither key holds the name.
        assert!(!l.attempt("alice", None).account.contains("alice"));
        assert!(!format!("{a:?}").contains("lockout"));
    }
}
