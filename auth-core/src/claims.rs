//! The OAuth claims of a verified token, read into an [`Identity`]: one
//! mapping for every token-based method (a JWT's payload, an RFC 7662
//! introspection response).
//!
//! ```
//! use auth_core::claims::ClaimsMapping;
//! use auth_core::{AuthMethod, Claims};
//! use serde_json::json;
//!
//! let claims: Claims = serde_json::from_value(json!({
//!     "sub": "user-1",
//!     "scope": "reports:read reports:write",
//!     "roles": ["analyst"],
//!     "client_id": "dashboard",
//!     "act": {"sub": "gateway"},
//!     "cnf": {"x5t#S256": "bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"},
//!     "exp": 4102444800u64,
//! }))
//! .unwrap();
//! let mapping = ClaimsMapping::new().roles_claim("roles");
//! let id = mapping.to_identity(&claims, AuthMethod::Jwt);
//! assert_eq!(id.subject(), "user-1");
//! assert!(id.has_scope("reports:write"));
//! assert!(id.has_role("analyst"));
//! assert_eq!(id.client_id(), Some("dashboard"));
//! assert_eq!(id.actors(), ["gateway"]);
//! assert_eq!(id.cert_thumbprint(), Some("bwcK0esc3ACC3DB2Y5_lESsXE8o9ltc05O89jdN-dg2"));
//! assert!(id.expires_at().is_some());
//! ```
//!
//! | claim | becomes |
//! | --- | --- |
//! | `sub` | the subject (empty when absent) |
//! | `scope`, `scp` | scopes, from both |
//! | the roles claim, if one is configured | roles |
//! | `client_id`, or `azp` when there is no `client_id` | the client id |
//! | `act` (RFC 8693), nested | the actor chain, current actor first |
//! | `cnf.x5t#S256` (RFC 8705) | the certificate thumbprint |
//! | `exp` | the expiry |
//!
//! Scopes and roles are a space-separated string or an array of strings
//! (other members of the array are skipped). A claim of another JSON type
//! is ignored, as if absent: mapping never fails.
//!
//! # Certificate-bound tokens (RFC 8705 §3)
//!
//! A token whose `cnf` carries `x5t#S256` may only be used over a
//! connection presenting that certificate.
//! [`check_certificate_binding`] compares it with the request's client
//! certificate; the JWT and introspection authenticators run it on every
//! request, after their caches (a cached verification says nothing about
//! the certificate of the request at hand).

use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;
use subtle::ConstantTimeEq as _;

use crate::authenticate::AuthRequest;
use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Claims, Identity};
use crate::rejection::Challenge;

/// How verified claims become an [`Identity`]: the standard OAuth claims,
/// plus an optional claim that lists roles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClaimsMapping {
    roles_claim: Option<String>,
}

impl ClaimsMapping {
    /// The standard claims only: no roles.
    pub fn new() -> Self {
        Self::default()
    }

    /// The claim that lists roles (an array of strings or a space-separated string).
    pub fn roles_claim(mut self, claim: impl Into<String>) -> Self {
        self.roles_claim = Some(claim.into());
        self
    }

    /// The identity these claims describe, authenticated by `method`. The
    /// claims themselves are not attached
    /// ([`Identity::with_claims`] does that); `exp` sets the expiry only
    /// when it is a whole number of seconds that a `SystemTime` can hold.
    pub fn to_identity(&self, claims: &Claims, method: AuthMethod) -> Identity {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let mut scopes = string_list(claims.get("scope"));
        scopes.extend(string_list(claims.get("scp")));
        let mut id = Identity::new(sub, method)
            .with_scopes(scopes)
            .with_actors(actors(claims));
        if let Some(at) = claims
            .get("exp")
            .and_then(Value::as_u64)
            .and_then(|exp| UNIX_EPOCH.checked_add(Duration::from_secs(exp)))
        {
            id = id.with_expiry(at);
        }
        if let Some(claim) = &self.roles_claim {
            id = id.with_roles(string_list(claims.get(claim)));
        }
        if let Some(c) = claims
            .get("client_id")
            .or_else(|| claims.get("azp"))
            .and_then(Value::as_str)
        {
            id = id.with_client_id(c);
        }
        if let Some(t) = claims
            .get("cnf")
            .and_then(|c| c.get("x5t#S256"))
            .and_then(Value::as_str)
        {
            id = id.with_cert_thumbprint(t);
        }
        id
    }
}

