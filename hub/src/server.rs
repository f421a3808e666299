//! Building and running a hub node: configuration in, a bound server out.
//!
//! `Server::build` does everything that can fail at startup (secrets, database,
//! migrations, binding) before serving, so a misconfigured node exits at once
//! with a clear message. Tests build it with `listen = 127.0.0.1:0` and read the
//! bound address back.

use std::{future::Future, net::SocketAddr, sync::Arc, time::Duration};

use crate::{
    auth::tokens::TokenSigner,
    bus::{EventBus, InProcessBus, RedisBus},
    clock::{Clock, SystemClock},
    config::{Config, DatabaseKind},
    connections, http,
    metrics::Metrics,
    secrets,
    state::{AppState, Inner},
    store::Store,
};
use anyhow::Context;

/// How long in-flight requests may run after a shutdown signal.
const DRAIN_SECS: u64 = 10;

/// A node ready to serve.
pub struct Server {
    listener: std::net::TcpListener,
    state: AppState,
}

/// Connects to the configured database and applies migrations.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    if config.database_kind() == DatabaseKind::Sqlite {
        create_private_dir(&config.data_dir)?;
        private_sqlite_files(&config.effective_database_url())?;
    }
    let store = Store::connect(
        &config.effective_database_url(),
        config.database_kind().into(),
    )
    .await
    .context("database")?;
    store.migrate().await.context("database migrations")?;
    Ok(store)
}

/// Seals PHI text stored before it was encrypted at rest (see `store::seal_backfill`),
/// before the node serves, so every value it reads back was written sealed or was
/// sealed here.
async fn seal_plaintext_phi(store: &Store, keyring: &crate::crypto::Keyring) -> anyhow::Result<()> {
    let mut conn = store.conn().await.context("database")?;
    let sealed = crate::store::seal_backfill::run(&mut conn, keyring)
        .await
        .context("sealing plaintext PHI")?;
    if sealed > 0 {
        tracing::info!(sealed, "sealed PHI values stored before encryption at rest");
    }
    Ok(())
}

/// The data directory holds patient data and keys: only the hub's user may enter.
fn create_private_dir(dir: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    if !dir.exists() {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create data directory {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot restrict data directory {}", dir.display()))?;
    }
    Ok(())
}

/// Installs the audit key for this process, seals where the keyed chain begins
/// (first start with the key) and opens the checkpoint file.
pub async fn open_audit(
    config: &Config,
    store: &Store,
    key: &[u8],
    clock: &dyn Clock,
) -> anyhow::Result<Arc<crate::audit::Checkpointer>> {
    let key = Arc::new(crate::audit::ChainKey::new(key));
    crate::audit::install_key(key.clone());
    let start = crate::audit::ensure_chain_start(store, &key, clock.now_ms())
        .await
        .context("audit chain")?;
    let path = config.audit.effective_checkpoint_path(&config.data_dir);
    Ok(Arc::new(crate::audit::Checkpointer::open(
        path, key, start,
    )?))
}

/// The SQLite database holds patient data: its file is created 0600 before
/// SQLite opens it (SQLite gives the `-wal`, `-shm` and `-journal` files the
/// database file's mode), and any of them an older version left readable by
/// others is tightened.
fn private_sqlite_files(url: &str) -> anyhow::Result<()> {
    use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
    let Some(path) = sqlite_path(url) else {
        return Ok(());
    };
    let created = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path);
    match created {
        Ok(_) => {}
        // Existing, or a missing directory SQLite will report itself.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::AlreadyExists | std::io::ErrorKind::NotFound
            ) => {}
        Err(e) => {
            return Err(e).with_context(|| format!("cannot create database {}", path.display()));
        }
    }
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let file = std::path::PathBuf::from(format!("{}{suffix}", path.display()));
        if let Ok(meta) = std::fs::metadata(&file)
            && meta.permissions().mode() & 0o077 != 0
        {
            std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
                .with_context(|| format!("cannot restrict {}", file.display()))?;
        }
    }
    Ok(())
}

/// The file a `sqlite:` URL names; `None` for an in-memory or read-only database.
fn sqlite_path(url: &str) -> Option<std::path::PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
    if path.is_empty()
        || path.contains(":memory:")
        || query.contains("mode=ro")
        || query.contains("mode=memory")
    {
        return None;
    }
    Some(std::path::PathBuf::from(path))
}

/// The event bus the configuration asks for. With Redis configured, an
/// unreachable Redis stops startup: a node that cannot hear the others must not
/// serve as if it could.
async fn build_bus(config: &Config) -> anyhow::Result<Arc<dyn EventBus>> {
    match &config.redis_url {
        None => Ok(Arc::new(InProcessBus::new())),
        Some(url) => Ok(Arc::new(
            RedisBus::connect(url).await.context("Redis event bus")?,
        )),
    }
}

impl Server {
    pub async fn build(config: Config) -> anyhow::Result<Self> {
        Self::build_with_clock(config, Arc::new(SystemClock)).await
    }

