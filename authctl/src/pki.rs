//! `authctl pki …`: a development CA, client certificates with SPIFFE IDs,
//! and CRLs, made with rcgen. A CA is read back from its own PEM files (its
//! subject and key identifier taken from `ca.pem`), so certificates and
//! CRLs chain to it whoever made it: `pki init`, the demo, or openssl.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DnType,
    ExtendedKeyUsagePurpose, IsCa, Issuer, KeyIdMethod, KeyPair, KeyUsagePurpose, PublicKeyData,
    RevocationReason, RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use crate::cli::{CaArgs, PkiClientArgs, PkiCrlArgs, PkiInitArgs, Reason};
use crate::error::{CliError, CliResult, io_out};
use crate::files::{self, PRIVATE, PUBLIC, Replace};
use crate::{Console, state};

/// Certificates start this long before now, for clocks a little behind.
const BACKDATE: time::Duration = time::Duration::minutes(5);

fn rcgen_err(what: &str) -> impl Fn(rcgen::Error) -> CliError + '_ {
    move |e| CliError::failed(format!("{what}: {e}"))
}

/// `pki init`.
pub(crate) fn init(args: &PkiInitArgs, console: &mut Console<'_>) -> CliResult {
    let dir = args
        .state_dir
        .as_ref()
        .or(args.out_dir.as_ref())
        .ok_or_else(|| CliError::usage("say where: --out-dir DIR (or --state-dir DIR)"))?;
    files::require_dir(dir, "the output directory")?;
    let (cert_path, key_path) = state::ca_files(dir);
    files::refuse_existing(
        &[&cert_path, &key_path],
        ": a new CA would not be trusted by what trusts the old one",
    )?;
    if args.name.trim().is_empty() {
        return Err(CliError::usage("--name must not be empty"));
    }
    let key = KeyPair::generate().map_err(rcgen_err("key generation"))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err("CA parameters"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, args.name.as_str());
    // Issues leaf certificates only.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    params.key_identifier_method = KeyIdMethod::Sha256;
    params.serial_number = Some(random_serial());
    let now = now();
    params.not_before = now - BACKDATE;
    params.not_after = now + time::Duration::days(i64::from(args.days));
    let cert = params
        .self_signed(&key)
        .map_err(rcgen_err("CA certificate"))?;
    files::write(
        &key_path,
        key.serialize_pem().as_bytes(),
        PRIVATE,
        Replace::Never,
    )?;
    files::write(&cert_path, cert.pem().as_bytes(), PUBLIC, Replace::Never)?;
    let out = serde_json::json!({
        "ca_cert": cert_path.display().to_string(),
        "ca_key": key_path.display().to_string(),
    });
    writeln!(console.stdout, "{out:#}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "created a development CA {:?} (P-256, {} days); its key {} is mode 0600",
        args.name,
        args.days,
        key_path.display()
    );
    Ok(())
}

/// A CA read from its files.
struct Ca {
    cert_path: PathBuf,
    cert_der: Vec<u8>,
    issuer: Issuer<'static, KeyPair>,
    /// The CA certificate's subject key identifier, for CRLs.
    key_id: Option<Vec<u8>>,
    /// When the CA certificate expires: no certificate it issues outlives it.
    not_after: OffsetDateTime,
}

