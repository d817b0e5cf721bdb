//! A production server loop, plain or TLS, that inserts a [`ConnectionInfo`]
//! into every request so the layer knows the peer address, whether the
//! connection is TLS, and the client certificate chain, its leaf parsed
//! once per connection (feature `mtls`).
//!
//! It serves HTTP/1.1 and HTTP/2 (by ALPN on TLS, by the connection preface
//! on plain TCP) through hyper-util's auto connection builder, so it hosts
//! axum routers, hyper services and tonic services alike, and it bounds what
//! a client can hold:
//!
//! | limit | default | what happens |
//! | --- | --- | --- |
//! | [`header_read_timeout`](Server::header_read_timeout) | 10 s | a connection that has not sent a whole request head in time is closed (HTTP/1.1), and so is a new connection that sends no request at all |
//! | [`idle_timeout`](Server::idle_timeout) | 30 s | a connection with no request in flight for this long is closed gracefully (HTTP/2: `GOAWAY`) |
//! | [`handshake_timeout`](Server::handshake_timeout) | 10 s | a TLS handshake that takes longer is dropped |
//! | [`max_connections`](Server::max_connections) | 1,024 | no more connections are accepted until one ends; the rest wait in the listen backlog |
//! | [`max_concurrent_streams`](Server::max_concurrent_streams) | 100 | HTTP/2 streams per connection |
//! | [`drain_timeout`](Server::drain_timeout) | 10 s | on shutdown, open requests get this long to finish; connections still open after it are dropped |
//!
//! axum's own `serve` does not do TLS; use this where Basic (TLS only) or
//! client certificates matter, or insert [`ConnectionInfo`] yourself.
//!
//! ```
//! use auth_core::api_key::{ApiKeyAuthenticator, ApiKeys, Environment, NewKey, Pepper};
//! use auth_core::Guard;
//! use auth_tower::server::Server;
//! use auth_tower::{Auth, ConnectionInfo, RequireAuthLayer};
//! use axum::{Extension, Router, routing::get};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build()?.block_on(async {
//! # let keys = ApiKeys::in_memory(Pepper::generate());
//! # let (key, _) = keys.issue(NewKey::new("acme", Environment::Test)).await?;
//! let guard = Guard::builder(ApiKeyAuthenticator::new(keys)).build()?;
//! let whoami = |Auth(id): Auth, Extension(conn): Extension<ConnectionInfo>| async move {
//!     format!("{} from {:?}, tls: {}", id.subject(), conn.peer_addr.map(|a| a.ip()), conn.tls)
//! };
//! let app = Router::new().route("/whoami", get(whoami)).route_layer(RequireAuthLayer::new(guard));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let url = format!("http://{}/whoami", listener.local_addr()?);
//! let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
//! let server = tokio::spawn(Server::new().serve(listener, app, async { stopped.await.ok(); }));
//!
//! let http = reqwest::Client::new();
//! let ok = http.get(&url).header("x-api-key", key.expose()).send().await?;
//! assert_eq!(ok.text().await?, "acme from Some(127.0.0.1), tls: false");
//! let refused = http.get(&url).header("x-api-key", "ask_test_not-a-key").send().await?;
//! assert_eq!(refused.status(), 401);
//!
//! stop.send(()).ok(); // stops accepting, lets open requests finish, returns
//! server.await??;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! # })?;
//! # Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;
use tower_service::Service;

