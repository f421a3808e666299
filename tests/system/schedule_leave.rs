//! A provider's leave from their schedule page: listed (reasons are read only by
//! whoever manages the hours, and each read is audited), and taken back, after
//! which the time is bookable again.

use hub::domain::Role;
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, backends, clinic::clinic};

#[tokio::test]
async fn leave_is_listed_to_its_managers_and_taken_back() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app, "Clinic", "leave.test", "in_person").await;
        let (org, (dr, dr_token)) = (&c.org, &c.provider);
        let colleague = app
            .account("other@leave.test", Role::Clinician, Some("Clinic"))
            .await;
        let colleague_token = app.token_for(&colleague).await;
        let leave = format!("/api/v1/orgs/{org}/providers/{dr}/exceptions");
        let slots = format!(
            "/api/v1/orgs/{org}/slots?provider_id={dr}&type_id={}&from=2027-03-15T00:00:00Z&to=2027-03-16T00:00:00Z",
            c.type_id
        );
        let free = |body: serde_json::Value| body["slots"].as_array().map(Vec::len).unwrap_or(0);
        let open_day = free(app.get(&slots, Some(&c.patient.1)).await.expect(200));
        assert!(open_day > 0);

        let added = app
            .post(
                &leave,
                Some(dr_token),
                json!({ "starts_at": "2027-03-15T00:00:00Z", "ends_at": "2027-03-16T00:00:00Z",
                        "reason": "Surgery follow-up" }),
            )
            .await
            .expect(201);
        assert_eq!(
            free(app.get(&slots, Some(&c.patient.1)).await.expect(200)),
            0
        );

        // The provider and the admin read it, with its reason; the read is audited.
        let list = app.get(&leave, Some(dr_token)).await.expect(200);
        assert_eq!(list[0]["id"], added["id"]);
        assert_eq!(list[0]["reason"], "Surgery follow-up");
        app.get(&leave, Some(&c.admin)).await.expect(200);
        assert_eq!(app.audited("availability.exceptions.read").await, 2);
        // A colleague learns nothing of it; a patient is refused the route.
        app.get(&leave, Some(&colleague_token))
            .await
            .expect_error(404, "not_found");
        app.get(&leave, Some(&c.patient.1))
            .await
            .expect_error(403, "forbidden");
        let one = format!("{leave}/{}", added["id"].as_str().unwrap());
        app.call(Method::DELETE, &one, Some(&colleague_token), None)
            .await
            .expect_error(404, "not_found");

        // Taken back: bookable again, audited; a second delete finds nothing.
        app.call(Method::DELETE, &one, Some(dr_token), None)
            .await
            .expect(204);
        assert_eq!(
            free(app.get(&slots, Some(&c.patient.1)).await.expect(200)),
            open_day
        );
        assert_eq!(app.audited("availability.exception.delete").await, 1);
        app.call(Method::DELETE, &one, Some(dr_token), None)
            .await
            .expect_error(404, "not_found");
        let list = app.get(&leave, Some(dr_token)).await.expect(200);
        assert_eq!(list.as_array().map(Vec::len), Some(0));
        app.stop().await;
    }
}
