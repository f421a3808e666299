//! A fresh database per test: a SQLite file in a temporary directory, or a new
//! PostgreSQL database created from `HUB_TEST_DATABASE_URL` and dropped after.

use std::path::PathBuf;

use sqlx::{Connection, postgres::PgConnection};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backends this run covers. PostgreSQL needs `HUB_TEST_DATABASE_URL`; when
/// it is missing the test says so and skips it, unless `HUB_TEST_REQUIRE_SERVICES=1`
/// (CI), which makes the absence a failure.
pub fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if std::env::var("HUB_TEST_DATABASE_URL").is_ok() {
        out.push(Backend::Postgres);
    } else if std::env::var("HUB_TEST_REQUIRE_SERVICES").as_deref() == Ok("1") {
        panic!("HUB_TEST_REQUIRE_SERVICES=1 but HUB_TEST_DATABASE_URL is not set");
    } else {
        eprintln!("skipped PostgreSQL: HUB_TEST_DATABASE_URL is not set");
    }
    out
}

pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    pub data_dir: PathBuf,
    pg: Option<(String, String)>,
}

fn temp_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("hub-test-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// `postgres://u@h:p/db?x` with the database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let (root, _) = base.rsplit_once('/').expect("database url has a path");
    match query {
        Some(q) => format!("{root}/{name}?{q}"),
        None => format!("{root}/{name}"),
    }
}

impl TestDb {
    /// The PostgreSQL database this test owns (None on SQLite).
    pub fn postgres_name(&self) -> Option<&str> {
        self.pg.as_ref().map(|(_, name)| name.as_str())
    }

    pub async fn create(backend: Backend) -> Self {
        let data_dir = temp_dir();
        match backend {
            Backend::Sqlite => Self {
                backend,
                url: format!("sqlite://{}?mode=rwc", data_dir.join("hub.db").display()),
                data_dir,
                pg: None,
            },
            Backend::Postgres => {
                let admin = std::env::var("HUB_TEST_DATABASE_URL").expect("HUB_TEST_DATABASE_URL");
                let name = format!("hub_test_{}", uuid::Uuid::new_v4().simple());
                let mut conn = PgConnection::connect(&admin)
                    .await
                    .expect("connect to PostgreSQL");
                sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
                    .execute(&mut conn)
                    .await
                    .expect("create test database");
                let _ = conn.close().await;
                Self {
                    backend,
                    url: with_database(&admin, &name),
                    data_dir,
                    pg: Some((admin, name)),
                }
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.data_dir);
        if let Some((admin, name)) = self.pg.take() {
            // Drop runs outside async context; use a short-lived runtime on its
            // own thread. FORCE ends the test server's remaining connections.
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build();
                if let Ok(rt) = rt {
                    rt.block_on(async {
                        if let Ok(mut conn) = PgConnection::connect(&admin).await {
                            let sql = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
                            let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                                .execute(&mut conn)
                                .await;
                        }
                    });
                }
            })
            .join();
        }
    }
}
