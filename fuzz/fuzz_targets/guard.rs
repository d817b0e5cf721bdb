//! The whole guard (API keys, Basic, JWT) on arbitrary heads: any header
//! names and values, the query, TLS or not, a peer that may be a trusted
//! proxy (`10.0.0.0/8`). Every refusal must be a well-formed rejection;
//! every acceptance must name a known caller.
//!
//! Input: the line format of `auth_core_fuzz::Head`; flags `tls`,
//! `peer=<ip[:port]>`, `anon` (anonymous allowed), `scope=<s>` or
//! `role=<r>` (the route's policy). Values may be templates (`@basic:`,
//! `@jwt:`, see `auth_core_fuzz::expand`) that reach past the first checks;
//! the fuzz API keys are fixed, so seeds carry them literally.
#![no_main]

use auth_core::{AuthMethod, Policy};
use auth_core_fuzz::{Head, block_on, check_rejection, expand, guard};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let head = Head::parse(data);
    let req = head.request(expand);
    let base = guard();
    let anonymous = head.has("anon");
    let mut g = if anonymous {
        base.allow_anonymous()
    } else {
        base.clone()
    };
    if let Some(s) = head.flag_values("scope").next() {
        g = g.with_policy(Policy::scope(s.to_owned()));
    } else if let Some(r) = head.flag_values("role").next() {
        g = g.with_policy(Policy::role(r.to_owned()));
    }
    match block_on(g.check(&req)) {
        Ok(decision) => match decision.identity() {
            None => assert!(anonymous, "allowed without a caller"),
            Some(id) => match id.method() {
                // Basic never gets a hashing permit here.
                AuthMethod::ApiKey => {
                    assert_eq!(id.subject(), "fuzz");
                    assert_eq!(id.key_id(), Some("FuzzKeyId000"));
                }
                AuthMethod::Jwt => assert!(id.claims().is_some()),
                m => panic!("accepted by {m:?}"),
            },
        },
        Err(rejection) => check_rejection(&rejection),
    }
});
