//! `auth_core::tls` over real sockets on 127.0.0.1: tokio-rustls clients
//! against a tokio-rustls echo server built from a `TlsConfig`, with the
//! PKI made here by rcgen. Client-certificate modes, refusals, reloading the
//! server certificate, the CAs and the CRLs from disk, failed reloads, the
//! expiry warning and the protocol versions.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use auth_core::ConfigErrorKind;
use auth_core::tls::{ClientAuth, TlsConfig, TlsConfigBuilder, TlsEvent, TlsMaterial};
use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType, IsCa, Issuer,
    KeyIdMethod, KeyPair, RevocationReason, RevokedCertParams, SerialNumber,
};
use rustls::client::ResolvesClientCert;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use rustls::sign::CertifiedKey;
use rustls::{ClientConfig, ProtocolVersion, SignatureScheme};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, mpsc};
use tokio_rustls::client::TlsStream;

/// A generous bound for anything that must happen (CI can be slow).
const PATIENCE: Duration = Duration::from_secs(20);
const DAY: Duration = Duration::from_secs(24 * 60 * 60);

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

// ---------------------------------------------------------------- PKI --

/// A CA that issues certificates and CRLs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    cert: rcgen::Certificate,
}

/// A certificate and its key.
struct Leaf {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// The intermediates to send along with it.
    chain: Vec<CertificateDer<'static>>,
}

fn ca_params(name: &str) -> CertificateParams {
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
}

impl Ca {
    fn root(name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let params = ca_params(name);
        let cert = params.self_signed(&key).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    fn intermediate(&self, name: &str, serial: u64) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = ca_params(name);
        params.serial_number = Some(SerialNumber::from(serial));
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Self {
            issuer: Issuer::new(params, key),
            cert,
        }
    }

    fn pem(&self) -> String {
        self.cert.pem()
    }

    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    /// A certificate for `name`, valid from `from` to `until`.
    fn issue_valid(&self, name: &str, serial: u64, from: SystemTime, until: SystemTime) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(vec![name.to_owned()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.serial_number = Some(SerialNumber::from(serial));
        params.not_before = from.into();
        params.not_after = until.into();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert,
            key,
            chain: Vec::new(),
        }
    }

    /// A certificate for `name`, valid for a year from yesterday.
    fn issue(&self, name: &str, serial: u64) -> Leaf {
        let now = SystemTime::now();
        self.issue_valid(name, serial, now - DAY, now + 365 * DAY)
    }

    /// A certificate under this intermediate, sent with it.
    fn issue_chained(&self, name: &str, serial: u64) -> Leaf {
        let mut leaf = self.issue(name, serial);
        leaf.chain.push(self.der());
        leaf
    }

    /// A CRL revoking `serials`, valid for a week.
    fn crl(&self, serials: &[u64]) -> String {
        let now = SystemTime::now();
        CertificateRevocationListParams {
            this_update: (now - DAY).into(),
            next_update: (now + 7 * DAY).into(),
            crl_number: SerialNumber::from(1),
            issuing_distribution_point: None,
            revoked_certs: serials
                .iter()
                .map(|s| RevokedCertParams {
                    serial_number: SerialNumber::from(*s),
                    revocation_time: (now - DAY).into(),
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
                .collect(),
            key_identifier_method: KeyIdMethod::Sha256,
        }
        .signed_by(&self.issuer)
        .unwrap()
        .pem()
        .unwrap()
    }
}

impl Leaf {
    fn der(&self) -> CertificateDer<'static> {
        self.cert.der().clone()
    }

    fn certified_key(&self) -> Arc<CertifiedKey> {
        let mut chain = vec![self.der()];
        chain.extend(self.chain.iter().cloned());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        Arc::new(CertifiedKey::from_der(chain, key, &provider()).unwrap())
    }
}

// -------------------------------------------------------------- files --

/// The files a `TlsConfig` reads, in a temporary directory.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
    crl: PathBuf,
}

