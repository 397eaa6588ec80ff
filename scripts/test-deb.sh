#!/usr/bin/env bash
# Packages the extension as Debian does (debian/, pg_buildext), installs the
# resulting postgresql-15-webpush .deb on this machine, and runs the demo
# against the installed package, building nothing from the tree.  The
# package is removed again at the end.  Part of scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD
if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
scripts/setup.sh debhelper postgresql-server-dev-all dpkg-dev

# A copy of the tree without build products: dpkg-buildpackage writes its
# .deb files next to the source directory.
work=$(mktemp -d "${TMPDIR:-/tmp}/webpush-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/webpush"
tar -C "$top" --exclude=./.git --exclude='*/node_modules' --exclude='*.o' --exclude='*.bc' \
    --exclude='*.so' -cf - . | tar -C "$work/webpush" -xf -
echo "== dpkg-buildpackage"
(cd "$work/webpush" && dpkg-buildpackage -us -uc -b >"$work/build.log" 2>&1) ||
    { tail -40 "$work/build.log"; exit 1; }
deb=$(ls "$work"/postgresql-15-webpush_*_amd64.deb)
echo "built $(basename "$deb")"

echo "== install the package"
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb" >/dev/null
remove() { "${sudo[@]}" dpkg -r postgresql-15-webpush >/dev/null 2>&1; }
trap 'remove; rm -rf "$work"' EXIT
lib=$(pg_config --pkglibdir)/webpush.so
owner=$(dpkg -S "$lib" | cut -d: -f1)
[ "$owner" = "postgresql-15-webpush" ] || { echo "$lib does not come from the package" >&2; exit 1; }
echo "$lib comes from $owner $(dpkg-query -W -f='${Version}' postgresql-15-webpush)"

echo "== the demo against the installed package"
out=$(bash scripts/demo.sh --installed 2>&1) || { echo "$out"; exit 1; }
echo "$out" | tail -15
echo "$out" | grep '"status":201' | grep -q 'Order received' ||
    { echo "the demo's notification did not arrive" >&2; exit 1; }
echo "deb: installed, and the demo delivered through it"
