//! Extractors that turn request parts into checked values, failing with the
//! application's error shape.

use axum::{
    extract::{FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{StatusCode, request::Parts},
};
use serde::de::DeserializeOwned;

use crate::{
    accounts::{Principal, RequestMeta},
    error::Error,
    orgs::OrgContext,
};

/// `Json<T>` whose rejections are our errors: bad JSON, a wrong shape, a missing
/// content type and an oversized body each get their own stable code.
pub struct AppJson<T>(pub T);

impl<S, T> FromRequest<S> for AppJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(value)) => Ok(AppJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(rejection: JsonRejection) -> Error {
    match rejection {
        JsonRejection::JsonDataError(e) => Error::InvalidBody(short(&e.body_text())),
        JsonRejection::JsonSyntaxError(e) => Error::MalformedJson(short(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        other => Error::MalformedJson(short(&other.body_text())),
    }
}

/// serde's messages name the field and the expected type, which helps clients;
/// cap their length, since they can quote the offending input.
fn short(message: &str) -> String {
    let cleaned = message
        .trim_start_matches("Failed to deserialize the JSON body into the target type: ")
        .trim_start_matches("Failed to parse the request body as JSON: ");
    let mut out: String = cleaned.chars().take(200).collect();
    if cleaned.chars().count() > 200 {
        out.push('…');
    }
    out
}

/// The authenticated caller (routes whose policy requires one).
pub struct Auth(pub Principal);

impl<S: Send + Sync> FromRequestParts<S> for Auth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Principal>()
            .cloned()
            .map(Auth)
            .ok_or(Error::Unauthenticated)
    }
}

/// The caller if a valid token was sent (public routes).
pub struct MaybeAuth(pub Option<Principal>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeAuth {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(MaybeAuth(parts.extensions.get::<Principal>().cloned()))
    }
}

/// The organization of an `/orgs/{org_id}/...` route and the caller's role there.
pub struct Org(pub OrgContext);

impl<S: Send + Sync> FromRequestParts<S> for Org {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<OrgContext>()
            .cloned()
            .map(Org)
            .ok_or(Error::Forbidden)
    }
}

/// Client address and user agent, resolved once by the `client_meta` middleware.
pub struct Meta(pub RequestMeta);

impl<S: Send + Sync> FromRequestParts<S> for Meta {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Meta(
            parts
                .extensions
                .get::<RequestMeta>()
                .cloned()
                .unwrap_or_default(),
        ))
    }
}

/// The room of a `/rooms/{room_id}/...` route and the caller's standing in it.
pub struct Room(pub crate::rooms::RoomContext);

impl<S: Send + Sync> FromRequestParts<S> for Room {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<crate::rooms::RoomContext>()
            .cloned()
            .map(Room)
            .ok_or(Error::Forbidden)
    }
}
