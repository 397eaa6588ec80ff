#!/usr/bin/env bash
# libcurl's own HTTP/2 under webpush's load, against a local HTTP/2 server
# (Node.js, whose nghttp2 guards against "rapid reset"): N POSTs, C at once,
# each with a unique id, through one multi handle with CURLPIPE_MULTIPLEX.
# Prints the client's figures (connections, failures, GOAWAYs libcurl
# reported, CPU per request) and the server's (requests, ids received more
# than once, sessions and how they ended).  Why webpush frames HTTP/2 itself:
# src/http/http2.c.
#
#   bench/h2_libcurl_vs_nghttp2.sh [N [C [MAX_CONCURRENT_STREAMS]]]
set -euo pipefail
cd "$(dirname "$0")/.."
n=${1:-5000}
c=${2:-100}
streams=${3:-}
work=$(mktemp -d "${TMPDIR:-/tmp}/h2bench.XXXXXX")
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
test/make-tls.sh "$work/tls" >/dev/null
cc -O2 -Wall -Wextra bench/h2_libcurl.c -lcurl -o "$work/h2_libcurl"
echo "libcurl $(curl-config --version | cut -d' ' -f2), node $(node -p process.version) (nghttp2 $(node -p process.versions.nghttp2)), $(date -u +%F)"
for mode in verbose quiet; do
    node bench/h2_server.js "$work/tls/server.key" "$work/tls/server.pem" $streams > "$work/server.out" &
    server=$!
    for _ in $(seq 100); do [ -s "$work/server.out" ] && break; sleep 0.1; done
    port=$(head -1 "$work/server.out")
    echo "client ($mode): $("$work/h2_libcurl" "https://localhost:$port/push" "$n" "$c" "$work/tls/ca.pem" $mode 2>"$work/client.err")"
    if [ -s "$work/client.err" ]; then echo "  libcurl said, $(cat "$work/client.err")"; fi
    kill -TERM "$server"; wait "$server" || true
    echo "server: $(tail -1 "$work/server.out")"
done
