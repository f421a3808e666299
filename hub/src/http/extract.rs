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
    error_text,
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
        JsonRejection::JsonDataError(e) => Error::InvalidBody(json_problem(&e)),
        JsonRejection::JsonSyntaxError(e) => Error::MalformedJson(json_problem(&e)),
        JsonRejection::MissingJsonContentType(_) => Error::UnsupportedMediaType,
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => Error::PayloadTooLarge,
        _ => Error::MalformedJson("the request body could not be read".into()),
    }
}

/// The field path and problem of a rejected body, never the rejected value
/// (serde's own messages quote it; see `error_text`).
fn json_problem(rejection: &(dyn std::error::Error + 'static)) -> String {
    path_error::<serde_json::Error>(rejection).map_or_else(
        || "the body does not match the expected shape".into(),
        |e| error_text::describe_json(&e.path().to_string(), e.inner()),
    )
}

/// The deserializer's error, with where in the input it arose, among the
/// causes of an extractor's rejection.
fn path_error<'a, E: std::error::Error + 'static>(
    rejection: &'a (dyn std::error::Error + 'static),
) -> Option<&'a serde_path_to_error::Error<E>> {
    std::iter::successors(rejection.source(), |e| e.source()).find_map(|e| e.downcast_ref())
}

/// `Query<T>` whose rejection names the parameter and the problem, never the
/// value (400 `invalid_query`). It is named `Query` on purpose: utoipa's axum
/// support recognizes a handler argument of that name and documents its
/// `IntoParams` fields as query parameters (under another name they would be
/// documented as required path parameters).
pub struct Query<T>(pub T);

impl<S, T> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Query(value)),
            Err(rejection) => Err(Error::InvalidQuery(
                path_error::<serde::de::value::Error>(&rejection).map_or_else(
                    || "the query string could not be parsed".to_owned(),
                    |e| error_text::describe(&e.path().to_string(), &e.inner().to_string()),
                ),
            )),
        }
    }
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
