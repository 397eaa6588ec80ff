#!/usr/bin/env bash
# The cost of the tutorial's trigger in the business transaction: pgbench
# inserts one order per transaction, without the trigger and with it, with
# no worker serving the database (so only the sending side is measured).
# Prints the TPS of each and the trigger's cost.  As an unprivileged user,
# with the extension installed (scripts/bench.sh --trigger sets that up).
#   TRIGGER_SECONDS  length of each pgbench run (15)
#   TRIGGER_CLIENTS  pgbench clients (8)
#   TRIGGER_PERF=1   print a perf profile of one backend during the run with the trigger
#   TRIGGER_SQL      a statement run before measuring (experiments)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-trigger.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54332} PGDATABASE=bench
export WEBPUSH_TEST_TLS=$work/tls
trap 'pg_ctl stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
seconds=${TRIGGER_SECONDS:-15}
clients=${TRIGGER_CLIENTS:-8}
test/make-tls.sh "$WEBPUSH_TEST_TLS"
test/cluster.sh init "$PGDATA"
pg_ctl start -w -l "$work/postgres.log" >/dev/null
# The worker serves "postgres"; the benchmark runs in "bench", served by none.
createdb -h "$PGHOST" bench
export PGOPTIONS='-c client_min_messages=warning'
psql -Xq -o /dev/null <<'SQL'
CREATE EXTENSION webpush;
SELECT webpush_keys();
CREATE TABLE orders (id bigserial PRIMARY KEY, user_id text, item text NOT NULL);
-- 200 users with one subscription each (their endpoints are never called).
SELECT webpush_subscribe(jsonb_build_object(
         'endpoint', 'https://push.example.com/bench/' || i,
         'keys', jsonb_build_object(
           'p256dh', 'BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4',
           'auth', 'BTBZMqHH6r4Tts7J_aSIgg')), 'user-' || i)
FROM generate_series(1, 200) i;
CREATE FUNCTION notify_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM webpush_send_user(NEW.user_id,
    webpush_notification('Order received', 'Your ' || NEW.item || ' is on its way',
                         '/orders/' || NEW.id));
  RETURN NEW;
END $$;
SQL
# TRIGGER_SQL: a statement run before measuring (experiments).
[ -n "${TRIGGER_SQL:-}" ] && psql -Xq -c "$TRIGGER_SQL"
cat > "$work/insert.sql" <<'SQL'
\set u random(1, 200)
INSERT INTO orders (user_id, item) VALUES ('user-' || :u, 'item ' || :u);
SQL
run() {
    pgbench -n -c "$clients" -j 2 -T "$seconds" -f "$work/insert.sql" 2>/dev/null |
        sed -n 's/^tps = \([0-9.]*\).*/\1/p'
}
psql -Xqc 'TRUNCATE orders' >/dev/null
plain=$(run)
# The tutorial's PL/pgSQL trigger, then its generic form (webpush_notify).
psql -Xqc 'CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION notify_order()'
psql -Xqc 'TRUNCATE orders' >/dev/null
plpgsql=$(run)
psql -Xqc 'DROP TRIGGER orders_notify ON orders; TRUNCATE orders; DELETE FROM webpush.deliveries; DELETE FROM webpush.messages' >/dev/null
psql -Xqc "CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION webpush_notify('user_id', 'Order received', 'Your {item} is on its way', '/orders/{id}')"
if [ -n "${TRIGGER_PERF:-}" ]; then
    (sleep 3; pid=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE datname = 'bench' AND pid <> pg_backend_pid() LIMIT 1")
     perf record -g -o "$work/perf.data" -p "$pid" -- sleep 5 >/dev/null 2>&1) &
fi
with=$(run)
queued=$(psql -XAtc 'SELECT count(*) FROM webpush.deliveries')
wait
echo "insert without the trigger:           $plain tps ($clients clients, $seconds s)"
echo "insert with the PL/pgSQL trigger:      $plpgsql tps"
echo "insert with webpush_notify():          $with tps ($queued notifications queued)"
awk -v a="$plain" -v b="$plpgsql" 'BEGIN { printf "the PL/pgSQL trigger costs %.0f%% of the insert'"'"'s tps\n", 100 * (1 - b / a) }'
awk -v a="$plain" -v b="$with" 'BEGIN { printf "webpush_notify() costs %.0f%% of the insert'"'"'s tps\n", 100 * (1 - b / a) }'
if [ -n "${TRIGGER_PERF:-}" ]; then
    perf report -i "$work/perf.data" --no-children --stdio -g none --percent-limit 0.7 2>/dev/null | grep -E '^ +[0-9]' | head -45
fi
