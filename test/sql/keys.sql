-- The VAPID key pair: generation, stability, import formats, privileges.

-- Generated on first call: a 65-byte uncompressed point, 87 characters.
SELECT length(webpush_keys()) AS characters,
       length(regress.b64url_decode(webpush_keys())) AS bytes,
       get_byte(regress.b64url_decode(webpush_keys()), 0) AS point_format;
-- Stable afterwards.
SELECT webpush_keys() = webpush_keys() AS stable,
       (SELECT count(*) FROM webpush.vapid_keys) AS pairs;
-- The stored public key matches the stored private key.
SELECT regress.b64url(public_key) = webpush_keys() AS stored FROM webpush.vapid_keys;

-- Import the private key as npm web-push prints it (base64url of the raw
-- scalar).  This is the RFC 8291 example sender key, whose public key is known.
SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw');
SELECT webpush_keys() = 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8' AS imported;

-- The same key as standard base64 with padding, and with stray whitespace.
SELECT webpush_keys_import(E'  yfWPiYE+n46HLnH0KqZOF1fJJU3MYrct3AELtAQ+oRw=\n');
-- SEC1 PEM ("EC PRIVATE KEY") and PKCS#8 PEM ("PRIVATE KEY") of the same key.
SELECT webpush_keys_import('-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIMn1j4mBPp+Ohy5x9CqmThdXySVNzGK3LdwBC7QEPqEcoAoGCCqGSM49
AwEHoUQDQgAE/jP0qw3qcZFNtVgj9ztUlI9BMG2SBzLbuaWaUyhkgiAOWXp7e8Jg
uhwieZhYCZLpOXMALzASooro8Gu7eOXsDw==
-----END EC PRIVATE KEY-----
');
SELECT webpush_keys_import('-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgyfWPiYE+n46HLnH0
KqZOF1fJJU3MYrct3AELtAQ+oRyhRANCAAT+M/SrDepxkU21WCP3O1SUj0EwbZIH
Mtu5pZpTKGSCIA5Zent7wmC6HCJ5mFgJkuk5cwAvMBKiiujwa7t45ewP
-----END PRIVATE KEY-----');
-- The same key imported three ways is one key; the generated one stays as
-- the older key of "default".
SELECT count(*) AS pairs FROM webpush.vapid_keys;

-- Importing while subscriptions exist keeps them on the key they were made
-- with, and says so.
SELECT webpush_keys_rotate() <> 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8' AS rotated;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/keys-test')) > 0 AS subscribed;
SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw');
SELECT webpush_unsubscribe('https://push.example.com/keys-test');

