//! Who a socket is, and whether it still may be: the auth frame (an account's access
//! token or a visit pass), a refresh, and the periodic re-check of its session and
//! rights that backs up the bus's at-once notices (docs/architecture.md, "Rights
//! follow their source").

use std::{sync::Arc, time::Duration};

use axum::extract::ws::{Message, Utf8Bytes, WebSocket};
use serde_json::json;

use super::{Connection, Ending, removed_frame, visit_removed_frame};
use crate::{
    accounts::{self, Principal},
    clock::rfc3339,
    error::Error,
    gateway::{
        pass_watch,
        protocol::{self, ProtocolError, Request, RequestId, close},
    },
    state::AppState,
    store::{rooms as room_store, sessions, users},
    visits::pass::PassClaims,
};

/// Waits for the auth frame and checks its token and session.
pub(super) async fn authenticate(
    state: &AppState,
    socket: &mut WebSocket,
) -> Result<(Principal, i64, RequestId, Option<PassClaims>), Ending> {
    let deadline = Duration::from_secs(state.config.gateway.auth_timeout_secs);
    let first = match tokio::time::timeout(deadline, socket.recv()).await {
        Err(_) => return Err(Some((close::UNAUTHENTICATED, "no auth frame in time"))),
        Ok(None) | Ok(Some(Err(_))) => return Err(None),
        Ok(Some(Ok(Message::Text(text)))) => text,
        Ok(Some(Ok(_))) => return Err(Some((close::UNAUTHENTICATED, "first frame must be auth"))),
    };
    let (id, request) = protocol::parse(&first);
    let (Some(id), Ok(Request::Auth { token })) = (id, request) else {
        return Err(Some((close::UNAUTHENTICATED, "first frame must be auth")));
    };
    let claims = match state.signer.verify(&token, state.clock.now_secs()) {
        Ok(c) => c,
        Err(crate::auth::tokens::TokenError::Expired) => {
            return Err(Some((close::TOKEN_EXPIRED, "access token expired")));
        }
        Err(_) => return authenticate_pass(state, &token, id).await,
    };
    match accounts::authenticate(state, &token).await {
        Ok(p) => Ok((p, claims.exp, id, None)),
        Err(Error::Internal(e)) => {
            tracing::error!(error = ?e, "socket authentication failed");
            Err(Some((1011, "server error")))
        }
        Err(_) => Err(Some((close::UNAUTHENTICATED, "session is not valid"))),
    }
}

/// A visit pass instead of an access token: the socket may only take part in that
/// visit. Its principal is a placeholder that owns nothing (no account, no session).
async fn authenticate_pass(
    state: &AppState,
    token: &str,
    id: RequestId,
) -> Result<(Principal, i64, RequestId, Option<PassClaims>), Ending> {
    let claims = match state.visits.passes.check(token, state.clock.now_secs()) {
        Ok(claims) => claims,
        Err(crate::visits::pass::PassRefusal::Expired) => {
            return Err(Some((close::TOKEN_EXPIRED, "visit pass expired")));
        }
        Err(crate::visits::pass::PassRefusal::Invalid) => {
            return Err(Some((close::UNAUTHENTICATED, "invalid access token")));
        }
    };
    match crate::visits::pass_standing(state, &claims).await {
        Ok(true) => {}
        Ok(false) => return Err(Some((close::SESSION_REVOKED, pass_watch::REVOKED))),
        Err(_) => return Err(Some((1011, "server error"))),
    }
    let principal = Principal {
        user_id: format!("visit-pass:{}", claims.sub),
        session_id: String::new(),
        email: String::new(),
        platform_admin: false,
    };
    Ok((principal, claims.exp, id, Some(claims)))
}

