#!/usr/bin/env bash
# The throughput benchmark (bench/): the worker against npm web-push on this
# machine.  BENCH_N=10000 by default; BENCH_MODE=million drains 1,000,000;
# BENCH_MODE=valgrind drains BENCH_N with the server under valgrind memcheck;
# BENCH_WORKERS=2 runs two workers (webpush.workers).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/common.sh
build_and_install
as_test_user webpush-bench-tree env BENCH_N="${BENCH_N:-10000}" BENCH_MODE="${BENCH_MODE:-compare}" \
    BENCH_WORKERS="${BENCH_WORKERS:-1}" bash bench/run.sh
