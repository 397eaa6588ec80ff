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
echo "synchronous_commit = on" >> "$PGDATA/postgresql.conf"
pg_ctl start -w -l "$work/postgres.log" >/dev/null
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
node bench/bench.js
