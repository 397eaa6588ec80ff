#!/usr/bin/env bash
# A push service on your machine, for development: see a notification
# arrive, decrypted, without a browser vendor.
#
#   scripts/dev-push-service.sh [PORT]      (PORT: 8443 by default)
#
# It prints a subscription to pass to webpush_subscribe() and the settings
# your development cluster needs to deliver to it, then shows each
# notification as it arrives.  It plays the browser's part too: it holds
# the subscription's keys and decrypts with the npm package http_ece.
# Subscriptions live as long as the process; Ctrl-C stops it.
#
# Its test CA and certificate stay in $WEBPUSH_DEV_DIR (default
# /tmp/webpush-dev), readable by the server's account, so the settings
# printed remain true from one start to the next.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
port=${1:-8443}
dir=${WEBPUSH_DEV_DIR:-/tmp/webpush-dev}

if ! command -v node >/dev/null || ! command -v npm >/dev/null || ! command -v openssl >/dev/null; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends nodejs npm openssl >/dev/null
fi
(cd test && npm ci --no-audit --no-fund --loglevel=error >/dev/null)

# A CA that lasts a year, made once.
mkdir -p "$dir"
chmod 755 "$dir"
if ! openssl x509 -checkend 86400 -noout -in "$dir/ca.pem" >/dev/null 2>&1; then
    WEBPUSH_TLS_DAYS=365 test/make-tls.sh "$dir"
fi
chmod 644 "$dir/ca.pem"

sub=$dir/subscription-$port.json
rm -f "$sub"
node test/push-service.js --port "$port" --key "$dir/server.key" --cert "$dir/server.pem" \
    --subscription "$sub" --pretty &
pid=$!
trap 'kill $pid 2>/dev/null || true' EXIT INT TERM
for _ in $(seq 100); do [ -s "$sub" ] && break; sleep 0.1; done
[ -s "$sub" ] || { echo "dev-push-service: the push service did not start (is port $port free?)" >&2; exit 1; }

cat <<EOF2

A local push service is listening on https://localhost:$port

1. Let your development cluster reach it (as a superuser; the worker needs
   webpush in shared_preload_libraries), then reload:

     ALTER SYSTEM SET webpush.ca_file = '$dir/ca.pem';
     ALTER SYSTEM SET webpush.allow_private_endpoints = on;
     ALTER SYSTEM SET webpush.allowed_ports = '443, $port';
     SELECT pg_reload_conf();

   webpush.ca_file trusts this service's test CA; allow_private_endpoints
   lets the worker connect to localhost, which it refuses by default;
   allowed_ports adds this port to 443.  Never set the last two on a
   production server.

2. In a new session (the reload reaches sessions between statements; in
   psql, \\c), subscribe as a browser would, and send:

     SELECT webpush_subscribe('$(cat "$sub")', user_id => 'alice');
     SELECT * FROM webpush_send_user('alice', webpush_notification('Hello', 'from PostgreSQL'));

Notifications appear below as they arrive (time, HTTP status, subscription, TTL, payload):

EOF2
wait $pid