impl Ca {
    fn load(args: &CaArgs) -> CliResult<Self> {
        let (cert_path, key_path) = match (&args.state_dir, &args.ca_cert, &args.ca_key) {
            (Some(dir), None, None) => {
                files::require_dir(dir, "the state directory")?;
                state::ca_files(dir)
            }
            (None, Some(c), Some(k)) => (c.clone(), k.clone()),
            _ => {
                return Err(CliError::usage(
                    "say which CA: --state-dir DIR, or --ca-cert FILE --ca-key FILE",
                ));
            }
        };
        let cert_pem = files::read_text(&cert_path)?;
        let key_pem = files::read_text(&key_path)?;
        let cert_der = pem_block(&cert_pem, "CERTIFICATE").ok_or_else(|| {
            CliError::failed(format!("{}: no PEM certificate", cert_path.display()))
        })?;
        let key = KeyPair::from_pem(&key_pem).map_err(|_| {
            CliError::failed(format!(
                "{}: not a PEM private key (PKCS#8)",
                key_path.display()
            ))
        })?;
        let (_, cert) = x509_parser::parse_x509_certificate(&cert_der).map_err(|_| {
            CliError::failed(format!("{}: not an X.509 certificate", cert_path.display()))
        })?;
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        if !is_ca {
            return Err(CliError::failed(format!(
                "{}: not a CA certificate (no basicConstraints CA:TRUE)",
                cert_path.display()
            )));
        }
        if cert.public_key().raw != key.subject_public_key_info().as_slice() {
            return Err(CliError::failed(format!(
                "{} is not the key of {}",
                key_path.display(),
                cert_path.display()
            )));
        }
        let key_id = subject_key_id(&cert);
        let not_after = OffsetDateTime::from_unix_timestamp(cert.validity().not_after.timestamp())
            .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let issuer = Issuer::from_ca_cert_der(&cert_der.clone().into(), key)
            .map_err(rcgen_err(&cert_path.display().to_string()))?;
        Ok(Self {
            cert_path,
            cert_der,
            issuer,
            key_id,
            not_after,
        })
    }

    fn parsed(&self) -> CliResult<X509Certificate<'_>> {
        x509_parser::parse_x509_certificate(&self.cert_der)
            .map(|(_, c)| c)
            .map_err(|_| CliError::failed(format!("{}: unreadable", self.cert_path.display())))
    }
}

fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.iter_extensions()
        .find_map(|ext| match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => Some(id.0.to_vec()),
            _ => None,
        })
}

/// The first PEM block labelled `label`.
fn pem_block(text: &str, label: &str) -> Option<Vec<u8>> {
    x509_parser::pem::Pem::iter_from_buffer(text.as_bytes())
        .filter_map(Result::ok)
        .find(|p| p.label == label)
        .map(|p| p.contents)
}

/// `pki client`.
pub(crate) fn client(args: &PkiClientArgs, console: &mut Console<'_>) -> CliResult {
    let segments = spiffe_path(&args.spiffe).map_err(|why| {
        CliError::usage(format!(
            "--spiffe {:?}: {why} (e.g. spiffe://demo.local/billing)",
            args.spiffe
        ))
    })?;
    let name = match &args.name {
        Some(n) => n.clone(),
        None => segments.last().cloned().unwrap_or_default(),
    };
    if !file_name_ok(&name) {
        return Err(CliError::usage(format!(
            "name {name:?}: use letters, digits, '.', '_' and '-' (not starting with '.')"
        )));
    }
    files::require_dir(&args.out_dir, "the output directory")?;
    let cert_path = args.out_dir.join(format!("{name}.pem"));
    let key_path = args.out_dir.join(format!("{name}.key"));
    let replace = if args.force {
        Replace::Allowed
    } else {
        files::refuse_existing(&[&cert_path, &key_path], " (--force replaces it)")?;
        Replace::Never
    };
    let ca = Ca::load(&args.ca)?;

    let key = KeyPair::generate().map_err(rcgen_err("key generation"))?;
    let mut params =
        CertificateParams::new(Vec::<String>::new()).map_err(rcgen_err("certificate"))?;
    params
        .distinguished_name
        .push(DnType::CommonName, name.as_str());
    let uri = args
        .spiffe
        .clone()
        .try_into()
        .map_err(rcgen_err("SPIFFE ID"))?;
    params.subject_alt_names = vec![SanType::URI(uri)];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.use_authority_key_identifier_extension = true;
    let serial = random_serial();
    params.serial_number = Some(serial.clone());
    let now = now();
    if ca.not_after <= now {
        return Err(CliError::failed(format!(
            "{}: the CA certificate expired at {}",
            ca.cert_path.display(),
            rfc3339(ca.not_after)
        )));
    }
    params.not_before = now - BACKDATE;
    params.not_after = (now + time::Duration::days(i64::from(args.days))).min(ca.not_after);
    let cert = params
        .signed_by(&key, &ca.issuer)
        .map_err(rcgen_err("certificate"))?;

    files::write(&key_path, key.serialize_pem().as_bytes(), PRIVATE, replace)?;
    files::write(&cert_path, cert.pem().as_bytes(), PUBLIC, replace)?;
    let serial_hex = hex(&normalize(serial.as_ref()));
    let out = serde_json::json!({
        "cert": cert_path.display().to_string(),
        "key": key_path.display().to_string(),
        "spiffe_id": args.spiffe,
        "serial": serial_hex,
        "not_after": rfc3339(params.not_after),
    });
    writeln!(console.stdout, "{out:#}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "issued a client certificate for {} (serial {serial_hex}, valid until {}), signed by {}; its key {} is mode 0600",
        args.spiffe,
        rfc3339(params.not_after),
        ca.cert_path.display(),
        key_path.display()
    );
    Ok(())
}