impl Files {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        Self {
            cert: path("server.pem"),
            key: path("server.key"),
            ca: path("clients-ca.pem"),
            crl: path("clients.crl.pem"),
            _dir: dir,
        }
    }

    /// Writes the server certificate and key, each replaced atomically (a
    /// temporary file renamed over the old one).
    fn server(&self, leaf: &Leaf) -> &Self {
        replace(&self.cert, leaf.cert.pem());
        replace(&self.key, leaf.key.serialize_pem());
        self
    }

    fn ca(&self, pem: impl AsRef<[u8]>) -> &Self {
        replace(&self.ca, pem);
        self
    }

    fn crl(&self, pem: impl AsRef<[u8]>) -> &Self {
        replace(&self.crl, pem);
        self
    }

    fn builder(&self) -> TlsConfigBuilder {
        TlsConfig::builder().server_cert_files(&self.cert, &self.key)
    }
}

fn replace(path: &Path, contents: impl AsRef<[u8]>) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, contents).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

// ------------------------------------------------------------- server --

/// What the server saw of a handshake: the number of client certificates,
/// or why it failed.
type Seen = Result<usize, String>;

/// A TLS echo server on 127.0.0.1.
struct Echo {
    addr: SocketAddr,
    seen: mpsc::UnboundedReceiver<Seen>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Echo {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Echo {
    async fn start(config: Arc<rustls::ServerConfig>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, seen) = mpsc::unbounded_channel();
        let acceptor = tokio_rustls::TlsAcceptor::from(config);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, tx) = (acceptor.clone(), tx.clone());
                tokio::spawn(async move {
                    match acceptor.accept(tcp).await {
                        Ok(tls) => {
                            let certs = tls.get_ref().1.peer_certificates().map_or(0, <[_]>::len);
                            let _ = tx.send(Ok(certs));
                            let (mut r, mut w) = tokio::io::split(tls);
                            let _ = tokio::io::copy(&mut r, &mut w).await;
                        }
                        Err(e) => {
                            let _ = tx.send(Err(e.to_string()));
                        }
                    }
                });
            }
        });
        Self { addr, seen, task }
    }

    /// The next handshake's outcome on the server's side.
    async fn next_seen(&mut self) -> Seen {
        tokio::time::timeout(PATIENCE, self.seen.recv())
            .await
            .expect("the server finishes a handshake")
            .expect("the server runs")
    }
}

// ------------------------------------------------------------- client --

/// A client certificate resolver that records whether the server asked for
/// a certificate, and with how many CA names.
#[derive(Debug, Default)]
struct Identity {
    key: Option<Arc<CertifiedKey>>,
    asked_with_hints: Mutex<Option<usize>>,
}

impl ResolvesClientCert for Identity {
    fn resolve(
        &self,
        root_hint_subjects: &[&[u8]],
        _sigschemes: &[SignatureScheme],
    ) -> Option<Arc<CertifiedKey>> {
        *self.asked_with_hints.lock().unwrap() = Some(root_hint_subjects.len());
        self.key.clone()
    }

    fn has_certs(&self) -> bool {
        self.key.is_some()
    }
}

impl Identity {
    fn asked_with_hints(&self) -> Option<usize> {
        *self.asked_with_hints.lock().unwrap()
    }
}

struct Client {
    config: Arc<ClientConfig>,
    identity: Arc<Identity>,
}

/// A client trusting `server_ca`, presenting `leaf` if any, speaking only
/// `versions`. A new client has no session to resume.
fn client_with(
    server_ca: &Ca,
    leaf: Option<&Leaf>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    alpn: &[&str],
) -> Client {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(server_ca.der()).unwrap();
    let identity = Arc::new(Identity {
        key: leaf.map(Leaf::certified_key),
        asked_with_hints: Mutex::new(None),
    });
    let mut config = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_client_cert_resolver(identity.clone());
    config.alpn_protocols = alpn.iter().map(|p| p.as_bytes().to_vec()).collect();
    Client {
        config: Arc::new(config),
        identity,
    }
}

fn client(server_ca: &Ca, leaf: Option<&Leaf>) -> Client {
    client_with(server_ca, leaf, rustls::DEFAULT_VERSIONS, &[])
}

