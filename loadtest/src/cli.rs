//! The command line.

use std::net::SocketAddr;
use std::path::PathBuf;

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
    /// Notifications per second from the outbox to a real SMTP server with K
    /// `notifier` processes on PostgreSQL, beside the SMTP server's own ceiling.
    NotifyThroughput(NotifyArgs),
    /// Slot-search latency for a provider with a year of appointments, beside
    /// one with the same hours and none.
    SlotSearch(SlotSearchArgs),
    /// Booking throughput when several patients want each slot at once,
    /// beside the same bookings without contention; checks for double booking.
    BookContention(BookArgs),
    /// Video visits through a media worker: concurrent visits until loss or CPU
    /// saturation, beside a plain UDP relay forwarding the same packets.
    MediaCapacity(MediaCapacityArgs),
    /// Video visits: time from a participant's join offer to the other party's first
    /// packet, beside two peers connected directly.
    MediaJoin(MediaJoinArgs),
    /// Video visits through a running hub: visit link opened → the clinician's first
    /// video frame (redeem, pass socket, waiting room, admit, signaling over /ws).
    VisitJoin(VisitJoinArgs),
    /// Internal: a worker process started by a scenario (reads its plan on stdin).
    #[command(hide = true)]
    Worker,
    /// Internal: the plain UDP relay of the media-capacity baseline.
    #[command(hide = true)]
    UdpRelay(UdpRelayArgs),
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

