-- The example's schema.  Applied once by the database's owner or a
-- superuser (run.sh does it for its throwaway cluster); the server then
-- logs in as webpush_example, which may subscribe and send (webpush_sender)
-- and use its own table, and nothing else.  Safe to run again.
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
-- COMMIT; a rolled-back insert sends nothing.  {column} is the row's value.
-- An https url makes a Declarative Web Push message (Safari shows it
-- without the service worker); a path, the kit's own convention.  The
-- options after the application ('' for "default") add two buttons, a tag
-- and the app badge; in actions, {column} is escaped into the JSON.
DROP TRIGGER IF EXISTS messages_notify ON messages;
CREATE TRIGGER messages_notify AFTER INSERT ON messages
    FOR EACH ROW EXECUTE FUNCTION webpush_notify('user_id', '{title}', '{body}', '{url}', '',
        'tag=message-{id}', 'badge=/badge.png', 'app_badge=1',
        'actions=[{"action": "open", "title": "Open", "navigate": "{url}"}, {"action": "later", "title": "Later", "navigate": "/?later={id}"}]');

-- The server's role.  Give it a password (ALTER ROLE ... PASSWORD) when it
-- connects over the network.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'webpush_example') THEN
        CREATE ROLE webpush_example LOGIN;
    END IF;
END
$$;
GRANT webpush_sender TO webpush_example;
GRANT SELECT, INSERT ON messages TO webpush_example;
GRANT USAGE ON SEQUENCE messages_id_seq TO webpush_example;
