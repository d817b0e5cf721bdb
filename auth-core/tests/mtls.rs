//! Client certificates in the core, without a server: how a certificate is
//! read (SAN order, the RFC 8705 thumbprint checked against `openssl`,
//! bounds), strict and permissive routes alone and in `AnyOf`/`AllOf`, the
//! subject allow-list policy, certificates forwarded by trusted proxies
//! (RFC 9440 `Client-Cert`, Envoy XFCC), and certificate-bound JWTs and
//! introspected tokens, checked per request even when the token's
//! verification comes from a cache.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
use auth_core::introspection::Introspection;
use auth_core::jwt::{Issuer as JwtIssuer, JwtAuthenticator, JwtKey};
use auth_core::mtls::{
    CertificateErrorKind, ClientCertificate, ForwardedCertificates, MtlsAuthenticator, MtlsMode,
    MtlsRule, NameKind, PeerCertificate, thumbprint_of,
};
use auth_core::{
    AllOf, AnyOf, AuthErrorKind, AuthMethod, Guard, Policy, Rejection, Secret, SimpleRequest,
    TrustedProxies,
};
use base64::Engine as _;
use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType, date_time_ymd,
};

const BILLING: &str = "spiffe://demo.local/billing";
const REPORTING: &str = "spiffe://demo.local/reporting";

struct Ca {
    issuer: Issuer<'static, KeyPair>,
}

fn ca() -> Ca {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params
        .distinguished_name
        .push(DnType::CommonName, "test CA");
    Ca {
        issuer: Issuer::new(params, key),
    }
}

impl Ca {
    /// A leaf with these SANs and CN (`None`: no CN at all), DER.
    fn leaf(&self, sans: Vec<SanType>, cn: Option<&str>) -> Vec<u8> {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name = rcgen::DistinguishedName::new();
        if let Some(cn) = cn {
            params.distinguished_name.push(DnType::CommonName, cn);
        }
        params.subject_alt_names = sans;
        self.sign(params)
    }

    fn sign(&self, params: CertificateParams) -> Vec<u8> {
        let key = KeyPair::generate().unwrap();
        params.signed_by(&key, &self.issuer).unwrap().der().to_vec()
    }

    fn workload(&self, spiffe_id: &str) -> Vec<u8> {
        self.leaf(vec![uri(spiffe_id)], None)
    }
}

fn uri(s: &str) -> SanType {
    SanType::URI(s.try_into().unwrap())
}
fn dns(s: &str) -> SanType {
    SanType::DnsName(s.try_into().unwrap())
}
fn email(s: &str) -> SanType {
    SanType::Rfc822Name(s.try_into().unwrap())
}

fn tls_req(der: Option<&[u8]>) -> SimpleRequest {
    let r = SimpleRequest::get("/v1/service")
        .tls(true)
        .peer("192.0.2.10:5000".parse().unwrap());
    match der {
        Some(der) => r.peer_certificates(vec![der.to_vec()]),
        None => r,
    }
}

fn www(r: &Rejection) -> Vec<&str> {
    r.header_values("www-authenticate").collect()
}

fn rules() -> MtlsAuthenticator {
    MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix("spiffe://demo.local/").scopes(["service"]))
        .rule(MtlsRule::exact(BILLING).scopes(["billing:write", "service"]))
        .build()
        .unwrap()
}

async fn subject(guard: &Guard, req: &SimpleRequest) -> Result<String, (u16, Vec<String>)> {
    match guard.check(req).await {
        Ok(d) => Ok(d
            .identity()
            .map(|i| format!("{}:{}", i.method(), i.subject()))
            .unwrap_or_else(|| "anonymous".to_owned())),
        Err(r) => Err((r.status(), www(&r).into_iter().map(str::to_owned).collect())),
    }
}

// ---------------------------------------------------------------- reading

