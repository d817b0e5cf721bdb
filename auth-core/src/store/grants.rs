//! Authorization codes and refresh-token families: the state behind the
//! `authorization_code` and `refresh_token` grants, as atomic operations.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq as _;

use crate::authenticate::BoxFuture;
use crate::error::StoreError;

/// What an authorization code was issued for, bound at `/authorize` and
/// checked at the token endpoint. Kept by the SHA-256 of the code.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CodeGrant {
    /// The client it was issued to.
    pub client_id: String,
    /// The `redirect_uri` of the authorization request, if it sent one.
    pub redirect_uri: Option<String>,
    /// The PKCE `S256` challenge.
    pub challenge: String,
    /// The resource owner.
    pub subject: String,
    /// The granted scopes, space-separated.
    pub scope: String,
    /// When the resource owner authenticated (seconds since the epoch).
    pub auth_time: u64,
    /// The refresh-token family the code starts: what a second use of the
    /// code revokes.
    pub family: String,
}

/// The answer to [`GrantStore::redeem_code`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Redemption {
    /// The code's first use: what it was issued for. It is spent now.
    Fresh(CodeGrant),
    /// The code was used before: the family its first use started.
    Spent {
        /// The family to revoke.
        family: String,
    },
    /// No such code, or it expired.
    Unknown,
}

/// An access token a family issued, remembered so that the family's
/// revocation reaches it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// Its `jti`.
    pub jti: String,
    /// Its `exp` (seconds since the epoch).
    pub exp: u64,
    /// The SHA-256 of an opaque token (which the token store keeps); `None`
    /// for a JWT (which the revocation store refuses by `jti`).
    pub opaque: Option<[u8; 32]>,
}

/// A refresh-token family: one authorization's chain of refresh tokens,
/// each spent by the next.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Family {
    /// The client the family belongs to.
    pub client_id: String,
    /// The resource owner.
    pub subject: String,
    /// The scopes of the original grant: a refresh may narrow them, never
    /// widen.
    pub scope: String,
    /// When the resource owner authenticated.
    pub auth_time: u64,
}

/// The answer to [`GrantStore::rotate`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Rotation {
    /// The presented token was the current one; the next one is current
    /// now.
    Rotated(Family),
    /// The presented token was spent already: the family is revoked now,
    /// and these are the access tokens it had issued that are still live.
    Reused(Vec<Issued>),
    /// Not a live token of this family for this client (unknown, revoked,
    /// expired, another client's). Nothing changed.
    Invalid,
}

/// Codes and refresh-token families. Each method is one atomic step, which
/// a shared store can run in one round trip (a Redis Lua script).
///
/// Only hashes of codes and refresh tokens reach a store.
pub trait GrantStore: Send + Sync + 'static {
    /// Records a new code until `until`.
    fn put_code(
        &self,
        hash: [u8; 32],
        grant: CodeGrant,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>>;

    /// Spends a code: [`Redemption::Fresh`] once, then
    /// [`Redemption::Spent`] until it expires.
    fn redeem_code<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Redemption, StoreError>>;

    /// Starts family `id` with `refresh` (the hash of its first refresh
    /// token, if one was issued) and its first access token, until `until`.
    /// `false` if the family exists already, or was revoked before it
    /// started (a code used twice at once): then nothing may be issued.
    fn start_family<'a>(
        &'a self,
        id: &'a str,
        family: Family,
        refresh: Option<[u8; 32]>,
        first: Issued,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>>;

    /// Family `id`, if it is live and not revoked.
    fn family<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Family>, StoreError>>;

    /// Spends refresh token `presented` of family `id` for `client_id`:
    /// if it is the current one, `next` becomes current and `issued` is
    /// recorded ([`Rotation::Rotated`]); if it was spent already, the
    /// family is revoked ([`Rotation::Reused`]).
    fn rotate<'a>(
        &'a self,
        id: &'a str,
        client_id: &'a str,
        presented: [u8; 32],
        next: [u8; 32],
        issued: Issued,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>>;

    /// Revokes family `id` (or, if it has not started, makes sure it never
    /// does) and returns its live access tokens, which the caller revokes.
    /// `presented`, if given, must be the family's current or a spent
    /// refresh token, or nothing happens (RFC 7009 revocation by the
    /// client). A family already revoked returns nothing.
    fn revoke_family<'a>(
        &'a self,
        id: &'a str,
        presented: Option<[u8; 32]>,
    ) -> BoxFuture<'a, Result<Vec<Issued>, StoreError>>;
}

