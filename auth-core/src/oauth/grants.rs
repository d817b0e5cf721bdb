//! The token endpoint's grants: client credentials, authorization code,
//! refresh token (rotated, with reuse detection) and token exchange.

use std::time::{Duration, SystemTime};

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::client::GrantType;
use super::pkce;
use super::server::{
    AuthorizationServer, Grant, OAuthResponse, REFRESH_PREFIX, TokenRequest, now_secs, random_b64,
    unavailable,
};
use super::{OAuthError, OAuthErrorCode};
use crate::store::{Family, Redemption, Rotation};

/// RFC 8693 token type URIs.
const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";

/// The length of a family id: 16 random bytes, base64url.
const FAMILY_LEN: usize = 22;

fn invalid_grant(description: &'static str) -> OAuthError {
    OAuthError::new(OAuthErrorCode::InvalidGrant, description)
}

/// A new refresh token of `family`, and its hash.
fn new_refresh(family: &str) -> (String, [u8; 32]) {
    let token = format!("{REFRESH_PREFIX}{family}.{}", random_b64(32));
    let hash = Sha256::digest(&token).into();
    (token, hash)
}

/// The family and hash of a refresh token, if `token` has a refresh
/// token's shape.
pub(super) fn parse_refresh(token: &str) -> Option<(&str, [u8; 32])> {
    let rest = token.strip_prefix(REFRESH_PREFIX)?;
    let (family, secret) = rest.split_once('.')?;
    (family.len() == FAMILY_LEN && secret.len() == 43)
        .then(|| (family, Sha256::digest(token).into()))
}

/// The scopes of `requested` (space-separated) if each is in `allowed`;
/// all of `allowed` when nothing is requested.
fn narrow(allowed: &str, requested: Option<&str>) -> Result<String, OAuthError> {
    let Some(requested) = requested else {
        return Ok(allowed.to_owned());
    };
    let mut out: Vec<&str> = Vec::new();
    for s in requested.split(' ').filter(|s| !s.is_empty()) {
        if !allowed.split(' ').any(|a| a == s) {
            return Err(OAuthError::new(
                OAuthErrorCode::InvalidScope,
                "a requested scope exceeds what was granted",
            ));
        }
        if !out.contains(&s) {
            out.push(s);
        }
    }
    Ok(out.join(" "))
}

/// `unauthorized_client` for a public client.
fn confidential_only(
    client: &super::client::Client,
    description: &'static str,
) -> Result<(), OAuthError> {
    if client.is_confidential() {
        Ok(())
    } else {
        Err(OAuthError::new(
            OAuthErrorCode::UnauthorizedClient,
            description,
        ))
    }
}

impl AuthorizationServer {
    /// RFC 6749 §4.4, for confidential clients.
    pub(super) async fn client_credentials(
        &self,
        req: &TokenRequest<'_>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (client, form) = (req.client, req.form);
        confidential_only(client, "client_credentials needs a confidential client")?;
        let scope = client.grant_scopes(form.get("scope"))?.join(" ");
        let p = self.prepare(Grant {
            client,
            subject: client.id(),
            scope,
            audience: None,
            auth_time: None,
            act: None,
            not_after: None,
            cnf: req.cnf.clone(),
        });
        self.issue(p, None, None).await
    }

    /// RFC 6749 §4.1.3 with RFC 7636 §4.5: the code, once, by the client it
    /// was issued to, with the same redirect URI and the PKCE verifier. A
    /// code used again revokes what its first use issued.
    pub(super) async fn authorization_code(
        &self,
        req: &TokenRequest<'_>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (client, form) = (req.client, req.form);
        let code = form
            .get("code")
            .ok_or_else(|| OAuthError::invalid_request("code is required"))?;
        let hash: [u8; 32] = Sha256::digest(code).into();
        let grant = match self
            .inner
            .grants
            .redeem_code(&hash)
            .await
            .map_err(|_| unavailable())?
        {
            Redemption::Fresh(grant) => grant,
            Redemption::Spent { family } => {
                let issued = self
                    .inner
                    .grants
                    .revoke_family(&family, None)
                    .await
                    .map_err(|_| unavailable())?;
                self.revoke_issued(&issued).await?;
                tracing::warn!(
                    target: "auth_core::oauth",
                    client = client.id(),
                    "authorization code used twice: what it issued is revoked"
                );
                return Err(invalid_grant("the code was used before"));
            }
            Redemption::Unknown => return Err(invalid_grant("the code is not valid")),
        };
        if grant.client_id != client.id() {
            return Err(invalid_grant("the code was issued to another client"));
        }
        let redirect_ok = match (&grant.redirect_uri, form.get("redirect_uri")) {
            (Some(bound), Some(sent)) => bound == sent,
            (Some(_), None) => false,
            (None, sent) => sent.is_none_or(|s| client.redirect_uri_matches(s)),
        };
        if !redirect_ok {
            return Err(invalid_grant(
                "redirect_uri differs from the authorization request's",
            ));
        }
        let Some(verifier) = form.get("code_verifier") else {
            // A challenge was bound (every code has one): a request without
            // the verifier is a downgrade.
            return Err(invalid_grant("code_verifier is required"));
        };
        pkce::verify(verifier, &grant.challenge)?;

        let p = self.prepare(Grant {
            client,
            subject: &grant.subject,
            scope: grant.scope.clone(),
            audience: None,
            auth_time: Some(grant.auth_time),
            act: None,
            not_after: None,
            cnf: req.cnf.clone(),
        });
        let refresh = client
            .allowed_grants()
            .any(|g| g == GrantType::RefreshToken)
            .then(|| new_refresh(&grant.family));
        let started = self
            .inner
            .grants
            .start_family(
                &grant.family,
                Family {
                    client_id: client.id().to_owned(),
                    subject: grant.subject.clone(),
                    scope: grant.scope.clone(),
                    auth_time: grant.auth_time,
                },
                refresh.as_ref().map(|(_, h)| *h),
                p.issued.clone(),
                SystemTime::now() + self.inner.refresh_ttl,
            )
            .await
            .map_err(|_| unavailable())?;
        if !started {
            // The code was used again while this request ran.
            return Err(invalid_grant("the code was used before"));
        }
        self.issue(p, refresh.as_ref().map(|(t, _)| t.as_str()), None)
            .await
    }

