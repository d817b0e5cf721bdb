//! [`Policy`]: pure, synchronous authorization over an [`Identity`].
//!
//! ```
//! use auth_core::{AuthMethod, Identity, Policy, AuthErrorKind};
//!
//! let policy = Policy::scope("reports:read").and(Policy::any_role(["analyst", "admin"]));
//! let alice = Identity::new("alice", AuthMethod::Basic)
//!     .with_scopes(["reports:read"])
//!     .with_roles(["analyst"]);
//! assert!(policy.check(&alice).is_ok());
//!
//! let err = Policy::scope("admin").check(&alice).unwrap_err();
//! assert_eq!(err.kind(), AuthErrorKind::InsufficientScope);
//! assert_eq!(err.required_scope(), Some("admin"));
//! ```

use std::sync::Arc;

use crate::error::{AuthError, AuthErrorKind};
use crate::identity::{AuthMethod, Identity};

type Predicate = Arc<dyn Fn(&Identity) -> bool + Send + Sync>;

/// An authorization rule. Cheap to clone (shared).
#[derive(Clone)]
pub struct Policy(Arc<Node>);

#[derive(Clone)]
enum Node {
    Authenticated,
    AllScopes(Vec<String>),
    AnyScope(Vec<String>),
    AnyRole(Vec<String>),
    Subjects(Vec<String>),
    Method(AuthMethod),
    Predicate(&'static str, Predicate),
    All(Vec<Policy>),
    Any(Vec<Policy>),
    Not(Box<Policy>),
}

impl Policy {
    fn node(node: Node) -> Self {
        Self(Arc::new(node))
    }

    /// Any authenticated caller.
    pub fn authenticated() -> Self {
        Self::node(Node::Authenticated)
    }

    /// The caller must have `scope`.
    pub fn scope(scope: impl Into<String>) -> Self {
        Self::node(Node::AllScopes(vec![scope.into()]))
    }

    /// The caller must have every one of `scopes`.
    pub fn all_scopes<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::node(Node::AllScopes(
            scopes.into_iter().map(Into::into).collect(),
        ))
    }

    /// The caller must have at least one of `scopes`.
    pub fn any_scope<I, S>(scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::node(Node::AnyScope(scopes.into_iter().map(Into::into).collect()))
    }

    /// The caller must have `role`.
    pub fn role(role: impl Into<String>) -> Self {
        Self::node(Node::AnyRole(vec![role.into()]))
    }

    /// The caller must have at least one of `roles`.
    pub fn any_role<I, S>(roles: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::node(Node::AnyRole(roles.into_iter().map(Into::into).collect()))
    }

    /// The caller's subject must be one of `subjects` (compared exactly):
    /// an allow-list of callers, such as the SPIFFE IDs of the workloads
    /// that may call a route. Refused as `Forbidden` (403,
    /// `subject_not_allowed`). Pair it with [`method`](Self::method) when
    /// subjects of different methods could collide (an API key's owner
    /// named like a SPIFFE ID).
    ///
    /// ```
    /// use auth_core::{AuthErrorKind, AuthMethod, Identity, Policy};
    ///
    /// let only_billing = Policy::method(AuthMethod::Mtls)
    ///     .and(Policy::subject_in(["spiffe://demo.local/billing"]));
    /// let billing = Identity::new("spiffe://demo.local/billing", AuthMethod::Mtls);
    /// let reporting = Identity::new("spiffe://demo.local/reporting", AuthMethod::Mtls);
    /// let lookalike = Identity::new("spiffe://demo.local/billing", AuthMethod::ApiKey);
    /// assert!(only_billing.check(&billing).is_ok());
    /// let refused = only_billing.check(&reporting).unwrap_err();
    /// assert_eq!(refused.kind(), AuthErrorKind::Forbidden);
    /// assert_eq!(refused.reason(), "subject_not_allowed");
    /// assert_eq!(only_billing.check(&lookalike).unwrap_err().reason(), "method_not_allowed");
    /// ```
    pub fn subject_in<I, S>(subjects: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self::node(Node::Subjects(
            subjects.into_iter().map(Into::into).collect(),
        ))
    }

    /// The caller must have authenticated with `method` (e.g. only a TLS
    /// client certificate). Refused as `Forbidden` (403,
    /// `method_not_allowed`).
    pub fn method(method: AuthMethod) -> Self {
        Self::node(Node::Method(method))
    }

    /// An application rule; `name` is logged when it refuses.
    pub fn predicate(
        name: &'static str,
        f: impl Fn(&Identity) -> bool + Send + Sync + 'static,
    ) -> Self {
        Self::node(Node::Predicate(name, Arc::new(f)))
    }

    /// Every one of `policies`.
    pub fn all(policies: impl IntoIterator<Item = Policy>) -> Self {
        Self::node(Node::All(policies.into_iter().collect()))
    }

    /// At least one of `policies`.
    pub fn any(policies: impl IntoIterator<Item = Policy>) -> Self {
        Self::node(Node::Any(policies.into_iter().collect()))
    }

    /// The opposite of `policy`.
    #[allow(clippy::should_implement_trait)] // a constructor, not `!`
    pub fn not(policy: Policy) -> Self {
        Self::node(Node::Not(Box::new(policy)))
    }

    /// This and `other`.
    pub fn and(self, other: Policy) -> Self {
        Self::all([self, other])
    }

