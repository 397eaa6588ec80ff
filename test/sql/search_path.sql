-- A database owner who is not a superuser plants operators and functions in
-- public, then waits for a superuser to install or update the extension
-- and to read its views and call its functions.  Nothing planted may run:
-- every operator and function the scripts bind is pg_catalog's (or the
-- extension's own), and every statement the C code runs under a caller's
-- search_path is pinned.
SELECT current_user AS superuser \gset
CREATE ROLE regress_db_owner LOGIN;
CREATE DATABASE regress_planted OWNER regress_db_owner;
\c regress_planted regress_db_owner

-- Every planted function calls this: it logs the call and, when a
-- superuser is the caller, makes the owner a superuser.
CREATE TABLE public.planted_calls (what text, caller name);
GRANT INSERT, SELECT ON public.planted_calls TO PUBLIC;
CREATE FUNCTION public.trap(what text) RETURNS void LANGUAGE plpgsql
    SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    INSERT INTO public.planted_calls VALUES (what, current_user);
    IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
        EXECUTE 'ALTER ROLE regress_db_owner SUPERUSER';
    END IF;
END
$$;

-- An operator in public for every common operator name and pair of types
-- that pg_catalog resolves: with the result type pg_catalog's choice has,
-- so that a view bound to it would still be created.  Pairs with an exact
-- match in pg_catalog are planted too: they win under a search_path that
-- puts public first.
DO $plant$
DECLARE
    op text;
    l text;
    r text;
    result text;
    n integer := 0;
    types text[] := ARRAY['smallint', 'integer', 'bigint', 'numeric', 'double precision',
                          'text', 'bytea', 'boolean', 'timestamptz', 'interval', 'oid',
                          'regrole', 'jsonb', 'text[]', 'bigint[]', 'name', '"char"', 'unknown'];
BEGIN
    FOREACH op IN ARRAY ARRAY['=', '<>', '<', '>', '<=', '>=', '+', '-', '*', '/', '%', '||',
                              '~', '~~', '!~', '~*', '@>', '<@', '&&', '->', '->>', '?']
    LOOP
        FOREACH l IN ARRAY types LOOP
            FOREACH r IN ARRAY types LOOP
                CONTINUE WHEN l = 'unknown' OR (r = 'unknown' AND op NOT IN ('=', '<>', '~', '~~', '||'));
                BEGIN
                    EXECUTE format('SELECT pg_catalog.format_type(pg_catalog.pg_typeof(NULL::%s %s %s)::oid, NULL)',
                                   l, op, CASE WHEN r = 'unknown' THEN '''x''' ELSE 'NULL::' || r END)
                       INTO result;
                EXCEPTION WHEN OTHERS THEN
                    CONTINUE;
                END;
                CONTINUE WHEN result IN ('unknown', 'anyelement', 'anyarray');
                n := n + 1;
                EXECUTE format('CREATE FUNCTION public.planted_op_%s(%s, %s) RETURNS %s LANGUAGE plpgsql'
                               ' SET search_path = pg_catalog, pg_temp AS'
                               ' $f$ BEGIN PERFORM public.trap(%L); RETURN NULL; END $f$',
                               n, l, CASE WHEN r = 'unknown' THEN 'text' ELSE r END, result,
                               format('%s %s %s', l, op, r));
                BEGIN
                    EXECUTE format('CREATE OPERATOR public.%s (LEFTARG = %s, RIGHTARG = %s, FUNCTION = public.planted_op_%s)',
                                   op, l, CASE WHEN r = 'unknown' THEN 'text' ELSE r END, n);
                EXCEPTION WHEN duplicate_function THEN
                    NULL;
                END;
            END LOOP;
        END LOOP;
    END LOOP;
END
$plant$;
SELECT count(*) > 1000 AS many_operators_planted
FROM pg_operator WHERE oprnamespace = 'public'::regnamespace;
-- What resolving the types above ran is not the extension's doing.
TRUNCATE public.planted_calls;

