//! [`TlsConfigBuilder`]: the files and the policy of a [`TlsConfig`].

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;

use super::load::{Files, TrustSettings};
use super::reload::{self, Shared};
use super::swap::{CurrentCert, CurrentVerifier};
use super::{ClientAuth, TlsConfig, TlsEvent};
use crate::error::ConfigError;

/// How many events a slow receiver may fall behind.
const EVENTS: usize = 32;

/// The shortest poll interval.
const MIN_POLL: Duration = Duration::from_millis(10);

/// Builds a [`TlsConfig`]; see the [module documentation](super) for an
/// example and the policies.
///
/// Required: [`server_cert_files`](Self::server_cert_files). With
/// [`client_cas_file`](Self::client_cas_file) the default mode is
/// [`ClientAuth::Required`]; without it, [`ClientAuth::Disabled`].
pub struct TlsConfigBuilder {
    cert: Option<(PathBuf, PathBuf)>,
    cas: Vec<PathBuf>,
    crls: Vec<PathBuf>,
    client_auth: Option<ClientAuth>,
    end_entity_revocation_only: bool,
    allow_unknown_revocation_status: bool,
    alpn: Vec<Vec<u8>>,
    poll: Option<Duration>,
    expiry_warning: Duration,
    events: broadcast::Sender<TlsEvent>,
}

impl std::fmt::Debug for TlsConfigBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfigBuilder")
            .field("server_cert", &self.cert.as_ref().map(|(c, _)| c))
            .field("client_cas", &self.cas)
            .field("crls", &self.crls)
            .field("client_auth", &self.client_auth)
            .field("poll", &self.poll)
            .finish_non_exhaustive()
    }
}

impl TlsConfigBuilder {
    pub(super) fn new() -> Self {
        Self {
            cert: None,
            cas: Vec::new(),
            crls: Vec::new(),
            client_auth: None,
            end_entity_revocation_only: false,
            allow_unknown_revocation_status: false,
            alpn: vec![b"h2".to_vec(), b"http/1.1".to_vec()],
            poll: Some(Duration::from_secs(5)),
            expiry_warning: Duration::from_secs(30 * 24 * 60 * 60),
            events: broadcast::channel(EVENTS).0,
        }
    }

    /// The server's certificate chain (PEM, the server's own certificate
    /// first, then intermediates) and its private key (PEM: PKCS#8,
    /// PKCS#1 or SEC1).
    pub fn server_cert_files(mut self, chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> Self {
        self.cert = Some((chain.into(), key.into()));
        self
    }

    /// A PEM file of CA certificates trusted to issue client certificates;
    /// call again for more files. Each file must hold at least one.
    pub fn client_cas_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.cas.push(path.into());
        self
    }