/// Connects, handshakes and echoes one message: with TLS 1.3 the server
/// refuses a client certificate after the client has finished, so only a
/// round trip shows the refusal.
async fn connect(addr: SocketAddr, client: &Client) -> std::io::Result<TlsStream<TcpStream>> {
    tokio::time::timeout(PATIENCE, async {
        let tcp = TcpStream::connect(addr).await?;
        let connector = tokio_rustls::TlsConnector::from(client.config.clone());
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await?;
        ping(&mut tls).await?;
        Ok(tls)
    })
    .await
    .expect("the handshake ends")
}

async fn ping(tls: &mut TlsStream<TcpStream>) -> std::io::Result<()> {
    tls.write_all(b"ping").await?;
    let mut echo = [0u8; 4];
    tls.read_exact(&mut echo).await?;
    assert_eq!(&echo, b"ping");
    Ok(())
}

fn server_cert_of(tls: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

/// The next event matching `want`, skipping others.
async fn wait_for(
    events: &mut broadcast::Receiver<TlsEvent>,
    want: impl Fn(&TlsEvent) -> bool,
) -> TlsEvent {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let event = events.recv().await.expect("events keep coming");
            if want(&event) {
                return event;
            }
        }
    })
    .await
    .expect("the event arrives")
}

/// A server CA, a client CA, the server certificate on disk and the client
/// CA trusted, in `mode`; polling off.
struct Setup {
    server_ca: Ca,
    client_ca: Ca,
    files: Files,
}

fn setup() -> Setup {
    let server_ca = Ca::root("server CA");
    let client_ca = Ca::root("client CA");
    let files = Files::new();
    files
        .server(&server_ca.issue("localhost", 1))
        .ca(client_ca.pem());
    Setup {
        server_ca,
        client_ca,
        files,
    }
}

// -------------------------------------------------------------- modes --

#[tokio::test]
async fn required_refuses_a_client_without_a_certificate_and_accepts_a_trusted_one() {
    let s = setup();
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .client_auth(ClientAuth::Required)
        .no_polling()
        .build()
        .unwrap();
    let mut server = Echo::start(tls.server_config()).await;

    let anonymous = client(&s.server_ca, None);
    assert!(connect(server.addr, &anonymous).await.is_err());
    assert!(server.next_seen().await.is_err(), "the server refused it");

    let alice = s.client_ca.issue("alice", 10);
    let trusted = client(&s.server_ca, Some(&alice));
    connect(server.addr, &trusted).await.unwrap();
    assert_eq!(server.next_seen().await, Ok(1));
    assert_eq!(
        trusted.identity.asked_with_hints(),
        Some(1),
        "asked, naming the one trusted CA"
    );
}

#[tokio::test]
async fn optional_accepts_clients_with_and_without_a_certificate() {
    let s = setup();
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .client_auth(ClientAuth::Optional)
        .no_polling()
        .build()
        .unwrap();
    let mut server = Echo::start(tls.server_config()).await;

    let anonymous = client(&s.server_ca, None);
    connect(server.addr, &anonymous).await.unwrap();
    assert_eq!(server.next_seen().await, Ok(0), "no certificate");
    assert_eq!(anonymous.identity.asked_with_hints(), Some(1), "but asked");

    let alice = s.client_ca.issue("alice", 10);
    connect(server.addr, &client(&s.server_ca, Some(&alice)))
        .await
        .unwrap();
    assert_eq!(server.next_seen().await, Ok(1), "the certificate");
}

#[tokio::test]
async fn disabled_never_asks_for_a_certificate() {
    let s = setup();
    let tls = s.files.builder().no_polling().build().unwrap();
    assert_eq!(tls.client_auth(), ClientAuth::Disabled);
    let mut server = Echo::start(tls.server_config()).await;

    let alice = s.client_ca.issue("alice", 10);
    let with_cert = client(&s.server_ca, Some(&alice));
    connect(server.addr, &with_cert).await.unwrap();
    assert_eq!(server.next_seen().await, Ok(0));
    assert_eq!(
        with_cert.identity.asked_with_hints(),
        None,
        "no CertificateRequest: the client was never asked"
    );
}

