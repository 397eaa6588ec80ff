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
                                  server_key text DEFAULT NULL,
                                  old_endpoint text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_subscribe'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_subscribe(jsonb, text, text, text, text) IS
    'Stores a browser PushSubscription.toJSON(), bound to server_key (the applicationServerKey it was made with; default: the application''s current key); old_endpoint: the subscription it replaces keeps its id and what waits for it. Idempotent by endpoint; returns the subscription id';
REVOKE ALL ON FUNCTION webpush_subscribe(jsonb, text, text, text, text) FROM PUBLIC;

CREATE FUNCTION webpush_unsubscribe_user(user_id text, application text DEFAULT 'default')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_unsubscribe_user'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_unsubscribe_user(text, text) IS
    'Removes every subscription of a user in an application (signing out everywhere, deleting an account); returns how many. Their waiting deliveries fail when claimed';
REVOKE ALL ON FUNCTION webpush_unsubscribe_user(text, text) FROM PUBLIC;

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

-- The payload as jsonb, as webpush_notification() returns it.
CREATE FUNCTION webpush_send_now(subscription_id bigint, payload jsonb,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_id_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) IS
    'Delivers one notification whose payload is JSON to a stored subscription now, from this backend';
REVOKE ALL ON FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) FROM PUBLIC;
CREATE FUNCTION webpush_send_now(subscription jsonb, payload jsonb,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 application text DEFAULT 'default',
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_json_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) IS
    'Delivers one notification whose payload is JSON to a subscription object that need not be stored';
REVOKE ALL ON FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) FROM PUBLIC;

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
    webpush_subscribe(jsonb, text, text, text, text),
    webpush_send_now(jsonb, text, integer, text, text, text),
    webpush_send_now(bigint, jsonb, integer, text, text),
    webpush_send_now(jsonb, jsonb, integer, text, text, text),
    webpush_unsubscribe_user(text, text)
TO webpush_sender;

-- Triggers without PL/pgSQL --------------------------------------------

-- webpush_notify('user_column', 'title', 'body', 'url', 'application'):
-- {column} in title, body and url takes the row's value.  A row without a
-- user sends nothing, and a body too long to send is shortened, so the
-- trigger never fails the transaction it is in for the row's data.
-- Not SECURITY DEFINER, so that a firing pays for no search_path change:
-- it stores its rows by OID without privilege checks, and runs any
-- statement it needs as its owner with search_path pinned, as SECURITY
-- DEFINER ... SET search_path would.  EXECUTE is what guards it.
CREATE FUNCTION webpush_notify() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webpush_notify'
    LANGUAGE C;
COMMENT ON FUNCTION webpush_notify() IS
    'Trigger: notifies the user named by a column of the row: webpush_notify(''user_id'', ''Title {col}'' [, ''body {col}'' [, ''/url/{id}'' [, ''application'']]])';
REVOKE ALL ON FUNCTION webpush_notify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_notify() TO webpush_sender;

-- Messages and deliveries ----------------------------------------------

-- A message is stored once, however many recipients it has: what to send,
-- to which application's users, and when.  A one-off send to a subscription
-- object that is not stored keeps that object here (its single delivery
-- names subscription 0).
-- The column rules are domains: PostgreSQL keeps a domain's checks
-- prepared for the session, where a table's CHECK constraints are read
-- again for every statement, and a trigger queues with one statement per
-- row it fires for.
CREATE DOMAIN webpush.push_payload AS bytea CHECK (length(VALUE) <= 3993);
CREATE DOMAIN webpush.push_ttl AS integer CHECK (VALUE >= 0);
CREATE DOMAIN webpush.push_urgency AS text CHECK (VALUE IN ('very-low', 'low', 'normal', 'high'));
CREATE DOMAIN webpush.push_topic AS text CHECK (VALUE ~ '^[A-Za-z0-9_-]{1,32}$');
CREATE DOMAIN webpush.push_endpoint AS text CHECK (VALUE LIKE 'https://%' AND octet_length(VALUE) <= 2048);
CREATE DOMAIN webpush.p256_point AS bytea CHECK (length(VALUE) = 65);
CREATE DOMAIN webpush.auth_secret AS bytea CHECK (length(VALUE) = 16);

