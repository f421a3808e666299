//! HTTPS with rustls when a certificate and key are configured.

use std::process::Command;

use hub::config::TlsConfig;

use crate::support::{Backend, TestApp};

#[tokio::test]
async fn serves_https_with_the_configured_certificate() {
    let dir = std::env::temp_dir().join(format!("hub-tls-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    // A private CA and a server certificate it signed, as a deployment would have.
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(&dir)
            .output()
            .expect("openssl is installed");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    openssl(
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-days",
                "1",
                "-subj",
                "/CN=Test CA",
                "-keyout",
                "ca-key.pem",
                "-out",
                "ca.pem",
            ],
        ]
        .concat(),
    );
    openssl(
        &[
            &["req"],
            &ec[..],
            &[
                "-subj",
                "/CN=127.0.0.1",
                "-keyout",
                "key.pem",
                "-out",
                "server.csr",
            ],
        ]
        .concat(),
    );
    std::fs::write(
        dir.join("ext.cnf"),
        "basicConstraints=critical,CA:FALSE\nsubjectAltName=IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca-key.pem",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ]);

    let tls = TlsConfig {
        cert_path: cert,
        key_path: key,
    };
    let app = TestApp::spawn_with(Backend::Sqlite, |c| {
        c.tls = Some(tls);
        c.http.header_read_timeout_secs = 1;
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let root = reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap();
    let client = reqwest::Client::builder()
        .add_root_certificate(root)
        .build()
        .unwrap();
    let resp = client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("TLS handshake");
    assert_eq!(resp.status(), 200);
    assert_eq!(
        resp.headers()["strict-transport-security"],
        "max-age=63072000; includeSubDomains"
    );
    // Plain HTTP on the TLS port is not served.
    let plain = reqwest::Client::new()
        .get(app.url("/healthz").replace("https://", "http://"))
        .send()
        .await;
    assert!(plain.is_err() || plain.unwrap().status() != 200);
    // A client that never starts the TLS handshake is cut off after the
    // header-read timeout, as on plain HTTP.
    let addr = app.base.trim_start_matches("https://").to_owned();
    let mut silent = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 64];
    let read = tokio::time::timeout(
        std::time::Duration::from_secs(6),
        tokio::io::AsyncReadExt::read(&mut silent, &mut buf),
    )
    .await;
    assert!(
        matches!(read, Ok(Ok(0)) | Ok(Err(_))),
        "a silent TLS connection stayed open: {read:?}"
    );
    app.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}
