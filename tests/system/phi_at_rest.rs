//! PHI free text is sealed at rest (README "Encryption at rest"): room titles,
//! appointment, cancel and reschedule reasons, leave reasons and visit participants'
//! names are written through the API, then read raw from the database: no plaintext
//! in the rows (nor anywhere in the SQLite file), while the API still answers with it.
//! Rows written in plaintext before encryption, in every sealed column, are read as they
//! are and sealed at the next start, each under its own row.

use std::sync::Arc;

use hub::{clock::Clock, server::Server};
use serde_json::json;

use crate::support::{self, Backend, TestApp, backends, clinic::Clinic, test_config};

const TITLE: &str = "Sepsis review Ward Zeta-7";
const BOOK_REASON: &str = "Recurring migraine aura quasar";
const RESCHEDULE_REASON: &str = "Dialysis session moved nebula";
const CANCEL_REASON: &str = "Admitted to hospital pulsar";
const LEAVE_REASON: &str = "Chemotherapy leave comet";
const PATIENT_NAME: &str = "Zeynep Quartermaine";
const GUEST_NAME: &str = "Ofelia Brandtner interpreter";

const SECRETS: [&str; 7] = [
    TITLE,
    BOOK_REASON,
    RESCHEDULE_REASON,
    CANCEL_REASON,
    LEAVE_REASON,
    PATIENT_NAME,
    GUEST_NAME,
];

/// Every sealed column, as `(table, column)`.
const SEALED_COLUMNS: [(&str, &str); 5] = [
    ("rooms", "title"),
    ("appointments", "reason"),
    ("appointments", "cancel_reason"),
    ("availability_exceptions", "reason"),
    ("visit_participants", "display_name"),
];

async fn clinic(app: &TestApp) -> Clinic {
    support::clinic::clinic(app, "PHI Clinic", "phi.test", "in_person").await
}

/// Every stored value of every sealed column.
async fn stored_values(app: &TestApp) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (table, column) in SEALED_COLUMNS {
        let sql = format!("SELECT {column} FROM {table} WHERE {column} IS NOT NULL");
        let values: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_all(app.state.store.pool())
            .await
            .expect("raw read");
        out.extend(values.into_iter().map(|v| (format!("{table}.{column}"), v)));
    }
    out
}

