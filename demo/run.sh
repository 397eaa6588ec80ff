#!/usr/bin/env bash
# The unprivileged half of scripts/demo.sh: everything runs on loopback and
# is removed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-demo.XXXXXX")
export PGDATA=$work/data PGHOST=$work PGPORT=${PGPORT:-54330} PGDATABASE=postgres
export WEBPUSH_TEST_TLS=$work/tls
service_pid=
cleanup() {
    [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
    pg_ctl stop -m fast >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
psql_demo() { psql -X -q -v ON_ERROR_STOP=1 "$@"; }

step "Installing the test push service's npm packages"
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

step "A throwaway cluster with webpush preloaded (worker serves database postgres)"
test/make-tls.sh "$WEBPUSH_TEST_TLS"
test/cluster.sh init "$PGDATA"
pg_ctl start -w -l "$work/postgres.log" >/dev/null

step "A local HTTPS push service, standing in for FCM / Mozilla / Apple"
node test/push-service.js --key "$WEBPUSH_TEST_TLS/server.key" --cert "$WEBPUSH_TEST_TLS/server.pem" \
    --subscription "$work/subscription.json" > "$work/received.jsonl" 2> "$work/service.log" &
service_pid=$!
for _ in $(seq 100); do [ -s "$work/subscription.json" ] && break; sleep 0.1; done
echo "A browser's PushSubscription.toJSON(), as the push service issued it:"
cat "$work/subscription.json"; echo

step "CREATE EXTENSION, the application server key, and the subscription"
psql_demo <<SQL
CREATE EXTENSION webpush;
SELECT webpush_keys() AS "applicationServerKey (give this to the browser)";
SELECT webpush_subscribe('$(cat "$work/subscription.json")', user_id => 'alice') AS subscription_id;
SQL

step "An application table with a trigger that notifies the order's user"
psql_demo <<'SQL'
CREATE TABLE orders (id serial PRIMARY KEY, user_id text NOT NULL, item text NOT NULL);
CREATE TRIGGER orders_notify AFTER INSERT ON orders FOR EACH ROW
    EXECUTE FUNCTION webpush_notify('user_id', 'Order received', 'Your {item} is on its way', '/orders/{id}');
\echo '=> INSERT INTO orders (user_id, item) VALUES (''alice'', ''teapot'');'
INSERT INTO orders (user_id, item) VALUES ('alice', 'teapot');
SQL

step "What the push service received and decrypted (with http_ece; JWT checked with jose)"
for _ in $(seq 100); do [ -s "$work/received.jsonl" ] && break; sleep 0.1; done
if [ ! -s "$work/received.jsonl" ]; then
    echo "nothing arrived; the server log says:"; tail -20 "$work/postgres.log"; exit 1
fi
cat "$work/received.jsonl"

step "The outcome, as the database recorded it"
psql_demo -c "SELECT message_id, outcome, status, attempts, finished_at - created_at AS took FROM webpush.history" \
          -c "SELECT * FROM webpush.status"
