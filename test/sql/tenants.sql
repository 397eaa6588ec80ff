-- Applications have roles: a sender subscribes, sends, cancels and sees
-- messages only in the applications it was granted.  Two tenants, each
-- with a sender role, and an operator who sees everything.
SET webpush.subject = 'mailto:ops@example.com';
CREATE ROLE regress_shop_sender IN ROLE webpush_sender;
CREATE ROLE regress_blog_sender IN ROLE webpush_sender;
CREATE ROLE regress_shop_owner IN ROLE webpush_sender;
CREATE ROLE regress_watcher IN ROLE webpush_monitor;
SELECT webpush_application('tenant-shop', 'mailto:shop@example.com') IS NOT NULL AS shop;
SELECT webpush_application('tenant-blog', 'mailto:blog@example.com') IS NOT NULL AS blog;
SELECT webpush_application_grant('tenant-shop', 'regress_shop_owner', owner => true);
SELECT webpush_application_grant('tenant-blog', 'regress_blog_sender');

-- An owner grants its application to its sender, but makes no owner and
-- grants nothing of another application.
SET ROLE regress_shop_owner;
SELECT webpush_application_grant('tenant-shop', 'regress_shop_sender');
SELECT * FROM regress.try($$SELECT webpush_application_grant('tenant-shop', 'regress_blog_sender', owner => true)$$);
SELECT * FROM regress.try($$SELECT webpush_application_grant('tenant-blog', 'regress_shop_sender')$$);
-- It sets its application's contact, and only its own.
SELECT webpush_application('tenant-shop', 'mailto:orders@example.com') IS NOT NULL AS changed;
SELECT * FROM regress.try($$SELECT webpush_application('tenant-blog', 'mailto:evil@example.com')$$);
SELECT * FROM regress.try($$SELECT webpush_application('tenant-new', 'mailto:evil@example.com')$$);
RESET ROLE;
SELECT name, subject FROM webpush.applications WHERE name LIKE 'tenant-%' ORDER BY name;

-- The blog's sender stores its subscriber, and the shop's its own.
SET ROLE regress_blog_sender;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tenant/blog-victim'),
                         'victim', 'tenant-blog') AS victim_sub \gset
RESET ROLE;
SET ROLE regress_shop_sender;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tenant/shop-1'),
                         'sam', 'tenant-shop') AS shop_sub \gset

-- The shop's sender cannot make its endpoint a blog user's device, nor
-- send to, cancel, unsubscribe or see the blog's.
SELECT * FROM regress.try($$SELECT webpush_subscribe(regress.subscription('https://attacker.example.com/x'), 'victim', 'tenant-blog')$$);

SELECT state FROM regress.try($$SELECT webpush_subscribe(regress.subscription('https://attacker.example.com/x'), 'victim',
                                                    server_key => webpush_keys('tenant-blog'))$$);
SELECT * FROM regress.try($$SELECT webpush_send_user('victim', 'your login code is 918273', application => 'tenant-blog')$$);
SELECT * FROM regress.try(format('SELECT webpush_send(%s, %L)', :victim_sub, 'hi'));
SELECT * FROM regress.try($$SELECT webpush_send(-1, 'to nobody')$$);
SELECT * FROM regress.try(format('SELECT webpush_send_many(ARRAY[%s]::bigint[], %L, application => %L)', :victim_sub, 'hi', 'tenant-blog'));
SELECT * FROM regress.try(format('SELECT webpush_send_now(%s, %L::jsonb)', :victim_sub, '{"title": "hi"}'));
SELECT * FROM regress.try($$SELECT webpush_unsubscribe_user('victim', 'tenant-blog')$$);
SELECT * FROM regress.try($$SELECT webpush_unsubscribe('https://push.example.com/tenant/blog-victim')$$);
-- Nor take the blog's subscription by subscribing its endpoint again, or
-- by moving it (old_endpoint).
SELECT * FROM regress.try($$SELECT webpush_subscribe(regress.subscription('https://push.example.com/tenant/blog-victim'), 'thief', 'tenant-shop')$$);
SELECT * FROM regress.try($$SELECT webpush_subscribe(regress.subscription('https://attacker.example.com/y'), 'thief', 'tenant-shop',
                                                    old_endpoint => 'https://push.example.com/tenant/blog-victim')$$);
-- Listing ids of the shop's own application does not reach the blog's.
SELECT (webpush_send_many(ARRAY[:victim_sub, :shop_sub]::bigint[], 'sale', application => 'tenant-shop')).recipients;
SELECT user_id, application FROM webpush.subscriptions WHERE application LIKE 'tenant-%' ORDER BY id;
SELECT name FROM webpush.applications WHERE name LIKE 'tenant-%' OR name = 'default' ORDER BY name;
SELECT application FROM webpush.keys WHERE application LIKE 'tenant-%' OR application = 'default' ORDER BY application;
SELECT application, recipients FROM webpush.message_status WHERE application LIKE 'tenant-%';
RESET ROLE;

