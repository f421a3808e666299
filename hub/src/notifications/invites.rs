//! The mail that carries an organization's invite to the invitee, queued in the
//! transaction that creates the invite.
//!
//! The link holds the token in its fragment (`/invite#token=…`), which browsers
//! never send to a server, so it cannot land in an access log or a proxy; the
//! invite page posts it to the API. The outbox erases it once handed over (it is
//! account mail).

use notifier::outbox::{self, AddressedEmail, Category, Delivery, NewNotification};
use serde_json::json;

use crate::{
    error::{Error, Result},
    state::AppState,
    store::{Conn, StoreError, orgs, users},
};

/// The template of the invite mail; its `subject_ref` is the invite's id.
pub const TEMPLATE: &str = "org.invite";

/// One invite to mail.
pub struct InviteMail<'a> {
    pub invite_id: &'a str,
    pub org_id: &'a str,
    pub email: &'a str,
    pub inviter_id: &'a str,
    pub token: &'a str,
    pub expires_at: i64,
}

/// Queues the invite mail. An address with an account is written to as that
/// account (in its language); any other address in the inviter's language.
/// The mail expires with the invite.
pub async fn queue(
    conn: &mut Conn,
    state: &AppState,
    mail: &InviteMail<'_>,
    now: i64,
) -> Result<()> {
    let org = orgs::by_id(conn, mail.org_id)
        .await?
        .ok_or(Error::NotFound("organization"))?;
    let inviter = users::by_id(conn, mail.inviter_id)
        .await?
        .ok_or(Error::NotFound("account"))?;
    let link = format!(
        "{}/invite#token={}",
        state.config.effective_public_url(),
        mail.token
    );
    let payload = json!({
        "inviter": inviter.display_name,
        "org": org.name,
        "link": link,
        "expires_at": mail.expires_at,
    });
    let idempotency_key = format!("{TEMPLATE}:{}", mail.invite_id);
    match users::by_email(conn, mail.email).await? {
        Some(invitee) => outbox::enqueue(
            conn,
            &NewNotification {
                idempotency_key,
                recipient_id: invitee.id,
                org_id: Some(mail.org_id.to_owned()),
                category: Category::Account,
                template: TEMPLATE.to_owned(),
                payload,
                subject_ref: Some(mail.invite_id.to_owned()),
                delivery: Delivery::Email,
                due_at: now,
                expires_at: Some(mail.expires_at),
            },
            now,
        )
        .await
        .map_err(StoreError::from)?,
        None => {
            let locale: String = sqlx::query_scalar("SELECT locale FROM users WHERE id = $1")
                .bind(mail.inviter_id)
                .fetch_one(&mut *conn)
                .await
                .map_err(StoreError::from)?;
            outbox::enqueue_addressed(
                conn,
                &AddressedEmail {
                    idempotency_key,
                    address: mail.email.to_owned(),
                    locale,
                    org_id: Some(mail.org_id.to_owned()),
                    template: TEMPLATE.to_owned(),
                    payload,
                    subject_ref: Some(mail.invite_id.to_owned()),
                    due_at: now,
                    expires_at: Some(mail.expires_at),
                },
                now,
            )
            .await
            .map_err(StoreError::from)?
        }
    };
    Ok(())
}

/// Withdraws the mail of a revoked invite if it has not gone out yet.
pub async fn withdraw(conn: &mut Conn, invite_id: &str, now: i64) -> Result<()> {
    outbox::withdraw(conn, invite_id, TEMPLATE, "invite revoked", now)
        .await
        .map_err(StoreError::from)?;
    Ok(())
}
