//! The application half of webrtc-rs issue 906, and its workaround.
//!
//! webrtc 0.21.1 fixed the library's own cycle (transceivers/senders/receivers now point back
//! at the connection with `Weak`). But the event handler is owned by the connection for its
//! whole life and cannot be replaced or cleared, so a handler that holds a strong reference
//! to the connection (directly, or through an object that owns it) is a cycle `close()` does
//! not break: the connection, its core and its buffers are never freed. This test shows the
//! leak, then the fix the SFU uses: the handler holds nothing that owns the connection (here:
//! the strong slot is cleared after close; in `media::sfu` the handler only holds a `Weak`).

use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use webrtc::peer_connection::{PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler};

#[derive(Default)]
struct CyclicHandler {
    /// What a naive handler keeps to call back into its own connection.
    me: Mutex<Option<Arc<dyn PeerConnection>>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for CyclicHandler {}

async fn freed(handler: &Weak<CyclicHandler>) -> bool {
    for _ in 0..100 {
        if handler.upgrade().is_none() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

async fn build(handler: Arc<CyclicHandler>) -> Arc<dyn PeerConnection> {
    Arc::new(
        PeerConnectionBuilder::new()
            .with_handler(handler)
            .with_udp_addrs(vec!["127.0.0.1:0".to_owned()])
            .build()
            .await
            .unwrap(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_holding_its_connection_leaks_until_the_cycle_is_broken() {
    // Control: a handler without a back-reference is freed after close and drop.
    let handler = Arc::new(CyclicHandler::default());
    let weak = Arc::downgrade(&handler);
    let pc = build(handler).await;
    pc.close().await.unwrap();
    drop(pc);
    assert!(freed(&weak).await, "a plain connection is freed");

    // The cycle: handler → connection → handler. close() + drop do not free it.
    let handler = Arc::new(CyclicHandler::default());
    let weak = Arc::downgrade(&handler);
    let pc = build(Arc::clone(&handler)).await;
    *handler.me.lock().unwrap() = Some(Arc::clone(&pc));
    drop(handler);
    pc.close().await.unwrap();
    drop(pc);
    assert!(
        !freed(&weak).await,
        "the cycle keeps the closed connection alive"
    );

    // Workaround: break the cycle (clear what the handler holds) and it is freed.
    let slot = weak.upgrade().expect("still alive");
    slot.me.lock().unwrap().take();
    drop(slot);
    assert!(freed(&weak).await, "freed once the handler lets go");
}
