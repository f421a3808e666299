//! PostgreSQL for the benchmarks, over sqlx: one plain `PgConnection` per
//! use (no pool, so nothing runs behind the measurement's back), and the
//! few things sqlx does not do for us: the URL of another database on the
//! same server, a URL fit for a report, and creating or dropping a fresh
//! benchmark database by name.

use std::str::FromStr;

use anyhow::Context;
use reqwest::Url;
use sqlx::postgres::{PgConnectOptions, PgConnection};
use sqlx::{AssertSqlSafe, ConnectOptions, Connection};

/// Connects to `url` as application `loadtest` (as `pg_stat_activity` shows it).
pub async fn connect(url: &str) -> anyhow::Result<PgConnection> {
    let options = PgConnectOptions::from_str(url)
        .with_context(|| format!("bad database URL {}", masked(url)))?
        .application_name("loadtest")
        .disable_statement_logging();
    options
        .connect()
        .await
        .with_context(|| format!("connecting to {}", masked(url)))
}

/// Closes `conn`; a failure to say goodbye does not matter to a benchmark.
pub async fn close(conn: PgConnection) {
    let _ = conn.close().await;
}

/// The same server, credentials and parameters, another database.
pub fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let mut u = Url::parse(url).with_context(|| format!("bad database URL {}", masked(url)))?;
    anyhow::ensure!(
        matches!(u.scheme(), "postgres" | "postgresql") && u.has_host(),
        "a database URL looks like postgres://user@host:port/database"
    );
    u.set_path(database);
    Ok(u.to_string())
}

/// `url` with its password (if any) hidden, for reports and messages.
pub fn masked(url: &str) -> String {
    match Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("****"));
            u.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Whether `name` may be spliced into SQL as a database name: lower-case
/// ASCII letters, digits and `_`, not starting with a digit, at most 63 bytes.
pub fn is_plain_identifier(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 63
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn checked(name: &str) -> anyhow::Result<&str> {
    anyhow::ensure!(
        is_plain_identifier(name),
        "refusing database name {name:?}: only [a-z0-9_] (not starting with a digit)"
    );
    Ok(name)
}

/// `CREATE DATABASE <name>` through the server at `admin_url`.
pub async fn create_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    // An identifier cannot be a bound parameter; `checked` allows only
    // [a-z0-9_], which needs no quoting and cannot break out of the statement.
    let sql = format!("CREATE DATABASE {}", checked(name)?);
    let mut admin = connect(admin_url).await?;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .with_context(|| format!("creating database {name}"))?;
    close(admin).await;
    Ok(())
}

/// `DROP DATABASE IF EXISTS <name> WITH (FORCE)` through the server at `admin_url`.
pub async fn drop_database(admin_url: &str, name: &str) -> anyhow::Result<()> {
    // As in `create_database`: a checked [a-z0-9_] identifier.
    let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", checked(name)?);
    let mut admin = connect(admin_url).await?;
    sqlx::raw_sql(AssertSqlSafe(sql))
        .execute(&mut admin)
        .await
        .with_context(|| format!("dropping database {name}"))?;
    close(admin).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn swaps_the_database() {
        let admin = "postgres://postgres@127.0.0.1:5432/postgres";
        assert_eq!(
            with_database(admin, "hb_other").unwrap(),
            "postgres://postgres@127.0.0.1:5432/hb_other"
        );
        assert_eq!(
            with_database(
                "postgresql://bob:p%40ss@db.example:6000/x?sslmode=disable",
                "y"
            )
            .unwrap(),
            "postgresql://bob:p%40ss@db.example:6000/y?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://alice@localhost", "z").unwrap(),
            "postgres://alice@localhost/z"
        );
        assert!(with_database("mysql://x@h/db", "y").is_err());
        assert!(with_database("not a url", "y").is_err());
        // The result is what sqlx connects to.
        let o = PgConnectOptions::from_str(&with_database(admin, "hb_x").unwrap()).unwrap();
        assert_eq!(o.get_database(), Some("hb_x"));
        assert_eq!((o.get_host(), o.get_port()), ("127.0.0.1", 5432));
    }

    #[test]
    fn masks_passwords() {
        assert_eq!(
            masked("postgres://bob:secret@db.example:6000/x"),
            "postgres://bob:****@db.example:6000/x"
        );
        let plain = "postgres://postgres@127.0.0.1:5432/hb";
        assert_eq!(masked(plain), plain);
        assert_eq!(masked("garbage"), "garbage");
    }

    #[test]
    fn only_plain_identifiers_reach_sql() {
        assert!(is_plain_identifier("hb_notify_ab12cd34"));
        for bad in [
            "",
            "HB",
            "1db",
            "a-b",
            "a b",
            "x; DROP DATABASE postgres",
            "\"quoted\"",
            "é",
        ] {
            assert!(!is_plain_identifier(bad), "{bad:?}");
        }
        assert!(!is_plain_identifier(&"a".repeat(64)));
        assert!(checked("hb_x").is_ok() && checked("hb x").is_err());
    }
}
