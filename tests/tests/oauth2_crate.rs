//! The `oauth2` crate (a Rust client nobody here wrote) against the demo on
//! both adapters: authorization code with PKCE logging in with Basic on the
//! TLS listener, refresh with rotation and reuse detection, client
//! credentials, and its requests refused when they are wrong.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::path::Path;

use auth_conformance::{Pair, basic};
use auth_demo::Running;
use oauth2::basic::{BasicClient, BasicErrorResponseType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, HttpRequest, HttpResponse,
    PkceCodeChallenge, RedirectUrl, RequestTokenError, Scope, TokenResponse, TokenUrl,
};

/// A client trusting the demo CA that does not follow redirects.
fn http_client(state_dir: &Path) -> reqwest::Client {
    let ca = std::fs::read(state_dir.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .no_proxy()
        .tls_certs_only(reqwest::Certificate::from_pem_bundle(&ca).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The oauth2 crate's HTTP client interface over reqwest.
fn sender(
    http: reqwest::Client,
) -> impl Fn(
    HttpRequest,
) -> std::pin::Pin<Box<dyn Future<Output = Result<HttpResponse, reqwest::Error>> + Send>> {
    move |req: HttpRequest| {
        let http = http.clone();
        Box::pin(async move {
            let (parts, body) = req.into_parts();
            let res = http
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .body(body)
                .send()
                .await?;
            let mut out = http::Response::builder().status(res.status());
            for (k, v) in res.headers() {
                out = out.header(k, v);
            }
            Ok(out.body(res.bytes().await?.to_vec()).unwrap())
        })
    }
}

async fn reports(http: &reqwest::Client, demo: &Running, token: &str) -> u16 {
    http.get(format!("https://{}/v1/reports", demo.https))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

fn server_error<T: std::fmt::Debug, E: std::error::Error + 'static>(
    r: Result<T, RequestTokenError<E, oauth2::StandardErrorResponse<BasicErrorResponseType>>>,
) -> BasicErrorResponseType {
    match r {
        Err(RequestTokenError::ServerResponse(e)) => e.error().clone(),
        other => panic!("expected an error response, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_oauth2_crate_runs_every_grant_against_both_adapters() {
    let dir = tempfile::tempdir().unwrap();
    let pair = Pair::start(dir.path());
    let creds = pair.credentials();
    let http = http_client(dir.path());
    let send = sender(http.clone());
    let alice = &creds.basic_users["alice"].password;
    for demo in [&pair.axum, &pair.actix] {
        let base = format!("https://{}", demo.https);
        let c = &creds.oauth_clients["confidential"];
        let client = BasicClient::new(ClientId::new(c.client_id.clone()))
            .set_client_secret(ClientSecret::new(c.client_secret.clone().unwrap()))
            .set_auth_uri(AuthUrl::new(format!("{base}/oauth/authorize")).unwrap())
            .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap())
            .set_redirect_uri(RedirectUrl::new(c.redirect_uri.clone().unwrap()).unwrap());

        // Authorization code with PKCE; the resource owner logs in with
        // Basic on the TLS listener.
        let authorize = || async {
            let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
            let (url, csrf) = client
                .authorize_url(CsrfToken::new_random)
                .add_scope(Scope::new("reports:read".to_owned()))
                .set_pkce_challenge(challenge)
                .url();
            let res = http
                .get(url)
                .header("authorization", basic("alice", alice))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 302);
            let location =
                oauth2::url::Url::parse(res.headers()["location"].to_str().unwrap()).unwrap();
            let q: std::collections::HashMap<_, _> = location.query_pairs().into_owned().collect();
            assert_eq!(q["state"], *csrf.secret());
            assert_eq!(q["iss"], creds.issuer);
            (AuthorizationCode::new(q["code"].clone()), verifier)
        };
        let (code, verifier) = authorize().await;
        let token = client
            .exchange_code(code)
            .set_pkce_verifier(verifier)
            .request_async(&send)
            .await
            .unwrap();
        assert_eq!(
            reports(&http, demo, token.access_token().secret()).await,
            200
        );
        assert_eq!(
            token.scopes().unwrap(),
            &vec![Scope::new("reports:read".to_owned())]
        );

        // Refresh: rotated, and the spent token presented again revokes the
        // family.
        let first = token.refresh_token().unwrap().clone();
        let next = client
            .exchange_refresh_token(&first)
            .request_async(&send)
            .await
            .unwrap();
        assert_ne!(next.refresh_token().unwrap().secret(), first.secret());
        assert_eq!(
            reports(&http, demo, next.access_token().secret()).await,
            200
        );
        let reuse = client
            .exchange_refresh_token(&first)
            .request_async(&send)
            .await;
        assert_eq!(server_error(reuse), BasicErrorResponseType::InvalidGrant);
        assert_eq!(
            reports(&http, demo, next.access_token().secret()).await,
            401
        );
        let after = client
            .exchange_refresh_token(next.refresh_token().unwrap())
            .request_async(&send)
            .await;
        assert_eq!(server_error(after), BasicErrorResponseType::InvalidGrant);

        // PKCE downgrade: the code without its verifier.
        let (code, _) = authorize().await;
        let downgrade = client.exchange_code(code).request_async(&send).await;
        assert_eq!(
            server_error(downgrade),
            BasicErrorResponseType::InvalidGrant
        );

        // Client credentials for the service client.
        let s = &creds.oauth_clients["service"];
        let service = BasicClient::new(ClientId::new(s.client_id.clone()))
            .set_client_secret(ClientSecret::new(s.client_secret.clone().unwrap()))
            .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap());
        let token = service
            .exchange_client_credentials()
            .add_scope(Scope::new("reports:read".to_owned()))
            .request_async(&send)
            .await
            .unwrap();
        assert_eq!(
            reports(&http, demo, token.access_token().secret()).await,
            200
        );
        // A wrong secret: invalid_client.
        let wrong = BasicClient::new(ClientId::new(s.client_id.clone()))
            .set_client_secret(ClientSecret::new("wrong".to_owned()))
            .set_token_uri(TokenUrl::new(format!("{base}/oauth/token")).unwrap());
        let refused = wrong
            .exchange_client_credentials()
            .request_async(&send)
            .await;
        assert_eq!(server_error(refused), BasicErrorResponseType::InvalidClient);
    }
}
