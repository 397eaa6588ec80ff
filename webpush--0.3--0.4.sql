-- webpush--0.3--0.4.sql
--
-- 0.4 gives applications their roles: a role subscribes, sends, cancels
-- and sees the messages of only the applications it was granted, so that
-- one site's sender cannot read another's notifications.  Every table gets
-- a primary key, so that a FOR ALL TABLES publication (logical
-- replication, CDC) leaves delivery working.  The views bind only
-- pg_catalog's operators and functions, whatever search_path the script
-- runs under.

\echo Use "ALTER EXTENSION webpush UPDATE TO '0.4'" to load this file. \quit

-- The roles ----------------------------------------------------------------

-- Earlier versions took a webpush_sender or webpush_monitor that existed
-- already as it was.  0.4 uses one only when it cannot log in and no role
-- but a superuser administers it, as CREATE EXTENSION does
-- (webpush--0.4.sql): a role with CREATEROLE could otherwise have made
-- them first and keep a hand on what they are granted.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['webpush_sender', 'webpush_monitor'] LOOP
        IF EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname OPERATOR(pg_catalog.=) r AND rolcanlogin)
           OR EXISTS (SELECT FROM pg_catalog.pg_auth_members m
                      JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.member
                      JOIN pg_catalog.pg_roles g ON g.oid OPERATOR(pg_catalog.=) m.roleid
                      WHERE g.rolname OPERATOR(pg_catalog.=) r AND m.admin_option AND NOT a.rolsuper) THEN
            RAISE EXCEPTION 'role "%" can log in or is administered by a role that is not a superuser', r
                USING ERRCODE = 'insufficient_privilege',
                      HINT = pg_catalog.format('A superuser checks who made it, runs ALTER ROLE %I NOLOGIN and revokes the ADMIN OPTION on it (REVOKE ADMIN OPTION FOR %I FROM ... CASCADE), then updates again.', r, r);
        END IF;
    END LOOP;
END
$$;

-- Who may use an application --------------------------------------------

-- A role may subscribe, send, cancel and watch messages in an application
-- when it has the privileges of a role listed here for it (superusers
-- always may).  An owner may also change the application's subject and
-- grant it to other roles.  "default" is granted to webpush_sender when it
-- is created, so that a single site needs no grant; a superuser may revoke
-- that.  Changes go through webpush_application_grant() and
-- webpush_application_revoke(); each backend caches what it checked and the
-- trigger below tells them all when to forget it.
CREATE TABLE webpush.application_roles (
    application text NOT NULL
        REFERENCES webpush.applications ON UPDATE CASCADE ON DELETE CASCADE,
    role        regrole NOT NULL,
    owner       boolean NOT NULL DEFAULT false,
    granted_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
    PRIMARY KEY (application, role)
);
COMMENT ON TABLE webpush.application_roles IS
    'The roles that may use each application (subscribe, send, cancel, see its messages); owners may also grant it and set its subject';
REVOKE ALL ON webpush.application_roles FROM PUBLIC;
SELECT pg_catalog.pg_extension_config_dump('webpush.application_roles', '');

CREATE FUNCTION webpush_application_roles_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'webpush_application_roles_changed'
    LANGUAGE C;
REVOKE ALL ON FUNCTION webpush_application_roles_changed() FROM PUBLIC;
CREATE TRIGGER application_roles_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON webpush.application_roles
    FOR EACH STATEMENT EXECUTE FUNCTION webpush_application_roles_changed();

-- Today's single site keeps working: its "default" stays usable by
-- webpush_sender.  Other applications of a 0.3 database are granted to
-- nobody yet: until a superuser grants them, only superusers use them.
INSERT INTO webpush.application_roles (application, role)
SELECT name, 'webpush_sender'::pg_catalog.regrole
FROM webpush.applications
WHERE name OPERATOR(pg_catalog.=) 'default';
DO $$
DECLARE
    others text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.quote_literal(name), ', ' ORDER BY name)
      INTO others
      FROM webpush.applications
     WHERE name OPERATOR(pg_catalog.<>) 'default';
    IF others IS NOT NULL THEN
        RAISE NOTICE 'webpush applications % are now usable by superusers only', others
            USING HINT = 'Grant each to the roles that send for it: SELECT webpush_application_grant(''shop'', ''shop_sender'');';
    END IF;