/// The path segments of a SPIFFE ID (SPIFFE-ID spec §2): `spiffe://`, a
/// trust domain of lower-case letters, digits, `.`, `-`, `_`, and a
/// non-empty path of segments of letters, digits, `.`, `-`, `_`, none of
/// them empty, `.` or `..`.
fn spiffe_path(id: &str) -> Result<Vec<String>, &'static str> {
    let rest = id
        .strip_prefix("spiffe://")
        .ok_or("a SPIFFE ID starts with spiffe://")?;
    let (domain, path) = rest
        .split_once('/')
        .ok_or("a workload's SPIFFE ID has a path after the trust domain")?;
    let domain_ok = !domain.is_empty()
        && domain
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
    if !domain_ok {
        return Err("the trust domain is lower-case letters, digits, '.', '-' and '_'");
    }
    let mut segments = Vec::new();
    for seg in path.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err("a path segment is empty, '.' or '..'");
        }
        if !seg
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
        {
            return Err("a path segment is letters, digits, '.', '-' and '_'");
        }
        segments.push(seg.to_owned());
    }
    if id.len() > 2048 {
        return Err("longer than 2048 bytes");
    }
    Ok(segments)
}

fn file_name_ok(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._".contains(&b))
}

/// `pki crl`.
pub(crate) fn crl(args: &PkiCrlArgs, console: &mut Console<'_>) -> CliResult {
    let out = match (&args.ca.state_dir, &args.out) {
        (_, Some(out)) => out.clone(),
        (Some(dir), None) => state::crl_file(dir),
        (None, None) => {
            return Err(CliError::usage(
                "say where: --out FILE (or --state-dir DIR)",
            ));
        }
    };
    let mut new: Vec<Vec<u8>> = Vec::new();
    for s in &args.serials {
        new.push(parse_serial(s).ok_or_else(|| {
            CliError::usage(format!(
                "--revoke {s:?}: a serial number is hex digits (colons allowed)"
            ))
        })?);
    }
    let ca = Ca::load(&args.ca)?;
    let ca_cert = ca.parsed()?;
    for path in &args.certs {
        let text = files::read_text(path)?;
        let der = pem_block(&text, "CERTIFICATE")
            .ok_or_else(|| CliError::failed(format!("{}: no PEM certificate", path.display())))?;
        let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| {
            CliError::failed(format!("{}: not an X.509 certificate", path.display()))
        })?;
        if cert.issuer().as_raw() != ca_cert.subject().as_raw()
            || cert.verify_signature(Some(ca_cert.public_key())).is_err()
        {
            return Err(CliError::failed(format!(
                "{} was not issued by {}",
                path.display(),
                ca.cert_path.display()
            )));
        }
        new.push(normalize(cert.raw_serial()));
    }

    // Held while the CRL is read, merged and written: two `pki crl` runs at
    // once do not drop each other's entries.
    let lock = lock_file(&out)?;
    let (mut revoked, number) = existing_entries(&out, &ca_cert, args.force)?;
    let now = now();
    let reason = args.reason.map(reason_code);
    let mut added = Vec::new();
    for serial in new {
        if revoked
            .iter()
            .all(|r| normalize(r.serial_number.as_ref()) != serial)
        {
            added.push(hex(&serial));
            revoked.push(RevokedCertParams {
                serial_number: SerialNumber::from_slice(&serial),
                revocation_time: now,
                reason_code: reason,
                invalidity_date: None,
            });
        }
    }
    let params = CertificateRevocationListParams {
        this_update: now,
        next_update: now + time::Duration::days(i64::from(args.days)),
        crl_number: SerialNumber::from_slice(&increment(&number)),
        issuing_distribution_point: None,
        revoked_certs: revoked,
        key_identifier_method: ca
            .key_id
            .clone()
            .map_or(KeyIdMethod::Sha256, KeyIdMethod::PreSpecified),
    };
    let crl = params.signed_by(&ca.issuer).map_err(rcgen_err("CRL"))?;
    let pem = crl.pem().map_err(rcgen_err("CRL"))?;
    files::write(&out, pem.as_bytes(), PUBLIC, Replace::Allowed)?;
    drop(lock);
    let all: Vec<String> = params
        .revoked_certs
        .iter()
        .map(|r| hex(&normalize(r.serial_number.as_ref())))
        .collect();
    let doc = serde_json::json!({
        "crl": out.display().to_string(),
        "crl_number": hex(&normalize(params.crl_number.as_ref())),
        "revoked": all,
        "added": added,
        "next_update": rfc3339(params.next_update),
    });
    writeln!(console.stdout, "{doc:#}").map_err(io_out)?;
    let _ = writeln!(
        console.stderr,
        "wrote {} ({} revoked, {} added now), signed by {}",
        out.display(),
        params.revoked_certs.len(),
        added.len(),
        ca.cert_path.display()
    );
    Ok(())
}

