//! The authorization endpoint (RFC 6749 §4.1.1): the authorization code
//! grant with PKCE `S256`, a login-and-consent page for browsers, and
//! Basic credentials on the request for scripted clients over TLS.
//!
//! - An unknown client, or a redirect URI that does not match, gets an
//!   error page, never a redirect (§4.1.2.1). Every other error goes back
//!   to the client's redirect URI with `error`, `state` and `iss`
//!   (RFC 9207).
//! - The login page is served over TLS, or over plaintext to a loopback
//!   peer only (development): a password typed into it never crosses a
//!   network in the clear.
//! - The login form is protected against cross-site request forgery by a
//!   `SameSite=Strict` cookie and a form field that is its MAC bound to the
//!   request (double submit), and by the `Origin` header when the browser
//!   sends one. The page loads nothing from anywhere (`default-src 'none'`)
//!   and may not be framed.
//! - A code is single use, lives 60 s, and is bound to the client, the
//!   redirect URI and the PKCE challenge.
//!
//! ```
//! use auth_core::basic::{BasicAuthenticator, BasicUser, hash_password};
//! use auth_core::oauth::client::{Client, ClientRegistry, GrantType};
//! use auth_core::oauth::pkce;
//! use auth_core::oauth::server::{AuthorizationServer, Endpoint};
//! use auth_core::SimpleRequest;
//! use jsonwebtoken::{Algorithm, EncodingKey};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let pem = rcgen::KeyPair::generate().unwrap().serialize_pem();
//! # let signing_key = EncodingKey::from_ec_pem(pem.as_bytes()).unwrap();
//! let clients = ClientRegistry::builder()
//!     .client(Client::public("cli").grants([GrantType::AuthorizationCode]).redirect_uri("http://127.0.0.1/cb"))
//!     .build()
//!     .unwrap();
//! let users = BasicAuthenticator::builder()
//!     .user(BasicUser::new("alice", hash_password("wonderland").unwrap()))
//!     .build()
//!     .unwrap();
//! let server = AuthorizationServer::builder("https://as.example", clients)
//!     .audience("https://api.example")
//!     .signing_key(signing_key, Algorithm::ES256, "k1")
//!     .users(users)
//!     .build()
//!     .unwrap();
//!
//! // A scripted client, with alice's password (`alice:wonderland`) over TLS.
//! let challenge = pkce::s256_challenge(&pkce::new_verifier());
//! let authorize = |redirect_uri: &str| {
//!     let query = format!("response_type=code&client_id=cli&redirect_uri={redirect_uri}&state=s1\
//!         &code_challenge={challenge}&code_challenge_method=S256");
//!     SimpleRequest::get(&format!("/oauth/authorize?{query}")).tls(true)
//!         .header("authorization", "Basic YWxpY2U6d29uZGVybGFuZA==")
//! };
//! let res = server.handle(Endpoint::Authorize, &authorize("http%3A%2F%2F127.0.0.1%2Fcb"), Some(b"")).await;
//! assert_eq!(res.status, 302);
//! let location = &res.headers.iter().find(|(n, _)| *n == "location").unwrap().1;
//! assert!(location.starts_with("http://127.0.0.1/cb?code="));
//! assert!(location.contains("&state=s1&iss="));
//!
//! // A redirect URI the client did not register: an error page, no redirect.
//! let res = server.handle(Endpoint::Authorize, &authorize("https%3A%2F%2Fevil.example%2F"), Some(b"")).await;
//! assert_eq!(res.status, 400);
//! assert!(res.headers.iter().all(|(n, _)| *n != "location"));
//! # });
//! ```

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

use super::client::{Client, GrantType};
use super::form::Form;
use super::grants::{CODE_TTL, auth_time, new_family};
use super::pkce;
use super::server::{AuthorizationServer, OAuthResponse, random_b64};
use super::{OAuthError, OAuthErrorCode};
use crate::error::AuthErrorKind;
use crate::identity::Identity;
use crate::request::RequestHead;
use crate::store::CodeGrant;

/// The CSRF cookie's name.
const CSRF_COOKIE: &str = "oauth_csrf";

/// The longest `state` echoed back.
const MAX_STATE: usize = 1024;

/// A checked authorization request.
struct Request<'a> {
    client: &'a Client,
    /// Where the answer goes.
    redirect: String,
    /// Whether the request named it (then the token request must too).
    redirect_sent: bool,
    state: Option<String>,
    challenge: String,
    /// The scopes the client asked for and may have.
    scopes: Vec<String>,
    form: Form,
}

/// An answer before the redirect URI is trusted: an error page.
fn page_error(status: u16, message: &str) -> OAuthResponse {
    html(
        status,
        format!(
            "<h1>This request cannot be completed</h1><p>{}</p>",
            esc(message)
        ),
    )
}

