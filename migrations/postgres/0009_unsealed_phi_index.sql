-- Partial indexes on the rows of each sealed PHI column still in plaintext (no
-- `hbenc1:` prefix; see hub/src/store/sealed.rs). Keep in step with
-- sqlite/0009_unsealed_phi_index.sql.
--
-- `hub serve` seals such rows at every start (hub/src/store/seal_backfill.rs), and a
-- row an older node writes during a rolling upgrade may appear at any time, so the
-- search cannot stop after a first pass. With these indexes it reads only the rows
-- still in plaintext: once every row is sealed each index is empty and the search at
-- start-up costs next to nothing, however large the tables. The predicate must stay
-- word for word the one seal_backfill queries with, or the planner cannot use it.
CREATE INDEX rooms_title_unsealed ON rooms (id)
    WHERE substr(title, 1, 7) <> 'hbenc1:';
CREATE INDEX appointments_reason_unsealed ON appointments (id)
    WHERE substr(reason, 1, 7) <> 'hbenc1:';
CREATE INDEX appointments_cancel_reason_unsealed ON appointments (id)
    WHERE substr(cancel_reason, 1, 7) <> 'hbenc1:';
CREATE INDEX availability_exceptions_reason_unsealed ON availability_exceptions (id)
    WHERE substr(reason, 1, 7) <> 'hbenc1:';
CREATE INDEX visit_participants_display_name_unsealed
    ON visit_participants (visit_id, participant_id)
    WHERE substr(display_name, 1, 7) <> 'hbenc1:';
