-- webpush_notification() builds payloads in the convention of client/sw.js.
SELECT webpush_notification('Order shipped');
SELECT webpush_notification('Order shipped', 'Your teapot is on its way', '/orders/42');
SELECT webpush_notification('Hi', body => 'b', url => 'https://shop.example.com/a?b=c',
                            icon => '/icon.png', badge => '/badge.png', image => '/big.png',
                            tag => 'order-42', data => '{"orderId": 42, "nested": {"x": null}}',
                            require_interaction => true, silent => false);
-- data keeps its own nulls and may be any JSON value
SELECT webpush_notification('t', data => 'null'), webpush_notification('t', data => '7'),
       webpush_notification('t', data => '"s"'), webpush_notification('t', data => '[1, null]');
-- Quotes, newlines and non-ASCII survive as JSON strings.
SELECT webpush_notification(E'"Caf\u00e9"\n', E'tab\there');
-- It is a plain builder: anyone may call it, and it composes with the senders.
SELECT has_function_privilege('public', 'webpush_notification(text, text, text, text, text, text, text, jsonb, boolean, boolean, jsonb, text, text, timestamptz, boolean, integer[], integer, boolean, boolean, boolean)', 'execute');
SELECT webpush_send(regress.subscription(), webpush_notification('Queued', 'x')::text) > 0 AS queued;
SELECT convert_from(payload, 'UTF8')::jsonb AS payload FROM webpush.messages ORDER BY id DESC LIMIT 1;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;


-- Declarative Web Push: an absolute https url makes the form WebKit shows
-- without the service worker.  Checked by WebKit's rules: web_push the
-- number 8030, a non-empty title, navigate an absolute URL; app_badge and
-- mutable in both places; each action's navigate absolute (a path is taken
-- on the notification's origin, a missing one is the notification's).
CREATE FUNCTION regress.webkit_accepts(p jsonb) RETURNS boolean LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_typeof(p->'web_push') = 'number' AND (p->>'web_push')::numeric = 8030
       AND jsonb_typeof(p->'notification') = 'object'
       AND coalesce(p->'notification'->>'title', '') <> ''
       AND p->'notification'->>'navigate' ~ '^https://[A-Za-z0-9.-]+(:[0-9]+)?(/|$)'
       AND coalesce((SELECT bool_and(a->>'navigate' ~ '^https://[A-Za-z0-9.-]+(:[0-9]+)?(/|$)'
                                     AND coalesce(a->>'title', '') <> '' AND coalesce(a->>'action', '') <> '')
                       FROM jsonb_array_elements(p->'notification'->'actions') a), true)
       AND (p->'app_badge' IS NULL OR jsonb_typeof(p->'app_badge') = 'number')
       AND (p->'app_badge') IS NOT DISTINCT FROM (p->'notification'->'app_badge')
       AND (p->'mutable') IS NOT DISTINCT FROM (p->'notification'->'mutable')
$$;
SELECT jsonb_pretty(webpush_notification('Reply?', 'Ana wrote to you', 'https://chat.example.com/c/7',
           badge => '/badge.png', tag => 'chat-7', lang => 'pt-BR', dir => 'ltr',
           "timestamp" => '2026-01-01 00:00:00+00', renotify => true, vibrate => ARRAY[200, 100, 200],
           app_badge => 3, mutable => false, data => '{"chat": 7}',
           actions => '[{"action": "reply", "title": "Reply", "navigate": "/c/7?reply=1"},
                        {"action": "mute", "title": "Mute", "navigate": "https://chat.example.com/mute"},
                        {"action": "open", "title": "Open", "icon": "/open.png"}]')) AS declarative;
SELECT regress.webkit_accepts(webpush_notification('Reply?', url => 'https://chat.example.com/c/7',
           app_badge => 0, mutable => true, actions => '[{"action": "a", "title": "A", "navigate": "/x"}]'));
-- A path keeps the service worker's form (it has no origin to resolve
-- against), with the same new members; declarative => false keeps it for an
-- absolute URL too.
SELECT webpush_notification('t', url => '/c/7', lang => 'fr', app_badge => 1, vibrate => ARRAY[100],
           actions => '[{"action": "reply", "title": "Répondre", "navigate": "/c/7/reply"}]');
