#!/usr/bin/env bash
# The example in one command, from this folder:
#
#   ./run.sh                          installs what it needs, builds and installs
#                                     the extension, starts a throwaway cluster,
#                                     and serves the app on http://localhost:3000/
#   DATABASE_URL=postgres://... ./run.sh   uses your server instead (it must
#                                     have webpush in shared_preload_libraries
#                                     and the extension installed there)
#
# Open the page in a desktop browser and click "Enable notifications".  The
# browser subscribes with its vendor's push service (FCM, Mozilla, Apple), so
# the machine needs to reach it.  Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
top=$(cd ../.. && pwd)

if [ -z "${DATABASE_URL:-}" ]; then
    "$top/scripts/setup.sh"
    . "$top/scripts/common.sh"
    build_and_install
    work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-example.XXXXXX")
    chmod 755 "$work"
    [ "$(id -u)" -eq 0 ] && chown "${WEBPUSH_TEST_USER:-postgres}" "$work"
    port=${PGPORT:-54331}
    stop() { as_unprivileged pg_ctl -D "$work/data" stop -m fast >/dev/null 2>&1 || true; rm -rf "$work"; }
    trap stop EXIT
    as_unprivileged initdb -D "$work/data" -A trust -E UTF8 --locale=C >/dev/null
    as_unprivileged tee -a "$work/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_preload_libraries = 'webpush'
webpush.subject = '${WEBPUSH_SUBJECT:-mailto:webpush-example@example.com}'
CONF
    as_unprivileged pg_ctl -D "$work/data" -l "$work/postgres.log" start -w >/dev/null
    echo "throwaway cluster in $work (server log: $work/postgres.log)"
    export DATABASE_URL="postgresql://$(as_unprivileged id -un)@/postgres?host=$work&port=$port"
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node "$here/server.js"