#[tokio::test]
async fn untrusted_and_expired_client_certificates_are_refused_in_the_handshake() {
    let s = setup();
    // Optional: a certificate that is presented must still verify.
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .client_auth(ClientAuth::Optional)
        .no_polling()
        .build()
        .unwrap();
    let mut server = Echo::start(tls.server_config()).await;

    let stranger = Ca::root("someone else's CA").issue("mallory", 10);
    assert!(
        connect(server.addr, &client(&s.server_ca, Some(&stranger)))
            .await
            .is_err()
    );
    let refused = server.next_seen().await.unwrap_err();
    assert!(refused.contains("UnknownIssuer"), "{refused}");

    let now = SystemTime::now();
    let expired = s
        .client_ca
        .issue_valid("alice", 11, now - 30 * DAY, now - DAY);
    assert!(
        connect(server.addr, &client(&s.server_ca, Some(&expired)))
            .await
            .is_err()
    );
    let refused = server.next_seen().await.unwrap_err();
    assert!(refused.contains("expired"), "{refused}");
}

// ------------------------------------------------------------ rotation --

#[tokio::test]
async fn a_reload_rotates_the_server_certificate_and_open_connections_keep_theirs() {
    let s = setup();
    let a = s.server_ca.issue("localhost", 1);
    s.files.server(&a);
    let tls = s.files.builder().no_polling().build().unwrap();
    let mut events = tls.subscribe();
    let server = Echo::start(tls.server_config()).await;

    let mut old = connect(server.addr, &client(&s.server_ca, None))
        .await
        .unwrap();
    assert_eq!(server_cert_of(&old), a.der());

    let b = s.server_ca.issue("localhost", 2);
    s.files.server(&b);
    tls.reload().unwrap();
    assert_eq!(
        events.recv().await.unwrap(),
        TlsEvent::Reloaded {
            material: TlsMaterial::ServerCertificate
        }
    );

    let new = connect(server.addr, &client(&s.server_ca, None))
        .await
        .unwrap();
    assert_eq!(server_cert_of(&new), b.der(), "a new handshake sees B");
    ping(&mut old).await.unwrap();
    assert_eq!(
        server_cert_of(&old),
        a.der(),
        "the open connection still works on A"
    );
}

