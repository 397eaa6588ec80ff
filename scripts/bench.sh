#!/usr/bin/env bash
# The throughput benchmark (bench/): the worker against npm web-push on this
# machine.  BENCH_N=10000 by default; BENCH_MODE=million drains 1,000,000;
# BENCH_MODE=valgrind drains BENCH_N with the server under valgrind memcheck;
# BENCH_MODE=worker skips the web-push run (quick worker figures for tuning);
# BENCH_MODE=callgrind counts the worker's instructions per message (N=3000),
# the repeatable figure for before/after (BENCH_CALLGRIND=FILE keeps the
# profile for callgrind_annotate);
# BENCH_WORKERS=2 runs two workers (webpush.workers); BENCH_SETTINGS adds
# postgresql.conf lines ("webpush.max_in_flight=64;webpush.batch_size=100"); BENCH_PERF=/tmp/w.data
# records a perf profile of the worker during the drain (perf_event_paranoid
# is lowered for the run, so kernel frames show, and put back after).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/common.sh
build_and_install
perf_file=
if [ -n "${BENCH_PERF:-}" ]; then
    command -v perf >/dev/null || "${sudo[@]}" apt-get install -y -qq linux-perf >/dev/null
    paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
    trap '"${sudo[@]}" sysctl -qw kernel.perf_event_paranoid="$paranoid"' EXIT
    "${sudo[@]}" sysctl -qw kernel.perf_event_paranoid=-1
    perf_file=$(mktemp -d /tmp/webpush-perf.XXXXXX)/worker.data
    chmod 777 "$(dirname "$perf_file")"
fi
# A subshell, so that as_test_user's clean-up trap does not replace ours.
(as_test_user webpush-bench-tree env BENCH_N="${BENCH_N:-}" BENCH_MODE="${BENCH_MODE:-compare}" \
    BENCH_WORKERS="${BENCH_WORKERS:-1}" BENCH_PERF="$perf_file" BENCH_SETTINGS="${BENCH_SETTINGS:-}" BENCH_SQL="${BENCH_SQL:-}" BENCH_CALLGRIND="${BENCH_CALLGRIND:-}" bash bench/run.sh)
if [ -n "$perf_file" ]; then
    cp "$perf_file" "$BENCH_PERF"
    echo "perf profile of the worker: perf report -i $BENCH_PERF"
fi
