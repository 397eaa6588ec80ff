#!/usr/bin/env bash
# The queue's size and speed on the messages-and-deliveries model:
#   - bytes per recipient of a 10,000-recipient broadcast of a typical
#     webpush_notification payload to FCM-length endpoints
#     (pg_total_relation_size of webpush.messages and webpush.deliveries);
#   - deliveries queued per second by webpush_send_many to 100,000;
#   - scheduled sends: QUEUE_SCHEDULED messages (10,000) due on the seconds
#     of the next QUEUE_SECONDS (60), to a loopback push service, with how
#     late each arrived after its send_at (p50, p99, max) and the worker's
#     CPU time meanwhile (QUEUE_SCHEDULED=0 skips it).
# As an unprivileged user with the extension installed (scripts/bench.sh
# with BENCH_MODE=queue sets that up).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-queue.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54333} PGDATABASE=postgres
export WEBPUSH_TEST_TLS=$work/tls
trap 'pg_ctl stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
test/make-tls.sh "$WEBPUSH_TEST_TLS"
test/cluster.sh init "$PGDATA"
pg_ctl start -w -l "$work/postgres.log" >/dev/null
# Sizes and rates are measured in "bench", which no worker serves.
createdb bench
export PGOPTIONS='-c client_min_messages=warning'
psql -Xq -d bench <<'SQL'
CREATE EXTENSION webpush;
SELECT webpush_keys();
-- FCM endpoints are about 180 bytes.
INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, application, key_id)
SELECT 'https://fcm.googleapis.com/fcm/send/' || md5(i::text) || ':APA91b' || repeat(md5((-i)::text), 3),
       decode('04' || repeat('ab', 64), 'hex'), decode(repeat('cd', 16), 'hex'), 'default',
       (SELECT id FROM webpush.vapid_keys)
FROM generate_series(1, 100000) i;
VACUUM ANALYZE webpush.subscriptions;
SQL
bytes=$(psql -XAt -d bench <<'SQL'
SELECT recipients FROM webpush_send_many(
    (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM webpush.subscriptions ORDER BY id LIMIT 10000) s),
    webpush_notification('Your order has shipped', 'The teapot you ordered on Monday is on its way and arrives on Thursday.',
                         url => '/orders/12345', icon => '/static/icon-192.png', tag => 'order-12345')) \g /dev/null
SELECT round((pg_total_relation_size('webpush.messages') + pg_total_relation_size('webpush.deliveries'))
             / 10000.0, 1);
SQL
)
echo "queue bytes per recipient, 10,000-recipient broadcast into empty tables: $bytes"
# What a second broadcast adds: the first one's figure includes what the
# tables cost once whatever they hold (index metapages, the free space
# map, the empty indexes of messages).
added=$(psql -XAt -d bench <<'SQL'
SELECT pg_total_relation_size('webpush.messages') + pg_total_relation_size('webpush.deliveries') AS before \gset
SELECT recipients FROM webpush_send_many(
    (SELECT array_agg(id ORDER BY id) FROM (SELECT id FROM webpush.subscriptions ORDER BY id LIMIT 10000) s),
    webpush_notification('Your order has shipped', 'The teapot you ordered on Monday is on its way and arrives on Thursday.',
                         url => '/orders/12346', icon => '/static/icon-192.png', tag => 'order-12346')) \g /dev/null
SELECT round((pg_total_relation_size('webpush.messages') + pg_total_relation_size('webpush.deliveries') - :before)
             / 10000.0, 1);
SQL
)
echo "queue bytes per recipient that a second 10,000-recipient broadcast adds: $added"
psql -Xq -d bench -c 'TRUNCATE webpush.deliveries, webpush.messages, webpush.receipts'
# A new session's first call pays for mapping the subscriptions' shared
# buffers into the backend; a pooled application's session has done that
# already, so the next calls in the same session are printed too.
rate=$(psql -XAt -d bench <<'SQL'
CREATE TEMP TABLE ids AS SELECT array_agg(id ORDER BY id) AS ids FROM webpush.subscriptions;
\timing on
SELECT recipients FROM webpush_send_many((SELECT ids FROM ids), 'broadcast');
\timing off
TRUNCATE webpush.deliveries, webpush.messages, webpush.receipts;
\timing on
SELECT recipients FROM webpush_send_many((SELECT ids FROM ids), 'broadcast');
\timing off
TRUNCATE webpush.deliveries, webpush.messages, webpush.receipts;
\timing on
SELECT recipients FROM webpush_send_many((SELECT ids FROM ids), 'broadcast');
SQL
)
n=$(echo "$rate" | grep -E '^[0-9]+$' | head -1)
echo "$rate" | sed -n 's/^Time: \([0-9.]*\) ms.*/\1/p' | awk -v n="$n" '
    NR == 1 { printf "webpush_send_many to %d, a new session'"'"'s first call: %.0f ms, %.0f deliveries queued per second\n", n, $1, n / ($1 / 1000) }
    NR > 1 && (best == "" || $1 < best) { best = $1 }
    END { printf "webpush_send_many to %d, the same session'"'"'s next calls (best of 2): %.0f ms, %.0f deliveries queued per second\n", n, best, n / (best / 1000) }'

# Scheduling, against the loopback push service, in "postgres" (served).
count=${QUEUE_SCHEDULED:-10000}
seconds=${QUEUE_SECONDS:-60}
[ "$count" -eq 0 ] && exit 0
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node bench/schedule.js "$count" "$seconds"