-- Functions of the names the scripts and statements call, with exact and
-- looser signatures.
CREATE FUNCTION public.now() RETURNS timestamptz LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('now()'); RETURN pg_catalog.now(); END $$;
CREATE FUNCTION public.round(bigint, integer) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('round(bigint, integer)'); RETURN 0; END $$;
CREATE FUNCTION public.round(numeric, bigint) RETURNS numeric LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('round(numeric, bigint)'); RETURN 0; END $$;
CREATE FUNCTION public.substring(text, text) RETURNS text LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('substring'); RETURN NULL; END $$;
CREATE FUNCTION public.length(text) RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('length(text)'); RETURN 0; END $$;
CREATE FUNCTION public.pg_has_role(name, text) RETURNS boolean LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('pg_has_role'); RETURN true; END $$;
CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('pg_notify'); END $$;
CREATE FUNCTION public.unnest(bigint[]) RETURNS SETOF bigint LANGUAGE plpgsql SET search_path = pg_catalog AS
    $$ BEGIN PERFORM public.trap('unnest'); END $$;

-- The superuser installs the extension under a search_path that tries
-- public first, then under PostgreSQL's own (where CREATE EXTENSION puts
-- the target schema, public, after pg_catalog).
\c regress_planted :superuser
SET search_path = public, pg_catalog;
CREATE EXTENSION webpush;
SET webpush.subject = 'mailto:ops@example.com';

-- Reading every view, calling the functions, under the hostile search_path
-- (the statements below use no operator of their own).
SELECT count(*) AS status_rows FROM webpush.status;
SELECT count(*) AS status_by_host_rows FROM webpush.status_by_host;
SELECT count(*) AS message_status_rows FROM webpush.message_status;
SELECT count(*) AS key_rows FROM webpush.keys;
SELECT webpush_keys() IS NOT NULL AS default_key;
SELECT webpush_application('shop', 'mailto:shop@example.com') IS NOT NULL AS shop_key;
SELECT webpush_application_grant('shop', 'regress_db_owner');
SELECT webpush_subscribe(jsonb_build_object('endpoint', 'https://push.example.com/planted/1',
                                            'keys', jsonb_build_object(
                                                'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                                                'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'alice') AS sub \gset
SELECT webpush_send(:sub, 'one') AS msg \gset
SELECT (webpush_send_user('alice', 'two')).recipients;
SELECT (webpush_send_many(ARRAY[:sub]::bigint[], 'three')).recipients;
SELECT webpush_cancel(:msg);
SELECT count(*) AS exported FROM webpush_keys_export();
SELECT (SELECT count(*) FROM webpush_workers()) IS NOT NULL AS workers_listed;
SELECT webpush_keys_rotate('shop') IS NOT NULL AS rotated;
SELECT webpush_application_revoke('shop', 'regress_db_owner');
CREATE TABLE public.orders (id int, user_id text);
CREATE TRIGGER orders_notify AFTER INSERT ON public.orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order {id}');
INSERT INTO public.orders VALUES (1, 'alice');
SELECT webpush_unsubscribe_user('alice');
SELECT webpush_notification('t', 'b', '/x') IS NOT NULL AS built;
SELECT webpush_encrypt('x', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                       'BTBZMqHH6r4Tts7J_aSIgg') IS NOT NULL AS encrypted;
RESET search_path;
-- Every operator and function that a view, a rule, a default, a constraint
-- or a policy of the extension binds is pg_catalog's, or the extension's.
SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS bound_by,
       pg_describe_object(d.refclassid, d.refobjid, 0) AS binds
FROM pg_depend d
LEFT JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_constraint'::regclass, 'pg_attrdef'::regclass,
                    'pg_policy'::regclass, 'pg_trigger'::regclass)
  AND (pg_identify_object(d.classid, d.objid, d.objsubid)).schema = 'webpush'
  AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
  AND COALESCE(p.pronamespace, o.oprnamespace) <> 'pg_catalog'::regnamespace
  AND NOT EXISTS (SELECT FROM pg_depend e
                  WHERE e.classid = d.refclassid AND e.objid = d.refobjid AND e.deptype = 'e'
                    AND e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'webpush'));

SET search_path = public, pg_catalog;
-- DROP EXTENSION runs the warning's event trigger under this search_path.
DROP TABLE public.orders;
SET client_min_messages = error;
DROP EXTENSION webpush;
RESET client_min_messages;

