-- Applications and their keys: several sites in one database, rotation
-- without losing a subscription, export for backups, and the warning
-- before DROP EXTENSION deletes them.
SET webpush.subject = 'mailto:ops@example.com';
SELECT webpush_keys() AS default_key \gset

-- A second site: its own contact and its own key.
SELECT webpush_application('shop', 'https://shop.example.com/contact') AS shop_key \gset
SELECT :'shop_key' <> :'default_key' AS own_key,
       webpush_keys('shop') = :'shop_key' AS stable;
SELECT name, subject FROM webpush.applications ORDER BY name;
-- Changing the contact keeps the key.
SELECT webpush_application('shop', 'mailto:shop@example.com') = :'shop_key' AS same_key;

-- A subscription made with the shop's key joins the shop, whichever
-- application the caller named (or none).
SELECT webpush_subscribe(regress.subscription('https://push.example.com/shop/1'), 'sam',
                         server_key => :'shop_key') AS shop_sub \gset
SELECT application, key_id = (SELECT id FROM webpush.vapid_keys WHERE public_key = regress.b64url_decode(:'shop_key')) AS bound
FROM webpush.subscriptions WHERE id = :shop_sub;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/shop/2'), 'sam', 'shop') AS shop_sub2 \gset
SELECT application FROM webpush.subscriptions WHERE id = :shop_sub2;
-- Sending to a user reaches that application's subscriptions only.
BEGIN;
SELECT (webpush_send_user('sam', 'hi')).recipients AS sam_in_default,
       (webpush_send_user('sam', 'hi', application => 'shop')).recipients AS sam_in_shop;
SELECT m.application FROM webpush.deliveries d JOIN webpush.messages m ON m.id = d.message_id
JOIN webpush.subscriptions s ON s.id = d.subscription_id WHERE s.user_id = 'sam';
ROLLBACK;

-- Rotation: new subscriptions get the new key, older ones keep theirs.
SELECT webpush_keys_rotate('shop') AS shop_key2 \gset
SELECT :'shop_key2' <> :'shop_key' AS new_key, webpush_keys('shop') = :'shop_key2' AS now_current;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/shop/3'), 'tom', 'shop') AS shop_sub3 \gset
SELECT public_key = :'shop_key' AS old_key, current, subscriptions
FROM webpush.keys WHERE application = 'shop' ORDER BY created_at;
-- A browser that subscribes again with the new key moves onto it.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/shop/1'), 'sam',
                         server_key => :'shop_key2') = :shop_sub AS same_subscription;
SELECT public_key = :'shop_key' AS old_key, subscriptions
FROM webpush.keys WHERE application = 'shop' ORDER BY created_at;

-- Retiring: never the current key, and not while subscriptions use it.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_keys_retire(:'shop_key2')$$),
    ($$SELECT webpush_keys_retire(:'shop_key')$$),
    ($$SELECT webpush_keys_retire('BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A9')$$),
    ($$SELECT webpush_keys_retire('not a key')$$),
    ($$SELECT webpush_keys_retire(NULL)$$)
) AS t(call), LATERAL regress.try(replace(replace(t.call, ':''shop_key2''', quote_literal(:'shop_key2')),
                                          ':''shop_key''', quote_literal(:'shop_key'))) AS r;
\x off
SELECT webpush_keys_retire(:'shop_key', drop_subscriptions => true) AS dropped;
SELECT count(*) AS shop_keys FROM webpush.keys WHERE application = 'shop';
SELECT count(*) AS sub_gone FROM webpush.subscriptions WHERE id = :shop_sub2;

-- Importing is rotating to a given key; a key of another application is refused.
SELECT webpush_keys_import('AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE', 'shop') AS imported \gset
SELECT webpush_keys('shop') = :'imported' AS imported_is_current;
-- Imported again later, an older key becomes current again.
SELECT webpush_keys_import((SELECT private_key FROM webpush_keys_export('shop') WHERE NOT current), 'shop') = :'shop_key2' AS back_to_older;
SELECT webpush_keys_import('AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE', 'shop') = :'imported' AS and_forth;
SELECT count(*) AS shop_keys FROM webpush.keys WHERE application = 'shop';

