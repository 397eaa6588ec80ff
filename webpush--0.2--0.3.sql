-- webpush--0.2--0.3.sql
--
-- 0.3 brings applications (several sites per database, each with its own
-- contact and keys), subscriptions bound to the key they were made with,
-- key rotation, export and retirement, and a warning before DROP EXTENSION
-- deletes them.  It tightens privileges: webpush_sender sends without
-- reading what others queued, a new role webpush_monitor watches without
-- payloads or keys, and an optional per-role limit caps how much one role
-- may have queued.

\echo Use "ALTER EXTENSION webpush UPDATE TO '0.3'" to load this file. \quit

-- Per-role limit (webpush.max_queued_per_role) -----------------------

-- The role that queued a notification, recorded only while a limit applies
-- to that role: the partial index then costs nothing to the roles without
-- one, and counting a limited role's rows stops at its limit.
ALTER TABLE webpush.queue ADD COLUMN queued_by oid;
COMMENT ON COLUMN webpush.queue.queued_by IS
    'the role that queued it, when webpush.max_queued_per_role applied to that role; NULL otherwise';
CREATE INDEX queue_queued_by_idx ON webpush.queue (queued_by) WHERE queued_by IS NOT NULL;

-- Workers --------------------------------------------------------------

-- The background workers and how often a COMMIT woke each: for monitoring,
-- and for telling whether something wakes them for nothing.
CREATE FUNCTION webpush_workers(OUT worker integer, OUT database text,
                                OUT pid integer, OUT wakeups bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_workers_list'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION webpush_workers() IS
    'The webpush background workers: their database, pid (NULL when not running) and latch wake-ups';
REVOKE ALL ON FUNCTION webpush_workers() FROM PUBLIC;

-- Privileges -----------------------------------------------------------

-- webpush_sender subscribes, unsubscribes (by endpoint, which only the
-- browser and the application know) and sends.  It sees which
-- subscriptions exist and whose they are, but not their endpoints or keys,
-- and not what anyone queued: payloads are often private to one user.
REVOKE SELECT ON webpush.subscriptions, webpush.queue, webpush.history
    FROM webpush_sender;
GRANT SELECT (id, user_id, expiration_time, created_at, updated_at)
    ON webpush.subscriptions TO webpush_sender;

-- webpush_monitor watches delivery: the status views, the workers, and the
-- queue and history without endpoints, keys or payloads.  Roles belong to
-- the cluster, so it outlives DROP EXTENSION.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = 'webpush_monitor') THEN
        CREATE ROLE webpush_monitor NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA webpush TO webpush_monitor;
GRANT SELECT ON webpush.status, webpush.status_by_host TO webpush_monitor;
GRANT SELECT (id, subscription_id, ttl, urgency, topic, state, attempts,
              next_attempt_at, last_status, last_error, created_at, expires_at)
    ON webpush.queue TO webpush_monitor;
GRANT SELECT (id, subscription_id, outcome, status, attempts, reason,
              created_at, finished_at)
    ON webpush.history TO webpush_monitor;
GRANT EXECUTE ON FUNCTION webpush_workers() TO webpush_monitor;

-- Applications ---------------------------------------------------------

