//! The SMTP side of `notify-throughput`: a plain SMTP client for the ceiling
//! run, and the Python sink (`tests/support/smtp_sink.py`, aiosmtpd) both runs
//! send to.
//!
//! The client speaks the same dialogue per message as the notifier's mailer
//! (lettre's pooled transport): on a reused connection `NOOP` (lettre checks
//! the connection before each reuse), `MAIL FROM`, `RCPT TO`, `DATA`, the
//! message, `.`. So the ceiling differs from the notifier run only in what
//! the notifier adds: the database, rendering, and its own scheduling.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// One line of a reply: code, whether it is the last line, text.
pub fn parse_reply_line(line: &str) -> Option<(u16, bool, &str)> {
    let line = line.trim_end_matches(['\r', '\n']);
    let code = line.get(0..3)?.parse().ok()?;
    match line.as_bytes().get(3) {
        None => Some((code, true, "")),
        Some(b' ') => Some((code, true, &line[4..])),
        Some(b'-') => Some((code, false, &line[4..])),
        Some(_) => None,
    }
}

/// The message as sent after `DATA`: CRLF line endings, lines starting with
/// `.` doubled (RFC 5321 §4.5.2), and the final `.` line.
pub fn dot_stuff(message: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    for line in message.lines() {
        if line.starts_with('.') {
            out.push(b'.');
        }
        out.extend_from_slice(line.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b".\r\n");
    out
}

/// A message shaped like the notifier's `appointment.booked` email
/// (multipart/alternative, a text and an HTML part, about the same size).
pub fn bench_message(from: &str, to: &str, message_id: &str) -> String {
    let text = "Hello Bench Patient, your appointment with Dr. Bench Provider at Bench Clinic \
                is confirmed for 2027-03-15 09:00 EDT.\r\n\r\n-- \r\nHealthBridge\r\n";
    let html = "<!doctype html><html lang=\"en\"><body><p>Hello Bench Patient, your appointment \
                with Dr. Bench Provider at Bench Clinic is confirmed for 2027-03-15 09:00 EDT.</p>\
                <p style=\"color:#555;font-size:smaller\">HealthBridge</p></body></html>";
    let boundary = format!("lt-{}", message_id.len() * 7919);
    format!(
        "From: HealthBridge <{from}>\r\nTo: {to}\r\nSubject: Appointment confirmed\r\n\
         Message-ID: <{message_id}>\r\nDate: Mon, 15 Mar 2027 09:00:00 +0000\r\n\
         MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"{boundary}\"\r\n\r\n\
         --{boundary}\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 7bit\r\n\r\n{text}\r\n--{boundary}\r\n\
         Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n\
         {html}\r\n--{boundary}--\r\n"
    )
}

/// How the client writes the message after `DATA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Writes {
    /// The message and its final `.` line in one write, `TCP_NODELAY` on.
    OneWrite,
    /// As lettre 0.11 does it: the message, then `\r\n.\r\n` in a second
    /// write, Nagle's algorithm left on (lettre does not set `TCP_NODELAY`).
    LettreLike,
}

pub struct SmtpClient {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    line: String,
    fresh: bool,
    writes: Writes,
}

impl SmtpClient {
    /// Connects, reads the greeting and says EHLO.
    pub async fn connect(addr: &str, writes: Writes) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to SMTP {addr}"))?;
        stream.set_nodelay(writes == Writes::OneWrite)?;
        let (r, w) = stream.into_split();
        let mut c = Self {
            reader: BufReader::new(r),
            writer: w,
            line: String::new(),
            fresh: true,
            writes,
        };
        c.expect(220).await.context("SMTP greeting")?;
        c.command("EHLO loadtest.local", 250).await?;
        Ok(c)
    }

    async fn expect(&mut self, want: u16) -> anyhow::Result<()> {
        loop {
            self.line.clear();
            let n = self.reader.read_line(&mut self.line).await?;
            if n == 0 {
                bail!("SMTP server closed the connection");
            }
            let Some((code, last, text)) = parse_reply_line(&self.line) else {
                bail!("malformed SMTP reply: {:?}", self.line);
            };
            if last {
                if code != want {
                    bail!("SMTP: expected {want}, got {code} {text}");
                }
                return Ok(());
            }
        }
    }

    async fn command(&mut self, cmd: &str, want: u16) -> anyhow::Result<()> {
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .await?;
        self.expect(want)
            .await
            .with_context(|| format!("after {}", cmd.split(' ').next().unwrap_or(cmd)))
    }

    /// Sends one message (`data` already dot-stuffed, see [`dot_stuff`]).
    pub async fn send(&mut self, from: &str, to: &str, data: &[u8]) -> anyhow::Result<()> {
        if !self.fresh {
            self.command("NOOP", 250).await?;
        }
        self.fresh = false;
        self.command(&format!("MAIL FROM:<{from}>"), 250).await?;
        self.command(&format!("RCPT TO:<{to}>"), 250).await?;
        self.command("DATA", 354).await?;
        match self.writes {
            Writes::OneWrite => self.writer.write_all(data).await?,
            Writes::LettreLike => {
                let (body, end) = data.split_at(data.len().saturating_sub(5));
                self.writer.write_all(body).await?;
                self.writer.write_all(end).await?;
            }
        }
        self.expect(250).await.context("after the message")
    }

    pub async fn quit(mut self) {
        let _ = self.command("QUIT", 221).await;
    }
}