#[derive(Debug, Args)]
pub struct NotifyArgs {
    /// Database to run in (migrated with `hub migrate` first). Default: a
    /// fresh database created through --pg-admin-url and dropped afterwards.
    #[arg(long)]
    pub database_url: Option<String>,
    /// A PostgreSQL URL of a user that may create databases.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432/postgres")]
    pub pg_admin_url: String,
    /// Keep the database this run created.
    #[arg(long)]
    pub keep_database: bool,
    /// The `hub` binary (for `hub migrate`).
    #[arg(long, default_value = "target/release/hub")]
    pub hub_bin: PathBuf,
    /// The `notifier` binary.
    #[arg(long, default_value = "target/release/notifier")]
    pub notifier_bin: PathBuf,
    /// The SMTP sink (aiosmtpd) both the ceiling and the notifiers send to.
    #[arg(long, default_value = "tests/support/smtp_sink.py")]
    pub sink_script: PathBuf,
    #[arg(long, default_value = "python3")]
    pub python: String,
    /// Due email notifications (and users) to write.
    #[arg(long, default_value_t = 5000)]
    pub notifications: usize,
    /// `notifier` processes to run at once.
    #[arg(long, default_value_t = 1)]
    pub processes: usize,
    /// HUB_NOTIFIER__CONCURRENCY of each process.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// HUB_NOTIFIER__BATCH_SIZE of each process.
    #[arg(long, default_value_t = 50)]
    pub batch_size: u32,
    /// HUB_NOTIFIER__POLL_INTERVAL_MS of each process.
    #[arg(long, default_value_t = 100)]
    pub poll_interval_ms: u64,
    /// SMTP connections of the ceiling run; repeat for several runs
    /// (default: 1 and processes × concurrency).
    #[arg(long = "baseline-connections")]
    pub baseline_connections: Vec<usize>,
    /// Skip the ceiling runs.
    #[arg(long)]
    pub skip_baseline: bool,
    /// Also run the ceiling (with the largest connection count) the way
    /// lettre writes a message: the message and its final `.` in two writes,
    /// Nagle's algorithm on. For comparison with the notifier.
    #[arg(long)]
    pub lettre_like_ceiling: bool,
    /// Give up after this many seconds of the notifier run.
    #[arg(long, default_value_t = 300)]
    pub timeout_secs: u64,
    /// Where the sink's files and the notifiers' logs go (default: a new
    /// directory under the system's temporary directory).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SlotSearchArgs {
    /// The hub's base URL.
    #[arg(long)]
    pub url: String,
    /// Email of a platform admin (`hub user create --role admin`).
    #[arg(long, env = "LOADTEST_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "LOADTEST_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Days of appointments (from the next UTC midnight).
    #[arg(long, default_value_t = 365)]
    pub days: i64,
    /// Share of the loaded provider's slots to book.
    #[arg(long, default_value_t = 0.7)]
    pub fill: f64,
    /// Bookings in flight while filling.
    #[arg(long, default_value_t = 8)]
    pub fill_concurrency: usize,
    /// Searches per provider (the same windows for both).
    #[arg(long, default_value_t = 2000)]
    pub searches: usize,
    /// Searches in flight; repeat for one run of both providers per value.
    #[arg(long = "concurrency", default_values_t = [8usize])]
    pub concurrency: Vec<usize>,
    /// Window lengths in days, picked uniformly per search; repeatable.
    #[arg(long = "window-days", default_values_t = [7i64, 31])]
    pub window_days: Vec<i64>,
    /// Unrecorded searches before each measured phase.
    #[arg(long, default_value_t = 200)]
    pub warmup: usize,
    /// Patients to register (bookings are spread over them).
    #[arg(long, default_value_t = 4)]
    pub patients: usize,
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// The hub's pid, for its CPU time.
    #[arg(long)]
    pub hub_pid: Option<u32>,
    /// The hub's database, to count the appointments booked.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct BookArgs {
    /// The hub's base URL.
    #[arg(long)]
    pub url: String,
    #[arg(long, env = "LOADTEST_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "LOADTEST_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Patients (each with its own token), all booking at once.
    #[arg(long, default_value_t = 64)]
    pub patients: usize,
    /// Patients attempting each slot at the same moment (divides --patients).
    #[arg(long, default_value_t = 8)]
    pub contention: usize,
    /// Slots booked in each phase.
    #[arg(long, default_value_t = 480)]
    pub slots: usize,
    /// The hub's pid, for its CPU time.
    #[arg(long)]
    pub hub_pid: Option<u32>,
    /// The hub's database, to check for double booking afterwards.
    #[arg(long)]
    pub database_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct MediaCapacityArgs {
    /// The `media` binary to start (with MEDIA_CONTROL=tcp://127.0.0.1:0,
    /// MEDIA_BIND_IPS=127.0.0.1).
    #[arg(long, default_value = "target/release/media")]
    pub media_bin: PathBuf,
    /// Use a running worker at this control endpoint instead of starting one.
    #[arg(long)]
    pub control: Option<String>,
    /// That worker's pid, for its CPU and RSS (with --control).
    #[arg(long)]
    pub media_pid: Option<u32>,
    /// Participants per visit.
    #[arg(long, default_value_t = 2)]
    pub parties: usize,
    /// Concurrent visits of each step, in order (comma-separated or repeated).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1,2,4,8,12,16,24,32,48,64"
    )]
    pub visits: Vec<usize>,
    /// Seconds between media flowing everywhere and the measured window.
    #[arg(long, default_value_t = 3.0)]
    pub warmup_secs: f64,
    /// Seconds of the measured window of each step.
    #[arg(long, default_value_t = 10.0)]
    pub window_secs: f64,
    /// Video bitrate of each participant, kbit/s.
    #[arg(long, default_value_t = 1000)]
    pub video_kbps: u32,
    #[arg(long, default_value_t = 30)]
    pub fps: u32,
    /// Opus payload bytes per 20 ms packet.
    #[arg(long, default_value_t = 80)]
    pub audio_bytes: usize,
    /// Stop when the loss of a step reaches this fraction.
    #[arg(long, default_value_t = 0.01)]
    pub max_loss: f64,
    /// Stop when the machine is this busy (fraction of all cores).
    #[arg(long, default_value_t = 0.95)]
    pub saturation: f64,
    /// Skip the udp-relay baseline.
    #[arg(long)]
    pub no_baseline: bool,
    /// Pin the worker (and the relay baseline) to these CPUs (e.g. `0`).
    #[arg(long, value_delimiter = ',')]
    pub worker_cpus: Vec<usize>,
    /// Pin this process (the load generator) to these CPUs (e.g. `1`).
    #[arg(long, value_delimiter = ',')]
    pub loadgen_cpus: Vec<usize>,
}

