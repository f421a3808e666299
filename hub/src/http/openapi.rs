//! The OpenAPI 3 document, generated from the handlers' annotations. No UI assets
//! are bundled: point any OpenAPI viewer at `/api/v1/openapi.json`.

use utoipa::{
    Modify, OpenApi,
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
};

#[derive(OpenApi)]
#[openapi(
    info(
        title = "HealthBridge hub API",
        description = "Accounts, organizations, roles, rooms and audit of the HealthBridge real-time hub. \
                       Errors are `{\"error\": {\"code\", \"message\", \"field\"?}}` with stable codes.",
        license(name = "MIT")
    ),
    modifiers(&BearerAuth),
    tags(
        (name = "auth", description = "Registration, login, tokens"),
        (name = "mfa", description = "TOTP two-factor authentication"),
        (name = "account", description = "The caller's own account"),
        (name = "admin", description = "Platform administration: disabling and re-enabling accounts"),
        (name = "organizations", description = "Organizations and members' roles"),
        (name = "invites", description = "Invitations to organizations"),
        (name = "audit", description = "The tamper-evident audit log"),
        (name = "scheduling", description = "Appointment types, providers' hours, free slots and appointments"),
        (name = "rooms", description = "Case rooms, direct threads and their history; live traffic is on /ws (docs/protocol.md)"),
        (name = "visits", description = "Video visits: create, invite, links, passes; signaling is on /ws (docs/visits.md)"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
