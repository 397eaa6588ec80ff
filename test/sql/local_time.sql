-- Sends at a local time: each recipient's delivery is due at that time of
-- day in its subscription's time zone (the application's without one),
-- daylight saving time included.
SET webpush.subject = 'mailto:ops@example.com';
SET client_min_messages = warning;   -- no worker serves this database
SET TimeZone = 'UTC';

-- When 09:00 next comes.  Europe moves its clocks on 2026-03-29, the
-- United States on 2026-03-08; Japan does not.
SELECT zone, after, webpush.local_time('09:00', zone, after) AS due
FROM (VALUES ('Europe/Paris', timestamptz '2026-03-27 10:00+00'),   -- winter: 08:00 UTC the next day
             ('Europe/Paris', '2026-03-28 12:00+00'),               -- the change comes first: 07:00 UTC
             ('Europe/Paris', '2026-03-29 08:00+00'),               -- 10:00 there: the next day
             ('Europe/Paris', '2026-10-24 12:00+00'),               -- back to winter time the next day
             ('America/New_York', '2026-03-07 13:00+00'),           -- 08:00 there: the same day, 14:00 UTC
             ('America/New_York', '2026-03-07 15:00+00'),           -- after the change: 13:00 UTC
             ('Asia/Tokyo', '2026-03-28 12:00+00'),                 -- 21:00 there: midnight UTC
             ('Asia/Tokyo', '2026-03-29 00:00+00'),                 -- exactly then: now
             ('UTC', '2026-03-29 09:00:00.000001+00')) AS t(zone, after);
-- A time the spring change skips is read as PostgreSQL reads it.
SELECT webpush.local_time('02:30', 'Europe/Paris', '2026-03-28 12:00+00') AS skipped;
SELECT webpush.local_time('09:00', NULL, now()) IS NULL AS strict;
-- Not time zones: an unknown name, an abbreviation, a POSIX rule, an offset.
SELECT webpush.local_time('09:00', 'Mars/Olympus_Mons', now());
SELECT webpush.local_time('09:00', 'CEST', now());
SELECT webpush.local_time('09:00', 'EST5EDT', now());
SELECT webpush.local_time('09:00', '+03', now());
-- Rule strings with a region-like name: no place's time either.
SELECT webpush.local_time('09:00', 'Etc/GMT+99', now());
SELECT webpush.local_time('09:00', 'X/Y-167Z/W+167,M3.2.0,M11.1.0', now());
SELECT webpush.local_time('09:00', 'etc/gmt+5', '2026-07-28 12:00+00') AS etc_gmt_plus_5;
SELECT webpush.local_time('09:00', 'Europe/Paris', 'infinity');

-- Subscriptions get their zone from the browser kit's timeZone member, or
-- from webpush_time_zone; the rest take the application's.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/paris')
                         || '{"timeZone": "Europe/Paris"}', 'anne') AS paris \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/tokyo'), 'kenji') AS tokyo \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/nyc'), 'maya') AS nyc \gset
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/nowhere'), 'omar') AS nowhere \gset
SELECT webpush_time_zone('kenji', 'asia/tokyo') AS set_for_kenji;   -- spelled as the database does
SELECT webpush_time_zone('maya', 'America/New_York') AS set_for_maya;
SELECT webpush_time_zone('nobody', 'Europe/Paris') AS set_for_nobody;
SELECT webpush_time_zone('maya', 'Eastern Standard Time');
SELECT webpush_time_zone(NULL, 'Europe/Paris');
-- A zone this server does not know leaves the subscription zone-less, with
-- a notice; a timeZone that is not a string is refused.
SET client_min_messages = notice;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/moon')
                         || '{"timeZone": "Moon/Tranquility_Base"}', 'luna') AS moon \gset
SET client_min_messages = warning;
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/bad')
                         || '{"timeZone": 2}', 'bad');
-- Subscribing again without a zone keeps the one stored.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/paris'), 'anne') = :paris AS same;
SELECT user_id, time_zone FROM webpush.subscriptions WHERE endpoint LIKE '%/tz/%' ORDER BY id;
-- The application's zone: UTC until its owner sets another.
SELECT time_zone FROM webpush.applications WHERE name = 'default';
SELECT webpush_application_time_zone('default', 'america/sao_paulo');
SELECT webpush_application_time_zone('default', NULL);
SELECT webpush_application_time_zone('default', 'Nowhere/Special');

-- A broadcast at 09:00 local, the day before Europe's change: each
-- delivery is due at its own 09:00, the TTL counted from there; the
-- message waits for none of them as a first attempt.
SELECT message_id AS nine, recipients
FROM webpush_send_many(ARRAY[:paris, :tokyo, :nyc, :nowhere, :moon], 'good morning', ttl => 3600,
                       send_at => '2026-03-28 12:00+00', local_time => '09:00') \gset
SELECT :recipients AS recipients, send_at, expires_at, pending FROM webpush.messages WHERE id = :nine;
SELECT s.user_id, s.time_zone, d.due_at, d.next_attempt_at = d.due_at AS waits_until_due, d.attempts
FROM webpush.deliveries d JOIN webpush.subscriptions s ON s.id = d.subscription_id
WHERE d.message_id = :nine ORDER BY d.due_at, s.user_id;