/// How many spent refresh tokens a family remembers. A token spent longer
/// ago than that is refused as unknown, without revoking the family.
pub const SPENT_REMEMBERED: usize = 16;

/// How many live access tokens one family may have: a client refreshing
/// faster than its tokens expire is refused beyond this.
pub const MAX_LIVE_PER_FAMILY: usize = 64;

struct CodeEntry {
    grant: Option<CodeGrant>,
    family: String,
    until: SystemTime,
}

struct FamilyEntry {
    family: Option<Family>,
    current: Option<[u8; 32]>,
    spent: Vec<[u8; 32]>,
    issued: Vec<Issued>,
    until: SystemTime,
}

#[derive(Default)]
struct Tables {
    codes: HashMap<[u8; 32], CodeEntry>,
    families: HashMap<String, FamilyEntry>,
    swept: Option<Instant>,
}

/// In-process [`GrantStore`], bounded: past `capacity` codes or families
/// (after dropping expired ones, at most once a second) a new one fails
/// with [`StoreErrorKind::Full`](crate::StoreErrorKind::Full), a 503,
/// rather than evicting state a revocation depends on.
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use auth_core::store::{CodeGrant, GrantStore, MemoryGrants, Redemption};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let store = MemoryGrants::new(1000);
/// let grant = CodeGrant {
///     client_id: "app".into(), redirect_uri: None, challenge: "c".into(),
///     subject: "alice".into(), scope: "read".into(), auth_time: 0, family: "f1".into(),
/// };
/// let until = SystemTime::now() + Duration::from_secs(60);
/// store.put_code([1; 32], grant.clone(), until).await.unwrap();
/// assert_eq!(store.redeem_code(&[1; 32]).await.unwrap(), Redemption::Fresh(grant));
/// assert_eq!(
///     store.redeem_code(&[1; 32]).await.unwrap(),
///     Redemption::Spent { family: "f1".into() },
/// );
/// # });
/// ```
pub struct MemoryGrants {
    tables: Mutex<Tables>,
    capacity: usize,
}

impl std::fmt::Debug for MemoryGrants {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.lock();
        f.debug_struct("MemoryGrants")
            .field("codes", &t.codes.len())
            .field("families", &t.families.len())
            .field("capacity", &self.capacity)
            .finish()
    }
}

