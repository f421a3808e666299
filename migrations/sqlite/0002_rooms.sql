-- Case rooms, direct threads and their message streams (SQLite). Keep in step with
-- postgres/0002_rooms.sql: same tables, columns and constraints.

-- A room's stream position: `last_seq` is the offset of its newest event, bumped in the
-- same transaction that inserts the event, so offsets are gap-free and commit in order.
-- `epoch` names the stream; it changes only if the stream is ever rebuilt, which tells
-- clients that offsets they hold no longer apply.
CREATE TABLE rooms (
    id          TEXT PRIMARY KEY,
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    kind        TEXT NOT NULL CHECK (kind IN ('case', 'direct')),
    title       TEXT NOT NULL,
    patient_id  TEXT REFERENCES users(id),
    epoch       TEXT NOT NULL,
    last_seq    BIGINT NOT NULL DEFAULT 0,
    created_by  TEXT NOT NULL REFERENCES users(id),
    created_at  BIGINT NOT NULL,
    CHECK (kind = 'case' OR patient_id IS NOT NULL)
);
CREATE INDEX rooms_org ON rooms(org_id);
-- One direct thread per patient and organization.
CREATE UNIQUE INDEX rooms_direct_thread ON rooms(org_id, patient_id) WHERE kind = 'direct';

-- Organizations taking part in a room: its owner, and those a case was referred to.
CREATE TABLE room_orgs (
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    org_id      TEXT NOT NULL REFERENCES organizations(id),
    relation    TEXT NOT NULL CHECK (relation IN ('owner', 'referred')),
    added_by    TEXT NOT NULL REFERENCES users(id),
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (room_id, org_id)
);

CREATE TABLE room_members (
    room_id           TEXT NOT NULL REFERENCES rooms(id),
    user_id           TEXT NOT NULL REFERENCES users(id),
    added_by          TEXT NOT NULL REFERENCES users(id),
    joined_at         BIGINT NOT NULL,
    last_read_seq     BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (room_id, user_id)
);
CREATE INDEX room_members_user ON room_members(user_id);

-- The stream: messages, edits and deletions, each at its own offset. Bodies are PHI,
-- sealed with AES-256-GCM (`key_id` names the data key). Rows are never changed:
-- an edit or a deletion is a new row naming the message it changes.
CREATE TABLE room_events (
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    seq         BIGINT NOT NULL,
    id          TEXT NOT NULL UNIQUE,
    kind        TEXT NOT NULL CHECK (kind IN ('message', 'edit', 'delete')),
    message_id  TEXT NOT NULL,
    sender_id   TEXT NOT NULL REFERENCES users(id),
    client_id   TEXT,
    key_id      TEXT,
    body        BLOB,
    created_at  BIGINT NOT NULL,
    PRIMARY KEY (room_id, seq),
    CHECK ((kind = 'delete') = (body IS NULL))
);
-- Idempotent publish: a client id lands once per sender and room.
CREATE UNIQUE INDEX room_events_client_id ON room_events(room_id, sender_id, client_id)
    WHERE client_id IS NOT NULL;
CREATE INDEX room_events_message ON room_events(message_id);

CREATE TRIGGER room_events_no_update BEFORE UPDATE ON room_events
BEGIN
    SELECT RAISE(ABORT, 'room_events is append-only');
END;

CREATE TRIGGER room_events_no_delete BEFORE DELETE ON room_events
BEGIN
    SELECT RAISE(ABORT, 'room_events is append-only');
END;

-- Live presence: which users are connected to which room through which gateway node.
-- Rows of a node whose heartbeat stops are swept by the surviving nodes.
CREATE TABLE gateway_nodes (
    id            TEXT PRIMARY KEY,
    started_at    BIGINT NOT NULL,
    heartbeat_at  BIGINT NOT NULL
);

CREATE TABLE room_presence (
    room_id     TEXT NOT NULL REFERENCES rooms(id),
    user_id     TEXT NOT NULL REFERENCES users(id),
    node_id     TEXT NOT NULL,
    since       BIGINT NOT NULL,
    PRIMARY KEY (room_id, user_id, node_id)
);
CREATE INDEX room_presence_node ON room_presence(node_id);
