//! `Credential::from_head`: the `Authorization` header, other credential
//! headers and the query string, from arbitrary heads; plus what
//! `TrustedProxies` reads from forwarded headers (`X-Forwarded-Proto`,
//! `X-Forwarded-For`).
//!
//! Input: the line format of `auth_core_fuzz::Head`; flags `tls`,
//! `peer=<ip[:port]>`, `proxy=<cidr>` (trusted proxies), `name=<header>`
//! (another credential header name).
#![no_main]

use auth_core::credentials::is_b64token;
use auth_core::{Credential, HeaderOnce, RequestHead, TrustedProxies};
use auth_core_fuzz::Head;
use libfuzzer_sys::fuzz_target;

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn is_ascii_ws(b: &u8) -> bool {
    b.is_ascii_whitespace()
}

fuzz_target!(|data: &[u8]| {
    let head = Head::parse(data);
    let req = head.request(<[u8]>::to_vec);
    let mut names: Vec<String> = vec!["authorization".into(), "x-api-key".into()];
    names.extend(head.flag_values("name").map(str::to_ascii_lowercase));

    match Credential::from_head(&req, &names) {
        Ok(Credential::Authorization(a)) => {
            let scheme = a.scheme().as_bytes();
            assert!(!scheme.is_empty() && scheme.iter().all(|b| is_tchar(*b)));
            let value = a.value().expose();
            assert!(!value.first().is_some_and(is_ascii_ws));
            assert!(!value.last().is_some_and(is_ascii_ws));
            if a.is("bearer") {
                assert!(is_b64token(value), "an accepted bearer token is a b64token");
            }
            assert!(matches!(
                req.header_once("authorization"),
                HeaderOnce::Once(_)
            ));
        }
        Ok(Credential::Header { name, value }) => {
            assert!(names.iter().any(|n| n.eq_ignore_ascii_case(name)));
            let v = value.expose();
            assert!(!v.first().is_some_and(is_ascii_ws) && !v.last().is_some_and(is_ascii_ws));
            assert_eq!(req.header_once("authorization"), HeaderOnce::Absent);
        }
        Ok(Credential::None) => {
            for n in &names {
                assert_eq!(req.header_once(n), HeaderOnce::Absent, "{n} was sent");
            }
        }
        Ok(_) => {}
        Err(e) => assert!(matches!(e.status(), 400 | 401), "status {}", e.status()),
    }

    if let Ok(proxies) = TrustedProxies::new(head.flag_values("proxy")) {
        let secure = proxies.transport_is_secure(&req);
        if head.has("tls") {
            assert!(secure);
        } else if req.peer_addr().is_none_or(|p| !proxies.contains(p.ip())) {
            assert!(!secure, "a forwarded proto believed from an untrusted peer");
        }
        // X-Forwarded-For is believed only from a trusted peer.
        let client = proxies.client_ip(&req);
        match req.peer_addr() {
            None => assert_eq!(client, None),
            Some(p) if !proxies.contains(p.ip()) => assert_eq!(client, Some(p.ip())),
            Some(_) => assert!(client.is_some()),
        }
    }
});
