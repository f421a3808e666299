-- Indexes for the live monitor's figures (hub/src/monitor/queries.rs), read every two
-- seconds while an admin watches and at every /metrics scrape. Keep in step with
-- postgres/0010_monitor_indexes.sql.

-- Messages per minute: room events of the last minute.
CREATE INDEX room_events_created ON room_events(created_at);
-- Notifications per minute: notices handed over in the last minute.
CREATE INDEX notifications_sent ON notifications(sent_at);
-- Visits by state within the day's window, for everything and per organization.
CREATE INDEX visits_state ON visits(state, scheduled_at);
CREATE INDEX visits_org_state ON visits(org_id, state, scheduled_at);
