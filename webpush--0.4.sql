-- webpush--0.4.sql
--
-- Web Push from PostgreSQL, version 0.4: the whole schema in one file.
--
-- CREATE EXTENSION webpush runs this script alone.  A database on an older
-- version reaches the same objects with ALTER EXTENSION webpush UPDATE,
-- through webpush--0.1.sql and the update scripts; the regression test
-- sql/schema.sql compares the catalog of both ways, object by object, so
-- that every 0.4 database looks the same however it was installed.
--
-- Where things are:
--   - the schema "webpush" holds the tables, the views, the domains of
--     their columns and webpush.may_use();
--   - the functions an application calls are created in the schema CREATE
--     EXTENSION installs into (public by default), so SELECT webpush_keys()
--     needs no qualification.
--
-- The sections below: the schema and its roles; the column rules
-- (domains); applications and who may use them; VAPID keys; subscriptions;
-- messages, deliveries, the trigger intake and the history; the views;
-- then the functions, by what they do; last, the DROP EXTENSION warning.
--
-- Privileges: nothing is granted to PUBLIC except webpush_keys(), which
-- only returns a public key browsers need, and webpush_notification(),
-- which only builds a payload.  Private keys are readable by superusers
-- only.  Functions that read a private key or write the tables run as
-- the extension's owner for the role that called them (which they check
-- against the applications it may use), with a pinned search_path: what
-- SECURITY DEFINER gives, with the caller still known.  Every object's privileges
-- are revoked from PUBLIC and granted where it is created: to the role
-- webpush_sender, which sends, or webpush_monitor, which watches delivery
-- without endpoints, keys or payloads; what neither is granted stays with
-- superusers.
--
-- Binding: every operator and function that a view, a default, a
-- constraint or a policy binds is schema-qualified (pg_catalog's, or the
-- extension's own).  They are bound when this script runs, under whatever
-- search_path CREATE EXTENSION runs it with, and they run for every role
-- that reads a view or writes a row.
--
-- Names and order: constraints carry the names PostgreSQL generates for
-- them, and the columns of each table are in the order every 0.4 database
-- has them, so that constraint names, SELECT * and COPY read the same in
-- a database installed at 0.4 and in one updated to it.

\echo Use "CREATE EXTENSION webpush" to load this file. \quit

-- The schema ----------------------------------------------------------

CREATE SCHEMA webpush;
COMMENT ON SCHEMA webpush IS 'Storage of the webpush extension: VAPID key pair and browser subscriptions';
REVOKE ALL ON SCHEMA webpush FROM PUBLIC;

-- Roles -----------------------------------------------------------------

-- Two roles to grant to the application's roles.  Roles belong to the
-- cluster: they may exist already (another database has the extension),
-- and they outlive DROP EXTENSION.
--
-- webpush_sender: the application's sending role.  It subscribes,
-- unsubscribes (by endpoint, which only the browser and the application
-- know) and sends, cancels and watches its messages, in the applications
-- it was granted (webpush.application_roles; "default" is granted to it
-- when it is made).  It sees which subscriptions exist and whose they are,
-- but not their endpoints or keys, and not what anyone queued: payloads are
-- often private to one user.  It never reads a private key (only
-- superusers read webpush.vapid_keys), and cannot change webpush.ca_file
-- or webpush.allow_private_endpoints.
--
-- webpush_monitor: watches delivery: the status views, the workers, the
-- applications, and the messages, deliveries, intake and history without
-- endpoints, keys or payloads.
--
-- A role of either name that exists already is used only when it cannot
-- log in and no role but a superuser administers it: a role with
-- CREATEROLE could otherwise make them first and keep a hand on what they
-- are granted.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['webpush_sender', 'webpush_monitor'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r) THEN
            EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
        ELSIF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r AND rolcanlogin)
           OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                      JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.member
                      JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
                      WHERE g.rolname OPERATOR(pg_catalog.=) r AND m.admin_option AND NOT a.rolsuper) THEN
            RAISE EXCEPTION 'role "%" exists, and can log in or is administered by a role that is not a superuser', r
                USING ERRCODE = 'insufficient_privilege',
                      HINT = pg_catalog.format('A superuser checks who made it, then drops it (DROP ROLE %I) or runs ALTER ROLE %I NOLOGIN and revokes the ADMIN OPTION on it (REVOKE ADMIN OPTION FOR %I FROM ... CASCADE); CREATE EXTENSION makes it again.', r, r, r);
        END IF;
    END LOOP;
END
$$;
GRANT USAGE ON SCHEMA webpush TO webpush_sender, webpush_monitor;

-- Column rules ----------------------------------------------------------

-- What a push message may carry, as the push services take it.  The rules
-- are domains: PostgreSQL keeps a domain's checks prepared for the
-- session, where a table's CHECK constraints are read again for every
-- statement, and a trigger queues with one statement per row it fires for.
CREATE DOMAIN webpush.push_payload AS bytea     -- the encrypted record must fit in 4096 bytes
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.<=) 3993);
CREATE DOMAIN webpush.push_ttl AS integer       -- seconds the push service keeps it
    CHECK (VALUE OPERATOR(pg_catalog.>=) 0);
CREATE DOMAIN webpush.push_urgency AS text      -- RFC 8030's Urgency header
    CHECK (VALUE OPERATOR(pg_catalog.=) ANY (ARRAY['very-low', 'low', 'normal', 'high']));
CREATE DOMAIN webpush.push_topic AS text        -- RFC 8030's Topic header
    CHECK (VALUE OPERATOR(pg_catalog.~) '^[A-Za-z0-9_-]{1,32}$');
CREATE DOMAIN webpush.push_endpoint AS text
    CHECK (VALUE OPERATOR(pg_catalog.~~) 'https://%'
           AND pg_catalog.octet_length(VALUE) OPERATOR(pg_catalog.<=) 2048);
CREATE DOMAIN webpush.p256_point AS bytea       -- an uncompressed P-256 public key
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.=) 65);
CREATE DOMAIN webpush.auth_secret AS bytea      -- a subscription's authentication secret
    CHECK (pg_catalog.length(VALUE) OPERATOR(pg_catalog.=) 16);

-- Applications ------------------------------------------------------------

-- A site (or tenant) that sends notifications: its contact for the push
-- services (the VAPID "sub" claim) and, in webpush.vapid_keys, its keys.
-- "default" is created on first use and takes its subject from
-- webpush.subject then; every function's application argument defaults to
-- it, so a single site never names one.  Kept by pg_dump (config table).
CREATE TABLE webpush.applications (
    name        text PRIMARY KEY
                CHECK (name OPERATOR(pg_catalog.~) '^[a-z0-9][a-z0-9_.-]{0,62}$'),
    subject     text CHECK (subject OPERATOR(pg_catalog.~) '^(mailto:|https://).'),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    -- The zone of its subscriptions that have none of their own, for sends
    -- at a local time (webpush_application_time_zone).
    time_zone   text NOT NULL DEFAULT 'UTC'
                CHECK (pg_catalog.octet_length(time_zone) OPERATOR(pg_catalog.<=) 64),
    -- Quiet hours: from quiet_start to quiet_end, local time in each
    -- subscription's zone, notifications that are not urgent wait
    -- (webpush_application_quiet_hours).  Both or neither.
    quiet_start time,
    quiet_end   time,
    CHECK ((quiet_start IS NULL) OPERATOR(pg_catalog.=) (quiet_end IS NULL)
           AND (quiet_start IS NULL OR quiet_start OPERATOR(pg_catalog.<>) quiet_end)),
    -- Frequency cap: at most frequency_cap messages delivered to a user per
    -- frequency_window; over it the worker drops or defers (over_cap) what
    -- is claimed (webpush_application_frequency_cap).  All three or none.
    frequency_cap    integer,
    frequency_window interval,
    over_cap         text,
    CHECK ((frequency_cap IS NULL) OPERATOR(pg_catalog.=) (frequency_window IS NULL)
           AND (frequency_cap IS NULL) OPERATOR(pg_catalog.=) (over_cap IS NULL)
           AND (frequency_cap IS NULL
                OR (frequency_cap OPERATOR(pg_catalog.>=) 1
                    AND frequency_window OPERATOR(pg_catalog.>=) interval '1 second'
                    AND frequency_window OPERATOR(pg_catalog.<=) interval '31 days'
                    AND over_cap OPERATOR(pg_catalog.=) ANY (ARRAY['drop', 'defer'])))),
    -- A rate: requests a second its notifications are sent at most, with a
    -- burst (webpush_application_rate).  Both or neither.
    rate_per_second double precision
                CHECK (rate_per_second OPERATOR(pg_catalog.>=) 0.01
                       AND rate_per_second OPERATOR(pg_catalog.<=) 1000000),
    rate_burst  integer
                CHECK (rate_burst OPERATOR(pg_catalog.>=) 1
                       AND rate_burst OPERATOR(pg_catalog.<=) 1000000),
    CHECK ((rate_per_second IS NULL) OPERATOR(pg_catalog.=) (rate_burst IS NULL))
);
COMMENT ON TABLE webpush.applications IS
    'Sites sending notifications: a contact (VAPID sub) each, and their keys in webpush.vapid_keys';