/// Opens and locks `<file>.lock`.
fn lock_file(path: &Path) -> CliResult<std::fs::File> {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".lock");
    let lock_path = path.with_file_name(name);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE);
    let file = options
        .open(&lock_path)
        .map_err(|e| CliError::failed(format!("cannot open {}: {e}", lock_path.display())))?;
    file.lock()
        .map_err(|e| CliError::failed(format!("cannot lock {}: {e}", lock_path.display())))?;
    Ok(file)
}

/// The entries and number of the CRL at `path`, if it is one of this CA's;
/// none if there is no file. Anything else is refused unless `force`.
fn existing_entries(
    path: &Path,
    ca: &X509Certificate<'_>,
    force: bool,
) -> CliResult<(Vec<RevokedCertParams>, Vec<u8>)> {
    let text = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), Vec::new())),
        Err(e) => return Err(files::read_error(path, &e)),
    };
    let refuse = |why: &str| {
        if force {
            Ok((Vec::new(), Vec::new()))
        } else {
            Err(CliError::refused(format!(
                "{}: {why}; not replacing it (--force replaces it, dropping its entries)",
                path.display()
            )))
        }
    };
    let Some(der) = std::str::from_utf8(&text)
        .ok()
        .and_then(|t| pem_block(t, "X509 CRL"))
    else {
        return refuse("not a PEM CRL");
    };
    let Ok((_, crl)) = x509_parser::parse_x509_crl(&der) else {
        return refuse("not a CRL");
    };
    if crl.issuer().as_raw() != ca.subject().as_raw()
        || crl.verify_signature(ca.public_key()).is_err()
    {
        return refuse("not a CRL of this CA");
    }
    let mut entries = Vec::new();
    for r in crl.iter_revoked_certificates() {
        let revocation_time = OffsetDateTime::from_unix_timestamp(r.revocation_date.timestamp())
            .unwrap_or_else(|_| OffsetDateTime::now_utc());
        entries.push(RevokedCertParams {
            serial_number: SerialNumber::from_slice(&normalize(r.raw_serial())),
            revocation_time,
            reason_code: r.reason_code().and_then(|(_, code)| reason_from(code.0)),
            invalidity_date: None,
        });
    }
    let number = crl
        .crl_number()
        .map(|n| n.to_bytes_be())
        .unwrap_or_default();
    Ok((entries, number))
}

