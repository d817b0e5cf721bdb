//! A rustls server configuration built from PEM files (the server
//! certificate chain and key, the CAs trusted for client certificates, and
//! CRLs), reloaded from disk without a restart.
//!
//! [`TlsConfig::builder`] reads the files once (any mistake is a
//! [`ConfigError`] then) and [`TlsConfig::server_config`] gives the
//! `Arc<rustls::ServerConfig>` to serve with. That same `ServerConfig`
//! follows every reload: its certificate resolver and client-certificate
//! verifier hold whatever was loaded last, so new handshakes use the new
//! material and connections already open keep theirs.
//!
//! ```
//! use std::sync::Arc;
//! use auth_core::tls::{ClientAuth, TlsConfig};
//! # use rustls::pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};
//! # let dir = tempfile::tempdir()?;
//! # let ca_key = rcgen::KeyPair::generate()?;
//! # let mut ca = rcgen::CertificateParams::new(Vec::<String>::new())?;
//! # ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
//! # let ca_cert = ca.self_signed(&ca_key)?;
//! # let issuer = rcgen::Issuer::new(ca, ca_key);
//! # let server_key = rcgen::KeyPair::generate()?;
//! # let server = rcgen::CertificateParams::new(vec!["localhost".into()])?.signed_by(&server_key, &issuer)?;
//! # let client_key = rcgen::KeyPair::generate()?;
//! # let client = rcgen::CertificateParams::new(vec!["client".into()])?.signed_by(&client_key, &issuer)?;
//! # std::fs::write(dir.path().join("server.pem"), server.pem())?;
//! # std::fs::write(dir.path().join("server.key"), server_key.serialize_pem())?;
//! # std::fs::write(dir.path().join("clients-ca.pem"), ca_cert.pem())?;
//! # let (cert_pem, key_pem, ca_pem) = (dir.path().join("server.pem"), dir.path().join("server.key"), dir.path().join("clients-ca.pem"));
//! # let mut roots = rustls::RootCertStore::empty();
//! # roots.add(ca_cert.der().clone())?;
//! # let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
//! # let client_builder = rustls::ClientConfig::builder_with_provider(provider.clone())
//! #     .with_safe_default_protocol_versions()?
//! #     .with_root_certificates(roots);
//! # let anonymous = Arc::new(client_builder.clone().with_no_client_auth());
//! # let with_cert = Arc::new(client_builder.with_client_auth_cert(
//! #     vec![client.der().clone()],
//! #     PrivateKeyDer::from_pem_slice(client_key.serialize_pem().as_bytes())?,
//! # )?);
//! # /// A whole handshake in memory; the client certificates the server saw.
//! # fn handshake(server: Arc<rustls::ServerConfig>, client: Arc<rustls::ClientConfig>) -> Result<usize, rustls::Error> {
//! #     let mut s = rustls::ServerConnection::new(server)?;
//! #     let mut c = rustls::ClientConnection::new(client, "localhost".try_into().unwrap())?;
//! #     let mut buf = Vec::new();
//! #     while c.is_handshaking() || s.is_handshaking() || c.wants_write() || s.wants_write() {
//! #         if !c.wants_write() && !s.wants_write() { return Err(rustls::Error::HandshakeNotComplete); }
//! #         while c.wants_write() { buf.clear(); c.write_tls(&mut buf).unwrap(); let mut rd = &buf[..]; while !rd.is_empty() { s.read_tls(&mut rd).unwrap(); s.process_new_packets()?; } }
//! #         while s.wants_write() { buf.clear(); s.write_tls(&mut buf).unwrap(); let mut rd = &buf[..]; while !rd.is_empty() { c.read_tls(&mut rd).unwrap(); c.process_new_packets()?; } }
//! #     }
//! #     Ok(s.peer_certificates().map_or(0, |c| c.len()))
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! let tls = TlsConfig::builder()
//!     .server_cert_files(cert_pem, key_pem)
//!     .client_cas_file(ca_pem)
//!     .client_auth(ClientAuth::Required)
//!     .build()?; // inside a Tokio runtime: the files are polled every 5 s
//! let server_config: Arc<rustls::ServerConfig> = tls.server_config();
//! assert_eq!(server_config.alpn_protocols, [b"h2".to_vec(), b"http/1.1".to_vec()]);
//!
//! // A client with a certificate from the trusted CA gets in; one without
//! // is refused during the handshake.
//! assert_eq!(handshake(server_config.clone(), with_cert)?, 1);
//! assert!(handshake(server_config.clone(), anonymous).is_err());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Serving with it
//!
//! - auth-tower: `Server::new().tls(tokio_rustls::TlsAcceptor::from(tls.server_config()))`
//!   (the server keeps the ALPN list set here).
//! - actix-web: `HttpServer::bind_rustls_0_23(addr, (*tls.server_config()).clone())`,
//!   with `.on_connect(auth_actix::on_connect)`. A clone of the
//!   `ServerConfig` shares the resolver and verifier, so it reloads too.
//!
//! # Client certificates
//!
//! | [`ClientAuth`] | Istio `PeerAuthentication` | `CertificateRequest` sent | no certificate | a certificate that fails verification |
//! | --- | --- | --- | --- | --- |
//! | `Disabled` | `DISABLE` | no | accepted | never sent |
//! | `Optional` | `PERMISSIVE` | yes | accepted (the route decides) | handshake refused |
//! | `Required` | `STRICT` | yes | handshake refused | handshake refused |
//!
//! `Optional` is Istio's permissive mode for TLS clients only: plaintext is
//! never accepted here. The trusted CAs' names are sent in the
//! `CertificateRequest` so that clients with several certificates pick the
//! right one.
//!
//! # Revocation
//!
//! With [`crl_files`](TlsConfigBuilder::crl_files), client certificates are
//! checked against the CRLs (webpki's CRL support):
//!
//! - **Whole chain.** Every certificate of the client's chain below the
//!   trust anchor is checked, intermediates too, so revoking a compromised
//!   intermediate CA works.
//!   [`revocation_check_end_entity_only`](TlsConfigBuilder::revocation_check_end_entity_only)
//!   checks the client's own certificate only.
//! - **Unknown status is refused.** A certificate whose issuer has no CRL
//!   among the files is refused, so a missing CRL fails closed (with a
//!   root → intermediate → client chain, give the root's CRL and the
//!   intermediate's).
//!   [`insecure_allow_unknown_revocation_status`](TlsConfigBuilder::insecure_allow_unknown_revocation_status)
//!   accepts such certificates instead.
//! - **A stale CRL still counts.** A CRL past its `nextUpdate` is used
//!   (what it revokes stays revoked) and logged as a warning when loaded;
//!   an outage of the CRL publisher does not lock every client out.
//!
//! Without CRL files no revocation is checked.
//!
//! # Reloading
//!
//! What is reloaded: the server chain and key (together), and the client
//! trust: CA files and CRL files (together). How a client is checked
//! ([`ClientAuth`], the revocation policy), the ALPN list and the protocol
//! versions are fixed when the configuration is built.
//!
//! - [`TlsConfig::reload`] reads every file again now.
//! - Built inside a Tokio runtime, the configuration looks at its files
//!   every [`reload_every`](TlsConfigBuilder::reload_every) (5 s) and reads
//!   again those whose modification time, length or inode changed (a
//!   symlink is followed, so a Kubernetes secret volume's swap counts).
//!   The task runs
//!   on that runtime as long as the `TlsConfig` or its `ServerConfig` is in
//!   use. [`no_polling`](TlsConfigBuilder::no_polling) turns it off; built
//!   outside a runtime, polling must be turned off.
//!
//! A reload that fails (a file missing or half-written, bad PEM, a key that
//! is not the certificate's, an expired certificate, a CA file without a
//! certificate, a CRL that does not parse) keeps the material in use, logs
//! a warning naming the file (never its content) and sends
//! [`TlsEvent::ReloadFailed`]. A polled file that failed is read again when
//! it changes again, so replace the certificate and key in either order, or
//! atomically (write elsewhere, then rename; Kubernetes secret volumes do).
//!
//! Each successful reload empties the TLS session cache: a client resumes
//! no session made under the old material, so a newly revoked certificate
//! or a removed CA is checked at its next connection.
//!
//! # Events
//!
//! [`TlsConfig::subscribe`] (or [`TlsConfigBuilder::subscribe`], which
//! also sees what happens while building) gives a Tokio broadcast receiver
//! of [`TlsEvent`]s: `Reloaded`, `ReloadFailed` and `ExpiresSoon`. The
//! server certificate is checked against
//! [`expiry_warning`](TlsConfigBuilder::expiry_warning) (30 days) when it
//! is loaded and at every poll; inside the window it is warned about once,
//! then daily, as a `tracing` warning and an event.
//!
//! # Protocol
//!
//! TLS 1.3 and TLS 1.2 only (rustls has no older versions), with the
//! aws-lc-rs provider's default cipher suites and key exchanges, ALPN `h2`
//! then `http/1.1` unless [`alpn_protocols`](TlsConfigBuilder::alpn_protocols)
//! says otherwise.
//!
//! # Security considerations
//!
//! - The private key is read into memory that is zeroized after rustls has
//!   parsed it; no `Debug` output or log line holds key material.
//! - A certificate's *absence* is accepted in `Optional` mode: the
//!   authentication layer must then require a client certificate where it
//!   matters.
//! - Files are trusted input: put them where only the service's operator can
//!   write.

