//! Closing a visit pass's socket as soon as its pass stops standing (its link revoked or
//! replaced, its visit cancelled or ended), on whichever node the socket is.
//!
//! Two guards, because a bus is a notification and not the record: a watcher per pass
//! socket that listens on the visit's topic and re-checks the database when an
//! announcement may concern it (or when the bus may have lost one), and a check of the
//! database before each frame is answered, so no request is served in the moment
//! between a revocation's commit and its announcement arriving.
//!
//! A pass socket that joined its visit is closed by its forwarding task when the visit is
//! over, right after the visit's last `visit_event`, so the page can say why; the watcher
//! only steps in if that has not happened shortly after.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use tokio::{sync::broadcast::error::RecvError, task::JoinHandle};

use super::{Killer, protocol::close};
use crate::{
    state::AppState,
    visits::{self, pass::PassClaims, revocation},
};

/// How long a joined pass socket's forwarding task has to deliver the visit's last event
/// and close the socket before the watcher closes it.
const LAST_EVENT_GRACE: Duration = Duration::from_millis(500);

/// The watcher task of one pass socket; stops with the socket.
pub struct PassWatch(JoinHandle<()>);

impl Drop for PassWatch {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl PassWatch {
    /// Starts watching `pass`; `killer` closes the socket with 4003 when it falls.
    /// `joined`: the socket is in its visit and receives its events.
    pub fn start(
        state: &AppState,
        pass: PassClaims,
        killer: Arc<Killer>,
        joined: Arc<AtomicBool>,
    ) -> Self {
        let state = state.clone();
        Self(tokio::spawn(watch(state, pass, killer, joined)))
    }
}

async fn watch(state: AppState, pass: PassClaims, killer: Arc<Killer>, joined: Arc<AtomicBool>) {
    let mut disruptions = state.bus.disruptions();
    let events = match state.bus.subscribe(&visits::topic(&pass.visit)).await {
        Ok(events) => Some(events),
        Err(e) => {
            // The per-frame and periodic checks still end the pass.
            tracing::warn!(error = %e, "pass socket cannot watch its visit");
            None
        }
    };
    // Checked after subscribing: a revocation committed before is seen here, one after
    // is announced to the subscription.
    if !standing(&state, &pass).await {
        killer.kill(close::SESSION_REVOKED);
        return;
    }
    let Some(mut events) = events else { return };
    loop {
        let check = tokio::select! {
            event = events.recv() => match event {
                Ok(event) => {
                    if revocation::ends_visit(&event) && joined.load(Ordering::Acquire) {
                        tokio::time::sleep(LAST_EVENT_GRACE).await;
                    }
                    revocation::concerns(&event, &pass)
                }
                Err(RecvError::Lagged(_)) => true,
                Err(RecvError::Closed) => return,
            },
            changed = disruptions.changed() => {
                if changed.is_err() {
                    return;
                }
                true
            }
        };
        if check && !standing(&state, &pass).await {
            killer.kill(close::SESSION_REVOKED);
            return;
        }
    }
}

/// A database that cannot answer does not end the pass: the next check will.
async fn standing(state: &AppState, pass: &PassClaims) -> bool {
    visits::pass_standing(state, pass).await.unwrap_or(true)
}

/// Before a pass socket's frame is answered: the close to send instead, if the socket
/// was told to close or its pass no longer stands.
pub async fn refuse_frame(
    state: &AppState,
    killer: &Killer,
    pass: &PassClaims,
) -> Option<(u16, &'static str)> {
    if let Some(code) = killer.code() {
        return Some((code, super::connection::reason_of(code)));
    }
    match visits::pass_standing(state, pass).await {
        Ok(false) => Some((close::SESSION_REVOKED, REVOKED)),
        Ok(true) | Err(_) => None,
    }
}

/// The close reason of a pass that no longer stands.
pub const REVOKED: &str = "visit pass revoked";