    /// A file of CRLs (PEM, or one DER CRL); see
    /// [Revocation](super#revocation).
    pub fn crl_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.crls.push(path.into());
        self
    }

    /// Several [`crl_file`](Self::crl_file)s.
    pub fn crl_files(mut self, paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        self.crls.extend(paths.into_iter().map(Into::into));
        self
    }

    /// Whether client certificates are asked for and required.
    pub fn client_auth(mut self, mode: ClientAuth) -> Self {
        self.client_auth = Some(mode);
        self
    }

    /// Checks only the client's own certificate against the CRLs, not the
    /// intermediates of its chain.
    pub fn revocation_check_end_entity_only(mut self) -> Self {
        self.end_entity_revocation_only = true;
        self
    }

    /// Accepts a certificate whose issuer has no CRL among the CRL files,
    /// instead of refusing it. Weakens revocation: a CRL file left out of
    /// the configuration then revokes nothing, silently.
    pub fn insecure_allow_unknown_revocation_status(mut self) -> Self {
        self.allow_unknown_revocation_status = true;
        self
    }

    /// The ALPN protocols offered, in order of preference (default `h2`,
    /// `http/1.1`). An empty list negotiates none (auth-tower's server then
    /// offers `h2` and `http/1.1` itself).
    pub fn alpn_protocols(mut self, protocols: impl IntoIterator<Item = impl AsRef<[u8]>>) -> Self {
        self.alpn = protocols.into_iter().map(|p| p.as_ref().to_vec()).collect();
        self
    }

    /// How often the files are looked at for changes (default 5 s, at
    /// least 10 ms). The poll task needs a Tokio runtime when
    /// [`build`](Self::build) is called.
    pub fn reload_every(mut self, interval: Duration) -> Self {
        self.poll = Some(interval.max(MIN_POLL));
        self
    }

    /// Files are not polled; only [`TlsConfig::reload`] reads them again.
    pub fn no_polling(mut self) -> Self {
        self.poll = None;
        self
    }

    /// Warn when the server certificate expires within this long (default
    /// 30 days; with certificate lifetimes going down to 47 days, about
    /// when renewal should have happened).
    pub fn expiry_warning(mut self, within: Duration) -> Self {
        self.expiry_warning = within;
        self
    }

    /// A receiver of the events of the configuration this builds, from its
    /// first load on (an `ExpiresSoon` found while building included).
    pub fn subscribe(&self) -> broadcast::Receiver<TlsEvent> {
        self.events.subscribe()
    }

    /// Reads the files and builds the configuration; inside a Tokio runtime
    /// (and unless [`no_polling`](Self::no_polling)), starts polling the
    /// files on it.
    ///
    /// # Errors
    ///
    /// A [`ConfigError`] when a file cannot be read or parsed, when the key
    /// is not the certificate's or the certificate has expired, when a mode
    /// asking for client certificates has no CA file (or `Disabled` has
    /// one), or when polling is on outside a Tokio runtime.
    pub fn build(self) -> Result<TlsConfig, ConfigError> {
        let Some((cert, key)) = self.cert else {
            return Err(ConfigError::invalid(
                "server_cert_files: a TLS server needs a certificate and key",
            ));
        };
        let client_auth = self.client_auth.unwrap_or(if self.cas.is_empty() {
            ClientAuth::Disabled
        } else {
            ClientAuth::Required
        });
        match client_auth {
            ClientAuth::Disabled if !self.cas.is_empty() || !self.crls.is_empty() => {
                return Err(ConfigError::invalid(
                    "client_cas_file / crl_files: client certificates are Disabled; \
                     remove the files or choose Optional or Required",
                ));
            }
            ClientAuth::Optional | ClientAuth::Required if self.cas.is_empty() => {
                return Err(ConfigError::invalid(
                    "client_cas_file: checking client certificates needs trusted CAs",
                ));
            }
            _ => {}
        }
        let runtime = match self.poll {
            Some(every) => match tokio::runtime::Handle::try_current() {
                Ok(handle) => Some((handle, every)),
                Err(_) => {
                    return Err(ConfigError::invalid(
                        "reload_every: polling the files needs a Tokio runtime; \
                         build inside one, or call no_polling() and reload() yourself",
                    ));
                }
            },
            None => None,
        };

        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let shared = Arc::new(Shared::load(
            Files {
                cert,
                key,
                cas: self.cas,
                crls: self.crls,
            },
            TrustSettings {
                client_auth,
                end_entity_revocation_only: self.end_entity_revocation_only,
                allow_unknown_revocation_status: self.allow_unknown_revocation_status,
            },
            Arc::clone(&provider),
            self.events,
            self.expiry_warning,
        )?);

        let versions = rustls::ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .map_err(|e| ConfigError::parse("TLS protocol versions", e))?;
        let with_verifier = match client_auth {
            ClientAuth::Disabled => versions.with_no_client_auth(),
            ClientAuth::Optional | ClientAuth::Required => {
                versions.with_client_cert_verifier(Arc::new(CurrentVerifier(Arc::clone(&shared))))
            }
        };
        let mut config =
            with_verifier.with_cert_resolver(Arc::new(CurrentCert(Arc::clone(&shared))));
        config.alpn_protocols = self.alpn;
        config.session_storage = shared.sessions.clone();

        shared.check_expiry_now();
        if let Some((handle, every)) = runtime {
            reload::spawn_poller(&handle, Arc::downgrade(&shared), every);
        }
        Ok(TlsConfig {
            shared,
            server_config: Arc::new(config),
        })
    }
}
