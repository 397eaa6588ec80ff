-- Notifications from triggers never break the transaction they are in for
-- the row's data: no user, no subscription, a long text, an empty title or
-- an invalid url sends what it can and commits.  The trigger author's own
-- mistakes (a column that does not exist, an application) stay errors.
SET webpush.subject = 'mailto:ops@example.com';
CREATE TABLE orders (id int PRIMARY KEY, user_id text, item text, note text);
SELECT webpush_subscribe(regress.subscription('https://push.example.com/orders/1'), 'olga') > 0 AS subscribed;

-- The generic trigger: {column} takes the row's value.
CREATE TRIGGER orders_notify AFTER INSERT OR UPDATE ON orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order {id} received', 'Your {item} is on its way', '/orders/{id}');
SET client_min_messages = warning;   -- no worker serves this database
-- What the trigger queued: a message, or (once this session knows the
-- tables) a row of webpush.intake, which a worker makes into one.
CREATE VIEW regress.notified AS
    SELECT id, payload FROM webpush.messages
    UNION ALL SELECT id, payload FROM webpush.intake;
INSERT INTO orders VALUES (1, 'olga', 'teapot');
SELECT convert_from(payload, 'UTF8')::jsonb AS payload FROM regress.notified;
-- No user: the row commits, nothing is queued.  (A user without
-- subscriptions gets no message either: the e2e tests show the worker.)
INSERT INTO orders VALUES (2, NULL, 'kettle');
SELECT count(*) AS queued FROM regress.notified;
-- A NULL column becomes nothing.
UPDATE orders SET item = NULL WHERE id = 1;
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'body' AS body FROM regress.notified ORDER BY id DESC LIMIT 1;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- The source row (option source) is kept with what the row sent, so
-- that the application finds, and may cancel, it: in webpush.intake until
-- the worker makes the message, then in webpush.messages.
CREATE TABLE returns (id int PRIMARY KEY, user_id text);
CREATE TRIGGER returns_notify AFTER INSERT ON returns FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Return {id}', '', '', 'default', 'source=returns/{id}');
INSERT INTO returns VALUES (7, 'olga');
SELECT source FROM webpush.intake;
-- A session's first firing queues the message itself, with its source.
\c
SET client_min_messages = warning;
INSERT INTO returns VALUES (8, 'olga');
SELECT source, recipients FROM webpush.message_status WHERE source = 'returns/8';
SELECT webpush_cancel(id) AS cancelled FROM webpush.message_status WHERE source = 'returns/8';
-- A source longer than a row's key is left out, with a WARNING: it is
-- indexed, and an index row too large would fail the statement, or the
-- worker's take-in of the intake.
DROP TRIGGER returns_notify ON returns;
CREATE TRIGGER returns_notify AFTER INSERT ON returns FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Return {id}', '', '', 'default', 'source=returns/{user_id}');
INSERT INTO returns VALUES (9, repeat('u', 300));
SELECT count(*) AS queued, count(source) AS with_source FROM webpush.intake WHERE user_id = repeat('u', 300);
DROP TABLE returns;
DELETE FROM webpush.history; DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- A body or url that comes out empty is left out, not an invalid url.
CREATE TABLE links (id int, user_id text, body text, url text);
CREATE TRIGGER links_notify AFTER INSERT ON links FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Link {id}', '{body}', '{url}');
INSERT INTO links VALUES (1, 'olga', NULL, NULL), (2, 'olga', 'b', '/links/2');
SELECT convert_from(payload, 'UTF8')::jsonb AS payload FROM regress.notified ORDER BY id;
DROP TABLE links;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- A field that a row makes invalid is left out, with a WARNING (an empty
-- title sends nothing); the rows commit.
CREATE TABLE pages (id int, user_id text, title text, url text);
CREATE TRIGGER pages_notify AFTER INSERT ON pages FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', '{title}', 'b', '{url}');
INSERT INTO pages VALUES (1, 'olga', 'Relative', 'orders/1'), (2, 'olga', 'Script', 'javascript:x'),
                         (3, 'olga', NULL, '/pages/3'), (4, 'olga', 'Long', '/' || repeat('u', 4000)),
                         (5, 'olga', 'Fine', '/pages/5');
