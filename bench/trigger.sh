#!/usr/bin/env bash
# The cost of the tutorial's trigger in the business transaction: pgbench
# inserts one order per transaction, without the trigger and with it, with
# no worker serving the database (so only the sending side is measured).
# Prints the TPS of each, the machine's CPU time per transaction, and the
# trigger's cost; then the same with the worker draining to a loopback push
# service on the same cores.  As an unprivileged user, with the extension installed
# (BENCH_MODE=trigger scripts/bench.sh sets that up).
#   TRIGGER_SECONDS  length of each pgbench run (10)
#   TRIGGER_ROUNDS   rounds of the four runs (5)
#   TRIGGER_CLIENTS  pgbench clients (8)
#   TRIGGER_PERF=1   print a perf profile of one backend during the run with the trigger
#   TRIGGER_SQL      a statement run before measuring (experiments)
#   TRIGGER_SETTINGS extra postgresql.conf lines, ';'-separated (say
#                    'fsync = on' for the server's own durability: the
#                    test cluster runs with fsync off)
#   TRIGGER_DRAIN=0  leave out the run with the worker draining
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-trigger.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54332} PGDATABASE=bench
export WEBPUSH_TEST_TLS=$work/tls
trap 'pg_ctl stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
seconds=${TRIGGER_SECONDS:-10}
clients=${TRIGGER_CLIENTS:-8}
test/make-tls.sh "$WEBPUSH_TEST_TLS"
test/cluster.sh init "$PGDATA"
[ -z "${TRIGGER_SETTINGS:-}" ] || tr ';' '\n' <<< "$TRIGGER_SETTINGS" >> "$PGDATA/postgresql.conf"
pg_ctl start -w -l "$work/postgres.log" >/dev/null
# The worker serves "postgres"; the benchmark runs in "bench", served by none.
createdb -h "$PGHOST" bench
export PGOPTIONS='-c client_min_messages=warning'
psql -Xq -o /dev/null -f bench/orders.sql
# TRIGGER_SQL: a statement run before measuring (experiments).
[ -n "${TRIGGER_SQL:-}" ] && psql -Xq -c "$TRIGGER_SQL"
cat > "$work/insert.sql" <<'SQL'
\set u random(1, 200)
INSERT INTO orders (user_id, item) VALUES ('user-' || :u, 'item ' || :u);
SQL
# One pgbench run on empty tables: its tps, and the machine's CPU time per
# transaction (all processes: pgbench, the backends, the server's own).
run() {
    psql -Xqc 'TRUNCATE orders, order_log, webpush.deliveries, webpush.messages, webpush.intake CASCADE; CHECKPOINT' >/dev/null
    local before after out
    before=$(head -1 /proc/stat)
    out=$(pgbench -n -c "$clients" -j 2 -T "$seconds" -f "$work/insert.sql" 2>/dev/null)
    after=$(head -1 /proc/stat)
    awk -v b="$before" -v a="$after" -v out="$out" 'BEGIN {
        split(b, x, " "); split(a, y, " ");
        busy = (y[2] + y[3] + y[4] + y[7] + y[8]) - (x[2] + x[3] + x[4] + x[7] + x[8]);
        match(out, /tps = [0-9.]+/); tps = substr(out, RSTART + 6, RLENGTH - 6);
        match(out, /actually processed: [0-9]+/); n = substr(out, RSTART + 20, RLENGTH - 20);
        printf "%.0f %.0f\n", tps, busy * 1e6 / 100 / n }'
}
triggers=("" "EXECUTE FUNCTION notify_order()"
          "EXECUTE FUNCTION webpush_notify('user_id', 'Order received', 'Your {item} is on its way', '/orders/{id}')"
          "EXECUTE FUNCTION log_order()" "EXECUTE FUNCTION perform_only()")
