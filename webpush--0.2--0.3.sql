-- webpush--0.2--0.3.sql
--
-- 0.3 tightens privileges: webpush_sender sends without reading what others
-- queued, a new role webpush_monitor watches without payloads or keys, and
-- an optional per-role limit caps how much one role may have queued.

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