CREATE TABLE webpush.messages (
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    application text NOT NULL,
    payload     webpush.push_payload,           -- NULL: push without payload
    ttl         webpush.push_ttl NOT NULL,
    urgency     webpush.push_urgency NOT NULL,
    topic       webpush.push_topic,
    send_at     timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    dedupe_key  text,
    recipients  integer NOT NULL,
    pending     boolean NOT NULL DEFAULT true,
    queued_by   oid,
    endpoint    webpush.push_endpoint,
    p256dh      webpush.p256_point,
    auth        webpush.auth_secret,
    key_id      bigint,
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at >= send_at AND recipients >= 0
           AND (endpoint IS NULL) = (p256dh IS NULL) AND (endpoint IS NULL) = (auth IS NULL)
           AND (endpoint IS NULL) = (key_id IS NULL))
);
COMMENT ON TABLE webpush.messages IS
    'Notifications, stored once each; webpush.deliveries holds one row per recipient still to send';
COMMENT ON COLUMN webpush.messages.send_at IS 'not sent before this (scheduled sends)';
COMMENT ON COLUMN webpush.messages.expires_at IS
    'send_at + ttl: after this the push service would drop it anyway, so it is not sent';
COMMENT ON COLUMN webpush.messages.dedupe_key IS
    'a second send with the same key in the same application, while this message is kept, queues nothing';
COMMENT ON COLUMN webpush.messages.pending IS
    'some deliveries were never attempted: the worker looks here for due messages';
COMMENT ON COLUMN webpush.messages.queued_by IS
    'the role that queued it, when webpush.max_queued_per_role applied to that role; NULL otherwise';
COMMENT ON COLUMN webpush.messages.endpoint IS
    'a one-off send''s subscription object (with p256dh, auth and the signing key_id); NULL otherwise';