impl Connection {
    pub(super) async fn refresh(
        &mut self,
        token: &str,
    ) -> Result<serde_json::Value, ProtocolError> {
        let invalid =
            || ProtocolError::new("invalid_token", "the token is not valid for this socket");
        if let Some(current) = self.visit.pass().cloned() {
            let claims = self
                .state
                .visits
                .passes
                .verify(token, self.state.clock.now_secs())
                .filter(|c| c.sub == current.sub && c.visit == current.visit)
                .ok_or_else(invalid)?;
            if !crate::visits::pass_standing(&self.state, &claims)
                .await
                .map_err(ProtocolError::from)?
            {
                return Err(invalid());
            }
            self.token_expires_at = claims.exp;
            let expires = rfc3339(claims.exp * 1000);
            self.visit.set_pass(claims);
            self.visit.watch_pass(&self.state, &self.killer);
            return Ok(json!({ "token_expires_at": expires }));
        }
        let claims = self
            .state
            .signer
            .verify(token, self.state.clock.now_secs())
            .map_err(|_| invalid())?;
        if claims.sub != *self.user {
            return Err(invalid());
        }
        let principal = accounts::authenticate(&self.state, token)
            .await
            .map_err(|_| invalid())?;
        self.principal = principal;
        self.token_expires_at = claims.exp;
        Ok(json!({ "token_expires_at": rfc3339(claims.exp * 1000) }))
    }

    /// The periodic re-check of the socket's rights: `Err` with the close when its
    /// session no longer stands; otherwise the `unsubscribed` and `visit_removed` frames
    /// for the rooms and visits it lost (a safety net for a removal whose bus notice
    /// was lost).
    pub(super) async fn recheck(&mut self) -> Result<Vec<Utf8Bytes>, Ending> {
        if !Box::pin(self.session_alive()).await {
            return Err(Some((close::SESSION_REVOKED, "session revoked")));
        }
        let state = self.state.clone();
        let visits_lost = Box::pin(self.visit.lost(&state))
            .await
            .into_iter()
            .map(|v| visit_removed_frame(&v));
        Ok(Box::pin(self.rooms_lost())
            .await
            .into_iter()
            .chain(visits_lost)
            .collect())
    }

    async fn session_alive(&self) -> bool {
        if let Some(pass) = self.visit.pass() {
            // A revoked or expired link, or a visit that is over, ends its passes; a
            // database hiccup does not.
            return crate::visits::pass_standing(&self.state, pass)
                .await
                .unwrap_or(true);
        }
        let result = async {
            let mut conn = self.state.store.conn().await?;
            let session = sessions::by_id(&mut conn, &self.principal.session_id).await?;
            let active = users::by_id(&mut conn, &self.user)
                .await?
                .is_some_and(|u| u.is_active());
            Ok::<_, Error>(session.filter(|_| active))
        }
        .await;
        match result {
            Ok(Some(s)) => s.revoked_at.is_none() && s.expires_at > self.state.clock.now_ms(),
            // No session, or the account is no longer active.
            Ok(None) => false,
            // The database is unreachable: do not punish the client for it.
            Err(_) => true,
        }
    }

    /// Ends the subscriptions to rooms the user no longer has standing in (rights are
    /// re-read from the memberships, all rooms in one query); the `unsubscribed` frames
    /// to send. The bus tells sockets at once; this bounds the damage of a lost notice
    /// to one session check.
    async fn rooms_lost(&mut self) -> Vec<Utf8Bytes> {
        if self.rooms.is_empty() {
            return Vec::new();
        }
        let rooms: Vec<Arc<str>> = self.rooms.keys().cloned().collect();
        let still = async {
            let mut conn = self.state.store.conn().await?;
            Ok::<_, Error>(room_store::with_standing(&mut conn, &self.user, &rooms).await?)
        }
        .await;
        // An unreachable database does not end subscriptions.
        let Ok(still) = still else {
            return Vec::new();
        };
        let mut lost = Vec::new();
        for room in rooms {
            if !still.iter().any(|r| **r == *room) {
                self.forget_room(&room);
                lost.push(removed_frame(&room));
            }
        }
        lost
    }
}