impl MemoryGrants {
    /// A store of at most `capacity` codes and `capacity` families.
    pub fn new(capacity: usize) -> Self {
        Self {
            tables: Mutex::new(Tables::default()),
            capacity,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Tables> {
        // Every change below is a few inserts on owned values: a poisoned
        // lock leaves the tables whole.
        self.tables.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Drops expired entries when a table is full, at most once a second.
    fn make_room(&self, t: &mut Tables, now: SystemTime) {
        let full = t.codes.len() >= self.capacity || t.families.len() >= self.capacity;
        if full
            && t.swept
                .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            t.codes.retain(|_, e| e.until > now);
            t.families.retain(|_, e| e.until > now);
            t.swept = Some(Instant::now());
        }
    }

    fn put_code_now(
        &self,
        hash: [u8; 32],
        grant: CodeGrant,
        until: SystemTime,
    ) -> Result<(), StoreError> {
        let mut t = self.lock();
        self.make_room(&mut t, SystemTime::now());
        if t.codes.len() >= self.capacity {
            return Err(StoreError::full("authorization codes (capacity reached)"));
        }
        let family = grant.family.clone();
        t.codes.insert(
            hash,
            CodeEntry {
                grant: Some(grant),
                family,
                until,
            },
        );
        Ok(())
    }

    fn redeem_now(&self, hash: &[u8; 32]) -> Redemption {
        let mut t = self.lock();
        let Some(entry) = t.codes.get_mut(hash) else {
            return Redemption::Unknown;
        };
        if entry.until <= SystemTime::now() {
            return Redemption::Unknown;
        }
        match entry.grant.take() {
            Some(grant) => Redemption::Fresh(grant),
            None => Redemption::Spent {
                family: entry.family.clone(),
            },
        }
    }

    fn start_now(
        &self,
        id: &str,
        family: Family,
        refresh: Option<[u8; 32]>,
        first: Issued,
        until: SystemTime,
    ) -> Result<bool, StoreError> {
        let mut t = self.lock();
        if t.families.contains_key(id) {
            return Ok(false);
        }
        self.make_room(&mut t, SystemTime::now());
        if t.families.len() >= self.capacity {
            return Err(StoreError::full(
                "refresh-token families (capacity reached)",
            ));
        }
        t.families.insert(
            id.to_owned(),
            FamilyEntry {
                family: Some(family),
                current: refresh,
                spent: Vec::new(),
                issued: vec![first],
                until,
            },
        );
        Ok(true)
    }

    fn rotate_now(
        &self,
        id: &str,
        client_id: &str,
        presented: [u8; 32],
        next: [u8; 32],
        issued: Issued,
    ) -> Rotation {
        let now = SystemTime::now();
        let now_secs = unix_secs(now);
        let mut t = self.lock();
        let Some(entry) = t.families.get_mut(id) else {
            return Rotation::Invalid;
        };
        let Some(family) = entry.family.clone() else {
            return Rotation::Invalid;
        };
        if entry.until <= now || family.client_id != client_id {
            return Rotation::Invalid;
        }
        let is = |h: &[u8; 32]| bool::from(h.ct_eq(&presented));
        if entry.current.as_ref().is_some_and(is) {
            entry.issued.retain(|i| i.exp > now_secs);
            if entry.issued.len() >= MAX_LIVE_PER_FAMILY {
                return Rotation::Invalid;
            }
            entry.spent.push(presented);
            if entry.spent.len() > SPENT_REMEMBERED {
                entry.spent.remove(0);
            }
            entry.current = Some(next);
            entry.issued.push(issued);
            return Rotation::Rotated(family);
        }
        if entry.spent.iter().any(is) {
            return Rotation::Reused(revoke_entry(entry, now_secs));
        }
        Rotation::Invalid
    }

    fn revoke_now(&self, id: &str, presented: Option<[u8; 32]>) -> Result<Vec<Issued>, StoreError> {
        let now = SystemTime::now();
        let mut t = self.lock();
        if let Some(entry) = t.families.get_mut(id) {
            if let Some(p) = presented {
                let is = |h: &[u8; 32]| bool::from(h.ct_eq(&p));
                if !(entry.current.as_ref().is_some_and(is) || entry.spent.iter().any(is)) {
                    return Ok(Vec::new());
                }
            }
            return Ok(revoke_entry(entry, unix_secs(now)));
        }
        if presented.is_some() {
            return Ok(Vec::new());
        }
        // Not started yet: a tombstone, so that it never does. It lasts as
        // long as a code could still be redeemed.
        self.make_room(&mut t, now);
        if t.families.len() >= self.capacity {
            return Err(StoreError::full(
                "refresh-token families (capacity reached)",
            ));
        }
        t.families.insert(
            id.to_owned(),
            FamilyEntry {
                family: None,
                current: None,
                spent: Vec::new(),
                issued: Vec::new(),
                until: now + Duration::from_secs(15 * 60),
            },
        );
        Ok(Vec::new())
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Marks a family revoked and hands back its live access tokens (none the
/// second time: the first took them).
fn revoke_entry(entry: &mut FamilyEntry, now_secs: u64) -> Vec<Issued> {
    entry.family = None;
    entry.current = None;
    entry.spent.clear();
    std::mem::take(&mut entry.issued)
        .into_iter()
        .filter(|i| i.exp > now_secs)
        .collect()
}

impl GrantStore for MemoryGrants {
    fn put_code(
        &self,
        hash: [u8; 32],
        grant: CodeGrant,
        until: SystemTime,
    ) -> BoxFuture<'_, Result<(), StoreError>> {
        Box::pin(std::future::ready(self.put_code_now(hash, grant, until)))
    }

    fn redeem_code<'a>(
        &'a self,
        hash: &'a [u8; 32],
    ) -> BoxFuture<'a, Result<Redemption, StoreError>> {
        Box::pin(std::future::ready(Ok(self.redeem_now(hash))))
    }

    fn start_family<'a>(
        &'a self,
        id: &'a str,
        family: Family,
        refresh: Option<[u8; 32]>,
        first: Issued,
        until: SystemTime,
    ) -> BoxFuture<'a, Result<bool, StoreError>> {
        Box::pin(std::future::ready(
            self.start_now(id, family, refresh, first, until),
        ))
    }