SELECT count(*) AS committed FROM pages;
SELECT convert_from(payload, 'UTF8')::jsonb AS payload FROM regress.notified ORDER BY id;
DROP TABLE pages;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

-- A body far too long is shortened to fit, at a character boundary, with
-- an ellipsis; the row commits.
INSERT INTO orders VALUES (4, 'olga', repeat('é', 3000));
SELECT length(payload) <= 3993 AS fits, length(payload) > 3900 AS nearly_full,
       right(convert_from(payload, 'UTF8')::jsonb ->> 'body', 2) = 'é…' AS ends_with_ellipsis
FROM regress.notified;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

-- webpush_notification shortens the same way: body first, then title.
SELECT octet_length(webpush_notification('Title', repeat('x', 5000))::text) <= 3993 AS body_fits,
       webpush_notification('Title', repeat('x', 5000)) ->> 'title' AS title_kept;
SELECT length(webpush_notification(repeat('t', 5000), 'body') ->> 'title') BETWEEN 3850 AND 3993 - 65 AS title_shortened,
       webpush_notification(repeat('t', 5000), 'body') ->> 'body' AS body_gone_to_ellipsis;
-- Short enough: untouched.
SELECT webpush_notification('Hi', 'there') AS untouched;

-- webpush_send_user with a NULL user queues nothing, and says so by 0.
SELECT * FROM webpush_send_user(NULL, 'hi');
SELECT * FROM webpush_send_user(NULL, webpush_notification('hi'));
RESET client_min_messages;

-- The author's mistakes are errors, at the trigger's first firing.
\x on
CREATE TABLE things (id int, owner text);
CREATE TRIGGER t1 AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION webpush_notify('user_id', 'x');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t1 ON things;
CREATE TRIGGER t2 AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION webpush_notify('owner', 'Thing {nme}');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t2 ON things;
CREATE TRIGGER t3 AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION webpush_notify('owner', 'Thing', 'body', 'javascript:alert({id})');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t3 ON things;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
CREATE TRIGGER t4 AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION webpush_notify('owner');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t4 ON things;
CREATE TRIGGER t5 AFTER INSERT ON things FOR EACH STATEMENT EXECUTE FUNCTION webpush_notify('owner', 'x');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t5 ON things;
CREATE TRIGGER t6 AFTER INSERT ON things FOR EACH ROW EXECUTE FUNCTION webpush_notify('owner', 'x', '', '', 'nosuchapp');
SELECT * FROM regress.try($$INSERT INTO things VALUES (1, 'olga')$$);
DROP TRIGGER t6 ON things;
SELECT * FROM regress.try($$SELECT webpush_notify()$$);
SELECT * FROM regress.try($$SELECT webpush_notification(repeat('t', 10), url => '/' || repeat('u', 4000))$$);
\x off
SELECT count(*) AS nothing_queued FROM regress.notified;
DROP TABLE things;