use crate::request::ConnectionInfo;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The server loop's settings; [`Server::serve`] runs it.
///
/// ```no_run
/// use std::time::Duration;
/// use auth_tower::server::Server;
/// use axum::{Router, routing::get};
///
/// # async fn run(tls: tokio_rustls::TlsAcceptor) -> std::io::Result<()> {
/// let app = Router::new().route("/healthz", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8443").await?;
/// Server::new()
///     .tls(tls)
///     .header_read_timeout(Duration::from_secs(5))
///     .max_connections(10_000)
///     .serve(listener, app, std::future::pending()) // or a Ctrl-C future
///     .await
/// # }
/// ```
#[derive(Clone)]
pub struct Server {
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    max_connections: usize,
    max_concurrent_streams: u32,
    drain_timeout: Duration,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("tls", &self.tls.is_some())
            .field("header_read_timeout", &self.header_read_timeout)
            .field("idle_timeout", &self.idle_timeout)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("max_connections", &self.max_connections)
            .field("max_concurrent_streams", &self.max_concurrent_streams)
            .field("drain_timeout", &self.drain_timeout)
            .finish()
    }
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// Plain TCP, with the defaults in the [module documentation](self).
    pub fn new() -> Self {
        Self {
            tls: None,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_concurrent_streams: 100,
            drain_timeout: Duration::from_secs(10),
        }
    }

    /// Every connection is TLS. A configuration without ALPN protocols gets
    /// `h2` and `http/1.1`, so clients may choose HTTP/2.
    pub fn tls(mut self, acceptor: TlsAcceptor) -> Self {
        self.tls = Some(with_alpn(acceptor));
        self
    }

    /// How long a client has to send a whole request head (HTTP/1.1), and a
    /// new connection to start its first request; at least 1 ms.
    pub fn header_read_timeout(mut self, timeout: Duration) -> Self {
        self.header_read_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a connection may stay open with no request in flight; at
    /// least 1 ms.
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a TLS handshake may take.
    pub fn handshake_timeout(mut self, timeout: Duration) -> Self {
        self.handshake_timeout = timeout;
        self
    }

    /// The most connections open at once (at least 1), TLS handshakes
    /// included.
    pub fn max_connections(mut self, max: usize) -> Self {
        self.max_connections = max.clamp(1, Semaphore::MAX_PERMITS);
        self
    }

    /// The most concurrent HTTP/2 streams per connection (at least 1).
    pub fn max_concurrent_streams(mut self, max: u32) -> Self {
        self.max_concurrent_streams = max.max(1);
        self
    }

    /// On shutdown, how long open requests have to finish.
    pub fn drain_timeout(mut self, timeout: Duration) -> Self {
        self.drain_timeout = timeout;
        self
    }

    /// Serves `service` on `listener` until `shutdown` completes, then stops
    /// accepting, lets open requests finish for up to the drain timeout,
    /// and returns.
    pub async fn serve<S, B>(
        self,
        listener: TcpListener,
        service: S,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()>
    where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout);
        builder
            .http2()
            .timer(TokioTimer::new())
            .max_concurrent_streams(self.max_concurrent_streams)
            // Credential headers may be up to 16 KiB; leave room for others.
            .max_header_list_size(64 * 1024)
            // A peer that stopped answering is found and dropped.
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(Duration::from_secs(20));
        let conn = Arc::new(ConnSettings {
            builder,
            tls: self.tls.clone(),
            header_read_timeout: self.header_read_timeout,
            idle_timeout: self.idle_timeout,
            handshake_timeout: self.handshake_timeout,
            drain_timeout: self.drain_timeout,
        });
        let permits = Arc::new(Semaphore::new(self.max_connections));
        let (drain_tx, drain_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();

        tokio::pin!(shutdown);
        loop {
            // A connection slot first: past the cap, clients wait in the
            // listen backlog rather than being accepted and starved.
            let permit = tokio::select! {
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(p) => p,
                    // The semaphore is never closed.
                    Err(_) => break,
                },
                () = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: back off briefly.
                        tracing::warn!(target: "auth_tower", error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                () = &mut shutdown => break,
            };
            // Reap finished connections so the set stays as small as the cap.
            while tasks.try_join_next().is_some() {}
            let conn = conn.clone();
            let service = service.clone();
            let drain = drain_rx.clone();
            tasks.spawn(async move {
                let _slot = permit;
                conn.run(stream, peer, service, drain).await;
            });
        }
        drop(listener);
        let _ = drain_tx.send(true);
        let drained = tokio::time::timeout(self.drain_timeout, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                target: "auth_tower",
                open = tasks.len(),
                "connections still open after the drain timeout were dropped"
            );
            tasks.shutdown().await;
        }
        Ok(())
    }
}

