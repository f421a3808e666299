//! `/api/v1/rooms/...` and `/api/v1/orgs/{org_id}/rooms`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde::Deserialize;
use utoipa::ToSchema;

use crate::{
    error::Result,
    http::{
        error::ErrorBody,
        extract::{AppJson, Auth, Meta, Org, Query, Room},
    },
    rooms::{
        self, CreateRoomInput, HistoryPage, PublishInput, Published, RoomList, RoomMemberView,
        RoomView,
    },
    state::AppState,
};

/// Open a case room or a direct thread in the organization.
#[utoipa::path(post, path = "/orgs/{org_id}/rooms", tag = "rooms", security(("bearer" = [])),
    params(("org_id" = String, Path)), request_body = CreateRoomInput,
    responses((status = 201, body = RoomView), (status = 403, body = ErrorBody),
        (status = 409, description = "`direct_thread_exists`", body = ErrorBody),
        (status = 422, body = ErrorBody)))]
pub async fn create_room(
    State(state): State<AppState>,
    Auth(p): Auth,
    Org(ctx): Org,
    Meta(meta): Meta,
    AppJson(input): AppJson<CreateRoomInput>,
) -> Result<(StatusCode, axum::Json<RoomView>)> {
    let room = rooms::create(&state, &p, &ctx, input, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(room)))
}

/// The caller's rooms, with stream positions and unread counts.
#[utoipa::path(get, path = "/rooms", tag = "rooms", security(("bearer" = [])),
    responses((status = 200, body = RoomList)))]
pub async fn list_rooms(
    State(state): State<AppState>,
    Auth(p): Auth,
) -> Result<axum::Json<RoomList>> {
    Ok(axum::Json(rooms::list_mine(&state, &p).await?))
}

/// One room with its members and organizations (members only).
#[utoipa::path(get, path = "/rooms/{room_id}", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)),
    responses((status = 200, body = RoomView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_room(
    State(state): State<AppState>,
    Room(ctx): Room,
) -> Result<axum::Json<RoomView>> {
    Ok(axum::Json(rooms::get(&state, &ctx.room.id).await?))
}

/// A page of history, newest first (members only; every read is audited).
#[utoipa::path(get, path = "/rooms/{room_id}/messages", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path), rooms::HistoryQuery),
    responses((status = 200, body = HistoryPage), (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn history(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    Meta(meta): Meta,
    Query(query): Query<rooms::HistoryQuery>,
) -> Result<axum::Json<HistoryPage>> {
    Ok(axum::Json(
        rooms::history(&state, &p, &ctx, query, &meta).await?,
    ))
}

/// Send a message over REST (the WebSocket `publish` does the same).
#[utoipa::path(post, path = "/rooms/{room_id}/messages", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = PublishInput,
    responses((status = 201, body = Published), (status = 200, description = "a retry: the message stored earlier", body = Published),
        (status = 403, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn publish(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    AppJson(input): AppJson<PublishInput>,
) -> Result<(StatusCode, axum::Json<Published>)> {
    let published = rooms::publish(&state, &p.user_id, &ctx.room.id, &input).await?;
    let status = if published.duplicate {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((status, axum::Json(published)))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRoomMemberInput {
    /// A user holding a role in an organization taking part in the room.
    pub user_id: String,
}

/// Add a member, or join a referred case as its organization's clinician.
#[utoipa::path(post, path = "/rooms/{room_id}/members", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path)), request_body = AddRoomMemberInput,
    responses((status = 201, body = RoomMemberView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`already_member`", body = ErrorBody)))]
pub async fn add_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    Meta(meta): Meta,
    AppJson(input): AppJson<AddRoomMemberInput>,
) -> Result<(StatusCode, axum::Json<RoomMemberView>)> {
    let member = rooms::add_member(&state, &p, &ctx, &input.user_id, &meta).await?;
    Ok((StatusCode::CREATED, axum::Json(member)))
}

/// Remove a member, or leave (your own user id).
#[utoipa::path(delete, path = "/rooms/{room_id}/members/{user_id}", tag = "rooms", security(("bearer" = [])),
    params(("room_id" = String, Path), ("user_id" = String, Path)),
    responses((status = 204), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "`last_member`", body = ErrorBody)))]
pub async fn remove_member(
    State(state): State<AppState>,
    Auth(p): Auth,
    Room(ctx): Room,
    Meta(meta): Meta,
    Path(path): Path<(String, String)>,
) -> Result<StatusCode> {
    rooms::remove_member(&state, &p, &ctx, &path.1, &meta).await?;
    Ok(StatusCode::NO_CONTENT)
}
