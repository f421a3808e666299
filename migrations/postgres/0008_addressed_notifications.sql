-- Mail to an address that has no account yet (an organization's invite). Keep in
-- step with sqlite/0008_addressed_notifications.sql.
--
-- Such a row has no `recipient_id`; it names the address and the language to write
-- in instead. Every row names exactly one of the two.
ALTER TABLE notifications ALTER COLUMN recipient_id DROP NOT NULL;
ALTER TABLE notifications ADD COLUMN to_address TEXT;
ALTER TABLE notifications ADD COLUMN to_locale TEXT;
ALTER TABLE notifications ADD CONSTRAINT notifications_one_recipient
    CHECK ((recipient_id IS NULL) <> (to_address IS NULL));