COMMENT ON COLUMN webpush.applications.subject IS
    'mailto: or https: contact sent to push services; NULL only for "default" until webpush.subject is set';
REVOKE ALL ON webpush.applications FROM PUBLIC;
GRANT SELECT (name, subject, created_at, time_zone, quiet_start, quiet_end,
              frequency_cap, frequency_window, over_cap, rate_per_second, rate_burst)
    ON webpush.applications
    TO webpush_sender, webpush_monitor;
SELECT pg_catalog.pg_extension_config_dump('webpush.applications', '');

-- Who may use an application.  A role may subscribe, send, cancel and see
-- the messages in an application when it has the privileges of a role
-- listed here for it (superusers always may).  An owner may also change
-- the application's subject and grant it to other roles.  "default" is
-- granted to webpush_sender when it is created, so that a single site
-- needs no grant; a superuser may revoke that.  Changes go through
-- webpush_application_grant() and webpush_application_revoke(); each
-- backend caches what it checked, and the trigger below tells them all when
-- to forget it.  Kept by pg_dump (config table).
CREATE TABLE webpush.application_roles (
    application text NOT NULL
        REFERENCES webpush.applications (name) ON UPDATE CASCADE ON DELETE CASCADE,
    role        regrole NOT NULL,
    owner       boolean NOT NULL DEFAULT false,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (application, role)
);
COMMENT ON TABLE webpush.application_roles IS
    'The roles that may use each application (subscribe, send, cancel, see its messages); owners may also grant it and set its subject';
REVOKE ALL ON webpush.application_roles FROM PUBLIC;
GRANT SELECT (application, role, owner, granted_at) ON webpush.application_roles
    TO webpush_monitor;
SELECT pg_catalog.pg_extension_config_dump('webpush.application_roles', '');

CREATE FUNCTION webpush_application_roles_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webpush_application_roles_changed'
    LANGUAGE C;
REVOKE ALL ON FUNCTION webpush_application_roles_changed() FROM PUBLIC;
CREATE TRIGGER application_roles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webpush.application_roles
    FOR EACH STATEMENT EXECUTE FUNCTION webpush_application_roles_changed();