-- The blog's own message: the shop's sender can neither cancel nor see it.
SET ROLE regress_blog_sender;
SELECT (webpush_send_user('victim', 'code 918273', application => 'tenant-blog')).message_id AS blog_msg \gset
RESET ROLE;
SET ROLE regress_shop_sender;
SELECT state, replace(message, :'blog_msg', 'N') AS message, detail, hint
FROM regress.try(format('SELECT webpush_cancel(%s)', :blog_msg));
SELECT count(*) AS blog_messages_seen FROM webpush.message_status WHERE id = :blog_msg;
-- Nor trace it, or the blog's users: the message looks absent.
SELECT state, replace(message, :'blog_msg', 'N') AS message, detail, hint
FROM regress.try(format('SELECT * FROM webpush_trace(for_message => %s)', :blog_msg));
SELECT * FROM regress.try($$SELECT * FROM webpush_trace(for_user => 'victim', application => 'tenant-blog')$$);
-- Its own application's trace of that user name shows nothing of the blog.
SELECT count(*) AS victim_in_shop FROM webpush_trace(for_user => 'victim', application => 'tenant-shop');
RESET ROLE;
SET ROLE regress_blog_sender;
SELECT state, host, attempts FROM webpush_trace(for_message => :blog_msg);
SELECT message_id = :blog_msg AS blog_msg, state FROM webpush_trace(for_user => 'victim', application => 'tenant-blog');
RESET ROLE;
-- webpush_monitor does not read user ids: no trace.
SET ROLE regress_watcher;
SELECT * FROM regress.try($$SELECT * FROM webpush_trace(for_user => 'victim', application => 'tenant-blog')$$);
SELECT * FROM regress.try($$SELECT webpush_counters_reset()$$);
RESET ROLE;
SELECT count(*) AS still_queued FROM webpush.deliveries WHERE message_id = :blog_msg;

-- A trigger sends for the role whose statement fires it, as a PL/pgSQL
-- trigger would: the shop's sender cannot send the blog's notifications
-- through one, the blog's sender can.
CREATE TABLE regress_tenant_orders (id int, user_id text);
CREATE TRIGGER notify_blog AFTER INSERT ON regress_tenant_orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order {id}', '', '', 'tenant-blog');
GRANT INSERT ON regress_tenant_orders TO regress_shop_sender, regress_blog_sender;
SET ROLE regress_shop_sender;
SELECT * FROM regress.try($$INSERT INTO regress_tenant_orders VALUES (1, 'victim')$$);
RESET ROLE;
SET ROLE regress_blog_sender;
SELECT * FROM regress.try($$INSERT INTO regress_tenant_orders VALUES (2, 'victim')$$);
RESET ROLE;
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'title' AS notified
FROM (SELECT payload FROM webpush.intake WHERE application = 'tenant-blog'
      UNION ALL
      SELECT payload FROM webpush.messages WHERE application = 'tenant-blog') AS p
WHERE convert_from(payload, 'UTF8') LIKE '%Order%';
DROP TABLE regress_tenant_orders;

-- A superuser's maintenance of a table runs its owner's code as the owner:
-- the owner's rights are checked, not the superuser's.
CREATE SCHEMA regress_shop AUTHORIZATION regress_shop_sender;
SET ROLE regress_shop_sender;
CREATE FUNCTION regress_shop.index_key(x int) RETURNS int IMMUTABLE LANGUAGE plpgsql AS $$
BEGIN
    IF webpush.may_use('tenant-blog') THEN
        RAISE EXCEPTION 'the shop''s sender may use the blog';
    END IF;
    RETURN x;
END $$;
CREATE TABLE regress_shop.bait (x int);
INSERT INTO regress_shop.bait VALUES (1);
CREATE INDEX ON regress_shop.bait ((regress_shop.index_key(x)));
RESET ROLE;
ANALYZE regress_shop.bait;
REINDEX TABLE regress_shop.bait;

-- A SECURITY DEFINER function of the shop's sender, called by a superuser,
-- has the shop's sender's rights.
SET ROLE regress_shop_sender;
CREATE FUNCTION regress_shop.helper() RETURNS text SECURITY DEFINER LANGUAGE plpgsql AS $$
BEGIN
    PERFORM webpush_application_grant('tenant-blog', 'regress_shop_sender');
    RETURN 'granted';
END $$;
RESET ROLE;
SELECT * FROM regress.try($$SELECT regress_shop.helper()$$);
DROP SCHEMA regress_shop CASCADE;