/// Serves `service` on `listener` with [`Server`]'s defaults until
/// `shutdown` completes; with `tls`, every connection is a TLS connection.
///
/// ```no_run
/// use auth_tower::serve;
/// use axum::{Router, routing::get};
///
/// # async fn run() -> std::io::Result<()> {
/// let app = Router::new().route("/healthz", get(|| async { "ok" }));
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// serve(listener, None, app, std::future::pending()).await
/// # }
/// ```
pub async fn serve<S, B>(
    listener: TcpListener,
    tls: Option<TlsAcceptor>,
    service: S,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()>
where
    S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    let mut server = Server::new();
    if let Some(tls) = tls {
        server = server.tls(tls);
    }
    server.serve(listener, service, shutdown).await
}

/// `acceptor`, offering `h2` and `http/1.1` if it offered nothing.
fn with_alpn(acceptor: TlsAcceptor) -> TlsAcceptor {
    if !acceptor.config().alpn_protocols.is_empty() {
        return acceptor;
    }
    let mut config = (**acceptor.config()).clone();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    TlsAcceptor::from(Arc::new(config))
}

/// How often a closing connection is looked at (see `serve_io`).
const GRACE_STEP: Duration = Duration::from_millis(500);

/// What every connection task shares.
struct ConnSettings {
    builder: auto::Builder<TokioExecutor>,
    tls: Option<TlsAcceptor>,
    header_read_timeout: Duration,
    idle_timeout: Duration,
    handshake_timeout: Duration,
    drain_timeout: Duration,
}

impl ConnSettings {
    async fn run<S, B>(
        &self,
        stream: TcpStream,
        peer: std::net::SocketAddr,
        service: S,
        drain: watch::Receiver<bool>,
    ) where
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        // Small responses go out at once rather than after Nagle's delay.
        let _ = stream.set_nodelay(true);
        let Some(acceptor) = &self.tls else {
            let info = ConnectionInfo::new(Some(peer), false, Vec::new());
            return self
                .serve_io(TokioIo::new(stream), info, service, drain)
                .await;
        };
        match tokio::time::timeout(self.handshake_timeout, acceptor.accept(stream)).await {
            Ok(Ok(tls_stream)) => {
                let certs = tls_stream
                    .get_ref()
                    .1
                    .peer_certificates()
                    .map(|chain| chain.iter().map(|c| c.to_vec()).collect())
                    .unwrap_or_default();
                // The leaf is parsed here, once: every request on the
                // connection shares it.
                let info = ConnectionInfo::new(Some(peer), true, certs);
                self.serve_io(TokioIo::new(tls_stream), info, service, drain)
                    .await;
            }
            Ok(Err(e)) => {
                tracing::debug!(target: "auth_tower", error = %e, %peer, "TLS handshake failed");
            }
            Err(_) => {
                tracing::debug!(target: "auth_tower", %peer, "TLS handshake timed out");
            }
        }
    }

    /// Drives one connection until it ends, is idle too long, or the server
    /// drains.
    async fn serve_io<I, S, B>(
        &self,
        io: I,
        info: ConnectionInfo,
        service: S,
        mut drain: watch::Receiver<bool>,
    ) where
        I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
        S: Service<Request<Incoming>, Response = Response<B>> + Clone + Send + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        let activity = Arc::new(Activity::default());
        let svc = {
            let activity = activity.clone();
            hyper::service::service_fn(move |mut req: Request<Incoming>| {
                req.extensions_mut().insert(info.clone());
                let mut service = service.clone();
                let busy = Activity::begin(&activity);
                async move {
                    std::future::poll_fn(|cx| service.poll_ready(cx)).await?;
                    let res = service.call(req).await?;
                    // In flight until its body has been sent (or dropped).
                    Ok::<_, S::Error>(res.map(|body| TrackedBody {
                        body,
                        busy: Some(busy),
                    }))
                }
            })
        };
        let conn = self.builder.serve_connection_with_upgrades(io, svc);
        tokio::pin!(conn);
        // Before its first request a connection has the header timeout;
        // after, the idle timeout from when its last request ended.
        let idle = tokio::time::sleep(self.header_read_timeout);
        tokio::pin!(idle);
        // Once closing, the connection gets up to the drain timeout to
        // finish its requests, looked at every `GRACE_STEP`: a client that
        // has none in flight but does not take part in the close (an
        // HTTP/2 peer that never acknowledges the closing ping) is dropped
        // at the next look.
        let hard_stop = tokio::time::sleep(Duration::from_secs(365 * 24 * 3600));
        tokio::pin!(hard_stop);
        let mut closing: Option<Instant> = None;
        loop {
            tokio::select! {
                ended = conn.as_mut() => {
                    if let Err(e) = ended {
                        tracing::debug!(target: "auth_tower", error = %e, "connection ended with an error");
                    }
                    return;
                }
                () = &mut idle, if closing.is_none() => {
                    let window = if activity.seen.load(Ordering::Acquire) {
                        self.idle_timeout
                    } else {
                        self.header_read_timeout
                    };
                    match activity.idle_since() {
                        Some(since) if since + window <= Instant::now() => {
                            tracing::debug!(target: "auth_tower", "idle connection closed");
                            conn.as_mut().graceful_shutdown();
                            closing = Some(Instant::now());
                            hard_stop.as_mut().reset(Instant::now() + GRACE_STEP);
                        }
                        Some(since) => idle.as_mut().reset(since + window),
                        // A request is in flight; look again later.
                        None => idle.as_mut().reset(Instant::now() + window),
                    }
                }
                _ = drain.changed(), if closing.is_none() => {
                    conn.as_mut().graceful_shutdown();
                    closing = Some(Instant::now());
                    hard_stop.as_mut().reset(Instant::now() + GRACE_STEP);
                }
                // A request ended: the idle window starts again from now.
                () = activity.ended.notified(), if closing.is_none() => {
                    idle.as_mut().reset(Instant::now() + self.idle_timeout);
                }
                () = &mut hard_stop, if closing.is_some() => {
                    let since = closing.unwrap_or_else(Instant::now);
                    let busy = activity.idle_since().is_none();
                    if !busy || since.elapsed() >= self.drain_timeout {
                        return;
                    }
                    hard_stop.as_mut().reset(Instant::now() + GRACE_STEP);
                }
            }
        }
    }
}

