//! `media`: a standalone media worker. Serves the control socket on `tcp://` and runs the SFU.
//!
//! Configuration from the environment:
//! - `MEDIA_CONTROL`: the control endpoint to bind (default `tcp://127.0.0.1:5560`; port 0
//!   picks one). The bound endpoint is printed on the first line of standard output.
//! - `MEDIA_BIND_IPS`: comma-separated IPs the peer connections bind (default `127.0.0.1`).
//!   Explicit addresses only: webrtc 0.21 expands a wildcard into every interface *except*
//!   loopback.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use media::control::ControlServer;
use media::{Sfu, SfuConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let endpoint =
        std::env::var("MEDIA_CONTROL").unwrap_or_else(|_| "tcp://127.0.0.1:5560".to_owned());
    let ips = std::env::var("MEDIA_BIND_IPS").unwrap_or_else(|_| "127.0.0.1".to_owned());
    let bind_addrs = ips
        .split(',')
        .map(|ip| ip.trim().parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 0)))
        .collect::<Result<Vec<_>, _>>()?;
    if bind_addrs.iter().any(|a| a.ip().is_unspecified()) {
        return Err("MEDIA_BIND_IPS must list explicit addresses, not 0.0.0.0 or ::".into());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let sfu = Arc::new(Sfu::new(SfuConfig {
        bind_addrs,
        ..SfuConfig::default()
    }));
    let ctx = zmq::Context::new();
    let server = ControlServer::start(&ctx, &endpoint, sfu, runtime.handle().clone())?;
    println!("{}", server.endpoint());
    std::io::stdout().flush()?;
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
