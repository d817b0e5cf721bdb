//! The parts of the `rustls::ServerConfig` whose content changes on a
//! reload while the config itself stays the same: the certificate
//! resolver, the client-certificate verifier and the session cache. Each
//! handshake reads the current value once; a connection keeps what its
//! handshake used.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock, PoisonError, RwLock};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::{
    ClientHello, ResolvesServerCert, ServerSessionMemoryCache, StoresServerSessions,
};
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, SignatureScheme};
use rustls_pki_types::{CertificateDer, UnixTime};

use super::ClientAuth;
use super::reload::Shared;

/// A value swapped whole on a reload; readers clone the `Arc` and let go of
/// the lock at once.
pub(super) struct Current<T: ?Sized>(RwLock<Arc<T>>);

impl<T: ?Sized> Current<T> {
    pub(super) fn new(value: Arc<T>) -> Self {
        Self(RwLock::new(value))
    }

    pub(super) fn get(&self) -> Arc<T> {
        // No writer panics while holding the lock; a poisoned one still
        // holds a whole value.
        Arc::clone(&self.0.read().unwrap_or_else(PoisonError::into_inner))
    }

    pub(super) fn set(&self, value: Arc<T>) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = value;
    }
}

/// The server certificate: whatever was loaded last.
pub(super) struct CurrentCert(pub(super) Arc<Shared>);

impl std::fmt::Debug for CurrentCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CurrentCert")
    }
}

impl ResolvesServerCert for CurrentCert {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.cert.get())
    }
}

/// The client-certificate verifier: whether to ask and whether to insist
/// are fixed by the [`ClientAuth`] mode; which CAs and CRLs are trusted is
/// the verifier loaded last.
pub(super) struct CurrentVerifier(pub(super) Arc<Shared>);

impl std::fmt::Debug for CurrentVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CurrentVerifier")
            .field("client_auth", &self.0.settings.client_auth)
            .finish_non_exhaustive()
    }
}

impl CurrentVerifier {
    fn inner(&self) -> Arc<dyn ClientCertVerifier> {
        self.0.verifier.get()
    }
}

impl ClientCertVerifier for CurrentVerifier {
    fn offer_client_auth(&self) -> bool {
        self.0.settings.client_auth != ClientAuth::Disabled
    }

    fn client_auth_mandatory(&self) -> bool {
        self.0.settings.client_auth == ClientAuth::Required
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.0.hints.current()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner()
            .verify_client_cert(end_entity, intermediates, now)
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner().verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner().supported_verify_schemes()
    }
}

/// How many distinct CA-name lists are kept for `root_hint_subjects`;
/// past it no names are sent (clients then offer any certificate they
/// have, RFC 8446 §4.3.2).
const MAX_HINT_LISTS: usize = 64;

/// No names are sent.
const NO_HINTS: usize = usize::MAX;

/// The CA names sent in a `CertificateRequest`, for each CA set loaded.
///
/// `ClientCertVerifier::root_hint_subjects` lends a slice for as long as
/// the verifier lives, so a list cannot be dropped when the CAs change.
/// Each distinct list is kept (in an append-only chain, so lending needs
/// no lock and no `unsafe`) until the configuration is dropped; a CA set
/// seen before reuses its list. At most [`MAX_HINT_LISTS`] lists are kept.
pub(super) struct HintLists {
    first: HintNode,
    current: AtomicUsize,
}

struct HintNode {
    names: Vec<DistinguishedName>,
    next: OnceLock<Box<HintNode>>,
}

impl HintLists {
    pub(super) fn new(names: Vec<DistinguishedName>) -> Self {
        Self {
            first: HintNode {
                names,
                next: OnceLock::new(),
            },
            current: AtomicUsize::new(0),
        }
    }

    fn nodes(&self) -> impl Iterator<Item = &HintNode> {
        std::iter::successors(Some(&self.first), |n| n.next.get().map(|b| &**b))
    }

    pub(super) fn current(&self) -> &[DistinguishedName] {
        let index = self.current.load(Ordering::Acquire);
        self.nodes().nth(index).map_or(&[], |n| n.names.as_slice())
    }

    /// Makes `names` current. Called under the reload lock only.
    pub(super) fn set(&self, names: Vec<DistinguishedName>) {
        let mut count = 0;
        let mut last = &self.first;
        for (i, node) in self.nodes().enumerate() {
            if same(&node.names, &names) {
                self.current.store(i, Ordering::Release);
                return;
            }
            count = i + 1;
            last = node;
        }
        if count >= MAX_HINT_LISTS {
            self.current.store(NO_HINTS, Ordering::Release);
            return;
        }
        let added = last
            .next
            .set(Box::new(HintNode {
                names,
                next: OnceLock::new(),
            }))
            .is_ok();
        self.current
            .store(if added { count } else { NO_HINTS }, Ordering::Release);
    }
}

/// `DistinguishedName` has no `PartialEq`; its bytes do.
fn same(a: &[DistinguishedName], b: &[DistinguishedName]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.as_ref() == b.as_ref())
}

/// rustls' in-memory session cache, emptied on every reload so that no
/// session resumed afterwards skips the new checks: a client whose
/// certificate was just revoked, or whose CA is no longer trusted, must do
/// a full handshake, and resumes on the new server certificate.
pub(super) struct Sessions(Current<ServerSessionMemoryCache>);

/// As rustls' default.
const SESSIONS: usize = 256;

impl Sessions {
    pub(super) fn new() -> Self {
        Self(Current::new(ServerSessionMemoryCache::new(SESSIONS)))
    }

    pub(super) fn clear(&self) {
        self.0.set(ServerSessionMemoryCache::new(SESSIONS));
    }
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sessions")
    }
}

impl StoresServerSessions for Sessions {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.0.get().put(key, value)
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get().get(key)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get().take(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(s: &str) -> DistinguishedName {
        DistinguishedName::from(s.as_bytes().to_vec())
    }

    fn is(current: &[DistinguishedName], s: &str) -> bool {
        same(current, &[name(s)])
    }

    #[test]
    fn hint_lists_reuse_and_cap() {
        let lists = HintLists::new(vec![name("a")]);
        assert!(is(lists.current(), "a"));
        lists.set(vec![name("b")]);
        assert!(is(lists.current(), "b"));
        lists.set(vec![name("a")]);
        assert!(is(lists.current(), "a"));
        assert_eq!(lists.nodes().count(), 2, "a list seen before is reused");
        for i in 0..MAX_HINT_LISTS {
            lists.set(vec![name(&i.to_string())]);
        }
        assert_eq!(lists.nodes().count(), MAX_HINT_LISTS);
        assert!(lists.current().is_empty(), "past the cap no names are sent");
        lists.set(vec![name("b")]);
        assert!(is(lists.current(), "b"), "a kept list still works");
    }
}
