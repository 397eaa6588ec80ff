#!/usr/bin/env bash
# What the status views cost at STATUS_HISTORY history rows (1,000,000) and
# STATUS_QUEUED deliveries waiting (100,000), in database "bench":
#   - the first read, which counts the queue for the snapshot the views
#     show (counters.c: readers count a small queue, the worker a large one
#     at most once a second; "bench" has no worker, so a reader does);
#   - then each view read over and over for STATUS_SECONDS (3) by one
#     client (pgbench): latency p50, p99 and max, in milliseconds;
#   - message_status for one message, and webpush_trace for a user and a
#     message, at the same sizes.
# As an unprivileged user with the extension installed:
#   PATH=/usr/lib/postgresql/15/bin:$PATH bench/status.sh
set -euo pipefail
cd "$(dirname "$0")/.."
history=${STATUS_HISTORY:-1000000}
queued=${STATUS_QUEUED:-100000}
seconds=${STATUS_SECONDS:-3}
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-status.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54334} PGDATABASE=bench
export WEBPUSH_TEST_TLS=$work/tls
trap 'pg_ctl stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
test/make-tls.sh "$WEBPUSH_TEST_TLS" >/dev/null 2>&1
test/cluster.sh init "$PGDATA"
pg_ctl start -w -l "$work/postgres.log" >/dev/null
createdb --maintenance-db=postgres bench
export PGOPTIONS='-c client_min_messages=warning'
psql -Xq <<SQL
CREATE EXTENSION webpush;
SELECT webpush_keys() \g /dev/null
INSERT INTO webpush.subscriptions (endpoint, p256dh, auth, application, key_id, user_id)
SELECT (ARRAY['https://fcm.googleapis.com/fcm/send/', 'https://updates.push.services.mozilla.com/wpush/v2/',
              'https://web.push.apple.com/'])[1 + i % 3] || md5(i::text),
       decode('04' || repeat('ab', 64), 'hex'), decode(repeat('cd', 16), 'hex'), 'default',
       (SELECT id FROM webpush.vapid_keys), 'user-' || (i % 20000)
FROM generate_series(1, $queued) i;
SELECT recipients FROM webpush_send_many((SELECT array_agg(id) FROM webpush.subscriptions), 'Sale!') \g /dev/null
-- A week of history: outcomes over three hosts, for 20,000 users.
INSERT INTO webpush.history (message_id, subscription_id, endpoint, outcome, status, attempts,
                             reason, created_at, finished_at, application, user_id)
SELECT -(i / 10), i % $queued, 'https://fcm.googleapis.com/fcm/send/x' || i % 3,
       (ARRAY['delivered', 'delivered', 'delivered', 'delivered', 'failed', 'expired'])[1 + i % 6],
       CASE WHEN i % 6 < 4 THEN 201 WHEN i % 6 = 4 THEN 410 END, 1, NULL,
       now() - (i % 604800) * interval '1 second', now() - (i % 604800) * interval '1 second',
       'default', 'user-' || (i % 20000)
FROM generate_series(1, $history) i;
VACUUM ANALYZE;
SQL
echo "status views with $(psql -XAt -c 'SELECT count(*) FROM webpush.history') history rows and $(psql -XAt -c 'SELECT count(*) FROM webpush.deliveries') deliveries waiting"

first=$(psql -XAt <<'SQL' | tail -1
\timing on
SELECT 1 \g /dev/null
SELECT queued FROM webpush.status \g /dev/null
SQL
)
echo "  first read, which counts the queue for the snapshot: $first"

measure() {
    local name=$1 sql=$2 dir
    dir=$(mktemp -d "$work/pgbench.XXXXXX")
    echo "$sql" > "$dir/script.sql"
    (cd "$dir" && pgbench -n -c 1 -T "$seconds" -f script.sql -l --log-prefix=lat bench >/dev/null 2>&1)
    # pgbench's log: client, transaction, latency in microseconds, ...
    sort -n -k3 "$dir"/lat.* | awk -v name="$name" '{ l[NR] = $3 } END {
        printf "  %-44s %7d reads  p50 %7.3f ms  p99 %7.3f ms  max %7.3f ms\n", name, NR,
            l[int(NR * 0.5) + 1] / 1000, l[int(NR * 0.99) + 1] / 1000, l[NR] / 1000 }'
}

measure 'SELECT * FROM webpush.status' 'SELECT * FROM webpush.status;'
measure 'SELECT * FROM webpush.status_by_host' 'SELECT * FROM webpush.status_by_host;'
measure 'SELECT * FROM webpush.counters' 'SELECT * FROM webpush.counters;'
msg=$(psql -XAt -c 'SELECT max(id) FROM webpush.messages')
measure "message_status WHERE id = $msg (100,000 recipients)" "SELECT * FROM webpush.message_status WHERE id = $msg;"
measure "message_status WHERE id = -42 (no message row)" 'SELECT * FROM webpush.message_status WHERE id = -42;'
measure "webpush_trace(for_user => 'user-42')" "SELECT count(*) FROM webpush_trace(for_user => 'user-42');"
measure "webpush_trace(for_message => -42)" 'SELECT count(*) FROM webpush_trace(for_message => -42);'
