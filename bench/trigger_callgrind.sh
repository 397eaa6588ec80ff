#!/usr/bin/env bash
# What a trigger adds to a one-row INSERT, in instructions: the server in
# single-user mode (postgres --single) under callgrind runs 1,000 and then
# 3,000 one-row INSERT transactions, without a trigger, with an empty
# PL/pgSQL trigger, with the tutorial's webpush_notify() and with the
# PL/pgSQL form calling webpush_send_user, and with a PL/pgSQL trigger that
# inserts a row into a log table of its own (no extension: what one INSERT
# from a PL/pgSQL trigger costs), and with the PL/pgSQL form's PERFORM
# calling a built-in function that does nothing (what PL/pgSQL costs
# around the extension's functions); the cost of an insert is the
# difference between the two runs divided by 2,000 (the start-up and the
# first firing's set-up cancel out).  Instructions, unlike TPS on a shared
# machine, repeat to within 0.5% from run to run.
#
# As an unprivileged user, with the extension installed in the PostgreSQL
# whose binaries come first on PATH (BENCH_MODE=trigger-callgrind
# scripts/bench.sh sets that up).  Takes about two minutes.
#   CALLGRIND_KINDS  which triggers to measure ("none noop notify plpgsql
#                    plinsert perform")
#   CALLGRIND_KEEP   a directory to keep the profiles in (KIND.N.cg), for
#                    callgrind_annotate --inclusive=yes
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-trigger-cg.XXXXXX")
# An empty PGPORT (as scripts/common.sh passes one on) is not a port.
[ -n "${PGPORT:-}" ] || unset PGPORT
trap 'pg_ctl -D "$work/data" stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
initdb -D "$work/data" -A trust >/dev/null
cat >> "$work/data/postgresql.conf" <<CONF
shared_preload_libraries = 'webpush'
fsync = off
listen_addresses = ''
unix_socket_directories = '$work'
webpush.database_name = 'no_such_database'   # no worker: only the sending side
webpush.subject = 'mailto:bench@example.com'
CONF
pg_ctl -D "$work/data" -l "$work/log" start -w >/dev/null
psql -h "$work" -Xq -o /dev/null -f bench/orders.sql postgres
pg_ctl -D "$work/data" stop -w >/dev/null
declare -A trigger=(
    [none]=""
    [noop]="EXECUTE FUNCTION noop()"
    [notify]="EXECUTE FUNCTION webpush_notify('user_id', 'Order received', 'Your {item} is on its way', '/orders/{id}')"
    [plpgsql]="EXECUTE FUNCTION notify_order()"
    [plinsert]="EXECUTE FUNCTION log_order()"
    [perform]="EXECUTE FUNCTION perform_only()")
declare -A per
for kind in ${CALLGRIND_KINDS:-none noop notify plpgsql plinsert perform}; do
    declare -A total=()
    for n in 1000 3000; do
        {
            echo "TRUNCATE orders, order_log, webpush.intake, webpush.deliveries, webpush.messages"
            echo "DROP TRIGGER IF EXISTS orders_notify ON orders"
            [ -n "${trigger[$kind]}" ] &&
                echo "CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW ${trigger[$kind]}"
            echo "INSERT INTO orders (user_id, item) VALUES ('user-1', 'item 1')"
            for i in $(seq "$n"); do
                echo "INSERT INTO orders (user_id, item) VALUES ('user-$((i % 200 + 1))', 'item $i')"
            done
        } > "$work/$kind.sql"
        valgrind --tool=callgrind --callgrind-out-file="$work/$kind.$n.cg" \
            postgres --single -D "$work/data" postgres < "$work/$kind.sql" > /dev/null 2> "$work/$kind.$n.err"
        total[$n]=$(grep -o 'Collected : [0-9]*' "$work/$kind.$n.err" | grep -o '[0-9]*$')
        [ -z "${CALLGRIND_KEEP:-}" ] || cp "$work/$kind.$n.cg" "$CALLGRIND_KEEP/"
    done
    per[$kind]=$(( (total[3000] - total[1000]) / 2000 ))
    if [ "$kind" != none ] && [ -n "${per[none]:-}" ]; then
        printf '%-10s %9d instructions an insert, %+d for the trigger\n' "$kind" "${per[$kind]}" $(( per[$kind] - per[none] ))
    else
        printf '%-10s %9d instructions an insert\n' "$kind" "${per[$kind]}"
    fi
done
