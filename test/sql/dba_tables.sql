-- What a DBA adds to webpush's queue tables holds for the rows the
-- extension stores without a SQL statement (a row trigger's row of
-- webpush.intake, a send's message and its deliveries) as it would for an
-- INSERT: CHECK constraints, unique indexes, row triggers, the defaults of
-- new columns, domains.  A column of another type than the extension's
-- makes it queue through SQL statements, which PostgreSQL checks.
SET webpush.subject = 'mailto:ops@example.com';
SET client_min_messages = warning;   -- no worker serves this database
-- dora has ten subscriptions (her deliveries are stored in a batch), eve
-- two (one by one).
CREATE TABLE regress.dba_subs AS
SELECT webpush_subscribe(regress.subscription('https://push.example.com/dba/' || i),
                         CASE WHEN i <= 10 THEN 'dora' ELSE 'eve' END) AS id
FROM generate_series(1, 12) i;
CREATE TABLE regress.dba_orders (id int, user_id text);
CREATE TRIGGER dba_orders_notify AFTER INSERT ON regress.dba_orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order {id}');
-- What each path stored.
CREATE VIEW regress.stored AS
    SELECT 'intake' AS tab, count(*) AS n FROM webpush.intake
    UNION ALL SELECT 'messages', count(*) FROM webpush.messages
    UNION ALL SELECT 'deliveries', count(*) FROM webpush.deliveries;
CREATE FUNCTION regress.stored() RETURNS text LANGUAGE sql AS $$
    SELECT string_agg(tab || ' ' || n, ', ') FROM regress.stored
$$;
CREATE FUNCTION regress.clear() RETURNS void LANGUAGE sql AS $$
    DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
$$;
CREATE FUNCTION regress.send_many(text) RETURNS integer LANGUAGE sql AS $$
    SELECT recipients::integer FROM webpush_send_many((SELECT array_agg(id) FROM regress.dba_subs), $1)
$$;
SELECT regress.clear();
-- The session's first firing checks the application's subject (and queues
-- as webpush_send_user does); each later one stores a row of webpush.intake.
INSERT INTO regress.dba_orders VALUES (0, 'dora');
SELECT regress.stored();
SELECT regress.clear();

-- A column of another type: queued through SQL statements, the values
-- coerced by PostgreSQL.
ALTER TABLE webpush.intake ALTER COLUMN ttl TYPE numeric;
INSERT INTO regress.dba_orders VALUES (1, 'dora');
INSERT INTO regress.dba_orders VALUES (2, 'dora');
SELECT regress.stored();
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'title' AS title, ttl, urgency, recipients
FROM webpush.messages ORDER BY id;
ALTER TABLE webpush.intake ALTER COLUMN ttl TYPE webpush.push_ttl USING ttl::integer;
INSERT INTO regress.dba_orders VALUES (3, 'dora');
SELECT user_id, ttl, urgency, convert_from(payload, 'UTF8')::jsonb ->> 'title' AS title
FROM webpush.intake;
SELECT regress.clear();
ALTER TABLE webpush.messages ALTER COLUMN ttl TYPE numeric;
SELECT recipients FROM webpush_send_user('dora', 'numeric ttl', ttl => 60);
SELECT regress.send_many('numeric ttl');
INSERT INTO regress.dba_orders VALUES (4, 'dora');
SELECT regress.stored();
SELECT convert_from(payload, 'UTF8') AS payload, ttl, pg_typeof(ttl) AS type, recipients
FROM webpush.messages ORDER BY id;
ALTER TABLE webpush.messages ALTER COLUMN ttl TYPE webpush.push_ttl USING ttl::integer;
SELECT regress.clear();
-- Views and the primary key use the deliveries' columns: a column of
-- another type under the name the extension sets is a new one, and the
-- statements leave the key's column NULL, which it refuses.
ALTER TABLE webpush.deliveries RENAME COLUMN subscription_id TO dba_subscription_id;
ALTER TABLE webpush.deliveries ADD COLUMN subscription_id numeric;
SELECT state, message FROM regress.try($$SELECT webpush_send_user('eve', 'x')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
SELECT regress.stored();
ALTER TABLE webpush.deliveries DROP COLUMN subscription_id;
ALTER TABLE webpush.deliveries RENAME COLUMN dba_subscription_id TO subscription_id;
-- A type the values cannot take: the statement's own clean error.
ALTER TABLE webpush.messages ALTER COLUMN urgency TYPE integer USING 0;
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'x')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
ALTER TABLE webpush.messages ALTER COLUMN urgency TYPE webpush.push_urgency USING 'normal';
SELECT regress.stored();

-- CHECK constraints stop the row: the statement fails with the
-- constraint's error, and nothing is stored.
ALTER TABLE webpush.intake ADD CONSTRAINT dba_not_dora CHECK (user_id <> 'dora');
SELECT state, message FROM regress.try($$INSERT INTO regress.dba_orders VALUES (10, 'dora')$$);
INSERT INTO regress.dba_orders VALUES (11, 'eve');
SELECT user_id FROM webpush.intake;
ALTER TABLE webpush.intake DROP CONSTRAINT dba_not_dora;
SELECT regress.clear();
ALTER TABLE webpush.messages ADD CONSTRAINT dba_ttl_day CHECK (ttl <= 86400);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'x')$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('eve', 'x')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
SELECT regress.stored();
SELECT recipients FROM webpush_send_user('eve', 'a day', ttl => 86400);
SELECT regress.stored();
ALTER TABLE webpush.messages DROP CONSTRAINT dba_ttl_day;
SELECT regress.clear();
-- A CHECK calling a function: planning inlines and folds functions, so a
-- function replaced between two sends changes what the second checks.
CREATE FUNCTION regress.ttl_ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 > 0 $$;
ALTER TABLE webpush.messages ADD CONSTRAINT dba_ttl_ok CHECK (regress.ttl_ok(ttl));
SELECT recipients FROM webpush_send_user('eve', 'long enough', ttl => 100);
CREATE OR REPLACE FUNCTION regress.ttl_ok(int) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT $1 > 1000 $$;
SELECT state, message FROM regress.try($$SELECT webpush_send_user('eve', 'too short', ttl => 100)$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_many((SELECT array_agg(id) FROM regress.dba_subs), 'too short', ttl => 100)$$);
SELECT regress.stored();
ALTER TABLE webpush.messages DROP CONSTRAINT dba_ttl_ok;
DROP FUNCTION regress.ttl_ok(int);
SELECT regress.clear();
-- A CHECK on the whole row holds for every send (what its evaluation keeps
-- for one call is not kept for the next).
ALTER TABLE webpush.messages ADD CONSTRAINT dba_whole_row CHECK (row_to_json(messages) IS NOT NULL);
SELECT recipients FROM webpush_send_user('eve', 'first');
SELECT recipients FROM webpush_send_user('eve', 'second');
SELECT recipients FROM webpush_send_many((SELECT array_agg(id) FROM regress.dba_subs), 'third');
ALTER TABLE webpush.messages DROP CONSTRAINT dba_whole_row;
SELECT regress.clear();
-- A send from inside a send (here from a CHECK's function, which runs as
-- the constraint is planned) is stored through SQL statements; so is the
-- outer one, once the error its function catches has made the table be
-- loaded, and the function run, a few times.  No crash, no endless loop.
CREATE FUNCTION regress.sends_once() RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF current_setting('regress.inside', true) IS DISTINCT FROM 'yes' THEN
        PERFORM set_config('regress.inside', 'yes', false);
        BEGIN
            PERFORM 1 / 0;
        EXCEPTION WHEN division_by_zero THEN NULL;
        END;
        PERFORM public.webpush_send_user('dora', 'from inside'::text);
        PERFORM set_config('regress.inside', 'no', false);
    END IF;
    RETURN 100000000;