SELECT webpush_notification('t', url => 'https://chat.example.com/', declarative => false, receipt => false);
-- The 4,096-byte rule holds with room for the receipt ids: a long body is
-- shortened, then the title, and the JSON stays declarative and valid
-- (65 bytes: two 19-digit ids in place of true, receipt.h).
SELECT octet_length(p::text) AS bytes, octet_length(p::text) <= 3993 - 65 AS room_for_ids, regress.webkit_accepts(p) AS valid,
       right(p->'notification'->>'body', 1) = E'\u2026' AS ellipsis
FROM (SELECT webpush_notification(repeat('T', 50), repeat('é', 3000), 'https://chat.example.com/c/7',
           actions => '[{"action": "a", "title": "A"}]') AS p) x;
SELECT octet_length(p::text) AS bytes, regress.webkit_accepts(p) AS valid, length(p->'notification'->>'title') < 4000 AS title_shortened
FROM (SELECT webpush_notification(repeat('T', 5000), repeat('b', 5000), 'https://chat.example.com/c/7') AS p) x;
SELECT octet_length(webpush_notification('t', repeat('b', 5000), receipt => false)::text) AS without_ids;

\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_notification(NULL)$$),
    ($$SELECT webpush_notification('')$$),
    ($$SELECT webpush_notification(NULL, 'body only')$$),
    ($$SELECT webpush_notification('t', url => 'javascript:alert(1)')$$),
    ($$SELECT webpush_notification('t', url => '//evil.example.com/')$$),
    ($$SELECT webpush_notification('t', url => 'orders/42')$$),
    ($$SELECT webpush_notification('t', url => '')$$),
    ($$SELECT webpush_notification('t', url => 'https://')$$),
    ($$SELECT webpush_notification('t', data => '{bad')$$),
    ($$SELECT webpush_notification('t', url => 'https://a b.example.com/')$$),
    ($$SELECT webpush_notification('t', url => '/x', declarative => true)$$),
    ($$SELECT webpush_notification('t', actions => '{"action": "a"}')$$),
    ($$SELECT webpush_notification('t', actions => '[{"action": "a", "title": "A"}, {"action": "b"}]')$$),
    ($$SELECT webpush_notification('t', actions => '[{"action": "", "title": "A"}]')$$),
    ($$SELECT webpush_notification('t', actions => '[7]')$$),
    ($$SELECT webpush_notification('t', actions => '[{"action": "a", "title": "A", "navigate": "javascript:alert(1)"}]')$$),
    ($$SELECT webpush_notification('t', url => 'https://x.example.com/', actions => '[{"action": "a", "title": "A", "navigate": "http://y.example.com/"}]')$$),
    ($$SELECT webpush_notification('t', lang => 'en_US')$$),
    ($$SELECT webpush_notification('t', dir => 'up')$$),
    ($$SELECT webpush_notification('t', vibrate => ARRAY[-1])$$),
    ($$SELECT webpush_notification('t', vibrate => ARRAY[1, NULL])$$),
    ($$SELECT webpush_notification('t', app_badge => -1)$$),
    ($$SELECT webpush_notification('t', renotify => true)$$),
    ($$SELECT webpush_notification('t', "timestamp" => 'infinity')$$),
    ($$SELECT webpush_notification('t', url => '/\evil.example.com')$$),
    ($$SELECT webpush_notification('t', url => 'https://[')$$),
    ($$SELECT webpush_notification('t', url => 'https://a:b:c/')$$),
    ($$SELECT webpush_notification('t', url => 'https://a.example.com:123456/')$$),
    ($$SELECT webpush_notification('t', actions => '[{"action": "a", "title": "A", "navigate": "/\\evil.example.com"}]')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
-- Hosts a browser opens: a port, an IPv6 literal with one.
SELECT webpush_notification('t', url => 'https://[2001:db8::1]:8443/x', declarative => false, receipt => false) ->> 'url' AS ipv6,
       webpush_notification('t', url => 'https://shop.example.com:8443/', declarative => false, receipt => false) ->> 'url' AS port;
\x off

-- Upgrading from 0.1, the first released version, keeps the key pair and
-- the subscriptions.  (A fresh install takes the same path: webpush--0.1.sql,
-- then the update scripts.)
CREATE DATABASE webpush_upgrade;
\c webpush_upgrade
CREATE FUNCTION regress_try_update(OUT state text, OUT message text, OUT hint text)
LANGUAGE plpgsql AS $$
BEGIN
    ALTER EXTENSION webpush UPDATE;
    state := 'updated';
EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT, hint = PG_EXCEPTION_HINT;
END $$;
CREATE EXTENSION webpush VERSION '0.1';
-- Data as 0.1 and 0.2 stored it: one key pair, a subscription and a queued
-- notification for it (written directly: this library speaks 0.3).
INSERT INTO webpush.vapid_keys (private_key, public_key)
VALUES (decode('c9f58f89813e9f8e872e71f42aa64e1757c9254dcc62b72ddc010bb4043ea11c', 'hex'),
        decode('04fe33f4ab0dea71914db55823f73b54948f41306d920732dbb9a59a53286482200e597a7b7bc260ba1c227998580992e93973002f3012a28ae8f06bbb78e5ec0f', 'hex'));
INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, user_id)
VALUES ('https://push.example.com/u',
        decode('BCVxsr7N/eNgVRqvHtD0zTZsEc6+VV+JvLexhqUzORcxaOzi6+AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4=', 'base64'),
        decode('BTBZMqHH6r4Tts7J/aSIgg==', 'base64'), 'alice');