/// Checks that a certificate-bound token (RFC 8705 §3: `cnf` with
/// `x5t#S256`) arrives with its certificate: the SHA-256 of the request's
/// client certificate (its own TLS connection's, or one a trusted proxy
/// forwarded, see [`AuthRequest::client_certificate_sha256`]) must equal
/// the thumbprint, compared in constant time. A token without `cnf`, or
/// whose `cnf` binds it to something else (a DPoP key), passes.
///
/// Refused with `401` and `Bearer error="invalid_token"`: a bound token
/// with no certificate (a plain connection, a TLS connection without one),
/// with another certificate, or with a `cnf` / `x5t#S256` that is not
/// well-formed (not an object, not a base64url SHA-256).
///
/// It reads `identity`'s claims when it has them (the JWT and
/// introspection identities do), else its
/// [`cert_thumbprint`](Identity::cert_thumbprint).
///
/// ```
/// use auth_core::claims::{ClaimsMapping, check_certificate_binding};
/// use auth_core::mtls::thumbprint_of;
/// use auth_core::{AuthMethod, AuthRequest, Claims, Credential, SimpleRequest};
/// use std::sync::Arc;
///
/// let key = rcgen::KeyPair::generate().unwrap();
/// let cert = rcgen::CertificateParams::new(vec!["client.test".to_owned()])
///     .unwrap()
///     .self_signed(&key)
///     .unwrap()
///     .der()
///     .to_vec();
/// let claims: Claims = serde_json::from_value(serde_json::json!({
///     "sub": "svc", "cnf": {"x5t#S256": thumbprint_of(&cert)}
/// })).unwrap();
/// let id = ClaimsMapping::new().to_identity(&claims, AuthMethod::Jwt).with_claims(Arc::new(claims));
///
/// let with_it = SimpleRequest::get("/").tls(true).peer_certificates(vec![cert]);
/// let without = SimpleRequest::get("/").tls(true);
/// for (head, ok) in [(&with_it, true), (&without, false)] {
///     let cred = Credential::from_head(head, &["authorization"]).unwrap();
///     let req = AuthRequest::new(head, &cred);
///     assert_eq!(check_certificate_binding(&id, &req).is_ok(), ok);
/// }
/// ```
pub fn check_certificate_binding(
    identity: &Identity,
    req: &AuthRequest<'_>,
) -> Result<(), AuthError> {
    let bound = match identity.claims() {
        Some(claims) => match claims.get("cnf") {
            None => None,
            Some(Value::Object(cnf)) => match cnf.get("x5t#S256") {
                None => None,
                Some(Value::String(t)) => Some(t.as_str()),
                Some(_) => return Err(unbound("cnf_malformed")),
            },
            Some(_) => return Err(unbound("cnf_malformed")),
        },
        None => identity.cert_thumbprint(),
    };
    let Some(bound) = bound else {
        return Ok(());
    };
    let want: [u8; 32] = URL_SAFE_NO_PAD
        .decode(bound)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| unbound("cnf_malformed"))?;
    let Some(got) = req.client_certificate_sha256() else {
        return Err(unbound("certificate_binding_missing"));
    };
    if bool::from(want.ct_eq(&got)) {
        Ok(())
    } else {
        Err(unbound("certificate_binding_mismatch"))
    }
}

fn unbound(reason: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::InvalidCredentials)
        .with_challenge(Challenge::bearer_error("invalid_token"))
        .with_reason(reason)
        .with_detail("the token is bound to a client certificate this request does not present")
}

