//! The command line.

use std::net::SocketAddr;

use clap::{Args, Parser, Subcommand};

use crate::plan::Target;

#[derive(Debug, Parser)]
#[command(
    name = "loadtest",
    version,
    about = "Load generator for the HealthBridge hub, and a raw broadcast WebSocket server to compare it with",
    long_about = "Load generator for the HealthBridge hub, and a raw broadcast WebSocket server to \
                  compare it with.\n\nEvery scenario prints one JSON report on stdout; progress goes \
                  to stderr. See loadtest/README.md."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Raw broadcast WebSocket server: every text frame goes to every client.
    RawServer(RawServerArgs),
    /// Open N connections, hold them, report the server's RSS per connection.
    Idle(IdleArgs),
    /// One publisher, N subscribers in one room: delivery rate and latency.
    Fanout(FanoutArgs),
    /// Many rooms where every member publishes: persisted rate, round trip,
    /// delivery latency.
    Chat(ChatArgs),
    /// Internal: a worker process started by a scenario (reads its plan on stdin).
    #[command(hide = true)]
    Worker,
}

#[derive(Debug, Args)]
pub struct RawServerArgs {
    /// Address to listen on; repeat for several (one broadcast domain).
    #[arg(long = "listen", default_value = "127.0.0.1:9100")]
    pub listen: Vec<SocketAddr>,
    /// Frames a client may fall behind before it is dropped (close 4004).
    #[arg(long, default_value_t = 1024)]
    pub queue: usize,
    /// WebSocket read buffer per connection, bytes.
    #[arg(long, default_value_t = 4096)]
    pub read_buffer: usize,
    /// Seconds between stats lines on stderr (0: none).
    #[arg(long, default_value_t = 5)]
    pub stats_secs: u64,
}

/// Where the load goes and how connections are made; shared by scenarios.
#[derive(Debug, Args)]
pub struct TargetArgs {
    /// What runs at --url.
    #[arg(long, value_enum)]
    pub target: Target,
    /// Hub: base URL of a node (http://127.0.0.1:8080); raw: ws://127.0.0.1:9100.
    /// Repeat for several nodes; connections are spread round-robin.
    #[arg(long = "url", required = true)]
    pub urls: Vec<String>,
    /// Server process to report the RSS of (sum over all given); repeatable.
    #[arg(long = "server-pid")]
    pub server_pids: Vec<u32>,
    /// Hub: email of a platform admin (`hub user create --role admin`).
    #[arg(long, env = "LOADTEST_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    /// Hub: that admin's password (prefer the environment variable: command
    /// lines are visible to other users).
    #[arg(long, env = "LOADTEST_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Hub: users to register; connections share them round-robin.
    #[arg(long, default_value_t = 20)]
    pub users: usize,
    /// Local source addresses 127.0.0.1..=127.0.0.N to spread connections
    /// over (0: one per 20,000 connections).
    #[arg(long, default_value_t = 0)]
    pub source_ips: usize,
    /// Worker processes (0: as many as the open-file hard limit requires).
    #[arg(long, default_value_t = 0)]
    pub workers: usize,
    /// Connection setups in flight at once.
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Seconds allowed for one connection's setup (TCP, WebSocket, auth, subscribe).
    #[arg(long, default_value_t = 30)]
    pub connect_timeout_secs: u64,
    /// WebSocket read buffer per client connection, bytes.
    #[arg(long, default_value_t = 4096)]
    pub read_buffer: usize,
}

#[derive(Debug, Args)]
pub struct IdleArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub connections: usize,
    /// Seconds to hold the connections before measuring and closing.
    #[arg(long, default_value_t = 10)]
    pub hold_secs: u64,
    /// Hub: also subscribe each connection to one of this many rooms.
    #[arg(long, default_value_t = 0)]
    pub rooms: usize,
}

#[derive(Debug, Args)]
pub struct FanoutArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub subscribers: usize,
    /// Messages per second from the publisher.
    #[arg(long, default_value_t = 10.0)]
    pub rate: f64,
    /// Publish as fast as acknowledged (at most --window in flight) instead
    /// of at --rate.
    #[arg(long)]
    pub max_rate: bool,
    /// Unacknowledged publishes in flight with --max-rate.
    #[arg(long, default_value_t = 64)]
    pub window: usize,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to keep receiving after publishing ends.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
}

#[derive(Debug, Args)]
pub struct ChatArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    #[arg(long)]
    pub rooms: usize,
    /// Connections per room; each publishes and receives.
    #[arg(long)]
    pub members: usize,
    /// Messages per second per room, spread over its members.
    #[arg(long, default_value_t = 5.0)]
    pub rate_per_room: f64,
    /// Seconds of publishing.
    #[arg(long, default_value_t = 10.0)]
    pub duration: f64,
    /// Seconds to keep receiving after publishing ends.
    #[arg(long, default_value_t = 10.0)]
    pub drain_secs: f64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn urls_and_listens_repeat() {
        let cli = Cli::parse_from([
            "loadtest",
            "idle",
            "--target",
            "hub",
            "--url",
            "http://a:1",
            "--url",
            "http://b:2",
            "--connections",
            "10",
            "--server-pid",
            "1",
            "--server-pid",
            "2",
        ]);
        let Command::Idle(idle) = cli.command else {
            panic!("not idle")
        };
        assert_eq!(idle.target.urls.len(), 2);
        assert_eq!(idle.target.server_pids, [1, 2]);

        let cli = Cli::parse_from([
            "loadtest",
            "raw-server",
            "--listen",
            "127.0.0.1:1",
            "--listen",
            "127.0.0.1:2",
        ]);
        let Command::RawServer(raw) = cli.command else {
            panic!("not raw-server")
        };
        assert_eq!(raw.listen.len(), 2);
        let cli = Cli::parse_from(["loadtest", "raw-server"]);
        let Command::RawServer(raw) = cli.command else {
            panic!("not raw-server")
        };
        assert_eq!(
            raw.listen,
            ["127.0.0.1:9100".parse::<SocketAddr>().unwrap()]
        );
    }
}
