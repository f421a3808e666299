//! TOTP MFA: enrol with an otpauth URI, confirm, log in with a code computed here
//! by an independent RFC 6238 implementation, replay refused, recovery codes.

use serde_json::json;

use crate::support::{PASSWORD, TestApp, backends, totp};

#[tokio::test]
async fn enrol_confirm_and_login_with_totp() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("ivy@example.org").await;
        let token = app.access_token("ivy@example.org").await;

        let enrol = app
            .post("/api/v1/auth/mfa/totp", Some(&token), json!({}))
            .await
            .expect(200);
        let uri = enrol["otpauth_uri"].as_str().unwrap();
        assert!(
            uri.starts_with("otpauth://totp/HealthBridge:ivy%40example.org?"),
            "{uri}"
        );
        assert!(
            uri.contains("issuer=HealthBridge")
                && uri.contains("digits=6")
                && uri.contains("period=30")
        );
        let secret = totp::secret_of(uri);
        assert_eq!(secret, enrol["secret"].as_str().unwrap());
        // The secret is stored encrypted, never in the clear.
        let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_sealed FROM totp_credentials")
            .fetch_one(app.state.store.pool())
            .await
            .unwrap();
        assert!(!String::from_utf8_lossy(&stored).contains(&secret));

        // Until confirmed, login does not ask for a code.
        app.login("ivy@example.org").await;
        let now = app.clock_secs();
        app.post(
            "/api/v1/auth/mfa/totp/confirm",
            Some(&token),
            json!({ "code": "000000" }),
        )
        .await
        .expect_error(401, "invalid_mfa_code");
        let confirmed = app
            .post(
                "/api/v1/auth/mfa/totp/confirm",
                Some(&token),
                json!({ "code": totp::code(&secret, now) }),
            )
            .await
            .expect(200);
        let recovery: Vec<String> =
            serde_json::from_value(confirmed["recovery_codes"].clone()).unwrap();
        assert_eq!(recovery.len(), 10);

        let login = |extra: serde_json::Value| {
            let mut body = json!({ "email": "ivy@example.org", "password": PASSWORD });
            body.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            app.post("/api/v1/auth/login", None, body)
        };
        login(json!({})).await.expect_error(401, "mfa_required");
        login(json!({ "totp_code": "123456" }))
            .await
            .expect_error(401, "invalid_mfa_code");
        // The code that confirmed enrolment is spent (docs/api.md, MFA).
        login(json!({ "totp_code": totp::code(&secret, now) }))
            .await
            .expect_error(401, "invalid_mfa_code");

        // Next time step: a fresh code works once; replaying it fails.
        app.clock.advance_ms(30_000);
        let code = totp::code(&secret, app.clock_secs());
        login(json!({ "totp_code": code })).await.expect(200);
        login(json!({ "totp_code": code }))
            .await
            .expect_error(401, "invalid_mfa_code");

        // A recovery code works once, typed in any case and without its dash.
        let typed = recovery[0].replace('-', "").to_uppercase();
        login(json!({ "recovery_code": typed })).await.expect(200);
        login(json!({ "recovery_code": recovery[0] }))
            .await
            .expect_error(401, "invalid_mfa_code");
        let me = app.get("/api/v1/me", Some(&token)).await.expect(200);
        assert_eq!(me["mfa_enabled"], true);

        // Disabling needs the password and a second factor.
        app.post(
            "/api/v1/auth/mfa/totp/disable",
            Some(&token),
            json!({ "password": PASSWORD }),
        )
        .await
        .expect_error(401, "mfa_required");
        app.clock.advance_ms(30_000);
        let code = totp::code(&secret, app.clock_secs());
        app.post(
            "/api/v1/auth/mfa/totp/disable",
            Some(&token),
            json!({ "password": PASSWORD, "totp_code": code }),
        )
        .await
        .expect(204);
        app.login("ivy@example.org").await;
        let actions: Vec<String> = sqlx::query_scalar(
            "SELECT action FROM audit_log WHERE action LIKE 'mfa.%' ORDER BY seq",
        )
        .fetch_all(app.state.store.pool())
        .await
        .unwrap();
        assert_eq!(
            actions,
            [
                "mfa.totp_enrol_started",
                "mfa.totp_enabled",
                "mfa.totp_disabled"
            ]
        );
        app.stop().await;
    }
}