names=("no trigger" "PL/pgSQL trigger" "webpush_notify()" "PL/pgSQL INSERT" "PL/pgSQL PERFORM")
# Rounds of the five, interleaved (the last two are yardsticks with no
# extension: a PL/pgSQL trigger inserting into a log table of its own,
# what one INSERT from PL/pgSQL costs; and the PL/pgSQL form's PERFORM
# calling a built-in function that does nothing, what PL/pgSQL costs
# around the extension's functions), so that the machine's drift over the
# runs touches each the same.  Each trigger's cost is also taken round by
# round against that round's run without a trigger (a paired comparison):
# on a shared virtual machine the TPS of runs a minute apart differ by
# more than the trigger costs, and the median of the pairs is the figure
# least moved by that.
rounds=${TRIGGER_ROUNDS:-5}
declare -A tps cpu
for r in $(seq "$rounds"); do
    for i in 0 1 2 3 4; do
        psql -Xqc 'DROP TRIGGER IF EXISTS orders_notify ON orders' 2>/dev/null
        [ -n "${triggers[$i]}" ] &&
            psql -Xqc "CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW ${triggers[$i]}"
        if [ -n "${TRIGGER_PERF:-}" ] && [ "$i" = 2 ] && [ "$r" = 1 ]; then
            (sleep 3; pid=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE datname = 'bench' AND backend_type = 'client backend' AND pid <> pg_backend_pid() LIMIT 1")
             perf record -g -o "$work/perf.data" -p "$pid" -- sleep 5 >/dev/null 2>&1) &
        fi
        read -r t c < <(run)
        tps[$i]="${tps[$i]:-} $t"
        cpu[$i]="${cpu[$i]:-} $c"
    done
done
wait
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "pgbench: $clients clients, $seconds s a run, $rounds rounds (tps of each run; median; CPU per transaction, median)"
plain=$(echo "${tps[0]}" | median)
for i in 0 1 2 3 4; do
    t=$(echo "${tps[$i]}" | median)
    c=$(echo "${cpu[$i]}" | median)
    awk -v n="${names[$i]}" -v runs="${tps[$i]}" -v t="$t" -v c="$c" -v p="$plain" 'BEGIN {
        printf "%-18s tps%s; median %s, %s us CPU", n, runs, t, c;
        if (p != t) printf "; costs %.0f%% of the insert'"'"'s tps", 100 * (1 - t / p);
        printf "\n" }'
done
for i in 1 2 3 4; do
    paired=$(paste -d' ' <(echo "${tps[0]}" | tr ' ' '\n' | grep .) <(echo "${tps[$i]}" | tr ' ' '\n' | grep .) |
        awk '{ printf "%.1f\n", 100 * (1 - $2 / $1) }')
    awk -v n="${names[$i]}" -v m="$(echo "$paired" | median)" -v all="$(echo "$paired" | sort -n | tr '\n' ' ')" 'BEGIN {
        printf "%-18s round by round: costs %s%% (median; rounds %s%%)\n", n, m, all }'
done

# With the worker draining on the same cores: the same inserts in
# "postgres", which the worker serves, for 200 users whose subscriptions
# are a loopback push service's; then the time until the last one is sent.
if [ "${TRIGGER_DRAIN:-1}" != 0 ]; then
    (cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    node bench/trigger_service.js 200 "$work/subs.jsonl" "$WEBPUSH_TEST_TLS/server.key" \
        "$WEBPUSH_TEST_TLS/server.pem" > "$work/arrivals" &
    service=$!
    until [ -s "$work/subs.jsonl" ]; do sleep 0.1; done
    export PGDATABASE=postgres
    psql -Xq -o /dev/null -c 'CREATE EXTENSION webpush' -c 'SELECT webpush_keys()' \
        -c 'CREATE TABLE orders (id bigserial PRIMARY KEY, user_id text, item text NOT NULL)' \
        -c 'CREATE TABLE order_log (id bigint)'
    awk '{ printf "SELECT webpush_subscribe(%c%s%c, %cuser-%d%c);\n", 39, $0, 39, 39, NR, 39 }' \
        "$work/subs.jsonl" | psql -Xq -o /dev/null
    read -r drain_plain _ < <(run)
    psql -Xqc "CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW ${triggers[2]}"
    read -r drain_with _ < <(run)
    queued=$(psql -XAtc 'SELECT count(*) FROM orders')
    started=$(date +%s.%N)
    until [ "$(psql -XAtc 'SELECT (SELECT count(*) FROM webpush.intake) + (SELECT count(*) FROM webpush.deliveries)')" = 0 ]; do
        sleep 0.2
    done
    drained=$(date +%s.%N)
    kill -TERM "$service"
    wait "$service" || true
    read -r arrived problems < "$work/arrivals"
    awk -v p="$drain_plain" -v w="$drain_with" -v q="$queued" -v a="$arrived" -v s="$started" -v d="$drained" -v pr="$problems" 'BEGIN {
        printf "with the worker draining: no trigger %s tps, webpush_notify() %s tps (%.0f%% less); ", p, w, 100 * (1 - w / p);
        printf "%d notifications, %d received, the last %.1f s after the inserts ended, %d problems\n", q, a, d - s, pr }'
fi

if [ -n "${TRIGGER_PERF:-}" ]; then
    perf report -i "$work/perf.data" --no-children --stdio -g none --percent-limit 0.7 2>/dev/null | grep -E '^ +[0-9]' | head -45
fi