    pub async fn build_with_clock(config: Config, clock: Arc<dyn Clock>) -> anyhow::Result<Self> {
        config.validate()?;
        if !config.is_cluster() {
            create_private_dir(&config.data_dir)?;
        }
        let secrets = secrets::load(&config)?;
        config.check_metrics_token()?;
        let store = open_store(&config).await?;
        let audit = open_audit(&config, &store, &secrets.audit_key, clock.as_ref()).await?;
        seal_plaintext_phi(&store, &secrets.keyring).await?;
        let bus = build_bus(&config).await?;
        let listener = std::net::TcpListener::bind(config.listen)
            .with_context(|| format!("cannot listen on {}", config.listen))?;
        listener.set_nonblocking(true)?;
        let database = match config.database_kind() {
            DatabaseKind::Sqlite => "sqlite",
            DatabaseKind::Postgres => "postgres",
        };
        let metrics = Metrics::new(database, bus.name());
        let signer = TokenSigner::new(
            &secrets.token_signing_key,
            config.auth.access_token_ttl_secs,
        );
        let notifications = Arc::new(crate::notifications::Notifications::build(
            &config,
            &store,
            bus.clone(),
            clock.clone(),
        )?);
        let visits = Arc::new(
            crate::visits::Visits::build(&config, &secrets.token_signing_key)
                .await
                .context("video visits")?,
        );
        let state = AppState::new(Inner {
            notifications,
            visits,
            config,
            store,
            bus,
            signer,
            keyring: secrets.keyring,
            clock,
            metrics,
            gateway: crate::gateway::Gateway::new(),
            audit,
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .unwrap_or_else(|_| self.state.config.listen)
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then stops accepting, lets in-flight
    /// requests finish (up to 10 s) and closes the database pool.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let addr = self.local_addr();
        let state = self.state.clone();
        let heartbeat = tokio::spawn(state.gateway.presence.clone().run_heartbeat(state.clone()));
        let session_listener = tokio::spawn(crate::gateway::sessions::run_listener(state.clone()));
        let (stop_notifier, notifier_stopped) = tokio::sync::watch::channel(false);
        let notifier = state.notifications.spawn(notifier_stopped);
        let visit_stats = crate::visits::spawn_stats_loop(state.clone());
        let monitor = crate::monitor::spawn(state.clone());
        let checkpoints = state.audit.clone().spawn(
            state.store.clone(),
            state.clock.clone(),
            Duration::from_secs(state.config.audit.checkpoint_interval_secs),
        );
        // Open sockets are not requests: tell them to move to another node (1001)
        // when shutdown begins rather than letting the drain deadline cut them.
        let gateway = state.gateway.clone();
        let leaving = state.clone();
        let shutdown = async move {
            shutdown.await;
            gateway.shut_down();
            // The other nodes' monitors show this node leaving, not dying.
            crate::monitor::announce_leaving(&leaving, false).await;
        };
        let app = http::app(self.state.clone());
        let tls = match &state.config.tls {
            Some(tls) => {
                let _ = rustls::crypto::ring::default_provider().install_default();
                let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(
                    &tls.cert_path,
                    &tls.key_path,
                )
                .await
                .context("loading TLS certificate and key")?;
                Some(config)
            }
            None => None,
        };
        let limits = connections::Limits::new(&state.config.http, crate::fd_limit::current().ok());
        tracing::info!(
            %addr,
            tls = tls.is_some(),
            max_connections = limits.max_connections,
            "serving"
        );
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let listener = tokio::net::TcpListener::from_std(self.listener)?;
        // In-flight requests get DRAIN_SECS after the signal; then the process
        // stops regardless (a stuck client cannot hold it up).
        connections::serve(
            listener,
            app,
            tls,
            limits,
            stop_rx,
            Duration::from_secs(DRAIN_SECS),
        )
        .await;
        heartbeat.abort();
        session_listener.abort();
        visit_stats.abort();
        for task in monitor {
            task.abort();
        }
        // Let the notifier finish the hand-offs in flight before the pool closes.
        stop_notifier.send_replace(true);
        if let Some(notifier) = notifier {
            let _ = tokio::time::timeout(Duration::from_secs(DRAIN_SECS), notifier).await;
        }
        state.gateway.presence.clear(&state).await;
        crate::monitor::announce_leaving(&state, true).await;
        // The last rows written before the stop are checkpointed too.
        checkpoints.abort();
        state
            .audit
            .checkpoint_logged(&state.store, state.clock.as_ref())
            .await;
        state.store.close().await;
        tracing::info!("stopped");
        Ok(())
    }
}

/// Completes on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received; draining");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_urls_name_their_file() {
        assert_eq!(
            sqlite_path("sqlite://data/hub.db?mode=rwc"),
            Some("data/hub.db".into())
        );
        assert_eq!(sqlite_path("sqlite:/tmp/x.db"), Some("/tmp/x.db".into()));
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("sqlite://x.db?mode=ro"), None);
        assert_eq!(sqlite_path("postgres://h/db"), None);
    }
}
