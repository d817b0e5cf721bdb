//! The example over real sockets, called by a real tonic client (h2c), and
//! by Python's `grpcio` (a client nobody here wrote; `./scripts/test.sh`
//! installs it into `.venv`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // test code: a panic is a failed test

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Command;

use grpc_service::pb::reports_client::ReportsClient;
use grpc_service::pb::{GetReportRequest, WhoAmIRequest};
use grpc_service::{Credentials, READ_SCOPE};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

struct Running {
    addr: SocketAddr,
    credentials: Credentials,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn start() -> Running {
    let (guard, credentials) = grpc_service::guard().await.unwrap();
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        grpc_service::serve(
            "127.0.0.1:0".parse().unwrap(),
            &guard,
            |a| {
                let _ = addr_tx.send(a);
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    Running {
        addr: addr_rx.await.unwrap(),
        credentials,
        _stop: stop,
    }
}

async fn client(addr: SocketAddr) -> ReportsClient<Channel> {
    ReportsClient::connect(format!("http://{addr}"))
        .await
        .unwrap()
}

fn with<T>(message: T, metadata: &[(&'static str, &str)]) -> Request<T> {
    let mut req = Request::new(message);
    for (name, value) in metadata {
        req.metadata_mut().insert(*name, value.parse().unwrap());
    }
    req
}

fn challenge(status: &Status) -> String {
    status
        .metadata()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_reach_the_handler_and_refusals_are_grpc_statuses() {
    let run = start().await;
    let mut c = client(run.addr).await;
    let reader = run.credentials.reader_key.expose().to_owned();
    let plain = run.credentials.plain_key.expose().to_owned();

    // A valid key reaches the handler, which sees the caller.
    let me = c
        .who_am_i(with(WhoAmIRequest {}, &[("x-api-key", &reader)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(me.method, "api_key");
    assert_eq!(me.scopes, [READ_SCOPE]);
    assert!(!me.subject.is_empty());
    // The same key as a bearer token.
    let bearer = format!("Bearer {reader}");
    let report = c
        .get_report(with(
            GetReportRequest { name: "q3".into() },
            &[("authorization", &bearer)],
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(report.body, format!("report q3 for {}", me.subject));

    // No credential: UNAUTHENTICATED, with the challenge as metadata.
    let err = c.who_am_i(WhoAmIRequest {}).await.unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert_eq!(challenge(&err), r#"Bearer realm="reports""#);
    assert_eq!(err.message(), "authentication is required");

    // A valid key without the method's scope: PERMISSION_DENIED.
    let err = c
        .get_report(with(
            GetReportRequest { name: "q3".into() },
            &[("x-api-key", &plain)],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);
    assert_eq!(
        challenge(&err),
        format!(r#"Bearer realm="reports", error="insufficient_scope", scope="{READ_SCOPE}""#)
    );
    // ... though it may call a method that needs no scope.
    c.who_am_i(with(WhoAmIRequest {}, &[("x-api-key", &plain)]))
        .await
        .unwrap();

    // A wrong key: UNAUTHENTICATED, and the message does not echo it.
    let mut wrong = reader.clone();
    wrong.replace_range(20..24, "AAAA");
    let err = c
        .who_am_i(with(WhoAmIRequest {}, &[("x-api-key", &wrong)]))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(!err.message().contains(&wrong[..12]));
    assert!(!format!("{:?}", err.metadata()).contains(&wrong[..12]));

    // Two credentials at once: INVALID_ARGUMENT.
    let err = c
        .who_am_i(with(
            WhoAmIRequest {},
            &[("x-api-key", &reader), ("authorization", &bearer)],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jwts_carry_their_scopes_and_expired_ones_are_refused() {
    let run = start().await;
    let mut c = client(run.addr).await;
    let token = grpc_service::dev_token(&run.credentials, "ada", READ_SCOPE, 300).unwrap();
    let auth = format!("Bearer {token}");
    let me = c
        .who_am_i(with(WhoAmIRequest {}, &[("authorization", &auth)]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((me.subject.as_str(), me.method.as_str()), ("ada", "jwt"));
    c.get_report(with(
        GetReportRequest { name: "q4".into() },
        &[("authorization", &auth)],
    ))
    .await
    .unwrap();

    let unscoped = grpc_service::dev_token(&run.credentials, "bob", "profile", 300).unwrap();
    let err = c
        .get_report(with(
            GetReportRequest { name: "q4".into() },
            &[("authorization", &format!("Bearer {unscoped}"))],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::PermissionDenied);

    // Signed with another secret: UNAUTHENTICATED, invalid_token.
    let (_, other) = grpc_service::guard().await.unwrap();
    let forged = grpc_service::dev_token(&other, "eve", READ_SCOPE, 300).unwrap();
    let err = c
        .who_am_i(with(
            WhoAmIRequest {},
            &[("authorization", &format!("Bearer {forged}"))],
        ))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    assert!(
        challenge(&err).contains(r#"error="invalid_token""#),
        "{err:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_methods_are_authenticated_first_and_calls_share_one_connection() {
    let run = start().await;
    let reader = run.credentials.reader_key.expose().to_owned();
    let channel = Channel::from_shared(format!("http://{}", run.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    // An unknown method: without a credential UNAUTHENTICATED, with one
    // tonic's own UNIMPLEMENTED.
    let mut grpc = tonic::client::Grpc::new(channel.clone());
    let path = http::uri::PathAndQuery::from_static("/reports.v1.Reports/Delete");
    let codec = tonic_prost::ProstCodec::<WhoAmIRequest, WhoAmIRequest>::default();
    grpc.ready().await.unwrap();
    let err = grpc
        .unary(Request::new(WhoAmIRequest {}), path.clone(), codec)
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unauthenticated);
    grpc.ready().await.unwrap();
    let codec = tonic_prost::ProstCodec::<WhoAmIRequest, WhoAmIRequest>::default();
    let err = grpc
        .unary(
            with(WhoAmIRequest {}, &[("x-api-key", &reader)]),
            path,
            codec,
        )
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::Unimplemented);

    // 64 concurrent calls for one key, multiplexed on one HTTP/2 connection.
    let mut calls = tokio::task::JoinSet::new();
    for i in 0..64 {
        let mut c = ReportsClient::new(channel.clone());
        let key = if i % 2 == 0 {
            reader.clone()
        } else {
            String::new()
        };
        calls.spawn(async move {
            let req = if key.is_empty() {
                Request::new(WhoAmIRequest {})
            } else {
                with(WhoAmIRequest {}, &[("x-api-key", &key)])
            };
            (i, c.who_am_i(req).await.map_err(|s| s.code()))
        });
    }
    while let Some(done) = calls.join_next().await {
        let (i, outcome) = done.unwrap();
        if i % 2 == 0 {
            assert!(outcome.is_ok(), "{i}: {outcome:?}");
        } else {
            assert_eq!(outcome.unwrap_err(), Code::Unauthenticated, "{i}");
        }
    }
}

fn python_with_grpcio() -> Option<PathBuf> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let candidates = [
        std::env::var_os("AUTH_STACK_PYTHON").map(PathBuf::from),
        Some(root.join(".venv/bin/python")),
    ];
    let found = candidates.into_iter().flatten().find(|p| {
        Command::new(p)
            .args(["-c", "import grpc, grpc_tools"])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "grpcio is missing and CI=true: run ./scripts/test.sh, which installs it"
        );
        eprintln!(
            "\n*** SKIPPED: grpcio is not installed (.venv); run ./scripts/test.sh to install it ***\n"
        );
    }
    found
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_grpcio_calls_with_the_api_key_as_metadata() {
    let Some(python) = python_with_grpcio() else {
        return;
    };
    let run = start().await;
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let reader = run.credentials.reader_key.expose().to_owned();
    let plain = run.credentials.plain_key.expose().to_owned();
    let addr = run.addr.to_string();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(dir.join("tests/grpcio_client.py"))
            .arg(dir.join("proto"))
            .arg(addr)
            .arg(reader)
            .arg(plain)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "whoami reader: OK api_key reports:read",
            "report reader: OK report q3",
            "whoami none: UNAUTHENTICATED Bearer realm=\"reports\"",
            "report plain: PERMISSION_DENIED Bearer realm=\"reports\", error=\"insufficient_scope\", scope=\"reports:read\"",
        ],
        "{stdout}"
    );
}
