//! Storage: one interface over SQLite (embedded default) and PostgreSQL (cluster).
//!
//! The engine is chosen by the database URL's scheme at startup. Queries go through
//! sqlx's `Any` driver with `$n` placeholders, which both engines accept, and use
//! only portable types (TEXT ids, BIGINT milliseconds, BLOB/BYTEA), so one query text
//! serves both. Where the dialects really differ (how a write transaction starts,
//! migrations) [`Dialect`] decides. Query functions take `&mut AnyConnection`, so a
//! caller can run them on a pooled connection or inside its own transaction.

pub mod audit;
pub mod audit_search;
mod error;
pub mod invites;
pub mod mfa;
pub mod orgs;
pub mod portal;
pub mod presence;
pub mod referrals;
pub mod rooms;
pub mod scheduling;
pub mod seal_backfill;
pub mod sealed;
pub mod sessions;
pub mod throttle;
pub mod users;
pub mod visits;

use std::time::Duration;

use sqlx::{
    Any, AnyPool, Executor, Transaction,
    any::{AnyConnectOptions, AnyPoolOptions},
    migrate::Migrator,
};

pub use error::StoreError;
pub use sqlx::AnyConnection as Conn;

use crate::config::DatabaseKind;

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");

/// Which SQL dialect the pool speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl From<DatabaseKind> for Dialect {
    fn from(kind: DatabaseKind) -> Self {
        match kind {
            DatabaseKind::Sqlite => Dialect::Sqlite,
            DatabaseKind::Postgres => Dialect::Postgres,
        }
    }
}

/// The database handle shared by every module.
#[derive(Clone, Debug)]
pub struct Store {
    pool: AnyPool,
    dialect: Dialect,
}

impl Store {
    /// Connects (creating the SQLite file if needed) without migrating.
    pub async fn connect(url: &str, dialect: Dialect) -> Result<Self, StoreError> {
        sqlx::any::install_default_drivers();
        let options: AnyConnectOptions = url.parse().map_err(StoreError::Connect)?;
        let pool = match dialect {
            // SQLite allows one writer at a time; a small pool with a busy timeout
            // queues writers instead of failing them, WAL lets readers proceed.
            Dialect::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .acquire_timeout(Duration::from_secs(10))
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await?;
                            Ok(())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Dialect::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(20)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        }
        .map_err(StoreError::Connect)?;
        Ok(Self { pool, dialect })
    }

    /// Applies the embedded migrations of this dialect. Safe to run from several
    /// nodes at once: sqlx takes an advisory lock on PostgreSQL.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        let migrator = match self.dialect {
            Dialect::Sqlite => &SQLITE_MIGRATIONS,
            Dialect::Postgres => &POSTGRES_MIGRATIONS,
        };
        migrator.run(&self.pool).await.map_err(StoreError::Migrate)
    }

    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// A pooled connection for reads and single-statement writes.
    pub async fn conn(&self) -> Result<sqlx::pool::PoolConnection<Any>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Starts a transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`): a deferred transaction that reads and then writes
    /// can fail with "database is locked" instead of waiting its turn.
    pub async fn begin_write(&self) -> Result<Transaction<'static, Any>, StoreError> {
        let tx = match self.dialect {
            Dialect::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await?,
            Dialect::Postgres => self.pool.begin().await?,
        };
        Ok(tx)
    }

    /// Liveness of the database for `/readyz`.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Converts a stored 0/1 flag. Both engines store flags as integers so the
/// same decoding works everywhere.
pub(crate) fn flag(value: i64) -> bool {
    value != 0
}
