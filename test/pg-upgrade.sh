#!/usr/bin/env bash
# pg_upgrade with the extension installed: a cluster of the old major holds
# a key, a subscription and notifications queued while no worker ran; after
# pg_upgrade to the new major its worker delivers every one of them, signed
# with the same key (the test push service answers 403 to any other key
# once a subscription has seen one, as FCM does).
#
#   test/pg-upgrade.sh OLD_BINDIR NEW_BINDIR
#
# Runs as an unprivileged user, with the extension installed in both.
set -euo pipefail
cd "$(dirname "$0")/.."
old_bin=$1
new_bin=$2
queued=${WEBPUSH_UPGRADE_MESSAGES:-200}

work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-upgrade.XXXXXX")
export PGHOST=$work PGPORT=${PGPORT:-54331} PGDATABASE=postgres
export WEBPUSH_TEST_TLS=$work/tls
service_pid=
cleanup() {
    [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null || true
    "$old_bin/pg_ctl" -D "$work/old" stop -m immediate >/dev/null 2>&1 || true
    "$new_bin/pg_ctl" -D "$work/new" stop -m immediate >/dev/null 2>&1 || true
    if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "pg-upgrade: $*" >&2; tail -n 30 "$work"/*.log >&2 || true; exit 1; }
q() { "$old_bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }

(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
test/make-tls.sh "$WEBPUSH_TEST_TLS" >/dev/null
node test/push-service.js --key "$WEBPUSH_TEST_TLS/server.key" --cert "$WEBPUSH_TEST_TLS/server.pem" \
    --subscription "$work/subscription.json" > "$work/received.jsonl" 2> "$work/service.log" &
service_pid=$!
for _ in $(seq 100); do [ -s "$work/subscription.json" ] && break; sleep 0.1; done
[ -s "$work/subscription.json" ] || fail "the push service did not start"

# received N: wait until the push service has taken N messages.
received() {
    local want=$1
    for _ in $(seq 600); do
        [ "$(wc -l < "$work/received.jsonl")" -ge "$want" ] && return 0
        sleep 0.1
    done
    fail "the push service took $(wc -l < "$work/received.jsonl") messages, not $want"
}

old_version=$("$old_bin/pg_config" --version)
new_version=$("$new_bin/pg_config" --version)
echo "== $old_version, worker on: one message binds the subscription to our key"
PATH="$old_bin:$PATH" test/cluster.sh init "$work/old"
"$old_bin/pg_ctl" -D "$work/old" start -w -l "$work/old.log" >/dev/null
q >/dev/null <<SQL
CREATE EXTENSION webpush;
SELECT webpush_subscribe('$(cat "$work/subscription.json")', user_id => 'alice');
SELECT webpush_send_user('alice', '{"n": 0}');
SQL
received 1
key_before=$(q -c "SELECT webpush_keys()")

echo "== worker off (not preloaded): $queued notifications queued"
"$old_bin/pg_ctl" -D "$work/old" stop -w >/dev/null
sed -i "s/^shared_preload_libraries = 'webpush'/shared_preload_libraries = ''/" "$work/old/postgresql.conf"
"$old_bin/pg_ctl" -D "$work/old" start -w -l "$work/old.log" >/dev/null
q -c "SELECT webpush_send_user('alice', pg_catalog.format('{\"n\": %s}', n)) FROM generate_series(1, $queued) n" \
    >/dev/null 2>&1
waiting=$(q -c "SELECT count(*) FROM webpush.deliveries")
[ "$waiting" -eq "$queued" ] || fail "$waiting deliveries queued, not $queued"
"$old_bin/pg_ctl" -D "$work/old" stop -w >/dev/null

echo "== pg_upgrade to $new_version"
# The new cluster as the old was made; 18's initdb turns checksums on by
# default, and pg_upgrade needs both the same.
checksums=()
case "$("$new_bin/initdb" --help)" in *--no-data-checksums*) checksums=(--no-data-checksums) ;; esac
"$new_bin/initdb" -D "$work/new" -A trust -E UTF8 --locale=C "${checksums[@]}" >/dev/null
(cd "$work" && "$new_bin/pg_upgrade" -b "$old_bin" -B "$new_bin" -d "$work/old" -D "$work/new" \
    -s "$work" -p "$PGPORT" -P "$((PGPORT + 1))" >"$work/pg_upgrade.log" 2>&1) ||
    { cat "$work/pg_upgrade.log"; find "$work/new" -path '*pg_upgrade_output.d*' -name '*.log' \
          -exec tail -n 15 {} +; fail "pg_upgrade failed"; }

echo "== $new_version, worker on: everything queued arrives"
sed -n '/^listen_addresses/,$p' "$work/old/postgresql.conf" >> "$work/new/postgresql.conf"
sed -i "s/^shared_preload_libraries = ''/shared_preload_libraries = 'webpush'/" "$work/new/postgresql.conf"
"$new_bin/pg_ctl" -D "$work/new" start -w -l "$work/new.log" >/dev/null
new_q() { "$new_bin/psql" -X -q -At -v ON_ERROR_STOP=1 "$@"; }
[ "$(new_q -c "SHOW server_version_num")" -ge "$("$new_bin/pg_config" --version | sed 's/[^0-9]*\([0-9]*\).*/\1/')0000" ] ||
    fail "the upgraded server is not $new_version"
received $((queued + 1))
key_after=$(new_q -c "SELECT webpush_keys()")
[ "$key_before" = "$key_after" ] || fail "the key changed: $key_before, now $key_after"
for _ in $(seq 100); do
    [ "$(new_q -c "SELECT count(*) FROM webpush.deliveries")" -eq 0 ] && break
    sleep 0.1
done

# Each message exactly once, decrypted with the subscription's keys, and
# accepted (201): a foreign key would have been answered 403.
node -e '
const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").map(JSON.parse);
const want = Number(process.argv[2]);
const seen = new Map();
for (const l of lines) {
  if (l.status !== 201) { console.error("not accepted:", JSON.stringify(l)); process.exit(1); }
  const n = JSON.parse(l.payload).n;
  seen.set(n, (seen.get(n) || 0) + 1);
}
for (let n = 0; n <= want; n++)
  if (seen.get(n) !== 1) { console.error(`message ${n} arrived ${seen.get(n) || 0} times`); process.exit(1); }
' "$work/received.jsonl" "$queued" || fail "the deliveries after the upgrade are wrong"
delivered=$(new_q -c "SELECT count(*) FROM webpush.history WHERE outcome = 'delivered'")
[ "$delivered" -eq "$((queued + 1))" ] || fail "history has $delivered delivered, not $((queued + 1))"
echo "pg-upgrade: $old_version -> $new_version, $queued queued before, $queued delivered after, each once, same key"
