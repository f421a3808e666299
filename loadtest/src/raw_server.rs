//! The raw broadcast server: the ceiling the hub is measured against.
//!
//! Every text frame any client sends is broadcast to every connected client,
//! the sender included. No authentication, no parsing, no storage: what it
//! costs is the price of WebSocket framing plus fan-out in tokio, which is
//! the least any real-time server built on the same stack can pay.
//!
//! It is kept honest in the ways a real server must also be:
//! - a frame is copied once when it arrives and then shared by reference
//!   (`Utf8Bytes` is a reference-counted `Bytes`), never re-serialized;
//! - each client can fall at most `queue` frames behind; a client that falls
//!   further is dropped (close code 4004, as the hub's "slow consumer"),
//!   so one stalled reader cannot hold memory for everyone;
//! - read buffers are small (4 KiB by default) so idle connections are cheap.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Message, Utf8Bytes};

/// Close code for a client dropped because it fell `queue` frames behind.
const SLOW_CONSUMER: u16 = 4004;
/// Frames written to one socket before a flush: batching turns a burst into
/// one `write` call without letting one client monopolize a thread.
const WRITE_BATCH: usize = 64;

#[derive(Debug, Clone)]
pub struct RawServerConfig {
    /// How many frames a client may fall behind before it is dropped.
    pub queue: usize,
    /// tungstenite's eagerly allocated read buffer per connection.
    pub read_buffer: usize,
    /// Print a stats line to stderr this often (`None`: never).
    pub stats_every: Option<Duration>,
}

impl Default for RawServerConfig {
    fn default() -> Self {
        Self {
            queue: 1024,
            read_buffer: 4096,
            stats_every: None,
        }
    }
}

/// Counters, updated with relaxed atomics: they are for humans, not for
/// synchronization.
#[derive(Debug, Default)]
pub struct Stats {
    pub connected: AtomicU64,
    pub accepted: AtomicU64,
    pub frames_in: AtomicU64,
    pub dropped_slow: AtomicU64,
    pub handshake_failures: AtomicU64,
}

/// A running server; dropping it does not stop it, `shutdown` does.
pub struct RawServer {
    addrs: Vec<SocketAddr>,
    stats: Arc<Stats>,
    tasks: Vec<JoinHandle<()>>,
}

impl RawServer {
    /// The bound addresses, in the order given (useful with port 0).
    pub fn addrs(&self) -> &[SocketAddr] {
        &self.addrs
    }

    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// Stops accepting; open connections end with the runtime.
    pub fn shutdown(&self) {
        for t in &self.tasks {
            t.abort();
        }
    }

    /// Runs until ctrl-c.
    pub async fn run_until_ctrl_c(self) -> anyhow::Result<()> {
        tokio::signal::ctrl_c().await?;
        self.shutdown();
        Ok(())
    }
}

/// Binds every address (port 0 picks a free one) and starts serving.
/// All listeners feed one broadcast domain.
pub async fn start(listen: &[SocketAddr], config: RawServerConfig) -> anyhow::Result<RawServer> {
    let (hub, _) = broadcast::channel::<Utf8Bytes>(config.queue.max(1));
    let stats = Arc::new(Stats::default());
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(config.read_buffer)
        // Frames fed in one batch are coalesced up to this size and written
        // by the flush that ends the batch.
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(1 << 20)
        .max_message_size(Some(1 << 20))
        .max_frame_size(Some(1 << 20));
    let mut addrs = Vec::with_capacity(listen.len());
    let mut tasks = Vec::with_capacity(listen.len() + 1);
    for addr in listen {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
        addrs.push(listener.local_addr()?);
        tasks.push(tokio::spawn(accept_loop(
            listener,
            hub.clone(),
            ws_config,
            stats.clone(),
        )));
    }
    if let Some(every) = config.stats_every {
        tasks.push(tokio::spawn(print_stats(stats.clone(), every)));
    }
    Ok(RawServer {
        addrs,
        stats,
        tasks,
    })
}

