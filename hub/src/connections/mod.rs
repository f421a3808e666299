//! Accepting client connections, with the limits that keep idle and slow
//! clients from exhausting the node.
//!
//! - **Header-read timeout** (HTTP/1.1, hyper with a timer): a request's headers
//!   must arrive in full within `http.header_read_timeout_secs` of the
//!   connection opening or of the previous response (slowloris). The TLS
//!   handshake has the same bound.
//! - **Keep-alive timeout**: a connection with no request in progress for
//!   `http.keep_alive_timeout_secs` is closed (HTTP/1.1 and HTTP/2).
//! - **Connection cap** below the open-file limit (`http.max_connections`, or
//!   derived from the limit leaving room for the database, logs and media), so
//!   `accept` never runs out of descriptors; at the cap the oldest idle
//!   connection makes room ([`registry`]), so health checks keep answering.
//!
//! Plain HTTP is HTTP/1.1 only; over TLS, ALPN picks HTTP/2 or HTTP/1.1.

mod registry;
mod tracked;

use std::{
    convert::Infallible,
    net::SocketAddr,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use axum::{
    Router,
    extract::ConnectInfo,
    http::{Request, StatusCode},
};
use axum_server::{
    accept::{Accept, DefaultAcceptor},
    tls_rustls::{RustlsAcceptor, RustlsConfig},
};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
    service::service_fn,
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::TcpListener,
    sync::watch,
    task::JoinSet,
};
use tower::ServiceExt;

use crate::config::HttpConfig;
use registry::{ConnState, Registry};
use tracked::Tracked;

/// Header fields hyper itself accepts before answering a bare 431; the
/// `max_header_bytes` middleware answers 431 in the error shape above 100.
const HYPER_MAX_HEADERS: usize = 200;

/// How often an HTTP/2 connection is pinged; an unanswered ping closes it.
const H2_PING: Duration = Duration::from_secs(20);

/// The limits in effect for this process.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub keep_alive_timeout: Duration,
}

/// Descriptors kept for everything that is not a client connection: the
/// database pool, Redis, the log, media workers' sockets, mail, and the one
/// extra socket accepted at the cap before an idle connection is closed.
fn reserve(open_files: u64) -> u64 {
    (open_files / 8).clamp(128, 8192)
}

/// The connection cap the open-file limit allows.
pub fn cap_for(open_files: u64) -> usize {
    let cap = open_files.saturating_sub(reserve(open_files)).max(16);
    usize::try_from(cap)
        .unwrap_or(usize::MAX)
        .min(tokio::sync::Semaphore::MAX_PERMITS)
}

impl Limits {
    /// `open_files` is the (raised) soft `RLIMIT_NOFILE`, when known. A
    /// configured cap above what it allows is lowered to that, with a warning.
    pub fn new(http: &HttpConfig, open_files: Option<u64>) -> Self {
        let allowed = open_files.map(cap_for);
        let max_connections = match (http.max_connections, allowed) {
            (0, Some(allowed)) => allowed,
            (0, None) => 10_000,
            (configured, Some(allowed)) if configured > allowed => {
                tracing::warn!(
                    configured,
                    allowed,
                    "http.max_connections exceeds what the open-file limit allows; lowered"
                );
                allowed
            }
            (configured, _) => configured,
        };
        Self {
            max_connections,
            header_read_timeout: Duration::from_secs(http.header_read_timeout_secs),
            keep_alive_timeout: Duration::from_secs(http.keep_alive_timeout_secs),
        }
    }
}

/// Logs a warning at most once a minute (floods would otherwise flood the log).
struct Throttled(AtomicU64);

