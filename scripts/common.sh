# Sourced by the scripts: build and install the extension, then run a
# command as an unprivileged user (initdb and postgres refuse to run as root).

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PATH="$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin):$PATH"

if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi

# build_and_install [MAKE ARGS...]: build this tree for the system's server
# and install it there (WEBPUSH_TEST_HOOKS=1 for the test suite).
build_and_install() {
    make -C "$top" -s clean >/dev/null
    make -C "$top" -s "$@"
    # Includes go down the layers, no circles, long files say why.
    "$top/scripts/check-layers.sh"
    "${sudo[@]}" make -C "$top" -s "$@" install >/dev/null
}

# install_for PG_CONFIG [MAKE ARGS...]: build in a copy of the tree against
# that server's headers and install into it, leaving this tree's own build
# (for the system's server) alone.
install_for() {
    local pg_config=$1 dir
    shift
    dir=$(mktemp -d "${TMPDIR:-/tmp}/webpush-build.XXXXXX")
    tar -C "$top" --exclude=./.git --exclude='*/node_modules' --exclude='*.o' --exclude='*.bc' \
        --exclude='*.so' -cf - . | tar -C "$dir" -xf -
    make -C "$dir" -s PG_CONFIG="$pg_config" "$@"
    # Includes go down the layers, no circles, long files say why.
    "$dir/scripts/check-layers.sh"
    "${sudo[@]}" make -C "$dir" -s PG_CONFIG="$pg_config" "$@" install >/dev/null
    rm -rf "$dir"
}

# as_unprivileged CMD...: run CMD as the account that owns throwaway
# clusters: "postgres" (or $WEBPUSH_TEST_USER) when we are root, else us.
as_unprivileged() {
    if [ "$(id -u)" -eq 0 ]; then
        local user=${WEBPUSH_TEST_USER:-postgres}
        runuser -u "$user" -- env HOME="$(getent passwd "$user" | cut -d: -f6)" \
            PATH="$PATH" CI="${CI:-}" WEBPUSH_VALGRIND="${WEBPUSH_VALGRIND:-}" \
            WEBPUSH_ASAN="${WEBPUSH_ASAN:-}" WEBPUSH_E2E="${WEBPUSH_E2E:-}" PGPORT="${PGPORT:-}" \
            WEBPUSH_THROTTLE_SECONDS="${WEBPUSH_THROTTLE_SECONDS:-}" "$@"
    else
        "$@"
    fi
}

# as_test_user NAME CMD...: run CMD in a private copy of the tree (a new
# temporary directory named after NAME, removed afterwards), as_unprivileged.
as_test_user() {
    local dir
    dir=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX"); shift
    chmod 755 "$dir"
    trap "rm -rf '$dir'" EXIT
    tar -C "$top" --exclude=./test/node_modules --exclude=./examples/express/node_modules \
        --exclude=./.git -cf - . | tar -C "$dir" -xf -
    [ "$(id -u)" -eq 0 ] && chown -R "${WEBPUSH_TEST_USER:-postgres}" "$dir"
    (cd "$dir" && as_unprivileged "$@")
}