async fn accept_loop(
    listener: TcpListener,
    hub: broadcast::Sender<Utf8Bytes>,
    ws_config: WebSocketConfig,
    stats: Arc<Stats>,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                stats.accepted.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(serve(stream, hub.clone(), ws_config, stats.clone()));
            }
            Err(e) => {
                // EMFILE/ENFILE: out of descriptors. Back off instead of
                // spinning; connections closing will free some.
                eprintln!("raw-server: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Decrements the gauge however the connection ends.
struct Connected(Arc<Stats>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One task per connection: reads from the socket and writes broadcast frames
/// in a single `select!` loop, so a connection costs one task and one
/// WebSocket state, not a reader/writer pair with a queue between them.
async fn serve(
    stream: TcpStream,
    hub: broadcast::Sender<Utf8Bytes>,
    ws_config: WebSocketConfig,
    stats: Arc<Stats>,
) {
    let _ = stream.set_nodelay(true);
    let mut ws = match tokio_tungstenite::accept_async_with_config(stream, Some(ws_config)).await {
        Ok(ws) => ws,
        Err(_) => {
            stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    stats.connected.fetch_add(1, Ordering::Relaxed);
    let _gauge = Connected(stats.clone());
    // Subscribe after the handshake: a client gets the frames sent after it
    // connected, never a backlog.
    let mut rx = hub.subscribe();
    loop {
        tokio::select! {
            inbound = ws.next() => match inbound {
                Some(Ok(Message::Text(text))) => {
                    stats.frames_in.fetch_add(1, Ordering::Relaxed);
                    // Copy the frame out of the read buffer: the ring keeps
                    // `queue` frames alive, and a slice of the read buffer
                    // would pin a whole 4 KiB buffer per frame.
                    let owned = Utf8Bytes::from(text.as_str().to_owned());
                    // Err only when nobody is subscribed, which cannot be
                    // while this connection is.
                    let _ = hub.send(owned);
                }
                // Ping/pong are answered by tungstenite; binary frames are
                // not part of the protocol and are ignored.
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            outbound = rx.recv() => {
                let lagged = match outbound {
                    Ok(frame) => match forward(&mut ws, &mut rx, frame).await {
                        Ok(Backlog::Ok) => false,
                        Ok(Backlog::Lagged) => true,
                        Err(_) => break,
                    },
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => break,
                };
                if lagged {
                    stats.dropped_slow.fetch_add(1, Ordering::Relaxed);
                    let close = CloseFrame {
                        code: CloseCode::from(SLOW_CONSUMER),
                        reason: "slow consumer".into(),
                    };
                    let _ = ws.close(Some(close)).await;
                    break;
                }
            }
        }
    }
}

/// What `forward` found besides the frames it wrote.
enum Backlog {
    Ok,
    /// The client fell more than `queue` frames behind.
    Lagged,
}

/// Writes `first` and whatever else is already queued (up to a batch), then
/// flushes once.
async fn forward<S>(
    ws: &mut S,
    rx: &mut broadcast::Receiver<Utf8Bytes>,
    first: Utf8Bytes,
) -> Result<Backlog, S::Error>
where
    S: SinkExt<Message> + Unpin,
{
    ws.feed(Message::Text(first)).await?;
    let mut backlog = Backlog::Ok;
    for _ in 1..WRITE_BATCH {
        match rx.try_recv() {
            Ok(frame) => ws.feed(Message::Text(frame)).await?,
            // Reported once by the channel: remember it, or it is lost.
            Err(TryRecvError::Lagged(_)) => {
                backlog = Backlog::Lagged;
                break;
            }
            // `Closed` is seen again by the next `recv`.
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
    }
    ws.flush().await?;
    Ok(backlog)
}

async fn print_stats(stats: Arc<Stats>, every: Duration) {
    let mut last_in = 0;
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        let frames_in = stats.frames_in.load(Ordering::Relaxed);
        eprintln!(
            "raw-server: {} connected, {} accepted, {:.0} frames/s in, {} dropped slow, {} failed handshakes",
            stats.connected.load(Ordering::Relaxed),
            stats.accepted.load(Ordering::Relaxed),
            (frames_in - last_in) as f64 / every.as_secs_f64(),
            stats.dropped_slow.load(Ordering::Relaxed),
            stats.handshake_failures.load(Ordering::Relaxed),
        );
        last_in = frames_in;
    }
}