impl Throttled {
    fn allow(&self, epoch: Instant) -> bool {
        let now = epoch.elapsed().as_secs() + 60;
        let last = self.0.load(Ordering::Relaxed);
        now >= last + 60
            && self
                .0
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Serves `app` on `listener` until `stop` turns true, then stops accepting,
/// lets connections finish their requests for up to `drain` and returns.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    tls: Option<RustlsConfig>,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
    drain: Duration,
) {
    let registry = Arc::new(Registry::new(limits.max_connections));
    let acceptor =
        tls.map(|config| RustlsAcceptor::new(config).handshake_timeout(limits.header_read_timeout));
    let epoch = Instant::now();
    let (full, failing) = (Throttled(AtomicU64::new(0)), Throttled(AtomicU64::new(0)));
    let mut tasks = JoinSet::new();
    loop {
        while tasks.try_join_next().is_some() {}
        let (stream, peer) = tokio::select! {
            () = stopped(&mut stop) => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Out of descriptors despite the cap (something else holds
                    // them): close an idle connection and retry shortly.
                    if failing.allow(epoch) {
                        tracing::warn!(error = %e, "accept failed");
                    }
                    registry.evict_one();
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        // Admission happens here, one at a time, so waiting newcomers cannot
        // pile up descriptors beyond the cap.
        let Some(admission) = registry.admit().await else {
            if full.allow(epoch) {
                tracing::warn!(
                    max = limits.max_connections,
                    "connection cap reached and every connection is busy; refusing new ones"
                );
            }
            continue;
        };
        // Small frames (pushes, replies) go out at once: without TCP_NODELAY a
        // push that follows an unacknowledged one waits for the peer's delayed ACK.
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!(error = %e, "cannot set TCP_NODELAY");
        }
        let (app, acceptor, registry, stop) = (
            app.clone(),
            acceptor.clone(),
            registry.clone(),
            stop.clone(),
        );
        tasks.spawn(async move {
            let state = admission.state.clone();
            let io = Tracked::new(stream, admission.permit);
            connection(io, peer, state.clone(), app, acceptor, limits, stop).await;
            registry.remove(&state);
        });
    }
    drop(listener);
    let drained =
        tokio::time::timeout(drain, async { while tasks.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::warn!("drain deadline passed; closing remaining connections");
    }
}

/// One client connection: TLS if configured, then HTTP until it closes, idles
/// out, is evicted or the server stops.
async fn connection(
    io: Tracked,
    peer: SocketAddr,
    state: Arc<ConnState>,
    app: Router,
    acceptor: Option<RustlsAcceptor<DefaultAcceptor>>,
    limits: Limits,
    stop: watch::Receiver<bool>,
) {
    let Some(acceptor) = acceptor else {
        return serve_http(io, false, peer, state, app, limits, stop).await;
    };
    let handshake = acceptor.accept(io, ());
    let tls = tokio::select! {
        result = handshake => match result {
            Ok((tls, ())) => tls,
            Err(e) => {
                tracing::debug!(error = %e, "TLS handshake failed");
                return;
            }
        },
        () = evicted(&state) => return,
    };
    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
    serve_http(tls, h2, peer, state, app, limits, stop).await;
}

/// HTTP on an open (plain or TLS) stream: HTTP/2 if ALPN chose it, else
/// HTTP/1.1 with upgrades (WebSockets).
async fn serve_http<I>(
    io: I,
    h2: bool,
    peer: SocketAddr,
    state: Arc<ConnState>,
    app: Router,
    limits: Limits,
    stop: watch::Receiver<bool>,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = {
        let state = state.clone();
        service_fn(move |mut req: Request<Incoming>| {
            req.extensions_mut().insert(ConnectInfo(peer));
            let request = InFlight::begin(state.clone());
            let call = app.clone().oneshot(req);
            async move {
                let response = call.await?;
                request.finish(response.status() == StatusCode::SWITCHING_PROTOCOLS);
                Ok::<_, Infallible>(response)
            }
        })
    };
    let io = TokioIo::new(io);
    if h2 {
        let conn = http2::Builder::new(TokioExecutor::new())
            .timer(TokioTimer::new())
            .keep_alive_interval(Some(H2_PING))
            .keep_alive_timeout(H2_PING)
            .serve_connection(io, service);
        drive(
            Box::pin(conn),
            |c| c.graceful_shutdown(),
            &state,
            limits,
            stop,
        )
        .await;
    } else {
        let conn = http1_builder(&limits)
            .serve_connection(io, service)
            .with_upgrades();
        drive(
            Box::pin(conn),
            |c| c.graceful_shutdown(),
            &state,
            limits,
            stop,
        )
        .await;
    }
}

fn http1_builder(limits: &Limits) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_headers(HYPER_MAX_HEADERS);
    builder
}

/// Completes when the server stops (the guard `wait_for` returns is not
/// `Send`, so it is dropped here rather than held in a `select!`).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await.map(|_| ());
}

/// Completes once the registry asks this (idle) connection to make room.
async fn evicted(state: &ConnState) {
    loop {
        state.changed.notified().await;
        if state.evicted() && !state.busy() {
            return;
        }
    }
}

/// Polls an HTTP connection to completion, closing it when it has been idle
/// for the keep-alive timeout or is evicted, and shutting it down gracefully
/// (in-flight requests finish) when the server stops.
async fn drive<F, E>(
    mut conn: Pin<Box<F>>,
    graceful: impl Fn(Pin<&mut F>),
    state: &ConnState,
    limits: Limits,
    mut stop: watch::Receiver<bool>,
) where
    F: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut stopping = false;
    loop {
        let deadline = state.idle_deadline(limits.keep_alive_timeout);
        let idle = async move {
            match deadline {
                Some(at) => tokio::time::sleep_until(at.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            result = conn.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(error = %e, "connection ended");
                }
                return;
            }
            () = state.changed.notified() => {
                if state.evicted() && !state.busy() {
                    return;
                }
            }
            () = idle => {
                if !state.busy() {
                    return;
                }
            }
            () = stopped(&mut stop), if !stopping => {
                stopping = true;
                graceful(conn.as_mut());
            }
        }
    }
}

/// Marks a request in progress on its connection until dropped, so a request
/// cut short (client gone, timeout) still ends.
struct InFlight {
    state: Arc<ConnState>,
    upgraded: bool,
}

impl InFlight {
    fn begin(state: Arc<ConnState>) -> Self {
        state.begin();
        Self {
            state,
            upgraded: false,
        }
    }

    fn finish(mut self, upgraded: bool) {
        self.upgraded = upgraded;
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        self.state.end(self.upgraded);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_leaves_room_below_the_open_file_limit() {
        assert_eq!(cap_for(256), 128);
        assert_eq!(cap_for(1024), 896);
        assert_eq!(cap_for(1_048_576), 1_048_576 - 8192);
        assert_eq!(cap_for(100), 16, "never below 16");
        let http = HttpConfig {
            max_connections: 5000,
            ..HttpConfig::default()
        };
        assert_eq!(Limits::new(&http, Some(1024)).max_connections, 896);
        assert_eq!(Limits::new(&http, None).max_connections, 5000);
        let http = HttpConfig {
            max_connections: 100,
            ..HttpConfig::default()
        };
        assert_eq!(Limits::new(&http, Some(1024)).max_connections, 100);
    }
}
