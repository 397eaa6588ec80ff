#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds and installs the
# extension, then runs pg_regress and the end-to-end tests against a
# throwaway cluster and a loopback HTTPS push service, and the browser kit
# in Debian's chromium.
#
#   scripts/test.sh             the suite
#   scripts/test.sh --valgrind  the suite with the server under valgrind
#                               memcheck; fails on any error in webpush code
#   scripts/test.sh --asan      the suite on a PostgreSQL 15 built with ASan +
#                               UBSan (built once, scripts/build-postgres.sh),
#                               with the extension built the same way
#   scripts/test.sh --pg N      the suite, less the browser test, on
#                               PostgreSQL N (13, 15 or 18) built from
#                               Debian's source package into /opt/webpush-pgN
#                               (once, scripts/build-postgres.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
extra=()
if [ "${1:-}" = "--valgrind" ]; then
    export WEBPUSH_VALGRIND=1
    extra=(valgrind)
fi
scripts/setup.sh --browser "${extra[@]}"
. scripts/common.sh
if [ "${1:-}" = "--asan" ]; then
    # Its own tools are ASan builds too; PostgreSQL's programs free little at
    # exit by design, so leak reports would be noise (and fail pg_config).
    export ASAN_OPTIONS=detect_leaks=0
    pg_config=$(scripts/build-postgres.sh 15 --asan)
    make -s clean >/dev/null
    make -s PG_CONFIG="$pg_config" SANITIZE=1
    "${sudo[@]}" make -s PG_CONFIG="$pg_config" SANITIZE=1 install >/dev/null
    export PATH="$(dirname "$pg_config"):$PATH" WEBPUSH_ASAN=1
    as_test_user webpush-test-tree bash test/run.sh
    exit
fi
if [ "${1:-}" = "--pg" ]; then
    pg_config=$(scripts/build-postgres.sh "${2:?--pg needs a major version}")
    make -s clean >/dev/null
    make -s PG_CONFIG="$pg_config"
    "${sudo[@]}" make -s PG_CONFIG="$pg_config" install >/dev/null
    export PATH="$(dirname "$pg_config"):$PATH"
    # The browser test runs on the system's server only.
    if [ -z "${WEBPUSH_E2E:-}" ]; then
        WEBPUSH_E2E=$(cd test && ls e2e/*.test.js | grep -v browser | tr '\n' ' ')
        export WEBPUSH_E2E
    fi
    as_test_user webpush-test-tree bash test/run.sh
    exit
fi
build_and_install
as_test_user webpush-test-tree bash test/run.sh