/// The SQLite database and its write-ahead log, as bytes.
fn sqlite_bytes(app: &TestApp) -> Vec<u8> {
    let mut bytes = Vec::new();
    for name in ["hub.db", "hub.db-wal"] {
        if let Ok(file) = std::fs::read(app.db.data_dir.join(name)) {
            bytes.extend(file);
        }
    }
    bytes
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn phi_free_text_is_sealed_in_the_database_and_readable_through_the_api() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let type_id = &c.type_id;

        // A case room's title.
        let room = app
            .post(
                &format!("/api/v1/orgs/{}/rooms", c.org),
                Some(&c.provider.1),
                json!({ "kind": "case", "title": TITLE, "patient_id": c.patient.0 }),
            )
            .await
            .expect(201);
        assert_eq!(room["title"], TITLE);
        let room_id = room["id"].as_str().unwrap();
        let fetched = app
            .get(&format!("/api/v1/rooms/{room_id}"), Some(&c.patient.1))
            .await
            .expect(200);
        assert_eq!(fetched["title"], TITLE);
        let listed = app
            .get("/api/v1/rooms", Some(&c.patient.1))
            .await
            .expect(200);
        assert_eq!(listed["rooms"][0]["title"], TITLE);

        // A leave reason.
        let leave = app
            .post(
                &format!(
                    "/api/v1/orgs/{}/providers/{}/exceptions",
                    c.org, c.provider.0
                ),
                Some(&c.provider.1),
                json!({ "starts_at": "2027-03-22T00:00:00Z", "ends_at": "2027-03-27T00:00:00Z",
                        "reason": LEAVE_REASON }),
            )
            .await
            .expect(201);
        assert_eq!(leave["reason"], LEAVE_REASON);

        // Booking, rescheduling and cancelling reasons.
        let base = format!("/api/v1/orgs/{}/appointments", c.org);
        let book = |starts_at: &str| {
            json!({ "provider_id": c.provider.0, "type_id": type_id, "starts_at": starts_at,
                    "reason": BOOK_REASON })
        };
        let first = app
            .post(&base, Some(&c.patient.1), book("2027-03-15T13:00:00Z"))
            .await
            .expect(201);
        assert_eq!(first["reason"], BOOK_REASON);
        let first_id = first["id"].as_str().unwrap();
        let moved = app
            .post(
                &format!("{base}/{first_id}/reschedule"),
                Some(&c.patient.1),
                json!({ "starts_at": "2027-03-16T13:30:00Z", "reason": RESCHEDULE_REASON }),
            )
            .await
            .expect(201);
        assert_eq!(moved["reason"], BOOK_REASON);
        let second = app
            .post(&base, Some(&c.patient.1), book("2027-03-15T14:00:00Z"))
            .await
            .expect(201);
        let second_id = second["id"].as_str().unwrap();
        let cancelled = app
            .post(
                &format!("{base}/{second_id}/cancel"),
                Some(&c.patient.1),
                json!({ "reason": CANCEL_REASON }),
            )
            .await
            .expect(200);
        assert_eq!(cancelled["cancel_reason"], CANCEL_REASON);
        let mine = app
            .get("/api/v1/appointments", Some(&c.patient.1))
            .await
            .expect(200);
        let by_id = |id: &str| {
            mine.as_array()
                .unwrap()
                .iter()
                .find(|a| a["id"] == id)
                .cloned()
                .unwrap_or_else(|| panic!("appointment {id} listed: {mine}"))
        };
        assert_eq!(by_id(first_id)["cancel_reason"], RESCHEDULE_REASON);
        assert_eq!(by_id(first_id)["reason"], BOOK_REASON);
        assert_eq!(by_id(second_id)["cancel_reason"], CANCEL_REASON);

        // Visit participants' names: a patient without an account, and a guest.
        let scheduled = hub::clock::rfc3339(app.clock.now_ms() + 600_000);
        let visit = app
            .post(
                &format!("/api/v1/orgs/{}/visits", c.org),
                Some(&c.provider.1),
                json!({ "patient_name": PATIENT_NAME, "scheduled_at": scheduled }),
            )
            .await
            .expect(201);
        let visit_id = visit["visit"]["id"].as_str().unwrap();
        app.post(
            &format!("/api/v1/visits/{visit_id}/invites"),
            Some(&c.provider.1),
            json!({ "display_name": GUEST_NAME, "role": "guest" }),
        )
        .await
        .expect(201);
        let shown = app
            .get(&format!("/api/v1/visits/{visit_id}"), Some(&c.provider.1))
            .await
            .expect(200);
        let names: Vec<&str> = shown["participants"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|p| p["display_name"].as_str())
            .collect();
        assert!(names.contains(&PATIENT_NAME), "{names:?}");
        assert!(names.contains(&GUEST_NAME), "{names:?}");

        // Raw rows: every value is sealed, no secret text appears.
        let values = stored_values(&app).await;
        assert!(values.len() >= 9, "{values:?}");
        for (column, value) in &values {
            assert!(value.starts_with("hbenc1:"), "{column} not sealed: {value}");
            for secret in SECRETS {
                assert!(!value.contains(secret), "{column} holds {secret:?}");
            }
        }
        if backend == Backend::Sqlite {
            let bytes = sqlite_bytes(&app);
            assert!(bytes.len() > 4096, "database file read");
            for secret in SECRETS {
                assert!(!contains(&bytes, secret), "{secret:?} in the SQLite file");
            }
        }
        app.stop().await;
    }
}