mod builder;
mod load;
mod reload;
mod swap;

use std::sync::Arc;
use std::time::SystemTime;

use tokio::sync::broadcast;

pub use builder::TlsConfigBuilder;

use crate::error::{ConfigError, ConfigErrorKind};

const TARGET: &str = "auth_core::tls";

/// Whether clients are asked for a certificate, and whether they must
/// present one. Named after Istio's `PeerAuthentication` modes, which
/// [`FromStr`](std::str::FromStr) also accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClientAuth {
    /// No certificate is asked for (`disabled`); a client's certificate is
    /// never sent.
    Disabled,
    /// A certificate is asked for and verified when presented; a client
    /// without one gets in too (`permissive` or `optional`).
    Optional,
    /// Every client must present a certificate that verifies (`strict` or
    /// `required`).
    Required,
}

impl std::str::FromStr for ClientAuth {
    type Err = ConfigError;

    /// `disabled`, `permissive` / `optional`, `strict` / `required`, in
    /// any case.
    fn from_str(s: &str) -> Result<Self, ConfigError> {
        match s.to_ascii_lowercase().as_str() {
            "disabled" | "disable" => Ok(Self::Disabled),
            "permissive" | "optional" => Ok(Self::Optional),
            "strict" | "required" => Ok(Self::Required),
            _ => Err(ConfigError::invalid(
                "client_auth: expected disabled, permissive or strict",
            )),
        }
    }
}

