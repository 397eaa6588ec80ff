#!/usr/bin/env bash
# The whole test suite: installs what it needs, builds and installs the
# extension, then runs pg_regress and the end-to-end tests against a
# throwaway cluster and a loopback HTTPS push service.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/common.sh
build_and_install
as_test_user "${TMPDIR:-/tmp}/webpush-test-tree" bash test/run.sh
