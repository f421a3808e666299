//! `notifier`: runs the notification worker as its own process, beside one or
//! more hub nodes that share its database (and, for in-app notices, its Redis).
//!
//! It reads the hub's configuration file and `HUB_` variables — only the keys it
//! needs: `database_url`, `redis_url`, `data_dir`, `public_url` and `[notifier]` —
//! so the same deployment settings drive both. Run the hub once first: it owns
//! the schema and migrates it.

use std::{path::PathBuf, process::ExitCode};

use clap::Parser;
use notifier::{
    Engine, NotifierConfig,
    channels::{Channels, InAppSink, redis_in_app::RedisInApp},
    worker::{Settings, Worker},
};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(name = "notifier", version, about = "HealthBridge notification worker")]
struct Cli {
    /// The hub's TOML configuration file.
    #[arg(long, env = "HUB_CONFIG")]
    config: Option<PathBuf>,
}

/// The part of the hub's configuration a notifier process reads.
#[derive(Debug, Deserialize)]
#[serde(default)]
struct ProcessConfig {
    database_url: Option<String>,
    redis_url: Option<String>,
    data_dir: PathBuf,
    public_url: Option<String>,
    notifier: NotifierConfig,
}

impl Default for ProcessConfig {
    fn default() -> Self {
        Self {
            database_url: None,
            redis_url: None,
            data_dir: PathBuf::from("./data"),
            public_url: None,
            notifier: NotifierConfig::default(),
        }
    }
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("HUB_LOG__LEVEL")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("notifier: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let config = load(cli.config.as_deref(), std::env::vars())?;
    config.notifier.validate().map_err(anyhow::Error::msg)?;
    let url = config.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            config.data_dir.join("hub.db").display()
        )
    });
    let engine = Engine::of_url(&url)
        .ok_or_else(|| anyhow::anyhow!("database_url must start with sqlite: or postgres://"))?;
    sqlx::any::install_default_drivers();
    let pool = sqlx::any::AnyPoolOptions::new()
        .max_connections(u32::try_from(config.notifier.concurrency + 2).unwrap_or(10))
        .connect(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot connect to the database: {e}"))?;
    sqlx::query("SELECT COUNT(*) FROM notifications WHERE 1 = 0")
        .execute(&pool)
        .await
        .map_err(|_| {
            anyhow::anyhow!(
                "the database has no notifications table: start the hub once so it migrates"
            )
        })?;
    let in_app: Option<std::sync::Arc<dyn InAppSink>> = match &config.redis_url {
        Some(redis) => Some(std::sync::Arc::new(
            RedisInApp::connect(redis)
                .await
                .map_err(anyhow::Error::msg)?,
        )),
        None => {
            tracing::info!("no redis_url: in-app notices are left to the hub's own worker");
            None
        }
    };
    let sink_dir = config
        .notifier
        .sink_dir
        .clone()
        .unwrap_or_else(|| config.data_dir.join("notifications"));
    let callback = config
        .public_url
        .as_ref()
        .map(|u| format!("{}/api/v1/webhooks/twilio/status", u.trim_end_matches('/')));
    let channels = Channels::from_config(&config.notifier, &sink_dir, callback, in_app)
        .map_err(anyhow::Error::msg)?;
    let worker = Worker::new(
        pool,
        engine,
        channels,
        notifier::system_now(),
        Settings::from(&config.notifier),
    );
    // Listen for signals before taking any work, so a SIGTERM that arrives at once
    // still lets the first batch finish.
    let signal = shutdown_signal()?;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = tokio::spawn(worker.run(stopped));
    signal.await;
    tracing::info!("stopping: finishing the notifications in hand");
    stop.send_replace(true);
    running.await?;
    Ok(())
}

/// Completes on SIGTERM or SIGINT; the handlers are installed when this returns.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    })
}

/// The configuration file (if any) overlaid with `HUB_` variables for the keys
/// this process reads (`HUB_NOTIFIER__SMTP__PORT=2525` sets `[notifier.email]`…).
fn load(
    path: Option<&std::path::Path>,
    env: impl IntoIterator<Item = (String, String)>,
) -> anyhow::Result<ProcessConfig> {
    let mut table: toml::Table = match path {
        Some(p) => toml::from_str(
            &std::fs::read_to_string(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        )
        .map_err(|e| anyhow::anyhow!("{}: {e}", p.display()))?,
        None => toml::Table::new(),
    };
    for (name, value) in env {
        let Some(key) = name.strip_prefix("HUB_") else {
            continue;
        };
        let path: Vec<String> = key.split("__").map(str::to_ascii_lowercase).collect();
        let wanted = matches!(
            path.first().map(String::as_str),
            Some("database_url" | "redis_url" | "data_dir" | "public_url" | "notifier")
        );
        if wanted && path.iter().all(|p| !p.is_empty()) {
            insert(&mut table, &path, value)?;
        }
    }
    let wanted: toml::Table = table
        .into_iter()
        .filter(|(k, _)| {
            matches!(
                k.as_str(),
                "database_url" | "redis_url" | "data_dir" | "public_url" | "notifier"
            )
        })
        .collect();
    Ok(ProcessConfig::deserialize(toml::Value::Table(wanted))?)
}

fn insert(table: &mut toml::Table, path: &[String], value: String) -> anyhow::Result<()> {
    match path {
        [] => Ok(()),
        [last] => {
            table.insert(last.clone(), toml::Value::String(value));
            Ok(())
        }
        [first, rest @ ..] => match table
            .entry(first.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()))
        {
            toml::Value::Table(inner) => insert(inner, rest, value),
            _ => anyhow::bail!("HUB_ variable: `{first}` is not a section"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_its_keys_from_file_and_environment_and_ignores_the_rest() {
        let dir = std::env::temp_dir().join(format!("notifier-cfg-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("hub.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:0\"\ndatabase_url = \"postgres://x/db\"\n[gateway]\nmax_rooms_per_socket = 5\n\
             [notifier]\nbatch_size = 10\n",
        )
        .unwrap();
        let env = [
            ("HUB_NOTIFIER__CONCURRENCY".to_owned(), "3".to_owned()),
            (
                "HUB_NOTIFIER__EMAIL__HOST".to_owned(),
                "localhost".to_owned(),
            ),
            ("HUB_NOTIFIER__EMAIL__PORT".to_owned(), "2525".to_owned()),
            (
                "HUB_NOTIFIER__EMAIL__SECURITY".to_owned(),
                "plain".to_owned(),
            ),
            (
                "HUB_NOTIFIER__EMAIL__FROM".to_owned(),
                "hb@example.org".to_owned(),
            ),
            ("HUB_GATEWAY__WHATEVER".to_owned(), "ignored".to_owned()),
            ("PATH".to_owned(), "/bin".to_owned()),
        ];
        let c = load(Some(&file), env).unwrap();
        assert_eq!(c.database_url.as_deref(), Some("postgres://x/db"));
        assert_eq!(c.notifier.batch_size, 10);
        assert_eq!(c.notifier.concurrency, 3);
        assert_eq!(c.notifier.email.unwrap().port, 2525);
        std::fs::remove_dir_all(dir).unwrap();
    }
}