/// The Python SMTP sink as a child process.
pub struct Sink {
    child: tokio::process::Child,
    pub port: u16,
    pub out: PathBuf,
}

impl Sink {
    /// Starts `python sink_script --port 0 --out <dir>/<name>.jsonl` and waits
    /// until it is listening.
    pub async fn start(
        python: &str,
        script: &Path,
        dir: &Path,
        name: &str,
    ) -> anyhow::Result<Self> {
        let out = dir.join(format!("{name}.jsonl"));
        let ready = dir.join(format!("{name}.ready"));
        let log = std::fs::File::create(dir.join(format!("{name}.log")))?;
        let _ = std::fs::remove_file(&out);
        let _ = std::fs::remove_file(&ready);
        let child = tokio::process::Command::new(python)
            .arg(script)
            .args(["--host", "127.0.0.1", "--port", "0", "--out"])
            .arg(&out)
            .arg("--ready-file")
            .arg(&ready)
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {python} {}", script.display()))?;
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(s) = std::fs::read_to_string(&ready)
                && let Ok(port) = s.trim().parse()
            {
                return Ok(Self { child, port, out });
            }
            if Instant::now() > deadline {
                bail!("the SMTP sink did not start (see {name}.log)");
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Stops the sink (SIGTERM, then kill after 5 s).
    pub async fn stop(mut self) {
        if let Some(pid) = self.child.id() {
            // SAFETY: signalling our own child by its pid.
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}

/// What the sink recorded: messages, and the distinct Message-IDs among them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Received {
    pub messages: u64,
    pub message_ids: HashSet<String>,
}

/// Reads the sink's JSON lines (a torn last line is skipped).
pub fn read_received(path: &Path) -> anyhow::Result<Received> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e.into()),
    };
    Ok(parse_received(&text))
}

pub fn parse_received(text: &str) -> Received {
    let mut r = Received::default();
    for line in text.lines() {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        r.messages += 1;
        if let Some(id) = v.get("message_id").and_then(|m| m.as_str()) {
            r.message_ids.insert(id.to_owned());
        }
    }
    r
}

/// Counts lines of the sink's file cheaply (no JSON parsing).
pub fn count_lines(path: &Path) -> u64 {
    std::fs::read(path)
        .map(|b| b.iter().filter(|&&c| c == b'\n').count() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_lines() {
        assert_eq!(
            parse_reply_line("250-PIPELINING\r\n"),
            Some((250, false, "PIPELINING"))
        );
        assert_eq!(parse_reply_line("250 OK\r\n"), Some((250, true, "OK")));
        assert_eq!(parse_reply_line("354\r\n"), Some((354, true, "")));
        assert_eq!(parse_reply_line("hello"), None);
        assert_eq!(parse_reply_line("25"), None);
    }

    #[test]
    fn dot_stuffing() {
        assert_eq!(dot_stuff("a\n.b\r\nc"), b"a\r\n..b\r\nc\r\n.\r\n".to_vec());
        let m = bench_message("no-reply@example.org", "p1@example.org", "x1@loadtest");
        let stuffed = dot_stuff(&m);
        assert!(stuffed.ends_with(b"\r\n.\r\n"));
        assert!(m.contains("Message-ID: <x1@loadtest>"));
        assert!(m.len() > 800 && m.len() < 2000, "{}", m.len());
    }

    #[test]
    fn received_lines() {
        let text = "{\"message_id\":\"<a@h>\",\"data\":\"x\"}\n\
                    {\"message_id\":\"<a@h>\",\"data\":\"x\"}\n\
                    {\"message_id\":\"<b@h>\"}\n{\"message_";
        let r = parse_received(text);
        assert_eq!(r.messages, 3);
        assert_eq!(r.message_ids.len(), 2);
    }
}
