//! `auth-demo`: every authentication method of auth-stack, on axum or actix-web.
//!
//! ```text
//! cargo run --release -p auth-demo
//! KEY=$(jq -r .api_keys.main demo-state/credentials.json)
//! curl -i -H "Authorization: Bearer $KEY" http://127.0.0.1:8080/v1/admin        # 200
//! curl -i -H "X-API-Key: $(jq -r .api_keys.standard demo-state/credentials.json)" \
//!      http://127.0.0.1:8080/v1/admin                                            # 403 insufficient_scope
//! curl -i "http://127.0.0.1:8080/v1/whoami?api_key=$KEY"                         # 400: use a header
//! PW=$(jq -r .basic_users.alice.password demo-state/credentials.json)
//! curl -i --cacert demo-state/ca.pem -u "alice:$PW" https://127.0.0.1:8443/v1/reports   # 200
//! curl -i -u "alice:$PW" http://127.0.0.1:8080/v1/reports                        # 401: TLS required
//! ```
//!
//! Flags: `--framework axum|actix`, `--http ADDR`, `--https ADDR`,
//! `--state-dir DIR`, `--ready-file FILE`, `--issuer URL`, `--redis URL`.

use std::path::PathBuf;
use std::process::ExitCode;

use auth_demo::{DemoConfig, DemoError, Framework};
use tracing_appender::non_blocking::NonBlockingBuilder;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::util::SubscriberInitExt as _;

const USAGE: &str = "usage: auth-demo [--framework axum|actix] [--http ADDR] [--https ADDR]
                 [--state-dir DIR] [--ready-file FILE] [--redis URL] [--issuer URL]";

fn parse_args() -> Result<DemoConfig, DemoError> {
    let mut config = DemoConfig::default();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        if flag == "-h" || flag == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        let value = args
            .next()
            .ok_or_else(|| DemoError::msg_pub(format!("{flag} needs a value\n{USAGE}")))?;
        let addr = |v: &str| {
            v.parse()
                .map_err(|_| DemoError::msg_pub(format!("{flag}: not an address: {v}")))
        };
        match flag.as_str() {
            "--framework" => config.framework = value.parse::<Framework>()?,
            "--http" => config.http = addr(&value)?,
            "--https" => config.https = addr(&value)?,
            "--state-dir" => config.state_dir = PathBuf::from(value),
            "--ready-file" => config.ready_file = Some(PathBuf::from(value)),
            "--issuer" => config.issuer = Some(value),
            "--redis" => config.redis = Some(value),
            _ => return Err(DemoError::msg_pub(format!("unknown flag {flag}\n{USAGE}"))),
        }
    }
    Ok(config)
}

fn main() -> ExitCode {
    // Lines are written to stderr by tracing-appender's worker thread; when
    // its queue is full, a logging thread waits rather than drop a line.
    // The worker flushes once it has drained its queue, so the buffer turns
    // a busy second's lines into a few writes instead of one per line.
    // `_log_guard` writes what is left when `main` returns.
    let (writer, _log_guard) = NonBlockingBuilder::default()
        .lossy(false)
        .thread_name("auth-demo-log")
        .finish(std::io::BufWriter::with_capacity(
            64 * 1024,
            std::io::stderr(),
        ));
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    auth_demo::log::subscriber(writer, filter).init();
    run()
}

fn run() -> ExitCode {
    let config = match parse_args() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("auth-demo: {e}");
            return ExitCode::from(2);
        }
    };
    let framework = config.framework;
    let running = match auth_demo::spawn(config) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("auth-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(
        framework = ?framework,
        http = %running.http,
        https = %running.https,
        state_dir = %running.state_dir.display(),
        "auth-demo listening; credentials in credentials.json"
    );
    let ctrl_c = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map(|rt| rt.block_on(tokio::signal::ctrl_c()));
    match ctrl_c {
        Ok(Ok(())) => {
            tracing::info!("stopping");
            running.stop();
            ExitCode::SUCCESS
        }
        _ => {
            running.wait();
            ExitCode::FAILURE
        }
    }
}
