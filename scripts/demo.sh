#!/usr/bin/env bash
# The demo: installs what it needs, builds and installs the extension, starts
# a throwaway cluster and a local HTTPS push service, and shows a notification
# fired by a trigger arriving decrypted.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/common.sh
build_and_install
as_test_user webpush-demo-tree bash demo/run.sh