-- webpush_notify() is not SECURITY DEFINER.  The role whose INSERT fires it
-- needs no privilege on webpush's tables (only the application: "default"
-- is webpush_sender's), and its search_path cannot redirect what the
-- trigger runs: in a new session the first firing runs statements (as the
-- function's owner, search_path pinned), later ones store a row of
-- webpush.intake without any.
CREATE ROLE regress_shop IN ROLE webpush_sender;
CREATE TABLE shop_orders (id int, user_id text);
GRANT INSERT ON shop_orders TO regress_shop;
CREATE TRIGGER shop_notify AFTER INSERT ON shop_orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Shop order {id}');
CREATE SCHEMA regress_evil;
CREATE FUNCTION regress_evil.now() RETURNS timestamptz LANGUAGE sql AS $$ SELECT '1999-01-01'::timestamptz $$;
CREATE FUNCTION regress_evil.count(anyelement) RETURNS bigint LANGUAGE sql AS $$ SELECT 0::bigint $$;
GRANT USAGE ON SCHEMA regress_evil TO regress_shop;
\c -
SET client_min_messages = warning;
SET ROLE regress_shop;
SET search_path = regress_evil, public, pg_catalog;
INSERT INTO shop_orders VALUES (1, 'olga');
INSERT INTO shop_orders VALUES (2, 'olga'), (3, NULL);
SELECT * FROM regress.try($$SELECT count(*) FROM webpush.intake$$);
RESET ROLE;
RESET search_path;
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'title' AS title, created_at > '2000-01-01' AS real_clock
FROM webpush.messages ORDER BY id;
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'title' AS title, queued_at > '2000-01-01' AS real_clock
FROM webpush.intake ORDER BY id;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
DROP TABLE shop_orders;
DROP SCHEMA regress_evil CASCADE;
DROP ROLE regress_shop;
-- Options after the application: the row picks its language (a title and
-- body per language, fr-CA falling back to fr, others to the default),
-- lang and dir go along, actions are a JSON template whose {column}s are
-- escaped into its strings, and an https url makes the declarative form.
CREATE TABLE chats (id int, user_id text, lang text, author text);
CREATE TRIGGER chats_notify AFTER INSERT ON chats FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'New message', '{author} wrote', 'https://chat.example.com/c/{id}', '',
        'lang={lang}', 'title.fr=Nouveau message', 'body.fr={author} a écrit', 'title.fr-CA=Nouveau courriel',
        'tag=chat-{id}', 'app_badge={id}',
        'actions=[{"action": "reply", "title": "Reply to {author}", "navigate": "/c/{id}/reply"}]');
INSERT INTO chats VALUES (1, 'olga', 'fr', 'Zoé'), (2, 'olga', 'fr-CA', 'Luc'), (3, 'olga', 'de', 'Max "the" Mann'),
                         (4, 'olga', NULL, 'Ann'), (5, 'olga', 'en_US', 'Bad');
SELECT p->'notification'->>'lang' AS lang, p->'notification'->>'title' AS title, p->'notification'->>'body' AS body,
       p->'notification'->>'tag' AS tag, p->'app_badge' AS app_badge, p->'notification'->'actions' AS actions,
       regress.webkit_accepts(p) AS declarative
FROM (SELECT convert_from(payload, 'UTF8')::jsonb AS p, id FROM regress.notified) x ORDER BY id;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- A row whose url is invalid sends without it, and its action too (as the
-- example's trigger does: the action's navigate is the row's url).
CREATE TABLE notes (id int, user_id text, url text);
CREATE TRIGGER notes_notify AFTER INSERT ON notes FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Note {id}', '', '{url}', '',
        'actions=[{"action": "open", "title": "Open", "navigate": "{url}"}]');
INSERT INTO notes VALUES (1, 'olga', 'not a url'), (2, 'olga', NULL), (3, 'olga', '/notes/3');
SELECT convert_from(payload, 'UTF8')::jsonb - 'receipt' AS payload FROM regress.notified ORDER BY id;
DROP TABLE notes;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- Boolean options: a row without a tag does not renotify, declarative=false
-- keeps the kit's convention for an https url, receipt=false leaves out the
-- ids' member, and a value that is not a boolean warns.
CREATE TABLE pings (id int, user_id text, quiet text, tag text);
CREATE TRIGGER pings_notify AFTER INSERT ON pings FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Ping {id}', '', 'https://example.com/p/{id}', '',
        'silent={quiet}', 'renotify=true', 'tag={tag}', 'declarative=false', 'receipt=false', 'require_interaction=on');