    fn family<'a>(&'a self, id: &'a str) -> BoxFuture<'a, Result<Option<Family>, StoreError>> {
        let t = self.lock();
        let live = t
            .families
            .get(id)
            .filter(|e| e.until > SystemTime::now())
            .and_then(|e| e.family.clone());
        Box::pin(std::future::ready(Ok(live)))
    }

    fn rotate<'a>(
        &'a self,
        id: &'a str,
        client_id: &'a str,
        presented: [u8; 32],
        next: [u8; 32],
        issued: Issued,
    ) -> BoxFuture<'a, Result<Rotation, StoreError>> {
        Box::pin(std::future::ready(Ok(
            self.rotate_now(id, client_id, presented, next, issued)
        )))
    }

    fn revoke_family<'a>(
        &'a self,
        id: &'a str,
        presented: Option<[u8; 32]>,
    ) -> BoxFuture<'a, Result<Vec<Issued>, StoreError>> {
        Box::pin(std::future::ready(self.revoke_now(id, presented)))
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)] // test code

    use super::*;

    fn grant(family: &str) -> CodeGrant {
        CodeGrant {
            client_id: "app".into(),
            redirect_uri: None,
            challenge: "c".into(),
            subject: "alice".into(),
            scope: "read".into(),
            auth_time: 1,
            family: family.into(),
        }
    }

    fn family() -> Family {
        Family {
            client_id: "app".into(),
            subject: "alice".into(),
            scope: "read".into(),
            auth_time: 1,
        }
    }

    fn issued(jti: &str, exp: u64) -> Issued {
        Issued {
            jti: jti.into(),
            exp,
            opaque: None,
        }
    }

    fn later() -> SystemTime {
        SystemTime::now() + Duration::from_secs(600)
    }

    fn live_exp() -> u64 {
        unix_secs(SystemTime::now()) + 600
    }

    #[test]
    fn codes_expire_and_fill_up_then_make_room() {
        let s = MemoryGrants::new(2);
        s.put_code_now(
            [1; 32],
            grant("f1"),
            SystemTime::now() - Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(s.redeem_now(&[1; 32]), Redemption::Unknown, "expired");
        s.put_code_now([2; 32], grant("f2"), later()).unwrap();
        // Full (2): the expired code is swept to make room.
        s.put_code_now([3; 32], grant("f3"), later()).unwrap();
        assert_eq!(s.lock().codes.len(), 2);
        // Full of live codes: refused, nothing dropped (the sweep ran less
        // than a second ago, and would find nothing anyway).
        let e = s.put_code_now([4; 32], grant("f4"), later()).unwrap_err();
        assert_eq!(e.kind(), crate::StoreErrorKind::Full);
        assert!(matches!(s.redeem_now(&[2; 32]), Redemption::Fresh(_)));
        assert_eq!(
            s.redeem_now(&[2; 32]),
            Redemption::Spent {
                family: "f2".into()
            }
        );
        assert_eq!(s.redeem_now(&[9; 32]), Redemption::Unknown);
        let debug = format!("{s:?}");
        assert!(
            debug.contains("codes: 2") && debug.contains("capacity: 2"),
            "{debug}"
        );
    }

    #[test]
    fn the_sweep_runs_only_when_full_and_at_most_once_a_second() {
        // Not full: an expired code is left alone (it answers as unknown).
        let s = MemoryGrants::new(10);
        s.put_code_now(
            [1; 32],
            grant("f1"),
            SystemTime::now() - Duration::from_secs(1),
        )
        .unwrap();
        s.put_code_now([2; 32], grant("f2"), later()).unwrap();
        assert_eq!(s.lock().codes.len(), 2);
        // Full: one sweep; a code expiring just after it is not swept again
        // within the second, so the next insert is refused.
        let s = MemoryGrants::new(2);
        s.put_code_now(
            [1; 32],
            grant("f1"),
            SystemTime::now() - Duration::from_secs(1),
        )
        .unwrap();
        s.put_code_now([2; 32], grant("f2"), later()).unwrap();
        s.put_code_now(
            [3; 32],
            grant("f3"),
            SystemTime::now() + Duration::from_millis(50),
        )
        .unwrap();
        std::thread::sleep(Duration::from_millis(100));
        let e = s.put_code_now([4; 32], grant("f4"), later()).unwrap_err();
        assert_eq!(e.kind(), crate::StoreErrorKind::Full);
    }

    #[test]
    fn families_rotate_detect_reuse_and_refuse_strangers() {
        let s = MemoryGrants::new(10);
        assert!(
            s.start_now(
                "f",
                family(),
                Some([1; 32]),
                issued("a1", live_exp()),
                later()
            )
            .unwrap()
        );
        assert!(
            !s.start_now(
                "f",
                family(),
                Some([1; 32]),
                issued("a1", live_exp()),
                later()
            )
            .unwrap()
        );
        // Another client, an unknown token: nothing changes.
        assert_eq!(
            s.rotate_now("f", "other", [1; 32], [2; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        assert_eq!(
            s.rotate_now("f", "app", [7; 32], [2; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        assert_eq!(
            s.rotate_now("nope", "app", [1; 32], [2; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        assert_eq!(
            s.rotate_now("f", "app", [1; 32], [2; 32], issued("a2", live_exp())),
            Rotation::Rotated(family())
        );
        assert_eq!(
            s.rotate_now("f", "app", [2; 32], [3; 32], issued("a3", live_exp())),
            Rotation::Rotated(family())
        );
        // [1] again: reuse; the live tokens come back, once.
        match s.rotate_now("f", "app", [1; 32], [4; 32], issued("x", live_exp())) {
            Rotation::Reused(live) => {
                let jtis: Vec<_> = live.iter().map(|i| i.jti.as_str()).collect();
                assert_eq!(jtis, ["a1", "a2", "a3"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.rotate_now("f", "app", [3; 32], [4; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        assert_eq!(s.revoke_now("f", None).unwrap(), Vec::new());
        assert_eq!(futures_ready(s.family("f")), None);
    }

    fn futures_ready<T>(f: BoxFuture<'_, Result<T, StoreError>>) -> T {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
            .unwrap()
    }

    #[test]
    fn spent_tokens_are_remembered_for_a_window_only() {
        let s = MemoryGrants::new(10);
        s.start_now(
            "f",
            family(),
            Some([0; 32]),
            issued("a", live_exp()),
            later(),
        )
        .unwrap();
        for i in 0..=SPENT_REMEMBERED {
            let (cur, next) = ([i as u8; 32], [i as u8 + 1; 32]);
            // Expired access tokens are pruned, so the live cap is not hit.
            assert_eq!(
                s.rotate_now("f", "app", cur, next, issued("x", 0)),
                Rotation::Rotated(family())
            );
        }
        // [0] is beyond the window: unknown, not a reuse; [1] is inside.
        assert_eq!(
            s.rotate_now("f", "app", [0; 32], [99; 32], issued("x", 0)),
            Rotation::Invalid
        );
        assert!(matches!(
            s.rotate_now("f", "app", [1; 32], [99; 32], issued("x", 0)),
            Rotation::Reused(_)
        ));
    }

    #[test]
    fn a_family_may_hold_only_so_many_live_tokens() {
        let s = MemoryGrants::new(10);
        s.start_now(
            "f",
            family(),
            Some([0; 32]),
            issued("a", live_exp()),
            later(),
        )
        .unwrap();
        let mut cur = [0u8; 32];
        for i in 1..MAX_LIVE_PER_FAMILY {
            let next = [i as u8; 32];
            assert_eq!(
                s.rotate_now("f", "app", cur, next, issued("x", live_exp())),
                Rotation::Rotated(family()),
                "{i}"
            );
            cur = next;
        }
        assert_eq!(
            s.rotate_now("f", "app", cur, [200; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        // The current token is still current.
        assert!(s.lock().families["f"].current == Some(cur));
    }

    #[test]
    fn expired_families_and_revocation_rules() {
        let s = MemoryGrants::new(2);
        s.start_now(
            "old",
            family(),
            Some([1; 32]),
            issued("a", live_exp()),
            SystemTime::now() - Duration::from_secs(1),
        )
        .unwrap();
        assert_eq!(
            s.rotate_now("old", "app", [1; 32], [2; 32], issued("x", live_exp())),
            Rotation::Invalid
        );
        assert_eq!(futures_ready(s.family("old")), None);
        s.start_now(
            "f",
            family(),
            Some([1; 32]),
            issued("a", live_exp()),
            later(),
        )
        .unwrap();
        assert_eq!(futures_ready(s.family("f")), Some(family()));
        // Full: the expired family is swept for the next.
        assert!(
            s.start_now("g", family(), None, issued("b", live_exp()), later())
                .unwrap()
        );
        let e = s
            .start_now("h", family(), None, issued("c", live_exp()), later())
            .unwrap_err();
        assert_eq!(e.kind(), crate::StoreErrorKind::Full);
        // Revocation by the client needs a token of the family.
        assert_eq!(s.revoke_now("f", Some([9; 32])).unwrap(), Vec::new());
        assert_eq!(futures_ready(s.family("f")), Some(family()));
        let revoked = s.revoke_now("f", Some([1; 32])).unwrap();
        assert_eq!(
            revoked.iter().map(|i| i.jti.as_str()).collect::<Vec<_>>(),
            ["a"]
        );
        assert_eq!(futures_ready(s.family("f")), None);
        // An unknown family with a token: nothing; without: a tombstone,
        // so that it never starts (a code used twice at once).
        assert_eq!(s.revoke_now("nope", Some([1; 32])).unwrap(), Vec::new());
        assert!(!s.lock().families.contains_key("nope"));
        let s = MemoryGrants::new(10);
        s.revoke_now("t", None).unwrap();
        assert!(
            !s.start_now("t", family(), None, issued("a", live_exp()), later())
                .unwrap()
        );
    }

    #[test]
    fn a_tombstone_outlives_a_sweep_and_expired_tokens_are_not_handed_back() {
        // The tombstone of a family revoked before it started survives the
        // sweep that makes room, so the family still never starts.
        let s = MemoryGrants::new(2);
        s.revoke_now("t", None).unwrap();
        s.start_now(
            "f",
            family(),
            Some([1; 32]),
            issued("a", live_exp()),
            later(),
        )
        .unwrap();
        assert!(
            s.start_now("g", family(), None, issued("b", live_exp()), later())
                .is_err()
        );
        assert!(
            !s.start_now("t", family(), None, issued("c", live_exp()), later())
                .unwrap()
        );
        // An access token past its exp is not handed back for revocation.
        let s = MemoryGrants::new(10);
        s.start_now("f", family(), Some([1; 32]), issued("expired", 1), later())
            .unwrap();
        let exp = live_exp();
        s.rotate_now("f", "app", [1; 32], [2; 32], issued("live", exp));
        match s.rotate_now("f", "app", [1; 32], [3; 32], issued("x", exp)) {
            Rotation::Reused(live) => assert_eq!(live, vec![issued("live", exp)]),
            other => panic!("{other:?}"),
        }
    }
}
