//! Opening one client connection: source address, TCP, WebSocket handshake,
//! and on the hub the auth frame and `subscribe`.

use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::{HeaderValue, Uri};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

use crate::frame::{self, RequestId};

pub type Ws = WebSocketStream<TcpStream>;

/// The subprotocol the hub selects (`docs/protocol.md`, Connecting).
pub const SUBPROTOCOL: &str = "healthbridge.v1";

/// A server resolved once, so 50,000 connections do not do 50,000 lookups.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub url: String,
    pub addr: SocketAddr,
    /// Offer `healthbridge.v1` (hub) or nothing (raw server).
    pub subprotocol: bool,
}

impl Endpoint {
    pub async fn resolve(url: &str, subprotocol: bool) -> anyhow::Result<Self> {
        let uri: Uri = url
            .parse()
            .map_err(|e| anyhow::anyhow!("bad URL {url}: {e}"))?;
        match uri.scheme_str() {
            Some("ws") => {}
            Some("wss") => anyhow::bail!("{url}: TLS is not supported by the load test; use ws://"),
            _ => anyhow::bail!("{url}: expected a ws:// URL"),
        }
        let host = uri
            .host()
            .ok_or_else(|| anyhow::anyhow!("{url}: no host"))?
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = uri.port_u16().unwrap_or(80);
        let addr = tokio::net::lookup_host((host, port))
            .await?
            .next()
            .ok_or_else(|| anyhow::anyhow!("{url}: {host} does not resolve"))?;
        Ok(Self {
            url: url.to_string(),
            addr,
            subprotocol,
        })
    }
}

/// Client-side WebSocket settings: a small read buffer (most of a
/// connection's memory on both ends), and frames coalesced up to 8 KiB
/// until the flush that ends a batch.
pub fn client_config(read_buffer: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(read_buffer)
        .write_buffer_size(8 * 1024)
        .max_write_buffer_size(4 << 20)
        .max_message_size(Some(4 << 20))
        .max_frame_size(Some(4 << 20))
}

/// A short, stable name for what went wrong, used as a key of
/// `errors_by_code` in the report.
pub type ErrorCode = String;

/// Connects from `source` (when given) to `endpoint` and completes the
/// WebSocket handshake.
pub async fn open(
    endpoint: &Endpoint,
    source: Option<Ipv4Addr>,
    config: WebSocketConfig,
) -> Result<Ws, ErrorCode> {
    let socket = match endpoint.addr {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(|e| format!("socket:{:?}", e.kind()))?;
    if let (Some(ip), SocketAddr::V4(_)) = (source, endpoint.addr) {
        bind_address_no_port(&socket);
        socket
            .bind(SocketAddr::new(ip.into(), 0))
            .map_err(|e| format!("bind:{:?}", e.kind()))?;
    }
    let stream = socket
        .connect(endpoint.addr)
        .await
        .map_err(|e| format!("connect:{:?}", e.kind()))?;
    let _ = stream.set_nodelay(true);
    let mut request = endpoint
        .url
        .as_str()
        .into_client_request()
        .map_err(|_| "handshake:bad_url".to_string())?;
    if endpoint.subprotocol {
        request.headers_mut().insert(
            "Sec-WebSocket-Protocol",
            HeaderValue::from_static(SUBPROTOCOL),
        );
    }
    let (ws, _) = tokio_tungstenite::client_async_with_config(request, stream, Some(config))
        .await
        .map_err(|e| match e {
            tungstenite::Error::Http(resp) => format!("handshake:http_{}", resp.status().as_u16()),
            tungstenite::Error::Protocol(_) => "handshake:protocol".to_string(),
            _ => "handshake:io".to_string(),
        })?;
    Ok(ws)
}

/// Lets `bind` pick only the address and leave the port to `connect`.
///
/// Without it, `bind(ip, 0)` must choose a port before the destination is
/// known, so each source address can hold ~28,000 connections in total. With
/// it, the port is chosen per (source, destination) pair at `connect`, where
/// the kernel may also reuse ports in TIME_WAIT on loopback. Best effort: on
/// failure we still bind, with the smaller port space.
fn bind_address_no_port(socket: &TcpSocket) {
    let one: libc::c_int = 1;
    // SAFETY: a valid socket descriptor, and a pointer to a c_int that lives
    // for the call, with its size.
    unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&one as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        );
    }
}

/// Sends a request and waits for its reply; pushes that arrive meanwhile are
/// dropped (nothing is published before every connection is set up).
/// `what` prefixes the error code: `auth:invalid_token`, `subscribe:closed_4001`.
pub async fn request(ws: &mut Ws, id: u64, text: String, what: &str) -> Result<(), ErrorCode> {
    ws.send(Message::Text(text.into()))
        .await
        .map_err(|_| format!("{what}:send_failed"))?;
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(t))) => {
                let Ok(f) = frame::parse(&t) else {
                    return Err(format!("{what}:malformed_reply"));
                };
                if f.id != RequestId(Some(id)) {
                    continue;
                }
                return match (&*f.ty, f.error) {
                    ("reply", _) => Ok(()),
                    (_, Some(e)) => Err(format!("{what}:{}", e.code)),
                    _ => Err(format!("{what}:unexpected_{}", f.ty)),
                };
            }
            Some(Ok(Message::Close(close))) => {
                return Err(format!("{what}:{}", close_code(close.as_ref())));
            }
            Some(Ok(_)) => {}
            None | Some(Err(_)) => return Err(format!("{what}:connection_lost")),
        }
    }
}

/// `closed_<code>` for a close frame, `closed` for none.
pub fn close_code(close: Option<&tungstenite::protocol::CloseFrame>) -> String {
    match close {
        Some(c) => format!("closed_{}", u16::from(c.code)),
        None => "closed".to_string(),
    }
}

/// Closes politely: sends a close frame and waits (briefly) for the server
/// to end the TCP connection, so TIME_WAIT stays on the server side and the
/// client's ports are free for the next run.
pub async fn close(mut ws: Ws) {
    let _ = ws.close(None).await;
    let _ = tokio::time::timeout(Duration::from_secs(3), async {
        while let Some(Ok(_)) = ws.next().await {}
    })
    .await;
}
