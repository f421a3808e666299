-- Scheduling (PostgreSQL). Keep in step with sqlite/0003_scheduling.sql.

-- What can be booked in an organization: a named duration, in person or by video.
CREATE TABLE appointment_types (
    id            TEXT PRIMARY KEY,
    org_id        TEXT NOT NULL REFERENCES organizations(id),
    name          TEXT NOT NULL,
    duration_min  BIGINT NOT NULL CHECK (duration_min BETWEEN 5 AND 480 AND duration_min % 5 = 0),
    mode          TEXT NOT NULL CHECK (mode IN ('in_person', 'video')),
    created_at    BIGINT NOT NULL,
    UNIQUE (org_id, name)
);

-- A provider's weekly hours in an organization, in the provider's own time zone (IANA name).
CREATE TABLE provider_schedules (
    provider_id  TEXT NOT NULL REFERENCES users(id),
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    time_zone    TEXT NOT NULL,
    updated_at   BIGINT NOT NULL,
    PRIMARY KEY (provider_id, org_id)
);

CREATE TABLE availability_windows (
    provider_id  TEXT NOT NULL,
    org_id       TEXT NOT NULL,
    weekday      BIGINT NOT NULL CHECK (weekday BETWEEN 0 AND 6),
    start_min    BIGINT NOT NULL CHECK (start_min BETWEEN 0 AND 1435),
    end_min      BIGINT NOT NULL CHECK (end_min BETWEEN 5 AND 1440),
    PRIMARY KEY (provider_id, org_id, weekday, start_min),
    FOREIGN KEY (provider_id, org_id) REFERENCES provider_schedules(provider_id, org_id),
    CHECK (end_min > start_min)
);

-- Leave, holidays: intervals (UTC ms) when a provider takes no appointments.
CREATE TABLE availability_exceptions (
    id           TEXT PRIMARY KEY,
    provider_id  TEXT NOT NULL REFERENCES users(id),
    org_id       TEXT NOT NULL REFERENCES organizations(id),
    starts_at    BIGINT NOT NULL,
    ends_at      BIGINT NOT NULL,
    reason       TEXT NOT NULL,
    created_by   TEXT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX availability_exceptions_provider ON availability_exceptions(provider_id, starts_at);

CREATE TABLE appointments (
    id                TEXT PRIMARY KEY,
    org_id            TEXT NOT NULL REFERENCES organizations(id),
    provider_id       TEXT NOT NULL REFERENCES users(id),
    patient_id        TEXT NOT NULL REFERENCES users(id),
    type_id           TEXT NOT NULL REFERENCES appointment_types(id),
    starts_at         BIGINT NOT NULL,
    ends_at           BIGINT NOT NULL,
    status            TEXT NOT NULL CHECK (status IN ('booked', 'cancelled')),
    reason            TEXT,
    booked_by         TEXT NOT NULL REFERENCES users(id),
    booked_at         BIGINT NOT NULL,
    cancelled_by      TEXT REFERENCES users(id),
    cancelled_at      BIGINT,
    cancel_reason     TEXT,
    rescheduled_from  TEXT REFERENCES appointments(id),
    CHECK (ends_at > starts_at)
);
CREATE INDEX appointments_provider ON appointments(provider_id, starts_at);
CREATE INDEX appointments_patient ON appointments(patient_id, starts_at);

-- No double booking, enforced by the database rather than by a check in code: a booked
-- appointment claims every 5-minute granule (UTC ms at the granule's start) it covers, and
-- the primary key refuses a second claim on any of them, whatever races the application.
CREATE TABLE slot_claims (
    provider_id     TEXT NOT NULL,
    granule         BIGINT NOT NULL,
    appointment_id  TEXT NOT NULL REFERENCES appointments(id),
    PRIMARY KEY (provider_id, granule)
);
CREATE INDEX slot_claims_appointment ON slot_claims(appointment_id);