#[test]
fn the_identity_name_is_uri_then_dns_then_email_then_cn() {
    let ca = ca();
    type Case<'a> = (Vec<SanType>, Option<&'a str>, Option<(NameKind, &'a str)>);
    let cases: Vec<Case<'_>> = vec![
        (
            vec![
                email("ops@demo.local"),
                dns("Billing.Demo.Local"),
                uri("https://demo.local/x"),
                uri(BILLING),
            ],
            Some("cn"),
            Some((NameKind::Uri, BILLING)),
        ),
        (
            vec![uri("https://demo.local/x"), dns("a.demo.local")],
            Some("cn"),
            Some((NameKind::Uri, "https://demo.local/x")),
        ),
        (
            vec![email("ops@demo.local"), dns("A.Demo.Local")],
            Some("cn"),
            Some((NameKind::Dns, "a.demo.local")),
        ),
        (
            vec![email("ops@demo.local")],
            Some("cn"),
            Some((NameKind::Email, "ops@demo.local")),
        ),
        (
            vec![SanType::IpAddress("127.0.0.1".parse().unwrap())],
            Some("legacy-client"),
            Some((NameKind::CommonName, "legacy-client")),
        ),
        (Vec::new(), None, None),
    ];
    for (sans, cn, want) in cases {
        let cert = PeerCertificate::from_der(&ca.leaf(sans, cn)).unwrap();
        let got = cert.identity_name_kind().zip(cert.identity_name());
        assert_eq!(got, want, "{cert:?}");
        assert_eq!(cert.common_name(), cn);
    }
    let all = PeerCertificate::from_der(&ca.leaf(
        vec![
            uri(BILLING),
            dns("Billing.Demo.Local"),
            email("ops@demo.local"),
        ],
        Some("cn"),
    ))
    .unwrap();
    assert_eq!(all.uri_sans(), [BILLING]);
    assert_eq!(all.dns_sans(), ["billing.demo.local"], "lower-cased");
    assert_eq!(all.email_sans(), ["ops@demo.local"]);
    // Debug shows what was read (names and dates are not secrets), field
    // by field.
    let shown = format!("{all:?}");
    for part in [
        "PeerCertificate {",
        &format!("identity_name: Some({BILLING:?})"),
        &format!("x5t#S256: {:?}", all.thumbprint()),
        "dns_sans: [\"billing.demo.local\"]",
        "email_sans: [\"ops@demo.local\"]",
        "common_name: Some(\"cn\")",
        "not_before",
        "not_after",
    ] {
        assert!(shown.contains(part), "{part} not in {shown}");
    }
}

#[test]
fn validity_is_read() {
    let ca = ca();
    let mut params = CertificateParams::new(vec!["x.test".to_owned()]).unwrap();
    params.not_before = date_time_ymd(2001, 2, 3);
    params.not_after = date_time_ymd(2002, 2, 3);
    let cert = PeerCertificate::from_der(&ca.sign(params)).unwrap();
    let t = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
    assert_eq!(cert.not_before(), t(981_158_400));
    assert_eq!(cert.not_after(), t(1_012_694_400));
    assert!(cert.is_valid_at(t(1_000_000_000)));
    assert!(!cert.is_valid_at(SystemTime::now()));
}

