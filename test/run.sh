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

echo "== fuzz harnesses, ${WEBPUSH_FUZZ_SECONDS:-5} s each (make -C fuzz run SECONDS=N for longer)"
make -s -C fuzz clean
make -s -C fuzz run SECONDS="${WEBPUSH_FUZZ_SECONDS:-5}"

echo "== npm packages for the test push service"
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
(cd examples/express && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

echo "== test CA and server certificate"
test/make-tls.sh "$WEBPUSH_TEST_TLS"

echo "== throwaway cluster in $PGDATA"
test/cluster.sh init "$PGDATA"
# The server log, for the tests that read it.
export WEBPUSH_TEST_LOG=$work/postgres.log
# TCP ports the tests listen on, below the kernel's ephemeral range (32768
# and up): an outgoing connection's local port there (the worker's to the
# push service, say) would make a listen() on it fail.
export WEBPUSH_TEST_TCP_BASE=$((20000 + PGPORT % 10000))
# Proxy variables in the server's environment must be ignored: they point at
# a port where the security test counts any connection that arrives.
export WEBPUSH_TEST_PROXY_PORT=$((WEBPUSH_TEST_TCP_BASE + 11))
export http_proxy=http://127.0.0.1:$WEBPUSH_TEST_PROXY_PORT https_proxy=http://127.0.0.1:$WEBPUSH_TEST_PROXY_PORT
export HTTPS_PROXY=$https_proxy ALL_PROXY=$https_proxy all_proxy=$https_proxy
if [ -n "${WEBPUSH_VALGRIND:-}" ]; then
    # Backends and the worker are forked from the postmaster, so valgrind
    # follows them all; one log per process.
    echo "== server under valgrind memcheck: logs in $work/valgrind.*"
    # Everything is ~20x slower: a request must not time out merely because
    # the worker is slow to read its answer (that would be a retry).
    echo "webpush.timeout = '300s'" >> "$PGDATA/postgresql.conf"
    # pg_ctl starts the "postgres" next to itself: give it one that runs the
    # real server under valgrind, so that the tests which restart the server
    # (standby promotion, two workers) keep it under valgrind too.  pg_ctl
    # is copied, not linked: it would follow a link back to the real one.
    bindir=$(pg_config --bindir)
    mkdir -p "$work/bin"
    cp "$bindir/pg_ctl" "$work/bin/pg_ctl"
    cat > "$work/bin/postgres" <<WRAPPER
#!/bin/sh
exec valgrind --quiet --leak-check=no --track-origins=yes --num-callers=30 \\
    --suppressions=$PWD/test/valgrind.supp --log-file=$work/valgrind.%p \\
    $bindir/postgres "\$@"
WRAPPER
    chmod +x "$work/bin/postgres"
    export PATH="$work/bin:$PATH"
    pg_ctl start -w -t 600 -l "$work/postgres.log" >/dev/null
    export WEBPUSH_TEST_SLOW=20
elif [ -n "${WEBPUSH_ASAN:-}" ]; then
    # The server and the extension built with ASan + UBSan (scripts/test.sh
    # --asan): each process writes its reports to $work/asan.<pid>.  The
    # postmaster frees little on purpose, so leak reports would be noise.
    echo "== server built with ASan + UBSan: reports in $work/asan.*"
    export ASAN_OPTIONS="detect_leaks=0:detect_stack_use_after_return=0:log_path=$work/asan"
    export UBSAN_OPTIONS="print_stacktrace=1:log_path=$work/asan"
    echo "webpush.timeout = '120s'" >> "$PGDATA/postgresql.conf"
    pg_ctl start -w -l "$work/postgres.log" >/dev/null
    export WEBPUSH_TEST_SLOW=4
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

sanitizer_errors() {
    [ -n "${WEBPUSH_ASAN:-}" ] || return 0
    local reports=("$work"/asan.*)
    [ -e "${reports[0]}" ] || { echo "ASan/UBSan: no reports"; return 0; }
    # Reports whose stack passes through the extension fail the run; others
    # (in PostgreSQL itself) are shown.
    if grep -l 'webpush' "${reports[@]}" >/dev/null 2>&1; then
        echo "ASan/UBSan found errors in webpush code:"
        grep -l 'webpush' "${reports[@]}" | xargs cat
        return 1
    fi
    echo "ASan/UBSan: ${#reports[@]} report(s), none in webpush code:"
    head -40 "${reports[@]}"
}

# The isolation specs (test/isolation) need the library built with
# WEBPUSH_TEST_HOOKS=1, as scripts/test.sh builds it; the flag here makes
# installcheck run them after pg_regress.
echo "== pg_regress and the isolation specs"
if ! make -s installcheck WEBPUSH_TEST_HOOKS=1; then
    cat regression.diffs output_iso/regression.diffs 2>/dev/null | head -300
    exit 1
fi

echo "== end-to-end tests"
status=0
# WEBPUSH_E2E=e2e/7-security.test.js runs one file (while working on it).
(cd test && node --test --test-concurrency=1 --test-timeout=600000 --test-reporter=spec ${WEBPUSH_E2E:-e2e/}) || status=$?
valgrind_errors || status=1
sanitizer_errors || status=1
exit $status
