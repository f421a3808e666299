//! The `media` binary serves the control socket on tcp://.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use media::control::{ControlClient, Request};
use serde_json::json;

#[test]
fn binary_answers_on_tcp() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_media"))
        .env("MEDIA_CONTROL", "tcp://127.0.0.1:0")
        .stdout(Stdio::piped())
        .spawn()
        .expect("start media");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let endpoint = line.trim().to_owned();
    let result = std::panic::catch_unwind(|| {
        assert!(endpoint.starts_with("tcp://127.0.0.1:"), "{endpoint}");
        let client = ControlClient::connect(&zmq::Context::new(), &endpoint, 5_000).unwrap();
        let reply = client
            .call(&Request::CreateRoom { room: "v-1".into() })
            .unwrap();
        assert_eq!(reply["ok"], json!(true));
        let load = client.call(&Request::Load).unwrap();
        assert_eq!(load["rooms"], json!(1));
    });
    let _ = child.kill();
    let _ = child.wait();
    result.unwrap();
}