#[tokio::test]
async fn polling_picks_up_a_new_server_certificate() {
    let s = setup();
    let tls = s
        .files
        .builder()
        .reload_every(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut events = tls.subscribe();
    let server = Echo::start(tls.server_config()).await;
    let mut old = connect(server.addr, &client(&s.server_ca, None))
        .await
        .unwrap();

    let b = s.server_ca.issue("localhost", 2);
    s.files.server(&b);
    // The poll may see the new certificate before the new key (a failed
    // reload), then both.
    wait_for(&mut events, |e| {
        *e == TlsEvent::Reloaded {
            material: TlsMaterial::ServerCertificate,
        }
    })
    .await;
    let new = connect(server.addr, &client(&s.server_ca, None))
        .await
        .unwrap();
    assert_eq!(server_cert_of(&new), b.der());
    ping(&mut old).await.unwrap();
}

#[tokio::test]
async fn a_reload_replaces_the_trusted_client_cas() {
    let s = setup();
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .no_polling()
        .build()
        .unwrap();
    assert_eq!(
        tls.client_auth(),
        ClientAuth::Required,
        "the default with CAs"
    );
    let mut server = Echo::start(tls.server_config()).await;
    let alice = s.client_ca.issue("alice", 10);
    let mut old = connect(server.addr, &client(&s.server_ca, Some(&alice)))
        .await
        .unwrap();
    assert_eq!(server.next_seen().await, Ok(1));

    let new_ca = Ca::root("new client CA");
    s.files.ca(new_ca.pem() + &s.client_ca.pem());
    tls.reload().unwrap();
    let bob = client(&s.server_ca, Some(&new_ca.issue("bob", 20)));
    connect(server.addr, &bob).await.unwrap();
    assert_eq!(server.next_seen().await, Ok(1));
    assert_eq!(bob.identity.asked_with_hints(), Some(2), "both CAs named");

    s.files.ca(new_ca.pem());
    tls.reload().unwrap();
    assert!(
        connect(server.addr, &client(&s.server_ca, Some(&alice)))
            .await
            .is_err(),
        "the old CA is no longer trusted"
    );
    assert!(server.next_seen().await.is_err());
    ping(&mut old).await.unwrap();
}

// ---------------------------------------------------------- revocation --

#[tokio::test]
async fn a_crl_written_later_revokes_a_client_certificate() {
    let s = setup();
    s.files.crl(s.client_ca.crl(&[]));
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .crl_file(&s.files.crl)
        .no_polling()
        .build()
        .unwrap();
    let mut server = Echo::start(tls.server_config()).await;
    let alice = s.client_ca.issue("alice", 10);
    let bob = s.client_ca.issue("bob", 11);
    connect(server.addr, &client(&s.server_ca, Some(&alice)))
        .await
        .unwrap();
    assert_eq!(server.next_seen().await, Ok(1));

    s.files.crl(s.client_ca.crl(&[10]));
    tls.reload().unwrap();
    assert!(
        connect(server.addr, &client(&s.server_ca, Some(&alice)))
            .await
            .is_err()
    );
    let refused = server.next_seen().await.unwrap_err();
    assert!(refused.contains("Revoked"), "{refused}");
    connect(server.addr, &client(&s.server_ca, Some(&bob)))
        .await
        .expect("a certificate the CRL does not name still works");
}

#[tokio::test]
async fn a_revoked_client_cannot_resume_a_session_from_before_the_reload() {
    let s = setup();
    s.files.crl(s.client_ca.crl(&[]));
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .crl_file(&s.files.crl)
        .no_polling()
        .build()
        .unwrap();
    let server = Echo::start(tls.server_config()).await;
    // One client (one session cache) throughout.
    let alice = client(&s.server_ca, Some(&s.client_ca.issue("alice", 10)));
    connect(server.addr, &alice).await.unwrap();
    let resumed = connect(server.addr, &alice).await.unwrap();
    assert_eq!(
        resumed.get_ref().1.handshake_kind(),
        Some(rustls::HandshakeKind::Resumed),
        "sessions are resumed normally"
    );

    s.files.crl(s.client_ca.crl(&[10]));
    tls.reload().unwrap();
    assert!(
        connect(server.addr, &alice).await.is_err(),
        "the session cache was emptied, so the revoked certificate is checked again"
    );
}

#[tokio::test]
async fn revocation_covers_the_whole_chain_and_refuses_unknown_status() {
    let root = Ca::root("client root");
    let intermediate = root.intermediate("client intermediate", 100);
    let alice = intermediate.issue_chained("alice", 10);
    let server_ca = Ca::root("server CA");
    let files = Files::new();
    files
        .server(&server_ca.issue("localhost", 1))
        .ca(root.pem());

    let try_with = |crls: Vec<String>, configure: fn(TlsConfigBuilder) -> TlsConfigBuilder| {
        accepted_with_crls(&files, &server_ca, &alice, crls, configure)
    };

    // The root's CRL only: nothing says whether alice (issued by the
    // intermediate) is revoked.
    assert!(
        !try_with(vec![root.crl(&[])], |b| b).await,
        "unknown status is refused"
    );
    assert!(
        try_with(vec![root.crl(&[])], |b| b
            .insecure_allow_unknown_revocation_status())
        .await
    );
    // Both CRLs, nothing revoked.
    assert!(try_with(vec![root.crl(&[]), intermediate.crl(&[])], |b| b).await);
    // The root revokes the intermediate.
    assert!(
        !try_with(vec![root.crl(&[100]), intermediate.crl(&[])], |b| b).await,
        "a revoked intermediate refuses its clients"
    );
    assert!(
        try_with(vec![root.crl(&[100]), intermediate.crl(&[])], |b| b
            .revocation_check_end_entity_only())
        .await,
        "unless only the end entity is checked"
    );
}

/// Whether `alice` gets in with `crls` (the first in `files.crl`, a second
/// in a file of its own) and the builder `configure`d.
async fn accepted_with_crls(
    files: &Files,
    server_ca: &Ca,
    alice: &Leaf,
    crls: Vec<String>,
    configure: fn(TlsConfigBuilder) -> TlsConfigBuilder,
) -> bool {
    let second_file = files.crl.with_file_name("second.crl.pem");
    files.crl(&crls[0]);
    let mut builder = files
        .builder()
        .client_cas_file(&files.ca)
        .crl_file(&files.crl)
        .no_polling();
    if let Some(second) = crls.get(1) {
        replace(&second_file, second);
        builder = builder.crl_file(&second_file);
    }
    let tls = configure(builder).build().unwrap();
    let server = Echo::start(tls.server_config()).await;
    connect(server.addr, &client(server_ca, Some(alice)))
        .await
        .is_ok()
}

// ---------------------------------------------------------- failures --

#[tokio::test]
async fn a_broken_file_keeps_the_old_material_and_is_reported() {
    let s = setup();
    let a = s.server_ca.issue("localhost", 1);
    s.files.server(&a);
    let tls = s
        .files
        .builder()
        .client_cas_file(&s.files.ca)
        .client_auth(ClientAuth::Optional)
        .no_polling()
        .build()
        .unwrap();
    let mut events = tls.subscribe();
    let mut server = Echo::start(tls.server_config()).await;

    // Not PEM at all.
    replace(&s.files.cert, "not a certificate");
    let err = tls.reload().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::Parse);
    let event = wait_for(&mut events, |e| matches!(e, TlsEvent::ReloadFailed { .. })).await;
    let TlsEvent::ReloadFailed {
        material,
        kind,
        detail,
        ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(material, TlsMaterial::ServerCertificate);
    assert_eq!(kind, ConfigErrorKind::Parse);
    assert!(detail.contains("server.pem"), "{detail}");

    // A key that is not the certificate's: PEM is fine, the pair is not.
    let b = s.server_ca.issue("localhost", 2);
    replace(&s.files.cert, b.cert.pem());
    replace(&s.files.key, a.key.serialize_pem());
    let err = tls.reload().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    assert!(
        !err.to_string().contains("PRIVATE KEY"),
        "no key material in errors: {err}"
    );

    // A key cut short: valid PEM and base64, not a key. The error names
    // the file, not what is in it.
    let pem = b.key.serialize_pem();
    let body_line = pem.lines().nth(1).unwrap().to_owned();
    replace(&s.files.cert, b.cert.pem());
    replace(
        &s.files.key,
        format!("-----BEGIN PRIVATE KEY-----\n{body_line}\n-----END PRIVATE KEY-----\n"),
    );
    let err = tls.reload().unwrap_err().to_string();
    assert!(err.contains("server.key"), "{err}");
    assert!(
        !err.contains(&body_line[..16]),
        "no key material in errors: {err}"
    );

    // A CA file without a certificate.
    s.files
        .ca("-----BEGIN NOTHING-----\n-----END NOTHING-----\n");
    assert!(tls.reload().is_err());
    let event = wait_for(&mut events, |e| {
        matches!(
            e,
            TlsEvent::ReloadFailed {
                material: TlsMaterial::ClientTrust,
                ..
            }
        )
    })
    .await;
    assert!(matches!(
        event,
        TlsEvent::ReloadFailed {
            kind: ConfigErrorKind::Parse,
            ..
        }
    ));

    // Still A, and the old CA still trusted.
    let alice = s.client_ca.issue("alice", 10);
    let conn = connect(server.addr, &client(&s.server_ca, Some(&alice)))
        .await
        .unwrap();
    assert_eq!(server_cert_of(&conn), a.der());
    assert_eq!(server.next_seen().await, Ok(1));
}

#[tokio::test]
async fn a_broken_file_found_by_polling_is_reported_and_a_fixed_one_loaded() {
    let s = setup();
    let tls = s
        .files
        .builder()
        .reload_every(Duration::from_millis(50))
        .build()
        .unwrap();
    let mut events = tls.subscribe();
    let server = Echo::start(tls.server_config()).await;

    replace(
        &s.files.key,
        "-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n",
    );
    let failed = wait_for(&mut events, |e| matches!(e, TlsEvent::ReloadFailed { .. })).await;
    assert!(matches!(
        failed,
        TlsEvent::ReloadFailed {
            material: TlsMaterial::ServerCertificate,
            ..
        }
    ));
    connect(server.addr, &client(&s.server_ca, None))
        .await
        .expect("the old certificate still serves");

    let b = s.server_ca.issue("localhost", 2);
    s.files.server(&b);
    wait_for(&mut events, |e| matches!(e, TlsEvent::Reloaded { .. })).await;
    let conn = connect(server.addr, &client(&s.server_ca, None))
        .await
        .unwrap();
    assert_eq!(server_cert_of(&conn), b.der());
}

// -------------------------------------------------------------- expiry --

#[tokio::test]
async fn a_certificate_expiring_within_the_threshold_is_reported() {
    let s = setup();
    let now = SystemTime::now();
    let soon = s
        .server_ca
        .issue_valid("localhost", 1, now - DAY, now + 10 * DAY);
    s.files.server(&soon);
    let builder = s.files.builder().no_polling();
    let mut events = builder.subscribe();
    let tls = builder.build().unwrap();
    let TlsEvent::ExpiresSoon { not_after } = events.try_recv().unwrap() else {
        panic!("an ExpiresSoon event while building")
    };
    assert_eq!(not_after, tls.not_after());
    let left = not_after.duration_since(now).unwrap();
    assert!(left > 9 * DAY && left <= 10 * DAY, "{left:?}");

    // 60 days left: nothing with the default 30-day threshold...
    let later = s
        .server_ca
        .issue_valid("localhost", 2, now - DAY, now + 60 * DAY);
    s.files.server(&later);
    tls.reload().unwrap();
    assert!(matches!(events.try_recv(), Ok(TlsEvent::Reloaded { .. })));
    assert!(events.try_recv().is_err(), "no expiry warning");

    // ...but one with a 90-day threshold.
    let builder = s.files.builder().no_polling().expiry_warning(90 * DAY);
    let mut events = builder.subscribe();
    builder.build().unwrap();
    assert!(matches!(
        events.try_recv(),
        Ok(TlsEvent::ExpiresSoon { .. })
    ));
}

// ------------------------------------------------------------ protocol --

#[tokio::test]
async fn tls_12_and_13_are_spoken_and_nothing_older() {
    let s = setup();
    let tls = s.files.builder().no_polling().build().unwrap();
    let server = Echo::start(tls.server_config()).await;

    let tls12 = client_with(&s.server_ca, None, &[&rustls::version::TLS12], &[]);
    let conn = connect(server.addr, &tls12).await.unwrap();
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );
    let tls13 = client_with(&s.server_ca, None, &[&rustls::version::TLS13], &[]);
    let conn = connect(server.addr, &tls13).await.unwrap();
    assert_eq!(
        conn.get_ref().1.protocol_version(),
        Some(ProtocolVersion::TLSv1_3)
    );

    // rustls clients cannot offer TLS 1.1 or 1.0, so send ClientHellos by
    // hand: TLS 1.2 gets a ServerHello, 1.1 and 1.0 a protocol_version
    // alert.
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(&client_hello(0x03)).await.unwrap();
    let mut answer = [0u8; 6];
    tokio::time::timeout(PATIENCE, tcp.read_exact(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (answer[0], answer[5]),
        (0x16, 2),
        "a ServerHello to TLS 1.2"
    );
    for legacy in [0x02u8, 0x01] {
        let mut tcp = TcpStream::connect(server.addr).await.unwrap();
        tcp.write_all(&client_hello(legacy)).await.unwrap();
        let mut answer = [0u8; 7];
        tokio::time::timeout(PATIENCE, tcp.read_exact(&mut answer))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(answer[0], 0x15, "an alert record, not a ServerHello");
        assert_eq!(answer[5..], [2, 70], "fatal protocol_version");
    }
}

/// A TLS 1.`minor - 1` ClientHello (no TLS 1.3 `supported_versions`)
/// offering ECDHE-ECDSA-AES128-GCM-SHA256 and ECDHE-RSA-AES128-SHA over
/// P-256, with the `signature_algorithms` rustls requires.
fn client_hello(minor: u8) -> Vec<u8> {
    let extensions: &[u8] = &[
        0x00, 0x0d, 0x00, 0x06, 0x00, 0x04, 0x04, 0x03, 0x04, 0x01, // signature_algorithms
        0x00, 0x0a, 0x00, 0x04, 0x00, 0x02, 0x00, 0x17, // supported_groups
        0x00, 0x0b, 0x00, 0x02, 0x01, 0x00, // ec_point_formats
    ];
    let mut body = vec![3, minor];
    body.extend([7u8; 32]); // random
    body.push(0); // session id
    body.extend([0, 4, 0xc0, 0x2b, 0xc0, 0x13]); // cipher suites
    body.extend([1, 0]); // null compression
    body.extend([0, u8::try_from(extensions.len()).unwrap()]);
    body.extend(extensions);
    let mut handshake = vec![1, 0, 0, u8::try_from(body.len()).unwrap()];
    handshake.extend(body);
    let mut record = vec![0x16, 3, 1, 0, u8::try_from(handshake.len()).unwrap()];
    record.extend(handshake);
    record
}

#[tokio::test]
async fn alpn_is_offered_in_the_configured_order() {
    let s = setup();
    let default = s.files.builder().no_polling().build().unwrap();
    let server = Echo::start(default.server_config()).await;
    let both = client_with(
        &s.server_ca,
        None,
        rustls::DEFAULT_VERSIONS,
        &["http/1.1", "h2"],
    );
    let conn = connect(server.addr, &both).await.unwrap();
    assert_eq!(
        conn.get_ref().1.alpn_protocol(),
        Some(&b"h2"[..]),
        "h2 first"
    );

    let http1 = s
        .files
        .builder()
        .no_polling()
        .alpn_protocols(["http/1.1"])
        .build()
        .unwrap();
    let server = Echo::start(http1.server_config()).await;
    let conn = connect(server.addr, &both).await.unwrap();
    assert_eq!(conn.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
}

// ------------------------------------------------------------- builder --

#[tokio::test]
async fn the_builder_refuses_inconsistent_settings() {
    let s = setup();
    let kind = |b: TlsConfigBuilder| b.build().unwrap_err().kind();
    assert_eq!(
        kind(TlsConfig::builder().no_polling()),
        ConfigErrorKind::InvalidValue
    );
    assert_eq!(
        kind(
            s.files
                .builder()
                .no_polling()
                .client_auth(ClientAuth::Required)
        ),
        ConfigErrorKind::InvalidValue,
        "client certificates without trusted CAs"
    );
    assert_eq!(
        kind(
            s.files
                .builder()
                .no_polling()
                .client_cas_file(&s.files.ca)
                .client_auth(ClientAuth::Disabled)
        ),
        ConfigErrorKind::InvalidValue,
        "CAs that would not be used"
    );
    assert_eq!(
        kind(
            s.files
                .builder()
                .no_polling()
                .client_cas_file(s.files.ca.with_file_name("missing.pem"))
        ),
        ConfigErrorKind::Io
    );

    let now = SystemTime::now();
    s.files.server(
        &s.server_ca
            .issue_valid("localhost", 5, now - 30 * DAY, now - DAY),
    );
    assert_eq!(
        kind(s.files.builder().no_polling()),
        ConfigErrorKind::InvalidValue,
        "expired"
    );

    assert_eq!(
        "STRICT".parse::<ClientAuth>().unwrap(),
        ClientAuth::Required
    );
    assert_eq!(
        "permissive".parse::<ClientAuth>().unwrap(),
        ClientAuth::Optional
    );
    assert_eq!(
        "disabled".parse::<ClientAuth>().unwrap(),
        ClientAuth::Disabled
    );
    assert!("mutual".parse::<ClientAuth>().is_err());
}

#[test]
fn polling_needs_a_runtime() {
    let s = setup();
    let err = s.files.builder().build().unwrap_err();
    assert_eq!(err.kind(), ConfigErrorKind::InvalidValue);
    assert!(err.to_string().contains("no_polling"), "{err}");
    let tls = s.files.builder().no_polling().build().unwrap();
    tls.reload().unwrap();
    let debug = format!("{tls:?}");
    assert!(!debug.contains("PRIVATE"), "{debug}");
}
