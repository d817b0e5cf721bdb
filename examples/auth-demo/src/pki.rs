//! The demo's PKI, made with rcgen on first start: a CA and the server's
//! certificate, client certificates with SPIFFE URI SANs, one from another
//! CA, an expired one, a revoked one and the CRL that lists it.

use std::path::Path;

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber, date_time_ymd,
};

use crate::DemoError;
use crate::state::{CertFiles, TlsFiles, write_private};

/// The CRL the server loads (PEM, in the state directory).
pub(crate) const CRL: &str = "crl.pem";

/// The trust domain of the demo's SPIFFE IDs.
pub(crate) const TRUST_DOMAIN: &str = "spiffe://demo.local";

fn pki(e: rcgen::Error) -> DemoError {
    DemoError::msg(format!("certificate generation: {e}"))
}

/// The demo CA's parameters: the same each time, so that a CA key read
/// back from disk signs certificates that chain to `ca.pem` (same subject,
/// same key identifier).
fn ca_params(name: &str) -> Result<CertificateParams, DemoError> {
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    ca.distinguished_name.push(DnType::CommonName, name);
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.key_identifier_method = KeyIdMethod::Sha256;
    Ok(ca)
}

const CA_NAME: &str = "auth-stack demo CA";

/// The CA (`ca.pem`, `ca.key`) and the server certificate for
/// `localhost`, `127.0.0.1` and `::1`.
pub(crate) fn write_pki(dir: &Path) -> Result<(), DemoError> {
    let ca_key = KeyPair::generate().map_err(pki)?;
    let ca_cert = ca_params(CA_NAME)?.self_signed(&ca_key).map_err(pki)?;
    std::fs::write(dir.join("ca.pem"), ca_cert.pem()).map_err(|e| DemoError::io(dir, e))?;
    write_private(&dir.join("ca.key"), ca_key.serialize_pem().as_bytes())?;
    let issuer = Issuer::new(ca_params(CA_NAME)?, ca_key);

    let server_key = KeyPair::generate().map_err(pki)?;
    let mut server = CertificateParams::new(vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ])
    .map_err(pki)?;
    server
        .distinguished_name
        .push(DnType::CommonName, "auth-demo");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer).map_err(pki)?;
    std::fs::write(dir.join("server.pem"), server_cert.pem()).map_err(|e| DemoError::io(dir, e))?;
    write_private(
        &dir.join("server.key"),
        server_key.serialize_pem().as_bytes(),
    )?;
    Ok(())
}

/// A client certificate for SPIFFE ID `<trust domain>/<name>`.
fn client_params(name: &str, serial: u64) -> Result<CertificateParams, DemoError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(pki)?;
    params.distinguished_name.push(DnType::CommonName, name);
    let uri = format!("{TRUST_DOMAIN}/{name}");
    params.subject_alt_names = vec![SanType::URI(uri.try_into().map_err(pki)?)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.serial_number = Some(SerialNumber::from(serial));
    Ok(params)
}

/// Writes `<name>.pem` and `<name>.key`.
fn write_client(
    dir: &Path,
    name: &str,
    params: CertificateParams,
    issuer: &Issuer<'_, KeyPair>,
) -> Result<CertFiles, DemoError> {
    let key = KeyPair::generate().map_err(pki)?;
    let cert = params.signed_by(&key, issuer).map_err(pki)?;
    let files = CertFiles {
        cert: format!("{name}.pem"),
        key: format!("{name}.key"),
    };
    std::fs::write(dir.join(&files.cert), cert.pem()).map_err(|e| DemoError::io(dir, e))?;
    write_private(&dir.join(&files.key), key.serialize_pem().as_bytes())?;
    Ok(files)
}

/// The client certificates of DEMO.md and the CRL revoking `revoked`,
/// signed by the CA in `ca.key` (the untrusted one by a CA of its own,
/// whose key is thrown away).
pub(crate) fn write_client_pki(dir: &Path, tls: &mut TlsFiles) -> Result<(), DemoError> {
    let ca_key_path = dir.join("ca.key");
    let ca_pem =
        std::fs::read_to_string(&ca_key_path).map_err(|e| DemoError::io(&ca_key_path, e))?;
    let ca_key = KeyPair::from_pem(&ca_pem).map_err(pki)?;
    let issuer = Issuer::new(ca_params(CA_NAME)?, ca_key);

    tls.client_billing = Some(write_client(
        dir,
        "billing",
        client_params("billing", 101)?,
        &issuer,
    )?);
    tls.client_reporting = Some(write_client(
        dir,
        "reporting",
        client_params("reporting", 102)?,
        &issuer,
    )?);
    let mut expired = client_params("expired", 103)?;
    expired.not_before = date_time_ymd(2020, 1, 1);
    expired.not_after = date_time_ymd(2021, 1, 1);
    tls.client_expired = Some(write_client(dir, "expired", expired, &issuer)?);
    let revoked_serial = 104;
    tls.client_revoked = Some(write_client(
        dir,
        "revoked",
        client_params("revoked", revoked_serial)?,
        &issuer,
    )?);
    let other = Issuer::new(ca_params("another CA")?, KeyPair::generate().map_err(pki)?);
    tls.client_untrusted = Some(write_client(
        dir,
        "untrusted",
        client_params("untrusted", 105)?,
        &other,
    )?);

    let now = time::OffsetDateTime::now_utc();
    let crl = CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(365),
        crl_number: SerialNumber::from(1u64),
        issuing_distribution_point: None,
        revoked_certs: vec![RevokedCertParams {
            serial_number: SerialNumber::from(revoked_serial),
            revocation_time: now,
            reason_code: Some(RevocationReason::KeyCompromise),
            invalidity_date: None,
        }],
        key_identifier_method: KeyIdMethod::Sha256,
    }
    .signed_by(&issuer)
    .map_err(pki)?;
    std::fs::write(dir.join(CRL), crl.pem().map_err(pki)?).map_err(|e| DemoError::io(dir, e))?;
    Ok(())
}