END $$;
ALTER TABLE webpush.messages ADD CONSTRAINT dba_nested CHECK (ttl <= regress.sends_once()) NOT VALID;
SELECT recipients FROM webpush_send_user('eve', 'outside');
SELECT convert_from(payload, 'UTF8') AS payload, recipients, count(*) AS messages
FROM webpush.messages GROUP BY 1, 2 ORDER BY 1;
ALTER TABLE webpush.messages DROP CONSTRAINT dba_nested;
DROP FUNCTION regress.sends_once();
SELECT regress.clear();
ALTER TABLE webpush.deliveries ADD CONSTRAINT dba_no_retries CHECK (attempts IS NOT NULL);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'x')$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('eve', 'x')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
SELECT regress.stored();
ALTER TABLE webpush.deliveries DROP CONSTRAINT dba_no_retries;
-- A NOT NULL a DBA adds holds too.
ALTER TABLE webpush.deliveries ALTER COLUMN last_error SET NOT NULL;
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
ALTER TABLE webpush.deliveries ALTER COLUMN last_error DROP NOT NULL;
-- The first firing of a session queues through webpush.messages: a CHECK
-- there stops it.
ALTER TABLE webpush.messages ADD CONSTRAINT dba_no_titles
    CHECK (convert_from(payload, 'UTF8') NOT LIKE '%title%');
