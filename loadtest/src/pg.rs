//! A minimal PostgreSQL client: the simple-query protocol over TCP, with
//! `trust` or cleartext-password authentication. Enough for the benchmarks
//! to create databases, bulk-insert outbox rows, poll progress and check
//! results, without giving the load tool a database driver (and without its
//! connection pool doing work behind the measurement's back).
//!
//! Everything travels as text: values come back as `Option<String>`, and SQL
//! is built with [`lit`] for literals. Only ever feed it SQL the load tool
//! builds itself.

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The parts of a `postgres://user:password@host:port/database` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgUrl {
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: u16,
    pub database: String,
}

impl PgUrl {
    pub fn parse(url: &str) -> anyhow::Result<Self> {
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .context("a database URL starts with postgres://")?;
        let rest = rest.split(['?', '#']).next().unwrap_or_default();
        let (authority, database) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            Some(u) => match u.split_once(':') {
                Some((user, pass)) => (percent_decode(user)?, Some(percent_decode(pass)?)),
                None => (percent_decode(u)?, None),
            },
            None => ("postgres".to_owned(), None),
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (host, after) = v6.split_once(']').context("unclosed [ in the host")?;
            match after.strip_prefix(':') {
                Some(p) => (
                    host,
                    p.parse().with_context(|| format!("bad port in {url}"))?,
                ),
                None => (host, 5432),
            }
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().with_context(|| format!("bad port in {url}"))?),
                None => (hostport, 5432),
            }
        };
        let host = if host.is_empty() { "localhost" } else { host };
        let database = percent_decode(database)?;
        Ok(Self {
            database: if database.is_empty() {
                user.clone()
            } else {
                database
            },
            user,
            password,
            host: host.to_owned(),
            port,
        })
    }

    /// The same server and credentials, another database.
    pub fn with_database(&self, database: &str) -> String {
        let auth = match &self.password {
            Some(p) => format!("{}:{}", self.user, p),
            None => self.user.clone(),
        };
        format!(
            "postgres://{auth}@{}:{}/{database}",
            if self.host.contains(':') {
                format!("[{}]", self.host)
            } else {
                self.host.clone()
            },
            self.port
        )
    }
}

fn percent_decode(s: &str) -> anyhow::Result<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3).context("truncated %-escape")?;
            out.push(u8::from_str_radix(hex, 16).context("bad %-escape")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Ok(String::from_utf8(out)?)
}

