//! Registration, login, token refresh and reuse detection, logout, lockout.

use serde_json::json;

use crate::support::{PASSWORD, TestApp, backends};

#[tokio::test]
async fn register_login_refresh_reuse_and_logout() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("ana@example.org").await;

        let first = app.login("ana@example.org").await;
        let access = first["access_token"].as_str().unwrap();
        let me = app.get("/api/v1/me", Some(access)).await.expect(200);
        assert_eq!(me["email"], "ana@example.org");
        assert_eq!(me["mfa_enabled"], false);

        // Refresh rotates: a new pair, and the old refresh token is spent.
        let old_refresh = first["refresh_token"].as_str().unwrap();
        let second = app
            .post(
                "/api/v1/auth/refresh",
                None,
                json!({ "refresh_token": old_refresh }),
            )
            .await
            .expect(200);
        assert_ne!(second["refresh_token"], first["refresh_token"]);
        assert_eq!(second["session_id"], first["session_id"]);
        let new_access = second["access_token"].as_str().unwrap();
        app.get("/api/v1/me", Some(new_access)).await.expect(200);

        // Presenting the spent token again is theft: the whole session dies.
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": old_refresh }),
        )
        .await
        .expect_error(401, "refresh_token_reused");
        let new_refresh = second["refresh_token"].as_str().unwrap();
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": new_refresh }),
        )
        .await
        .expect_error(401, "invalid_refresh_token");
        app.get("/api/v1/me", Some(new_access))
            .await
            .expect_error(401, "unauthenticated");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'auth.refresh_token_reuse'")
                .await,
            1
        );

        // Logout revokes at once: access and refresh tokens stop working.
        let third = app.login("ana@example.org").await;
        let access = third["access_token"].as_str().unwrap();
        app.post("/api/v1/auth/logout", Some(access), json!({}))
            .await
            .expect(204);
        app.get("/api/v1/me", Some(access))
            .await
            .expect_error(401, "unauthenticated");
        app.post(
            "/api/v1/auth/refresh",
            None,
            json!({ "refresh_token": third["refresh_token"] }),
        )
        .await
        .expect_error(401, "invalid_refresh_token");
        app.stop().await;
    }
}

#[tokio::test]
async fn access_tokens_expire() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("ben@example.org").await;
        let token = app.access_token("ben@example.org").await;
        app.clock.advance_ms(15 * 60 * 1000);
        let reply = app.get("/api/v1/me", Some(&token)).await;
        reply.expect_error(401, "token_expired");
        assert_eq!(reply.headers["www-authenticate"], "Bearer");
        app.stop().await;
    }
}

#[tokio::test]
async fn registration_rules() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("cara@example.org").await;
        let register = |email: &str, password: &str| {
            app.post(
                "/api/v1/auth/register",
                None,
                json!({ "email": email, "password": password, "display_name": "Cara" }),
            )
        };
        // A taken email answers like a free one (tests/system/invite_mail.rs
        // checks the owner is mailed instead).
        register("CARA@example.org", PASSWORD).await.expect(201);
        register("dan@example.org", "short pw")
            .await
            .expect_error(422, "password_too_short");
        register("dan@example.org", "password123456")
            .await
            .expect_error(422, "password_too_common");
        register("dan@example.org", "dan@example.org!!")
            .await
            .expect_error(422, "password_contains_email");
        register("not-an-email", PASSWORD)
            .await
            .expect_error(422, "invalid_email");
        assert_eq!(app.count("SELECT COUNT(*) FROM users").await, 1);
        app.stop().await;
    }
}