    /// RFC 6749 §6: a new access token and a new refresh token for the
    /// current one, which is spent. A spent one presented again revokes the
    /// whole family and every access token it issued (RFC 9700 §4.14.2).
    pub(super) async fn refresh(
        &self,
        req: &TokenRequest<'_>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (client, form) = (req.client, req.form);
        let token = form
            .get("refresh_token")
            .ok_or_else(|| OAuthError::invalid_request("refresh_token is required"))?;
        let Some((id, presented)) = parse_refresh(token) else {
            return Err(invalid_grant("the refresh token is not valid"));
        };
        let family = self
            .inner
            .grants
            .family(id)
            .await
            .map_err(|_| unavailable())?
            .filter(|f| f.client_id == client.id())
            .ok_or_else(|| invalid_grant("the refresh token is not valid"))?;
        // Narrow before spending: a refused scope leaves the token usable.
        let scope = narrow(&family.scope, form.get("scope"))?;
        let p = self.prepare(Grant {
            client,
            subject: &family.subject,
            scope,
            audience: None,
            auth_time: Some(family.auth_time),
            act: None,
            not_after: None,
            cnf: req.cnf.clone(),
        });
        let (next, next_hash) = new_refresh(id);
        match self
            .inner
            .grants
            .rotate(id, client.id(), presented, next_hash, p.issued.clone())
            .await
            .map_err(|_| unavailable())?
        {
            Rotation::Rotated(_) => self.issue(p, Some(&next), None).await,
            Rotation::Reused(issued) => {
                self.revoke_issued(&issued).await?;
                tracing::warn!(
                    target: "auth_core::oauth",
                    client = client.id(),
                    "spent refresh token presented again: its family is revoked"
                );
                Err(invalid_grant("the refresh token was used before"))
            }
            Rotation::Invalid => Err(invalid_grant("the refresh token is not valid")),
        }
    }

    /// RFC 7009 for a refresh token: its family, if it belongs to
    /// `client_id`, with the access tokens it issued.
    pub(super) async fn revoke_refresh(
        &self,
        client_id: &str,
        family: &str,
        hash: [u8; 32],
    ) -> Result<(), OAuthError> {
        let owned = self
            .inner
            .grants
            .family(family)
            .await
            .map_err(|_| unavailable())?
            .is_some_and(|f| f.client_id == client_id);
        if owned {
            let issued = self
                .inner
                .grants
                .revoke_family(family, Some(hash))
                .await
                .map_err(|_| unavailable())?;
            self.revoke_issued(&issued).await?;
        }
        Ok(())
    }