/// A SQL string literal: `'it''s'`. Standard-conforming strings (the default
/// since PostgreSQL 9.1) take backslashes literally.
pub fn lit(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('\'');
    for c in s.chars() {
        if c == '\'' {
            out.push('\'');
        }
        if c != '\0' {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// Rows of text values (`None` for NULL).
pub type Rows = Vec<Vec<Option<String>>>;

pub struct PgConn {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
}

/// Encodes the startup message of protocol 3.0.
fn startup_message(user: &str, database: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&196_608i32.to_be_bytes());
    for (k, v) in [
        ("user", user),
        ("database", database),
        ("application_name", "loadtest"),
    ] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as i32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    msg
}

/// A typed frontend message: tag, length, body.
fn message(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut msg = Vec::with_capacity(body.len() + 5);
    msg.push(tag);
    msg.extend_from_slice(&((body.len() + 4) as i32).to_be_bytes());
    msg.extend_from_slice(body);
    msg
}

fn cstring(s: &str) -> Vec<u8> {
    let mut v = s.as_bytes().to_vec();
    v.push(0);
    v
}

/// The message and SQLSTATE of an ErrorResponse body.
fn error_text(body: &[u8]) -> String {
    let mut message = String::new();
    let mut code = String::new();
    for field in body.split(|&b| b == 0) {
        let Some((&kind, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value);
        match kind {
            b'M' => message = value.into_owned(),
            b'C' => code = value.into_owned(),
            _ => {}
        }
    }
    format!("{message} (SQLSTATE {code})")
}

/// Rows affected according to a CommandComplete tag (`INSERT 0 5`, `UPDATE 3`).
pub fn tag_rows(tag: &str) -> u64 {
    tag.rsplit(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

/// The values of a DataRow body.
fn data_row(body: &[u8]) -> anyhow::Result<Vec<Option<String>>> {
    let n = i16::from_be_bytes(body.get(0..2).context("short DataRow")?.try_into()?);
    let mut pos = 2;
    let mut row = Vec::with_capacity(n.max(0) as usize);
    for _ in 0..n {
        let len = i32::from_be_bytes(
            body.get(pos..pos + 4)
                .context("short DataRow")?
                .try_into()?,
        );
        pos += 4;
        if len < 0 {
            row.push(None);
        } else {
            let end = pos + len as usize;
            let value = body.get(pos..end).context("short DataRow")?;
            row.push(Some(String::from_utf8_lossy(value).into_owned()));
            pos = end;
        }
    }
    Ok(row)
}

impl PgConn {
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let u = PgUrl::parse(url)?;
        let stream = TcpStream::connect((u.host.as_str(), u.port))
            .await
            .with_context(|| format!("connecting to PostgreSQL at {}:{}", u.host, u.port))?;
        stream.set_nodelay(true)?;
        let (r, w) = stream.into_split();
        let mut conn = Self {
            reader: BufReader::new(r),
            writer: w,
        };
        conn.writer
            .write_all(&startup_message(&u.user, &u.database))
            .await?;
        loop {
            let (tag, body) = conn.read_message().await?;
            match tag {
                b'R' => {
                    let code =
                        i32::from_be_bytes(body.get(0..4).context("short auth")?.try_into()?);
                    match code {
                        0 => {}
                        3 => {
                            let password = u
                                .password
                                .as_deref()
                                .context("the server asks for a password; put it in the URL")?;
                            conn.writer
                                .write_all(&message(b'p', &cstring(password)))
                                .await?;
                        }
                        other => bail!(
                            "PostgreSQL authentication method {other} is not supported by the \
                             load tool (use trust or password)"
                        ),
                    }
                }
                b'E' => bail!("PostgreSQL refused the connection: {}", error_text(&body)),
                b'Z' => return Ok(conn),
                _ => {} // ParameterStatus, BackendKeyData, notices
            }
        }
    }

    async fn read_message(&mut self) -> anyhow::Result<(u8, Vec<u8>)> {
        let tag = self.reader.read_u8().await.context("PostgreSQL closed")?;
        let len = self.reader.read_i32().await?;
        anyhow::ensure!(len >= 4, "bad message length {len}");
        let mut body = vec![0; len as usize - 4];
        self.reader.read_exact(&mut body).await?;
        Ok((tag, body))
    }

    /// Runs `sql` (one or more statements) and returns the rows of every
    /// statement, concatenated, and the last command tag.
    pub async fn query_tagged(&mut self, sql: &str) -> anyhow::Result<(Rows, String)> {
        self.writer.write_all(&message(b'Q', &cstring(sql))).await?;
        let mut rows = Vec::new();
        let mut tag = String::new();
        let mut error = None;
        loop {
            let (kind, body) = self.read_message().await?;
            match kind {
                b'D' => rows.push(data_row(&body)?),
                b'C' => {
                    tag = String::from_utf8_lossy(body.strip_suffix(&[0]).unwrap_or(&body))
                        .into_owned()
                }
                b'E' => error = Some(error_text(&body)),
                b'Z' => break,
                b'G' | b'H' => bail!("COPY is not supported by this client"),
                _ => {} // RowDescription, EmptyQueryResponse, notices
            }
        }
        match error {
            Some(e) => {
                let head: String = sql.chars().take(120).collect();
                bail!("PostgreSQL: {e} in: {head}")
            }
            None => Ok((rows, tag)),
        }
    }

    pub async fn query(&mut self, sql: &str) -> anyhow::Result<Rows> {
        Ok(self.query_tagged(sql).await?.0)
    }

    /// Runs `sql`; rows affected by its last statement.
    pub async fn execute(&mut self, sql: &str) -> anyhow::Result<u64> {
        Ok(tag_rows(&self.query_tagged(sql).await?.1))
    }

    /// The first column of the first row as an integer (0 for NULL).
    pub async fn scalar_i64(&mut self, sql: &str) -> anyhow::Result<i64> {
        let rows = self.query(sql).await?;
        let value = rows
            .first()
            .and_then(|r| r.first())
            .context("the query returned no row")?;
        match value {
            Some(v) => v.parse().with_context(|| format!("not an integer: {v}")),
            None => Ok(0),
        }
    }

    pub async fn close(mut self) {
        let _ = self.writer.write_all(&message(b'X', &[])).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_urls() {
        let u = PgUrl::parse("postgres://postgres@127.0.0.1:5432/hb_bench").unwrap();
        assert_eq!(
            u,
            PgUrl {
                user: "postgres".into(),
                password: None,
                host: "127.0.0.1".into(),
                port: 5432,
                database: "hb_bench".into()
            }
        );
        let u = PgUrl::parse("postgresql://bob:p%40ss@db.example:6000/x?sslmode=disable").unwrap();
        assert_eq!(u.user, "bob");
        assert_eq!(u.password.as_deref(), Some("p@ss"));
        assert_eq!((u.host.as_str(), u.port), ("db.example", 6000));
        assert_eq!(u.database, "x");
        let u = PgUrl::parse("postgres://alice@localhost").unwrap();
        assert_eq!((u.port, u.database.as_str()), (5432, "alice"));
        assert!(PgUrl::parse("mysql://x").is_err());
        assert_eq!(
            PgUrl::parse("postgres://postgres@127.0.0.1:5432/postgres")
                .unwrap()
                .with_database("hb_other"),
            "postgres://postgres@127.0.0.1:5432/hb_other"
        );
    }

    #[test]
    fn literals_are_quoted() {
        assert_eq!(lit("plain"), "'plain'");
        assert_eq!(lit("it's"), "'it''s'");
        assert_eq!(lit("a\\b"), "'a\\b'");
        assert_eq!(lit("nul\0"), "'nul'");
    }

    #[test]
    fn encodes_messages() {
        let q = message(b'Q', &cstring("SELECT 1"));
        assert_eq!(q[0], b'Q');
        assert_eq!(i32::from_be_bytes(q[1..5].try_into().unwrap()), 4 + 9);
        assert_eq!(&q[5..], b"SELECT 1\0");
        let s = startup_message("postgres", "db");
        assert_eq!(
            i32::from_be_bytes(s[0..4].try_into().unwrap()) as usize,
            s.len()
        );
        assert_eq!(i32::from_be_bytes(s[4..8].try_into().unwrap()), 3 << 16);
        assert!(s.ends_with(b"loadtest\0\0"));
    }

    #[test]
    fn decodes_rows_tags_and_errors() {
        let mut body = 2i16.to_be_bytes().to_vec();
        body.extend_from_slice(&3i32.to_be_bytes());
        body.extend_from_slice(b"abc");
        body.extend_from_slice(&(-1i32).to_be_bytes());
        assert_eq!(data_row(&body).unwrap(), vec![Some("abc".to_owned()), None]);
        assert!(data_row(&body[..6]).is_err());
        assert_eq!(tag_rows("INSERT 0 1000"), 1000);
        assert_eq!(tag_rows("UPDATE 3"), 3);
        assert_eq!(tag_rows("CREATE DATABASE"), 0);
        let err = b"SERROR\0C23505\0Mduplicate key\0\0";
        assert_eq!(error_text(err), "duplicate key (SQLSTATE 23505)");
    }
}