-- Whether the session's role may use an application: what the policies
-- and views below filter by.  It reads webpush.application_roles itself,
-- so that a role that may not read that table can still be filtered by it.
CREATE FUNCTION webpush.may_use(application text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'webpush_may_use'
    LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION webpush.may_use(text) IS
    'Whether the session''s role may use the application (subscribe, send, cancel, see its messages)';
REVOKE ALL ON FUNCTION webpush.may_use(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush.may_use(text) TO webpush_sender, webpush_monitor;

-- What a sender sees of applications (and, below, of subscriptions): only
-- the applications it may use.  Superusers, the extension's own functions
-- (which run as its owner) and the worker are not subject to these policies;
-- webpush_monitor sees every application.
ALTER TABLE webpush.applications ENABLE ROW LEVEL SECURITY;
CREATE POLICY applications_of_role ON webpush.applications FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(name));

-- VAPID keys ----------------------------------------------------------------

-- Any number of key pairs per application, raw: the P-256 scalar and the
-- uncompressed point.  Browsers bind a subscription to the key they
-- subscribed with, so a key stays until nothing uses it: the current key
-- is the one new subscriptions get, older ones keep signing for the
-- subscriptions made with them.  Readable by superusers only; kept by
-- pg_dump (config table).
CREATE TABLE webpush.vapid_keys (
    private_key bytea NOT NULL
                CHECK (pg_catalog.length(private_key) OPERATOR(pg_catalog.=) 32),
    public_key  bytea NOT NULL UNIQUE
                CHECK (pg_catalog.length(public_key) OPERATOR(pg_catalog.=) 65
                       AND pg_catalog.get_byte(public_key, 0) OPERATOR(pg_catalog.=) 4),
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id          bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    application text NOT NULL REFERENCES webpush.applications (name) ON UPDATE CASCADE,
    current     boolean NOT NULL DEFAULT false,
    -- The target of webpush.subscriptions' key: a subscription's key is
    -- one of its own application's.
    UNIQUE (application, id)
);
-- One current key per application.
CREATE UNIQUE INDEX vapid_keys_current_idx ON webpush.vapid_keys (application) WHERE current;
COMMENT ON TABLE webpush.vapid_keys IS
    'VAPID key pairs (raw P-256 scalar and uncompressed point), several per application. Readable by superusers only.';
COMMENT ON COLUMN webpush.vapid_keys.current IS
    'the key webpush_keys() hands out for new subscriptions; one per application';
REVOKE ALL ON webpush.vapid_keys FROM PUBLIC;
-- Row-level security with no policy: a role that reads every table without
-- a grant (pg_read_all_data, and a pg_dump run by it) reads no key.  The
-- extension's own functions run as the table's owner, which it does not
-- hold back, and superusers bypass it.
ALTER TABLE webpush.vapid_keys ENABLE ROW LEVEL SECURITY;
SELECT pg_catalog.pg_extension_config_dump('webpush.vapid_keys', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.vapid_keys', 'id'), '');

-- Subscriptions -------------------------------------------------------------

-- Browser subscriptions, as PushSubscription.toJSON() gives them, with the
-- keys stored decoded; one row per endpoint.  Each belongs to an
-- application and remembers the key the browser subscribed with: every
-- send to it signs with that key.  The worker deletes a subscription when
-- its push service answers 404 or 410.  Kept by pg_dump (config table).
CREATE TABLE webpush.subscriptions (
    id              bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
    endpoint        text NOT NULL UNIQUE
                    CHECK (endpoint OPERATOR(pg_catalog.~~) 'https://%'
                           AND pg_catalog.octet_length(endpoint) OPERATOR(pg_catalog.<=) 2048),
    p256dh          bytea NOT NULL
                    CHECK (pg_catalog.length(p256dh) OPERATOR(pg_catalog.=) 65
                           AND pg_catalog.get_byte(p256dh, 0) OPERATOR(pg_catalog.=) 4),
    auth            bytea NOT NULL CHECK (pg_catalog.length(auth) OPERATOR(pg_catalog.=) 16),
    user_id         text,
    expiration_time timestamptz,
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    updated_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    application     text NOT NULL,
    key_id          bigint NOT NULL,
    -- The browser's IANA time zone, which the browser kit sends (NULL: the
    -- application's), for sends at a local time.
    time_zone       text CHECK (pg_catalog.octet_length(time_zone) OPERATOR(pg_catalog.<=) 64),
    FOREIGN KEY (application, key_id) REFERENCES webpush.vapid_keys (application, id)
        ON UPDATE CASCADE
);
COMMENT ON TABLE webpush.subscriptions IS
    'Browser push subscriptions; removed when the push service answers 404 or 410';
COMMENT ON COLUMN webpush.subscriptions.p256dh IS 'keys.p256dh decoded: the browser''s P-256 public key';
COMMENT ON COLUMN webpush.subscriptions.auth IS 'keys.auth decoded: the 16-byte authentication secret';
COMMENT ON COLUMN webpush.subscriptions.user_id IS 'the application''s user, for webpush_send_user';
COMMENT ON COLUMN webpush.subscriptions.key_id IS
    'the webpush.vapid_keys row whose public key the browser subscribed with';
-- A user's subscriptions in an application: webpush_send_user, the
-- trigger's intake and webpush_unsubscribe_user look them up by this.
CREATE INDEX subscriptions_user_id_idx ON webpush.subscriptions (application, user_id);
-- The subscriptions of a key: webpush.keys counts them, and retiring a key
-- looks for them.
CREATE INDEX subscriptions_key_id_idx ON webpush.subscriptions (key_id);
REVOKE ALL ON webpush.subscriptions FROM PUBLIC;
GRANT SELECT (id, user_id, expiration_time, created_at, updated_at, application, time_zone)
    ON webpush.subscriptions TO webpush_sender;
SELECT pg_catalog.pg_extension_config_dump('webpush.subscriptions', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.subscriptions', 'id'), '');

-- A sender sees the subscriptions of the applications it may use.
ALTER TABLE webpush.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_of_role ON webpush.subscriptions FOR SELECT
    USING (webpush.may_use(application));

-- Messages ------------------------------------------------------------------

-- A message is stored once, however many recipients it has: what to send,
-- to which application's users, and when.  A one-off send to a subscription
-- object that is not stored keeps that object here (its single delivery
-- names subscription 0).  Kept by pg_dump (config table).
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
    created_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    source      text,                           -- the row a trigger sent it for
    cancelled_at timestamptz,                   -- when webpush_cancel() cancelled it
    -- A message expires no earlier than it is due, and a one-off send has
    -- its endpoint, both keys and its signing key, or none of them.
    CHECK (expires_at OPERATOR(pg_catalog.>=) send_at
           AND recipients OPERATOR(pg_catalog.>=) 0
           AND (endpoint IS NULL) OPERATOR(pg_catalog.=) (p256dh IS NULL)
           AND (endpoint IS NULL) OPERATOR(pg_catalog.=) (auth IS NULL)
           AND (endpoint IS NULL) OPERATOR(pg_catalog.=) (key_id IS NULL))
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
-- The deduplication: a send's ON CONFLICT meets the message kept with its key.
CREATE UNIQUE INDEX messages_dedupe_idx ON webpush.messages (application, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
-- Where the worker finds due messages, in the order it claims them, ties
-- included (a statement's messages share their send_at): a claim reads as
-- many as it takes, however many are due.
CREATE INDEX messages_pending_idx ON webpush.messages (send_at, id) WHERE pending;
-- The per-role limit (webpush.max_queued_per_role): queued_by is recorded
-- only while a limit applies to the role, so this partial index costs
-- nothing to the roles without one, and counting a limited role's rows
-- stops at its limit.
CREATE INDEX messages_queued_by_idx ON webpush.messages (queued_by) WHERE queued_by IS NOT NULL;
-- What a row sent (webpush_notify's source row): the application finds
-- and cancels it by this.
CREATE INDEX messages_source_idx ON webpush.messages (application, source)
    WHERE source IS NOT NULL;
COMMENT ON COLUMN webpush.messages.source IS
    'the row a webpush_notify() trigger sent it for, as its source row argument spells it (''orders/{id}''); NULL otherwise';
COMMENT ON COLUMN webpush.messages.cancelled_at IS
    'when webpush_cancel() cancelled it: a delivery in flight then that comes back to the queue (retried, handed back, its worker gone) is recorded as cancelled at its next claim, not sent';
REVOKE ALL ON webpush.messages FROM PUBLIC;
GRANT SELECT (id, application, ttl, urgency, topic, send_at, expires_at, dedupe_key,
              recipients, pending, created_at, cancelled_at)
    ON webpush.messages TO webpush_monitor;
-- Payloads, and a one-off send's endpoint and keys, for no role that reads
-- every table (pg_read_all_data): only webpush_monitor's policy.  The
-- extension's functions and the worker run as the owner or a superuser,
-- which row-level security does not hold back.
ALTER TABLE webpush.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_for_monitor ON webpush.messages FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
SELECT pg_catalog.pg_extension_config_dump('webpush.messages', '');
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.messages', 'id'), '');

-- One recipient of a message, until it is delivered, fails or expires (then
-- it moves to webpush.history).  Small on purpose: a broadcast to a million
-- costs a million of these.  The endpoint, keys and signing key are read
-- from the subscription when the worker claims it, so a browser that
-- subscribes again gets what was queued for it with its new keys.
--
-- A message has at most one delivery per subscription.  That pair is the
-- primary key: the index by message that the worker and webpush_cancel
-- use (the worker claims a broadcast's recipients in its order, each claim
-- from where the last ended), and the replica identity that a publication
-- FOR ALL TABLES (logical replication, CDC) needs before the worker may
-- update or delete a row.  Kept by pg_dump (config table).
--
-- Half of each page is left free (fillfactor 50): the worker's claim
-- updates each row once (claimed_by, attempts), and with room on its page
-- the new version stays there (a HOT update), so the claim writes no index
-- entry and about 15% less WAL.  A queued recipient takes about 45 bytes
-- more until it is sent.
CREATE TABLE webpush.deliveries (
    message_id      bigint NOT NULL,
    subscription_id bigint NOT NULL,    -- 0: the message's own endpoint
    claimed_by      integer,            -- pid of the worker sending it
    attempts        smallint,           -- NULL: never attempted
    next_attempt_at timestamptz,        -- a retry's time; NULL otherwise
    last_status     smallint,
    last_error      text,
    due_at          timestamptz,        -- a send at a local time: see below
    PRIMARY KEY (message_id, subscription_id),
    -- A row being sent has no retry time.
    CHECK (claimed_by IS NULL OR next_attempt_at IS NULL)
) WITH (fillfactor = 50);
COMMENT ON TABLE webpush.deliveries IS
    'One row per recipient still to send: waiting (claimed_by NULL) or being sent by the worker whose pid is claimed_by';
COMMENT ON COLUMN webpush.deliveries.due_at IS
    'a send at a local time: when this recipient''s local time comes, which its TTL counts from; NULL: the message''s send_at';
COMMENT ON COLUMN webpush.deliveries.next_attempt_at IS
    'when a retry (a notification handed back unsent, a send at a local time) is due; NULL for a first attempt, due at the message''s send_at';
-- Where the worker finds due retries.
CREATE INDEX deliveries_retry_idx ON webpush.deliveries (next_attempt_at)
    WHERE next_attempt_at IS NOT NULL;
REVOKE ALL ON webpush.deliveries FROM PUBLIC;
GRANT SELECT (message_id, subscription_id, claimed_by, attempts, next_attempt_at,
              last_status, last_error, due_at)
    ON webpush.deliveries TO webpush_monitor;
SELECT pg_catalog.pg_extension_config_dump('webpush.deliveries', '');

-- A row trigger's notifications on their way in.  webpush_notify() stores
-- one row here, with no subscription to look up, so that the INSERT it
-- fires for pays little; after COMMIT the worker turns each row into a
-- message (with the same id) and a delivery per subscription the user has
-- then.  A user with none gets no message.  Kept by pg_dump (config table).
--
-- No index: a row is stored once and deleted once, by the worker, which
-- finds it by ctid; an index entry would be a third of what the trigger
-- adds to an INSERT.  The replica identity that a publication FOR ALL
-- TABLES needs for those deletes is therefore the whole row (FULL).  The
-- id is unique as the message's id, which webpush.messages' primary key
-- checks when the row is taken in.
CREATE TABLE webpush.intake (
    id          bigint NOT NULL,                -- the message's id to be
    application text NOT NULL,
    user_id     text NOT NULL,
    payload     webpush.push_payload,
    ttl         webpush.push_ttl NOT NULL,
    urgency     webpush.push_urgency NOT NULL,
    queued_at   timestamptz NOT NULL,           -- the TTL counts from here
    source      text                            -- the row it was sent for
);
COMMENT ON TABLE webpush.intake IS
    'Notifications from webpush_notify() that the worker has not yet made into messages and deliveries';
ALTER TABLE webpush.intake REPLICA IDENTITY FULL;
REVOKE ALL ON webpush.intake FROM PUBLIC;
GRANT SELECT (id, application, ttl, urgency, queued_at) ON webpush.intake TO webpush_monitor;
-- Payloads and users for no role that reads every table (pg_read_all_data):
-- only webpush_monitor's policy, as on webpush.messages.  The rows are the
-- extension's own writes, made as its owner (webpush_send_user) or, for
-- webpush_notify(), with nothing of anyone's run (no trigger, default,
-- CHECK or index on the table), where the owner's row-level security
-- would hold back nothing: none applies to the owner unless FORCE ROW
-- LEVEL SECURITY says so, and then the insert is the owner's statement.
ALTER TABLE webpush.intake ENABLE ROW LEVEL SECURITY;
CREATE POLICY intake_for_monitor ON webpush.intake FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
SELECT pg_catalog.pg_extension_config_dump('webpush.intake', '');

-- What became of each delivery that left webpush.deliveries, and of each
-- webpush_send_now: kept for webpush.history_retention, then purged by the
-- worker.  Rows are only inserted and purged; id numbers them, last among
-- the columns, and the primary key (the replica identity a publication FOR
-- ALL TABLES needs) is led by the message, so that it is also the index
-- webpush.message_status reads.  The worker's history rows take their ids
-- 64 at a time (CACHE): ids are unique, not in the order rows came.  The NOT NULL constraints of message_id and id carry the names
-- every 0.4 database has for them (PostgreSQL 18 names NOT NULL
-- constraints).  pg_dump does not keep the rows, only the numbering of id.
CREATE TABLE webpush.history (
    message_id      bigint CONSTRAINT history_id_not_null NOT NULL,
    subscription_id bigint,                 -- 0 for a one-off send
    endpoint        text NOT NULL,          -- where the request went
    outcome         text NOT NULL
                    CHECK (outcome OPERATOR(pg_catalog.=)
                           ANY (ARRAY['delivered', 'failed', 'expired', 'cancelled'])),
    status          integer,                -- last HTTP status, NULL if none came
    attempts        integer NOT NULL,
    reason          text,                   -- why it failed or expired; response body
    created_at      timestamptz NOT NULL,
    finished_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    id              bigint CONSTRAINT history_id_not_null1 NOT NULL
                    GENERATED ALWAYS AS IDENTITY (CACHE 64),
    application     text,                   -- whose message it was
    user_id         text,                   -- the subscription's user when it was sent
    location        text,                   -- a 201's push message resource
    key_id          bigint,                 -- with a location: the VAPID key that signed it
    PRIMARY KEY (message_id, id)
);
COMMENT ON TABLE webpush.history IS
    'Outcome of every delivery that left webpush.deliveries (delivered, failed, expired, cancelled), and of webpush_send_now';
COMMENT ON COLUMN webpush.history.subscription_id IS 'the recipient; 0 for a one-off send';
-- The purge's order.
CREATE INDEX history_finished_at_idx ON webpush.history (finished_at);
-- A user's outcomes, for webpush_trace(): kept when the subscription is
-- gone; and, by finished_at, what the worker counts for a frequency cap
-- (the last window of one user's history, not all of it).
CREATE INDEX history_user_idx ON webpush.history (application, user_id, finished_at)
    WHERE user_id IS NOT NULL;
COMMENT ON COLUMN webpush.history.user_id IS
    'the user the subscription belonged to when the delivery was last claimed by the worker, or cancelled; NULL for one-off sends and subscriptions removed before';
REVOKE ALL ON webpush.history FROM PUBLIC;
GRANT SELECT (message_id, subscription_id, outcome, status, attempts, reason,
              created_at, finished_at, application)
    ON webpush.history TO webpush_monitor;
-- Endpoints and message locations likewise (see webpush.messages).
ALTER TABLE webpush.history ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_for_monitor ON webpush.history FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.history', 'id'), '');

COMMENT ON COLUMN webpush.history.location IS
    'delivered: the push message resource the push service answered with (Location, on the endpoint''s origin), where webpush_cancel() sends its DELETE; not granted, like the endpoint';
COMMENT ON COLUMN webpush.history.key_id IS
    'with a location: the VAPID key that signed the message, which signs its DELETE (the subscription may be gone by then)';

-- Recalls: a cancel's DELETE of what a push service holds -------------------
--
-- A push service that answers a message with a Location (RFC 8030 §5, the
-- push message resource) keeps it there until the browser takes it;
-- Mozilla's autopush lets the sender DELETE it meanwhile.  webpush_cancel()
-- queues one row here for each delivered copy of the message whose
-- resource is known and whose TTL has not run out, and the worker sends
-- the DELETE and records the answer: recalled (2xx), gone (404 or 410:
-- delivered already, or expired) or failed.  The location lets whoever
-- holds it delete the message, like an endpoint: it is not granted.
-- Finished rows are purged with the history (webpush.history_retention);
-- pg_dump keeps none of them.
CREATE TABLE webpush.recalls (
    message_id      bigint NOT NULL,
    subscription_id bigint NOT NULL,
    application     text NOT NULL,
    location        text NOT NULL,          -- the push message resource
    key_id          bigint,                 -- the VAPID key it was sent with
    expires_at      timestamptz NOT NULL,   -- when it was sent, plus its TTL
    created_at      timestamptz NOT NULL DEFAULT pg_catalog.now(),
    due_at          timestamptz NOT NULL DEFAULT pg_catalog.now(),
    attempts        integer NOT NULL DEFAULT 0,
    outcome         text CHECK (outcome OPERATOR(pg_catalog.=)
                                ANY (ARRAY['recalled', 'gone', 'failed'])),
    status          integer,                -- the DELETE's HTTP status
    reason          text,
    finished_at     timestamptz,
    PRIMARY KEY (message_id, subscription_id),
    CHECK ((outcome IS NULL) OPERATOR(pg_catalog.=) (finished_at IS NULL))
);
COMMENT ON TABLE webpush.recalls IS
    'The DELETEs webpush_cancel() queued for delivered copies a push service still holds (its Location), and their answers';
COMMENT ON COLUMN webpush.recalls.outcome IS
    'recalled (2xx), gone (404 or 410: delivered already, or gone), failed; NULL while waiting';
COMMENT ON COLUMN webpush.recalls.due_at IS
    'when the worker sends it next (a claim moves it past the request''s timeout)';
-- Where the worker finds due recalls.
CREATE INDEX recalls_due_idx ON webpush.recalls (due_at) WHERE outcome IS NULL;
REVOKE ALL ON webpush.recalls FROM PUBLIC;
GRANT SELECT (message_id, subscription_id, application, expires_at, created_at, due_at,
              attempts, outcome, status, reason, finished_at)
    ON webpush.recalls TO webpush_monitor;
ALTER TABLE webpush.recalls ENABLE ROW LEVEL SECURITY;
CREATE POLICY recalls_of_role ON webpush.recalls FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(application));

-- Secrets where no policy reaches -------------------------------------------

-- Row-level security holds back rows, not what PostgreSQL keeps of them
-- elsewhere, which a role that reads every table (pg_read_all_data) reads
-- too: ANALYZE's samples of each column, in pg_statistic, and values too
-- long for their row, in the table's TOAST table.  The columns that hold
-- private keys, payloads, endpoints, subscription keys and message
-- locations, and the intake's users and sources, are never sampled
-- (STATISTICS 0: no statement filters or sorts on them but a
-- subscription's endpoint, found through its unique index) and stay in
-- their row (STORAGE MAIN: compressed there, and out of line only for a
-- row that would not fit in a page once every other column is, which the
-- limits of a payload, 4,096 bytes, and of an endpoint, 2,048, never make
-- on their own).
ALTER TABLE webpush.vapid_keys
    ALTER COLUMN private_key SET STATISTICS 0, ALTER COLUMN private_key SET STORAGE MAIN;
ALTER TABLE webpush.subscriptions
    ALTER COLUMN endpoint SET STATISTICS 0, ALTER COLUMN endpoint SET STORAGE MAIN,
    ALTER COLUMN p256dh SET STATISTICS 0, ALTER COLUMN p256dh SET STORAGE MAIN,
    ALTER COLUMN auth SET STATISTICS 0, ALTER COLUMN auth SET STORAGE MAIN;
ALTER TABLE webpush.messages
    ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN payload SET STORAGE MAIN,
    ALTER COLUMN endpoint SET STATISTICS 0, ALTER COLUMN endpoint SET STORAGE MAIN,
    ALTER COLUMN p256dh SET STATISTICS 0, ALTER COLUMN p256dh SET STORAGE MAIN,
    ALTER COLUMN auth SET STATISTICS 0, ALTER COLUMN auth SET STORAGE MAIN;
ALTER TABLE webpush.intake
    ALTER COLUMN payload SET STATISTICS 0, ALTER COLUMN payload SET STORAGE MAIN,
    ALTER COLUMN user_id SET STATISTICS 0, ALTER COLUMN user_id SET STORAGE MAIN,
    ALTER COLUMN source SET STATISTICS 0, ALTER COLUMN source SET STORAGE MAIN;
ALTER TABLE webpush.history
    ALTER COLUMN endpoint SET STATISTICS 0, ALTER COLUMN endpoint SET STORAGE MAIN,
    ALTER COLUMN location SET STATISTICS 0, ALTER COLUMN location SET STORAGE MAIN;
ALTER TABLE webpush.recalls
    ALTER COLUMN location SET STATISTICS 0, ALTER COLUMN location SET STORAGE MAIN;

-- Views -----------------------------------------------------------------------

-- Every operator and function below is schema-qualified: a view binds them
-- when it is created, and every role that reads it runs them.
--
-- webpush.status and webpush.status_by_host count every application's
-- traffic: they are for webpush_monitor.  webpush.message_status and
-- webpush.keys show only the applications the reader may use (all of them
-- to webpush_monitor), so webpush_sender may read them too.

-- The counters and the queue's gauges, per application and push service
-- host, from shared memory (the library must be preloaded): what the status
-- views read, so that reading them costs the same at a million history
-- rows as at none.  The counters only grow: purging the history does not
-- lower them, a clean restart keeps them, webpush_counters_reset() starts
-- them over (stats_reset).  The gauges are a snapshot of the queue taken
-- at counted_at: after every change while counting it is cheap, at most
-- every second by the worker while it is not.  It runs as the extension's
-- owner for its caller; webpush_monitor reads it.
CREATE FUNCTION webpush.stats(OUT application text, OUT host text,
                              OUT queued bigint, OUT scheduled bigint,
                              OUT retrying bigint, OUT sending bigint,
                              OUT oldest_due_at timestamptz, OUT next_retry_at timestamptz,
                              OUT sent bigint, OUT delivered bigint, OUT gone bigint,
                              OUT failed bigint, OUT expired bigint, OUT cancelled bigint,
                              OUT refused bigint, OUT capped_dropped bigint,
                              OUT capped_deferred bigint, OUT held_quiet_hours bigint,
                              OUT throttled bigint,
                              OUT retried_rate_limited bigint, OUT retried_server_error bigint,
                              OUT retried_timeout bigint, OUT retried_connection bigint,
                              OUT bytes_sent bigint,
                              OUT latency_bounds double precision[], OUT latency_buckets bigint[],
                              OUT latency_sum double precision, OUT latency_count bigint,
                              OUT last_problem text, OUT last_problem_at timestamptz,
                              OUT counted_at timestamptz, OUT stats_reset timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_stats'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush.stats() IS
    'Counters (since stats_reset) and queue gauges (as of counted_at) of this database per application and push service host; latency is from due to delivered, in seconds, cumulative per bucket';
REVOKE ALL ON FUNCTION webpush.stats() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush.stats() TO webpush_monitor;

-- Starts this database's counters over; superusers only.
CREATE FUNCTION webpush_counters_reset() RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'webpush_counters_reset'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_counters_reset() IS
    'Sets this database''s webpush counters to zero; returns the new stats_reset';
REVOKE ALL ON FUNCTION webpush_counters_reset() FROM PUBLIC;

-- The counters alone, for Prometheus and the like: they never go down.
-- The applications' rules have their own: capped_dropped (also counted as
-- failed) and capped_deferred for frequency caps, held_quiet_hours for
-- quiet hours; a notification deferred or held twice counts twice.
CREATE VIEW webpush.counters AS
SELECT application, host, sent, delivered, gone, failed, expired, cancelled, refused,
       capped_dropped, capped_deferred, held_quiet_hours, throttled,
       retried_rate_limited, retried_server_error, retried_timeout, retried_connection,
       bytes_sent, latency_bounds, latency_buckets, latency_sum, latency_count,
       last_problem, last_problem_at, stats_reset
FROM webpush.stats();
COMMENT ON VIEW webpush.counters IS
    'Cumulative delivery counters per application and push service host since stats_reset (host NULL: no endpoint); they never decrease';
REVOKE ALL ON webpush.counters FROM PUBLIC;
GRANT SELECT ON webpush.counters TO webpush_monitor;

-- Deliveries at a glance: one row.  queued: due now and not being sent
-- (each webpush_notify() row not yet taken in counts as one); scheduled:
-- first attempts not yet due; retrying: waiting for another attempt;
-- oldest_due_at: the longest any due item has waited.  The rest are the
-- counters: failed leaves out gone (404/410), which has its own column;
-- refused counts what triggers did not queue over webpush.max_queued_per_role.
CREATE VIEW webpush.status AS
SELECT COALESCE(pg_catalog.sum(queued), 0)::bigint AS queued,
       COALESCE(pg_catalog.sum(scheduled), 0)::bigint AS scheduled,
       COALESCE(pg_catalog.sum(retrying), 0)::bigint AS retrying,
       COALESCE(pg_catalog.sum(sending), 0)::bigint AS sending,
       COALESCE(pg_catalog.sum(delivered), 0)::bigint AS delivered,
       COALESCE(pg_catalog.sum(failed), 0)::bigint AS failed,
       COALESCE(pg_catalog.sum(gone), 0)::bigint AS gone,
       COALESCE(pg_catalog.sum(expired), 0)::bigint AS expired,
       COALESCE(pg_catalog.sum(cancelled), 0)::bigint AS cancelled,
       COALESCE(pg_catalog.sum(refused), 0)::bigint AS refused,
       pg_catalog.min(oldest_due_at) AS oldest_due_at,
       pg_catalog.max(counted_at) AS counted_at,
       pg_catalog.max(stats_reset) AS stats_reset
FROM webpush.stats();
COMMENT ON VIEW webpush.status IS
    'Queue gauges (as of counted_at; queued counts due work only) and delivery counters (since stats_reset) of this database';
REVOKE ALL ON webpush.status FROM PUBLIC;
GRANT SELECT ON webpush.status TO webpush_monitor;

-- The same by push service host (fcm.googleapis.com,
-- updates.push.services.mozilla.com, ...), with the last problem, when it
-- happened, and when the next retry is due.
CREATE VIEW webpush.status_by_host AS
SELECT host,
       pg_catalog.sum(queued)::bigint AS queued,
       pg_catalog.sum(scheduled)::bigint AS scheduled,
       pg_catalog.sum(retrying)::bigint AS retrying,
       pg_catalog.sum(sending)::bigint AS sending,
       pg_catalog.sum(delivered)::bigint AS delivered,
       pg_catalog.sum(failed)::bigint AS failed,
       pg_catalog.sum(gone)::bigint AS gone,
       pg_catalog.sum(expired)::bigint AS expired,
       (pg_catalog.array_agg(last_problem ORDER BY last_problem_at DESC)
          FILTER (WHERE last_problem_at IS NOT NULL))[1] AS last_problem,
       pg_catalog.max(last_problem_at) AS last_problem_at,
       pg_catalog.min(next_retry_at) AS next_retry_at
FROM webpush.stats()
GROUP BY host;
COMMENT ON VIEW webpush.status_by_host IS
    'Queue gauges and delivery counters per push service host, with the last problem, when it happened, and the next retry; host NULL: no endpoint (subscriptions removed before their deliveries were sent, cancellations, rows not yet taken in)';
REVOKE ALL ON webpush.status_by_host FROM PUBLIC;
GRANT SELECT ON webpush.status_by_host TO webpush_monitor;

-- Per message, for the roles that may use its application (and
-- webpush_monitor): who it is for, what became of each recipient, and when.
-- A security barrier: a reader's own functions in a WHERE clause see only
-- the rows the view lets through.
CREATE VIEW webpush.message_status WITH (security_barrier) AS
SELECT m.id, m.application, m.created_at, m.send_at, m.expires_at, m.dedupe_key, m.recipients,
       COALESCE(d.queued, 0) AS queued, COALESCE(d.sending, 0) AS sending,
       COALESCE(h.delivered, 0) AS delivered, COALESCE(h.failed, 0) AS failed,
       COALESCE(h.expired, 0) AS expired, COALESCE(h.cancelled, 0) AS cancelled,
       h.first_delivered_at, h.last_delivered_at,
       -- The row's key is the application's data: webpush_monitor, which
       -- reads every application's counts, does not see it.
       CASE WHEN webpush.may_use(m.application) THEN m.source END AS source
FROM webpush.messages m
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE claimed_by IS NULL) AS queued,
           pg_catalog.count(*) FILTER (WHERE claimed_by IS NOT NULL) AS sending
    FROM webpush.deliveries WHERE message_id OPERATOR(pg_catalog.=) m.id) d ON true
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'delivered') AS delivered,
           pg_catalog.count(*) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'failed') AS failed,
           pg_catalog.count(*) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'expired') AS expired,
           pg_catalog.count(*) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'cancelled') AS cancelled,
           pg_catalog.min(finished_at) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'delivered')
               AS first_delivered_at,
           pg_catalog.max(finished_at) FILTER (WHERE outcome OPERATOR(pg_catalog.=) 'delivered')
               AS last_delivered_at
    FROM webpush.history WHERE message_id OPERATOR(pg_catalog.=) m.id) h ON true
