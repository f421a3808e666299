//! The real `hub` binary as a child process, for tests of the command line and
//! of faults (signals, kill -9).

use std::{
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

/// `hub` with a clean environment: only what a test sets reaches it.
pub fn hub_command() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_hub"));
    cmd.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default());
    cmd
}

/// A free TCP port on loopback (released before the server binds it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// The environment of a `hub serve` node sharing `database_url` and `redis_url` with
/// the test's in-process hub (same keys, so tokens, sealed data and the audit chain
/// are valid on every node).
pub fn node_env(database_url: &str, redis_url: &str) -> Vec<(&'static str, String)> {
    vec![
        ("HUB_DATABASE_URL", database_url.to_owned()),
        ("HUB_REDIS_URL", redis_url.to_owned()),
        (
            "HUB_SECRETS__TOKEN_SIGNING_KEY",
            super::SIGNING_KEY.to_owned(),
        ),
        (
            "HUB_SECRETS__DATA_ENCRYPTION_KEY",
            super::DATA_KEY.to_owned(),
        ),
        ("HUB_SECRETS__AUDIT_KEY", super::AUDIT_KEY.to_owned()),
    ]
}

/// A `hub serve` process on its own port.
pub struct HubProcess {
    pub child: Child,
    pub base: String,
}

impl HubProcess {
    /// Starts `hub serve` with the embedded default in `data_dir` and waits until
    /// `/healthz` answers.
    pub async fn start(data_dir: &Path) -> Self {
        Self::start_with(data_dir, &[]).await
    }

    /// Starts `hub serve` with extra environment (`HUB_*` settings); its log goes
    /// to `data_dir/hub.log` for diagnosis.
    pub async fn start_with(data_dir: &Path, env: &[(&str, String)]) -> Self {
        let port = free_port();
        std::fs::create_dir_all(data_dir).expect("data dir");
        let log = std::fs::File::create(data_dir.join("hub.log")).expect("log file");
        let mut cmd = hub_command();
        cmd.arg("serve")
            .env("HUB_DATA_DIR", data_dir)
            .env("HUB_LISTEN", format!("127.0.0.1:{port}"))
            .env("HUB_LOG__LEVEL", "warn")
            .env("HUB_METRICS__TOKEN", super::METRICS_TOKEN);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn hub serve");
        let process = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            if let Ok(r) = client.get(format!("{}/healthz", process.base)).send().await
                && r.status() == 200
            {
                return process;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "hub did not come up; see {}",
                data_dir.join("hub.log").display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Logs `email` in over REST and returns the answer (`access_token`,
    /// `refresh_token`, ...).
    pub async fn login(&self, email: &str, password: &str) -> serde_json::Value {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/auth/login", self.base))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("login request");
        assert_eq!(resp.status(), 200, "login of {email}");
        resp.json().await.expect("login answer")
    }

    pub fn signal(&self, signal: &str) {
        let pid = self.child.id().to_string();
        let status = Command::new("kill")
            .args([signal, &pid])
            .status()
            .expect("kill");
        assert!(status.success(), "kill {signal} {pid}");
    }

    /// Waits up to `limit` for the process to exit and returns whether it exited
    /// successfully.
    pub async fn wait(&mut self, limit: Duration) -> bool {
        let started = Instant::now();
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.success();
            }
            assert!(started.elapsed() < limit, "process did not exit");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for HubProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