INSERT INTO pings VALUES (1, 'olga', 'true', 'p'), (2, 'olga', 'maybe', NULL);
SELECT convert_from(payload, 'UTF8')::jsonb AS payload FROM regress.notified ORDER BY id;
DROP TABLE pings;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- The trigger's own mistakes are errors at its first firing.
CREATE TRIGGER chats_bad AFTER INSERT ON chats FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 't', '', '', '', 'colour=red');
SELECT * FROM regress.try($$INSERT INTO chats VALUES (6, 'olga', 'en', 'x')$$);
DROP TRIGGER chats_bad ON chats;
CREATE TRIGGER chats_bad AFTER INSERT ON chats FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 't', '', '', '', 'lang');
SELECT * FROM regress.try($$INSERT INTO chats VALUES (6, 'olga', 'en', 'x')$$);
-- An unknown option is an error even when the row gives it no value.
DROP TRIGGER chats_bad ON chats;
CREATE TRIGGER chats_bad AFTER INSERT ON chats FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 't', '', '', '', 'bogus={author}');
SELECT state, message FROM regress.try($$INSERT INTO chats VALUES (6, 'olga', 'en', NULL)$$);
DROP TABLE chats;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;
-- A row's values never fail its INSERT: an action whose name or title
-- comes out empty is left out, and values too long for a notification
-- (here a tag, then an action) are left out, largest first, each with a
-- WARNING.
CREATE TABLE tickets (id int, user_id text, act text, tag text, label text);
CREATE TRIGGER tickets_notify AFTER INSERT ON tickets FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Ticket {id}', '', '/t/{id}', '', 'tag={tag}',
        'actions=[{"action": "{act}", "title": "{label}", "navigate": "/t/{id}/{act}"}]');
INSERT INTO tickets VALUES (1, 'olga', NULL, 't1', 'Open'),
                           (2, 'olga', 'open', repeat('x', 5000), 'Open'),
                           (3, 'olga', 'open', 't3', repeat('y', 5000));
SELECT id, length(payload) <= 3993 AS fits,
       convert_from(payload, 'UTF8')::jsonb ->> 'tag' AS tag,
       jsonb_array_length(convert_from(payload, 'UTF8')::jsonb -> 'actions') AS actions
FROM regress.notified ORDER BY id;
DROP TABLE tickets;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

-- The text a trigger stores is its notification as jsonb writes it, byte
-- for byte: quotes, backslashes, control characters and letters beyond
-- ASCII in strings, nested actions, numbers and booleans; and a payload
-- shortened to fit.
CREATE TABLE notes (id int, user_id text, title text, body text);
CREATE TRIGGER notes_notify AFTER INSERT ON notes FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', '{title}', '{body}', '/n/{id}', '', 'tag=n{id}',
        'renotify=true', 'app_badge=3', 'lang=fr-CA',
        'actions=[{"action": "a{id}", "title": "Open {title}", "navigate": "/n/{id}"}, {"action": "b", "title": "B"}]');
INSERT INTO notes VALUES (1, 'olga', E'Tab\there "q" \\ é 漢字 \u0001', E'line\nnext\r\f\b'),
                         (2, 'olga', 'Long', repeat('z', 5000));
SELECT convert_from(payload, 'UTF8') = (convert_from(payload, 'UTF8')::jsonb)::text AS as_jsonb_writes,
       convert_from(payload, 'UTF8')::jsonb -> 'title' AS title
FROM regress.notified ORDER BY id;
DROP TABLE notes;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

-- A trigger reads the columns its templates name as the table is now:
-- after a column is renamed (and another takes its name), dropped and
-- added again, or changes type: each firing in this one session.
CREATE TABLE parcels (id int, user_id text, item text);
CREATE TRIGGER parcels_notify AFTER INSERT ON parcels FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Parcel {id}', '{item}');
INSERT INTO parcels VALUES (1, 'olga', 'teapot');
ALTER TABLE parcels RENAME COLUMN item TO old_item;
ALTER TABLE parcels ADD COLUMN item text;
INSERT INTO parcels VALUES (2, 'olga', 'old', 'new');
ALTER TABLE parcels DROP COLUMN item;
SELECT state, message FROM regress.try($$INSERT INTO parcels VALUES (3, 'olga', 'gone')$$);
ALTER TABLE parcels ADD COLUMN item numeric;
INSERT INTO parcels VALUES (4, 'olga', 'x', 4.50);
ALTER TABLE parcels ALTER COLUMN item TYPE date USING NULL, ALTER COLUMN id TYPE text;
INSERT INTO parcels VALUES ('5', 'olga', 'x', '2026-12-03');
SELECT convert_from(payload, 'UTF8')::jsonb ->> 'title' AS title,
       convert_from(payload, 'UTF8')::jsonb ->> 'body' AS body
