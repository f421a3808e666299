-- Referrals of a case room to another organization, pending until the receiving
-- organization answers (PostgreSQL). Keep in step with sqlite/0011_room_referrals.sql.
--
-- A referral gives the receiving organization nothing while it is `pending`: its
-- `room_orgs` row (which every room right is derived from, see HAS_STANDING in
-- hub/src/store/rooms.rs) is written only when the receiving organization accepts,
-- and deleted when the referring side withdraws an accepted referral.
CREATE TABLE room_referrals (
    id           TEXT PRIMARY KEY,
    room_id      TEXT NOT NULL REFERENCES rooms(id),
    from_org_id  TEXT NOT NULL REFERENCES organizations(id),
    to_org_id    TEXT NOT NULL REFERENCES organizations(id),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'accepted', 'declined', 'withdrawn')),
    created_by   TEXT NOT NULL REFERENCES users(id),
    created_at   BIGINT NOT NULL,
    decided_by   TEXT REFERENCES users(id),
    decided_at   BIGINT,
    CHECK (from_org_id <> to_org_id),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
-- At most one open (pending or accepted) referral per room and receiving organization.
CREATE UNIQUE INDEX room_referrals_open ON room_referrals(room_id, to_org_id)
    WHERE status IN ('pending', 'accepted');
CREATE INDEX room_referrals_incoming ON room_referrals(to_org_id, status);
CREATE INDEX room_referrals_room ON room_referrals(room_id);

-- Referrals made before this table existed took effect at once: they are accepted.
INSERT INTO room_referrals (id, room_id, from_org_id, to_org_id, status, created_by, created_at,
                            decided_by, decided_at)
SELECT gen_random_uuid()::text, ro.room_id, r.org_id, ro.org_id, 'accepted', ro.added_by,
       ro.added_at, ro.added_by, ro.added_at
FROM room_orgs ro JOIN rooms r ON r.id = ro.room_id
WHERE ro.relation = 'referred';