WHERE pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(m.application);
COMMENT ON VIEW webpush.message_status IS
    'Per message of the applications the reader may use: recipients, queued (or scheduled, or retrying), sending, delivered, failed, expired, cancelled, first and last delivery, and the row a trigger sent it for (source)';
REVOKE ALL ON webpush.message_status FROM PUBLIC;
GRANT SELECT ON webpush.message_status TO webpush_monitor, webpush_sender;

-- Each key, public half only (base64url, as applicationServerKey takes
-- it), with how many subscriptions still use it, for the applications the
-- reader may use: a key with none left can be retired.
CREATE VIEW webpush.keys WITH (security_barrier) AS
SELECT k.application,
       pg_catalog.translate(pg_catalog.encode(k.public_key, 'base64'), E'+/=\n', '-_') AS public_key,
       k.current,
       k.created_at,
       (SELECT pg_catalog.count(*) FROM webpush.subscriptions s
         WHERE s.key_id OPERATOR(pg_catalog.=) k.id) AS subscriptions
FROM webpush.vapid_keys k
WHERE pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(k.application);
COMMENT ON VIEW webpush.keys IS
    'VAPID public keys per application the reader may use, the current one marked, with the subscriptions bound to each';
REVOKE ALL ON webpush.keys FROM PUBLIC;
GRANT SELECT ON webpush.keys TO webpush_monitor, webpush_sender;