FROM regress.notified ORDER BY id;
DROP TABLE parcels;
DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

-- webpush_send_user from a PL/pgSQL trigger stores what webpush_notify
-- stores: a row of webpush.intake, which the worker makes into the
-- message after COMMIT.  It returns the id that message gets, and NULL
-- recipients: they are the user's subscriptions then.  The payload is
-- webpush_notification's jsonb as jsonb writes it, byte for byte.
CREATE TABLE regress.sent (order_id int, message_id bigint, recipients integer);
CREATE TABLE shipments (id int PRIMARY KEY, user_id text, item text);
CREATE FUNCTION regress.notify_shipment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sent record;
BEGIN
    SELECT * INTO sent FROM webpush_send_user(NEW.user_id,
        webpush_notification('Shipped', 'Your "' || NEW.item || E'" is on its way\n',
                             '/shipments/' || NEW.id, tag => 's' || NEW.id, app_badge => 2,
                             actions => '[{"action": "track", "title": "Track"}]'));
    INSERT INTO regress.sent VALUES (NEW.id, sent.message_id, sent.recipients);
    RETURN NEW;
END $$;
CREATE TRIGGER shipments_notify AFTER INSERT ON shipments FOR EACH ROW
    EXECUTE FUNCTION regress.notify_shipment();
INSERT INTO shipments VALUES (1, 'olga', 'teapot é');
SELECT s.message_id = i.id AS intake_id_returned, s.recipients,
       i.payload = convert_to(webpush_notification('Shipped', E'Your "teapot é" is on its way\n',
                                                   '/shipments/1', tag => 's1', app_badge => 2,
                                                   actions => '[{"action": "track", "title": "Track"}]')::text,
                              'UTF8') AS payload_as_jsonb_writes,
       i.user_id, i.ttl, i.urgency
FROM regress.sent s JOIN webpush.intake i ON i.id = s.message_id;
SELECT count(*) AS messages FROM webpush.messages;
-- webpush_cancel of that id, committed and not yet taken in: made into its
-- message now, for the user's subscriptions, then cancelled.
SELECT webpush_cancel(message_id) AS cancelled FROM regress.sent WHERE order_id = 1;
SELECT m.recipients, h.outcome, h.user_id, (SELECT count(*) FROM webpush.intake) AS intake
FROM regress.sent s JOIN webpush.message_status m ON m.id = s.message_id
JOIN webpush.history h ON h.message_id = s.message_id;
-- The same within the transaction that sent it; the worker finds nothing
-- left to take in.
BEGIN;
INSERT INTO shipments VALUES (2, 'olga', 'kettle');
SELECT webpush_cancel(message_id) AS cancelled FROM regress.sent WHERE order_id = 2;
COMMIT;
SELECT m.recipients, m.cancelled, (SELECT count(*) FROM webpush.intake) AS intake
FROM regress.sent s JOIN webpush.message_status m ON m.id = s.message_id WHERE s.order_id = 2;
-- A user without subscriptions: the id names no message once taken in;
-- cancelling it before then cancels nothing, after it is an error.
INSERT INTO shipments VALUES (3, 'nobody', 'spoon');
SELECT message_id IS NOT NULL AS has_id, recipients FROM regress.sent WHERE order_id = 3;
SELECT webpush_cancel(message_id) AS cancelled FROM regress.sent WHERE order_id = 3;
SELECT message_id AS nobodys FROM regress.sent WHERE order_id = 3 \gset
SELECT state, message = format('message %s does not exist', :nobodys) AS does_not_exist
FROM regress.try(format('SELECT webpush_cancel(%s)', :nobodys));
-- What the intake has no column for is queued as before: the message and
-- its deliveries, counted.
CREATE OR REPLACE FUNCTION regress.notify_shipment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sent record;
BEGIN
    SELECT * INTO sent FROM webpush_send_user(NEW.user_id, 'Shipped ' || NEW.id,
        topic => CASE WHEN NEW.id = 4 THEN 'shipments' END,
        send_at => CASE WHEN NEW.id = 5 THEN now() + interval '1 hour' END,
        dedupe_key => CASE WHEN NEW.id = 6 THEN 'shipment-6' END,
        local_time => CASE WHEN NEW.id = 7 THEN time '08:00' END,
        application => 'default');
    INSERT INTO regress.sent VALUES (NEW.id, sent.message_id, sent.recipients);
    RETURN NEW;
