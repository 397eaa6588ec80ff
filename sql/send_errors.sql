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
    ($$SET webpush.timeout = 0$$)
) AS t(call), LATERAL regress.try(replace(t.call, ':sub_id', :'sub_id')) AS r;

-- Without a contact for the VAPID token nothing is sent.
RESET webpush.subject;
SELECT * FROM regress.try(format($$SELECT webpush_send_now(%s, 'hi')$$, :'sub_id'));
\x off