-- Every new function's errors.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_keys('Shop')$$),
    ($$SELECT webpush_keys('')$$),
    ($$SELECT webpush_keys('-shop')$$),
    ($$SELECT webpush_keys(repeat('a', 64))$$),
    ($$SELECT webpush_keys('nosuchapp')$$),
    ($$SELECT webpush_keys_rotate('nosuchapp')$$),
    ($$SELECT webpush_keys_rotate(NULL)$$),
    ($$SELECT webpush_keys_import('AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE', 'default')$$),
    ($$SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw', 'nosuchapp')$$),
    ($$SELECT webpush_application('shop', 'shop@example.com')$$),
    ($$SELECT webpush_application('shop', 'mailto:admin@localhost')$$),
    ($$SELECT webpush_application('shop', 'mailto: <admin@example.com>')$$),
    ($$SELECT webpush_application('shop', 'https://127.0.0.1/contact')$$),
    ($$SELECT webpush_application('shop', NULL)$$),
    ($$SELECT webpush_application('bad name', 'mailto:a@example.com')$$),
    ($$SELECT * FROM webpush_keys_export('nosuchapp')$$),
    ($$SELECT webpush_subscribe(regress.subscription(), server_key => 'BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A9')$$),
    ($$SELECT webpush_subscribe(regress.subscription(), server_key => 'short')$$),
    ($$SELECT webpush_subscribe(regress.subscription(), application => 'default', server_key => webpush_keys('shop'))$$),
    ($$SELECT webpush_subscribe(regress.subscription(), application => 'nosuchapp')$$),
    ($$SELECT webpush_send_user('sam', 'hi', application => 'nosuchapp')$$),
    ($$SELECT webpush_send_user('sam', 'hi', application => NULL)$$),
    ($$SELECT webpush_send(regress.subscription(), 'hi', application => 'nosuchapp')$$),
    ($$SELECT webpush_send_now(regress.subscription(), 'hi', application => 'nosuchapp')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT count(*) AS nothing_stored FROM webpush.applications WHERE name NOT IN ('default', 'shop');

-- Export: what webpush_keys_import and web-push take, oldest first, and
-- only for superusers whoever may execute it.
SELECT count(*) AS pairs, bool_and(length(private_key) = 43) AS raw_scalars,
       (array_agg(public_key ORDER BY current, created_at))[2] = webpush_keys('shop') AS current_last
FROM webpush_keys_export('shop');

-- webpush_sender uses the applications it was granted: it reads their
-- public keys and sends and subscribes for them, but never reads a private
-- key, and neither rotates, imports, retires, exports nor creates.
CREATE ROLE regress_app_sender IN ROLE webpush_sender;
GRANT EXECUTE ON FUNCTION webpush_keys_export(text) TO regress_app_sender;
SELECT webpush_application_grant('shop', 'regress_app_sender');
SET ROLE regress_app_sender;
SELECT count(*) > 0 AS reads_public_keys FROM webpush.keys WHERE application = 'shop';
SELECT webpush_subscribe(regress.subscription('https://push.example.com/shop/9'), 'ann', 'shop') > 0 AS subscribes;
SELECT (webpush_send_user('ann', 'hi', application => 'shop')).recipients AS sends;
\x on
SELECT t.call, r.state, r.message
FROM (VALUES
    ($$SELECT private_key FROM webpush.vapid_keys$$),
    ($$SELECT * FROM webpush_keys_export('shop')$$),
    ($$SELECT webpush_keys_rotate('shop')$$),
    ($$SELECT webpush_keys_import('yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw', 'shop')$$),
    ($$SELECT webpush_keys_retire(webpush_keys('shop'))$$),
    ($$SELECT webpush_application('mine', 'mailto:me@example.com')$$),
    ($$UPDATE webpush.applications SET subject = 'mailto:me@example.com'$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
RESET ROLE;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
REVOKE EXECUTE ON FUNCTION webpush_keys_export(text) FROM regress_app_sender;
DROP ROLE regress_app_sender;

-- An application made in a transaction that rolls back is not remembered
-- as having a subject: a send to it afterwards, directly or from a
-- trigger (a row of webpush.intake), finds that it does not exist.
BEGIN;
SELECT webpush_application('regress-ghost', 'mailto:ghost@example.com') IS NOT NULL AS made;
SELECT recipients FROM webpush_send_user('nobody', 'x', application => 'regress-ghost');
ROLLBACK;
SELECT * FROM regress.try($$SELECT webpush_send_user('nobody', 'x', application => 'regress-ghost')$$);
CREATE TABLE regress.ghost_orders (user_id text);
CREATE FUNCTION regress.ghost_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webpush_send_user(NEW.user_id, 'x', application => 'regress-ghost');
    RETURN NEW;
END $$;
CREATE TRIGGER ghost_orders_notify AFTER INSERT ON regress.ghost_orders FOR EACH ROW
    EXECUTE FUNCTION regress.ghost_notify();
SELECT * FROM regress.try($$INSERT INTO regress.ghost_orders VALUES ('nobody')$$);
SELECT count(*) AS ghost_intake FROM webpush.intake WHERE application = 'regress-ghost';
DROP TABLE regress.ghost_orders;
DROP FUNCTION regress.ghost_notify();

-- DROP EXTENSION says what it is about to delete, and how to keep the keys.
CREATE DATABASE webpush_drop;
\c webpush_drop
SET client_min_messages = warning;
CREATE EXTENSION webpush;
SET webpush.subject = 'mailto:ops@example.com';
SELECT webpush_subscribe('{"endpoint": "https://push.example.com/d", "keys": {"p256dh": "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "auth": "BTBZMqHH6r4Tts7J_aSIgg"}}') AS sub;
-- In a transaction block the drop can still be rolled back, and the hint
-- says so; in autocommit it has committed by the time the WARNING shows.
BEGIN;
DROP EXTENSION webpush;
ROLLBACK;
DROP EXTENSION webpush;
-- Nothing to lose, nothing said.
CREATE EXTENSION webpush;
DROP EXTENSION webpush;
\c contrib_regression
DROP DATABASE webpush_drop;