/// What a reload is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TlsMaterial {
    /// The server certificate chain and its key.
    ServerCertificate,
    /// The trusted client CAs and the CRLs.
    ClientTrust,
}

/// Something that happened to a [`TlsConfig`]'s material; see
/// [`TlsConfig::subscribe`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsEvent {
    /// New material is in use for new handshakes.
    Reloaded {
        /// What was reloaded.
        material: TlsMaterial,
    },
    /// Reading the files failed; the previous material stays in use.
    ReloadFailed {
        /// What was being reloaded.
        material: TlsMaterial,
        /// What went wrong.
        kind: ConfigErrorKind,
        /// The error's text: the file and why it cannot be used, never
        /// its content.
        detail: String,
    },
    /// The server certificate in use expires within the warning window (or
    /// has expired: `not_after` is in the past).
    ExpiresSoon {
        /// The certificate's `notAfter`.
        not_after: SystemTime,
    },
}

/// A rustls server configuration whose certificate, trusted client CAs and
/// CRLs are reloaded from disk; see the [module documentation](self).
///
/// Cheap to clone: clones share the material and the reloads.
#[derive(Clone)]
pub struct TlsConfig {
    shared: Arc<reload::Shared>,
    server_config: Arc<rustls::ServerConfig>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("server_cert", &self.shared.files.cert)
            .field("client_cas", &self.shared.files.cas)
            .field("crls", &self.shared.files.crls)
            .field("client_auth", &self.shared.settings.client_auth)
            .field("not_after", &load::fmt_time(self.not_after()))
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Starts a configuration; see [`TlsConfigBuilder`].
    pub fn builder() -> TlsConfigBuilder {
        TlsConfigBuilder::new()
    }

    /// The configuration to serve with. It is the same `Arc` for the life
    /// of this `TlsConfig`, and it follows reloads.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        Arc::clone(&self.server_config)
    }

    /// Reads every file again, changed or not. The server certificate and
    /// the client trust are reloaded independently: when one fails it keeps
    /// its previous material (and the first error is returned) while the
    /// other may still be replaced. Each outcome is also sent as a
    /// [`TlsEvent`].
    ///
    /// It reads files and parses keys, so it blocks briefly; from async
    /// code on a busy runtime, call it in `spawn_blocking`.
    pub fn reload(&self) -> Result<(), ConfigError> {
        self.shared.reload()
    }

    /// Events from now on: reloads, failed reloads and expiry warnings.
    /// A receiver that falls more than 32 events behind loses the oldest.
    pub fn subscribe(&self) -> broadcast::Receiver<TlsEvent> {
        self.shared.events.subscribe()
    }

    /// The `notAfter` of the server certificate in use.
    pub fn not_after(&self) -> SystemTime {
        self.shared.not_after()
    }

    /// The client-certificate mode.
    pub fn client_auth(&self) -> ClientAuth {
        self.shared.settings.client_auth
    }
}