/// An HTML page that loads nothing, cannot be framed, and is not cached.
fn html(status: u16, body: String) -> OAuthResponse {
    let page = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\">\
         <title>Sign in</title><style>body{{font-family:sans-serif;max-width:26em;margin:3em auto;padding:0 1em}}\
         label{{display:block;margin:.8em 0}}input{{display:block;width:100%}}\
         .error{{color:#a00}}button{{margin-right:1em}}</style></head><body>{body}</body></html>"
    );
    OAuthResponse {
        status,
        headers: vec![
            ("content-type", "text/html; charset=utf-8".to_owned()),
            ("cache-control", "no-store".to_owned()),
            (
                "content-security-policy",
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'"
                    .to_owned(),
            ),
            ("x-frame-options", "DENY".to_owned()),
            ("x-content-type-options", "nosniff".to_owned()),
            // Not `no-referrer`: browsers then send `Origin: null` on the
            // form's own POST, which the CSRF check must refuse.
            ("referrer-policy", "same-origin".to_owned()),
        ],
        body: page.into_bytes(),
    }
}

/// HTML-escapes text for an element or a quoted attribute.
fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes a query component (everything but RFC 3986's
/// unreserved characters).
fn pct(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// `uri` with `params` added to its query.
fn with_query(uri: &str, params: &[(&str, &str)]) -> String {
    let mut out = uri.to_owned();
    let mut sep = if uri.contains('?') { '&' } else { '?' };
    for (k, v) in params {
        out.push(sep);
        out.push_str(k);
        out.push('=');
        out.push_str(&pct(v));
        sep = '&';
    }
    out
}

/// A redirect to `location` (`303` after the form's `POST`, so the browser
/// follows it with a `GET`).
fn redirect(status: u16, location: String) -> OAuthResponse {
    OAuthResponse {
        status,
        headers: vec![
            ("location", location),
            ("cache-control", "no-store".to_owned()),
            ("referrer-policy", "no-referrer".to_owned()),
        ],
        body: Vec::new(),
    }
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(head: &'a dyn RequestHead, name: &str) -> Option<&'a str> {
    head.header_values("cookie")
        .into_iter()
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl AuthorizationServer {
    /// `GET` and `POST /oauth/authorize` (see the module documentation of
    /// [`authorize`](self)): `body` is empty for a `GET`.
    pub async fn authorize(&self, head: &dyn RequestHead, body: &[u8]) -> OAuthResponse {
        let post = match head.method() {
            "GET" => false,
            "POST" => true,
            _ => return page_error(405, "Use GET or POST."),
        };
        let parsed = if post {
            super::server::form_of(head, body)
        } else {
            Form::parse(head.query().unwrap_or("").as_bytes())
        };
        let form = match parsed {
            Ok(f) => f,
            Err(_) => return page_error(400, "The request is malformed."),
        };
        let req = match self.check_request(form) {
            Ok(r) => r,
            Err(page) => return page,
        };
        let Some(users) = &self.inner.users else {
            return self.redirect_error(
                &req,
                OAuthErrorCode::AccessDenied,
                "no one can log in here",
                post,
            );
        };
        // A scripted client: Basic credentials on the request, over TLS.
        let basic = head.header_values("authorization");
        if let [header] = basic.as_slice()
            && header
                .get(..6)
                .is_some_and(|s| s.eq_ignore_ascii_case(b"basic "))
        {
            if !users.transport_ok(head) {
                return page_error(400, "Basic credentials are accepted over TLS only.");
            }
            return match users
                .check_basic_payload(head, header.get(6..).unwrap_or_default())
                .await
            {
                Ok(id) => self.issue_code(&req, &id, post).await,
                Err(e) => basic_refusal(e.kind(), e.retry_after()),
            };
        }
        // Passwords typed into the page travel over TLS, or never leave the
        // machine (a loopback peer: development, the demo).
        let loopback = head.peer_addr().is_some_and(|a| a.ip().is_loopback());
        if !users.transport_ok(head) && !loopback {
            return page_error(400, "Sign in over https.");
        }
        if !post {
            return self.login_page(head, &req, None, 200);
        }
        // The login form.
        if !self.csrf_ok(head, &req) {
            return page_error(
                403,
                "The form expired or came from another site. Go back and start again.",
            );
        }
        if req.form.get("decision") == Some("deny") {
            return self.redirect_error(
                &req,
                OAuthErrorCode::AccessDenied,
                "the resource owner denied the request",
                post,
            );
        }
        let (Some(user), Some(password)) = (req.form.get("username"), req.form.get("password"))
        else {
            return self.login_page(head, &req, Some("Enter your user name and password."), 200);
        };
        match users.check_login(head, user, password).await {
            Ok(id) => self.issue_code(&req, &id, post).await,
            Err(e) => match e.kind() {
                AuthErrorKind::LockedOut => self.login_page(
                    head,
                    &req,
                    Some("Too many failed attempts. Try again later."),
                    429,
                ),
                AuthErrorKind::Unavailable => {
                    self.login_page(head, &req, Some("The server is busy. Try again."), 503)
                }
                _ => self.login_page(head, &req, Some("Wrong user name or password."), 200),
            },
        }
    }

    /// The client and redirect URI (errors on a page), then everything else
    /// (errors to the redirect URI).
    fn check_request(&self, form: Form) -> Result<Request<'_>, OAuthResponse> {
        let client = form
            .get("client_id")
            .and_then(|id| self.inner.registry.get(id))
            .ok_or_else(|| page_error(400, "The client is not known."))?;
        let (redirect, redirect_sent) = match form.get("redirect_uri") {
            Some(uri) if client.redirect_uri_matches(uri) => (uri.to_owned(), true),
            Some(_) => {
                return Err(page_error(
                    400,
                    "The redirect URI is not registered for this client.",
                ));
            }
            None => {
                let mut uris = client.redirect_uris();
                match (uris.next(), uris.next()) {
                    (Some(only), None) => (only.to_owned(), false),
                    _ => return Err(page_error(400, "The request must name its redirect URI.")),
                }
            }
        };
        let state = form.get("state").map(str::to_owned);
        let mut req = Request {
            client,
            redirect,
            redirect_sent,
            state: state.filter(|s| s.len() <= MAX_STATE),
            challenge: String::new(),
            scopes: Vec::new(),
            form,
        };
        let fail = |req: &Request<'_>, e: OAuthError| {
            Err(self.redirect_error(req, e.kind(), e.description(), false))
        };
        if req.form.get("state").is_some_and(|s| s.len() > MAX_STATE) {
            return fail(&req, OAuthError::invalid_request("state is too long"));
        }
        if req.form.get("response_type") != Some("code") {
            return fail(
                &req,
                OAuthError::new(
                    OAuthErrorCode::UnsupportedResponseType,
                    "response_type must be code",
                ),
            );
        }
        if let Err(e) = client.check_grant(GrantType::AuthorizationCode) {
            return fail(&req, e);
        }
        match pkce::check_request(
            req.form.get("code_challenge"),
            req.form.get("code_challenge_method"),
        ) {
            Ok(c) => req.challenge = c,
            Err(e) => return fail(&req, e),
        }
        match client.grant_scopes(req.form.get("scope")) {
            Ok(s) => req.scopes = s,
            Err(e) => return fail(&req, e),
        }
        Ok(req)
    }

    /// An error sent back to the client (RFC 6749 §4.1.2.1, RFC 9207).
    fn redirect_error(
        &self,
        req: &Request<'_>,
        code: OAuthErrorCode,
        description: &str,
        post: bool,
    ) -> OAuthResponse {
        let mut params = vec![("error", code.as_str()), ("error_description", description)];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        params.push(("iss", &self.inner.issuer));
        redirect(
            if post { 303 } else { 302 },
            with_query(&req.redirect, &params),
        )
    }

    /// A code for `owner`, sent to the client.
    async fn issue_code(&self, req: &Request<'_>, owner: &Identity, post: bool) -> OAuthResponse {
        // What the client asked for and the resource owner has.
        let scope = req
            .scopes
            .iter()
            .filter(|s| owner.scopes().any(|o| o == s.as_str()))
            .map(String::as_str)
            .collect::<Vec<_>>()
            .join(" ");
        let code = random_b64(32);
        let grant = CodeGrant {
            client_id: req.client.id().to_owned(),
            redirect_uri: req.redirect_sent.then(|| req.redirect.clone()),
            challenge: req.challenge.clone(),
            subject: owner.subject().to_owned(),
            scope,
            auth_time: auth_time(),
            family: new_family(),
        };
        let until = std::time::SystemTime::now() + CODE_TTL;
        if self
            .inner
            .grants
            .put_code(Sha256::digest(&code).into(), grant, until)
            .await
            .is_err()
        {
            return self.redirect_error(
                req,
                OAuthErrorCode::TemporarilyUnavailable,
                "the server cannot issue a code now",
                post,
            );
        }
        let mut params = vec![("code", code.as_str())];
        if let Some(s) = &req.state {
            params.push(("state", s));
        }
        params.push(("iss", &self.inner.issuer));
        redirect(
            if post { 303 } else { 302 },
            with_query(&req.redirect, &params),
        )
    }

    /// The CSRF form field for a cookie value: its MAC, bound to the
    /// client and the PKCE challenge.
    fn csrf_field(&self, cookie: &str, req: &Request<'_>) -> String {
        use base64::Engine as _;
        let tag = crate::mac::tag(
            &self.inner.csrf,
            &[
                cookie.as_bytes(),
                req.client.id().as_bytes(),
                req.challenge.as_bytes(),
            ],
        );
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(tag)
    }

    /// The cookie is there, the form field is its MAC for this request, and
    /// the `Origin`, if sent, is this server's.
    fn csrf_ok(&self, head: &dyn RequestHead, req: &Request<'_>) -> bool {
        let (Some(cookie), Some(field)) = (cookie(head, CSRF_COOKIE), req.form.get("csrf")) else {
            return false;
        };
        if cookie.len() != 43 {
            return false;
        }
        if let Some(origin) = head.header_values("origin").first() {
            let scheme = if head.is_tls() { "https://" } else { "http://" };
            let host = head
                .header_values("host")
                .first()
                .copied()
                .unwrap_or_default();
            let expected = [scheme.as_bytes(), host].concat();
            if *origin != expected.as_slice() {
                return false;
            }
        }
        let expected = self.csrf_field(cookie, req);
        expected.as_bytes().ct_eq(field.as_bytes()).into()
    }

    /// The login-and-consent page, with a CSRF cookie (the request's own if
    /// it has a well-formed one).
    fn login_page(
        &self,
        head: &dyn RequestHead,
        req: &Request<'_>,
        message: Option<&str>,
        status: u16,
    ) -> OAuthResponse {
        let cookie_value = cookie(head, CSRF_COOKIE)
            .filter(|c| {
                c.len() == 43
                    && c.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            })
            .map_or_else(|| random_b64(32), str::to_owned);
        let mut hidden = String::new();
        for name in [
            "response_type",
            "client_id",
            "redirect_uri",
            "scope",
            "state",
            "code_challenge",
            "code_challenge_method",
        ] {
            if let Some(v) = req.form.get(name) {
                hidden.push_str(&format!(
                    "<input type=\"hidden\" name=\"{name}\" value=\"{}\">",
                    esc(v)
                ));
            }
        }
        hidden.push_str(&format!(
            "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
            self.csrf_field(&cookie_value, req)
        ));
        let scopes = if req.scopes.is_empty() {
            "<li>no scopes</li>".to_owned()
        } else {
            req.scopes
                .iter()
                .map(|s| format!("<li>{}</li>", esc(s)))
                .collect()
        };
        let error = message.map_or_else(String::new, |m| {
            format!("<p class=\"error\" role=\"alert\">{}</p>", esc(m))
        });
        let body = format!(
            "<h1>Sign in</h1><p><strong>{client}</strong> asks for access to:</p><ul>{scopes}</ul>{error}\
             <form method=\"post\" action=\"{action}\">{hidden}\
             <label>User name<input name=\"username\" autocomplete=\"username\" required></label>\
             <label>Password<input name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
             <button type=\"submit\" name=\"decision\" value=\"allow\">Allow</button>\
             <button type=\"submit\" name=\"decision\" value=\"deny\" formnovalidate>Deny</button></form>",
            client = esc(req.client.id()),
            action = super::server::paths::AUTHORIZE,
        );
        let mut res = html(status, body);
        let secure = if head.is_tls() { "; Secure" } else { "" };
        res.headers.push((
            "set-cookie",
            format!(
                "{CSRF_COOKIE}={cookie_value}; Path={}; HttpOnly; SameSite=Strict{secure}",
                super::server::paths::AUTHORIZE
            ),
        ));
        res
    }
}

/// A scripted login refused: 401 with a Basic challenge, 429 when locked
/// out, 503 when busy.
fn basic_refusal(kind: AuthErrorKind, retry: Option<std::time::Duration>) -> OAuthResponse {
    let (status, extra) = match kind {
        AuthErrorKind::LockedOut => (
            429,
            (
                "retry-after",
                retry.map_or(60, |d| d.as_secs().max(1)).to_string(),
            ),
        ),
        AuthErrorKind::Unavailable => (503, ("retry-after", "1".to_owned())),
        _ => (
            401,
            (
                "www-authenticate",
                "Basic realm=\"authorize\", charset=\"UTF-8\"".to_owned(),
            ),
        ),
    };
    let mut res = page_error(
        status,
        "The resource owner's credentials were not accepted.",
    );
    res.headers.push(extra);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_and_encoding() {
        assert_eq!(
            esc("<a href=\"x\">'&"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;"
        );
        assert_eq!(pct("a b&c=d/é~"), "a%20b%26c%3Dd%2F%C3%A9~");
        assert_eq!(
            with_query("https://c.example/cb", &[("code", "x y"), ("state", "s")]),
            "https://c.example/cb?code=x%20y&state=s"
        );
        assert_eq!(
            with_query("https://c.example/cb?a=1", &[("code", "x")]),
            "https://c.example/cb?a=1&code=x"
        );
    }
}
