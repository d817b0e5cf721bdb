//! # actix-basic: HTTP Basic with users from a store
//!
//! An actix-web service whose routes take HTTP Basic credentials, checked
//! against users looked up by name at each login in a
//! [`MemoryUserStore`] (swap in your database by implementing
//! [`UserStore`](auth_core::store::UserStore): one read by name). Users can
//! be added while it runs. Two are created at start, with random passwords
//! printed once: `alice` (scope `reports:read`) and `admin` (role
//! `admin`, who may add users).
//!
//! ```text
//! cargo run -p actix-basic                   # or: -- --port 8081, or PORT=8081
//! # It prints ALICE_PASSWORD=… and ADMIN_PASSWORD=…; in another shell:
//! export ALICE_PASSWORD=… ADMIN_PASSWORD=…
//!
//! curl -i -u "alice:$ALICE_PASSWORD" http://127.0.0.1:8080/v1/reports     # 200
//! curl -i -u "alice:wrong" http://127.0.0.1:8080/v1/reports               # 401, WWW-Authenticate: Basic realm="actix-basic", charset="UTF-8"
//! curl -i http://127.0.0.1:8080/v1/reports                                # 401, the same challenge
//! curl -i -u "alice:$ALICE_PASSWORD" -X PUT -H 'content-type: application/json' \
//!      -d '{"password":"a long passphrase"}' http://127.0.0.1:8080/v1/users/bob   # 403: admins only
//! curl -i -u "admin:$ADMIN_PASSWORD" -X PUT -H 'content-type: application/json' \
//!      -d '{"password":"a long passphrase"}' http://127.0.0.1:8080/v1/users/bob   # 204: bob exists now
//! curl -i -u "bob:a long passphrase" http://127.0.0.1:8080/v1/whoami      # 200
//! curl -i -u "bob:a long passphrase" http://127.0.0.1:8080/v1/reports     # 403 insufficient_scope
//! ```
//!
//! Five wrong passwords for a user from one address within 15 minutes lock
//! that user for that address (`429` with `Retry-After`), even with the
//! right password.
//!
//! ## Plaintext, on loopback only
//!
//! Basic sends the password with every request, so auth-core refuses it
//! over plaintext unless told otherwise. This example listens on
//! 127.0.0.1 only, where passwords never leave the machine, and says so
//! with `insecure_allow_plaintext()`. Anywhere else, serve it over TLS:
//! drop that line, bind with `HttpServer::bind_rustls_0_23` (for instance
//! with the `ServerConfig` of `auth_core::tls::TlsConfig`, feature `tls`,
//! which reloads its certificate from disk) and add
//! `.on_connect(auth_actix::on_connect)` so the middleware knows the
//! request came over TLS. Behind a TLS-terminating proxy, use
//! `trusted_proxies` instead.
//!
//! ## Store users, and what still holds for them
//!
//! Each login not answered from the verified-credential cache reads the
//! store, for known and unknown names alike; an unknown name costs an
//! argon2 check against a dummy hash, as a wrong password does. A store
//! that cannot answer is a `503` with `Retry-After`, never a `401`. A user
//! removed or changed in the store is still accepted with what was read
//! for at most the cache's TTL (10 s here; 60 s by default).
//!
//! The same credentials on axum: `auth_tower::RequireAuthLayer` with the
//! same guard. For gRPC, see `examples/grpc-service`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use auth_actix::{Auth, RequireAuth};
use auth_core::basic::{BasicAuthenticator, BasicUser, MAX_PASSWORD_LEN, hash_password};
use auth_core::store::MemoryUserStore;
use auth_core::{Guard, Identity, Policy};
use rand::distr::{Alphanumeric, SampleString};
use serde::Deserialize;

type Error = Box<dyn std::error::Error>;

/// The port from `--port N`, else `PORT`, else 8080.
fn port() -> Result<u16, Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => match std::env::var("PORT") {
            Ok(p) => Ok(p.parse()?),
            Err(_) => Ok(8080),
        },
        [flag, value] if flag == "--port" => Ok(value.parse()?),
        _ => Err("usage: actix-basic [--port N]".into()),
    }
}

