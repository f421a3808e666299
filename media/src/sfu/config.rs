//! How the SFU's peer connections are set up: addresses to bind, ICE servers, timeouts.

use std::net::SocketAddr;
use std::time::Duration;

use webrtc::peer_connection::RTCIceServer;

/// Configuration of the SFU's peer connections.
#[derive(Clone, Debug)]
pub struct SfuConfig {
    /// Local UDP addresses each connection binds. They must be explicit: webrtc 0.21 expands a
    /// wildcard (`0.0.0.0:0`) into one socket per interface and skips loopback, so a wildcard
    /// bind can never talk to a peer on 127.0.0.1. Port 0 = one ephemeral port per connection.
    pub bind_addrs: Vec<SocketAddr>,
    /// STUN/TURN servers for the SFU's own gathering (normally none: it has a public address).
    pub ice_servers: Vec<RTCIceServer>,
    /// How long `join` waits for the SFU's candidates before answering anyway.
    pub gather_timeout: Duration,
    /// Packets queued per subscriber leg before that leg starts dropping.
    pub leg_queue: usize,
}

impl Default for SfuConfig {
    fn default() -> Self {
        SfuConfig {
            bind_addrs: vec![SocketAddr::from(([127, 0, 0, 1], 0))],
            ice_servers: vec![],
            gather_timeout: Duration::from_secs(3),
            leg_queue: 512,
        }
    }
}
