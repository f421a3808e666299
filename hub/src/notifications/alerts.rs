//! Critical alerts: the care team needs a patient to get in touch now. They
//! ignore channel preferences and quiet hours (only a carrier-level STOP still
//! blocks SMS), and say nothing clinical — the patient signs in to read more.

use notifier::outbox::{self, Category, Delivery, NewNotification};
use serde::Deserialize;
use serde_json::json;
use utoipa::ToSchema;

use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    domain::Role,
    error::{Error, Result},
    orgs::{OrgContext, parse_role},
    state::AppState,
    store::{StoreError, orgs},
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AlertInput {
    pub patient_id: String,
}

/// Queues a critical alert to a patient of the organization; returns its id key.
pub async fn send(
    state: &AppState,
    caller: &Principal,
    ctx: &OrgContext,
    input: AlertInput,
    meta: &RequestMeta,
) -> Result<String> {
    let now = state.clock.now_ms();
    let mut tx = state.store.begin_write().await?;
    let role = orgs::role_of(&mut tx, &ctx.org_id, &input.patient_id)
        .await?
        .map(|r| parse_role(&r))
        .transpose()?;
    if role != Some(Role::Patient) {
        return Err(Error::NotFound("patient in this organization"));
    }
    let org = orgs::by_id(&mut tx, &ctx.org_id).await?.map(|o| o.name);
    let alert_id = uuid::Uuid::now_v7().to_string();
    let payload = json!({
        "org": org.unwrap_or_default(),
        "link": super::links::console(&state.config.effective_public_url()),
    });
    for delivery in [Delivery::OutOfBand, Delivery::InApp] {
        outbox::enqueue(
            &mut tx,
            &NewNotification {
                idempotency_key: format!("critical.alert:{alert_id}:{}", delivery.as_str()),
                recipient_id: input.patient_id.clone(),
                org_id: Some(ctx.org_id.clone()),
                category: Category::Critical,
                template: "critical.alert".into(),
                payload: payload.clone(),
                subject_ref: Some(alert_id.clone()),
                delivery,
                due_at: now,
                expires_at: None,
            },
            now,
        )
        .await
        .map_err(StoreError::from)?;
    }
    audit::commit_with(
        tx,
        &AuditEvent::new("notification.critical_alert", Outcome::Success)
            .actor(Some(&caller.user_id), meta.ip.as_deref())
            .org(&ctx.org_id)
            .target("user", &input.patient_id)
            .details(json!({ "alert_id": alert_id, "patient_id": input.patient_id })),
        now,
    )
    .await?;
    state.notifications.wake();
    Ok(alert_id)
}
