-- Video visits (SQLite). Keep in step with postgres/0006_visits.sql.

-- A visit: the state machine's snapshot (`signaling::visit::Visit` as JSON) plus the
-- columns queries filter on. `version` is the snapshot's `last_seq`: a transition is
-- stored only if the row still has the version it was computed from, so two hub nodes
-- acting on one visit at once cannot lose each other's change.
CREATE TABLE visits (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations(id),
    appointment_id  TEXT REFERENCES appointments(id),
    state           TEXT NOT NULL,
    scheduled_at    BIGINT NOT NULL,
    snapshot        TEXT NOT NULL,
    version         BIGINT NOT NULL,
    created_by      TEXT REFERENCES users(id),
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX visits_scheduled ON visits(scheduled_at);
CREATE UNIQUE INDEX visits_appointment ON visits(appointment_id) WHERE appointment_id IS NOT NULL;

-- Who is on a visit, for listing "my visits" and showing names. State lives in the
-- snapshot; this table only maps participants to accounts and display names.
CREATE TABLE visit_participants (
    visit_id        TEXT NOT NULL REFERENCES visits(id),
    participant_id  TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('host', 'patient', 'guest')),
    user_id         TEXT REFERENCES users(id),
    display_name    TEXT NOT NULL,
    PRIMARY KEY (visit_id, participant_id)
);
CREATE INDEX visit_participants_user ON visit_participants(user_id);

-- Every event of a visit, append-only, numbered per visit.
CREATE TABLE visit_events (
    visit_id  TEXT NOT NULL REFERENCES visits(id),
    seq       BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    body      TEXT NOT NULL,
    at        BIGINT NOT NULL,
    PRIMARY KEY (visit_id, seq)
);

-- Visit links for participants without an account: only the token's SHA-256 is kept.
CREATE TABLE visit_links (
    token_hash      TEXT PRIMARY KEY,
    visit_id        TEXT NOT NULL REFERENCES visits(id),
    participant_id  TEXT NOT NULL,
    expires_at      BIGINT NOT NULL,
    revoked_at      BIGINT,
    created_by      TEXT REFERENCES users(id),
    created_at      BIGINT NOT NULL
);
CREATE INDEX visit_links_participant ON visit_links(visit_id, participant_id);
