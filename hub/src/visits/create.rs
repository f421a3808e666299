//! Creating a visit (by a clinician, or when a video appointment is booked) and inviting
//! a guest such as an interpreter.

use serde::{Deserialize, Serialize};
use serde_json::json;
use signaling::{
    ParticipantId, VisitId,
    visit::{Actor, NewParticipant, Role, Visit},
};
use utoipa::ToSchema;

use super::{LinkView, Loaded, VisitView, apply, issue_link, refused, store_events};
use crate::{
    accounts::{Principal, RequestMeta},
    audit::{self, AuditEvent, Outcome},
    domain::DisplayName,
    error::{Error, Result},
    orgs::OrgContext,
    scheduling::parse_instant,
    state::AppState,
    store::{
        Conn, orgs,
        visits::{self as store, ParticipantRow, VisitRow},
    },
};

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateVisitInput {
    /// The patient's account in the organization, if they have one.
    pub patient_id: Option<String>,
    /// How the patient is shown; defaults to the account's name.
    pub patient_name: Option<String>,
    /// RFC 3339.
    pub scheduled_at: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedVisit {
    pub visit: VisitView,
    /// The patient's link (shown once; only its hash is stored).
    pub link: LinkView,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct InviteInput {
    pub display_name: String,
    /// Only `guest` (an interpreter, a family member).
    pub role: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Invited {
    pub participant_id: String,
    pub link: LinkView,
    pub visit: VisitView,
}

/// Who takes part, before the visit exists.
pub(crate) struct People {
    pub host_user: String,
    pub host_name: String,
    pub patient_user: Option<String>,
    pub patient_name: String,
}

/// A clinician creates a visit they host.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    org: &OrgContext,
    input: CreateVisitInput,
    meta: &RequestMeta,
) -> Result<CreatedVisit> {
    let scheduled = parse_instant("scheduled_at", &input.scheduled_at)?;
    let mut conn = state.store.conn().await?;
    let host = crate::store::users::by_id(&mut conn, &principal.user_id)
        .await?
        .ok_or(Error::Unauthenticated)?;
    let (patient_user, account_name) = match &input.patient_id {
        None => (None, None),
        Some(id) => {
            let role = orgs::role_of(&mut conn, &org.org_id, id).await?;
            if role.as_deref() != Some("patient") {
                return Err(Error::invalid(
                    "patient_id",
                    "not_a_patient",
                    "patient_id must be a patient of this organization",
                ));
            }
            let user = crate::store::users::by_id(&mut conn, id)
                .await?
                .ok_or(Error::NotFound("user"))?;
            (Some(id.clone()), Some(user.display_name))
        }
    };
    drop(conn);
    let patient_name = match (input.patient_name.as_deref(), account_name) {
        (Some(raw), _) => DisplayName::parse(raw)
            .map_err(|e| Error::invalid("patient_name", e.code, e.message))?
            .as_str()
            .to_owned(),
        (None, Some(name)) => name,
        (None, None) => {
            return Err(Error::invalid(
                "patient_name",
                "required",
                "patient_name is required when there is no patient_id",
            ));
        }
    };
    let people = People {
        host_user: principal.user_id.clone(),
        host_name: host.display_name,
        patient_user,
        patient_name,
    };
    let mut tx = state.store.begin_write().await?;
    let (loaded, link, events) = insert_visit(
        state,
        &mut tx,
        &org.org_id,
        None,
        scheduled,
        &people,
        Some(&principal.user_id),
    )
    .await?;
    let event = AuditEvent::new("visit.create", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&org.org_id)
        .target("visit", &loaded.row.id)
        .details(json!({ "patient_id": people.patient_user }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    super::publish(state, &loaded, &events).await;
    Ok(CreatedVisit {
        visit: loaded.view(&state.visits.policy),
        link,
    })
}

/// Inserts a visit, its participants, its creation event and the patient's link inside
/// `conn`'s transaction (the caller commits). Used by [`create`] and by booking.
pub(crate) async fn insert_visit(
    state: &AppState,
    conn: &mut Conn,
    org_id: &str,
    appointment_id: Option<&str>,
    scheduled_ms: i64,
    people: &People,
    created_by: Option<&str>,
) -> Result<(Loaded, LinkView, Vec<signaling::visit::VisitEvent>)> {
    let now = state.clock.now_ms();
    let host = ParticipantId::generate(now);
    let patient = ParticipantId::generate(now);
    let actor = match created_by {
        Some(_) => Actor::participant(host.clone(), Role::Host),
        None => Actor::System,
    };
    let created = Visit::create(
        VisitId::generate(now),
        scheduled_ms,
        vec![
            NewParticipant {
                id: host.clone(),
                role: Role::Host,
                user_id: Some(people.host_user.clone()),
            },
            NewParticipant {
                id: patient.clone(),
                role: Role::Patient,
                user_id: people.patient_user.clone(),
            },
        ],
        &actor,
        now,
    )
    .map_err(refused)?;
    let visit = created.visit.clone();
    let row = VisitRow {
        id: visit.id.as_str().to_owned(),
        org_id: org_id.to_owned(),
        appointment_id: appointment_id.map(str::to_owned),
        state: visit.state.as_str().to_owned(),
        scheduled_at: scheduled_ms,
        snapshot: serde_json::to_string(&visit).map_err(Error::internal)?,
        version: i64::try_from(visit.last_seq).map_err(Error::internal)?,
        created_by: created_by.map(str::to_owned),
        created_at: now,
        updated_at: now,
    };
    store::insert(conn, &row).await?;
    let people_rows = vec![
        ParticipantRow {
            visit_id: row.id.clone(),
            participant_id: host.as_str().to_owned(),
            role: "host".into(),
            user_id: Some(people.host_user.clone()),
            display_name: people.host_name.clone(),
        },
        ParticipantRow {
            visit_id: row.id.clone(),
            participant_id: patient.as_str().to_owned(),
            role: "patient".into(),
            user_id: people.patient_user.clone(),
            display_name: people.patient_name.clone(),
        },
    ];
    for p in &people_rows {
        store::insert_participant(conn, &state.keyring, p).await?;
    }
    store_events(conn, &created).await?;
    let link = issue_link(state, conn, &visit, &patient, created_by).await?;
    Ok((
        Loaded {
            row,
            visit,
            people: people_rows,
        },
        link,
        created.events,
    ))
}

/// A booked video appointment gets its visit (hosted by the provider) and the patient's
/// link, sent as a `visit.link` notice, all in the booking's transaction.
pub async fn for_appointment(
    state: &AppState,
    conn: &mut Conn,
    row: &crate::store::scheduling::AppointmentRow,
) -> Result<()> {
    let provider = crate::store::users::by_id(conn, &row.provider_id)
        .await?
        .ok_or(Error::NotFound("provider"))?;
    let patient = crate::store::users::by_id(conn, &row.patient_id)
        .await?
        .ok_or(Error::NotFound("patient"))?;
    let people = People {
        host_user: provider.id,
        host_name: provider.display_name,
        patient_user: Some(patient.id),
        patient_name: patient.display_name,
    };
    let (_, link, _) = insert_visit(
        state,
        conn,
        &row.org_id,
        Some(&row.id),
        row.starts_at,
        &people,
        None,
    )
    .await?;
    crate::notifications::appointments::visit_link(conn, row, &link.url, state.clock.now_ms())
        .await?;
    Ok(())
}

/// Whether an appointment has a visit (a video appointment).
pub async fn has_visit(conn: &mut Conn, appointment_id: &str) -> Result<bool> {
    Ok(store::by_appointment(conn, appointment_id).await?.is_some())
}

/// The appointment was cancelled (or moved): its visit is cancelled too. After the
/// appointment's commit, so a visit that went live meanwhile only logs a warning.
pub async fn cancel_for_appointment(state: &AppState, appointment_id: &str) {
    let visit = async {
        let mut conn = state.store.conn().await?;
        Ok::<_, Error>(store::by_appointment(&mut conn, appointment_id).await?)
    }
    .await;
    let Ok(Some(visit)) = visit else {
        return;
    };
    let result = apply(state, &visit.id, |v, now| v.cancel(&Actor::System, now)).await;
    if let Err(e) = result {
        tracing::warn!(visit = %visit.id, error = %e, "visit of a cancelled appointment not cancelled");
    }
}

/// A host adds a guest and gets the guest's link.
pub async fn invite(
    state: &AppState,
    principal: &Principal,
    visit_id: &str,
    input: InviteInput,
    meta: &RequestMeta,
) -> Result<Invited> {
    if input.role != "guest" {
        return Err(Error::invalid(
            "role",
            "invalid_role",
            "only guests can be invited to a visit",
        ));
    }
    let name = DisplayName::parse(&input.display_name)
        .map_err(|e| Error::invalid("display_name", e.code, e.message))?;
    let before = super::get(state, visit_id).await?;
    let host = super::require_host(state, &before, &principal.user_id).await?;
    let guest = ParticipantId::generate(state.clock.now_ms());
    let new = NewParticipant {
        id: guest.clone(),
        role: Role::Guest,
        user_id: None,
    };
    // The participant row first, so the published visit already carries the name.
    {
        let mut conn = state.store.conn().await?;
        store::insert_participant(
            &mut conn,
            &state.keyring,
            &ParticipantRow {
                visit_id: visit_id.to_owned(),
                participant_id: guest.as_str().to_owned(),
                role: "guest".into(),
                user_id: None,
                display_name: name.as_str().to_owned(),
            },
        )
        .await?;
    }
    let after = apply(state, visit_id, |visit, now| {
        visit.invite(&host, new.clone(), now)
    })
    .await?;
    let mut tx = state.store.begin_write().await?;
    let link = issue_link(
        state,
        &mut tx,
        &after.visit,
        &guest,
        Some(&principal.user_id),
    )
    .await?;
    let event = AuditEvent::new("visit.invite", Outcome::Success)
        .actor(Some(&principal.user_id), meta.ip.as_deref())
        .org(&after.row.org_id)
        .target("visit", visit_id)
        .details(json!({ "participant_id": guest.as_str(), "role": "guest" }));
    audit::commit_with(tx, &event, state.clock.now_ms()).await?;
    Ok(Invited {
        participant_id: guest.as_str().to_owned(),
        link,
        visit: after.view(&state.visits.policy),
    })
}