-- Bad keys: each fails, and the stored pair is unchanged.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_keys_import('')$$),
    ($$SELECT webpush_keys_import('not a key!')$$),
    -- the public key instead of the private one
    ($$SELECT webpush_keys_import('BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8')$$),
    -- 31 bytes
    ($$SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oQ')$$),
    -- zero, and the group order: not valid scalars
    ($$SELECT webpush_keys_import('AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA')$$),
    ($$SELECT webpush_keys_import('_____wAAAAD__________7zm-q2nF56E87nKwvxjJVE')$$),
    ($$SELECT webpush_keys_import(NULL)$$),
    -- a P-384 key and an Ed25519 key
    ($$SELECT webpush_keys_import('-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDCEOgDjpnQm7ICQvzw+
vTxpytzASVumDsAWpFtk0TAg7zanzvWQ7XsF9+rCn5KPObyhZANiAASp/wdM7O7+
2Y1eq+ST7mdXVzHvXfYZInbcE1I0RjMm0V/KUGcHapIHz2mRNoxt+fBomKY7vE4d
05YDJxYxC7sIfgORh+3rc+h745GCYBHJlBtgXhNIU0ynTlcL1GkWhRc=
-----END PRIVATE KEY-----')$$),
    ($$SELECT webpush_keys_import('-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIOfygQ/jO9yFshW8VcLFUJqnJiofa0fv+Yyz7sTC/SqD
-----END PRIVATE KEY-----')$$),
    ($$SELECT webpush_keys_import('-----BEGIN PRIVATE KEY-----
garbage
-----END PRIVATE KEY-----')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT webpush_keys() = 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8' AS unchanged;

-- Privileges: an ordinary role gets the public key and nothing else.
CREATE ROLE regress_webpush_app;
SET ROLE regress_webpush_app;
SELECT webpush_keys() = 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8' AS public_key_readable;
\x on
SELECT t.call, r.state, r.message
FROM (VALUES
    ($$SELECT private_key FROM webpush.vapid_keys$$),
    ($$SELECT * FROM webpush.subscriptions$$),
    ($$SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw')$$),
    ($$SELECT webpush_subscribe(regress.subscription())$$),
    ($$SELECT webpush_unsubscribe('https://push.example.com/send/abc')$$),
    ($$SELECT webpush_encrypt('x', 'a', 'b')$$),
    ($$SELECT webpush_send_now(1, 'x')$$),
    ($$SELECT webpush_send_now(regress.subscription(), 'x')$$),
    ($$SET webpush.allow_private_endpoints = on$$),
    ($$SET webpush.ca_file = '/tmp/evil.pem'$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
RESET ROLE;

-- Not even a grant of the table (what pg_read_all_data gives on every
-- table and schema) reads a key: webpush.vapid_keys has row-level security
-- and no policy.
GRANT USAGE ON SCHEMA webpush TO regress_webpush_app;
GRANT SELECT ON webpush.vapid_keys TO regress_webpush_app;
SET ROLE regress_webpush_app;
SELECT count(*) AS keys_read FROM webpush.vapid_keys;
RESET ROLE;
REVOKE SELECT ON webpush.vapid_keys FROM regress_webpush_app;
REVOKE USAGE ON SCHEMA webpush FROM regress_webpush_app;

-- An ordinary role reads a public key but makes none: not an application's
-- first key, nor "default" once a superuser deleted it.
SELECT webpush_application('regress-keyless', 'mailto:ops@example.com') IS NOT NULL AS created;
DELETE FROM webpush.vapid_keys WHERE application = 'regress-keyless';
BEGIN;
DELETE FROM webpush.application_roles WHERE application = 'default';
DELETE FROM webpush.vapid_keys WHERE application = 'default';
DELETE FROM webpush.applications WHERE name = 'default';
SET ROLE regress_webpush_app;
\x on
SELECT t.call, r.state, r.message
FROM (VALUES
    ($$SELECT webpush_keys('regress-keyless')$$),
    ($$SELECT webpush_keys()$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
RESET ROLE;
SELECT count(*) AS keys_made FROM webpush.vapid_keys WHERE application IN ('regress-keyless', 'default');
SELECT count(*) AS default_made FROM webpush.applications WHERE name = 'default';
ROLLBACK;
-- A role that may use it makes the first key, as before.
SELECT webpush_keys('regress-keyless') IS NOT NULL AS first_key;
DELETE FROM webpush.vapid_keys WHERE application = 'regress-keyless';
DELETE FROM webpush.applications WHERE name = 'regress-keyless';
DROP ROLE regress_webpush_app;

-- Every SECURITY DEFINER function pins search_path.
SELECT p.oid::regprocedure AS unpinned_security_definer
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webpush'
WHERE p.prosecdef
  AND NOT EXISTS (SELECT 1 FROM unnest(p.proconfig) c WHERE c LIKE 'search_path=%');

-- Only webpush_keys(), the payload builder webpush_notification() and
-- webpush.local_time(), which read and send nothing, are executable by
-- PUBLIC.
SELECT p.oid::regprocedure::text AS public_function
FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.deptype = 'e'
JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'webpush'
WHERE has_function_privilege('public', p.oid, 'EXECUTE')
ORDER BY p.oid::regprocedure::text COLLATE "C";

-- pg_dump keeps the key pair and the subscriptions (config tables).  By
-- name: the OIDs' order is the order of creation, which differs between a
-- fresh install and an updated one.
SELECT c::regclass::text AS dumped FROM pg_extension, unnest(extconfig) AS c
WHERE extname = 'webpush' ORDER BY c::regclass::text COLLATE "C";

-- The role model.  webpush_sender subscribes, sends and unsubscribes by
-- endpoint; it sees which subscriptions exist and whose they are, but not
-- their endpoints or keys, nor anyone's queued payloads, nor the private key
-- or the security settings.
CREATE ROLE regress_webpush_sender IN ROLE webpush_sender;
SET ROLE regress_webpush_sender;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/sender'), 'erin') AS sender_sub \gset
SELECT webpush_send(:sender_sub, 'hi') > 0 AS can_queue;
SELECT (webpush_send_user('erin', 'hi')).recipients AS can_queue_for_user;
SELECT count(*) AS own_subscriptions FROM (SELECT id, user_id FROM webpush.subscriptions WHERE user_id = 'erin') s;
\x on
SELECT t.call, r.state, r.message
FROM (VALUES
    ($$SELECT private_key FROM webpush.vapid_keys$$),
    ($$SELECT payload FROM webpush.messages$$),
    ($$SELECT count(*) FROM webpush.deliveries$$),
    ($$SELECT reason FROM webpush.history$$),
    ($$SELECT endpoint FROM webpush.subscriptions$$),
    ($$SELECT auth FROM webpush.subscriptions$$),
    ($$SELECT * FROM webpush_workers()$$),
    ($$SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw')$$),
    ($$DELETE FROM webpush.deliveries$$),
    ($$UPDATE webpush.subscriptions SET user_id = 'mallory'$$),
    ($$SET webpush.allow_private_endpoints = on$$),
    ($$SET webpush.allowed_ports = '*'$$),
    ($$SET webpush.max_queued_per_role = 0$$),
    ($$SET webpush.ca_file = '/tmp/evil.pem'$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT webpush_unsubscribe('https://push.example.com/sender') AS can_unsubscribe;
RESET ROLE;

-- webpush_monitor watches: status, workers, messages, deliveries and history, without
-- endpoints, keys or payloads; it sends nothing.
CREATE ROLE regress_webpush_monitor IN ROLE webpush_monitor;
SET ROLE regress_webpush_monitor;
SELECT queued + retrying AS waiting FROM webpush.status;
SELECT count(*) AS hosts FROM webpush.status_by_host;
SELECT count(*) >= 2 AS sees_delivery_state FROM (SELECT message_id, claimed_by, attempts, last_error FROM webpush.deliveries) q;
SELECT count(*) >= 2 AS sees_messages FROM (SELECT id, application, send_at, recipients FROM webpush.messages) m;
SELECT count(*) AS history FROM (SELECT message_id, outcome, reason FROM webpush.history) h;
SELECT count(*) >= 0 AS sees_workers FROM webpush_workers();
\x on
SELECT t.call, r.state, r.message
FROM (VALUES
    ($$SELECT payload FROM webpush.messages$$),
    ($$SELECT endpoint FROM webpush.messages$$),
    ($$SELECT p256dh FROM webpush.messages$$),
    ($$SELECT endpoint FROM webpush.history$$),
    ($$SELECT id FROM webpush.subscriptions$$),
    ($$SELECT webpush_send(1, 'x')$$),
    ($$SELECT webpush_subscribe(regress.subscription())$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
RESET ROLE;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
DROP ROLE regress_webpush_monitor;

-- An optional limit on what one role may have queued.  Superusers set it,
-- per role or for everyone; a send over it fails and queues nothing.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/quota'), 'quinn') AS quota_sub \gset
CREATE TABLE regress_quota_orders (id int, user_id text);
GRANT INSERT, SELECT ON regress_quota_orders TO regress_webpush_sender;
CREATE TRIGGER regress_quota_notify AFTER INSERT ON regress_quota_orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order {id}');
SELECT COALESCE(sum(refused), 0) AS refused_before FROM webpush.counters WHERE application = 'default' \gset
SET webpush.max_queued_per_role = 3;
SET ROLE regress_webpush_sender;
SELECT webpush_send(:quota_sub, 'one') > 0 AS first, webpush_send(:quota_sub, 'two') > 0 AS second;
SELECT (webpush_send_user('quinn', 'three')).recipients AS third;
SELECT webpush_send(:quota_sub, 'four');
SELECT recipients FROM webpush_send_many(ARRAY[:quota_sub], 'four');
-- A trigger over the limit queues nothing, with a WARNING, and the
-- statement that fired it goes on: the order is stored.
INSERT INTO regress_quota_orders VALUES (4, 'quinn'), (5, 'quinn');
SELECT count(*) AS orders_stored FROM regress_quota_orders;
RESET ROLE;
SELECT sum(refused) - :refused_before AS refused FROM webpush.counters WHERE application = 'default';
SELECT count(*) AS queued_for_quinn, count(m.queued_by) AS counted
FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id WHERE d.subscription_id = :quota_sub;
-- Under the limit the trigger queues as usual.
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
SET ROLE regress_webpush_sender;
INSERT INTO regress_quota_orders VALUES (6, 'quinn');
RESET ROLE;
SELECT count(*) AS queued_by_trigger FROM webpush.deliveries WHERE subscription_id = :quota_sub;
DROP TABLE regress_quota_orders;
-- Superusers are not limited.
SELECT webpush_send(:quota_sub, 'from a superuser') > 0 AS superuser_unlimited;
RESET webpush.max_queued_per_role;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
SELECT webpush_unsubscribe('https://push.example.com/quota');
DROP ROLE regress_webpush_sender;

-- SECURITY DEFINER functions cannot be hijacked through search_path: a
-- caller's own "webpush" objects or operators earlier in the path are not used.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/evil')) AS evil_id \gset
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-01-01'::timestamptz $$;
CREATE FUNCTION regress_evil.make_interval(secs integer) RETURNS interval LANGUAGE sql AS $$ SELECT interval '0' $$;
SET search_path = regress_evil, public, pg_catalog;
SET webpush.subject = 'mailto:ops@example.com';
SELECT webpush_send(:evil_id, 'x') > 0 AS queued;
RESET search_path;
SELECT expires_at - send_at AS lifetime, created_at > '2000-01-01' AS real_clock FROM webpush.messages;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
DROP SCHEMA regress_evil CASCADE;
SELECT webpush_unsubscribe('https://push.example.com/evil');
