#!/usr/bin/env bash
# The unprivileged half of scripts/bench.sh: a throwaway cluster and the
# benchmark driver.
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-bench.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54331} PGDATABASE=postgres
export WEBPUSH_TEST_TLS=$work/tls
trap 'pg_ctl stop -m immediate >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
test/make-tls.sh "$WEBPUSH_TEST_TLS"
test/cluster.sh init "$PGDATA"
echo "webpush.workers = ${BENCH_WORKERS:-1}" >> "$PGDATA/postgresql.conf"
# BENCH_SETTINGS: extra postgresql.conf lines, separated by ';'.
if [ -n "${BENCH_SETTINGS:-}" ]; then
    tr ';' '\n' <<< "$BENCH_SETTINGS" >> "$PGDATA/postgresql.conf"
    echo "settings: $BENCH_SETTINGS"
fi
if [ "${BENCH_MODE:-}" = "valgrind" ] || [ "${BENCH_MODE:-}" = "callgrind" ]; then
    # The worker (forked from the postmaster) under memcheck for the drain,
    # or under callgrind to count its instructions per message.
    echo "webpush.timeout = '300s'" >> "$PGDATA/postgresql.conf"
    if [ "$BENCH_MODE" = "valgrind" ]; then
        tool=(--leak-check=no --num-callers=30 --suppressions=test/valgrind.supp --log-file="$work/valgrind.%p")
    else
        tool=(--tool=callgrind --callgrind-out-file="$work/callgrind.%p" --log-file="$work/callgrind-log.%p")
    fi
    valgrind --quiet "${tool[@]}" "$(command -v postgres)" -D "$PGDATA" > "$work/postgres.log" 2>&1 &
    for _ in $(seq 600); do psql -Xqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
else
    pg_ctl start -w -l "$work/postgres.log" >/dev/null
fi
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
# The per-message crypto floor, for comparison with the worker's CPU figure:
# bench.js runs it before and after each drain.
cc -O2 -Isrc bench/crypto_bound.c src/crypto/p256.c src/crypto/random_pool.c -lcrypto -o "$work/crypto_bound"
BENCH_CRYPTO_BOUND=$work/crypto_bound BENCH_SINK="${BENCH_SINK:-}" node bench/bench.js
if [ "${BENCH_MODE:-}" = "callgrind" ]; then
    # Instructions are repeatable where seconds on a shared machine are not:
    # the figure to compare before and after a change to the worker.
    workers=$(psql -XAtc "SELECT pid FROM pg_stat_activity WHERE backend_type = 'webpush worker'")
    pg_ctl stop -m fast -w >/dev/null       # the workers write their profiles as they exit
    annotated=()
    for worker in $workers; do
        for _ in $(seq 300); do [ -s "$work/callgrind.$worker" ] && break; sleep 0.2; done
    done
    sleep 1
    n=0
    for worker in $workers; do
        callgrind_annotate --inclusive=yes "$work/callgrind.$worker" > "$work/annotate.$worker" 2>/dev/null
        annotated+=("$work/annotate.$worker")
        n=$((n + 1))
        # The first worker's profile as FILE, the others' as FILE.2, ...
        if [ -n "${BENCH_CALLGRIND:-}" ]; then
            cp "$work/callgrind.$worker" "$BENCH_CALLGRIND$([ $n -gt 1 ] && echo ".$n")"
        fi
    done
    node bench/callgrind_summary.js "${BENCH_N:-3000}" "${annotated[@]}"
fi
if [ "${BENCH_MODE:-}" = "valgrind" ]; then
    if grep -l 'webpush.so' "$work"/valgrind.* >/dev/null 2>&1; then
        echo "valgrind found errors in webpush code:"; grep -l 'webpush.so' "$work"/valgrind.* | xargs cat
        exit 1
    fi
    echo "valgrind: no errors in webpush code ($(ls "$work"/valgrind.* | wc -l) processes checked)"
fi
