#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds and installs the
# extension, then runs the unit tests, fuzz harnesses, pg_regress and the
# end-to-end tests against a throwaway cluster and a loopback HTTPS push
# service.
#
#   scripts/test.sh             everything CI runs:
#                                 the suite on the system's PostgreSQL 15,
#                                 the browser kit in Debian's chromium included;
#                                 the suite on PostgreSQL 18 and on 13, less
#                                 the browser;
#                                 pg_upgrade from 15 to 18 with notifications
#                                 queued;
#                                 the .deb built, installed and demonstrated
#   scripts/test.sh --quick     the suite on the system's PostgreSQL 15 only
#   scripts/test.sh --pg N      the suite, less the browser test, on
#                               PostgreSQL N (13, 15 or 18) built from
#                               Debian's source package into /opt/webpush-pgN
#                               (once, scripts/build-postgres.sh)
#   scripts/test.sh --upgrade   pg_upgrade from 15 to 18 only
#   scripts/test.sh --deb       the Debian package only
#   scripts/test.sh --valgrind  the suite with the server under valgrind
#                               memcheck; fails on any error in webpush code
#   scripts/test.sh --asan      the suite on a PostgreSQL 15 built with ASan +
#                               UBSan (built once, scripts/build-postgres.sh),
#                               with the extension built the same way
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
extra=()
[ "$mode" = "--valgrind" ] && extra=(valgrind)
scripts/setup.sh --browser "${extra[@]}"
. scripts/common.sh

# Every build the suite runs against has the test-only entry points that
# the isolation specs call (make WEBPUSH_TEST_HOOKS=1, src/test_hooks.c);
# the upgrade test and the Debian package run production builds.

# The system's server: build and install from this tree, run the suite.
suite_system() {
    echo "#### the suite on $(pg_config --version)"
    build_and_install WEBPUSH_TEST_HOOKS=1
    as_test_user webpush-test-tree bash test/run.sh
}

# The suite on a server built from source, less the browser test.
suite_on() {
    local pg_config
    pg_config=$(scripts/build-postgres.sh "$1")
    echo "#### the suite on $("$pg_config" --version)"
    install_for "$pg_config" WEBPUSH_TEST_HOOKS=1
    local e2e=${WEBPUSH_E2E:-$(cd test && ls e2e/*.test.js | grep -v browser | tr '\n' ' ')}
    PATH="$(dirname "$pg_config"):$PATH" WEBPUSH_E2E=$e2e \
        as_test_user webpush-test-tree bash test/run.sh
}

# pg_upgrade from 15 to 18, both built from source: Debian's own 15 stores
# a column option (pg_attver) that 18's pg_upgrade cannot restore.
upgrade_test() {
    local old new
    old=$(scripts/build-postgres.sh 15)
    new=$(scripts/build-postgres.sh 18)
    echo "#### pg_upgrade from $("$old" --version) to $("$new" --version)"
    install_for "$old"
    install_for "$new"
    as_test_user webpush-upgrade-tree bash test/pg-upgrade.sh "$(dirname "$old")" "$(dirname "$new")"
}

case "$mode" in
    all)
        suite_system
        suite_on 18
        suite_on 13
        upgrade_test
        echo "#### the Debian package"
        scripts/test-deb.sh
        ;;
    --quick)
        suite_system
        ;;
    --pg)
        suite_on "${2:?--pg needs a major version}"
        ;;
    --upgrade)
        upgrade_test
        ;;
    --deb)
        scripts/test-deb.sh
        ;;
    --valgrind)
        export WEBPUSH_VALGRIND=1
        suite_system
        ;;
    --asan)
        # Its own tools are ASan builds too; PostgreSQL's programs free
        # little at exit by design, so leak reports would be noise (and
        # fail pg_config).
        export ASAN_OPTIONS=detect_leaks=0
        pg_config=$(scripts/build-postgres.sh 15 --asan)
        install_for "$pg_config" SANITIZE=1 WEBPUSH_TEST_HOOKS=1
        PATH="$(dirname "$pg_config"):$PATH" WEBPUSH_ASAN=1 \
            as_test_user webpush-test-tree bash test/run.sh
        ;;
    *)
        echo "usage: scripts/test.sh [--quick | --pg N | --upgrade | --deb | --valgrind | --asan]" >&2
        exit 2
        ;;
esac