/// `x5t#S256` against `openssl x509 -outform DER | openssl dgst -sha256
/// -binary`, base64url without padding by hand, and a fixed vector.
#[test]
fn the_thumbprint_is_rfc8705_x5t_s256() {
    // SHA-256("abc") (FIPS 180-2 B.1) in base64url, no padding.
    assert_eq!(
        thumbprint_of(b"abc"),
        "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
    let ca = ca();
    let der = ca.workload(BILLING);
    let cert = PeerCertificate::from_der(&der).unwrap();
    assert_eq!(cert.thumbprint(), thumbprint_of(&der));
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(&der)
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("leaf.pem");
    std::fs::write(&path, pem).unwrap();
    let script = format!(
        "openssl x509 -in '{}' -outform DER | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=\\n'",
        path.display()
    );
    match std::process::Command::new("sh")
        .arg("-c")
        .arg(&script)
        .output()
    {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => {
            assert_eq!(String::from_utf8(out.stdout).unwrap(), cert.thumbprint());
        }
        _ => eprintln!("openssl is not available: checked against the fixed vector only"),
    }
}

#[test]
fn absurd_certificates_are_refused_not_panicked_on() {
    let ca = ca();
    let kind = |der: &[u8]| {
        PeerCertificate::from_der(der)
            .map(|_| ())
            .map_err(|e| e.kind())
    };
    let many: Vec<SanType> = (0..65).map(|i| dns(&format!("n{i}.test"))).collect();
    assert_eq!(
        kind(&ca.leaf(many, None)),
        Err(CertificateErrorKind::TooManyNames)
    );
    let just_enough: Vec<SanType> = (0..64).map(|i| dns(&format!("n{i}.test"))).collect();
    assert_eq!(kind(&ca.leaf(just_enough, None)), Ok(()));
    // A name of 1 KiB exactly is read whole; a name with a control
    // character is not used as a name at all.
    let longest = format!("spiffe://demo.local/{}", "a".repeat(1024 - 20));
    assert_eq!(longest.len(), 1024);
    let read = PeerCertificate::from_der(&ca.leaf(vec![uri(&longest)], None)).unwrap();
    assert_eq!(read.identity_name(), Some(longest.as_str()));
    let bell = PeerCertificate::from_der(&ca.leaf(Vec::new(), Some("bad\u{7}name"))).unwrap();
    assert_eq!((bell.common_name(), bell.identity_name()), (None, None));
    let long = format!("spiffe://demo.local/{}", "a".repeat(1100));
    assert_eq!(
        kind(&ca.leaf(vec![uri(&long)], None)),
        Err(CertificateErrorKind::TooLarge)
    );
    assert_eq!(
        kind(&vec![0x30; 16 * 1024 + 1]),
        Err(CertificateErrorKind::TooLarge)
    );
    // 16 KiB exactly is within the bound: read (and refused as not X.509).
    assert_eq!(
        kind(&vec![0x30; 16 * 1024]),
        Err(CertificateErrorKind::Malformed)
    );
    let der = ca.workload(BILLING);
    let mut trailing = der.clone();
    trailing.push(0);
    assert_eq!(kind(&trailing), Err(CertificateErrorKind::Malformed));
    assert_eq!(kind(b""), Err(CertificateErrorKind::Malformed));
    // Every truncation and many single-byte corruptions of a real
    // certificate: an answer each, never a panic.
    for end in 0..der.len() {
        let _ = PeerCertificate::from_der(&der[..end]);
    }
    for i in 0..der.len() {
        let mut bad = der.clone();
        bad[i] ^= 0xa5;
        let _ = PeerCertificate::from_der(&bad);
    }
    let e = PeerCertificate::from_der(b"junk").unwrap_err();
    assert!(!e.to_string().is_empty());
}

// ---------------------------------------------------------------- routes

#[tokio::test]
async fn a_strict_route_with_an_allow_list() {
    let ca = ca();
    let service = Guard::builder(rules().strict())
        .realm("demo")
        .build()
        .unwrap()
        .with_policy(Policy::method(AuthMethod::Mtls).and(Policy::subject_in([BILLING])));
    let billing = ca.workload(BILLING);
    let d = service.check(&tls_req(Some(&billing))).await.unwrap();
    let id = d.identity().unwrap();
    assert_eq!(id.subject(), BILLING);
    assert_eq!(id.method(), AuthMethod::Mtls);
    assert!(
        id.has_scope("billing:write"),
        "the exact rule beats the prefix"
    );
    assert_eq!(id.cert_thumbprint(), Some(thumbprint_of(&billing).as_str()));
    assert!(id.expires_at().is_some());

    let reporting = service
        .check(&tls_req(Some(&ca.workload(REPORTING))))
        .await
        .unwrap_err();
    assert_eq!(reporting.status(), 403);
    assert_eq!(reporting.kind(), AuthErrorKind::Forbidden);

    for (req, why) in [
        (tls_req(None), "no certificate"),
        (SimpleRequest::get("/v1/service"), "plain HTTP"),
        (
            tls_req(Some(&ca.workload("spiffe://other.domain/billing"))),
            "no rule matches",
        ),
        (
            tls_req(Some(&ca.leaf(Vec::new(), None))),
            "no identity name",
        ),
        (tls_req(Some(b"garbage")), "unreadable"),
    ] {
        let r = service.check(&req).await.unwrap_err();
        assert_eq!(r.status(), 401, "{why}");
        assert!(
            www(&r).is_empty(),
            "{why}: a certificates-only route names no scheme"
        );
    }
    // Strict beats an anonymous route: the certificate is required.
    let anon = service.allow_anonymous();
    assert_eq!(anon.check(&tls_req(None)).await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn an_expired_or_early_certificate_is_refused_per_request() {
    let ca = ca();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.subject_alt_names = vec![uri(BILLING)];
    params.not_before = date_time_ymd(2001, 1, 1);
    params.not_after = date_time_ymd(2002, 1, 1);
    let expired = ca.sign(params);
    let guard = Guard::builder(rules()).build().unwrap();
    let r = guard.check(&tls_req(Some(&expired))).await.unwrap_err();
    assert_eq!(
        (r.status(), r.kind()),
        (401, AuthErrorKind::ExpiredCredentials)
    );
    let cert = PeerCertificate::from_der(&ca.workload(BILLING)).unwrap();
    let early = rules().identify(&cert, cert.not_before() - Duration::from_secs(1));
    assert_eq!(early.unwrap_err().reason(), "certificate_not_yet_valid");
}

#[tokio::test]
async fn permissive_in_any_of_falls_through_to_api_keys() {
    let ca = ca();
    let keys = ApiKeys::in_memory(Pepper::generate());
    let (key, _) = keys
        .issue(NewKey::new("acme", Environment::Test))
        .await
        .unwrap();
    let authn = AnyOf::new()
        .or(ApiKeyAuthenticator::new(keys))
        .or(rules().permissive());
    let guard = Guard::builder(authn).realm("demo").build().unwrap();
    let billing = ca.workload(BILLING);
    let with_key = |r: SimpleRequest| r.header("x-api-key", key.expose());

    assert_eq!(
        subject(&guard, &tls_req(Some(&billing))).await,
        Ok(format!("mtls:{BILLING}"))
    );
    assert_eq!(
        subject(&guard, &with_key(tls_req(None))).await,
        Ok("api_key:acme".to_owned()),
        "no certificate: the API key"
    );
    assert_eq!(
        subject(&guard, &with_key(tls_req(Some(&billing)))).await,
        Ok("api_key:acme".to_owned()),
        "a header credential is the credential; the certificate stays for binding"
    );
    // Nothing: 401 naming the schemes of the route's other methods.
    assert_eq!(
        subject(&guard, &tls_req(None)).await,
        Err((401, vec!["Bearer realm=\"demo\"".to_owned()]))
    );
    // A certificate no rule accepts: 401, the other schemes named.
    let stranger = ca.workload("spiffe://elsewhere/x");
    assert_eq!(
        subject(&guard, &tls_req(Some(&stranger))).await,
        Err((401, vec!["Bearer realm=\"demo\"".to_owned()]))
    );
    // Anonymous routes let a request without any credential through...
    let anon = guard.allow_anonymous();
    assert_eq!(
        subject(&anon, &tls_req(None)).await,
        Ok("anonymous".to_owned())
    );
    // ...but a certificate presented is checked.
    assert_eq!(
        subject(&anon, &tls_req(Some(&stranger)))
            .await
            .unwrap_err()
            .0,
        401
    );
    assert_eq!(
        rules().with_mode(MtlsMode::Permissive).mode(),
        MtlsMode::Permissive
    );
}

#[test]
fn rules_refuse_unsafe_configurations() {
    assert!(MtlsAuthenticator::builder().build().is_err(), "no rules");
    for bad in [
        MtlsRule::prefix("spiffe://demo.local"),
        MtlsRule::prefix(""),
        MtlsRule::exact(""),
        MtlsRule::exact("a\nb"),
    ] {
        assert!(
            MtlsAuthenticator::builder()
                .rule(bad.clone())
                .build()
                .is_err(),
            "{bad:?}"
        );
    }
    let twice = MtlsAuthenticator::builder()
        .rule(MtlsRule::exact("a"))
        .rule(MtlsRule::exact("a"))
        .build();
    assert!(twice.is_err());
}

#[test]
fn the_longest_prefix_wins_and_a_rule_can_rename() {
    let ca = ca();
    let m = MtlsAuthenticator::builder()
        .rule(MtlsRule::prefix("spiffe://demo.local/").scopes(["any"]))
        .rule(
            MtlsRule::prefix("spiffe://demo.local/ns/payments/")
                .scopes(["payments"])
                .roles(["payer"]),
        )
        .rule(MtlsRule::exact("partner.example").subject("partner-42"))
        .build()
        .unwrap();
    let now = SystemTime::now();
    let id = |der: Vec<u8>| m.identify(&PeerCertificate::from_der(&der).unwrap(), now);
    let p = id(ca.workload("spiffe://demo.local/ns/payments/sa/api")).unwrap();
    assert!(p.has_scope("payments") && !p.has_scope("any") && p.has_role("payer"));
    let other = id(ca.workload("spiffe://demo.local/ns/web/sa/x")).unwrap();
    assert!(other.has_scope("any"));
    let renamed = id(ca.leaf(vec![dns("partner.example")], None)).unwrap();
    assert_eq!(renamed.subject(), "partner-42");
    let lookalike = id(ca.workload("spiffe://demo.local.evil/x")).unwrap_err();
    assert_eq!(lookalike.reason(), "certificate_not_accepted");
}

// ---------------------------------------------------------------- proxies

fn client_cert_header(der: &[u8]) -> String {
    format!(
        ":{}:",
        base64::engine::general_purpose::STANDARD.encode(der)
    )
}

fn xfcc_header(der: &[u8]) -> String {
    let pem = format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        base64::engine::general_purpose::STANDARD.encode(der)
    );
    let mut encoded = String::new();
    for b in pem.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!(r#"By=spiffe://demo.local/api;Hash=abc;Cert="{encoded}";URI={BILLING}"#)
}

fn from(peer: &str) -> SimpleRequest {
    SimpleRequest::get("/v1/service").peer(peer.parse::<SocketAddr>().unwrap())
}

#[tokio::test]
async fn forwarded_certificates_count_only_from_trusted_proxies() {
    let ca = ca();
    let billing = ca.workload(BILLING);
    let proxies = TrustedProxies::new(["10.0.0.0/8"]).unwrap();
    for (fwd, header, value) in [
        (
            ForwardedCertificates::client_cert(proxies.clone()),
            "client-cert",
            client_cert_header(&billing),
        ),
        (
            ForwardedCertificates::xfcc(proxies.clone()),
            "x-forwarded-client-cert",
            xfcc_header(&billing),
        ),
    ] {
        let guard = Guard::builder(rules().strict())
            .forwarded_certificates(fwd)
            .build()
            .unwrap();
        assert!(guard.sensitive_headers().contains(&header));
        let proxied = from("10.1.2.3:4000").header(header, &value);
        assert_eq!(
            subject(&guard, &proxied).await,
            Ok(format!("mtls:{BILLING}")),
            "{header} from the proxy"
        );
        let forged = from("203.0.113.9:4000").header(header, &value);
        assert_eq!(
            subject(&guard, &forged).await.unwrap_err().0,
            401,
            "{header} from anyone else is ignored"
        );
        // From a client on its own TLS connection, its own certificate
        // counts, not the header.
        let reporting = ca.workload(REPORTING);
        let own = from("203.0.113.9:4000")
            .tls(true)
            .peer_certificates(vec![reporting])
            .header(header, &value);
        assert_eq!(subject(&guard, &own).await, Ok(format!("mtls:{REPORTING}")));
        // From the proxy, no header is no certificate, whatever the
        // proxy's own connection presents.
        let bare = from("10.1.2.3:4000")
            .tls(true)
            .peer_certificates(vec![ca.workload(REPORTING)]);
        assert_eq!(subject(&guard, &bare).await.unwrap_err().0, 401);
        // Garbage from the proxy is refused, not taken for "none".
        let garbage = from("10.1.2.3:4000").header(header, "Cert=\":#:\"");
        assert_eq!(subject(&guard, &garbage).await.unwrap_err().0, 401);
    }
    // Client-Cert twice is not believed.
    let fwd = ForwardedCertificates::client_cert(proxies.clone());
    let twice = from("10.1.2.3:4000")
        .header("client-cert", client_cert_header(&billing))
        .header("client-cert", client_cert_header(&billing));
    assert!(matches!(fwd.resolve(&twice), ClientCertificate::Unreadable));
    // Over the configured cap: unreadable.
    let small = ForwardedCertificates::client_cert(proxies.clone()).max_header_len(100);
    let ok = from("10.1.2.3:4000").header("client-cert", client_cert_header(&billing));
    assert!(matches!(small.resolve(&ok), ClientCertificate::Unreadable));
    assert!(matches!(
        ForwardedCertificates::client_cert(proxies.clone()).resolve(&ok),
        ClientCertificate::Forwarded(_)
    ));
    // XFCC with a Hash but no Cert: no certificate.
    let hash_only = from("10.1.2.3:4000").header("x-forwarded-client-cert", "By=a;Hash=abcd");
    assert!(matches!(
        ForwardedCertificates::xfcc(proxies).resolve(&hash_only),
        ClientCertificate::Absent
    ));
}

// ---------------------------------------------------------------- bound tokens

const HS_SECRET: &[u8] = b"a test secret of at least 32 bytes!!";

fn jwt_authn() -> JwtAuthenticator {
    JwtAuthenticator::builder()
        .issuer(
            JwtIssuer::new("urn:test")
                .audience("api")
                .key(JwtKey::hmac(&Secret::new(HS_SECRET.to_vec()), Algorithm::HS256).unwrap())
                .token_types(["JWT"]),
        )
        .build()
        .unwrap()
}

fn jwt(cnf: serde_json::Value) -> String {
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 600;
    let mut claims =
        serde_json::json!({"iss": "urn:test", "aud": "api", "sub": "partner", "exp": exp});
    if !cnf.is_null() {
        claims["cnf"] = cnf;
    }
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("JWT".to_owned());
    encode(
        &header,
        &claims,
        &EncodingKey::from_secret(HS_SECRET).unwrap(),
    )
    .unwrap()
}

fn bearer(r: SimpleRequest, token: &str) -> SimpleRequest {
    r.header("authorization", format!("Bearer {token}"))
}

#[tokio::test]
async fn a_bound_jwt_needs_its_certificate_even_from_the_cache() {
    let ca = ca();
    let billing = ca.workload(BILLING);
    let reporting = ca.workload(REPORTING);
    let authn = jwt_authn();
    let guard = Guard::builder(authn.clone()).realm("demo").build().unwrap();
    let token = jwt(serde_json::json!({"x5t#S256": thumbprint_of(&billing)}));

    let id = guard
        .check(&bearer(tls_req(Some(&billing)), &token))
        .await
        .unwrap()
        .into_identity()
        .unwrap();
    assert_eq!(id.subject(), "partner");
    assert_eq!(id.cert_thumbprint(), Some(thumbprint_of(&billing).as_str()));
    assert_eq!(authn.signature_checks(), 1);

    let invalid_token = vec!["Bearer realm=\"demo\", error=\"invalid_token\"".to_owned()];
    for (req, why) in [
        (
            bearer(tls_req(Some(&reporting)), &token),
            "another certificate",
        ),
        (bearer(tls_req(None), &token), "no certificate"),
        (bearer(SimpleRequest::get("/"), &token), "plain HTTP"),
        (
            bearer(tls_req(Some(b"junk")), &token),
            "an unreadable certificate",
        ),
    ] {
        assert_eq!(
            subject(&guard, &req).await,
            Err((401, invalid_token.clone())),
            "{why}"
        );
    }
    // Every refusal above came from the verified-token cache: the binding
    // is checked per request, not per verification.
    assert_eq!(authn.signature_checks(), 1, "served from the cache");
    assert!(
        guard
            .check(&bearer(tls_req(Some(&billing)), &token))
            .await
            .is_ok()
    );

    // An unbound token is fine without a certificate; a malformed binding
    // is refused.
    let unbound = jwt(serde_json::Value::Null);
    assert!(guard.check(&bearer(tls_req(None), &unbound)).await.is_ok());
    for cnf in [
        serde_json::json!({"x5t#S256": 7}),
        serde_json::json!({"x5t#S256": "not-base64url!"}),
        serde_json::json!({"x5t#S256": "c2hvcnQ"}),
        serde_json::json!({"x5t#S256": format!("{}=", thumbprint_of(&billing))}),
    ] {
        let t = jwt(cnf.clone());
        assert_eq!(
            subject(&guard, &bearer(tls_req(Some(&billing)), &t)).await,
            Err((401, invalid_token.clone())),
            "{cnf}"
        );
    }
}

#[tokio::test]
async fn a_bound_token_from_a_trusted_proxys_certificate() {
    let ca = ca();
    let billing = ca.workload(BILLING);
    let token = jwt(serde_json::json!({"x5t#S256": thumbprint_of(&billing)}));
    let guard = Guard::builder(jwt_authn())
        .forwarded_certificates(ForwardedCertificates::client_cert(
            TrustedProxies::new(["127.0.0.1"]).unwrap(),
        ))
        .build()
        .unwrap();
    let proxied =
        bearer(from("127.0.0.1:9000"), &token).header("client-cert", client_cert_header(&billing));
    assert!(guard.check(&proxied).await.is_ok());
    let forged =
        bearer(from("127.0.0.2:9000"), &token).header("client-cert", client_cert_header(&billing));
    assert_eq!(guard.check(&forged).await.unwrap_err().status(), 401);
}

#[tokio::test]
async fn all_of_a_strict_certificate_and_a_token_bound_to_it() {
    let ca = ca();
    let billing = ca.workload(BILLING);
    let reporting = ca.workload(REPORTING);
    let guard = Guard::builder(AllOf::new().and(rules().strict()).and(jwt_authn()))
        .realm("demo")
        .build()
        .unwrap();
    let token = jwt(serde_json::json!({"x5t#S256": thumbprint_of(&billing)}));
    assert_eq!(
        subject(&guard, &bearer(tls_req(Some(&billing)), &token)).await,
        Ok(format!("mtls:{BILLING}")),
        "the first member's identity"
    );
    let (status, challenges) = subject(&guard, &bearer(tls_req(Some(&reporting)), &token))
        .await
        .unwrap_err();
    assert_eq!(status, 401);
    assert_eq!(
        challenges,
        ["Bearer realm=\"demo\", error=\"invalid_token\""]
    );
    assert_eq!(
        subject(&guard, &bearer(tls_req(None), &token)).await,
        Err((401, vec!["Bearer realm=\"demo\"".to_owned()])),
        "no certificate: the route's challenges"
    );
}

/// An RFC 7662 endpoint on 127.0.0.1 that says every token is active and
/// bound to `x5t`.
async fn introspection_endpoint(x5t: String, calls: Arc<AtomicUsize>) -> SocketAddr {
    use axum::routing::post;
    let app = axum::Router::new().route(
        "/introspect",
        post(move || {
            let x5t = x5t.clone();
            let calls = calls.clone();
            async move {
                calls.fetch_add(1, Ordering::SeqCst);
                axum::Json(serde_json::json!({
                    "active": true, "sub": "partner", "scope": "read",
                    "cnf": {"x5t#S256": x5t}
                }))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

#[tokio::test]
async fn a_bound_introspected_token_needs_its_certificate_even_from_the_cache() {
    let ca = ca();
    let billing = ca.workload(BILLING);
    let calls = Arc::new(AtomicUsize::new(0));
    let addr = introspection_endpoint(thumbprint_of(&billing), calls.clone()).await;
    let introspection = Introspection::builder(
        format!("http://{addr}/introspect"),
        "rs",
        Secret::new(b"rs-secret".to_vec()),
    )
    .allow_plain_http_loopback()
    .build()
    .unwrap();
    let guard = Guard::builder(introspection).realm("demo").build().unwrap();
    let token = "opaque-token-1";
    let id = guard
        .check(&bearer(tls_req(Some(&billing)), token))
        .await
        .unwrap()
        .into_identity()
        .unwrap();
    assert_eq!(id.method(), AuthMethod::Introspection);
    assert_eq!(id.cert_thumbprint(), Some(thumbprint_of(&billing).as_str()));
    for req in [
        bearer(tls_req(Some(&ca.workload(REPORTING))), token),
        bearer(tls_req(None), token),
        bearer(SimpleRequest::get("/"), token),
    ] {
        let r = guard.check(&req).await.unwrap_err();
        assert_eq!(r.status(), 401);
        assert_eq!(www(&r), ["Bearer realm=\"demo\", error=\"invalid_token\""]);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the cached answer was used"
    );
}