-- The operator's role sees every application's messages.
SET ROLE regress_watcher;
SELECT application, recipients FROM webpush.message_status WHERE application LIKE 'tenant-%' ORDER BY id;
RESET ROLE;

-- Revoking takes effect at once, in sessions that used the application
-- before.
SET ROLE regress_shop_sender;
SELECT (webpush_send_user('sam', 'one', application => 'tenant-shop')).recipients;
RESET ROLE;
SELECT webpush_application_revoke('tenant-shop', 'regress_shop_sender');
SET ROLE regress_shop_sender;
SELECT * FROM regress.try($$SELECT webpush_send_user('sam', 'two', application => 'tenant-shop')$$);
RESET ROLE;
-- An owner revokes its senders, not another owner, nor makes one a mere
-- sender; and grants only to roles that exist.
SELECT webpush_application_grant('tenant-shop', 'regress_blog_sender', owner => true);
SET ROLE regress_shop_owner;
SELECT * FROM regress.try($$SELECT webpush_application_revoke('tenant-shop', 'regress_blog_sender')$$);
SELECT * FROM regress.try($$SELECT webpush_application_grant('tenant-shop', 'regress_blog_sender')$$);
SELECT * FROM regress.try($$SELECT webpush_application_grant('tenant-shop', 0)$$);
RESET ROLE;
SELECT application, role, owner FROM webpush.application_roles
WHERE application LIKE 'tenant-%' ORDER BY application, role::text;

-- "default" is webpush_sender's: a single site grants nothing.
SET ROLE regress_shop_sender;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tenant/default-1'), 'dee') > 0 AS subscribed;
SELECT (webpush_send_user('dee', 'hello')).recipients;
RESET ROLE;
SELECT application, role FROM webpush.application_roles WHERE application = 'default';

-- The default application's contact is a superuser's to set.
SET ROLE regress_shop_sender;
SELECT * FROM regress.try($$SET webpush.subject = 'mailto:attacker@example.com'$$);
RESET ROLE;

-- A BEFORE DELETE trigger lets the DELETE happen.
CREATE TABLE regress_deleted (id int, user_id text);
INSERT INTO regress_deleted VALUES (1, 'dee'), (2, 'dee');
CREATE TRIGGER notify_delete BEFORE DELETE ON regress_deleted FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Removed {id}');
DELETE FROM regress_deleted WHERE id = 1;
SELECT id FROM regress_deleted;
DROP TABLE regress_deleted;

-- A role that reads every table (pg_read_all_data gives USAGE and SELECT
-- on all) reads no message, no history and no trigger's notification
-- waiting in the intake: all three have row-level security, whose policy
-- lets webpush_monitor read what its column grants allow.
INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, status, attempts,
                             created_at, application, location)
VALUES (1, 1, 'https://push.example.com/tenant/x', 'delivered', 201, 1, now(), 'default',
        'https://push.example.com/m/x');
CREATE ROLE regress_reader;
GRANT USAGE ON SCHEMA webpush TO regress_reader;
GRANT SELECT ON webpush.messages, webpush.history, webpush.intake TO regress_reader;
SELECT (SELECT count(*) > 0 FROM webpush.messages) AS messages_stored,
       (SELECT count(*) > 0 FROM webpush.history) AS history_stored,
       (SELECT count(*) > 0 FROM webpush.intake) AS intake_stored;
SET ROLE regress_reader;
SELECT (SELECT count(*) FROM webpush.messages) AS messages_read,
       (SELECT count(*) FROM webpush.history) AS history_read,
       (SELECT count(*) FROM webpush.intake) AS intake_read;
RESET ROLE;
SET ROLE regress_watcher;
SELECT (SELECT count(*) > 0 FROM webpush.messages) AS monitor_reads_messages,
       (SELECT count(*) > 0 FROM webpush.history) AS monitor_reads_history,
       (SELECT count(*) > 0 FROM webpush.intake) AS monitor_reads_intake;
RESET ROLE;
REVOKE ALL ON webpush.messages, webpush.history, webpush.intake FROM regress_reader;
REVOKE USAGE ON SCHEMA webpush FROM regress_reader;
DROP ROLE regress_reader;
DELETE FROM webpush.history WHERE endpoint = 'https://push.example.com/tenant/x';

DELETE FROM webpush.subscriptions WHERE application LIKE 'tenant-%' OR user_id = 'dee';
DELETE FROM webpush.intake;
DELETE FROM webpush.deliveries;
DELETE FROM webpush.messages;
DELETE FROM webpush.application_roles WHERE application LIKE 'tenant-%';
DELETE FROM webpush.vapid_keys WHERE application LIKE 'tenant-%';
DELETE FROM webpush.applications WHERE name LIKE 'tenant-%';
DROP ROLE regress_shop_sender, regress_blog_sender, regress_shop_owner, regress_watcher;
