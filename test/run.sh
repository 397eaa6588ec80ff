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

echo "== unit tests of the pure-C modules (ASan + UBSan)"
make -s -C test/unit clean check

echo "== npm packages for the test push service"
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd examples/express && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "== test CA and server certificate"
test/make-tls.sh "$WEBPUSH_TEST_TLS"

echo "== throwaway cluster in $PGDATA"
test/cluster.sh init "$PGDATA"
if [ -n "${WEBPUSH_VALGRIND:-}" ]; then
    # Backends and the worker are forked from the postmaster, so valgrind
    # follows them all; one log per process.
    echo "== server under valgrind memcheck: logs in $work/valgrind.*"
    # Everything is ~20x slower: a request must not time out merely because
    # the worker is slow to read its answer (that would be a retry).
    echo "webpush.timeout = '300s'" >> "$PGDATA/postgresql.conf"
    valgrind --quiet --leak-check=no --track-origins=yes --num-callers=30 \
        --suppressions=test/valgrind.supp --log-file="$work/valgrind.%p" \
        "$(command -v postgres)" -D "$PGDATA" > "$work/postgres.log" 2>&1 &
    for _ in $(seq 600); do psql -Xqc 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
    export WEBPUSH_TEST_SLOW=1
else
    pg_ctl start -w -l "$work/postgres.log" >/dev/null
fi
valgrind_errors() {
    [ -n "${WEBPUSH_VALGRIND:-}" ] || return 0
    # Errors whose stack passes through the extension.
    if grep -l 'webpush.so' "$work"/valgrind.* >/dev/null 2>&1; then
        echo "valgrind found errors in webpush code:"
        grep -l 'webpush.so' "$work"/valgrind.* | xargs cat
        return 1
    fi
    echo "valgrind: no errors in webpush code ($(ls "$work"/valgrind.* | wc -l) processes checked)"
}

echo "== pg_regress"
if ! make -s installcheck; then
    cat regression.diffs 2>/dev/null | head -200
    exit 1
fi

echo "== end-to-end tests"
status=0
(cd test && node --test --test-concurrency=1 --test-reporter=spec e2e/) || status=$?
valgrind_errors || status=1
exit $status