-- A site (or tenant) that sends notifications: its contact for the push
-- services (the VAPID "sub" claim) and, in webpush.vapid_keys, its keys.
-- "default" is created on first use and takes its subject from
-- webpush.subject then; every function's application argument defaults to
-- it, so a single site never names one.
CREATE TABLE webpush.applications (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    subject     text CHECK (subject ~ '^(mailto:|https://).'),
    created_at  timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE webpush.applications IS
    'Sites sending notifications: a contact (VAPID sub) each, and their keys in webpush.vapid_keys';
COMMENT ON COLUMN webpush.applications.subject IS
    'mailto: or https: contact sent to push services; NULL only for "default" until webpush.subject is set';
REVOKE ALL ON webpush.applications FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('webpush.applications', '');

-- Keys -----------------------------------------------------------------

-- Any number of key pairs per application.  Browsers bind a subscription
-- to the key they subscribed with, so a key stays until nothing uses it:
-- the current key is the one new subscriptions get, older ones keep signing
-- for the subscriptions made with them.  A 0.2 key pair becomes the current
-- key of "default".
INSERT INTO webpush.applications (name, subject)
SELECT 'default', NULLIF(pg_catalog.current_setting('webpush.subject', true), '')
WHERE EXISTS (SELECT FROM webpush.vapid_keys);

ALTER TABLE webpush.vapid_keys DROP CONSTRAINT vapid_keys_pkey;
ALTER TABLE webpush.vapid_keys DROP COLUMN singleton;
ALTER TABLE webpush.vapid_keys ADD COLUMN id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY;
ALTER TABLE webpush.vapid_keys
    ADD COLUMN application text NOT NULL DEFAULT 'default'
        REFERENCES webpush.applications ON UPDATE CASCADE,
    ADD COLUMN current boolean NOT NULL DEFAULT true;
ALTER TABLE webpush.vapid_keys ALTER COLUMN application DROP DEFAULT,
                               ALTER COLUMN current SET DEFAULT false;
ALTER TABLE webpush.vapid_keys ADD UNIQUE (public_key), ADD UNIQUE (application, id);
CREATE UNIQUE INDEX vapid_keys_current_idx ON webpush.vapid_keys (application) WHERE current;
COMMENT ON TABLE webpush.vapid_keys IS
    'VAPID key pairs (raw P-256 scalar and uncompressed point), several per application. Readable by superusers only.';
COMMENT ON COLUMN webpush.vapid_keys.current IS
    'the key webpush_keys() hands out for new subscriptions; one per application';
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.vapid_keys', 'id'), '');

-- Each subscription belongs to an application and remembers the key the
-- browser subscribed with; every send signs with that key.
ALTER TABLE webpush.subscriptions ADD COLUMN application text, ADD COLUMN key_id bigint;
UPDATE webpush.subscriptions
   SET application = 'default',
       key_id = (SELECT id FROM webpush.vapid_keys WHERE application = 'default' AND current);
COMMENT ON COLUMN webpush.subscriptions.key_id IS
    'the webpush.vapid_keys row whose public key the browser subscribed with';

-- The queue names the key that signs each notification: the subscription's,
-- or the application's current key for a one-off.  No foreign key: a check
-- per queued row would cost every sender, and the worker fails a row whose
-- key was retired meanwhile, with that reason.
ALTER TABLE webpush.queue ADD COLUMN key_id bigint;
UPDATE webpush.queue q
   SET key_id = COALESCE((SELECT s.key_id FROM webpush.subscriptions s WHERE s.id = q.subscription_id),
                         (SELECT id FROM webpush.vapid_keys WHERE application = 'default' AND current));
COMMENT ON COLUMN webpush.queue.key_id IS 'the webpush.vapid_keys row that signs it';

-- webpush_keys() gains an application argument; a 0.2 database with
-- subscriptions or queued notifications but no key pair yet gets one now,
-- as its first send would have made it.
DROP FUNCTION webpush_keys();
CREATE FUNCTION webpush_keys(application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys'
    LANGUAGE C VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys(text) IS
    'The application''s current VAPID public key (base64url), for applicationServerKey; "default" and its key pair are made on first call';
GRANT EXECUTE ON FUNCTION webpush_keys(text) TO PUBLIC;

SELECT webpush_keys('default')
WHERE (EXISTS (SELECT FROM webpush.subscriptions) OR EXISTS (SELECT FROM webpush.queue))
  AND NOT EXISTS (SELECT FROM webpush.vapid_keys);
UPDATE webpush.subscriptions
   SET key_id = (SELECT id FROM webpush.vapid_keys WHERE application = 'default' AND current),
       application = 'default'
 WHERE key_id IS NULL;
UPDATE webpush.queue
   SET key_id = (SELECT id FROM webpush.vapid_keys WHERE application = 'default' AND current)
 WHERE key_id IS NULL;

ALTER TABLE webpush.subscriptions
    ALTER COLUMN application SET NOT NULL,
    ALTER COLUMN key_id SET NOT NULL,
    ADD FOREIGN KEY (application, key_id) REFERENCES webpush.vapid_keys (application, id)
        ON UPDATE CASCADE;
DROP INDEX webpush.subscriptions_user_id_idx;
CREATE INDEX subscriptions_user_id_idx ON webpush.subscriptions (application, user_id);
CREATE INDEX subscriptions_key_id_idx ON webpush.subscriptions (key_id);
ALTER TABLE webpush.queue ALTER COLUMN key_id SET NOT NULL;

-- Each key, public half only, with how many subscriptions still use it: a
-- key with none left can be retired.
CREATE VIEW webpush.keys AS
SELECT k.application,
       pg_catalog.translate(pg_catalog.encode(k.public_key, 'base64'), E'+/=\n', '-_') AS public_key,
       k.current,
       k.created_at,
       (SELECT pg_catalog.count(*) FROM webpush.subscriptions s WHERE s.key_id = k.id) AS subscriptions
FROM webpush.vapid_keys k;
COMMENT ON VIEW webpush.keys IS
    'VAPID public keys per application, the current one marked, with the subscriptions bound to each';
REVOKE ALL ON webpush.keys FROM PUBLIC;

CREATE FUNCTION webpush_application(name text, subject text) RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_application'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application(text, text) IS
    'Creates an application, or changes its subject; returns its current VAPID public key';
REVOKE ALL ON FUNCTION webpush_application(text, text) FROM PUBLIC;

DROP FUNCTION webpush_keys_import(text);
CREATE FUNCTION webpush_keys_import(private_key text, application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys_import'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_import(text, text) IS
    'Makes an existing private key (base64url raw scalar or PEM) the application''s current key; older keys keep their subscriptions. Returns the public key';
REVOKE ALL ON FUNCTION webpush_keys_import(text, text) FROM PUBLIC;

CREATE FUNCTION webpush_keys_rotate(application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys_rotate'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_rotate(text) IS
    'Makes a new current key for new subscriptions; older keys keep signing for theirs. Returns the new public key';
REVOKE ALL ON FUNCTION webpush_keys_rotate(text) FROM PUBLIC;

CREATE FUNCTION webpush_keys_retire(public_key text, drop_subscriptions boolean DEFAULT false) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_keys_retire'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_retire(text, boolean) IS
    'Deletes a key that is not current; refuses while subscriptions use it unless drop_subscriptions. Returns the subscriptions deleted';
REVOKE ALL ON FUNCTION webpush_keys_retire(text, boolean) FROM PUBLIC;

-- Not SECURITY DEFINER, and it checks for a superuser itself: granting
-- EXECUTE on it to someone else gives them nothing.
CREATE FUNCTION webpush_keys_export(application text DEFAULT 'default',
                                    OUT public_key text, OUT private_key text,
                                    OUT current boolean, OUT created_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_keys_export'
    LANGUAGE C VOLATILE STRICT;
COMMENT ON FUNCTION webpush_keys_export(text) IS
    'The application''s key pairs for a backup (private key base64url, as webpush_keys_import and web-push take it), oldest first. Superusers only';
REVOKE ALL ON FUNCTION webpush_keys_export(text) FROM PUBLIC;

-- Subscribing and sending name the application ------------------------

DROP FUNCTION webpush_subscribe(jsonb, text);
CREATE FUNCTION webpush_subscribe(subscription jsonb, user_id text DEFAULT NULL,
                                  application text DEFAULT NULL,
                                  server_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_subscribe'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_subscribe(jsonb, text, text, text) IS
    'Stores a browser PushSubscription.toJSON(), bound to server_key (the applicationServerKey it was made with; default: the application''s current key). Idempotent by endpoint; returns the subscription id';
REVOKE ALL ON FUNCTION webpush_subscribe(jsonb, text, text, text) FROM PUBLIC;

DROP FUNCTION webpush_send(jsonb, text, integer, text, text);
CREATE FUNCTION webpush_send(subscription jsonb, payload text,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             application text DEFAULT 'default') RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_json_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(jsonb, text, integer, text, text, text) IS
    'Queues a notification for a subscription object that need not be stored, signed with the application''s current key';
REVOKE ALL ON FUNCTION webpush_send(jsonb, text, integer, text, text, text) FROM PUBLIC;

DROP FUNCTION webpush_send_now(jsonb, text, integer, text, text);
CREATE FUNCTION webpush_send_now(subscription jsonb, payload text,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 application text DEFAULT 'default',
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_json'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) IS
    'Delivers one notification to a subscription object that need not be stored';
REVOKE ALL ON FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) FROM PUBLIC;

DROP FUNCTION webpush_send_user(text, text, integer, text, text);
DROP FUNCTION webpush_send_user(text, jsonb, integer, text, text);
CREATE FUNCTION webpush_send_user(user_id text, payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default') RETURNS integer
    AS 'MODULE_PATHNAME', 'webpush_send_user_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_user(text, text, integer, text, text, text) IS
    'Queues a notification for every subscription of a user of the application; returns how many';
REVOKE ALL ON FUNCTION webpush_send_user(text, text, integer, text, text, text) FROM PUBLIC;

CREATE FUNCTION webpush_send_user(user_id text, payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default') RETURNS integer
    AS 'MODULE_PATHNAME', 'webpush_send_user_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text) IS
    'Queues a JSON notification for every subscription of a user of the application; returns how many';
REVOKE ALL ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text) FROM PUBLIC;

-- DROP EXTENSION ------------------------------------------------------

-- Dropping the extension deletes the keys and every subscription with it;
-- this says so, with the numbers and how to export the keys, before it
-- happens.
CREATE FUNCTION webpush_drop_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'webpush_drop_guard'
    LANGUAGE C;
REVOKE ALL ON FUNCTION webpush_drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER webpush_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION webpush_drop_guard();

-- Privileges for applications and keys ---------------------------------

-- webpush_sender uses applications (subscribes and sends for any of them)
-- and sees their public keys, never a private one; creating applications,
-- rotating, importing, retiring and exporting keys stay with superusers.
GRANT SELECT (name, subject, created_at) ON webpush.applications TO webpush_sender, webpush_monitor;
GRANT SELECT ON webpush.keys TO webpush_sender, webpush_monitor;
GRANT SELECT (application) ON webpush.subscriptions TO webpush_sender;
GRANT EXECUTE ON FUNCTION
    webpush_subscribe(jsonb, text, text, text),
    webpush_send(jsonb, text, integer, text, text, text),
    webpush_send_now(jsonb, text, integer, text, text, text),
    webpush_send_user(text, text, integer, text, text, text),
    webpush_send_user(text, jsonb, integer, text, text, text)
TO webpush_sender;

-- Triggers without PL/pgSQL --------------------------------------------

-- webpush_notify('user_column', 'title', 'body', 'url', 'application'):
-- {column} in title, body and url takes the row's value.  A row without a
-- user sends nothing, and a body too long to send is shortened, so the
-- trigger never fails the transaction it is in for the row's data.
CREATE FUNCTION webpush_notify() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webpush_notify'
    LANGUAGE C SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_notify() IS
    'Trigger: notifies the user named by a column of the row: webpush_notify(''user_id'', ''Title {col}'' [, ''body {col}'' [, ''/url/{id}'' [, ''application'']]])';
REVOKE ALL ON FUNCTION webpush_notify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_notify() TO webpush_sender;
