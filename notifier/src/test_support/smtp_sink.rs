//! Test support: runs `smtp_sink.py` (Python aiosmtpd) as a real SMTP server.
//!
//! Email tests talk to a real, independent SMTP implementation instead of a mock, so
//! the SMTP dialogue, MIME output and reply-code handling are checked end to end.
//! The script appends each received message as a JSON line to a file in a private
//! temp dir; this side re-reads that file. Needs `python3` with `aiosmtpd`
//! (`pip install aiosmtpd`, or `install.sh`); `$PYTHON` overrides the interpreter.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::sleep;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long `start` waits for the server to report its port.
const START_TIMEOUT: Duration = Duration::from_secs(10);
/// Poll interval for the ready file and for `wait_for_count`.
const POLL: Duration = Duration::from_millis(50);
const SCRIPT_NAME: &str = "smtp_sink.py";

/// How to start the sink. `Default` is a well-behaved server.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Path of `smtp_sink.py`; default `tests/support/smtp_sink.py` in the workspace.
    pub script: Option<PathBuf>,
    /// Answer the first N DATA commands with `451 4.3.0 try again later`.
    pub fail_first: u32,
    /// Recipients refused at RCPT time with `550 5.1.1 no such user`.
    pub reject: Vec<String>,
    /// PEM certificate and key: the server then offers STARTTLS.
    pub starttls: Option<(PathBuf, PathBuf)>,
}

/// One message as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedEmail {
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The full message text (headers and body) as sent on the wire.
    pub data: String,
    /// The parsed `Message-ID` header, angle brackets included.
    pub message_id: String,
}

/// A running `smtp_sink.py`; killed and cleaned up on drop.
#[derive(Debug)]
pub struct SmtpSink {
    child: Child,
    port: u16,
    dir: TempDir,
}

impl SmtpSink {
    /// Starts the server on a free port and waits until it is listening.
    ///
    /// Panics (this is test support) if Python, aiosmtpd or the script is missing,
    /// or if the server does not come up within 10 s.
    pub fn start(options: SinkOptions) -> SmtpSink {
        let script = options.script.clone().unwrap_or_else(default_script);
        assert!(
            script.is_file(),
            "SMTP sink script not found at {}",
            script.display()
        );
        ensure_aiosmtpd();
        let dir = TempDir::new("smtp-sink");
        let mut child = spawn(&script, &options, &dir.0);
        match wait_for_port(&mut child, &dir.0) {
            Ok(port) => SmtpSink { child, port, dir },
            Err(why) => {
                let _ = child.kill();
                let _ = child.wait();
                let stderr = fs::read_to_string(dir.0.join("stderr.txt")).unwrap_or_default();
                panic!("SMTP sink did not start: {why}\n--- stderr ---\n{stderr}");
            }
        }
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Every message received so far, in arrival order (re-reads the log file).
    /// Only complete lines count: the server may be writing the last one now.
    pub fn messages(&self) -> Vec<ReceivedEmail> {
        let text = fs::read_to_string(self.out_file()).unwrap_or_default();
        let complete = text.rfind('\n').map_or("", |end| &text[..end]);
        complete
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(parse_line)
            .collect()
    }

    pub fn count(&self) -> usize {
        self.messages().len()
    }

    /// Polls every 50 ms until at least `n` messages arrived; false on timeout.
    pub fn wait_for_count(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            if self.count() >= n {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            sleep(POLL);
        }
    }

    /// The file the server appends each message to, one JSON object a line
    /// (`mail_from`, `rcpt_tos`, `data`): for a test in another process (a
    /// browser script) that reads the mail itself.
    pub fn log_file(&self) -> PathBuf {
        self.out_file()
    }

    fn out_file(&self) -> PathBuf {
        self.dir.0.join("received.jsonl")
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn python() -> String {
    std::env::var("PYTHON").unwrap_or_else(|_| "python3".to_owned())
}

fn default_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/support")
        .join(SCRIPT_NAME)
}

/// Fails early with an actionable message instead of a confusing start-up timeout.
fn ensure_aiosmtpd() {
    let python = python();
    let status = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(_) => panic!(
            "Python package aiosmtpd is missing for `{python}`: run `pip install aiosmtpd` \
             (or `bash install.sh`)"
        ),
        Err(e) => {
            panic!("cannot run `{python}` ({e}): install Python 3 and `pip install aiosmtpd`")
        }
    }
}

fn spawn(script: &Path, options: &SinkOptions, dir: &Path) -> Child {
    let stderr = fs::File::create(dir.join("stderr.txt")).expect("create sink stderr file");
    let mut cmd = Command::new(python());
    cmd.arg(script)
        .args(["--port", "0"])
        .arg("--out")
        .arg(dir.join("received.jsonl"))
        .arg("--ready-file")
        .arg(dir.join("port.txt"))
        .args(["--fail-first", &options.fail_first.to_string()]);
    for rcpt in &options.reject {
        cmd.args(["--reject", rcpt]);
    }
    if let Some((cert, key)) = &options.starttls {
        cmd.arg("--starttls-cert")
            .arg(cert)
            .arg("--starttls-key")
            .arg(key);
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("spawn smtp_sink.py")
}

/// Waits for the ready file (written atomically by the script) or the child's exit.
fn wait_for_port(child: &mut Child, dir: &Path) -> Result<u16, String> {
    let ready = dir.join("port.txt");
    let deadline = Instant::now() + START_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(text) = fs::read_to_string(&ready) {
            return text
                .trim()
                .parse()
                .map_err(|e| format!("bad port {text:?}: {e}"));
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!("process exited with {status}"));
        }
        sleep(POLL);
    }
    Err(format!("no ready file after {START_TIMEOUT:?}"))
}

fn parse_line(line: &str) -> ReceivedEmail {
    let value: serde_json::Value = serde_json::from_str(line).expect("sink wrote invalid JSON");
    let text = |key: &str| value[key].as_str().unwrap_or_default().to_owned();
    let rcpt_tos = value["rcpt_tos"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    ReceivedEmail {
        mail_from: text("mail_from"),
        rcpt_tos,
        data: text("data"),
        message_id: text("message_id"),
    }
}

/// A private directory under the system temp dir, removed on drop.
#[derive(Debug)]
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(prefix: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("{prefix}-{}-{n}-{nanos}", std::process::id()));
        fs::create_dir_all(&path).expect("create temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// A throw-away self-signed certificate for `localhost`, for STARTTLS tests.
#[derive(Debug)]
pub struct TestCert {
    pub cert: PathBuf,
    pub key: PathBuf,
    _dir: TempDir,
}

impl TestCert {
    /// Made with the `openssl` CLI; `None` when it is not installed.
    pub fn self_signed() -> Option<TestCert> {
        let dir = TempDir::new("smtp-sink-cert");
        let (cert, key) = (dir.0.join("cert.pem"), dir.0.join("key.pem"));
        let status = Command::new("openssl")
            .args([
                "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
            ])
            .args(["-subj", "/CN=localhost"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(TestCert {
            cert,
            key,
            _dir: dir,
        })
    }
}
