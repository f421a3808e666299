//! The storage layer's error.

/// A failure talking to the database. Callers map `UniqueViolation` to a domain
/// conflict; everything else is an internal error that is logged, never shown.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database: {0}")]
    Connect(#[source] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[source] sqlx::migrate::MigrateError),
    #[error("unique constraint violated: {0}")]
    UniqueViolation(String),
    #[error("database error: {0}")]
    Database(#[source] sqlx::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    /// A startup step was skipped (e.g. the audit key was never loaded).
    #[error("not configured: {0}")]
    NotConfigured(&'static str),
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        if let sqlx::Error::Database(db) = &e
            && db.is_unique_violation()
        {
            return StoreError::UniqueViolation(db.message().to_owned());
        }
        StoreError::Database(e)
    }
}
