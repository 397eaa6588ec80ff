-- The example's schema, applied by server.js at start (idempotent).
-- The extension keeps the subscriptions; the application has its own
-- tables, and a trigger turns a new row into a notification.
CREATE EXTENSION IF NOT EXISTS webpush;

CREATE TABLE IF NOT EXISTS messages (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    title       text NOT NULL,
    body        text,
    url         text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE messages IS 'Messages to users; each insert notifies every browser the user subscribed';

-- Queued in the inserting transaction, delivered by the webpush worker after
-- COMMIT; a rolled-back insert sends nothing.
CREATE OR REPLACE FUNCTION notify_message() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webpush_send_user(NEW.user_id, webpush_notification(NEW.title, NEW.body, NEW.url));
    RETURN NEW;
END
$$;
DROP TRIGGER IF EXISTS messages_notify ON messages;
CREATE TRIGGER messages_notify AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION notify_message();