CREATE UNIQUE INDEX messages_dedupe_idx ON webpush.messages (application, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
CREATE INDEX messages_pending_idx ON webpush.messages (send_at) WHERE pending;
CREATE INDEX messages_queued_by_idx ON webpush.messages (queued_by) WHERE queued_by IS NOT NULL;
REVOKE ALL ON webpush.messages FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('webpush.messages', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.messages', 'id'), '');

-- One recipient of a message, until it is delivered, fails or expires (then
-- it moves to webpush.history).  Small on purpose: a broadcast to a million
-- costs a million of these.  The endpoint, keys and signing key are read
-- from the subscription when the worker claims it, so a browser that
-- subscribes again gets what was queued for it with its new keys.
--
-- It has no primary key, on purpose: a broadcast's deliveries all share
-- one message_id, which the deduplicating index below stores about once
-- per page, and the worker finds the rows it claimed by their ctid.  A
-- message has at most one delivery per subscription: every statement that
-- adds deliveries takes distinct subscriptions from webpush.subscriptions.
CREATE TABLE webpush.deliveries (
    message_id      bigint NOT NULL,
    subscription_id bigint NOT NULL,    -- 0: the message's own endpoint
    claimed_by      integer,            -- pid of the worker sending it
    attempts        smallint,           -- NULL: never attempted
    next_attempt_at timestamptz,        -- a retry's time; NULL otherwise
    last_status     smallint,
    last_error      text,
    CHECK (claimed_by IS NULL OR next_attempt_at IS NULL)
);
COMMENT ON TABLE webpush.deliveries IS
    'One row per recipient still to send: waiting (claimed_by NULL) or being sent by the worker whose pid is claimed_by';
COMMENT ON COLUMN webpush.deliveries.next_attempt_at IS
    'when a retry (or a notification handed back unsent) is due; NULL for a first attempt, due at the message''s send_at';
CREATE INDEX deliveries_message_id_idx ON webpush.deliveries (message_id);
CREATE INDEX deliveries_retry_idx ON webpush.deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
REVOKE ALL ON webpush.deliveries FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('webpush.deliveries', '');

-- A row trigger's notifications on their way in.  webpush_notify() stores
-- one row here, with no index to update and no subscription to look up, so
-- that the INSERT it fires for pays little; after COMMIT the worker turns
-- each row into a message (with the same id) and a delivery per
-- subscription the user has then.  A user with none gets no message.  The
-- worker takes rows by ctid, so the table needs no key.
CREATE TABLE webpush.intake (
    id          bigint NOT NULL,        -- the message's id to be
    application text NOT NULL,
    user_id     text NOT NULL,
    payload     webpush.push_payload,
    ttl         webpush.push_ttl NOT NULL,
    urgency     webpush.push_urgency NOT NULL,
    queued_at   timestamptz NOT NULL    -- the TTL counts from here
);
COMMENT ON TABLE webpush.intake IS
    'Notifications from webpush_notify() that the worker has not yet made into messages and deliveries';
REVOKE ALL ON webpush.intake FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('webpush.intake', '');

-- What 0.2 queued becomes one message and one delivery each, with the same
-- id, so that its history rows name their message.  Rows a worker was
-- sending are due again at once.
INSERT INTO webpush.messages (id, application, payload, ttl, urgency, topic, send_at,
                              expires_at, recipients, pending, queued_by,
                              endpoint, p256dh, auth, key_id, created_at)
SELECT q.id, k.application, q.payload, q.ttl, q.urgency, q.topic, q.created_at,
       GREATEST(q.expires_at, q.created_at), 1, q.attempts = 0 AND q.state = 'queued', q.queued_by,
       CASE WHEN q.subscription_id IS NULL THEN q.endpoint END,
       CASE WHEN q.subscription_id IS NULL THEN q.p256dh END,
       CASE WHEN q.subscription_id IS NULL THEN q.auth END,
       CASE WHEN q.subscription_id IS NULL THEN q.key_id END,
       q.created_at
FROM webpush.queue q JOIN webpush.vapid_keys k ON k.id = q.key_id;
INSERT INTO webpush.deliveries (message_id, subscription_id, attempts, next_attempt_at,
                                last_status, last_error)
SELECT q.id, COALESCE(q.subscription_id, 0),
       CASE WHEN q.attempts = 0 AND q.state = 'queued' THEN NULL ELSE q.attempts END,
       CASE WHEN q.attempts = 0 AND q.state = 'queued' THEN NULL
            WHEN q.state = 'sending' THEN now() ELSE q.next_attempt_at END,
       q.last_status, q.last_error
FROM webpush.queue q JOIN webpush.vapid_keys k ON k.id = q.key_id;
SELECT pg_catalog.setval(pg_catalog.pg_get_serial_sequence('webpush.messages', 'id'),
                         COALESCE(last_id, 1), last_id IS NOT NULL)
FROM (SELECT GREATEST((SELECT max(id) FROM webpush.queue),
                      (SELECT max(id) FROM webpush.history)) AS last_id) AS l;

-- History rows name their message (the 0.2 queue id for older rows) and
-- may record a cancellation.
ALTER TABLE webpush.history DROP CONSTRAINT history_pkey;
ALTER TABLE webpush.history RENAME COLUMN id TO message_id;
ALTER TABLE webpush.history DROP CONSTRAINT history_outcome_check;
ALTER TABLE webpush.history ADD CHECK (outcome IN ('delivered', 'failed', 'expired', 'cancelled'));
COMMENT ON TABLE webpush.history IS
    'Outcome of every delivery that left webpush.deliveries (delivered, failed, expired, cancelled), and of webpush_send_now';
COMMENT ON COLUMN webpush.history.subscription_id IS 'the recipient; 0 for a one-off send';
CREATE INDEX history_message_id_idx ON webpush.history (message_id);

DROP VIEW webpush.status_by_host;
DROP VIEW webpush.status;
-- Out of the extension first: that also takes it (and its sequence) off
-- the list of tables pg_dump saves.
ALTER EXTENSION webpush DROP SEQUENCE webpush.queue_id_seq;
ALTER EXTENSION webpush DROP TABLE webpush.queue;
DROP TABLE webpush.queue;

CREATE VIEW webpush.status AS
SELECT
    (SELECT count(*) FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id
      WHERE d.claimed_by IS NULL AND d.attempts IS NULL AND m.send_at <= now())
      + (SELECT count(*) FROM webpush.intake) AS queued,
    (SELECT count(*) FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id
      WHERE d.claimed_by IS NULL AND d.attempts IS NULL AND m.send_at > now()) AS scheduled,
    (SELECT count(*) FROM webpush.deliveries WHERE claimed_by IS NULL AND attempts IS NOT NULL) AS retrying,
    (SELECT count(*) FROM webpush.deliveries WHERE claimed_by IS NOT NULL) AS sending,
    (SELECT count(*) FROM webpush.history WHERE outcome = 'delivered') AS delivered,
    (SELECT count(*) FROM webpush.history WHERE outcome = 'failed') AS failed,
    (SELECT count(*) FROM webpush.history WHERE outcome = 'expired') AS expired,
    (SELECT count(*) FROM webpush.history WHERE outcome = 'cancelled') AS cancelled,
    (SELECT pg_catalog.round(pg_catalog.count(*)::numeric OPERATOR(pg_catalog./) 60.0, 1) FROM webpush.history
      WHERE outcome = 'delivered' AND finished_at > now() - interval '1 minute') AS delivered_per_second,
    (SELECT min(m.created_at) FROM webpush.messages m
      WHERE EXISTS (SELECT FROM webpush.deliveries d WHERE d.message_id = m.id)) AS oldest_queued_at;
COMMENT ON VIEW webpush.status IS
    'Deliveries and history at a glance (queued counts each webpush_notify() row not yet taken in as one); delivered_per_second is the average over the last minute';

CREATE VIEW webpush.status_by_host AS
WITH items AS (
    SELECT substring(COALESCE(s.endpoint, m.endpoint) from '^https://([^/:?#]+)') AS host,
           CASE WHEN d.claimed_by IS NOT NULL THEN 'sending'
                WHEN d.attempts IS NOT NULL THEN 'retrying' ELSE 'queued' END AS what,
           d.last_error AS reason, d.next_attempt_at AS at
    FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id
    LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id
    UNION ALL
    SELECT substring(endpoint from '^https://([^/:?#]+)'), outcome, reason, finished_at
    FROM webpush.history
)
SELECT host,
       count(*) FILTER (WHERE what = 'queued') AS queued,
       count(*) FILTER (WHERE what = 'retrying') AS retrying,
       count(*) FILTER (WHERE what = 'sending') AS sending,
       count(*) FILTER (WHERE what = 'delivered') AS delivered,
       count(*) FILTER (WHERE what = 'failed') AS failed,
       count(*) FILTER (WHERE what = 'expired') AS expired,
       (array_agg(reason ORDER BY at DESC) FILTER (WHERE what IN ('failed', 'retrying', 'expired')))[1] AS last_problem,
       max(at) FILTER (WHERE what IN ('failed', 'retrying', 'expired')) AS last_problem_at
FROM items
GROUP BY host;
COMMENT ON VIEW webpush.status_by_host IS
    'Delivery and history counts per push service host, with the latest problem and its time; host NULL: subscriptions removed before their deliveries were sent';

-- Per message: who it is for, what became of each recipient, and when.
CREATE VIEW webpush.message_status AS
SELECT m.id, m.application, m.created_at, m.send_at, m.expires_at, m.dedupe_key, m.recipients,
       COALESCE(d.queued, 0) AS queued, COALESCE(d.sending, 0) AS sending,
       COALESCE(h.delivered, 0) AS delivered, COALESCE(h.failed, 0) AS failed,
       COALESCE(h.expired, 0) AS expired, COALESCE(h.cancelled, 0) AS cancelled,
       h.first_delivered_at, h.last_delivered_at
FROM webpush.messages m
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE claimed_by IS NULL) AS queued,
           count(*) FILTER (WHERE claimed_by IS NOT NULL) AS sending
    FROM webpush.deliveries WHERE message_id = m.id) d ON true