fn reason_code(r: Reason) -> RevocationReason {
    match r {
        Reason::KeyCompromise => RevocationReason::KeyCompromise,
        Reason::AffiliationChanged => RevocationReason::AffiliationChanged,
        Reason::Superseded => RevocationReason::Superseded,
        Reason::CessationOfOperation => RevocationReason::CessationOfOperation,
    }
}

/// RFC 5280 §5.3.1 reason codes.
fn reason_from(code: u8) -> Option<RevocationReason> {
    Some(match code {
        0 => RevocationReason::Unspecified,
        1 => RevocationReason::KeyCompromise,
        2 => RevocationReason::CaCompromise,
        3 => RevocationReason::AffiliationChanged,
        4 => RevocationReason::Superseded,
        5 => RevocationReason::CessationOfOperation,
        6 => RevocationReason::CertificateHold,
        8 => RevocationReason::RemoveFromCrl,
        9 => RevocationReason::PrivilegeWithdrawn,
        10 => RevocationReason::AaCompromise,
        _ => return None,
    })
}

/// Now, in whole seconds (what certificates and CRLs can hold).
fn now() -> OffsetDateTime {
    let t = OffsetDateTime::now_utc();
    t.replace_nanosecond(0).unwrap_or(t)
}

/// 128 random bits, positive (RFC 5280 §4.1.2.2: at most 20 octets).
fn random_serial() -> SerialNumber {
    use rand::Rng as _;
    let mut bytes = [0u8; 16];
    rand::rand_core::UnwrapErr(rand::rngs::SysRng).fill_bytes(&mut bytes);
    if let Some(first) = bytes.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    SerialNumber::from_slice(&bytes)
}

/// Without leading zero bytes (the serial's value, however it was encoded).
fn normalize(bytes: &[u8]) -> Vec<u8> {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default().to_vec()
}

/// `n + 1`, big-endian.
fn increment(n: &[u8]) -> Vec<u8> {
    let mut out = normalize(n);
    for byte in out.iter_mut().rev() {
        if *byte == 0xff {
            *byte = 0;
        } else {
            *byte += 1;
            return out;
        }
    }
    out.insert(0, 1);
    out
}

fn parse_serial(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    let t = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    let digits: String = t.chars().filter(|c| *c != ':').collect();
    if digits.is_empty() || digits.len() > 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let padded = if digits.len() % 2 == 1 {
        format!("0{digits}")
    } else {
        digits
    };
    let mut out = Vec::with_capacity(padded.len() / 2);
    for i in (0..padded.len()).step_by(2) {
        out.push(u8::from_str_radix(padded.get(i..i + 2)?, 16).ok()?);
    }
    let n = normalize(&out);
    (!n.is_empty()).then_some(n)
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        return "00".to_owned();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spiffe_ids() {
        assert_eq!(
            spiffe_path("spiffe://demo.local/billing").unwrap(),
            ["billing"]
        );
        assert_eq!(
            spiffe_path("spiffe://example.org/ns/prod/sa/api").unwrap(),
            ["ns", "prod", "sa", "api"]
        );
        for bad in [
            "https://demo.local/billing",
            "spiffe://demo.local",
            "spiffe://demo.local/",
            "spiffe://Demo.local/x",
            "spiffe://demo.local/a//b",
            "spiffe://demo.local/../x",
            "spiffe://demo.local/a?b",
            "spiffe:///x",
        ] {
            assert!(spiffe_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn serials() {
        assert_eq!(parse_serial("68").unwrap(), [0x68]);
        assert_eq!(parse_serial("00:68").unwrap(), [0x68]);
        assert_eq!(parse_serial("0x0168").unwrap(), [0x01, 0x68]);
        assert_eq!(parse_serial("abc").unwrap(), [0x0a, 0xbc]);
        assert!(parse_serial("").is_none());
        assert!(parse_serial("00").is_none());
        assert!(parse_serial("xyz").is_none());
        assert_eq!(increment(&[]), [1]);
        assert_eq!(increment(&[0, 1]), [2]);
        assert_eq!(increment(&[0xff]), [1, 0]);
        assert_eq!(increment(&[1, 0xff]), [2, 0]);
        assert_eq!(hex(&[0x0a, 0xbc]), "0abc");
    }
}
