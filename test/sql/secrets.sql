--
-- What row-level security does not hold back, a role that reads every
-- table (pg_read_all_data) reads too: ANALYZE's samples of each column, in
-- pg_statistic, and values stored out of their row, in the table's TOAST
-- table.  The columns that hold private keys, payloads, endpoints,
-- subscription keys and message locations have neither.  In a database of
-- its own, so that its ANALYZE leaves the other tests' plans alone.
--
SELECT current_database() AS home \gset
SET client_min_messages = warning;
DROP DATABASE IF EXISTS regression_webpush_secrets;
CREATE DATABASE regression_webpush_secrets TEMPLATE template0;
\c regression_webpush_secrets
SET client_min_messages = warning;
CREATE EXTENSION webpush;

-- A row in each table: keys, two subscriptions, a user's message and a
-- one-off send, a delivery's history and a recall.
SELECT length(webpush_keys()) AS public_key_length;
SELECT webpush_subscribe(jsonb_build_object(
           'endpoint', 'https://push.example.com/secrets/' || i,
           'keys', jsonb_build_object(
               'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
               'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'user-' || i) > 0 AS subscribed
FROM generate_series(1, 2) i;
SELECT (webpush_send_user('user-1', 'a secret')).recipients;
SELECT webpush_send(jsonb_build_object(
           'endpoint', 'https://push.example.com/secrets/once',
           'keys', jsonb_build_object(
               'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
               'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'another secret') > 0 AS one_off_queued;
INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, status, attempts,
                             created_at, application, user_id, location)
VALUES (1, 1, 'https://push.example.com/secrets/1', 'delivered', 201, 1, now(), 'default',
        'user-1', 'https://push.example.com/m/1');
INSERT INTO webpush.recalls (message_id, subscription_id, application, location, expires_at)
VALUES (1, 1, 'default', 'https://push.example.com/m/1', now() + interval '1 hour');

-- A trigger's long notification (3,000 bytes of base64, which compression
-- does not shrink, so that a TOAST table would take it out of the row)
-- stays in its row.
CREATE TABLE regress_long (user_id text, body text);
CREATE FUNCTION regress_send_long() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webpush_send_user(NEW.user_id, NEW.body);
  RETURN NEW;
END $$;
CREATE TRIGGER send_long AFTER INSERT ON regress_long FOR EACH ROW
    EXECUTE FUNCTION regress_send_long();
INSERT INTO regress_long
SELECT 'user-2', encode(decode(string_agg(md5(i::text), ''), 'hex'), 'base64')
FROM generate_series(1, 140) i;
SELECT count(*) AS long_payloads_queued FROM webpush.intake WHERE octet_length(payload) > 2500;
-- A one-off send of a long payload that compresses well: a row too long
-- for a page's quarter, whose other columns (the subscription's keys) a
-- TOAST table would take before it compresses the payload.
SELECT webpush_send(jsonb_build_object(
           'endpoint', 'https://push.example.com/secrets/long',
           'keys', jsonb_build_object(
               'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
               'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), repeat('secret payload ', 200)) > 0 AS long_one_off_queued;
-- No table of the extension has stored anything in its TOAST table.
SELECT c.relname AS toasted
FROM pg_class c
WHERE c.relnamespace = 'webpush'::regnamespace AND c.relkind = 'r' AND c.reltoastrelid <> 0
  AND pg_relation_size(c.reltoastrelid) > 0;

-- After ANALYZE, the secret columns have no samples; the others, which
-- the planner uses, have.
ANALYZE webpush.vapid_keys, webpush.subscriptions, webpush.messages, webpush.intake,
        webpush.history, webpush.recalls;
SELECT c.relname, a.attname, a.attstorage,
       EXISTS (SELECT FROM pg_statistic s
               WHERE s.starelid = a.attrelid AND s.staattnum = a.attnum) AS sampled
FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
WHERE c.relnamespace = 'webpush'::regnamespace AND c.relkind = 'r'
  AND (c.relname, a.attname) IN (('vapid_keys', 'private_key'), ('vapid_keys', 'application'),
                                 ('subscriptions', 'endpoint'), ('subscriptions', 'p256dh'),
                                 ('subscriptions', 'auth'), ('subscriptions', 'user_id'),
                                 ('messages', 'payload'), ('messages', 'endpoint'),
                                 ('messages', 'p256dh'), ('messages', 'auth'), ('messages', 'ttl'),
                                 ('intake', 'payload'), ('intake', 'user_id'),
                                 ('history', 'endpoint'), ('history', 'location'),
                                 ('history', 'outcome'),
                                 ('recalls', 'location'), ('recalls', 'application'))
ORDER BY 1, 2;

-- Samples ANALYZE took under 0.3, whose columns had statistics, and
-- values it stored out of their rows go with the update to 0.4.
\c :"home"
DROP DATABASE regression_webpush_secrets;
CREATE DATABASE regression_webpush_secrets TEMPLATE template0;
\c regression_webpush_secrets
SET client_min_messages = warning;
CREATE EXTENSION webpush VERSION '0.3';
INSERT INTO webpush.applications (name) VALUES ('default');
INSERT INTO webpush.vapid_keys (application, private_key, public_key, current)
SELECT 'default', decode(md5(i::text) || md5(i::text), 'hex'),
       decode('04' || repeat(md5(i::text), 4), 'hex'), i = 1
FROM generate_series(1, 3) i;
-- A subscription whose endpoint (1,900 bytes that do not compress) 0.3
-- stored out of its row.
INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, user_id, application, key_id)
SELECT 'https://push.example.com/' || encode(decode(string_agg(md5(i::text), ''), 'hex'), 'base64'),
       decode('04' || repeat(md5('p'), 4), 'hex'), decode(md5('a'), 'hex'), 'user-1', 'default',
       (SELECT id FROM webpush.vapid_keys WHERE current)
FROM generate_series(1, 88) i;
SELECT reltoastrelid::regclass AS subscriptions_toast FROM pg_class
WHERE oid = 'webpush.subscriptions'::regclass \gset
SELECT count(*) > 0 AS endpoint_toasted_in_0_3 FROM :subscriptions_toast;
ANALYZE webpush.vapid_keys;
SELECT count(*) AS private_key_samples_in_0_3 FROM pg_statistic
WHERE starelid = 'webpush.vapid_keys'::regclass
  AND staattnum = (SELECT attnum FROM pg_attribute
                   WHERE attrelid = 'webpush.vapid_keys'::regclass AND attname = 'private_key');
ALTER EXTENSION webpush UPDATE;
SELECT count(*) AS private_key_samples_in_0_4 FROM pg_statistic
WHERE starelid = 'webpush.vapid_keys'::regclass
  AND staattnum = (SELECT attnum FROM pg_attribute
                   WHERE attrelid = 'webpush.vapid_keys'::regclass AND attname = 'private_key');
SELECT count(*) AS endpoint_toasted_in_0_4 FROM :subscriptions_toast;
SELECT octet_length(endpoint) AS endpoint_length FROM webpush.subscriptions;

\c :"home"
DROP DATABASE regression_webpush_secrets;