fn identity_json(id: &Identity) -> serde_json::Value {
    serde_json::json!({
        "subject": id.subject(),
        "method": id.method().as_str(),
        "scopes": id.scopes().collect::<Vec<_>>(),
        "roles": id.roles().collect::<Vec<_>>(),
    })
}

async fn whoami(Auth(id): Auth) -> HttpResponse {
    HttpResponse::Ok().json(identity_json(&id))
}

async fn reports(Auth(id): Auth) -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({
        "reports": ["q1", "q2"],
        "for": id.subject(),
    }))
}

/// A user to add (no `Debug`: it holds a password).
#[derive(Deserialize)]
struct NewUser {
    password: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// `PUT /v1/users/{name}`: adds the user, or replaces the one of that
/// name. The next login reads it from the store.
async fn put_user(
    users: web::Data<Arc<MemoryUserStore>>,
    name: web::Path<String>,
    body: web::Json<NewUser>,
) -> HttpResponse {
    let NewUser {
        password,
        scopes,
        roles,
    } = body.into_inner();
    if password.chars().count() < 12 || password.len() > MAX_PASSWORD_LEN {
        return HttpResponse::BadRequest().body("a password is 12 characters to 1 KiB");
    }
    // argon2 takes tens of milliseconds: off the async workers.
    let hash = match web::block(move || hash_password(&password)).await {
        Ok(Ok(hash)) => hash,
        _ => return HttpResponse::InternalServerError().finish(),
    };
    let user = BasicUser::new(name.into_inner(), hash)
        .scopes(scopes)
        .roles(roles);
    match users.insert(user) {
        Ok(()) => HttpResponse::NoContent().finish(),
        // A name that is empty or too long.
        Err(e) => HttpResponse::BadRequest().body(e.to_string()),
    }
}

/// 24 random letters and digits (about 143 bits).
fn random_password() -> String {
    Alphanumeric.sample_string(&mut rand::rand_core::UnwrapErr(rand::rngs::SysRng), 24)
}

#[actix_web::main]
async fn main() -> Result<(), Error> {
    // Logs (refusals at `info`) go to stderr; stdout has the passwords and
    // the ready line.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let port = port()?;

    let users = Arc::new(MemoryUserStore::new());
    let alice_password = random_password();
    let admin_password = random_password();
    users.insert(
        BasicUser::new("alice", hash_password(&alice_password)?).scopes(["reports:read"]),
    )?;
    users.insert(BasicUser::new("admin", hash_password(&admin_password)?).roles(["admin"]))?;
    // Printed once: the store keeps argon2id hashes only.
    println!("ALICE_PASSWORD={alice_password}");
    println!("ADMIN_PASSWORD={admin_password}");

    let basic = BasicAuthenticator::builder()
        .user_store(users.clone())
        // How long a verified login is remembered, so argon2 runs once per
        // credential, not per request: also how long a removed or changed
        // user may still get in.
        .cache_ttl(Duration::from_secs(10))
        // Loopback only (see the crate docs): without TLS, Basic would
        // otherwise be refused, and not even offered in the challenge.
        .insecure_allow_plaintext()
        .build()?;
    let guard = Guard::builder(basic).realm("actix-basic").build()?;

    let server = HttpServer::new(move || {
        App::new()
            .app_data(web::Data::new(users.clone()))
            .service(
                web::resource("/v1/whoami")
                    .wrap(RequireAuth::new(guard.clone()))
                    .route(web::get().to(whoami)),
            )
            .service(
                web::resource("/v1/reports")
                    .wrap(RequireAuth::new(guard.clone()).policy(Policy::scope("reports:read")))
                    .route(web::get().to(reports)),
            )
            .service(
                web::resource("/v1/users/{name}")
                    .wrap(RequireAuth::new(guard.clone()).policy(Policy::role("admin")))
                    .route(web::put().to(put_user)),
            )
            .route("/healthz", web::get().to(|| async { "ok" }))
    })
    .workers(2)
    // The listener is loopback only: `insecure_allow_plaintext` above
    // depends on it.
    .bind(("127.0.0.1", port))?;
    for addr in server.addrs() {
        println!("listening on http://{addr}");
    }
    server.run().await?;
    Ok(())
}