END $$;
INSERT INTO shipments VALUES (4, 'olga', 'a'), (5, 'olga', 'b'), (6, 'olga', 'c'), (7, 'olga', 'd'), (8, 'olga', 'e');
SELECT s.order_id, s.recipients, m.id IS NOT NULL AS message, i.id IS NOT NULL AS intake
FROM regress.sent s LEFT JOIN webpush.messages m ON m.id = s.message_id
LEFT JOIN webpush.intake i ON i.id = s.message_id
WHERE s.order_id >= 4 ORDER BY 1;
-- Outside a trigger, the message and its recipients at once.
SELECT message_id AS direct, recipients FROM webpush_send_user('olga', 'direct') \gset
SELECT :recipients AS recipients, count(*) AS message FROM webpush.messages WHERE id = :direct;
-- Another application's id looks absent to a role that may not use it,
-- and stays queued.
CREATE OR REPLACE FUNCTION regress.notify_shipment() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sent record;
BEGIN
    SELECT * INTO sent FROM webpush_send_user(NEW.user_id, 'Shipped ' || NEW.id,
        application => CASE WHEN NEW.id < 11 THEN 'shop' ELSE 'default' END);
    INSERT INTO regress.sent VALUES (NEW.id, sent.message_id, sent.recipients);
    RETURN NEW;
END $$;
INSERT INTO shipments VALUES (9, 'olga', 'f'), (10, 'olga', 'g');
SELECT recipients, (SELECT application FROM webpush.intake WHERE id = message_id) AS intake
FROM regress.sent WHERE order_id = 9;
SELECT message_id AS shops FROM regress.sent WHERE order_id = 9 \gset
CREATE ROLE regress_trigger_sender IN ROLE webpush_sender;
SET ROLE regress_trigger_sender;
SELECT state, message = format('message %s does not exist', :shops) AS does_not_exist
FROM regress.try(format('SELECT webpush_cancel(%s)', :shops));
RESET ROLE;
SELECT count(*) AS still_in_intake FROM webpush.intake WHERE id = :shops;
-- Under webpush.max_queued_per_role the role's count needs the message:
-- queued as before, counted, and over the limit an error.
GRANT INSERT ON shipments TO regress_trigger_sender;
GRANT INSERT ON regress.sent TO regress_trigger_sender;
SET webpush.max_queued_per_role = 1;
SET ROLE regress_trigger_sender;
INSERT INTO shipments VALUES (11, 'olga', 'h');
SELECT state, message FROM regress.try($$INSERT INTO shipments VALUES (12, 'olga', 'i')$$);
RESET ROLE;
RESET webpush.max_queued_per_role;
SELECT s.recipients, m.queued_by::regrole AS queued_by
FROM regress.sent s JOIN webpush.messages m ON m.id = s.message_id WHERE s.order_id = 11;
DROP TABLE shipments;
DROP TABLE regress.sent;
DROP FUNCTION regress.notify_shipment();
DROP ROLE regress_trigger_sender;
DELETE FROM webpush.history; DELETE FROM webpush.deliveries; DELETE FROM webpush.messages; DELETE FROM webpush.intake;

DROP VIEW regress.notified;
DROP TABLE orders;
SELECT webpush_unsubscribe('https://push.example.com/orders/1');