    /// This or `other`.
    pub fn or(self, other: Policy) -> Self {
        Self::any([self, other])
    }

    /// Checks `identity`. A missing scope is `InsufficientScope` (403 with
    /// the scopes asked for); anything else is `Forbidden` (403).
    pub fn check(&self, identity: &Identity) -> Result<(), AuthError> {
        match &*self.0 {
            Node::Authenticated => Ok(()),
            Node::AllScopes(scopes) => {
                if scopes.iter().all(|s| identity.has_scope(s)) {
                    Ok(())
                } else {
                    Err(AuthError::insufficient_scope(scopes))
                }
            }
            Node::AnyScope(scopes) => {
                if scopes.iter().any(|s| identity.has_scope(s)) {
                    Ok(())
                } else {
                    Err(AuthError::insufficient_scope(scopes))
                }
            }
            Node::AnyRole(roles) => {
                if roles.iter().any(|r| identity.has_role(r)) {
                    Ok(())
                } else {
                    Err(forbidden("missing_role"))
                }
            }
            Node::Subjects(subjects) => {
                if subjects.iter().any(|s| s == identity.subject()) {
                    Ok(())
                } else {
                    Err(forbidden("subject_not_allowed"))
                }
            }
            Node::Method(method) => {
                if identity.method() == *method {
                    Ok(())
                } else {
                    Err(forbidden("method_not_allowed"))
                }
            }
            Node::Predicate(name, f) => {
                if f(identity) {
                    Ok(())
                } else {
                    Err(forbidden(name))
                }
            }
            Node::All(ps) => ps.iter().try_for_each(|p| p.check(identity)),
            Node::Any(ps) => {
                let mut first_err = None;
                for p in ps {
                    match p.check(identity) {
                        Ok(()) => return Ok(()),
                        Err(e) => {
                            first_err.get_or_insert(e);
                        }
                    }
                }
                Err(first_err.unwrap_or_else(|| forbidden("empty_any")))
            }
            Node::Not(p) => match p.check(identity) {
                Ok(()) => Err(forbidden("not")),
                Err(_) => Ok(()),
            },
        }
    }
}

fn forbidden(reason: &'static str) -> AuthError {
    AuthError::new(AuthErrorKind::Forbidden).with_reason(reason)
}

impl std::fmt::Debug for Policy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            Node::Authenticated => f.write_str("Authenticated"),
            Node::AllScopes(s) => f.debug_tuple("AllScopes").field(s).finish(),
            Node::AnyScope(s) => f.debug_tuple("AnyScope").field(s).finish(),
            Node::AnyRole(r) => f.debug_tuple("AnyRole").field(r).finish(),
            Node::Subjects(s) => f.debug_tuple("Subjects").field(s).finish(),
            Node::Method(m) => f.debug_tuple("Method").field(m).finish(),
            Node::Predicate(n, _) => f.debug_tuple("Predicate").field(n).finish(),
            Node::All(p) => f.debug_tuple("All").field(p).finish(),
            Node::Any(p) => f.debug_tuple("Any").field(p).finish(),
            Node::Not(p) => f.debug_tuple("Not").field(p).finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::identity::AuthMethod;

    fn id() -> Identity {
        Identity::new("u", AuthMethod::ApiKey)
            .with_scopes(["a", "b"])
            .with_roles(["r"])
    }

    #[test]
    fn combinators() {
        let i = id();
        assert!(Policy::all_scopes(["a", "b"]).check(&i).is_ok());
        assert_eq!(
            Policy::all_scopes(["a", "c"])
                .check(&i)
                .unwrap_err()
                .required_scope(),
            Some("a c")
        );
        assert!(Policy::any_scope(["c", "b"]).check(&i).is_ok());
        assert!(Policy::any_scope(["c", "d"]).check(&i).is_err());
        assert!(Policy::role("r").check(&i).is_ok());
        assert_eq!(
            Policy::role("x").check(&i).unwrap_err().kind(),
            AuthErrorKind::Forbidden
        );
        assert!(Policy::not(Policy::role("x")).check(&i).is_ok());
        assert!(Policy::not(Policy::role("r")).check(&i).is_err());
        assert!(Policy::scope("z").or(Policy::role("r")).check(&i).is_ok());
        assert!(Policy::scope("a").and(Policy::role("x")).check(&i).is_err());
        assert!(
            Policy::predicate("subject_is_u", |i| i.subject() == "u")
                .check(&i)
                .is_ok()
        );
        let e = Policy::predicate("never", |_| false).check(&i).unwrap_err();
        assert_eq!(e.reason(), "never");
        assert!(Policy::any([]).check(&i).is_err());
        assert!(Policy::subject_in(["x", "u"]).check(&i).is_ok());
        assert_eq!(
            Policy::subject_in(["x"]).check(&i).unwrap_err().reason(),
            "subject_not_allowed"
        );
        assert!(Policy::subject_in(Vec::<String>::new()).check(&i).is_err());
        assert!(Policy::method(AuthMethod::ApiKey).check(&i).is_ok());
        let e = Policy::method(AuthMethod::Mtls).check(&i).unwrap_err();
        assert_eq!(
            (e.kind(), e.reason()),
            (AuthErrorKind::Forbidden, "method_not_allowed")
        );
        assert!(Policy::all([]).check(&i).is_ok());
    }
}