/// One connection's requests: how many are in flight, and when the last
/// one ended.
struct Activity {
    in_flight: AtomicUsize,
    seen: AtomicBool,
    /// When the connection opened; `last_end` counts from it.
    opened: Instant,
    /// When the last request ended, in milliseconds since `opened`: an
    /// atomic, so that no lock is taken per request.
    last_end: AtomicU64,
    ended: tokio::sync::Notify,
}

impl Default for Activity {
    fn default() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            seen: AtomicBool::new(false),
            opened: Instant::now(),
            last_end: AtomicU64::new(0),
            ended: tokio::sync::Notify::new(),
        }
    }
}

impl Activity {
    fn begin(this: &Arc<Self>) -> Busy {
        this.in_flight.fetch_add(1, Ordering::AcqRel);
        this.seen.store(true, Ordering::Release);
        Busy(this.clone())
    }

    /// When the connection went idle, or `None` while a request is in flight.
    fn idle_since(&self) -> Option<Instant> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let ms = self.last_end.load(Ordering::Acquire);
        Some(
            self.opened
                .checked_add(Duration::from_millis(ms))
                .unwrap_or_else(Instant::now),
        )
    }
}

pin_project_lite::pin_project! {
    /// A response body that keeps its request counted as in flight until
    /// the body ends or is dropped.
    struct TrackedBody<B> {
        #[pin]
        body: B,
        busy: Option<Busy>,
    }
}

impl<B: http_body::Body> http_body::Body for TrackedBody<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = self.project();
        let polled = this.body.poll_frame(cx);
        if let std::task::Poll::Ready(None) = polled {
            this.busy.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// A request in flight; its drop ends it.
struct Busy(Arc<Activity>);

impl Drop for Busy {
    fn drop(&mut self) {
        let ms = u64::try_from(self.0.opened.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.0.last_end.store(ms, Ordering::Release);
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_one();
    }
}
