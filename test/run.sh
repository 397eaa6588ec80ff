#!/usr/bin/env bash
# Runs as an unprivileged user with the extension installed: makes a test CA,
# starts a throwaway cluster with webpush preloaded, runs pg_regress and the
# end-to-end tests (node --test), and cleans up.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-run.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54329} PGDATABASE=postgres
export WEBPUSH_TEST_TLS=$work/tls
cleanup() {
    pg_ctl stop -m immediate >/dev/null 2>&1 || true
    if [ "${KEEP:-}" = "" ]; then rm -rf "$work"; else echo "kept $work"; fi
}
trap cleanup EXIT

echo "== npm packages for the test push service"
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "== test CA and server certificate"
test/make-tls.sh "$WEBPUSH_TEST_TLS"

echo "== throwaway cluster in $PGDATA"
test/cluster.sh init "$PGDATA"
pg_ctl start -w -l "$work/postgres.log" >/dev/null

echo "== pg_regress"
if ! make -s installcheck; then
    cat regression.diffs 2>/dev/null | head -200
    exit 1
fi

echo "== end-to-end tests"
cd test
node --test --test-concurrency=1 --test-reporter=spec e2e/
