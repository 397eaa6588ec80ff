#!/usr/bin/env bash
# test/cluster.sh init DIR: a throwaway cluster listening only on a unix
# socket in $PGHOST, with webpush preloaded.
set -euo pipefail
dir=$2
initdb -D "$dir" -A trust -E UTF8 --locale=C >/dev/null
cat >> "$dir/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$PGHOST'
port = $PGPORT
shared_preload_libraries = 'webpush'
fsync = off
log_min_messages = info
log_line_prefix = '%m [%p] %b '
CONF
cat >> "$dir/postgresql.conf" <<CONF
webpush.database_name = 'postgres'
webpush.subject = 'mailto:ops@example.com'
webpush.ca_file = '$WEBPUSH_TEST_TLS/ca.pem'
webpush.allow_private_endpoints = on
# The loopback push services listen on ports of their own.
webpush.allowed_ports = '*'
CONF
