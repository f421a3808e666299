//! Idle and slow connections cannot exhaust the node: header-read and
//! keep-alive timeouts, a connection cap below the open-file limit that keeps
//! `/healthz` answering, and a per-user socket cap.

use std::{
    os::unix::process::CommandExt,
    process::Stdio,
    time::{Duration, Instant},
};

use hub::domain::Role;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};

use crate::support::{
    Backend, TestApp,
    process::{free_port, hub_command},
    ws::Ws,
};

fn addr(base: &str) -> String {
    base.trim_start_matches("http://").to_owned()
}

/// Reads until the server closes the connection (or `limit` passes); returns
/// how long that took and what was read.
async fn until_closed(stream: &mut TcpStream, limit: Duration) -> (Option<Duration>, Vec<u8>) {
    let started = Instant::now();
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while started.elapsed() < limit {
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return (Some(started.elapsed()), seen),
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => {}
        }
    }
    (None, seen)
}

#[tokio::test]
async fn a_slowloris_client_is_cut_off_after_the_header_timeout() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http.header_read_timeout_secs = 1;
        c.http.keep_alive_timeout_secs = 60;
    })
    .await;
    let mut slow = TcpStream::connect(addr(&app.base)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    // One header line every 300 ms, never the blank line that ends the head.
    let started = Instant::now();
    let mut closed = None;
    for i in 0..40 {
        let line = format!("X-Slow-{i}: a\r\n");
        if slow.write_all(line.as_bytes()).await.is_err() {
            closed = Some(started.elapsed());
            break;
        }
        let (gone, _) = until_closed(&mut slow, Duration::from_millis(300)).await;
        if gone.is_some() {
            closed = Some(started.elapsed());
            break;
        }
    }
    let closed = closed.expect("the slowloris connection was still open after 12 s");
    assert!(closed < Duration::from_secs(4), "closed after {closed:?}");

    // Sending nothing at all is no better.
    let mut silent = TcpStream::connect(addr(&app.base)).await.unwrap();
    let (gone, _) = until_closed(&mut silent, Duration::from_secs(6)).await;
    assert!(gone.is_some(), "a silent connection stayed open");
    app.stop().await;
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.http.header_read_timeout_secs = 60;
        c.http.keep_alive_timeout_secs = 1;
    })
    .await;
    let mut conn = TcpStream::connect(addr(&app.base)).await.unwrap();
    conn.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (gone, seen) = until_closed(&mut conn, Duration::from_secs(8)).await;
    let text = String::from_utf8_lossy(&seen);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let gone = gone.expect("the idle keep-alive connection stayed open");
    assert!(
        gone >= Duration::from_millis(800),
        "closed too early: {gone:?}"
    );
    assert!(gone < Duration::from_secs(4), "closed after {gone:?}");
    app.stop().await;
}

#[tokio::test]
async fn a_flood_of_idle_connections_does_not_lock_out_health_checks() {
    // A hub whose open-file limit is 256 (soft and hard, so it cannot raise it):
    // more idle connections than that would leave it unable to accept.
    let dir = std::env::temp_dir().join(format!("hub-fd-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("hub.log")).unwrap();
    let mut cmd = hub_command();
    cmd.arg("serve")
        .env("HUB_DATA_DIR", &dir)
        .env("HUB_LISTEN", format!("127.0.0.1:{port}"))
        .env("HUB_LOG__LEVEL", "warn")
        // Long timeouts: only the cap may rescue the health check here.
        .env("HUB_HTTP__HEADER_READ_TIMEOUT_SECS", "120")
        .env("HUB_HTTP__KEEP_ALIVE_TIMEOUT_SECS", "120")
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    // SAFETY: setrlimit is async-signal-safe; it only lowers this child's limit.
    unsafe {
        cmd.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 256,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let _child = Guard(cmd.spawn().expect("spawn hub"));
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    while client.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "hub did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let mut idle = Vec::new();
    for _ in 0..400 {
        match TcpStream::connect(addr(&base)).await {
            Ok(s) => idle.push(s),
            Err(e) => panic!("connect failed: {e}"),
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for attempt in 0..5 {
        let reply = client.get(format!("{base}/healthz")).send().await;
        assert!(
            reply.as_ref().is_ok_and(|r| r.status() == 200),
            "health check {attempt} failed under 400 idle connections: {reply:?}; see {}",
            dir.join("hub.log").display()
        );
    }
    let log = std::fs::read_to_string(dir.join("hub.log")).unwrap();
    assert!(!log.contains("Too many open files"), "{log}");
    drop(idle);
}

/// Kills the child when the test ends, even on a failed assertion.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn one_user_cannot_hold_more_than_the_socket_cap() {
    let app = TestApp::spawn_with(Backend::Sqlite, |c| c.gateway.max_sockets_per_user = 3).await;
    let user = app
        .account("many@clinic.test", Role::Clinician, Some("Clinic"))
        .await;
    let token = app.token_for(&user).await;
    let other = app
        .account("other@clinic.test", Role::Clinician, Some("Clinic"))
        .await;
    let other_token = app.token_for(&other).await;
    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(Ws::connect(&app.base, &token).await);
    }
    let refused = Ws::try_connect(&app.base, &token).await;
    assert_eq!(refused.err(), Some(Some(4007)), "the fourth socket");
    // Another user is not affected, and closing a socket frees its slot.
    let _theirs = Ws::connect(&app.base, &other_token).await;
    drop(held.pop());
    let started = Instant::now();
    loop {
        match Ws::try_connect(&app.base, &token).await {
            Ok(_) => break,
            Err(code) => {
                assert_eq!(code, Some(4007));
                assert!(
                    started.elapsed() < Duration::from_secs(10),
                    "slot never freed"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
    app.stop().await;
}
