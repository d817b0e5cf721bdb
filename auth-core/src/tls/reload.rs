//! The state a [`TlsConfig`](super::TlsConfig) and its `ServerConfig`
//! share, and reloading it: on request, or when a polled file changes.

use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::{Duration, Instant, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::server::danger::ClientCertVerifier;
use rustls::sign::CertifiedKey;
use tokio::sync::broadcast;

use super::load::{self, Files, Stamp, TrustSettings};
use super::swap::{Current, HintLists, Sessions};
use super::{ClientAuth, TARGET, TlsEvent, TlsMaterial};
use crate::error::ConfigError;

/// How often a certificate inside the warning window is warned about again.
const REWARN: Duration = Duration::from_secs(24 * 60 * 60);

pub(super) struct Shared {
    pub(super) files: Files,
    pub(super) settings: TrustSettings,
    pub(super) provider: Arc<CryptoProvider>,
    pub(super) cert: Current<CertifiedKey>,
    /// Only read when client certificates are asked for.
    pub(super) verifier: Current<dyn ClientCertVerifier>,
    pub(super) hints: HintLists,
    pub(super) sessions: Arc<Sessions>,
    pub(super) events: broadcast::Sender<TlsEvent>,
    pub(super) expiry_warning: Duration,
    /// Held for a whole reload, so reloads do not interleave.
    state: Mutex<ReloadState>,
}

struct ReloadState {
    cert_stamps: Vec<Stamp>,
    trust_stamps: Vec<Stamp>,
    not_after: SystemTime,
    /// When the current certificate was last warned about.
    warned: Option<Instant>,
}

impl Shared {
    /// Loads every file once; any failure is the caller's `ConfigError`.
    pub(super) fn load(
        files: Files,
        settings: TrustSettings,
        provider: Arc<CryptoProvider>,
        events: broadcast::Sender<TlsEvent>,
        expiry_warning: Duration,
    ) -> Result<Self, ConfigError> {
        // Stamps first: a file that changes while it is read is read again
        // at the next poll.
        let cert_stamps = load::stamps(files.cert_files());
        let trust_stamps = load::stamps(files.trust_files());
        let server = load::server_cert(&files)?;
        let (verifier, hints): (Arc<dyn ClientCertVerifier>, _) =
            if settings.client_auth == ClientAuth::Disabled {
                (
                    rustls::server::WebPkiClientVerifier::no_client_auth(),
                    Vec::new(),
                )
            } else {
                let trust = load::client_trust(&files, settings, &provider)?;
                (trust.verifier, trust.hints)
            };
        Ok(Self {
            files,
            settings,
            provider,
            cert: Current::new(server.key),
            verifier: Current::new(verifier),
            hints: HintLists::new(hints),
            sessions: Arc::new(Sessions::new()),
            events,
            expiry_warning,
            state: Mutex::new(ReloadState {
                cert_stamps,
                trust_stamps,
                not_after: server.not_after,
                warned: None,
            }),
        })
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ReloadState> {
        // Nothing panics while holding it; the state stays whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(super) fn not_after(&self) -> SystemTime {
        self.state().not_after
    }

    /// Reads every file again, changed or not.
    pub(super) fn reload(&self) -> Result<(), ConfigError> {
        let mut state = self.state();
        state.cert_stamps = load::stamps(self.files.cert_files());
        let cert = self.reload_cert(&mut state);
        let trust = if self.asks_for_certs() {
            state.trust_stamps = load::stamps(self.files.trust_files());
            self.reload_trust()
        } else {
            Ok(())
        };
        self.check_expiry(&mut state, SystemTime::now());
        cert.and(trust)
    }

    /// Reads again what changed on disk since it was last read, and warns
    /// about a certificate close to expiry.
    pub(super) fn poll(&self) {
        let mut state = self.state();
        let stamps = load::stamps(self.files.cert_files());
        if stamps != state.cert_stamps {
            state.cert_stamps = stamps;
            // A failure is logged and sent as an event; the poll goes on.
            let _ = self.reload_cert(&mut state);
        }
        if self.asks_for_certs() {
            let stamps = load::stamps(self.files.trust_files());
            if stamps != state.trust_stamps {
                state.trust_stamps = stamps;
                let _ = self.reload_trust();
            }
        }
        self.check_expiry(&mut state, SystemTime::now());
    }

    fn asks_for_certs(&self) -> bool {
        self.settings.client_auth != ClientAuth::Disabled
    }

    fn reload_cert(&self, state: &mut ReloadState) -> Result<(), ConfigError> {
        match load::server_cert(&self.files) {
            Ok(server) => {
                self.cert.set(server.key);
                state.not_after = server.not_after;
                state.warned = None;
                self.reloaded(TlsMaterial::ServerCertificate);
                Ok(())
            }
            Err(e) => Err(self.failed(TlsMaterial::ServerCertificate, e)),
        }
    }

    fn reload_trust(&self) -> Result<(), ConfigError> {
        match load::client_trust(&self.files, self.settings, &self.provider) {
            Ok(trust) => {
                self.verifier.set(trust.verifier);
                self.hints.set(trust.hints);
                self.reloaded(TlsMaterial::ClientTrust);
                Ok(())
            }
            Err(e) => Err(self.failed(TlsMaterial::ClientTrust, e)),
        }
    }

    fn reloaded(&self, material: TlsMaterial) {
        // Sessions resumed from now on were made under the new material.
        self.sessions.clear();
        tracing::info!(target: TARGET, ?material, "TLS material reloaded");
        let _ = self.events.send(TlsEvent::Reloaded { material });
    }

    fn failed(&self, material: TlsMaterial, error: ConfigError) -> ConfigError {
        // The error names files and what was wrong with them, never their
        // content.
        tracing::warn!(
            target: TARGET,
            ?material,
            error = %error,
            "TLS reload failed; the previous material stays in use"
        );
        let _ = self.events.send(TlsEvent::ReloadFailed {
            material,
            kind: error.kind(),
            detail: error.to_string(),
        });
        error
    }

    /// Warns when the certificate in use expires within the warning
    /// window: once when it is loaded or enters the window, then daily.
    pub(super) fn check_expiry_now(&self) {
        let mut state = self.state();
        self.check_expiry(&mut state, SystemTime::now());
    }

    fn check_expiry(&self, state: &mut ReloadState, now: SystemTime) {
        let soon = match state.not_after.duration_since(now) {
            Ok(left) => left <= self.expiry_warning,
            Err(_) => true,
        };
        if !soon || state.warned.is_some_and(|at| at.elapsed() < REWARN) {
            return;
        }
        state.warned = Some(Instant::now());
        let days_left = state
            .not_after
            .duration_since(now)
            .map_or(0, |d| d.as_secs() / 86_400);
        tracing::warn!(
            target: TARGET,
            not_after = %load::fmt_time(state.not_after),
            days_left,
            file = %self.files.cert.display(),
            "the server certificate expires soon; renew it (it is reloaded from disk)"
        );
        let _ = self.events.send(TlsEvent::ExpiresSoon {
            not_after: state.not_after,
        });
    }
}

/// Polls `shared`'s files every `every` until nothing uses it any more.
pub(super) fn spawn_poller(handle: &tokio::runtime::Handle, shared: Weak<Shared>, every: Duration) {
    handle.spawn(async move {
        let mut ticks = tokio::time::interval(every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate; the files were just read
        loop {
            ticks.tick().await;
            let Some(shared) = shared.upgrade() else {
                return;
            };
            // Reading files and parsing keys blocks; keep it off the
            // runtime's workers.
            if tokio::task::spawn_blocking(move || shared.poll())
                .await
                .is_err()
            {
                return; // the runtime is shutting down
            }
        }
    });
}
