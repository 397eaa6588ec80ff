#!/usr/bin/env bash
# Builds a PostgreSQL server from Debian's source package, once, into a
# cached prefix, and prints its pg_config.  The system's apt sources are
# never touched: the deb-src lines live in a private list.
#
#   scripts/build-postgres.sh 18          PostgreSQL 18 (sid) in /opt/webpush-pg18
#   scripts/build-postgres.sh 13          PostgreSQL 13 (bullseye) in /opt/webpush-pg13
#   scripts/build-postgres.sh 15 --asan   PostgreSQL 15 with ASan + UBSan
#                                         in /opt/webpush-pg15-asan
#
# WEBPUSH_PG_PREFIX overrides the prefix.  Used by scripts/test.sh --pg N
# and --asan.
set -euo pipefail
major=${1:?usage: build-postgres.sh MAJOR [--asan]}
asan=${2:-}
case "$major" in
    13) suite=bullseye ;;
    15) suite=bookworm ;;
    17) suite=trixie ;;
    18) suite=sid ;;
    *) echo "build-postgres.sh: no Debian suite known for PostgreSQL $major" >&2; exit 2 ;;
esac
if [ "$asan" = "--asan" ]; then
    prefix=${WEBPUSH_PG_PREFIX:-/opt/webpush-pg$major-asan}
else
    prefix=${WEBPUSH_PG_PREFIX:-/opt/webpush-pg$major}
fi
# Built, with the isolation tester the specs run on (a build without it,
# as 13's install made, is built again).
if [ -x "$prefix/bin/pg_config" ] &&
   [ -x "$(dirname "$("$prefix/bin/pg_config" --pgxs)")/../test/isolation/pg_isolation_regress" ]; then
    echo "$prefix/bin/pg_config"
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

# bison and flex: the tarballs of 16 and later ship no generated parsers.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    build-essential dpkg-dev bison flex pkg-config libssl-dev zlib1g-dev libreadline-dev \
    libicu-dev >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-pgsrc.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
# The mirror is the system's own: the first Debian archive (not the
# security one) its apt sources name, in one-line or deb822 form.
mirror=$( { grep -hsE '^[[:space:]]*deb[[:space:]]' /etc/apt/sources.list /etc/apt/sources.list.d/*.list |
              tr ' \t' '\n\n' | grep -E '^(https?|file)://'
            grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources | tr ' \t' '\n\n' | grep -E '^(https?|file)://'
          } | grep -v -- '-security' | head -n 1) || true
if [ -z "$mirror" ]; then
    echo "build-postgres.sh: no Debian mirror found in the system's apt sources" >&2
    exit 1
fi
echo "deb-src $mirror $suite main" > "$work/apt/sources.list"
apt_src=(-o Dir::Etc::SourceList="$work/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
         -o Dir::State::Lists="$work/apt/lists" -o Dir::Cache="$work/apt/cache"
         -o Debug::NoDropPrivs=1)
apt-get "${apt_src[@]}" update -qq >&2
(cd "$work" && apt-get "${apt_src[@]}" source --download-only "postgresql-$major" >&2)
tar -C "$work" -xf "$work"/postgresql-"$major"_*.orig.tar.*
src=$(echo "$work"/postgresql-"$major".*/)

if [ "$asan" = "--asan" ]; then
    # Alignment checks off: PostgreSQL reads some structures unaligned on purpose.
    flags="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize=alignment"
    ldflags="-fsanitize=address,undefined"
    export ASAN_OPTIONS=detect_leaks=0
else
    flags="-O2 -g"
    ldflags=""
fi
(cd "$src" && ./configure --prefix="$prefix" --with-openssl \
    CFLAGS="$flags" LDFLAGS="$ldflags" >&2 &&
    make -s -j"$(nproc)" >&2 &&
    "${sudo[@]}" make -s install >&2 &&
    # 14 and later install the isolation tester where PGXS looks for it;
    # 13 builds it and installs nothing.
    make -s -C src/test/isolation >&2 &&
    isolation=$(dirname "$("$prefix/bin/pg_config" --pgxs)")/../test/isolation &&
    "${sudo[@]}" mkdir -p "$isolation" &&
    "${sudo[@]}" install -m 755 src/test/isolation/pg_isolation_regress \
        src/test/isolation/isolationtester "$isolation/")
echo "$prefix/bin/pg_config"
