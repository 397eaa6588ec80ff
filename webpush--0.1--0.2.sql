-- webpush--0.1--0.2.sql
--
-- 0.2 adds the payload builder for the browser kit (client/sw.js) and the
-- set-based broadcast webpush_send_many.  A fresh
-- CREATE EXTENSION webpush runs webpush--0.1.sql and then this script, so
-- new installs and upgrades end up with the same objects.

\echo Use "ALTER EXTENSION webpush UPDATE TO '0.2'" to load this file. \quit

-- Payloads -------------------------------------------------------------

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
                                     silent boolean DEFAULT NULL) RETURNS jsonb
    AS 'MODULE_PATHNAME', 'webpush_notification'
    LANGUAGE C IMMUTABLE PARALLEL SAFE;
COMMENT ON FUNCTION webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean) IS
    'Builds a notification payload ({"title", "body", "url", ...}) for client/sw.js; NULL arguments are omitted';
GRANT EXECUTE ON FUNCTION
    webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean)
TO PUBLIC;

-- Broadcast ------------------------------------------------------------

-- One notification to each subscription in the array, queued by a single
-- INSERT ... SELECT: the fast way to reach thousands.
CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload text,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_many_text'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_many(bigint[], text, integer, text, text) IS
    'Queues one notification to each listed subscription in one statement; ids that do not exist are skipped; returns how many were queued';
REVOKE ALL ON FUNCTION webpush_send_many(bigint[], text, integer, text, text) FROM PUBLIC;

CREATE FUNCTION webpush_send_many(subscription_ids bigint[], payload jsonb,
                                  ttl integer DEFAULT 2419200,
                                  urgency text DEFAULT 'normal',
                                  topic text DEFAULT NULL) RETURNS bigint
    AS 'MODULE_PATHNAME', 'webpush_send_many_jsonb'
    LANGUAGE C VOLATILE SECURITY DEFINER
    SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text) IS
    'Queues one JSON notification to each listed subscription in one statement; returns how many were queued';
REVOKE ALL ON FUNCTION webpush_send_many(bigint[], jsonb, integer, text, text) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION
    webpush_send_many(bigint[], text, integer, text, text),
    webpush_send_many(bigint[], jsonb, integer, text, text)
TO webpush_sender;
