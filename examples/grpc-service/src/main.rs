//! Runs the example on 127.0.0.1:50051 (or the address given as the only
//! argument) and prints the credentials to try it with. See the crate
//! documentation (`src/lib.rs`) for the grpcurl lines.

use std::net::SocketAddr;

#[tokio::main]
async fn main() -> Result<(), grpc_service::Error> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:50051".to_owned())
        .parse()?;
    let (guard, credentials) = grpc_service::guard().await?;
    let token = grpc_service::dev_token(&credentials, "dev-user", grpc_service::READ_SCOPE, 3600)?;
    // A development example: its throwaway credentials are printed once,
    // for the curl-like lines in the crate docs.
    println!("READER_KEY={}", credentials.reader_key.expose());
    println!("PLAIN_KEY={}", credentials.plain_key.expose());
    println!("DEV_JWT={token}");
    grpc_service::serve(
        addr,
        &guard,
        |bound| println!("listening on {bound} (h2c)"),
        async {
            let _ = tokio::signal::ctrl_c().await;
        },
    )
    .await
}
