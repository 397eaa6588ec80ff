-- webpush_send_many: one statement queues for a list of subscriptions.
SET webpush.subject = 'mailto:ops@example.com';
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
CREATE TEMP TABLE many AS
SELECT webpush_subscribe(regress.subscription('https://push.example.com/many/' || i)) AS id
FROM generate_series(1, 5) i;

-- Ids that do not exist, repeats and NULL elements: each existing
-- subscription gets one notification, and the count says how many.
SELECT (webpush_send_many(array_agg(id) || ARRAY[id_max + 1000, NULL, id_min, id_min], 'to all')).recipients
FROM many, (SELECT max(id) AS id_max, min(id) AS id_min FROM many) m
GROUP BY id_max, id_min;
-- The message is stored once; each recipient is a delivery.
SELECT count(*) AS messages, sum(recipients) AS recipients,
       bool_and(convert_from(payload, 'UTF8') = 'to all') AS payload FROM webpush.messages;
SELECT count(*) AS deliveries, count(DISTINCT d.subscription_id) AS subscriptions,
       bool_and(s.endpoint LIKE 'https://push.example.com/many/%') AS own_endpoints
FROM webpush.deliveries d JOIN webpush.subscriptions s ON s.id = d.subscription_id;
SELECT recipients AS queued_json FROM webpush_send_many((SELECT array_agg(id) FROM many), '{"title": "json"}'::jsonb,
                         ttl => 60, urgency => 'high', topic => 'sale');
SELECT convert_from(payload, 'UTF8') AS payload, ttl, urgency, topic, recipients
FROM webpush.messages WHERE ttl = 60;
SELECT * FROM webpush_send_many('{}', 'nobody');
SELECT * FROM webpush_send_many(ARRAY[-1], 'nobody');
-- A few ids are looked up one by one in the primary key.
SELECT recipients AS two FROM webpush_send_many((SELECT array_agg(id) FROM (SELECT id FROM many ORDER BY id LIMIT 2) s), 'two');
-- Another application's subscriptions are not this one's recipients.
SELECT recipients FROM webpush_send_many((SELECT array_agg(id) FROM many), 'x', application => 'other');
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;

-- A broadcast stores its deliveries in batches: every one is there, once,
-- and found through the index the worker claims by.
INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, application, key_id)
SELECT 'https://push.example.com/big/' || i, decode('04' || repeat('ab', 64), 'hex'),
       decode(repeat('cd', 16), 'hex'), 'default', (SELECT id FROM webpush.vapid_keys WHERE current AND application = 'default')
FROM generate_series(1, 2500) i;
SELECT (webpush_send_many(array_agg(id), 'to 2,500')).message_id AS big
FROM webpush.subscriptions WHERE endpoint LIKE 'https://push.example.com/big/%' \gset
SELECT recipients FROM webpush.messages WHERE id = :big;
SET enable_seqscan = off;
SELECT count(*) AS by_index, count(DISTINCT subscription_id) AS distinct_subscriptions
FROM webpush.deliveries WHERE message_id = :big;
RESET enable_seqscan;
SELECT count(*) AS deliveries FROM webpush.deliveries d JOIN webpush.subscriptions s ON s.id = d.subscription_id
WHERE d.message_id = :big AND s.endpoint LIKE 'https://push.example.com/big/%';
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
DELETE FROM webpush.subscriptions WHERE endpoint LIKE 'https://push.example.com/big/%';

-- Bad calls fail before anything is queued.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_send_many(NULL, 'x')$$),
    ($$SELECT webpush_send_many(ARRAY[1], 'x', ttl => -5)$$),
    ($$SELECT webpush_send_many(ARRAY[1], 'x', urgency => 'now')$$),
    ($$SELECT webpush_send_many(ARRAY[1], 'x', topic => 'has space')$$),
    ($$SELECT webpush_send_many(ARRAY[1], repeat('x', 4000))$$),
    ($$SELECT webpush_send_many(ARRAY['a'], 'x')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT count(*) AS nothing_queued FROM webpush.deliveries;

-- Only superusers and webpush_sender may call it.
SELECT has_function_privilege('public', 'webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text, time)', 'execute') AS public_may,
       has_function_privilege('webpush_sender', 'webpush_send_many(bigint[], text, integer, text, text, text, timestamptz, text, time)', 'execute') AS sender_may,
       has_function_privilege('webpush_sender', 'webpush_send_many(bigint[], jsonb, integer, text, text, text, timestamptz, text, time)', 'execute') AS sender_may_json;
SELECT webpush_unsubscribe('https://push.example.com/many/' || i) FROM generate_series(1, 5) i;
