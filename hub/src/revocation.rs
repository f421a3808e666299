//! Ending, at once and on every node, what an organization membership gave once it
//! ends or a role change takes a right away (docs/architecture.md, "Rights follow
//! their source").
//!
//! Every check already reads the current membership, so REST calls and new socket
//! requests are refused from the moment the change commits. What is still open is
//! ended here, over the bus (which spans nodes through Redis): each subscription to a
//! room the user left gets an `unsubscribed` push and no further event, and each open
//! visit the user may no longer take part in loses them (their sockets leave it, their
//! media session is torn down, the others see them go).

use crate::{orgs::MembershipChange, rooms, state::AppState, visits};

/// Runs after the change is committed; failures are logged (the checks refuse anyway).
pub async fn enforce(state: &AppState, change: &MembershipChange) {
    for room in &change.rooms_left {
        rooms::announce_removal(state, room, &change.user_id).await;
    }
    visits::end_access(state, &change.org_id, &change.user_id, change.role).await;
    // A demoted or removed admin stops watching the organization's live monitor.
    crate::monitor::rights_changed(state, &change.user_id).await;
}

/// After an account was disabled (committed): every node closes the account's
/// sockets now (4003), then it leaves its live visits (media torn down, the
/// others see it go) and stops watching any live monitor.
pub async fn end_account(state: &AppState, user_id: &str) {
    crate::gateway::sessions::announce_ended(state, user_id, crate::gateway::sessions::Ended::All)
        .await;
    visits::end_account(state, user_id).await;
    crate::monitor::rights_changed(state, user_id).await;
}