#[tokio::test]
async fn wrong_password_and_unknown_account_look_the_same() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("eva@example.org").await;
        let wrong = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "eva@example.org", "password": "nope nope nope" }),
            )
            .await;
        let unknown = app
            .post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "who@example.org", "password": "nope nope nope" }),
            )
            .await;
        wrong.expect_error(401, "invalid_credentials");
        unknown.expect_error(401, "invalid_credentials");
        assert_eq!(wrong.body, unknown.body);
        // Both failures and the registration are in the audit log.
        assert_eq!(
            app.count(
                "SELECT COUNT(*) FROM audit_log WHERE action = 'auth.login' AND outcome = 'failure'"
            )
            .await,
            2
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn repeated_failures_slow_then_lock_the_account() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            let l = &mut c.auth.lockout;
            l.account_slow_after = 3;
            l.account_lock_after = 5;
            l.backoff_base_ms = 2000;
            l.lock_secs = 600;
        })
        .await;
        app.register("finn@example.org").await;
        let attempt = |password: &'static str| {
            app.post(
                "/api/v1/auth/login",
                None,
                json!({ "email": "finn@example.org", "password": password }),
            )
        };
        for _ in 0..3 {
            attempt("wrong password!")
                .await
                .expect_error(401, "invalid_credentials");
        }
        // Slowed: even the right password must wait out the delay.
        let slowed = attempt(PASSWORD).await;
        slowed.expect_error(429, "too_many_attempts");
        assert_eq!(slowed.headers["retry-after"], "2");
        app.clock.advance_ms(2000);
        attempt("wrong password!")
            .await
            .expect_error(401, "invalid_credentials");
        app.clock.advance_ms(4000);
        attempt("wrong password!")
            .await
            .expect_error(401, "invalid_credentials");
        // Five failures: locked, the right password does not help.
        let locked = attempt(PASSWORD).await;
        locked.expect_error(429, "account_locked");
        assert_eq!(locked.headers["retry-after"], "600");
        app.clock.advance_ms(600_000);
        attempt(PASSWORD).await.expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn one_address_spraying_many_accounts_is_stopped() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            let l = &mut c.auth.lockout;
            l.ip_slow_after = 4;
            l.ip_lock_after = 4;
            l.lock_secs = 300;
        })
        .await;
        app.register("gia@example.org").await;
        for i in 0..4 {
            app.post(
                "/api/v1/auth/login",
                None,
                json!({ "email": format!("user{i}@example.org"), "password": "guess guess guess" }),
            )
            .await
            .expect_error(401, "invalid_credentials");
        }
        // The address is blocked for every account, including a real one.
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "gia@example.org", "password": PASSWORD }),
        )
        .await
        .expect_error(429, "too_many_attempts");
        app.clock.advance_ms(300_000);
        app.login("gia@example.org").await;
        app.stop().await;
    }
}

#[tokio::test]
async fn password_change_signs_out_other_sessions() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.register("hal@example.org").await;
        let phone = app.access_token("hal@example.org").await;
        let laptop = app.access_token("hal@example.org").await;
        let new_password = "another long passphrase 99";
        let reply = app
            .post(
                "/api/v1/auth/password",
                Some(&laptop),
                json!({ "current_password": PASSWORD, "new_password": new_password }),
            )
            .await
            .expect(200);
        assert_eq!(reply["sessions_revoked"], 1);
        app.get("/api/v1/me", Some(&phone))
            .await
            .expect_error(401, "unauthenticated");
        app.get("/api/v1/me", Some(&laptop)).await.expect(200);
        app.post(
            "/api/v1/auth/login",
            None,
            json!({ "email": "hal@example.org", "password": new_password }),
        )
        .await
        .expect(200);
        app.stop().await;
    }
}

#[tokio::test]
async fn a_stolen_token_cannot_guess_the_password() {
    for backend in backends() {
        let app = TestApp::spawn_with(backend, |c| {
            c.auth.lockout.account_slow_after = 2;
            c.auth.lockout.account_lock_after = 2;
        })
        .await;
        app.register("ida@example.org").await;
        let token = app.access_token("ida@example.org").await;
        let change = |current: &'static str| {
            app.post(
                "/api/v1/auth/password",
                Some(&token),
                json!({ "current_password": current, "new_password": "a brand new passphrase 7" }),
            )
        };
        change("guess one guess")
            .await
            .expect_error(401, "invalid_credentials");
        change("guess two guess")
            .await
            .expect_error(401, "invalid_credentials");
        change(PASSWORD).await.expect_error(429, "account_locked");
        // The weak new password is named by its own field.
        app.clock.advance_ms(16 * 60 * 1000);
        let token = app.access_token("ida@example.org").await;
        let weak = app
            .post(
                "/api/v1/auth/password",
                Some(&token),
                json!({ "current_password": PASSWORD, "new_password": "short" }),
            )
            .await;
        weak.expect_error(422, "password_too_short");
        assert_eq!(weak.body["error"]["field"], "new_password");
        assert_eq!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'account.password_change' AND outcome = 'failure'").await,
            2
        );
        app.stop().await;
    }
}