    /// RFC 8693: a token for the subject of `subject_token`, narrowed in
    /// scope and lifetime, for a known audience, with `act` naming the
    /// actor (the `actor_token`'s subject, or else the client).
    pub(super) async fn exchange(
        &self,
        req: &TokenRequest<'_>,
    ) -> Result<OAuthResponse, OAuthError> {
        let (client, form) = (req.client, req.form);
        confidential_only(client, "token exchange needs a confidential client")?;
        let token_type_ok = |t: Option<&str>| matches!(t, Some(ACCESS_TOKEN_TYPE | JWT_TOKEN_TYPE));
        let subject_token = form
            .get("subject_token")
            .ok_or_else(|| OAuthError::invalid_request("subject_token is required"))?;
        if !token_type_ok(form.get("subject_token_type")) {
            return Err(OAuthError::invalid_request(
                "subject_token_type must be an access token or a JWT",
            ));
        }
        if form
            .get("requested_token_type")
            .is_some_and(|t| !token_type_ok(Some(t)))
        {
            return Err(OAuthError::invalid_request(
                "only access tokens can be requested",
            ));
        }
        // RFC 8693 §2.2.2: an invalid subject or actor token is
        // `invalid_request`.
        let subject = self
            .live_claims(subject_token)
            .await?
            .ok_or_else(|| OAuthError::invalid_request("the subject_token is not valid"))?;
        let actor =
            match form.get("actor_token") {
                Some(t) => {
                    if !token_type_ok(form.get("actor_token_type")) {
                        return Err(OAuthError::invalid_request(
                            "actor_token_type must be an access token or a JWT",
                        ));
                    }
                    Some(self.live_claims(t).await?.ok_or_else(|| {
                        OAuthError::invalid_request("the actor_token is not valid")
                    })?)
                }
                None if form.get("actor_token_type").is_some() => {
                    return Err(OAuthError::invalid_request(
                        "actor_token_type without actor_token",
                    ));
                }
                None => None,
            };
        let mut targets = [form.get("audience"), form.get("resource")]
            .into_iter()
            .flatten();
        let audience = match (targets.next(), targets.next()) {
            (Some(a), Some(b)) if a != b => {
                return Err(OAuthError::new(
                    OAuthErrorCode::InvalidTarget,
                    "audience and resource name different targets",
                ));
            }
            (Some(a), _) => {
                if !self.inner.audiences.iter().any(|k| k == a) {
                    return Err(OAuthError::new(
                        OAuthErrorCode::InvalidTarget,
                        "the requested audience is not known",
                    ));
                }
                Some(a)
            }
            (None, _) => None,
        };
        // A subject token bound to a certificate is exchanged only by a
        // request with that certificate (RFC 8705 §3).
        if let Some(bound) = subject
            .get("cnf")
            .and_then(|c| c.get("x5t#S256"))
            .and_then(Value::as_str)
        {
            use subtle::ConstantTimeEq as _;
            let same = req
                .cert
                .as_deref()
                .is_some_and(|c| bool::from(c.as_bytes().ct_eq(bound.as_bytes())));
            if !same {
                return Err(OAuthError::invalid_request(
                    "the subject_token is bound to another certificate",
                ));
            }
        }
        let subject_scope = subject.get("scope").and_then(Value::as_str).unwrap_or("");
        let scope = narrow(subject_scope, form.get("scope"))?;
        let sub = subject
            .get("sub")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuthError::invalid_request("the subject_token has no subject"))?;
        let actor_sub = match &actor {
            Some(a) => a
                .get("sub")
                .and_then(Value::as_str)
                .ok_or_else(|| OAuthError::invalid_request("the actor_token has no subject"))?,
            None => client.id(),
        };
        // A chain of delegation nests: the subject token's own actor
        // becomes the new actor's `act` (RFC 8693 §4.1).
        let mut act = serde_json::Map::new();
        act.insert("sub".to_owned(), Value::from(actor_sub));
        if let Some(prior) = subject.get("act") {
            act.insert("act".to_owned(), prior.clone());
        }
        let act = Value::Object(act);
        let p = self.prepare(Grant {
            client,
            subject: sub,
            scope,
            audience,
            auth_time: subject.get("auth_time").and_then(Value::as_u64),
            act: Some(act),
            not_after: subject.get("exp").and_then(Value::as_u64),
            cnf: req.cnf.clone(),
        });
        self.issue(p, None, Some(("issued_token_type", ACCESS_TOKEN_TYPE)))
            .await
    }
}

/// How long an authorization code lives.
pub(super) const CODE_TTL: Duration = Duration::from_secs(60);

/// A new family id.
pub(super) fn new_family() -> String {
    random_b64(16)
}

/// Seconds since the epoch, for `auth_time`.
pub(super) fn auth_time() -> u64 {
    now_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_tokens_parse_only_in_shape() {
        let (t, h) = new_refresh(&new_family());
        assert_eq!(parse_refresh(&t).map(|(_, h)| h), Some(h));
        assert!(parse_refresh("ort_short.x").is_none());
        assert!(parse_refresh(&t.replace('.', "_")).is_none());
        assert!(parse_refresh(&format!("{t}x")).is_none());
        assert!(parse_refresh(t.trim_start_matches(REFRESH_PREFIX)).is_none());
    }

    #[test]
    fn narrowing_never_widens() {
        assert_eq!(narrow("a b", None).ok().as_deref(), Some("a b"));
        assert_eq!(narrow("a b", Some("b b")).ok().as_deref(), Some("b"));
        assert_eq!(narrow("a b", Some("  ")).ok().as_deref(), Some(""));
        let wide = narrow("a b", Some("a c")).unwrap_err();
        assert_eq!(wide.kind(), OAuthErrorCode::InvalidScope);
        assert!(narrow("a b", Some("a b")).is_ok());
        assert!(narrow("ab", Some("a")).is_err());
    }
}
