#!/usr/bin/env bash
# The example in one command, from this folder:
#
#   ./run.sh                          installs what it needs, starts a
#                                     throwaway cluster and a local push
#                                     service, and serves the app on
#                                     http://localhost:3000/
#   DATABASE_URL=postgres://... ./run.sh   uses your server instead (it must
#                                     have webpush in shared_preload_libraries,
#                                     schema.sql applied by the database owner,
#                                     and the URL must log in as webpush_example)
#
# Open the page in a desktop browser.  "Enable notifications" subscribes with
# the browser's vendor (FCM, Mozilla, Apple), which the machine must reach;
# "Use the local push service" subscribes through the push service run.sh
# started, which prints each notification in this terminal.  Ctrl-C stops
# everything.
set -euo pipefail
cd "$(dirname "$0")"
here=$PWD
top=$(cd ../.. && pwd)

if [ -z "${DATABASE_URL:-}" ]; then
    "$top/scripts/setup.sh"
    . "$top/scripts/common.sh"

    # The extension: built from this tree, and installed only when it is
    # missing or differs, and then only with consent while other PostgreSQL
    # servers run (they would load the new library at their next start).
    make -C "$top" -s
    installed=$(pg_config --pkglibdir)/webpush.so
    if ! cmp -s "$top/webpush.so" "$installed"; then
        answer=y
        if [ -e "$installed" ] && pgrep -x postgres >/dev/null; then
            answer=n
            if [ -t 0 ]; then
                read -r -p "Replace the installed webpush ($installed) while PostgreSQL servers run? [y/N] " answer
            fi
        fi
        if [ "$answer" = y ]; then
            "${sudo[@]}" make -C "$top" -s install >/dev/null
        elif [ -e "$installed" ]; then
            echo "run.sh: using the installed webpush, not this tree's build"
        else
            echo "run.sh: webpush is not installed" >&2; exit 1
        fi
    fi

    work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-example.XXXXXX")
    chmod 755 "$work"
    [ "$(id -u)" -eq 0 ] && chown "${WEBPUSH_TEST_USER:-postgres}" "$work"
    port=${PGPORT:-54331}
    # The local push service's port: PUSH_PORT, or one that is free now
    # (scripts/dev-push-service.sh takes 8443 when both run).
    push_port=${PUSH_PORT:-$(node -e "const s = require('net').createServer().listen(0, '127.0.0.1', () => { console.log(s.address().port); s.close(); })")}
    service_pid=
    stop() {
        [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
        as_unprivileged pg_ctl -D "$work/data" stop -m fast >/dev/null 2>&1 || true
        rm -rf "$work"
    }
    trap stop EXIT

    # The local push service, its test CA trusted by the cluster.
    (cd "$top/test" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    WEBPUSH_TLS_DAYS=30 "$top/test/make-tls.sh" "$work/tls"
    chmod 755 "$work/tls"; chmod 644 "$work/tls/ca.pem"
    node "$top/test/push-service.js" --port "$push_port" --key "$work/tls/server.key" \
        --cert "$work/tls/server.pem" --subscription "$work/local-subscription.json" --pretty &
    service_pid=$!
    for _ in $(seq 100); do
        [ -s "$work/local-subscription.json" ] && break
        kill -0 "$service_pid" 2>/dev/null || { echo "run.sh: the local push service did not start (PUSH_PORT=$push_port)" >&2; exit 1; }
        sleep 0.1
    done
    chmod 644 "$work/local-subscription.json"
    export LOCAL_PUSH_SUBSCRIPTION=$work/local-subscription.json

    as_unprivileged initdb -D "$work/data" -A trust -E UTF8 --locale=C >/dev/null
    as_unprivileged tee -a "$work/data/postgresql.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$work'
port = $port
shared_preload_libraries = 'webpush'
webpush.subject = '${WEBPUSH_SUBJECT:-mailto:webpush-example@example.com}'
# The local push service (a development cluster only).
webpush.ca_file = '$work/tls/ca.pem'
webpush.allow_private_endpoints = on
webpush.allowed_ports = '443, $push_port'
CONF
    as_unprivileged pg_ctl -D "$work/data" -l "$work/postgres.log" start -w >/dev/null
    echo "throwaway cluster in $work (server log: $work/postgres.log)"
    # schema.sql as the superuser, then the server as webpush_example.
    as_unprivileged psql -X -q -v ON_ERROR_STOP=1 -h "$work" -p "$port" -d postgres \
        -c "SET client_min_messages = warning" -f "$here/schema.sql"
    export DATABASE_URL="postgresql://webpush_example@/postgres?host=$work&port=$port"
fi

(cd "$here" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
node "$here/server.js"