END
$$;

CREATE FUNCTION webpush_application_grant(application text, role regrole,
                                          owner boolean DEFAULT false) RETURNS void
    AS 'MODULE_PATHNAME', 'webpush_application_grant'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_grant(text, regrole, boolean) IS
    'Lets a role (and its members) use an application; owner: it may also grant it and change its subject. Superusers, or the application''s owners (owner false only)';
CREATE FUNCTION webpush_application_revoke(application text, role regrole) RETURNS boolean
    AS 'MODULE_PATHNAME', 'webpush_application_revoke'
    LANGUAGE C VOLATILE
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_application_revoke(text, regrole) IS
    'Takes an application away from a role; true when it had it. Superusers, or the application''s owners (not from another owner)';
REVOKE ALL ON FUNCTION webpush_application_grant(text, regrole, boolean),
                       webpush_application_revoke(text, regrole) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION webpush_application_grant(text, regrole, boolean),
                          webpush_application_revoke(text, regrole) TO webpush_sender;

-- An application's owner may change its subject: webpush_application()
-- checks that itself.
GRANT EXECUTE ON FUNCTION webpush_application(text, text) TO webpush_sender;

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

-- What a sender sees of applications and subscriptions: only the
-- applications it may use.  Superusers, the extension's own functions
-- (which run as its owner) and the worker are not subject to these policies;
-- webpush_monitor sees every application, without endpoints or keys.
ALTER TABLE webpush.applications ENABLE ROW LEVEL SECURITY;
CREATE POLICY applications_of_role ON webpush.applications FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE') OR webpush.may_use(name));
-- No policy on the keys: pg_read_all_data reads none (webpush--0.4.sql).
ALTER TABLE webpush.vapid_keys ENABLE ROW LEVEL SECURITY;
-- Messages, history and intake: webpush_monitor's rows only (webpush--0.4.sql).
ALTER TABLE webpush.messages ENABLE ROW LEVEL SECURITY;
CREATE POLICY messages_for_monitor ON webpush.messages FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
ALTER TABLE webpush.history ENABLE ROW LEVEL SECURITY;
CREATE POLICY history_for_monitor ON webpush.history FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
ALTER TABLE webpush.intake ENABLE ROW LEVEL SECURITY;
CREATE POLICY intake_for_monitor ON webpush.intake FOR SELECT
    USING (pg_catalog.pg_has_role('webpush_monitor', 'USAGE'));
-- webpush_keys() makes a key only for a role that may use the application.
COMMENT ON FUNCTION webpush_keys(text) IS
    'The application''s current VAPID public key (base64url), for applicationServerKey; "default" and a first key pair are made on the first call by a role that may use the application';
ALTER TABLE webpush.subscriptions ENABLE ROW LEVEL SECURITY;
CREATE POLICY subscriptions_of_role ON webpush.subscriptions FOR SELECT
    USING (webpush.may_use(application));
GRANT SELECT (application, role, owner, granted_at) ON webpush.application_roles
    TO webpush_monitor;

-- The functions run for their caller ---------------------------------------