#[tokio::test]
async fn plaintext_written_before_encryption_is_read_then_sealed_at_the_next_start() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let c = clinic(&app).await;
        let room = app
            .post(
                &format!("/api/v1/orgs/{}/rooms", c.org),
                Some(&c.provider.1),
                json!({ "kind": "case", "title": "placeholder" }),
            )
            .await
            .expect(201);
        let room_id = room["id"].as_str().unwrap().to_owned();
        // As a row written before this version: plaintext in the column.
        sqlx::query("UPDATE rooms SET title = $1 WHERE id = $2")
            .bind(TITLE)
            .bind(&room_id)
            .execute(app.state.store.pool())
            .await
            .expect("raw write");
        let path = format!("/api/v1/rooms/{room_id}");
        let before = app.get(&path, Some(&c.provider.1)).await.expect(200);
        assert_eq!(before["title"], TITLE, "plaintext still reads");
        // The same for every other sealed column (a participant's row id has two parts).
        let leave = app
            .post(
                &format!(
                    "/api/v1/orgs/{}/providers/{}/exceptions",
                    c.org, c.provider.0
                ),
                Some(&c.provider.1),
                json!({ "starts_at": "2027-03-22T00:00:00Z", "ends_at": "2027-03-27T00:00:00Z",
                        "reason": "placeholder" }),
            )
            .await
            .expect(201);
        let leave_id = leave["id"].as_str().unwrap().to_owned();
        let base = format!("/api/v1/orgs/{}/appointments", c.org);
        let booked = app
            .post(
                &base,
                Some(&c.patient.1),
                json!({ "provider_id": c.provider.0, "type_id": c.type_id,
                        "starts_at": "2027-03-15T13:00:00Z", "reason": "placeholder" }),
            )
            .await
            .expect(201);
        let appointment_id = booked["id"].as_str().unwrap().to_owned();
        app.post(
            &format!("{base}/{appointment_id}/cancel"),
            Some(&c.patient.1),
            json!({ "reason": "placeholder" }),
        )
        .await
        .expect(200);
        let scheduled = hub::clock::rfc3339(app.clock.now_ms() + 600_000);
        let visit = app
            .post(
                &format!("/api/v1/orgs/{}/visits", c.org),
                Some(&c.provider.1),
                json!({ "patient_name": "placeholder", "scheduled_at": scheduled }),
            )
            .await
            .expect(201);
        let visit_id = visit["visit"]["id"].as_str().unwrap().to_owned();
        for (sql, plain, id) in [
            (
                "UPDATE availability_exceptions SET reason = $1 WHERE id = $2",
                LEAVE_REASON,
                &leave_id,
            ),
            (
                "UPDATE appointments SET reason = $1 WHERE id = $2",
                BOOK_REASON,
                &appointment_id,
            ),
            (
                "UPDATE appointments SET cancel_reason = $1 WHERE id = $2",
                CANCEL_REASON,
                &appointment_id,
            ),
            (
                "UPDATE visit_participants SET display_name = $1 \
                 WHERE visit_id = $2 AND role = 'patient'",
                PATIENT_NAME,
                &visit_id,
            ),
        ] {
            let done = sqlx::query(sql)
                .bind(plain)
                .bind(id)
                .execute(app.state.store.pool())
                .await
                .expect("raw write");
            assert_eq!(done.rows_affected(), 1, "{sql}");
        }

        // The next node to start (here a second one on the same database) seals it.
        let clock: Arc<dyn Clock> = Arc::new(app.clock.clone());
        let second = Server::build_with_clock(test_config(&app.db), clock)
            .await
            .expect("second node starts");
        drop(second);
        let raw: String = sqlx::query_scalar("SELECT title FROM rooms WHERE id = $1")
            .bind(&room_id)
            .fetch_one(app.state.store.pool())
            .await
            .expect("raw read");
        assert!(raw.starts_with("hbenc1:"), "sealed at start: {raw}");
        assert!(!raw.contains(TITLE));
        let after = app.get(&path, Some(&c.provider.1)).await.expect(200);
        assert_eq!(after["title"], TITLE);
        for (column, value) in stored_values(&app).await {
            assert!(value.starts_with("hbenc1:"), "{column} not sealed: {value}");
        }
        // Each sealed under its own row: it opens there.
        let mine = app
            .get("/api/v1/appointments", Some(&c.patient.1))
            .await
            .expect(200);
        assert_eq!(mine[0]["id"], appointment_id.as_str(), "{mine}");
        assert_eq!(mine[0]["reason"], BOOK_REASON);
        assert_eq!(mine[0]["cancel_reason"], CANCEL_REASON);
        let shown = app
            .get(&format!("/api/v1/visits/{visit_id}"), Some(&c.provider.1))
            .await
            .expect(200);
        let patient = shown["participants"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["role"] == "patient")
            .expect("the patient participant");
        assert_eq!(patient["display_name"], PATIENT_NAME);
        let leave_raw: String =
            sqlx::query_scalar("SELECT reason FROM availability_exceptions WHERE id = $1")
                .bind(&leave_id)
                .fetch_one(app.state.store.pool())
                .await
                .expect("raw read");
        let opened =
            hub::store::sealed::EXCEPTION_REASON.open(&app.state.keyring, &leave_id, leave_raw);
        assert_eq!(opened.ok().as_deref(), Some(LEAVE_REASON));

        // A sealed value moved into another row does not open there.
        let other = app
            .post(
                &format!("/api/v1/orgs/{}/rooms", c.org),
                Some(&c.provider.1),
                json!({ "kind": "case", "title": "another case" }),
            )
            .await
            .expect(201);
        let other_id = other["id"].as_str().unwrap();
        sqlx::query("UPDATE rooms SET title = $1 WHERE id = $2")
            .bind(&raw)
            .bind(other_id)
            .execute(app.state.store.pool())
            .await
            .expect("raw write");
        let moved = app
            .get(&format!("/api/v1/rooms/{other_id}"), Some(&c.provider.1))
            .await;
        moved.expect_error(500, "internal_error");
        assert!(!moved.body.to_string().contains(TITLE));
        app.stop().await;
    }
}