-- A user's devices in two zones get two times.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/anne-laptop')
                         || '{"timeZone": "Asia/Tokyo"}', 'anne') AS laptop \gset
SELECT recipients FROM webpush_send_user('anne', 'reminder', local_time => '18:30',
                                         send_at => '2026-06-01 00:00+00');
SELECT s.endpoint, d.due_at FROM webpush.deliveries d JOIN webpush.subscriptions s ON s.id = d.subscription_id
WHERE d.message_id = (SELECT max(id) FROM webpush.messages) ORDER BY d.due_at;
-- Deduplicated like any send; without local_time nothing changes.
SELECT message_id AS once FROM webpush_send_user('anne', 'daily', local_time => '07:00', dedupe_key => 'daily-1') \gset
SELECT message_id = :once AS same_message FROM webpush_send_user('anne', 'daily', local_time => '07:00', dedupe_key => 'daily-1');
SELECT message_id AS plain FROM webpush_send_user('anne', 'now') \gset
SELECT pending, count(d.*) FILTER (WHERE d.due_at IS NULL AND d.next_attempt_at IS NULL) AS first_attempts
FROM webpush.messages m JOIN webpush.deliveries d ON d.message_id = m.id WHERE m.id = :plain GROUP BY 1;
-- A delivery whose local time has not come is scheduled, not queued.
SELECT scheduled AS scheduled_before FROM webpush.status \gset
SELECT recipients FROM webpush_send_user('anne', 'new year', local_time => '00:00',
                                         send_at => '2030-01-01 00:00+00');
SELECT scheduled - :scheduled_before AS scheduled FROM webpush.status;
-- webpush_trace says so too, also for one sent now, whose message is due.
SELECT state, due_at FROM webpush_trace(for_message => (SELECT max(id) FROM webpush.messages));
SELECT message_id AS soon FROM webpush_send_user('anne', 'later today', local_time => '12:00') \gset
SELECT DISTINCT state FROM webpush_trace(for_message => :soon);
SELECT webpush_cancel(:soon) AS cancelled;

-- A zone named like an abbreviation is read by its rules, as the worker
-- reads it: CET, WET keep summer time (the abbreviations are fixed
-- offsets), and EST is the zone, whatever timezone_abbreviations says.
SELECT webpush.local_time('09:00', 'CET', '2026-07-28 12:00+00') = '2026-07-29 07:00+00' AS cet_summer,
       webpush.local_time('09:00', 'WET', '2026-07-28 12:00+00') = '2026-07-29 08:00+00' AS wet_summer,
       webpush.local_time('09:00', 'CET', '2026-01-28 12:00+00') = '2026-01-29 08:00+00' AS cet_winter;
SET timezone_abbreviations = 'Australia';
SELECT webpush.local_time('09:00', 'EST', '2026-07-28 12:00+00') = '2026-07-28 14:00+00' AS est;
RESET timezone_abbreviations;
-- A time an autumn change repeats: PostgreSQL's reading, the second.
SELECT webpush.local_time('02:30', 'Europe/Paris', '2026-10-24 12:00+00') = '2026-10-25 01:30+00' AS repeated;

-- A zone that the time zone data no longer has (it was updated since the
-- zone was stored) is read as the application's, with a NOTICE: one
-- recipient must not fail the send to all.
SELECT webpush_subscribe(regress.subscription('https://push.example.com/tz/zed')
                         || '{"timeZone": "Asia/Tokyo"}', 'zed') AS zed \gset
UPDATE webpush.subscriptions SET time_zone = 'Atlantis/Lost_City' WHERE id = :zed;
SELECT recipients FROM webpush_send_user('zed', 'r', local_time => '09:00',
                                         send_at => '2026-06-01 00:00+00');
SELECT recipients FROM webpush_send_many(ARRAY[:zed, :laptop], 'r', local_time => '09:00',
                                         send_at => '2026-06-01 00:00+00');
SELECT d.subscription_id = :zed AS zed, d.due_at FROM webpush.deliveries d
WHERE d.message_id >= (SELECT max(id) - 1 FROM webpush.messages) ORDER BY d.message_id, 1 DESC;
SELECT webpush.local_time('09:00', time_zone, '2026-06-01 00:00+00') AS applications_nine
FROM webpush.applications WHERE name = 'default';

-- Quiet hours: both ends or neither, and not the same time.
SELECT webpush_application_quiet_hours('default', '22:00', '07:00');
SELECT quiet_start, quiet_end FROM webpush.applications WHERE name = 'default';
SELECT webpush_application_quiet_hours('default', '22:00', NULL);
SELECT webpush_application_quiet_hours('default', '07:00', '07:00');
-- 24:00 would hold everything at each midnight again, for ever.
SELECT webpush_application_quiet_hours('default', '00:00', '24:00');
SELECT webpush_application_quiet_hours('default', '24:00', '07:00');
SELECT webpush_application_quiet_hours('default', NULL, NULL);
SELECT quiet_start IS NULL AND quiet_end IS NULL AS none FROM webpush.applications WHERE name = 'default';

SELECT webpush_cancel(id) FROM webpush.messages WHERE id >= :nine ORDER BY id;
SELECT webpush_unsubscribe_user(u) FROM unnest(ARRAY['anne', 'kenji', 'maya', 'omar', 'luna', 'zed']) u;
RESET TimeZone;
