-- Frequency caps: at most N messages delivered to a user of an
-- application per window; over it the worker drops or defers.  What is
-- stored and refused here; test/e2e/9-frequency-caps what the worker does.
SET webpush.subject = 'mailto:ops@example.com';
SET client_min_messages = warning;
CREATE ROLE regress_cap_owner IN ROLE webpush_sender;
CREATE ROLE regress_cap_sender IN ROLE webpush_sender;
CREATE ROLE regress_cap_other IN ROLE webpush_sender;
CREATE ROLE regress_cap_watcher IN ROLE webpush_monitor;
CREATE ROLE regress_cap_nobody;
SELECT webpush_application('cap-news', 'mailto:news@example.com') IS NOT NULL AS news;
SELECT webpush_application('cap-chat', 'mailto:chat@example.com') IS NOT NULL AS chat;
SELECT webpush_application_grant('cap-news', 'regress_cap_owner', owner => true);
SELECT webpush_application_grant('cap-news', 'regress_cap_sender');
SELECT webpush_application_grant('cap-chat', 'regress_cap_other', owner => true);

-- Set, read back, changed, cleared; over_cap defaults to 'defer'.
SELECT webpush_application_frequency_cap('cap-news', 3, '1 hour');
SELECT frequency_cap, frequency_window, over_cap FROM webpush.applications WHERE name = 'cap-news';
SELECT webpush_application_frequency_cap('cap-news', 10, '1 day', 'drop');
SELECT frequency_cap, frequency_window, over_cap FROM webpush.applications WHERE name = 'cap-news';
SELECT webpush_application_frequency_cap('cap-news', NULL, NULL);
SELECT frequency_cap IS NULL AND frequency_window IS NULL AND over_cap IS NULL AS none
FROM webpush.applications WHERE name = 'cap-news';

-- Each bad argument is an error with a hint, and stores nothing.
SELECT webpush_application_frequency_cap('cap-news', 2, '10 minutes', 'drop');
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, NULL)$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', NULL, '1 hour')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 0, '1 hour')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', -1, '1 hour')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '1 month')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '0 seconds')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '-1 hour')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '0.5 seconds')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '1.5 seconds')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '32 days')$$);
-- Days whose microseconds overflow 64 bits (wrapping round to one hour).
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '213503982 days 09:01:49.551616')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '-213503982 days -06:58:10.448384')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '2147483647 days -2147483647 hours')$$);
-- The worker counts the history, kept for webpush.history_retention (7 days).
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '8 days')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '1 hour', 'bounce')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 3, '1 hour', NULL)$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', NULL, NULL, 'bounce')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-nowhere', 3, '1 hour')$$);
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap(NULL, 3, '1 hour')$$);
SELECT frequency_cap, frequency_window, over_cap FROM webpush.applications WHERE name = 'cap-news';

-- The table's CHECK holds the same rules against a DBA's UPDATE.
SELECT state, message FROM regress.try($$UPDATE webpush.applications SET frequency_cap = 0 WHERE name = 'cap-news'$$);
SELECT state, message FROM regress.try($$UPDATE webpush.applications SET over_cap = NULL WHERE name = 'cap-news'$$);
SELECT state, message FROM regress.try($$UPDATE webpush.applications SET frequency_window = '32 days' WHERE name = 'cap-news'$$);
SELECT state, message FROM regress.try($$UPDATE webpush.applications SET over_cap = 'later' WHERE name = 'cap-news'$$);
SELECT state, message FROM regress.try($$UPDATE webpush.applications SET frequency_cap = 5, frequency_window = '1 minute', over_cap = 'defer' WHERE name = 'cap-chat'$$);
SELECT webpush_application_frequency_cap('cap-chat', NULL, NULL);

-- Who may: the application's owners (and superusers); not a sender of
-- it, not another application's owner, not a role without webpush_sender.
SET ROLE regress_cap_owner;
SELECT webpush_application_frequency_cap('cap-news', 4, '2 hours', 'defer');
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-chat', 1, '1 hour')$$);
RESET ROLE;
SET ROLE regress_cap_sender;
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', 100, '1 second')$$);
-- A sender reads the caps of the applications it may use, and only those.
SELECT name, frequency_cap, frequency_window, over_cap FROM webpush.applications
WHERE name LIKE 'cap-%' ORDER BY name;
RESET ROLE;
SET ROLE regress_cap_other;
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', NULL, NULL)$$);
SELECT name, frequency_cap FROM webpush.applications WHERE name LIKE 'cap-%' ORDER BY name;
RESET ROLE;
SET ROLE regress_cap_watcher;
SELECT name, frequency_cap, frequency_window, over_cap FROM webpush.applications
WHERE name LIKE 'cap-%' ORDER BY name;
SELECT * FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', NULL, NULL)$$);
RESET ROLE;
SET ROLE regress_cap_nobody;
SELECT state FROM regress.try($$SELECT webpush_application_frequency_cap('cap-news', NULL, NULL)$$);
RESET ROLE;
SELECT frequency_cap, frequency_window, over_cap FROM webpush.applications WHERE name = 'cap-news';
SELECT pg_catalog.has_function_privilege('public', 'webpush_application_frequency_cap(text, integer, interval, text)', 'EXECUTE') AS public_may,
       pg_catalog.has_function_privilege('webpush_sender', 'webpush_application_frequency_cap(text, integer, interval, text)', 'EXECUTE') AS sender_may;

-- What the worker counts for a capped user is the last window of their
-- history, an index range (the worker plans without sequential or bitmap
-- scans), not all of it.
BEGIN;
SET LOCAL enable_seqscan = off;
SET LOCAL enable_bitmapscan = off;
EXPLAIN (COSTS OFF)
SELECT message_id, max(finished_at) FROM webpush.history
WHERE application = 'cap-news' AND user_id = 'ann' AND user_id IS NOT NULL
  AND outcome = 'delivered' AND finished_at > now() - interval '1 hour'
GROUP BY message_id;
COMMIT;

SELECT webpush_application_frequency_cap('cap-news', NULL, NULL);
DELETE FROM webpush.application_roles WHERE application LIKE 'cap-%';
DELETE FROM webpush.vapid_keys WHERE application LIKE 'cap-%';
DELETE FROM webpush.applications WHERE name LIKE 'cap-%';
DROP ROLE regress_cap_owner, regress_cap_sender, regress_cap_other, regress_cap_watcher, regress_cap_nobody;