INSERT INTO webpush.queue (subscription_id, endpoint, p256dh, auth, payload, ttl, urgency, expires_at)
SELECT id, endpoint, p256dh, auth, 'queued by 0.2', 60, 'normal', now() + interval '1 minute'
FROM webpush.subscriptions;
SELECT count(*) AS functions_in_0_1 FROM pg_proc WHERE proname LIKE 'webpush%';
-- A view made with webpush_notification() stops the update to 0.4, which
-- replaces the function, with what to do; without it the update goes on.
ALTER EXTENSION webpush UPDATE TO '0.3';
CREATE VIEW uses_notification AS SELECT webpush_notification('x') AS payload;
\x on
SELECT * FROM regress_try_update();
\x off
DROP VIEW uses_notification;
DROP FUNCTION regress_try_update();
ALTER EXTENSION webpush UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'webpush';
-- The key is the "default" application's current key; the subscription and
-- the queued notification are bound to it.
SELECT application, public_key, current, subscriptions FROM webpush.keys;
SELECT private_key = 'yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw' AS exported_as_imported
FROM webpush_keys_export();
SELECT s.application, s.key_id = k.id AS bound_to_it, convert_from(m.payload, 'UTF8') AS queued,
       m.id = d.message_id AS same_id_as_in_0_2, d.attempts, m.pending
FROM webpush.subscriptions s JOIN webpush.deliveries d ON d.subscription_id = s.id
JOIN webpush.messages m ON m.id = d.message_id
JOIN webpush.vapid_keys k ON k.application = 'default' AND k.current
WHERE s.user_id = 'alice';
SELECT webpush_notification('after upgrade');
-- what 0.2 and 0.3 added or changed, with their privileges
SELECT p.oid::regprocedure AS function, has_function_privilege('public', p.oid, 'execute') AS public_may_call
FROM pg_proc p WHERE proname LIKE 'webpush%' AND p.oid::regprocedure::text NOT IN (
    'webpush_keys()', 'webpush_keys_import(text)', 'webpush_subscribe(jsonb,text)',
    'webpush_unsubscribe(text)', 'webpush_encrypt(bytea,text,text,bytea,text)',
    'webpush_send_now(bigint,text,integer,text,text)', 'webpush_send_now(jsonb,text,integer,text,text)',
    'webpush_send(bigint,text,integer,text,text)', 'webpush_send(bigint,jsonb,integer,text,text)',
    'webpush_send(bigint,bytea,integer,text,text)', 'webpush_send(jsonb,text,integer,text,text)',
    'webpush_send_user(text,text,integer,text,text)', 'webpush_send_user(text,jsonb,integer,text,text)')
ORDER BY 1::text;
\c contrib_regression
DROP DATABASE webpush_upgrade;