\c -
SET client_min_messages = warning;
SELECT state, message FROM regress.try($$INSERT INTO regress.dba_orders VALUES (12, 'dora')$$);
SELECT regress.stored();
ALTER TABLE webpush.messages DROP CONSTRAINT dba_no_titles;
INSERT INTO regress.dba_orders VALUES (13, 'dora');
SELECT regress.clear();

-- A domain's CHECK holds for the columns of that domain.
ALTER DOMAIN webpush.push_ttl ADD CONSTRAINT dba_ttl_week CHECK (VALUE <= 604800) NOT VALID;
SELECT state, message FROM regress.try($$INSERT INTO regress.dba_orders VALUES (20, 'dora')$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'x')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('x')$$);
SELECT regress.stored();
ALTER DOMAIN webpush.push_ttl DROP CONSTRAINT dba_ttl_week;

-- Row triggers fire, for every row each path stores.
CREATE TABLE regress.audit (tab text, row_data text);
CREATE FUNCTION regress.audit() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress.audit VALUES (TG_TABLE_NAME, TG_WHEN);
    RETURN NEW;
END $$;
CREATE TRIGGER dba_audit AFTER INSERT ON webpush.intake FOR EACH ROW EXECUTE FUNCTION regress.audit();
CREATE TRIGGER dba_audit AFTER INSERT ON webpush.messages FOR EACH ROW EXECUTE FUNCTION regress.audit();
CREATE TRIGGER dba_audit AFTER INSERT ON webpush.deliveries FOR EACH ROW EXECUTE FUNCTION regress.audit();
INSERT INTO regress.dba_orders VALUES (30, 'dora'), (31, 'eve');
SELECT tab, row_data, count(*) FROM regress.audit GROUP BY 1, 2 ORDER BY 1, 2;
DELETE FROM regress.audit;
SELECT recipients FROM webpush_send_user('dora', 'audited');
SELECT recipients FROM webpush_send_user('eve', 'audited');
SELECT tab, row_data, count(*) FROM regress.audit GROUP BY 1, 2 ORDER BY 1, 2;
DELETE FROM regress.audit;
SELECT regress.send_many('audited');
SELECT tab, row_data, count(*) FROM regress.audit GROUP BY 1, 2 ORDER BY 1, 2;
DELETE FROM regress.audit;
-- BEFORE ROW triggers too: they may change the row, or skip it.
CREATE TRIGGER dba_audit_before BEFORE INSERT ON webpush.deliveries FOR EACH ROW
    EXECUTE FUNCTION regress.audit();
CREATE FUNCTION regress.skip_quiet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF convert_from(NEW.payload, 'UTF8') = 'quiet' THEN
        RETURN NULL;
    END IF;
    NEW.topic := 'dba';
    RETURN NEW;
END $$;
CREATE TRIGGER dba_skip_quiet BEFORE INSERT ON webpush.messages FOR EACH ROW
    EXECUTE FUNCTION regress.skip_quiet();
