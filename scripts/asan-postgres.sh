#!/usr/bin/env bash
# Builds PostgreSQL 15 itself with AddressSanitizer and UBSan, once, into
# $WEBPUSH_ASAN_PREFIX (default /opt/webpush-pg15-asan), and prints its
# pg_config.  A stock server cannot host an ASan-built extension: with
# libasan preloaded into Debian's postgres, glibc deadlocks in
# bindtextdomain before main() does anything.  Used by scripts/test.sh --asan.
set -euo pipefail
prefix=${WEBPUSH_ASAN_PREFIX:-/opt/webpush-pg15-asan}
if [ -x "$prefix/bin/pg_config" ]; then echo "$prefix/bin/pg_config"; exit 0; fi
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential dpkg-dev libssl-dev zlib1g-dev libreadline-dev >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-pgsrc.XXXXXX")
trap 'rm -rf "$work"' EXIT
# The source package, through a private apt list so the system's stays as it is.
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
echo 'deb-src http://deb.debian.org/debian bookworm main' > "$work/apt/sources.list"
apt_src=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache"
         -o Debug::NoDropPrivs=1)
apt-get "${apt_src[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_src[@]}" source --download-only postgresql-15 >&2)
tar -C "$work" -xjf "$work"/postgresql-15_*.orig.tar.bz2
src=$(echo "$work"/postgresql-15.*/)

# Alignment checks off: PostgreSQL reads some structures unaligned on purpose.
flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=alignment"
(cd "$src" && ./configure --prefix="$prefix" --with-openssl --without-icu \
    CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" >&2 &&
    ASAN_OPTIONS=detect_leaks=0 make -s -j"$(nproc)" >&2 &&
    "${sudo[@]}" env ASAN_OPTIONS=detect_leaks=0 make -s install >&2)
echo "$prefix/bin/pg_config"
