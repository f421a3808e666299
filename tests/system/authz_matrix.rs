//! Walks every route of the router (from the OpenAPI document the router itself
//! produces, not a hand-kept list) for every kind of caller, and checks that the
//! server's answer is the policy's answer. A new endpoint without a policy rule
//! fails here, and so does one whose handler ignores its rule.

use hub::{
    domain::Role,
    policy::{self, Caller, Decision},
};
use reqwest::Method;
use serde_json::json;

use crate::support::{TestApp, backends};

struct Who {
    label: &'static str,
    user_id: Option<String>,
    platform_admin: bool,
    role_in_org: Option<Role>,
}

#[tokio::test]
async fn every_route_for_every_role_follows_the_policy() {
    let doc = hub::http::openapi_document();
    let mut operations = Vec::new();
    for (path, item) in &doc.paths.paths {
        let methods = [
            (Method::GET, item.get.is_some()),
            (Method::POST, item.post.is_some()),
            (Method::PUT, item.put.is_some()),
            (Method::PATCH, item.patch.is_some()),
            (Method::DELETE, item.delete.is_some()),
        ];
        for (method, present) in methods {
            if present {
                operations.push((method, path.clone()));
            }
        }
    }
    assert!(
        operations.len() >= 19,
        "router lists {} operations",
        operations.len()
    );
    for (method, path) in &operations {
        assert!(
            policy::route_rule(method, path).is_some(),
            "{method} {path} has no rule in policy.rs"
        );
    }

    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        let org = "Matrix Clinic";
        let mut callers = vec![Who {
            label: "anonymous",
            user_id: None,
            platform_admin: false,
            role_in_org: None,
        }];
        for role in Role::ALL {
            let email = format!("{}@matrix.example.org", role.as_str());
            let id = app.account(&email, role, Some(org)).await;
            callers.push(Who {
                label: role.as_str(),
                user_id: Some(id),
                platform_admin: false,
                role_in_org: Some(role),
            });
        }
        let operator = app
            .account("operator@matrix.example.org", Role::Admin, None)
            .await;
        callers.push(Who {
            label: "platform admin",
            user_id: Some(operator),
            platform_admin: true,
            role_in_org: None,
        });
        let outsider = app
            .account(
                "outsider@matrix.example.org",
                Role::Admin,
                Some("Other Clinic"),
            )
            .await;
        callers.push(Who {
            label: "admin of another org",
            user_id: Some(outsider),
            platform_admin: false,
            role_in_org: None,
        });
        let org_id = app.org_id(org).await;
        let target = app
            .account("target@matrix.example.org", Role::Patient, Some(org))
            .await;
        // A case room whose members are the organization's clinician and admin.
        let member_ids: Vec<String> = callers
            .iter()
            .filter(|w| matches!(w.role_in_org, Some(Role::Admin)))
            .filter_map(|w| w.user_id.clone())
            .collect();
        let clinician = callers
            .iter()
            .find(|w| w.role_in_org == Some(Role::Clinician))
            .and_then(|w| w.user_id.clone())
            .unwrap();
        let room_id = app
            .post(
                &format!("/api/v1/orgs/{org_id}/rooms"),
                Some(&app.token_for(&clinician).await),
                json!({ "kind": "case", "title": "Matrix case", "member_ids": member_ids }),
            )
            .await
            .expect(201)["id"]
            .as_str()
            .unwrap()
            .to_owned();
        let in_room = |who: &Who| matches!(who.role_in_org, Some(Role::Admin | Role::Clinician));

        for who in &callers {
            for (method, path) in &operations {
                // A fresh session per request: logout must not spoil later checks.
                let token = match &who.user_id {
                    Some(id) => Some(app.token_for(id).await),
                    None => None,
                };
                let url = path
                    .replace("{org_id}", &org_id)
                    .replace("{user_id}", &target)
                    .replace("{room_id}", &room_id)
                    .replace("{invite_id}", &uuid::Uuid::new_v4().to_string())
                    .replace("{referral_id}", &uuid::Uuid::new_v4().to_string())
                    .replace("{exception_id}", &uuid::Uuid::new_v4().to_string());
                let body = (*method != Method::GET && *method != Method::DELETE).then(|| json!({}));
                let reply = app.call(method.clone(), &url, token.as_deref(), body).await;
                let rule = policy::route_rule(method, path).unwrap();
                let expected = policy::decide(
                    rule,
                    Caller {
                        authenticated: who.user_id.is_some(),
                        platform_admin: who.platform_admin,
                        org_role: who.role_in_org,
                        room_member: in_room(who),
                        room_care_team: in_room(who),
                    },
                );
                let context = format!(
                    "{} {method} {path}: {:?} {:?}",
                    who.label, reply.status, reply.body
                );
                match expected {
                    Decision::Unauthenticated => {
                        assert_eq!(reply.status.as_u16(), 401, "{context}");
                        assert_eq!(reply.code(), "unauthenticated", "{context}");
                    }
                    Decision::Forbidden => {
                        assert_eq!(reply.status.as_u16(), 403, "{context}");
                        assert_eq!(reply.code(), "forbidden", "{context}");
                    }
                    Decision::Allow => {
                        assert!(
                            ![401, 403].contains(&reply.status.as_u16())
                                && reply.status.as_u16() < 500,
                            "{context}"
                        );
                    }
                }
            }
        }
        // Refusals are audited.
        assert!(
            app.count("SELECT COUNT(*) FROM audit_log WHERE action = 'access.denied'")
                .await
                > 10
        );
        app.stop().await;
    }
}

#[tokio::test]
async fn probes_are_public_and_documented_elsewhere() {
    for backend in backends() {
        let app = TestApp::spawn(backend).await;
        app.get("/healthz", None).await.expect(200);
        let ready = app.get("/readyz", None).await.expect(200);
        assert_eq!(ready["checks"]["database"], "ok");
        let metrics = app
            .client
            .get(app.url("/metrics"))
            .bearer_auth(crate::support::METRICS_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        let text = metrics.text().await.unwrap();
        assert!(text.contains("hub_http_requests_total"), "{text}");
        assert!(text.contains("hub_build_info"), "{text}");
        let doc = app.get("/api/v1/openapi.json", None).await.expect(200);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        assert!(doc["paths"]["/api/v1/auth/login"]["post"].is_object());
        app.stop().await;
    }
}
