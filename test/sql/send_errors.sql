-- webpush_send_now refuses bad calls before touching the network.
SET webpush.subject = 'mailto:ops@example.com';
SELECT id AS sub_id FROM webpush.subscriptions ORDER BY id LIMIT 1 \gset

\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_send_now(:sub_id, 'hi', ttl => -1)$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', ttl => NULL)$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', urgency => 'urgent')$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', urgency => '')$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', topic => '')$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', topic => repeat('a', 33))$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', topic => 'no spaces')$$),
    ($$SELECT webpush_send_now(:sub_id, 'hi', topic => 'a+b=')$$),
    ($$SELECT webpush_send_now(:sub_id, repeat('x', 3994))$$),
    ($$SELECT webpush_send_now(999999999, 'hi')$$),
    ($$SELECT webpush_send_now(NULL::bigint, 'hi')$$),
    ($$SELECT webpush_send_now(NULL::jsonb, 'hi')$$),
    ($$SELECT webpush_send_now('{"endpoint": "http://x"}'::jsonb, 'hi')$$),
    ($$SET webpush.subject = 'ops@example.com'$$),
    ($$SET webpush.subject = 'mailto:ops@push.invalid'$$),
    ($$SET webpush.timeout = 0$$)
) AS t(call), LATERAL regress.try(replace(t.call, ':sub_id', :'sub_id')) AS r;

-- Without a contact for the VAPID token nothing is sent or queued.  The
-- contact is the application's: "default" took webpush.subject when it was
-- made, and a session's setting no longer matters after that.
SET webpush.subject = '';
SELECT * FROM regress.try(format($$SELECT webpush_send_now(%s, 'hi')$$, :'sub_id')) WHERE state = '55000';
BEGIN;
UPDATE webpush.applications SET subject = NULL WHERE name = 'default';
SELECT * FROM regress.try(format($$SELECT webpush_send_now(%s, 'hi')$$, :'sub_id'));
SELECT * FROM regress.try($$SELECT webpush_send_user('nobody-yet', 'hi')$$);
SELECT * FROM regress.try($$SELECT webpush_send(regress.subscription(), 'hi')$$);
SELECT count(*) AS queued_without_subject FROM webpush.deliveries;
ROLLBACK;
\x off

-- Queueing validates the same way, in the caller's transaction, and nothing
-- is queued by a failed call.
SET webpush.subject = 'mailto:ops@example.com';
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_send(:sub_id, 'hi', ttl => -5)$$),
    ($$SELECT webpush_send(:sub_id, 'hi', urgency => 'now')$$),
    ($$SELECT webpush_send(:sub_id, 'hi', topic => 'way-too-long-topic-name-over-32-chars')$$),
    ($$SELECT webpush_send(:sub_id, repeat('x', 4000))$$),
    ($$SELECT webpush_send(:sub_id, convert_to(repeat('x', 3994), 'UTF8'))$$),
    ($$SELECT webpush_send(:sub_id, jsonb_build_object('body', repeat('x', 4000)))$$),
    ($$SELECT webpush_send(999999999, 'hi')$$),
    ($$SELECT webpush_send(NULL::bigint, 'hi')$$),
    ($$SELECT webpush_send('{"endpoint": "https://10.0.0.1/x", "keys": {}}'::jsonb, 'hi')$$),
    ($$SELECT webpush_send_user('alice', 'hi', ttl => NULL)$$),
    ($$SELECT webpush_send_user('nobody', 'hi', urgency => 'asap')$$)
) AS t(call), LATERAL regress.try(replace(t.call, ':sub_id', :'sub_id')) AS r;
\x off
SELECT count(*) AS queued_by_failed_calls FROM webpush.messages;

-- A database that no worker serves still queues, with a NOTICE saying so.
SELECT webpush_send(:sub_id, 'hello') > 0 AS queued;
SELECT webpush_send(:sub_id, NULL) > 0 AS queued_without_payload;
SELECT webpush_send(:sub_id, '{"title": "Hi"}'::jsonb) > 0 AS queued_json;
SELECT webpush_send(:sub_id, '\x00ff'::bytea) > 0 AS queued_binary;
SELECT webpush_send(regress.subscription('https://push.example.com/one-off'), 'hi') > 0 AS queued_one_off;
SELECT * FROM webpush_send_user('nobody', 'hi');
SELECT d.subscription_id = :sub_id AS stored, m.endpoint, m.payload, m.ttl, m.urgency, m.topic,
       d.claimed_by, d.attempts, m.expires_at - m.send_at AS lifetime, m.recipients
FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id ORDER BY m.id;
SELECT queued, scheduled, retrying, sending, delivered FROM webpush.status;
