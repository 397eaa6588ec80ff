-- Receipts: the service worker reports shown, clicked (with the action) and
-- closed with the ids the worker wrote into the payload, and the
-- application's role records them.  Stored once per message, subscription
-- and event; ids of another application, or of a subscription the message
-- was not queued for, are ignored; bad input is an error.
SET webpush.subject = 'mailto:ops@example.com';
CREATE ROLE regress_rcpt_shop IN ROLE webpush_sender;
CREATE ROLE regress_rcpt_blog IN ROLE webpush_sender;
SELECT webpush_application('rcpt-shop', 'mailto:shop@example.com') IS NOT NULL AS shop;
SELECT webpush_application('rcpt-blog', 'mailto:blog@example.com') IS NOT NULL AS blog;
SELECT webpush_application_grant('rcpt-shop', 'regress_rcpt_shop');
SELECT webpush_application_grant('rcpt-blog', 'regress_rcpt_blog');

SET ROLE regress_rcpt_shop;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/rcpt/1'), 'ann', 'rcpt-shop') AS sub1 \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/rcpt/2'), 'ann', 'rcpt-shop') AS sub2 \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/rcpt/3'), 'bob', 'rcpt-shop') AS sub3 \gset
SELECT message_id AS shop_msg FROM webpush_send_user('ann',
    webpush_notification('Sale', url => 'https://shop.example.com/sale',
                         actions => '[{"action": "buy", "title": "Buy"}]'), application => 'rcpt-shop') \gset
RESET ROLE;
SET ROLE regress_rcpt_blog;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/rcpt/blog'), 'cat', 'rcpt-blog') AS blog_sub \gset
SELECT message_id AS blog_msg FROM webpush_send_user('cat', webpush_notification('Post'), application => 'rcpt-blog') \gset
RESET ROLE;

SET ROLE regress_rcpt_shop;
-- Stored once: the second report of the same event changes nothing.
SELECT webpush_receipt(:shop_msg, :sub1, 'shown') AS first, webpush_receipt(:shop_msg, :sub1, 'shown') AS again;
SELECT webpush_receipt(:shop_msg, :sub1, 'clicked', 'buy', '2026-01-01 10:00:00+00') AS clicked;
SELECT webpush_receipt(:shop_msg, :sub1, 'clicked', 'other') AS clicked_twice;
SELECT webpush_receipt(:shop_msg, :sub2, 'shown') AS second_device;
-- Ignored: a subscription the message was not for, an unknown message, and
-- the blog's message (its ids look absent to the shop's role).
SELECT webpush_receipt(:shop_msg, :sub3, 'shown') AS not_a_recipient;
SELECT webpush_receipt(999999999, :sub1, 'shown') AS unknown_message;
SELECT webpush_receipt(:blog_msg, :blog_sub, 'clicked') AS other_application;
-- The batch the kit posts: ids as numbers or strings, at in milliseconds.
SELECT webpush_receipts(format('[{"message": %s, "subscription": %s, "event": "closed", "at": 1767261600000},
                                 {"message": "%s", "subscription": "%s", "event": "closed"},
                                 {"message": %s, "subscription": %s, "event": "shown"},
                                 {"message": %s, "subscription": %s, "event": "shown"}]',
                                :shop_msg, :sub2, :shop_msg, :sub2, :shop_msg, :sub1, :blog_msg, :blog_sub)::jsonb) AS stored;
SELECT subscription_id = :sub1 AS sub1, event, action,
       CASE WHEN at > now() - interval '1 hour' THEN 'now' ELSE to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') END AS at,
       application
FROM webpush.receipts ORDER BY subscription_id, event;
SELECT recipients, shown, clicked, closed, actions FROM webpush.message_receipts WHERE id = :shop_msg;
SELECT application, shown, clicked, closed FROM webpush.application_receipts WHERE application LIKE 'rcpt-%';
RESET ROLE;
-- The blog's role sees none of the shop's receipts, and the blog's message has none.
SET ROLE regress_rcpt_blog;
SELECT count(*) AS visible FROM webpush.receipts;
SELECT application, shown, clicked, closed FROM webpush.application_receipts WHERE application LIKE 'rcpt-%';
RESET ROLE;

-- Bad input is an error that says what to fix.
SET ROLE regress_rcpt_shop;
\x on
SELECT t.what, r.*
FROM (VALUES
    ('unknown event', format('SELECT webpush_receipt(%s, %s, %L)', :shop_msg, :sub1, 'opened')),
    ('action when shown', format('SELECT webpush_receipt(%s, %s, %L, %L)', :shop_msg, :sub1, 'shown', 'buy')),
    ('action too long', format('SELECT webpush_receipt(%s, %s, %L, %L)', :shop_msg, :sub1, 'clicked', repeat('a', 65))),
    ('message 0', format('SELECT webpush_receipt(%s, %s, %L)', 0, :sub1, 'shown')),
    ('subscription -1', format('SELECT webpush_receipt(%s, %s, %L)', :shop_msg, -1, 'shown')),
    ('NULL event', format('SELECT webpush_receipt(%s, %s, NULL)', :shop_msg, :sub1)),
    ('infinite at', format('SELECT webpush_receipt(%s, %s, %L, at => %L)', :shop_msg, :sub1, 'shown', 'infinity')),
    ('not an array', $$SELECT webpush_receipts('{"message": 1}')$$),
    ('fractional id', $$SELECT webpush_receipts('[{"message": 1.5, "subscription": 1, "event": "shown"}]')$$),
    ('id above bigint', $$SELECT webpush_receipts('[{"message": 9999999999999999999, "subscription": 1, "event": "shown"}]')$$),
    ('not an object', $$SELECT webpush_receipts('[{"message": 1, "subscription": 1, "event": "shown"}, 7]')$$),
    ('no event', $$SELECT webpush_receipts('[{"message": 1, "subscription": 1}]')$$),
    ('at not a number', $$SELECT webpush_receipts('[{"message": 1, "subscription": 1, "event": "shown", "at": "yesterday"}]')$$)
) AS t(what, call), LATERAL regress.try(t.call) AS r;
\x off
RESET ROLE;

-- Nothing here is PUBLIC's.
SELECT has_function_privilege('public', 'webpush_receipt(bigint, bigint, text, text, timestamptz)', 'execute') AS receipt,
       has_function_privilege('public', 'webpush_receipts(jsonb)', 'execute') AS receipts,
       has_table_privilege('public', 'webpush.receipts', 'select') AS receipts_table,
       has_table_privilege('public', 'webpush.message_receipts', 'select') AS message_receipts;

-- A receipt goes with its message when the message is purged.
DELETE FROM webpush.deliveries WHERE message_id IN (:shop_msg, :blog_msg);
DELETE FROM webpush.messages WHERE id IN (:shop_msg, :blog_msg);
SELECT count(*) AS left_over FROM webpush.receipts;

DELETE FROM webpush.subscriptions WHERE application LIKE 'rcpt-%';
DELETE FROM webpush.application_roles WHERE application LIKE 'rcpt-%';
DELETE FROM webpush.vapid_keys WHERE application LIKE 'rcpt-%';
DELETE FROM webpush.applications WHERE name LIKE 'rcpt-%';
DROP ROLE regress_rcpt_shop;
DROP ROLE regress_rcpt_blog;
