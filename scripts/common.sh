# Sourced by the scripts: build and install the extension, then run a
# command as an unprivileged user (initdb and postgres refuse to run as root).

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

build_and_install() {
    make -C "$top" -s clean >/dev/null
    make -C "$top" -s
    "${sudo[@]}" make -C "$top" -s install >/dev/null
}

# as_test_user NAME CMD...: run CMD in a private copy of the tree (a new
# temporary directory named after NAME, removed afterwards).  As root the
# copy belongs to the "postgres" account; otherwise to us.
as_test_user() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX"); shift
    chmod 755 "$dir"
    trap "rm -rf '$dir'" EXIT
    tar -C "$top" --exclude=./test/node_modules --exclude=./.git -cf - . | tar -C "$dir" -xf -
    if [ "$(id -u)" -eq 0 ]; then
        local user=${WEBPUSH_TEST_USER:-postgres}
        chown -R "$user" "$dir"
        runuser -u "$user" -- env -C "$dir" HOME="$(getent passwd "$user" | cut -d: -f6)" \
            PATH="$PATH" CI="${CI:-}" WEBPUSH_VALGRIND="${WEBPUSH_VALGRIND:-}" "$@"
    else
        (cd "$dir" && "$@")
    fi
}
