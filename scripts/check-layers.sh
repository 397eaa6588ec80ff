#!/bin/bash
# Checks that the C sources keep their layers (docs/development.md,
# "Architecture"):
#
# 1. A file includes headers only from its own folder and from the folders
#    of lower layers (the order below).
# 2. No two files depend on each other, directly or through others: a
#    file depends on another when its object calls a function or uses a
#    variable the other defines (nm).  (Types shared through headers are
#    rule 1's.)
# 3. No source file is longer than 800 lines unless its header comment says
#    why ("Longer than ..." in the first 60 lines).
#
# Run from the repository root after make: scripts/check-layers.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# The layers, lowest first.  Folders of the same rank may not include each
# other; the top (src/*.c) may include everything.
declare -A rank=(
    [support]=0
    [crypto]=10 [http]=10
    [push]=20
    [settings.h]=25
    [shmem]=30
    [queue]=40
    [worker]=50
    [sql]=60
    [top]=70
)

layer_of() {
    local rel=${1#src/}
    case $rel in
        */*) echo "${rel%%/*}" ;;
        settings.h) echo settings.h ;;
        *) echo top ;;
    esac
}

fail=0

# 1. Includes go down the layers.
while IFS= read -r file; do
    from=$(layer_of "$file")
    while IFS= read -r inc; do
        [ -f "src/$inc" ] || continue    # a PostgreSQL or system header
        to=$(layer_of "src/$inc")
        if [ "$from" != "$to" ] && [ "${rank[$to]}" -ge "${rank[$from]}" ]; then
            echo "check-layers: $file ($from) includes $inc ($to), which is not below it" >&2
            fail=1
        fi
    done < <(sed -n 's/^#include "\([^"]*\)".*/\1/p' "$file")
done < <(find src -name '*.[ch]' | sort)

# 2. No circles among the objects.
objects=$(find src -name '*.o' | sort)
if [ -z "$objects" ]; then
    echo "check-layers: no objects under src/: run make first" >&2
    exit 1
fi
edges=$(mktemp)
trap 'rm -f "$edges" "$edges".*' EXIT
for o in $objects; do
    nm --defined-only "$o" | awk -v f="${o%.o}" '$2 ~ /^[TDBR]$/ { print $3, f }'
done | sort -k1,1 > "$edges.defs"
for o in $objects; do
    nm --undefined-only "$o" | awk -v f="${o%.o}" '{ print $2, f }'
done | sort -k1,1 > "$edges.uses"
# "user definer" for every symbol one of our objects defines and another uses
join "$edges.uses" "$edges.defs" | awk '$2 != $3 { print $2, $3 }' > "$edges"
sort -u -o "$edges" "$edges"
if ! tsort "$edges" > /dev/null 2> "$edges.loops"; then
    echo "check-layers: these files depend on each other in a circle:" >&2
    grep -v 'input contains a loop' "$edges.loops" | sed 's/^tsort: /  /' >&2
    fail=1
fi

# 3. Long files say why.
while IFS= read -r file; do
    lines=$(wc -l < "$file")
    if [ "$lines" -gt 800 ] && ! head -n 60 "$file" | grep -q 'Longer than'; then
        echo "check-layers: $file has $lines lines and no reason in its header (\"Longer than ...\")" >&2
        fail=1
    fi
done < <(find src -name '*.[ch]' | sort)

if [ "$fail" = 0 ]; then
    echo "check-layers: $(echo "$objects" | wc -w) objects, layers kept, no circles"
fi
exit "$fail"