-- The functions that write the tables ran as their owner (SECURITY
-- DEFINER), which hid who called them.  They now switch to their owner
-- themselves and check the applications the caller may use against the
-- role that really called them; their search_path stays pinned.
ALTER FUNCTION webpush_keys(text) SECURITY INVOKER;
ALTER FUNCTION webpush_application(text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_keys_import(text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_keys_rotate(text) SECURITY INVOKER;
ALTER FUNCTION webpush_keys_retire(text, boolean) SECURITY INVOKER;
ALTER FUNCTION webpush_subscribe(jsonb, text, text, text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_unsubscribe(text) SECURITY INVOKER;
ALTER FUNCTION webpush_unsubscribe_user(text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_now(bigint, text, integer, text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_now(bigint, jsonb, integer, text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_now(jsonb, text, integer, text, text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_now(jsonb, jsonb, integer, text, text, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send(bigint, text, integer, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send(bigint, jsonb, integer, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send(bigint, bytea, integer, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send(jsonb, text, integer, text, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text) SECURITY INVOKER;
ALTER FUNCTION webpush_cancel(bigint) SECURITY INVOKER;

-- Functions that run statements under the caller's search_path ---------

-- These are not SECURITY DEFINER, but their statements must not meet an
-- operator a caller planted earlier in its search_path: pinned like the
-- others.
ALTER FUNCTION webpush_keys_export(text) SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION webpush_workers() SET search_path = pg_catalog, pg_temp;
ALTER FUNCTION webpush_drop_guard() SET search_path = pg_catalog, pg_temp;

-- Every table has a primary key or a replica identity -----------------

-- A publication FOR ALL TABLES makes UPDATE and DELETE need a replica
-- identity; without one the worker's first claim would fail.  A message has
-- at most one delivery per subscription, and this key is also the index by
-- message the worker and webpush_cancel use: the worker claims a
-- broadcast's recipients in its order, each claim from where the last
-- ended.
ALTER TABLE webpush.deliveries ADD PRIMARY KEY (message_id, subscription_id);
DROP INDEX webpush.deliveries_message_id_idx;
-- Half of each page left free, for the claim's update to stay on the page
-- (see webpush--0.4.sql); pages written from now on.
ALTER TABLE webpush.deliveries SET (fillfactor = 50);
-- The due messages in the order the worker claims them, ties included (a
-- statement's messages share their send_at): a claim reads as many as it
-- takes (see webpush--0.4.sql).  IF EXISTS: a DBA may have dropped or
-- renamed 0.3's (its name is then free, and a renamed one is left alone).
DROP INDEX IF EXISTS webpush.messages_pending_idx;
CREATE INDEX messages_pending_idx ON webpush.messages (send_at, id) WHERE pending;
-- The trigger's intake has no index (see webpush--0.4.sql): its rows are
-- deleted by ctid, and a publication identifies them by the whole row.
ALTER TABLE webpush.intake REPLICA IDENTITY FULL;
-- History rows are only inserted and purged: a key of their own, led by
-- the message, so that the key is also the index message_status reads.
ALTER TABLE webpush.history ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY (CACHE 64),
    ADD PRIMARY KEY (message_id, id);
DROP INDEX webpush.history_message_id_idx;
SELECT pg_catalog.pg_extension_config_dump(
    pg_catalog.pg_get_serial_sequence('webpush.history', 'id'), '');

-- The views, bound to pg_catalog ----------------------------------------

-- Every operator and function below is schema-qualified: a view binds them
-- when it is created, under whatever search_path CREATE EXTENSION or ALTER
-- EXTENSION runs with, and every role that reads it runs them.
DROP VIEW webpush.status_by_host;
DROP VIEW webpush.status;
DROP VIEW webpush.message_status;
DROP VIEW webpush.keys;

CREATE VIEW webpush.status AS
SELECT
    (SELECT pg_catalog.count(*) FROM webpush.deliveries d
       JOIN webpush.messages m ON m.id OPERATOR(pg_catalog.=) d.message_id
      WHERE d.claimed_by IS NULL AND d.attempts IS NULL
        AND m.send_at OPERATOR(pg_catalog.<=) pg_catalog.now())
      OPERATOR(pg_catalog.+) (SELECT pg_catalog.count(*) FROM webpush.intake) AS queued,
    (SELECT pg_catalog.count(*) FROM webpush.deliveries d
       JOIN webpush.messages m ON m.id OPERATOR(pg_catalog.=) d.message_id
      WHERE d.claimed_by IS NULL AND d.attempts IS NULL
        AND m.send_at OPERATOR(pg_catalog.>) pg_catalog.now()) AS scheduled,
    (SELECT pg_catalog.count(*) FROM webpush.deliveries
      WHERE claimed_by IS NULL AND attempts IS NOT NULL) AS retrying,
    (SELECT pg_catalog.count(*) FROM webpush.deliveries WHERE claimed_by IS NOT NULL) AS sending,
    (SELECT pg_catalog.count(*) FROM webpush.history
      WHERE outcome OPERATOR(pg_catalog.=) 'delivered') AS delivered,
    (SELECT pg_catalog.count(*) FROM webpush.history
      WHERE outcome OPERATOR(pg_catalog.=) 'failed') AS failed,
    (SELECT pg_catalog.count(*) FROM webpush.history
      WHERE outcome OPERATOR(pg_catalog.=) 'expired') AS expired,
    (SELECT pg_catalog.count(*) FROM webpush.history
      WHERE outcome OPERATOR(pg_catalog.=) 'cancelled') AS cancelled,
    (SELECT pg_catalog.round(pg_catalog.count(*)::numeric OPERATOR(pg_catalog./) 60.0, 1)
       FROM webpush.history
      WHERE outcome OPERATOR(pg_catalog.=) 'delivered'
        AND finished_at OPERATOR(pg_catalog.>)
            (pg_catalog.now() OPERATOR(pg_catalog.-) '1 minute'::interval)) AS delivered_per_second,
    (SELECT pg_catalog.min(m.created_at) FROM webpush.messages m
      WHERE EXISTS (SELECT FROM webpush.deliveries d
                    WHERE d.message_id OPERATOR(pg_catalog.=) m.id)) AS oldest_queued_at;
COMMENT ON VIEW webpush.status IS
    'Deliveries and history at a glance (queued counts each webpush_notify() row not yet taken in as one); delivered_per_second is the average over the last minute';

CREATE VIEW webpush.status_by_host AS
WITH items AS (
    SELECT pg_catalog.substring(COALESCE(s.endpoint, m.endpoint), '^https://([^/:?#]+)') AS host,
           CASE WHEN d.claimed_by IS NOT NULL THEN 'sending'
                WHEN d.attempts IS NOT NULL THEN 'retrying' ELSE 'queued' END AS what,
           d.last_error AS reason, d.next_attempt_at AS at
    FROM webpush.deliveries d
    JOIN webpush.messages m ON m.id OPERATOR(pg_catalog.=) d.message_id
    LEFT JOIN webpush.subscriptions s ON s.id OPERATOR(pg_catalog.=) d.subscription_id
    UNION ALL
    SELECT pg_catalog.substring(endpoint, '^https://([^/:?#]+)'), outcome, reason, finished_at
    FROM webpush.history
)
SELECT host,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'queued') AS queued,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'retrying') AS retrying,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'sending') AS sending,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'delivered') AS delivered,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'failed') AS failed,
       pg_catalog.count(*) FILTER (WHERE what OPERATOR(pg_catalog.=) 'expired') AS expired,
       (pg_catalog.array_agg(reason ORDER BY at DESC)
          FILTER (WHERE what OPERATOR(pg_catalog.=) ANY ('{failed,retrying,expired}'::text[])))[1]
          AS last_problem,
       pg_catalog.max(at)
          FILTER (WHERE what OPERATOR(pg_catalog.=) ANY ('{failed,retrying,expired}'::text[]))
          AS last_problem_at
FROM items
GROUP BY host;
COMMENT ON VIEW webpush.status_by_host IS
    'Delivery and history counts per push service host, with the latest problem and its time; host NULL: subscriptions removed before their deliveries were sent';

-- Per message, for the roles that may use its application (and
-- webpush_monitor): who it is for, what became of each recipient, and when.
-- A security barrier: a reader's own functions in a WHERE clause see only
-- the rows the view lets through.
CREATE VIEW webpush.message_status WITH (security_barrier) AS
SELECT m.id, m.application, m.created_at, m.send_at, m.expires_at, m.dedupe_key, m.recipients,
       COALESCE(d.queued, 0) AS queued, COALESCE(d.sending, 0) AS sending,
       COALESCE(h.delivered, 0) AS delivered, COALESCE(h.failed, 0) AS failed,
       COALESCE(h.expired, 0) AS expired, COALESCE(h.cancelled, 0) AS cancelled,
       h.first_delivered_at, h.last_delivered_at
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
    'Per message of the applications the reader may use: recipients, queued (or scheduled, or retrying), sending, delivered, failed, expired, cancelled, first and last delivery';

-- Each key, public half only, with how many subscriptions still use it,
-- for the applications the reader may use.
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

-- The whole-database views are for monitoring: they count every
-- application's traffic.  A sender watches its own messages in
-- webpush.message_status.
REVOKE ALL ON webpush.status, webpush.status_by_host, webpush.message_status, webpush.keys
    FROM PUBLIC;
GRANT SELECT ON webpush.status, webpush.status_by_host, webpush.message_status, webpush.keys
    TO webpush_monitor;
GRANT SELECT ON webpush.message_status, webpush.keys TO webpush_sender;

-- Notifications users can act on ------------------------------------------------

-- webpush_notification() gains actions, lang, dir, timestamp, renotify,
-- vibrate, app_badge, mutable, declarative and receipt.
-- Its new arguments change its signature, so the old function is dropped;
-- anything of the database's own made with it (a view, a generated column,
-- an index) would go with it, so the update stops and says what to do.
DO $$
DECLARE
    dependents text;
BEGIN
    SELECT pg_catalog.string_agg(pg_catalog.pg_describe_object(d.classid, d.objid, d.objsubid), ', ')
      INTO dependents
      FROM pg_catalog.pg_depend d
     WHERE d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_proc'::pg_catalog.regclass
       AND d.refobjid OPERATOR(pg_catalog.=)
           'webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean)'::pg_catalog.regprocedure
       AND d.deptype OPERATOR(pg_catalog.<>) 'e';
    IF dependents IS NOT NULL THEN
        RAISE EXCEPTION 'webpush 0.4 changes webpush_notification(), which % uses', dependents
            USING ERRCODE = 'dependent_objects_still_exist',
                  DETAIL = 'The function gains arguments (actions, lang, dir, timestamp, renotify, vibrate, app_badge, mutable, declarative, receipt), so the update replaces it.',
                  HINT = 'Drop those objects (for a generated column: ALTER TABLE ... ALTER COLUMN ... DROP EXPRESSION keeps its values), run ALTER EXTENSION webpush UPDATE, then create them again.';
    END IF;
END
$$;
DROP FUNCTION webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean);
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

-- Counters, status from shared memory, and the trace -------------------------

-- The history keeps whose each delivery was: its application, and the
-- user of its subscription, which a 404 or 410 deletes.
ALTER TABLE webpush.history ADD COLUMN application text, ADD COLUMN user_id text;
-- A user's outcomes, for webpush_trace(): kept when the subscription is gone.
CREATE INDEX history_user_idx ON webpush.history (application, user_id, finished_at)
    WHERE user_id IS NOT NULL;
COMMENT ON COLUMN webpush.history.user_id IS
    'the user the subscription belonged to when the delivery was last claimed by the worker, or cancelled; NULL for one-off sends and subscriptions removed before';
GRANT SELECT (application) ON webpush.history TO webpush_monitor;

-- The status views read counters and a snapshot of the queue in shared
-- memory instead of counting the history and the queue for every reader.
DROP VIEW webpush.status_by_host;
DROP VIEW webpush.status;

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

-- A trigger's messages keep the row they were sent for.
ALTER TABLE webpush.messages ADD COLUMN source text;
ALTER TABLE webpush.intake ADD COLUMN source text;
-- What a row sent (webpush_notify's source row): the application finds
-- and cancels it by this.
CREATE INDEX messages_source_idx ON webpush.messages (application, source)
    WHERE source IS NOT NULL;
COMMENT ON COLUMN webpush.messages.source IS
    'the row a webpush_notify() trigger sent it for, as its source row argument spells it (''orders/{id}''); NULL otherwise';
-- A cancel reaches a delivery in flight once it comes back to the queue.
ALTER TABLE webpush.messages ADD COLUMN cancelled_at timestamptz;
COMMENT ON COLUMN webpush.messages.cancelled_at IS
    'when webpush_cancel() cancelled it: a delivery in flight then that comes back to the queue (retried, handed back, its worker gone) is recorded as cancelled at its next claim, not sent';
GRANT SELECT (cancelled_at) ON webpush.messages TO webpush_monitor;
CREATE OR REPLACE VIEW webpush.message_status WITH (security_barrier) AS
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
COMMENT ON FUNCTION webpush_notify() IS
    'Trigger: notifies the user named by a column of the row: webpush_notify(''user_id'', ''Title {col}'' [, ''body {col}'' [, ''/url/{id}'' [, ''application'' [, ''name=template'' options: icon, tag, lang, actions, source=orders/{id}, ...]]]])';

-- Sends at a local time ---------------------------------------------------

-- Subscriptions and applications get a time zone, applications quiet
-- hours, deliveries their own due time, and webpush_send_user and
-- webpush_send_many a local_time.
ALTER TABLE webpush.applications ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
    CHECK (pg_catalog.octet_length(time_zone) OPERATOR(pg_catalog.<=) 64);
ALTER TABLE webpush.applications ADD COLUMN quiet_start time, ADD COLUMN quiet_end time,
    ADD CHECK ((quiet_start IS NULL) OPERATOR(pg_catalog.=) (quiet_end IS NULL)
               AND (quiet_start IS NULL OR quiet_start OPERATOR(pg_catalog.<>) quiet_end));
GRANT SELECT (time_zone, quiet_start, quiet_end) ON webpush.applications
    TO webpush_sender, webpush_monitor;
-- Frequency caps (webpush_application_frequency_cap): at most frequency_cap
-- messages delivered to a user per frequency_window, and what happens to
-- the rest (over_cap).
ALTER TABLE webpush.applications ADD COLUMN frequency_cap integer,
    ADD COLUMN frequency_window interval, ADD COLUMN over_cap text,
    ADD CHECK ((frequency_cap IS NULL) OPERATOR(pg_catalog.=) (frequency_window IS NULL)
               AND (frequency_cap IS NULL) OPERATOR(pg_catalog.=) (over_cap IS NULL)
               AND (frequency_cap IS NULL
                    OR (frequency_cap OPERATOR(pg_catalog.>=) 1
                        AND frequency_window OPERATOR(pg_catalog.>=) interval '1 second'
                        AND frequency_window OPERATOR(pg_catalog.<=) interval '31 days'
                        AND over_cap OPERATOR(pg_catalog.=) ANY (ARRAY['drop', 'defer']))));
GRANT SELECT (frequency_cap, frequency_window, over_cap) ON webpush.applications
    TO webpush_sender, webpush_monitor;
-- Rates (webpush_application_rate): requests a second, with a burst.
ALTER TABLE webpush.applications
    ADD COLUMN rate_per_second double precision
        CHECK (rate_per_second OPERATOR(pg_catalog.>=) 0.01
               AND rate_per_second OPERATOR(pg_catalog.<=) 1000000),
    ADD COLUMN rate_burst integer
        CHECK (rate_burst OPERATOR(pg_catalog.>=) 1
               AND rate_burst OPERATOR(pg_catalog.<=) 1000000),
    ADD CHECK ((rate_per_second IS NULL) OPERATOR(pg_catalog.=) (rate_burst IS NULL));
GRANT SELECT (rate_per_second, rate_burst) ON webpush.applications
    TO webpush_sender, webpush_monitor;
ALTER TABLE webpush.subscriptions ADD COLUMN time_zone text
    CHECK (pg_catalog.octet_length(time_zone) OPERATOR(pg_catalog.<=) 64);
GRANT SELECT (time_zone) ON webpush.subscriptions TO webpush_sender;
ALTER TABLE webpush.deliveries ADD COLUMN due_at timestamptz;
GRANT SELECT (due_at) ON webpush.deliveries TO webpush_monitor;
COMMENT ON COLUMN webpush.deliveries.due_at IS
    'a send at a local time: when this recipient''s local time comes, which its TTL counts from; NULL: the message''s send_at';
COMMENT ON COLUMN webpush.deliveries.next_attempt_at IS
    'when a retry (a notification handed back unsent, a send at a local time) is due; NULL for a first attempt, due at the message''s send_at';

DROP FUNCTION webpush_send_user(text, text, integer, text, text, text, timestamptz, text);
DROP FUNCTION webpush_send_user(text, jsonb, integer, text, text, text, timestamptz, text);
DROP FUNCTION webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text);
DROP FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text);

-- webpush_send_user has no SET clause: called from a row
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

-- The push message resource of a delivered message, for a cancel's DELETE.
ALTER TABLE webpush.history ADD COLUMN location text;
ALTER TABLE webpush.history ADD COLUMN key_id bigint;
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
COMMENT ON FUNCTION webpush_cancel(bigint) IS
    'Cancels the deliveries of a message that are not in flight (recorded as cancelled) and queues a DELETE (webpush.recalls) of each delivered copy a push service holds at its Location within the TTL; returns how many of both';

-- Secrets where no policy reaches: never sampled by ANALYZE, kept in
-- their row, not in a TOAST table (webpush--0.4.sql).
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
-- Values stored out of line before: SET STORAGE decides where the next
-- values go, not where the stored ones are, so each row that may have had
-- one (a row too long to be stored whole: over about 2 kB once
-- compressed) is written again, whole.  The TOAST table's old chunks are
-- dead once this commits.
UPDATE webpush.subscriptions s
   SET endpoint = s.endpoint OPERATOR(pg_catalog.||) '',
       p256dh = s.p256dh OPERATOR(pg_catalog.||) ''::pg_catalog.bytea,
       auth = s.auth OPERATOR(pg_catalog.||) ''::pg_catalog.bytea
 WHERE pg_catalog.pg_column_size(s.*) OPERATOR(pg_catalog.>) 1800;
UPDATE webpush.messages m
   SET payload = m.payload OPERATOR(pg_catalog.||) ''::pg_catalog.bytea,
       endpoint = m.endpoint OPERATOR(pg_catalog.||) '',
       p256dh = m.p256dh OPERATOR(pg_catalog.||) ''::pg_catalog.bytea,
       auth = m.auth OPERATOR(pg_catalog.||) ''::pg_catalog.bytea
 WHERE pg_catalog.pg_column_size(m.*) OPERATOR(pg_catalog.>) 1800;
UPDATE webpush.intake i
   SET payload = i.payload OPERATOR(pg_catalog.||) ''::pg_catalog.bytea,
       user_id = i.user_id OPERATOR(pg_catalog.||) '',
       source = i.source OPERATOR(pg_catalog.||) ''
 WHERE pg_catalog.pg_column_size(i.*) OPERATOR(pg_catalog.>) 1800;
UPDATE webpush.history h
   SET endpoint = h.endpoint OPERATOR(pg_catalog.||) '',
       location = h.location OPERATOR(pg_catalog.||) ''
 WHERE pg_catalog.pg_column_size(h.*) OPERATOR(pg_catalog.>) 1800;
UPDATE webpush.recalls r
   SET location = r.location OPERATOR(pg_catalog.||) ''
 WHERE pg_catalog.pg_column_size(r.*) OPERATOR(pg_catalog.>) 1800;
-- Samples ANALYZE took of them before: SET STATISTICS 0 keeps the next
-- ANALYZE from taking more, not the old ones from staying.
DELETE FROM pg_catalog.pg_statistic s
    USING pg_catalog.pg_attribute a, pg_catalog.pg_class c
    WHERE a.attrelid OPERATOR(pg_catalog.=) s.starelid
      AND a.attnum OPERATOR(pg_catalog.=) s.staattnum
      AND c.oid OPERATOR(pg_catalog.=) a.attrelid
      AND c.relnamespace OPERATOR(pg_catalog.=) 'webpush'::pg_catalog.regnamespace
      AND a.attstattarget OPERATOR(pg_catalog.=) 0;
