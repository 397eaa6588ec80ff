-- Messages: stored once, scheduled, deduplicated, cancelled, and their
-- status per recipient.
SET webpush.subject = 'mailto:ops@example.com';
SET client_min_messages = warning;   -- no worker serves this database
SELECT COALESCE(sum(cancelled), 0) AS cancelled_before FROM webpush.counters
WHERE application = 'default' AND host IS NULL \gset
CREATE TEMP TABLE subs AS
SELECT webpush_subscribe(regress.subscription('https://push.example.com/msg/' || i), 'mia') AS id
FROM generate_series(1, 3) i;

-- Scheduling: the TTL counts from send_at.
SELECT message_id AS later, recipients FROM webpush_send_user('mia', 'at nine',
       ttl => 3600, send_at => '2030-01-01 09:00+00') \gset
SELECT :recipients AS recipients, send_at, expires_at - send_at AS ttl
FROM webpush.messages WHERE id = :later;
-- Scheduled is not due: nothing has waited yet.
SELECT queued, scheduled, oldest_due_at FROM webpush.status;

-- Deduplication: the same key in the same application queues nothing more
-- and gives the first message's id.
SELECT message_id AS first FROM webpush_send_user('mia', 'shipped', dedupe_key => 'order-7-shipped') \gset
SELECT queued, scheduled, oldest_due_at <= now() AS due_since FROM webpush.status;
SELECT message_id = :first AS same_message, recipients
FROM webpush_send_user('mia', 'shipped again', dedupe_key => 'order-7-shipped');
SELECT webpush_send((SELECT min(id) FROM subs), 'by id', dedupe_key => 'order-7-shipped') = :first AS same_by_id;
SELECT count(*) AS deliveries_of_first FROM webpush.deliveries WHERE message_id = :first;

-- Per-message status.
SELECT recipients, queued, sending, delivered, failed, expired, cancelled
FROM webpush.message_status WHERE id = :first;

-- Cancelling takes what is not in flight, and records it.
UPDATE webpush.deliveries SET claimed_by = 12345, attempts = 1
WHERE message_id = :first AND subscription_id = (SELECT min(id) FROM subs);
SELECT webpush_cancel(:first) AS cancelled;
SELECT webpush_cancel(:first) AS nothing_left;
SELECT queued, sending, cancelled FROM webpush.message_status WHERE id = :first;
SELECT outcome, reason, count(*) FROM webpush.history WHERE message_id = :first GROUP BY 1, 2;
SELECT webpush_cancel(:later) AS scheduled_cancelled;
SELECT scheduled FROM webpush.status;
-- The counters count the cancellations (no host: they were never sent),
-- and the status view reads them.
SELECT cancelled - :cancelled_before AS cancelled FROM webpush.counters
WHERE application = 'default' AND host IS NULL;
SELECT cancelled AS cancelled_at_the_host FROM webpush.counters
WHERE application = 'default' AND host = 'push.example.com';
SELECT cancelled >= 5 AS cancelled_counted FROM webpush.status;

-- The trace: every delivery of a user, waiting or finished, with the
-- user kept in the history after the subscription is gone.
SELECT state, reason, attempts, user_id FROM webpush_trace(for_user => 'mia')
WHERE message_id = :first ORDER BY subscription_id;
SELECT message_id = :later AS later, state, count(*) FROM webpush_trace(for_message => :later) GROUP BY 1, 2;
SELECT count(*) AS unknown_user FROM webpush_trace(for_user => 'nobody');
SELECT * FROM regress.try($$SELECT * FROM webpush_trace()$$);
SELECT * FROM regress.try($$SELECT * FROM webpush_trace(for_user => 'mia', for_message => 1)$$);
SELECT * FROM regress.try($$SELECT * FROM webpush_trace(for_message => -1)$$);
-- A cancelled message frees its dedupe_key: the same key sends again.
SELECT message_id AS resent, recipients
FROM webpush_send_user('mia', 'shipped after all', dedupe_key => 'order-7-shipped') \gset
SELECT :resent <> :first AS new_message, :recipients AS recipients,
       (SELECT count(*) FROM webpush.deliveries WHERE message_id = :resent) AS deliveries;

-- A cancel after sending: a delivered copy whose push message resource is
-- known (history.location) and whose TTL lasts gets a DELETE queued in
-- webpush.recalls; one whose TTL ran out, or a second cancel, none.
SELECT id AS mia_sub FROM webpush.subscriptions WHERE user_id = 'mia' ORDER BY id LIMIT 1 \gset
INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, status, attempts,
                             created_at, finished_at, application, location)
VALUES (:resent, :mia_sub, 'https://push.example.com/msg/1', 'delivered', 201, 1,
        now(), now(), 'default', 'https://push.example.com/m/held'),
       (:resent, 0, 'https://push.example.com/msg/2', 'delivered', 201, 1,
        now(), now() - interval '29 days', 'default', 'https://push.example.com/m/old');
SELECT webpush_cancel(:resent) AS cancelled_and_recalled;
SELECT subscription_id = :mia_sub AS mia, application, location, attempts, outcome,
       due_at <= now() AS due, expires_at > now() + interval '27 days' AS expires_with_ttl
FROM webpush.recalls WHERE message_id = :resent;
SELECT webpush_cancel(:resent) AS nothing_more;
SELECT count(*) AS recalls FROM webpush.recalls;
-- The location deletes the message at the push service: granted to nobody.
SELECT has_column_privilege('webpush_monitor', 'webpush.history', 'location', 'SELECT') AS monitor_history_location,
       has_column_privilege('webpush_monitor', 'webpush.recalls', 'location', 'SELECT') AS monitor_recall_location,
       has_column_privilege('webpush_monitor', 'webpush.recalls', 'outcome', 'SELECT') AS monitor_recall_outcome,
       has_table_privilege('webpush_sender', 'webpush.recalls', 'SELECT') AS sender_recalls,
       has_any_column_privilege('public', 'webpush.recalls', 'SELECT') AS public_recalls,
       relrowsecurity AS row_security
FROM pg_class WHERE oid = 'webpush.recalls'::regclass;
RESET client_min_messages;

-- Errors, and nothing stored by them.
\x on
SELECT t.call, r.*
FROM (VALUES
    ($$SELECT webpush_cancel(-1)$$),
    ($$SELECT webpush_send_user('mia', 'x', send_at => 'infinity')$$),
    ($$SELECT webpush_send_user('mia', 'x', dedupe_key => '')$$),
    ($$SELECT webpush_send_user('mia', 'x', dedupe_key => repeat('k', 257))$$),
    ($$SELECT webpush_send_many(ARRAY[1], 'x', send_at => '-infinity')$$)
) AS t(call), LATERAL regress.try(t.call) AS r;
\x off
SELECT count(*) AS messages_left FROM webpush.messages WHERE id NOT IN (:first, :later, :resent);
DELETE FROM webpush.recalls; DELETE FROM webpush.history; DELETE FROM webpush.deliveries; DELETE FROM webpush.messages;
SELECT webpush_unsubscribe('https://push.example.com/msg/' || i) FROM generate_series(1, 3) i;
