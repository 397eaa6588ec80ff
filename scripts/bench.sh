#!/usr/bin/env bash
# The throughput benchmark (bench/): the worker against npm web-push on this
# machine.  Everything is set through the environment (docs/performance.md):
#   BENCH_N          notifications per drain (10,000; 3,000 for callgrind)
#   BENCH_DRAINS     drains measured in compare and worker modes, each
#                    between two measurements of the floor; the median
#                    one's figures are printed in full (3)
#   BENCH_WARMUP     drains run first and printed, not counted (1; 0 under
#                    valgrind and callgrind)
#   BENCH_MODE       compare (default); million: one broadcast to 1,000,000
#                    (BENCH_RECIPIENTS) and its drain; worker: skip
#                    the web-push run; valgrind: the server under memcheck;
#                    callgrind: the worker's instructions per message;
#                    trigger: the TPS of an insert with and without the
#                    tutorial's trigger (bench/trigger.sh; TRIGGER_SECONDS,
#                    TRIGGER_ROUNDS, TRIGGER_CLIENTS, TRIGGER_PERF=1 for a
#                    backend's profile);
#                    trigger-callgrind: the instructions each trigger adds
#                    to a one-row insert (bench/trigger_callgrind.sh;
#                    CALLGRIND_KINDS);
#                    queue: bytes per recipient, webpush_send_many's rate and
#                    scheduled sends' lateness (bench/queue.sh;
#                    QUEUE_SCHEDULED, QUEUE_SECONDS)
#   BENCH_SINK       nginx (the default for compare, worker and million:
#                    Debian's nginx-light, installed if missing) or node
#                    (the test push service, which checks a sample of the
#                    messages; the default for valgrind and callgrind)
#   BENCH_WORKERS    webpush.workers (1)
#   BENCH_SETTINGS   extra postgresql.conf lines, ';'-separated
#   BENCH_SQL        a statement run after CREATE EXTENSION (experiments)
#   BENCH_PERF=FILE  a perf profile of the worker during the drain
#                    (perf_event_paranoid is lowered for the run, so kernel
#                    frames show, and put back after)
#   BENCH_CALLGRIND=FILE  keep the worker's callgrind profile (callgrind mode;
#                    with BENCH_WORKERS > 1, the others' as FILE.2, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
extra=()
case "${BENCH_MODE:-}" in valgrind|callgrind) extra+=(valgrind) ;; esac
# The sink of the speed figures (bench/bench.js): nginx from Debian's
# package, started by the run itself on a port of its own.
sink=${BENCH_SINK:-}
case "${BENCH_MODE:-compare}" in
    compare|worker|million) [ -z "$sink" ] && sink=nginx ;;
esac
if [ "$sink" = "nginx" ] && [ ! -x /usr/sbin/nginx ]; then
    extra+=(nginx-light)
    # Installing it must not start the system's nginx on port 80.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee /usr/sbin/policy-rc.d >/dev/null
        "${sudo[@]}" chmod 755 /usr/sbin/policy-rc.d
        no_start=1
    fi
fi
[ -n "${BENCH_PERF:-}" ] && extra+=(linux-perf)
[ -n "${TRIGGER_PERF:-}" ] && extra+=(linux-perf)
scripts/setup.sh "${extra[@]}"
. scripts/common.sh
[ -n "${no_start:-}" ] && "${sudo[@]}" rm -f /usr/sbin/policy-rc.d
build_and_install
# Files the unprivileged run writes go through a directory it can write.
out_dir=$(mktemp -d /tmp/webpush-bench-out.XXXXXX)
chmod 777 "$out_dir"
paranoid=
cleanup() {
    [ -n "$paranoid" ] && "${sudo[@]}" sysctl -qw kernel.perf_event_paranoid="$paranoid"
    rm -rf "$out_dir"
}
trap cleanup EXIT
perf_file=
callgrind_file=
[ -n "${BENCH_CALLGRIND:-}" ] && callgrind_file=$out_dir/worker.callgrind
if [ -n "${BENCH_PERF:-}" ]; then
    paranoid=$(cat /proc/sys/kernel/perf_event_paranoid)
    "${sudo[@]}" sysctl -qw kernel.perf_event_paranoid=-1
    perf_file=$out_dir/worker.data
fi
if [ "${BENCH_MODE:-}" = "trigger" ]; then
    [ -n "${TRIGGER_PERF:-}" ] && { paranoid=$(cat /proc/sys/kernel/perf_event_paranoid); "${sudo[@]}" sysctl -qw kernel.perf_event_paranoid=-1; }
    (as_test_user webpush-bench-tree env TRIGGER_SECONDS="${TRIGGER_SECONDS:-}" TRIGGER_ROUNDS="${TRIGGER_ROUNDS:-}" \
        TRIGGER_CLIENTS="${TRIGGER_CLIENTS:-}" TRIGGER_PERF="${TRIGGER_PERF:-}" \
        TRIGGER_SQL="${TRIGGER_SQL:-}" TRIGGER_SETTINGS="${TRIGGER_SETTINGS:-}" TRIGGER_DRAIN="${TRIGGER_DRAIN:-}" bash bench/trigger.sh)
    exit
fi
if [ "${BENCH_MODE:-}" = "trigger-callgrind" ]; then
    (as_test_user webpush-bench-tree env CALLGRIND_KINDS="${CALLGRIND_KINDS:-}" bash bench/trigger_callgrind.sh)
    exit
fi
if [ "${BENCH_MODE:-}" = "queue" ]; then
    (as_test_user webpush-bench-tree env QUEUE_SCHEDULED="${QUEUE_SCHEDULED:-}" \
        QUEUE_SECONDS="${QUEUE_SECONDS:-}" bash bench/queue.sh)
    exit
fi
# A subshell, so that as_test_user's clean-up trap does not replace ours.
(as_test_user webpush-bench-tree env BENCH_N="${BENCH_N:-}" BENCH_DRAINS="${BENCH_DRAINS:-}" BENCH_WARMUP="${BENCH_WARMUP:-}" BENCH_MODE="${BENCH_MODE:-compare}" BENCH_SINK="$sink" \
    BENCH_RECIPIENTS="${BENCH_RECIPIENTS:-}" \
    BENCH_WORKERS="${BENCH_WORKERS:-1}" BENCH_PERF="$perf_file" BENCH_SETTINGS="${BENCH_SETTINGS:-}" BENCH_SQL="${BENCH_SQL:-}" BENCH_CALLGRIND="$callgrind_file" bash bench/run.sh)
if [ -n "$perf_file" ]; then
    cp "$perf_file" "$BENCH_PERF"
    echo "perf profile of the worker: perf report -i $BENCH_PERF"
fi
if [ -n "$callgrind_file" ] && [ -s "$callgrind_file" ]; then
    for f in "$callgrind_file"*; do
        cp "$f" "$BENCH_CALLGRIND${f#"$callgrind_file"}"
        echo "callgrind profile of a worker: callgrind_annotate --inclusive=yes $BENCH_CALLGRIND${f#"$callgrind_file"}"
    done
fi
