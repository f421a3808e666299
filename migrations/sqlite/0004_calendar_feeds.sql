-- Secret iCalendar feed URLs, one per user, stored hashed; deleting the row revokes it.
CREATE TABLE calendar_feeds (
    user_id     TEXT PRIMARY KEY REFERENCES users(id),
    token_hash  TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL
);