LEFT JOIN LATERAL (
    SELECT count(*) FILTER (WHERE outcome = 'delivered') AS delivered,
           count(*) FILTER (WHERE outcome = 'failed') AS failed,
           count(*) FILTER (WHERE outcome = 'expired') AS expired,
           count(*) FILTER (WHERE outcome = 'cancelled') AS cancelled,
           min(finished_at) FILTER (WHERE outcome = 'delivered') AS first_delivered_at,
           max(finished_at) FILTER (WHERE outcome = 'delivered') AS last_delivered_at
    FROM webpush.history WHERE message_id = m.id) h ON true;
COMMENT ON VIEW webpush.message_status IS
    'Per message: recipients, queued (or scheduled, or retrying), sending, delivered, failed, expired, cancelled, first and last delivery';
REVOKE ALL ON webpush.status, webpush.status_by_host, webpush.message_status FROM PUBLIC;

-- Sending: every send function takes send_at and dedupe_key, and tells
-- the message's id.
DROP FUNCTION webpush_send(bigint, text, integer, text, text);
DROP FUNCTION webpush_send(bigint, jsonb, integer, text, text);
DROP FUNCTION webpush_send(bigint, bytea, integer, text, text);
DROP FUNCTION webpush_send(jsonb, text, integer, text, text);
DROP FUNCTION webpush_send_user(text, text, integer, text, text);
DROP FUNCTION webpush_send_user(text, jsonb, integer, text, text);
DROP FUNCTION webpush_send_many(bigint[], text, integer, text, text);
DROP FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text);

