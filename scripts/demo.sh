#!/usr/bin/env bash
# The demo: installs what it needs, builds and installs the extension, starts
# a throwaway cluster and a local HTTPS push service, and shows a notification
# fired by a trigger arriving decrypted.
#
#   scripts/demo.sh              builds and installs from this tree
#   scripts/demo.sh --installed  uses the extension already installed (from
#                                the .deb, say) and builds nothing
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
. scripts/common.sh
if [ "${1:-}" = "--installed" ]; then
    ext=$(pg_config --sharedir)/extension/webpush.control
    [ -f "$ext" ] || { echo "demo: webpush is not installed ($ext is missing)" >&2; exit 1; }
else
    build_and_install
fi
as_test_user webpush-demo-tree bash demo/run.sh
