//! Client certificates: `PeerCertificate::from_der` on arbitrary bytes, the
//! forwarded-certificate headers (RFC 9440 `Client-Cert`, Envoy's
//! `x-forwarded-client-cert`) and what a strict mTLS guard makes of them
//! from a trusted proxy and from anyone else.
//!
//! Input: raw bytes. They are read as a DER certificate, as a `Client-Cert`
//! value, as an XFCC value, and as the DER inside a well-formed
//! `Client-Cert` header.
#![no_main]

use std::sync::OnceLock;

use auth_core::mtls::{
    CertificateErrorKind, ForwardedCertificates, MAX_CERTIFICATE_LEN, MtlsAuthenticator, MtlsRule,
    PeerCertificate, decode_client_cert, decode_xfcc,
};
use auth_core::{Guard, SimpleRequest, TrustedProxies};
use auth_core_fuzz::block_on;
use base64::Engine as _;
use libfuzzer_sys::fuzz_target;

fn guard() -> &'static Guard {
    static G: OnceLock<Guard> = OnceLock::new();
    G.get_or_init(|| {
        let mtls = MtlsAuthenticator::builder()
            .rule(MtlsRule::prefix("spiffe://demo.local/"))
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        Guard::builder(mtls)
            .forwarded_certificates(ForwardedCertificates::client_cert(
                TrustedProxies::new(["10.0.0.0/8"]).unwrap_or_else(|e| panic!("{e}")),
            ))
            .build()
            .unwrap_or_else(|e| panic!("{e}"))
    })
}

fuzz_target!(|data: &[u8]| {
    match PeerCertificate::from_der(data) {
        Ok(cert) => {
            assert!(data.len() <= MAX_CERTIFICATE_LEN);
            assert_eq!(cert.thumbprint().len(), 43);
            if let Some(name) = cert.identity_name() {
                assert!(!name.is_empty() && !name.chars().any(char::is_control));
            }
        }
        Err(e) => {
            if data.len() > MAX_CERTIFICATE_LEN {
                assert_eq!(e.kind(), CertificateErrorKind::TooLarge);
            }
        }
    }
    if let Ok(der) = decode_client_cert(data) {
        assert!(!der.is_empty());
    }
    let _ = decode_xfcc(data);

    let header = format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(data)
    );
    for (peer, value) in [
        ("10.1.2.3:1", header.as_bytes()),
        ("10.1.2.3:1", data),
        ("203.0.113.9:1", header.as_bytes()),
    ] {
        let req = SimpleRequest::get("/")
            .peer(peer.parse().unwrap_or_else(|e| panic!("{e}")))
            .header("client-cert", value);
        match block_on(guard().check(&req)) {
            Ok(d) => {
                assert!(peer.starts_with("10."), "a certificate believed from an untrusted peer");
                let id = d.identity().unwrap_or_else(|| panic!("allowed without a caller"));
                assert!(id.subject().starts_with("spiffe://demo.local/"));
            }
            Err(r) => assert_eq!(r.status(), 401),
        }
    }
});
