-- Browser subscriptions: storing, updating, removing, and refusing bad ones.

-- Stored as the browser gives it; returns the id.
SELECT webpush_subscribe(regress.subscription(), 'alice') AS id \gset
SELECT endpoint, user_id, regress.b64url(p256dh) AS p256dh, regress.b64url(auth) AS auth,
       expiration_time
FROM webpush.subscriptions WHERE id = :id;

-- Idempotent by endpoint: the same id, keys and user updated.
SELECT webpush_subscribe(regress.subscription(
           auth => 'AAAAAAAAAAAAAAAAAAAAAA'), 'bob') = :id AS same_id;
SELECT user_id, regress.b64url(auth) AS auth, updated_at >= created_at AS touched
FROM webpush.subscriptions WHERE id = :id;

-- What waits for a subscription is encrypted with the keys it holds when it
-- is sent: a browser that subscribes again with new keys gets it readable.
-- A one-off message keeps the subscription object it was sent to.
BEGIN;
SELECT webpush_send(:id, 'queued before the browser re-subscribed') > 0 AS queued;
SELECT webpush_send(regress.subscription('https://push.example.com/other'), 'one-off') > 0 AS queued;
SELECT webpush_subscribe(regress.subscription(
           auth => 'AQEBAQEBAQEBAQEBAQEBAQ'), 'bob') = :id AS same_id;
SELECT d.subscription_id = :id AS for_the_subscription,
       regress.b64url(COALESCE(s.auth, m.auth)) AS auth_when_sent
FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id
LEFT JOIN webpush.subscriptions s ON s.id = d.subscription_id
WHERE m.created_at = now() ORDER BY m.id;
ROLLBACK;

-- A browser that moved (pushsubscriptionchange) keeps its subscription id,
-- and what waits for it goes to the new endpoint.
BEGIN;
SELECT webpush_send(:id, 'queued before the move') AS moved_msg \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/moved'), 'bob',
                         old_endpoint => 'https://push.example.com/send/abc') = :id AS same_id;
SELECT s.endpoint FROM webpush.deliveries d JOIN webpush.subscriptions s ON s.id = d.subscription_id
WHERE d.message_id = :moved_msg;
SELECT count(*) AS old_endpoint_left FROM webpush.subscriptions WHERE endpoint = 'https://push.example.com/send/abc';
ROLLBACK;

-- Push services listen on 443: other ports only when a superuser lists them
-- (the test cluster allows any port for its loopback push services).
SET webpush.allowed_ports = '443';
SELECT webpush_subscribe(regress.subscription('https://push.example.com:25/smtp'));
SELECT webpush_subscribe(regress.subscription('https://push.example.com:443/explicit')) > 0 AS port_443;
SELECT webpush_unsubscribe('https://push.example.com:443/explicit');
SET webpush.allowed_ports = 'https';
SET webpush.allowed_ports = '443, 8443';

-- Standard base64 with padding is accepted and stored decoded; so is an
-- expirationTime in milliseconds.
SELECT webpush_subscribe(jsonb_build_object(
    'endpoint', 'https://push.example.com:8443/send/std',
    'expirationTime', 1767225600000,
    'keys', jsonb_build_object(
        'p256dh', replace(encode(regress.b64url_decode('BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4'), 'base64'), E'\n', ''),
        'auth', 'BTBZMqHH6r4Tts7J/aSIgg=='))) > 0 AS subscribed;
SELECT endpoint, user_id IS NULL AS no_user, regress.b64url(p256dh) AS p256dh,
       regress.b64url(auth) AS auth, expiration_time AT TIME ZONE 'UTC' AS expires_utc
FROM webpush.subscriptions WHERE endpoint LIKE '%/std';

-- Unsubscribe: true once, then false.
SELECT webpush_unsubscribe('https://push.example.com:8443/send/std') AS removed,
       webpush_unsubscribe('https://push.example.com:8443/send/std') AS removed_again;

-- Bad subscriptions: each fails with a clear error and nothing is stored.
SELECT count(*) AS before FROM webpush.subscriptions;
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_subscribe(NULL)$$),
    ($$SELECT webpush_subscribe('[]')$$),
    ($$SELECT webpush_subscribe('"https://push.example.com/x"')$$),
    ($$SELECT webpush_subscribe('{}')$$),
    ($$SELECT webpush_subscribe(regress.subscription() - 'endpoint' || '{"endpoint": 42}')$$),
    ($$SELECT webpush_subscribe(regress.subscription(''))$$),
    ($$SELECT webpush_subscribe(regress.subscription('push.example.com/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('http://push.example.com/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('ftp://push.example.com/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https:///x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://user:secret@push.example.com/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://push.example.com/a b'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://push.example.com/' || repeat('x', 2030)))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://127.0.0.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://10.1.2.3/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://192.168.0.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://172.16.0.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://169.254.169.254/latest/meta-data'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://100.64.0.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://224.0.0.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://0.0.0.0/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://2130706433/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://0x7f000001/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[fe80::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[fd00::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[::ffff:127.0.0.1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[ff02::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[64:ff9b::a00:1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[2002:7f00:1::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://[100::1]/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription('https://192.88.99.1/x'))$$),
    ($$SELECT webpush_subscribe(regress.subscription() - 'keys')$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"keys": "p256dh"}')$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"keys": {"auth": "BTBZMqHH6r4Tts7J_aSIgg"}}')$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"keys": {"p256dh": 1, "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}')$$),
    ($$SELECT webpush_subscribe(regress.subscription(p256dh => 'not base64!'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(p256dh => 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIA'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(p256dh => 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjzPjs7Vd8pZGH6SRpkNtoIAiw4'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(p256dh => 'AiVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcx'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(auth => 'BTBZMqHH6r4Tts7J_aSI'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(auth => 'BTBZMqHH6r4Tts7J_aSIgg+/'))$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"expirationTime": "tomorrow"}')$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"expirationTime": -1}')$$),
    ($$SELECT webpush_subscribe(regress.subscription() || '{"expirationTime": 1e300}')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT count(*) AS after FROM webpush.subscriptions;

-- A superuser may allow private endpoints (tests, private push services).
SET webpush.allow_private_endpoints = on;
SELECT webpush_subscribe(regress.subscription('https://127.0.0.1:8443/x')) > 0 AS private_allowed;
SELECT webpush_unsubscribe('https://127.0.0.1:8443/x');
RESET webpush.allow_private_endpoints;

-- Every device of a user at once; other users and applications keep theirs.
SELECT webpush_subscribe(regress.subscription('https://push.example.net/u1'), user_id => 'leaver') > 0 AS one,
       webpush_subscribe(regress.subscription('https://push.example.net/u2'), user_id => 'leaver') > 0 AS two,
       webpush_subscribe(regress.subscription('https://push.example.net/u3'), user_id => 'stayer') > 0 AS other;
SELECT webpush_unsubscribe_user('leaver') AS removed,
       webpush_unsubscribe_user('leaver') AS removed_again,
       webpush_unsubscribe_user('leaver', 'nosuchapp') AS other_application,
       (SELECT count(*) FROM webpush.subscriptions WHERE user_id = 'stayer') AS stayer_keeps;
\set VERBOSITY default
SELECT webpush_unsubscribe_user(NULL);
\set VERBOSITY terse
SELECT webpush_unsubscribe('https://push.example.net/u3');