SELECT regress.clear();
SELECT regress.send_many('loud');
SELECT * FROM webpush_send_user('dora', 'quiet');
SELECT tab, row_data, count(*) FROM regress.audit GROUP BY 1, 2 ORDER BY 1, 2;
SELECT convert_from(payload, 'UTF8') AS payload, topic, recipients,
       (SELECT count(*) FROM webpush.deliveries d WHERE d.message_id = m.id) AS deliveries
FROM webpush.messages m;
DROP TRIGGER dba_skip_quiet ON webpush.messages;
DROP TRIGGER dba_audit_before ON webpush.deliveries;
DROP TRIGGER dba_audit ON webpush.intake;
DROP TRIGGER dba_audit ON webpush.messages;
DROP TRIGGER dba_audit ON webpush.deliveries;
SELECT regress.clear();

-- Unique indexes are enforced.
CREATE UNIQUE INDEX dba_one_per_user ON webpush.intake (user_id);
INSERT INTO regress.dba_orders VALUES (40, 'dora');
SELECT state, message FROM regress.try($$INSERT INTO regress.dba_orders VALUES (41, 'dora')$$);
SELECT regress.stored();
DROP INDEX webpush.dba_one_per_user;
SELECT regress.clear();
CREATE UNIQUE INDEX dba_one_each ON webpush.deliveries (subscription_id);
SELECT regress.send_many('first');
SELECT state, message FROM regress.try($$SELECT regress.send_many('second')$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'second')$$);
SELECT state, message FROM regress.try($$SELECT webpush_send_user('eve', 'second')$$);
SELECT regress.stored();
DROP INDEX webpush.dba_one_each;
SELECT regress.clear();
CREATE UNIQUE INDEX dba_once ON webpush.messages (md5(payload));
SELECT recipients FROM webpush_send_user('eve', 'once');
SELECT state, message FROM regress.try($$SELECT webpush_send_user('dora', 'once')$$);
SELECT state, message FROM regress.try($$SELECT regress.send_many('once')$$);
SELECT regress.stored();
DROP INDEX webpush.dba_once;
SELECT regress.clear();
-- Partial indexes hold exactly the rows their predicates take, the
-- extension's (messages waiting to be sent) and a DBA's, whichever path
-- stored the row: each index, read alone, finds what a scan of the table
-- finds.  A second index on the same predicate's column with another
-- predicate shows that each index runs its own.
CREATE INDEX dba_short_ttl ON webpush.messages (ttl) WHERE ttl < 3600;
CREATE INDEX dba_long_ttl ON webpush.messages (ttl) WHERE ttl >= 3600;
SELECT recipients FROM webpush_send_user('eve', 'short', ttl => 60);
SELECT recipients FROM webpush_send_user('eve', 'long', ttl => 86400);
SELECT recipients FROM webpush_send_many((SELECT array_agg(id) FROM regress.dba_subs), 'short too', ttl => 60);
CREATE FUNCTION regress.count_by_index(condition text) RETURNS bigint LANGUAGE plpgsql
SET enable_seqscan = off SET enable_bitmapscan = off AS $$
DECLARE n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM webpush.messages WHERE ' || condition INTO n;
    RETURN n;
END $$;
CREATE FUNCTION regress.count_by_scan(condition text) RETURNS bigint LANGUAGE plpgsql
SET enable_indexscan = off SET enable_indexonlyscan = off SET enable_bitmapscan = off AS $$
DECLARE n bigint;
BEGIN
    EXECUTE 'SELECT count(*) FROM webpush.messages WHERE ' || condition INTO n;
    RETURN n;
END $$;
SELECT c.condition, regress.count_by_index(c.condition) AS by_index,
       regress.count_by_scan(c.condition) AS by_scan
FROM (VALUES ('pending AND send_at > ''-infinity'''),
             ('ttl < 3600 AND ttl > -1'), ('ttl >= 3600 AND ttl > -1')) AS c(condition);
DROP FUNCTION regress.count_by_index(text), regress.count_by_scan(text);
DROP INDEX webpush.dba_short_ttl, webpush.dba_long_ttl;
SELECT regress.clear();

