#!/usr/bin/env bash
# Installs what building and testing webpush needs on Debian 12: PostgreSQL 15
# with its server headers, libcurl, libnghttp2 and OpenSSL headers, a compiler, clang
# with libFuzzer (for the fuzz harnesses), openssl (for the test CA) and
# Node.js with npm (for the test push service).
# scripts/setup.sh --browser adds Debian's chromium, for the browser test;
# further arguments are more Debian packages (valgrind, linux-perf, ...).
# Safe to run again; uses sudo when not run as root.
set -euo pipefail

PG_MAJOR=${PG_MAJOR:-15}
packages=(build-essential pkg-config ca-certificates openssl curl
          "postgresql-$PG_MAJOR" "postgresql-server-dev-$PG_MAJOR"
          libcurl4-openssl-dev libnghttp2-dev libssl-dev
          clang libclang-rt-14-dev tinyproxy-bin pgbouncer
          prometheus-postgres-exporter)
if [ "${1:-}" = "--browser" ]; then packages+=(chromium); shift; fi
packages+=("$@")
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
echo "setup: installing ${missing[*]}"
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