-- Keys --------------------------------------------------------------------------

-- The public key is for everyone: browsers need it to subscribe.
CREATE FUNCTION webpush_keys(application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys'
    LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys(text) IS
    'The application''s current VAPID public key (base64url), for applicationServerKey; "default" and a first key pair are made on the first call by a role that may use the application';
GRANT EXECUTE ON FUNCTION webpush_keys(text) TO PUBLIC;

-- Importing, rotating, retiring and exporting keys stay with superusers.
CREATE FUNCTION webpush_keys_import(private_key text, application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys_import'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_import(text, text) IS
    'Makes an existing private key (base64url raw scalar or PEM) the application''s current key; older keys keep their subscriptions. Returns the public key';
REVOKE ALL ON FUNCTION webpush_keys_import(text, text) FROM PUBLIC;

CREATE FUNCTION webpush_keys_rotate(application text DEFAULT 'default') RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_keys_rotate'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_rotate(text) IS
    'Makes a new current key for new subscriptions; older keys keep signing for theirs. Returns the new public key';
REVOKE ALL ON FUNCTION webpush_keys_rotate(text) FROM PUBLIC;

CREATE FUNCTION webpush_keys_retire(public_key text, drop_subscriptions boolean DEFAULT false) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_keys_retire'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_retire(text, boolean) IS
    'Deletes a key that is not current; refuses while subscriptions use it unless drop_subscriptions. Returns the subscriptions deleted';
REVOKE ALL ON FUNCTION webpush_keys_retire(text, boolean) FROM PUBLIC;

-- It runs as its caller, and checks for a superuser itself: granting
-- EXECUTE on it to someone else gives them nothing.  Its statements run
-- under the caller's privileges, so its search_path is pinned all the same:
-- they must not meet an operator a caller planted earlier in its own.
CREATE FUNCTION webpush_keys_export(application text DEFAULT 'default',
                                    OUT public_key text, OUT private_key text,
                                    OUT current boolean, OUT created_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_keys_export'
    LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_keys_export(text) IS
    'The application''s key pairs for a backup (private key base64url, as webpush_keys_import and web-push take it), oldest first. Superusers only';
REVOKE ALL ON FUNCTION webpush_keys_export(text) FROM PUBLIC;

-- Applications --------------------------------------------------------------------

-- Creating an application is for superusers; an application's owner may
-- change its subject (the function checks that itself).
CREATE FUNCTION webpush_application(name text, subject text) RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_application'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application(text, text) IS
    'Creates an application, or changes its subject; returns its current VAPID public key';
REVOKE ALL ON FUNCTION webpush_application(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application(text, text) TO webpush_sender;

-- Superusers, and an application's owners, grant and revoke it.
CREATE FUNCTION webpush_application_grant(application text, role regrole,
                                          owner boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'webpush_application_grant'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_grant(text, regrole, boolean) IS
    'Lets a role (and its members) use an application; owner: it may also grant it and change its subject. Superusers, or the application''s owners (owner false only)';
REVOKE ALL ON FUNCTION webpush_application_grant(text, regrole, boolean) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_grant(text, regrole, boolean) TO webpush_sender;

CREATE FUNCTION webpush_application_revoke(application text, role regrole) RETURNS boolean
    AS 'MODULE_PATHNAME', 'webpush_application_revoke'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_revoke(text, regrole) IS
    'Takes an application away from a role; true when it had it. Superusers, or the application''s owners (not from another owner)';
REVOKE ALL ON FUNCTION webpush_application_revoke(text, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_revoke(text, regrole) TO webpush_sender;

-- Subscriptions ---------------------------------------------------------------------

CREATE FUNCTION webpush_subscribe(subscription jsonb, user_id text DEFAULT NULL,
                                  application text DEFAULT NULL,
                                  server_key text DEFAULT NULL,
                                  old_endpoint text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_subscribe'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_subscribe(jsonb, text, text, text, text) IS
    'Stores a browser PushSubscription.toJSON(), bound to server_key (the applicationServerKey it was made with; default: the application''s current key); old_endpoint: the subscription it replaces keeps its id and what waits for it. Idempotent by endpoint; returns the subscription id';
REVOKE ALL ON FUNCTION webpush_subscribe(jsonb, text, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_subscribe(jsonb, text, text, text, text) TO webpush_sender;

CREATE FUNCTION webpush_unsubscribe(endpoint text) RETURNS boolean
    AS 'MODULE_PATHNAME', 'webpush_unsubscribe'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_unsubscribe(text) IS 'Removes a subscription by endpoint; true if it existed';
REVOKE ALL ON FUNCTION webpush_unsubscribe(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_unsubscribe(text) TO webpush_sender;

CREATE FUNCTION webpush_unsubscribe_user(user_id text, application text DEFAULT 'default')
    RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_unsubscribe_user'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_unsubscribe_user(text, text) IS
    'Removes every subscription of a user in an application (signing out everywhere, deleting an account); returns how many. Their waiting deliveries fail when claimed';
REVOKE ALL ON FUNCTION webpush_unsubscribe_user(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_unsubscribe_user(text, text) TO webpush_sender;

-- Time zones: sends at a local time --------------------------------------

-- webpush_send_user and webpush_send_many with local_time give each
-- recipient a delivery due at that time of day in its subscription's time
-- zone (which the browser kit sends when it subscribes), or the
-- application's for a subscription without one.

-- When a time of day next comes in a zone: what those sends compute for
-- each recipient.  It reads nothing, so every role may call it.
CREATE FUNCTION webpush.local_time(local_time time, time_zone text,
                                   after timestamptz DEFAULT pg_catalog.now())
    RETURNS timestamptz
    AS 'MODULE_PATHNAME', 'webpush_local_time'
    LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION webpush.local_time(time, text, timestamptz) IS
    'The first moment at or after "after" when the clock in time_zone (an IANA name) shows local_time, daylight saving time included';

CREATE FUNCTION webpush_time_zone(user_id text, time_zone text,
                                  application text DEFAULT 'default') RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_time_zone'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_time_zone(text, text, text) IS
    'Sets the IANA time zone of every subscription of a user in an application (NULL: the application''s); returns how many';
REVOKE ALL ON FUNCTION webpush_time_zone(text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_time_zone(text, text, text) TO webpush_sender;

-- An owner's, like the application's subject.
CREATE FUNCTION webpush_application_time_zone(application text, time_zone text) RETURNS text
    AS 'MODULE_PATHNAME', 'webpush_application_time_zone'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_time_zone(text, text) IS
    'Sets the time zone of the application''s subscriptions that have none (UTC until set); returns it';
REVOKE ALL ON FUNCTION webpush_application_time_zone(text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_time_zone(text, text) TO webpush_sender;

CREATE FUNCTION webpush_application_quiet_hours(application text, quiet_start time,
                                                quiet_end time) RETURNS void
    AS 'MODULE_PATHNAME', 'webpush_application_quiet_hours'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_quiet_hours(text, time, time) IS
    'From quiet_start to quiet_end (22:00 to 07:00 spans midnight), local time in each subscription''s zone, the application''s notifications that are not urgent (urgency high) wait until the end; NULL, NULL: none';
REVOKE ALL ON FUNCTION webpush_application_quiet_hours(text, time, time) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_quiet_hours(text, time, time) TO webpush_sender;

-- An owner's, like its quiet hours.
CREATE FUNCTION webpush_application_frequency_cap(application text, max_messages integer,
                                                  per interval, over_cap text DEFAULT 'defer')
    RETURNS void
    AS 'MODULE_PATHNAME', 'webpush_application_frequency_cap'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_frequency_cap(text, integer, interval, text) IS
    'At most max_messages messages delivered to each user of the application per interval (any urgency); over it the worker drops a notification (recorded as failed) or defers it until the window has room (over_cap: drop or defer); NULL, NULL: none';
REVOKE ALL ON FUNCTION webpush_application_frequency_cap(text, integer, interval, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_frequency_cap(text, integer, interval, text) TO webpush_sender;

CREATE FUNCTION webpush_application_rate(application text, per_second double precision,
                                         burst integer DEFAULT NULL) RETURNS void
    AS 'MODULE_PATHNAME', 'webpush_application_rate'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_rate(text, double precision, integer) IS
    'The application''s notifications go at most per_second a second (0.01 to 1000000), burst at once after a pause (1 to 1000000; NULL: a second''s worth); per_second NULL: no rate';
REVOKE ALL ON FUNCTION webpush_application_rate(text, double precision, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_rate(text, double precision, integer) TO webpush_sender;

-- Payloads and encryption -------------------------------------------------------------

-- A payload in the convention client/sw.js shows (see the README, "Browser
-- side"); NULL arguments are left out.  It neither reads nor sends anything,
-- so everyone may call it.
CREATE FUNCTION webpush_notification(title text,
                                     body text DEFAULT NULL,
                                     url text DEFAULT NULL,
                                     icon text DEFAULT NULL,
                                     badge text DEFAULT NULL,
                                     image text DEFAULT NULL,
                                     tag text DEFAULT NULL,
                                     data jsonb DEFAULT NULL,
                                     require_interaction boolean DEFAULT NULL,
                                     silent boolean DEFAULT NULL,
                                     actions jsonb DEFAULT NULL,
                                     lang text DEFAULT NULL,
                                     dir text DEFAULT NULL,
                                     "timestamp" timestamptz DEFAULT NULL,
                                     renotify boolean DEFAULT NULL,
                                     vibrate integer[] DEFAULT NULL,
                                     app_badge integer DEFAULT NULL,
                                     mutable boolean DEFAULT NULL,
                                     declarative boolean DEFAULT NULL,
                                     receipt boolean DEFAULT true) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'webpush_notification'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean,
                                         jsonb, text, text, timestamptz, boolean, integer[], integer,
                                         boolean, boolean, boolean) IS
    'Builds a notification payload: Declarative Web Push ({"web_push": 8030, "notification": {...}}) for an absolute https url, else {"title", "body", "url", ...} for client/sw.js; NULL arguments are omitted';
GRANT EXECUTE ON FUNCTION
    webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean,
                         jsonb, text, text, timestamptz, boolean, integer[], integer,
                         boolean, boolean, boolean)
TO PUBLIC;

-- The encryption alone (RFC 8291), for checking it against the RFC's test
-- vectors: it reads nothing from the database.
CREATE FUNCTION webpush_encrypt(payload bytea, p256dh text, auth text,
                                salt bytea DEFAULT NULL,
                                sender_private_key text DEFAULT NULL) RETURNS bytea
    AS 'MODULE_PATHNAME', 'webpush_encrypt'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION webpush_encrypt(bytea, text, text, bytea, text) IS
    'RFC 8291 aes128gcm body; salt and sender key are random unless given (test vectors only)';
REVOKE ALL ON FUNCTION webpush_encrypt(bytea, text, text, bytea, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_encrypt(bytea, text, text, bytea, text) TO webpush_sender;

-- Sending (delivered by the worker after COMMIT) ------------------------------------

-- Every send stores one message and tells its id; it goes out after COMMIT,
-- or at send_at.  A dedupe_key makes a second send with the same key in
-- the same application queue nothing while the first message is kept.

-- To a stored subscription; the payload as text, JSON or bytes.
CREATE FUNCTION webpush_send(subscription_id bigint, payload text,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_text'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(bigint, text, integer, text, text, timestamptz, text) IS
    'Queues a notification for a stored subscription, sent after COMMIT (or at send_at); returns the message id';
REVOKE ALL ON FUNCTION webpush_send(bigint, text, integer, text, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send(bigint, text, integer, text, text, timestamptz, text)
    TO webpush_sender;

CREATE FUNCTION webpush_send(subscription_id bigint, payload jsonb,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_jsonb'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(bigint, jsonb, integer, text, text, timestamptz, text) IS
    'Queues a notification whose payload is JSON text; returns the message id';
REVOKE ALL ON FUNCTION webpush_send(bigint, jsonb, integer, text, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send(bigint, jsonb, integer, text, text, timestamptz, text)
    TO webpush_sender;

CREATE FUNCTION webpush_send(subscription_id bigint, payload bytea,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_id_bytea'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(bigint, bytea, integer, text, text, timestamptz, text) IS
    'Queues a notification with a binary payload; returns the message id';
REVOKE ALL ON FUNCTION webpush_send(bigint, bytea, integer, text, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send(bigint, bytea, integer, text, text, timestamptz, text)
    TO webpush_sender;

-- To a subscription object that need not be stored, signed with the
-- application's current key.
CREATE FUNCTION webpush_send(subscription jsonb, payload text,
                             ttl integer DEFAULT 2419200,
                             urgency text DEFAULT 'normal',
                             topic text DEFAULT NULL,
                             application text DEFAULT 'default',
                             send_at timestamptz DEFAULT NULL,
                             dedupe_key text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_json_text'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send(jsonb, text, integer, text, text, text, timestamptz, text) IS
    'Queues a notification for a subscription object that need not be stored, signed with the application''s current key; returns the message id';
REVOKE ALL ON FUNCTION webpush_send(jsonb, text, integer, text, text, text, timestamptz, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send(jsonb, text, integer, text, text, text, timestamptz, text)
    TO webpush_sender;

-- To every subscription of a user.  No SET clause: called from a row
-- trigger it runs for every row, and a SET would cost each call two
-- configuration changes and the statement after it a new search path.
-- The function pins search_path itself around whatever may run a
-- statement, or what a DBA added to the tables.  From a trigger, a send
-- without send_at, topic, dedupe_key or local_time, by a role that
-- webpush.max_queued_per_role does not limit, is a row of webpush.intake,
-- as webpush_notify() stores it: its message_id is the one the worker
-- gives the message after COMMIT, and its recipients NULL.  Once the
-- session knows the application, such a row, when the intake runs
-- nothing of anyone's, goes in without the pinning.
CREATE FUNCTION webpush_send_user(user_id text, payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  local_time time DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients integer)
    AS 'MODULE_PATHNAME', 'webpush_send_user_text'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text, time) IS
    'Queues one message for every subscription of a user of the application; its id (NULL when the user has none) and how many recipients. From a trigger, a row of webpush.intake: the id the worker gives the message after COMMIT, recipients NULL';
REVOKE ALL ON FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text, time)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text, time)
    TO webpush_sender;

CREATE FUNCTION webpush_send_user(user_id text, payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  local_time time DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients integer)
    AS 'MODULE_PATHNAME', 'webpush_send_user_jsonb'
    LANGUAGE C VOLATILE;
COMMENT ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text, time) IS
    'Queues one JSON message for every subscription of a user of the application; its id and how many recipients. From a trigger, a row of webpush.intake: the id the worker gives the message after COMMIT, recipients NULL';
REVOKE ALL ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text, time)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text, time)
    TO webpush_sender;

-- The broadcast: one message, stored once, to each listed subscription, in
-- one statement: the fast way to reach thousands.
CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  local_time time DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients bigint)
    AS 'MODULE_PATHNAME', 'webpush_send_many_text'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text, time) IS
    'One message to each listed subscription of the application, stored once; ids that do not exist (or are another application''s) are skipped. Its id and how many recipients';
REVOKE ALL ON FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text, time)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text, time)
    TO webpush_sender;

CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL,
                                  application text DEFAULT 'default',
                                  send_at timestamptz DEFAULT NULL,
                                  dedupe_key text DEFAULT NULL,
                                  local_time time DEFAULT NULL,
                                  OUT message_id bigint, OUT recipients bigint)
    AS 'MODULE_PATHNAME', 'webpush_send_many_jsonb'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text, time) IS
    'One JSON message to each listed subscription of the application, stored once; its id and how many recipients';
REVOKE ALL ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text, time)
    FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text, time)
    TO webpush_sender;

CREATE FUNCTION webpush_cancel(message_id bigint) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_cancel'
    LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_cancel(bigint) IS
    'Cancels the deliveries of a message that are not in flight (recorded as cancelled) and queues a DELETE (webpush.recalls) of each delivered copy a push service holds at its Location within the TTL; returns how many of both';
REVOKE ALL ON FUNCTION webpush_cancel(bigint) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_cancel(bigint) TO webpush_sender;

-- Sending now, from this backend --------------------------------------------------------

-- One request to the push service, waited for; the outcome goes to
-- webpush.history too.
CREATE FUNCTION webpush_send_now(subscription_id bigint, payload text,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_id'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(bigint, text, integer, text, text) IS
    'Delivers one notification from this backend and returns the push service''s status and response';
REVOKE ALL ON FUNCTION webpush_send_now(bigint, text, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_now(bigint, text, integer, text, text) TO webpush_sender;

-- The payload as jsonb, as webpush_notification() returns it.
CREATE FUNCTION webpush_send_now(subscription_id bigint, payload jsonb,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_id_jsonb'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) IS
    'Delivers one notification whose payload is JSON to a stored subscription now, from this backend';
REVOKE ALL ON FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) TO webpush_sender;

CREATE FUNCTION webpush_send_now(subscription jsonb, payload text,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 application text DEFAULT 'default',
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_json'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) IS
    'Delivers one notification to a subscription object that need not be stored';
REVOKE ALL ON FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) TO webpush_sender;

CREATE FUNCTION webpush_send_now(subscription jsonb, payload jsonb,
                                 ttl integer DEFAULT 2419200,
                                 urgency text DEFAULT 'normal',
                                 topic text DEFAULT NULL,
                                 application text DEFAULT 'default',
                                 OUT status integer, OUT response text)
    AS 'MODULE_PATHNAME', 'webpush_send_now_json_jsonb'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) IS
    'Delivers one notification whose payload is JSON to a subscription object that need not be stored';
REVOKE ALL ON FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) TO webpush_sender;

-- Triggers without PL/pgSQL ---------------------------------------------------------------

-- webpush_notify('user_column', 'title', 'body', 'url', 'application'):
-- {column} in title, body and url takes the row's value.  A row without a
-- user sends nothing, and a body too long to send is shortened, so the
-- trigger never fails the transaction it is in for the row's data.
-- It has no SET clause, so that a firing pays for no search_path change:
-- it stores its rows without privilege checks, and runs any statement it
-- needs as its owner with search_path pinned.  The role whose statement
-- fires it must be allowed to use the application; EXECUTE is what lets a
-- role use it in CREATE TRIGGER.
CREATE FUNCTION webpush_notify() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webpush_notify'
    LANGUAGE C;
COMMENT ON FUNCTION webpush_notify() IS
    'Trigger: notifies the user named by a column of the row: webpush_notify(''user_id'', ''Title {col}'' [, ''body {col}'' [, ''/url/{id}'' [, ''application'' [, ''name=template'' options: icon, tag, lang, actions, source=orders/{id}, ...]]]])';
REVOKE ALL ON FUNCTION webpush_notify() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_notify() TO webpush_sender;

-- Tracing a user or a message -------------------------------------------------------

-- Every delivery of one user (in an application) or of one message: what
-- waits and why, and what became of the rest, newest first, including
-- deliveries to subscriptions deleted since.  For the roles that may use
-- the application (webpush_monitor does not see user ids); another
-- application's message looks absent.
CREATE FUNCTION webpush_trace(for_user text DEFAULT NULL, for_message bigint DEFAULT NULL,
                              application text DEFAULT 'default',
                              OUT message_id bigint, OUT subscription_id bigint,
                              OUT user_id text, OUT host text, OUT state text,
                              OUT status integer, OUT reason text, OUT attempts integer,
                              OUT queued_at timestamptz, OUT due_at timestamptz,
                              OUT finished_at timestamptz)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_trace'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_trace(text, bigint, text) IS
    'Every delivery of a user of the application (for_user) or of a message (for_message), waiting or finished: host, state (queued, scheduled, sending, retrying, delivered, failed, gone, expired, cancelled), status, reason, attempts and times';
REVOKE ALL ON FUNCTION webpush_trace(text, bigint, text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_trace(text, bigint, text) TO webpush_sender;

-- Workers ---------------------------------------------------------------------------------

-- The background workers and how often a COMMIT woke each: for monitoring,
-- and for telling whether something wakes them for nothing.  Not SECURITY
-- DEFINER; its search_path is pinned for the statements it runs.
CREATE FUNCTION webpush_workers(OUT worker integer, OUT database text,
                                OUT pid integer, OUT wakeups bigint)
    RETURNS SETOF record
    AS 'MODULE_PATHNAME', 'webpush_workers_list'
    LANGUAGE C VOLATILE STRICT
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_workers() IS
    'The webpush background workers: their database, pid (NULL when not running) and latch wake-ups';
REVOKE ALL ON FUNCTION webpush_workers() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_workers() TO webpush_monitor;

-- DROP EXTENSION ----------------------------------------------------------------------------

-- Dropping the extension deletes the keys and every subscription with it;
-- this says so, with the numbers and how to export the keys, before it
-- happens.  It runs under whoever drops, so its search_path is pinned.
CREATE FUNCTION webpush_drop_guard() RETURNS event_trigger
    AS 'MODULE_PATHNAME', 'webpush_drop_guard'
    LANGUAGE C
    SET search_path = pg_catalog, pg_temp;
REVOKE ALL ON FUNCTION webpush_drop_guard() FROM PUBLIC;
CREATE EVENT TRIGGER webpush_drop_guard ON ddl_command_start
    WHEN TAG IN ('DROP EXTENSION')
    EXECUTE FUNCTION webpush_drop_guard();

-- Receipts: what became of a notification in the browser -------------------
--
-- The builders (webpush_notification, webpush_notify) write "receipt": true
-- into the payload; the worker replaces it, for each recipient, with the
-- message's and the subscription's id.  The kit's service worker reports
-- shown, clicked (with the action) and closed to the application, whose
-- server records them with webpush_receipt() or webpush_receipts().  One
-- row per message, subscription and event: a receipt sent again is stored
-- once.  The rows go with their message when the worker purges it
-- (webpush.history_retention); pg_dump keeps none of them.
CREATE TABLE webpush.receipts (
    message_id      bigint NOT NULL
                    REFERENCES webpush.messages (id) ON DELETE CASCADE,
    subscription_id bigint NOT NULL,        -- 0 for a one-off send
    event           text NOT NULL
                    CHECK (event OPERATOR(pg_catalog.=) ANY (ARRAY['shown', 'clicked', 'closed'])),
    application     text NOT NULL,
    action          text,                   -- clicked: the button; NULL for the notification
    at              timestamptz NOT NULL,   -- when the browser saw it
    recorded_at     timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (message_id, subscription_id, event),
    CHECK (action IS NULL OR event OPERATOR(pg_catalog.=) 'clicked')
);
COMMENT ON TABLE webpush.receipts IS
    'Shown, clicked (with the action) and closed, per message and subscription, as the service worker reported them through the application';
COMMENT ON COLUMN webpush.receipts.action IS 'the action (button) clicked; NULL: the notification itself';
-- The per-application counts.
CREATE INDEX receipts_application_idx ON webpush.receipts (application, event);
REVOKE ALL ON webpush.receipts FROM PUBLIC;
GRANT SELECT ON webpush.receipts TO webpush_sender, webpush_monitor;

-- A sender sees the receipts of the applications it may use.
ALTER TABLE webpush.receipts ENABLE ROW LEVEL SECURITY;
CREATE POLICY receipts_of_role ON webpush.receipts FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(application));

-- Per message: how many recipients showed it, clicked it and closed it.
-- The columns come after those of webpush.message_status, which it
-- repeats, so that a reader of either sees the same message.
CREATE VIEW webpush.message_receipts WITH (security_barrier) AS
SELECT s.id, s.application, s.created_at, s.recipients, s.delivered,
       COALESCE(r.shown, 0) AS shown, COALESCE(r.clicked, 0) AS clicked,
       COALESCE(r.closed, 0) AS closed, c.actions, r.last_receipt_at
FROM webpush.message_status s
LEFT JOIN LATERAL (
    SELECT pg_catalog.count(*) FILTER (WHERE event OPERATOR(pg_catalog.=) 'shown') AS shown,
           pg_catalog.count(*) FILTER (WHERE event OPERATOR(pg_catalog.=) 'clicked') AS clicked,
           pg_catalog.count(*) FILTER (WHERE event OPERATOR(pg_catalog.=) 'closed') AS closed,
           pg_catalog.max(recorded_at) AS last_receipt_at
    FROM webpush.receipts WHERE message_id OPERATOR(pg_catalog.=) s.id) r ON true
LEFT JOIN LATERAL (
    -- Clicks per action ("" for the notification itself).
    SELECT pg_catalog.jsonb_object_agg(a.action, a.clicks) AS actions
    FROM (SELECT COALESCE(action, '') AS action, pg_catalog.count(*) AS clicks
            FROM webpush.receipts
           WHERE message_id OPERATOR(pg_catalog.=) s.id AND event OPERATOR(pg_catalog.=) 'clicked'
           GROUP BY 1) a) c ON true;
COMMENT ON VIEW webpush.message_receipts IS
    'Per message of the applications the reader may use: recipients, delivered, and how many showed, clicked and closed it';
REVOKE ALL ON webpush.message_receipts FROM PUBLIC;
GRANT SELECT ON webpush.message_receipts TO webpush_monitor, webpush_sender;

-- Per application: the receipts of the messages still kept.
CREATE VIEW webpush.application_receipts WITH (security_barrier) AS
SELECT a.name AS application,
       (SELECT pg_catalog.count(*) FROM webpush.receipts r
         WHERE r.application OPERATOR(pg_catalog.=) a.name
           AND r.event OPERATOR(pg_catalog.=) 'shown') AS shown,
       (SELECT pg_catalog.count(*) FROM webpush.receipts r
         WHERE r.application OPERATOR(pg_catalog.=) a.name
           AND r.event OPERATOR(pg_catalog.=) 'clicked') AS clicked,
       (SELECT pg_catalog.count(*) FROM webpush.receipts r
         WHERE r.application OPERATOR(pg_catalog.=) a.name
           AND r.event OPERATOR(pg_catalog.=) 'closed') AS closed
FROM webpush.applications a
WHERE pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(a.name);
COMMENT ON VIEW webpush.application_receipts IS
    'Per application the reader may use: shown, clicked and closed receipts of the messages still kept';
REVOKE ALL ON webpush.application_receipts FROM PUBLIC;
GRANT SELECT ON webpush.application_receipts TO webpush_monitor, webpush_sender;

-- Records one receipt; true when it was stored now.  A message the caller's
-- applications do not have, or one not queued for that subscription, is
-- ignored (false), as is a receipt already stored.
CREATE FUNCTION webpush_receipt(message_id bigint, subscription_id bigint, event text,
                                action text DEFAULT NULL, at timestamptz DEFAULT NULL)
    RETURNS boolean
    AS 'MODULE_PATHNAME', 'webpush_receipt'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_receipt(bigint, bigint, text, text, timestamptz) IS
    'Records that a notification was shown, clicked (with the action) or closed; true when stored now, false when already stored or not the caller''s';
REVOKE ALL ON FUNCTION webpush_receipt(bigint, bigint, text, text, timestamptz) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_receipt(bigint, bigint, text, text, timestamptz) TO webpush_sender;

-- The same for the array the kit's service worker posts:
-- [{"message": 12, "subscription": 34, "event": "clicked", "action": "reply", "at": 1767225600000}].
CREATE FUNCTION webpush_receipts(receipts jsonb) RETURNS integer
    AS 'MODULE_PATHNAME', 'webpush_receipts'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_receipts(jsonb) IS
    'Records the receipts the kit''s service worker posts ([{message, subscription, event, action, at}]); returns how many were stored now';
REVOKE ALL ON FUNCTION webpush_receipts(jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_receipts(jsonb) TO webpush_sender;