impl MediaCapacityArgs {
    pub fn spec(&self) -> crate::media_synth::SynthSpec {
        crate::media_synth::SynthSpec {
            video_kbps: self.video_kbps,
            fps: self.fps,
            audio_bytes: self.audio_bytes,
            ..Default::default()
        }
    }
}

#[derive(Debug, Args)]
pub struct VisitJoinArgs {
    /// The hub's base URL (`hub serve` with its in-process media worker).
    #[arg(long)]
    pub url: String,
    /// Email of a platform admin (`hub user create --role admin`).
    #[arg(long, env = "LOADTEST_ADMIN_EMAIL")]
    pub admin_email: Option<String>,
    #[arg(long, env = "LOADTEST_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,
    /// Visits to time, one after another.
    #[arg(long, default_value_t = 30)]
    pub joins: usize,
    /// Skip the direct peer-to-peer baseline.
    #[arg(long)]
    pub no_baseline: bool,
}

#[derive(Debug, Clone, clap::Args)]
pub struct MediaJoinArgs {
    #[arg(long, default_value = "target/release/media")]
    pub media_bin: PathBuf,
    /// Use a running worker at this control endpoint instead of starting one.
    #[arg(long)]
    pub control: Option<String>,
    /// Joins to time (each in a visit of its own, the host already in it).
    #[arg(long, default_value_t = 50)]
    pub joins: usize,
    /// How often the SFU's pending offers are fetched while a join is in progress, ms.
    #[arg(long, default_value_t = 10)]
    pub poll_ms: u64,
    /// Skip the direct peer-to-peer baseline.
    #[arg(long)]
    pub no_baseline: bool,
}

#[derive(Debug, Args)]
pub struct UdpRelayArgs {
    #[arg(long)]
    pub participants: usize,
    /// Participants per visit (consecutive sockets).
    #[arg(long)]
    pub group: usize,
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

    #[test]
    fn scheduling_and_notify_defaults() {
        let cli = Cli::parse_from(["loadtest", "slot-search", "--url", "http://h:1"]);
        let Command::SlotSearch(a) = cli.command else {
            panic!("not slot-search")
        };
        assert_eq!(a.window_days, [7, 31]);
        assert_eq!((a.fill, a.days), (0.7, 365));
        assert_eq!(a.concurrency, [8]);
        let cli = Cli::parse_from([
            "loadtest",
            "notify-throughput",
            "--processes",
            "2",
            "--baseline-connections",
            "1",
            "--baseline-connections",
            "16",
        ]);
        let Command::NotifyThroughput(n) = cli.command else {
            panic!("not notify-throughput")
        };
        assert_eq!((n.processes, n.notifications), (2, 5000));
        assert_eq!(n.baseline_connections, [1, 16]);
        let cli = Cli::parse_from(["loadtest", "book-contention", "--url", "http://h:1"]);
        let Command::BookContention(b) = cli.command else {
            panic!("not book-contention")
        };
        assert_eq!((b.patients, b.contention, b.slots), (64, 8, 480));
    }

    #[test]
    fn media_defaults_and_lists() {
        let cli = Cli::parse_from([
            "loadtest",
            "media-capacity",
            "--visits",
            "1,3",
            "--visits",
            "5",
        ]);
        let Command::MediaCapacity(m) = cli.command else {
            panic!("not media-capacity")
        };
        assert_eq!(m.visits, [1, 3, 5]);
        assert_eq!((m.parties, m.max_loss), (2, 0.01));
        assert_eq!(m.spec().video_kbps, 1000);
        let cli = Cli::parse_from(["loadtest", "media-join"]);
        let Command::MediaJoin(j) = cli.command else {
            panic!("not media-join")
        };
        assert_eq!((j.joins, j.poll_ms), (50, 10));
    }
}