-- New columns get their defaults (a volatile one too, row by row).
ALTER TABLE webpush.intake ADD COLUMN dba_source text NOT NULL DEFAULT 'shop';
ALTER TABLE webpush.messages ADD COLUMN dba_tenant text DEFAULT 'acme';
ALTER TABLE webpush.deliveries ADD COLUMN dba_seq bigserial;
INSERT INTO regress.dba_orders VALUES (50, 'dora');
SELECT user_id, dba_source FROM webpush.intake;
SELECT recipients FROM webpush_send_user('dora', 'defaults');
SELECT recipients FROM webpush_send_user('eve', 'defaults');
SELECT regress.send_many('defaults');
SELECT convert_from(payload, 'UTF8') AS payload, dba_tenant, pending, created_at IS NOT NULL AS created
FROM webpush.messages ORDER BY id;
SELECT count(*) AS deliveries, count(DISTINCT dba_seq) AS distinct_seq, min(dba_seq) > 0 AS seq_set
FROM webpush.deliveries;
SELECT regress.clear();
ALTER TABLE webpush.intake DROP COLUMN dba_source;
ALTER TABLE webpush.messages DROP COLUMN dba_tenant;
ALTER TABLE webpush.deliveries DROP COLUMN dba_seq;

-- What a DBA adds to webpush.intake runs as webpush_notify's owner, with
-- search_path pinned, whichever role's INSERT fired the trigger.
CREATE ROLE regress_dba_clerk IN ROLE webpush_sender;
GRANT INSERT ON regress.dba_orders TO regress_dba_clerk;
CREATE TABLE regress.dba_who (who text, path text);
GRANT INSERT ON regress.dba_who TO regress_dba_clerk;
CREATE FUNCTION regress.dba_who() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO regress.dba_who VALUES (current_user, current_setting('search_path'));
    RETURN NULL;
END $$;
CREATE TRIGGER dba_who AFTER INSERT ON webpush.intake FOR EACH ROW EXECUTE FUNCTION regress.dba_who();
SET ROLE regress_dba_clerk;
SET search_path = public;
INSERT INTO regress.dba_orders VALUES (70, 'dora');
INSERT INTO regress.dba_orders VALUES (71, 'dora');
RESET ROLE;
RESET search_path;
SELECT who = (SELECT proowner::regrole::text FROM pg_proc WHERE oid = 'webpush_notify'::regproc) AS as_owner,
       path, count(*)
FROM regress.dba_who GROUP BY 1, 2;
DROP TRIGGER dba_who ON webpush.intake;
SELECT regress.clear();
-- Without it, the row goes in as the clerk's INSERT fired it, though the
-- clerk may not write webpush.intake itself.
SET ROLE regress_dba_clerk;
INSERT INTO regress.dba_orders VALUES (72, 'dora');
SELECT state FROM regress.try($$INSERT INTO webpush.intake SELECT * FROM webpush.intake$$);
RESET ROLE;
SELECT user_id FROM webpush.intake;
SELECT regress.clear();
DROP TABLE regress.dba_who;
DROP FUNCTION regress.dba_who();
REVOKE ALL ON regress.dba_orders FROM regress_dba_clerk;
DROP ROLE regress_dba_clerk;

-- And as the tables were: the trigger stores a row of webpush.intake, the
-- sends their message and deliveries.
INSERT INTO regress.dba_orders VALUES (60, 'dora');
SELECT recipients FROM webpush_send_user('dora', 'as before');
SELECT regress.send_many('as before');
SELECT regress.stored();
SELECT regress.clear();
RESET client_min_messages;
DROP TABLE regress.dba_orders, regress.dba_subs, regress.audit;
DROP VIEW regress.stored;
DROP FUNCTION regress.stored(), regress.clear(), regress.send_many(text), regress.audit(),
    regress.skip_quiet();
SELECT count(*) FILTER (WHERE webpush_unsubscribe('https://push.example.com/dba/' || i)) AS unsubscribed
FROM generate_series(1, 12) i;