CREATE FUNCTION webpush_send(subscription_id bigint, payload text,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION webpush_send(subscription_id bigint, payload jsonb,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION webpush_send(subscription_id bigint, payload bytea,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_bytea'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION webpush_send(subscription jsonb, payload text,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             application text DEFAULT 'default',
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_json_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(bigint, text, integer, text, text, timestamptz, text) IS
    'Queues a notification for a stored subscription, sent after COMMIT (or at send_at); returns the message id';
COMMENT ON FUNCTION webpush_send(bigint, jsonb, integer, text, text, timestamptz, text) IS
    'Queues a notification whose payload is JSON text; returns the message id';
COMMENT ON FUNCTION webpush_send(bigint, bytea, integer, text, text, timestamptz, text) IS
    'Queues a notification with a binary payload; returns the message id';
COMMENT ON FUNCTION webpush_send(jsonb, text, integer, text, text, text, timestamptz, text) IS
    'Queues a notification for a subscription object that need not be stored, signed with the application''s current key; returns the message id';

CREATE FUNCTION webpush_send_user(user_id text, payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients integer)
    AS 'MODULE_PATHNAME', 'webpush_send_user_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION webpush_send_user(user_id text, payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients integer)
    AS 'MODULE_PATHNAME', 'webpush_send_user_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text) IS
    'Queues one message for every subscription of a user of the application; its id (NULL when the user has none) and how many recipients';
COMMENT ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text) IS
    'Queues one JSON message for every subscription of a user of the application; its id and how many recipients';

CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients bigint)
    AS 'MODULE_PATHNAME', 'webpush_send_many_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients bigint)
    AS 'MODULE_PATHNAME', 'webpush_send_many_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text) IS
    'One message to each listed subscription of the application, stored once; ids that do not exist (or are another application''s) are skipped. Its id and how many recipients';
COMMENT ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text) IS
    'One JSON message to each listed subscription of the application, stored once; its id and how many recipients';

CREATE FUNCTION webpush_cancel(message_id bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_cancel'
    LANGUAGE C VOLATILE STRICT SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_cancel(bigint) IS
    'Cancels the deliveries of a message that are not in flight (recorded as cancelled); returns how many';

REVOKE ALL ON FUNCTION
    webpush_send(bigint, text, integer, text, text, timestamptz, text),
    webpush_send(bigint, jsonb, integer, text, text, timestamptz, text),
    webpush_send(bigint, bytea, integer, text, text, timestamptz, text),
    webpush_send(jsonb, text, integer, text, text, text, timestamptz, text),
    webpush_send_user(text, text, integer, text, text, text, timestamptz, text),
    webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text),
    webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text),
    webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text),
    webpush_cancel(bigint)
FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
    webpush_send(bigint, text, integer, text, text, timestamptz, text),
    webpush_send(bigint, jsonb, integer, text, text, timestamptz, text),
    webpush_send(bigint, bytea, integer, text, text, timestamptz, text),
    webpush_send(jsonb, text, integer, text, text, text, timestamptz, text),
    webpush_send_user(text, text, integer, text, text, text, timestamptz, text),
    webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text),
    webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text),
    webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text),
    webpush_cancel(bigint)
TO webpush_sender;

-- Who watches what, on the new tables: webpush_sender sees the status of
-- messages (no payloads), webpush_monitor the same plus deliveries and
-- messages without endpoints, keys or payloads.
GRANT SELECT ON webpush.status, webpush.status_by_host, webpush.message_status
    TO webpush_sender, webpush_monitor;
GRANT SELECT (message_id, subscription_id, claimed_by, attempts, next_attempt_at,
              last_status, last_error)
    ON webpush.deliveries TO webpush_monitor;
GRANT SELECT (id, application, ttl, urgency, topic, send_at, expires_at, dedupe_key,
              recipients, pending, created_at)
    ON webpush.messages TO webpush_monitor;
GRANT SELECT (message_id, subscription_id, outcome, status, attempts, reason,
              created_at, finished_at)
    ON webpush.history TO webpush_monitor;
GRANT SELECT (id, application, ttl, urgency, queued_at) ON webpush.intake TO webpush_monitor;