fn string_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::String(s)) => s
            .split(' ')
            .filter(|x| !x.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    }
}

fn actors(claims: &Claims) -> Vec<String> {
    let mut out = Vec::new();
    let mut act = claims.get("act");
    while let Some(Value::Object(a)) = act {
        if let Some(sub) = a.get("sub").and_then(Value::as_str) {
            out.push(sub.to_owned());
        }
        act = a.get("act");
        if out.len() > 16 {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use serde_json::json;

    use super::*;

    fn claims(v: Value) -> Claims {
        match v {
            Value::Object(m) => m,
            other => panic!("not an object: {other}"),
        }
    }

    fn map(v: Value) -> Identity {
        ClaimsMapping::new().to_identity(&claims(v), AuthMethod::Jwt)
    }

    fn scopes(id: &Identity) -> Vec<&str> {
        id.scopes().collect()
    }

    fn roles(id: &Identity) -> Vec<&str> {
        id.roles().collect()
    }

    #[test]
    fn sub_is_the_subject() {
        assert_eq!(map(json!({"sub": "user-1"})).subject(), "user-1");
    }

    #[test]
    fn a_missing_or_mistyped_sub_is_an_empty_subject() {
        assert_eq!(map(json!({})).subject(), "");
        assert_eq!(map(json!({"sub": 42})).subject(), "");
        assert_eq!(map(json!({"sub": ["a"]})).subject(), "");
    }

    #[test]
    fn the_method_is_the_callers() {
        let id = ClaimsMapping::new().to_identity(&claims(json!({})), AuthMethod::Introspection);
        assert_eq!(id.method(), AuthMethod::Introspection);
    }

    #[test]
    fn scope_is_a_space_separated_string() {
        let id = map(json!({"scope": " read  write "}));
        assert_eq!(scopes(&id), ["read", "write"]);
    }

    #[test]
    fn scp_as_an_array_of_strings() {
        let id = map(json!({"scp": ["read", "write"]}));
        assert_eq!(scopes(&id), ["read", "write"]);
    }

    #[test]
    fn scp_as_a_space_separated_string() {
        let id = map(json!({"scp": "read write"}));
        assert_eq!(scopes(&id), ["read", "write"]);
    }

    #[test]
    fn scope_and_scp_are_merged() {
        let id = map(json!({"scope": "read", "scp": ["write", "read"]}));
        assert_eq!(scopes(&id), ["read", "write"]);
    }

    #[test]
    fn mistyped_scopes_are_none() {
        for v in [json!(42), json!(true), json!(null), json!({"read": true})] {
            let id = map(json!({"scope": v.clone(), "scp": v.clone()}));
            assert_eq!(scopes(&id), Vec::<&str>::new(), "{v}");
        }
        // Within an array, only the strings count.
        let id = map(json!({"scp": ["read", 1, null, ["write"], "admin"]}));
        assert_eq!(scopes(&id), ["admin", "read"]);
    }

    #[test]
    fn aud_like_string_lists() {
        let list = |v: Value| string_list(Some(&v));
        assert_eq!(list(json!("api")), ["api"]);
        assert_eq!(
            list(json!(["https://a.example", "https://b.example"])),
            ["https://a.example", "https://b.example"]
        );
        assert_eq!(list(json!(["api", 7, {"x": 1}])), ["api"]);
        assert_eq!(list(json!("")), Vec::<String>::new());
        assert_eq!(list(json!([])), Vec::<String>::new());
        assert_eq!(list(json!(12)), Vec::<String>::new());
        assert_eq!(string_list(None), Vec::<String>::new());
    }

    #[test]
    fn roles_come_from_the_configured_claim_only() {
        let c = claims(json!({"roles": ["admin", "ops"], "groups": "eng ops"}));
        let none = ClaimsMapping::new().to_identity(&c, AuthMethod::Jwt);
        assert_eq!(roles(&none), Vec::<&str>::new());
        let array = ClaimsMapping::new()
            .roles_claim("roles")
            .to_identity(&c, AuthMethod::Jwt);
        assert_eq!(roles(&array), ["admin", "ops"]);
        let string = ClaimsMapping::new()
            .roles_claim("groups")
            .to_identity(&c, AuthMethod::Jwt);
        assert_eq!(roles(&string), ["eng", "ops"]);
        let mistyped = ClaimsMapping::new()
            .roles_claim("roles")
            .to_identity(&claims(json!({"roles": 3})), AuthMethod::Jwt);
        assert_eq!(roles(&mistyped), Vec::<&str>::new());
    }

    #[test]
    fn client_id_then_azp() {
        assert_eq!(map(json!({"client_id": "c1"})).client_id(), Some("c1"));
        assert_eq!(map(json!({"azp": "c2"})).client_id(), Some("c2"));
        let both = map(json!({"client_id": "c1", "azp": "c2"}));
        assert_eq!(both.client_id(), Some("c1"));
        assert_eq!(map(json!({})).client_id(), None);
        // A mistyped `client_id` is no client id; `azp` is not read then.
        let mistyped = map(json!({"client_id": 5, "azp": "c2"}));
        assert_eq!(mistyped.client_id(), None);
    }

    #[test]
    fn nested_act_is_the_actor_chain() {
        let id = map(json!({
            "sub": "user-1",
            "act": {"sub": "svc-b", "act": {"sub": "svc-c", "act": {"sub": "svc-d"}}}
        }));
        assert_eq!(id.actors(), ["svc-b", "svc-c", "svc-d"]);
        // An actor without a string `sub` is skipped; the chain goes on.
        let id = map(json!({"act": {"sub": 1, "act": {"sub": "svc-c"}}}));
        assert_eq!(id.actors(), ["svc-c"]);
        // The chain stops at anything but an object.
        let id = map(json!({"act": {"sub": "svc-b", "act": "svc-c"}}));
        assert_eq!(id.actors(), ["svc-b"]);
        assert!(map(json!({"act": "svc-b"})).actors().is_empty());
        assert!(map(json!({"act": ["svc-b"]})).actors().is_empty());
        assert!(map(json!({})).actors().is_empty());
    }

    #[test]
    fn a_deep_act_chain_is_cut() {
        let mut act = json!({"sub": "a-0"});
        for i in 1..40 {
            act = json!({"sub": format!("a-{i}"), "act": act});
        }
        let id = map(json!({"act": act}));
        assert_eq!(id.actors().len(), 17);
        assert_eq!(id.actors()[0], "a-39");
    }

    #[test]
    fn cnf_x5t_s256_is_the_certificate_thumbprint() {
        let id = map(json!({"cnf": {"x5t#S256": "abc"}}));
        assert_eq!(id.cert_thumbprint(), Some("abc"));
        for cnf in [
            json!({"jkt": "abc"}),
            json!({"x5t#S256": 1}),
            json!("abc"),
            json!(["abc"]),
        ] {
            assert_eq!(
                map(json!({"cnf": cnf.clone()})).cert_thumbprint(),
                None,
                "{cnf}"
            );
        }
    }

    #[test]
    fn exp_is_the_expiry() {
        let id = map(json!({"exp": 4_102_444_800u64}));
        assert_eq!(
            id.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(4_102_444_800))
        );
        for exp in [
            json!("4102444800"),
            json!(-1),
            json!(1.5),
            json!(null),
            json!(u64::MAX),
        ] {
            assert_eq!(map(json!({"exp": exp.clone()})).expires_at(), None, "{exp}");
        }
        assert_eq!(map(json!({})).expires_at(), None::<SystemTime>);
    }

    #[test]
    fn the_claims_are_not_attached() {
        assert!(map(json!({"sub": "user-1"})).claims().is_none());
    }
}