-- An update from 0.3 under the same search_path.
CREATE EXTENSION webpush VERSION '0.3';
ALTER EXTENSION webpush UPDATE;
SELECT count(*) AS status_rows FROM webpush.status;
SELECT count(*) AS status_by_host_rows FROM webpush.status_by_host;
SELECT count(*) AS message_status_rows FROM webpush.message_status;
SELECT count(*) AS key_rows FROM webpush.keys;
RESET search_path;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
-- Every operator and function that a view, a rule, a default, a constraint
-- or a policy of the extension binds is pg_catalog's, or the extension's.
SELECT DISTINCT pg_describe_object(d.classid, d.objid, d.objsubid) AS bound_by,
       pg_describe_object(d.refclassid, d.refobjid, 0) AS binds
FROM pg_depend d
LEFT JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
LEFT JOIN pg_operator o ON d.refclassid = 'pg_operator'::regclass AND o.oid = d.refobjid
WHERE d.classid IN ('pg_rewrite'::regclass, 'pg_constraint'::regclass, 'pg_attrdef'::regclass,
                    'pg_policy'::regclass, 'pg_trigger'::regclass)
  AND (pg_identify_object(d.classid, d.objid, d.objsubid)).schema = 'webpush'
  AND d.refclassid IN ('pg_proc'::regclass, 'pg_operator'::regclass)
  AND COALESCE(p.pronamespace, o.oprnamespace) <> 'pg_catalog'::regnamespace
  AND NOT EXISTS (SELECT FROM pg_depend e
                  WHERE e.classid = d.refclassid AND e.objid = d.refobjid AND e.deptype = 'e'
                    AND e.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'webpush'));

-- The role that planted them sends, under the search_path that tries them
-- first, in a session of its own: webpush_send_user has no SET clause, and
-- pins search_path itself where a statement runs.  A PL/pgSQL trigger's
-- first send looks the application's subject up by a statement; the next
-- are rows of webpush.intake; sends with a dedupe_key or a local_time are
-- statements; webpush_cancel takes an intake row in by one.
ALTER DATABASE regress_planted SET webpush.subject = 'mailto:ops@example.com';
GRANT webpush_sender TO regress_db_owner;
\c regress_planted regress_db_owner
SET search_path = public, pg_catalog;
SET client_min_messages = warning;   -- no worker serves this database
SELECT webpush_keys() IS NOT NULL AS default_key;
SELECT webpush_subscribe(jsonb_build_object('endpoint', 'https://push.example.com/planted/2',
                                            'keys', jsonb_build_object(
                                                'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
                                                'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'bob') IS NOT NULL AS subscribed;
CREATE TABLE public.owner_orders (id int, user_id text);
CREATE TABLE public.owner_sent (message_id bigint, recipients integer);
CREATE FUNCTION public.owner_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.owner_sent
    SELECT * FROM webpush_send_user(NEW.user_id,
        webpush_notification(pg_catalog.format('Order %s', NEW.id), 'body', '/orders',
                             actions => '[{"action": "a", "title": "A"}]', app_badge => 1,
                             "timestamp" => '2026-12-04 00:00+00', vibrate => ARRAY[100]));
    RETURN NEW;
END $$;
CREATE TRIGGER owner_orders_notify AFTER INSERT ON public.owner_orders FOR EACH ROW
    EXECUTE FUNCTION public.owner_notify();
INSERT INTO public.owner_orders VALUES (1, 'bob');
INSERT INTO public.owner_orders VALUES (2, 'bob');
SELECT (webpush_send_user('bob', 'once', dedupe_key => 'planted-1')).recipients;
SELECT (webpush_send_user('bob', 'once', dedupe_key => 'planted-1')).recipients;
SELECT (webpush_send_user('bob', 'at seven', local_time => '07:00')).recipients;
SELECT webpush_cancel(message_id) AS cancelled FROM public.owner_sent;
\c regress_planted :superuser
SELECT count(*) AS messages, sum(recipients) AS recipients,
       count(*) FILTER (WHERE convert_from(payload, 'UTF8') LIKE '%"Order %') AS from_trigger
FROM webpush.messages;
SELECT outcome, count(*) FROM webpush.history GROUP BY 1;

-- Nothing planted ran, and the owner is what it was.
SELECT what, caller FROM public.planted_calls;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_db_owner';

\c contrib_regression
DROP DATABASE regress_planted;
DROP ROLE regress_db_owner;
