//! A clinic to schedule in, as several tests need it.

use hub::domain::Role;
use serde_json::{Value, json};

use super::TestApp;

pub struct Clinic {
    pub org: String,
    /// The organization admin's access token.
    pub admin: String,
    /// The provider's user id and access token.
    pub provider: (String, String),
    /// The patient's user id and access token.
    pub patient: (String, String),
    /// A 30-minute "Follow-up".
    pub type_id: String,
}

/// An organization `name` with an admin, a provider and a patient (`admin@`, `dr@` and
/// `pat@<domain>`), a 30-minute "Follow-up" of `mode` (`video` or `in_person`), and the
/// provider's hours: weekdays 09:00–12:00 in America/New_York.
pub async fn clinic(app: &TestApp, name: &str, domain: &str, mode: &str) -> Clinic {
    let admin = app
        .account(&format!("admin@{domain}"), Role::Admin, Some(name))
        .await;
    let org = app.org_id(name).await;
    let provider = app
        .account(&format!("dr@{domain}"), Role::Clinician, Some(name))
        .await;
    let patient = app
        .account(&format!("pat@{domain}"), Role::Patient, Some(name))
        .await;
    let admin = app.token_for(&admin).await;
    let kind = app
        .post(
            &format!("/api/v1/orgs/{org}/appointment-types"),
            Some(&admin),
            json!({ "name": "Follow-up", "duration_min": 30, "mode": mode }),
        )
        .await
        .expect(201);
    let provider_token = app.token_for(&provider).await;
    let windows: Vec<Value> = ["mon", "tue", "wed", "thu", "fri"]
        .iter()
        .map(|d| json!({ "weekday": d, "start": "09:00", "end": "12:00" }))
        .collect();
    app.call(
        reqwest::Method::PUT,
        &format!("/api/v1/orgs/{org}/providers/{provider}/availability"),
        Some(&provider_token),
        Some(json!({ "time_zone": "America/New_York", "windows": windows })),
    )
    .await
    .expect(200);
    Clinic {
        org,
        admin,
        provider: (provider, provider_token),
        patient: (patient.clone(), app.token_for(&patient).await),
        type_id: kind["id"].as_str().expect("type id").to_owned(),
    }
}
