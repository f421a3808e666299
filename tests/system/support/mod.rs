//! Test harness: databases per test, an in-process server per test, HTTP helpers.

pub mod clinic;
pub mod db;
pub mod process;
pub mod resilient;
pub mod totp;
pub mod ws;

use std::sync::Arc;

use hub::{
    clock::{Clock, ManualClock},
    config::{Config, Secret},
    domain::{DisplayName, EmailAddress, OrgName, Password, Role},
    server::Server,
    state::AppState,
};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub use db::{Backend, TestDb, backends};

/// A password that passes the policy, used for every test account.
pub const PASSWORD: &str = "correct horse battery staple 42";

/// A running hub on a random port with its own database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: AppState,
    pub clock: ManualClock,
    pub db: TestDb,
    shutdown: Option<oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

/// The response of an API call: status and parsed JSON body (Null when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub headers: reqwest::header::HeaderMap,
}

impl Reply {
    pub fn code(&self) -> &str {
        self.body["error"]["code"].as_str().unwrap_or("")
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Value {
        assert_eq!(
            self.status.as_u16(),
            status,
            "unexpected reply: {:?}",
            self.body
        );
        self.body
    }

    #[track_caller]
    pub fn expect_error(&self, status: u16, code: &str) {
        assert_eq!(
            (self.status.as_u16(), self.code()),
            (status, code),
            "unexpected reply: {:?}",
            self.body
        );
    }
}

/// The keys every test node shares (a cluster needs them configured).
pub const SIGNING_KEY: &str = "dGVzdC1zaWduaW5nLWtleS10ZXN0LXNpZ25pbmcta2V5LTEyMzQ1Njc4";
pub const DATA_KEY: &str = "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=";
pub const AUDIT_KEY: &str = "YXVkaXQta2V5LWF1ZGl0LWtleS1hdWRpdC1rZXktMTIzNDU2Nzg=";
/// The `/metrics` bearer token of every test node (required with PostgreSQL).
pub const METRICS_TOKEN: &str = "test-metrics-scrape-token";

/// The configuration every test starts from; `tweak` adjusts it.
pub fn test_config(db: &TestDb) -> Config {
    let mut config = Config {
        listen: "127.0.0.1:0".parse().expect("address"),
        data_dir: db.data_dir.clone(),
        database_url: Some(db.url.clone()),
        ..Config::default()
    };
    config.secrets.token_signing_key = Some(Secret::new(SIGNING_KEY));
    config.secrets.data_encryption_key = Some(Secret::new(DATA_KEY));
    config.secrets.audit_key = Some(Secret::new(AUDIT_KEY));
    config.metrics.token = Some(Secret::new(METRICS_TOKEN));
    config.log.level = "warn".into();
    config
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, |_| {}).await
    }

    pub async fn spawn_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> Self {
        hub::telemetry::init(&hub::config::LogConfig {
            level: std::env::var("HUB_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            format: hub::config::LogFormat::Text,
        });
        let db = TestDb::create(backend).await;
        let mut config = test_config(&db);
        tweak(&mut config);
        let clock = ManualClock::starting_now();
        let server = Server::build_with_clock(config, Arc::new(clock.clone()) as Arc<dyn Clock>)
            .await
            .expect("server starts");
        let scheme = if server.state().config.tls.is_some() {
            "https"
        } else {
            "http"
        };
        let base = format!("{scheme}://{}", server.local_addr());
        let state = server.state().clone();
        let (tx, rx) = oneshot::channel::<()>();
        let handle = tokio::spawn(server.run_until(async move {
            let _ = rx.await;
        }));
        Self {
            base,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            state,
            clock,
            db,
            shutdown: Some(tx),
            server: Some(handle),
        }
    }

    /// Stops the server and waits until it has drained.
    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(handle) = self.server.take() {
            let _ = handle.await;
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut req = self.client.request(method, self.url(path));
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let text = resp.text().await.expect("body");
        let body = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or(Value::String(text))
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Reply {
        self.call(Method::POST, path, token, Some(body)).await
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        self.call(Method::GET, path, token, None).await
    }

    /// Registers a patient account through the API; returns its id.
    pub async fn register(&self, email: &str) -> String {
        let body = self
            .post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": PASSWORD, "display_name": "Test User" }),
            )
            .await
            .expect(201);
        body["user_id"].as_str().expect("user id").to_owned()
    }

    /// Logs in through the API; returns the token pair.
    pub async fn login(&self, email: &str) -> Value {
        self.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": email, "password": PASSWORD }),
        )
        .await
        .expect(200)
    }

    pub async fn access_token(&self, email: &str) -> String {
        self.login(email).await["access_token"]
            .as_str()
            .expect("token")
            .to_owned()
    }

    /// Creates an account directly (no HTTP) with `role`, in `org` when given or
    /// as a platform admin for `admin` without an org; returns its id.
    pub async fn account(&self, email: &str, role: Role, org: Option<&str>) -> String {
        let email = EmailAddress::parse(email).expect("email");
        let org = org.map(|o| OrgName::parse(o).expect("org"));
        let (id, _) = hub::accounts::grant_role(
            &self.state.store,
            &email,
            &DisplayName::parse("Test Person").expect("name"),
            &Password::parse_new(PASSWORD, None).expect("password"),
            role,
            org.as_ref(),
        )
        .await
        .expect("account");
        id
    }

    /// A valid access token for `user_id` without a password round trip: a
    /// session row plus a signed JWT, as login would create.
    pub async fn token_for(&self, user_id: &str) -> String {
        let now = self.state.clock.now_ms();
        let session_id = uuid::Uuid::now_v7().to_string();
        let mut conn = self.state.store.conn().await.expect("conn");
        hub::store::sessions::insert(
            &mut conn,
            &hub::store::sessions::NewSession {
                id: &session_id,
                user_id,
                now,
                expires_at: now + 3_600_000,
                client_ip: None,
                user_agent: None,
            },
        )
        .await
        .expect("session");
        self.state
            .signer
            .issue(user_id, &session_id, self.state.clock.now_secs())
            .expect("jwt")
    }

    /// The id of an organization created through `account(.., Some(name))`.
    pub async fn org_id(&self, name: &str) -> String {
        let mut conn = self.state.store.conn().await.expect("conn");
        hub::store::orgs::by_name(&mut conn, name)
            .await
            .expect("query")
            .expect("org exists")
            .id
    }

    /// The server's (manual) clock in Unix seconds.
    pub fn clock_secs(&self) -> i64 {
        self.clock.now_secs()
    }

    /// Runs a scalar count query directly against the database.
    pub async fn count(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(self.state.store.pool())
            .await
            .expect("count")
    }

    /// How many audit rows record `action`.
    pub async fn audited(&self, action: &str) -> i64 {
        sqlx::query_scalar("SELECT COUNT(*) FROM audit_log WHERE action = $1")
            .bind(action)
            .fetch_one(self.state.store.pool())
            .await
            .expect("count")
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
