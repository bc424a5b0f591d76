#!/bin/sh
# SPDX-License-Identifier: BSD-2-Clause
#
# Proves the installed libcondd is complete: installs the library, its headers and libcondd.pc
# into a scratch DESTDIR (no static archive unless configured with --enable-static), then builds
# a program that includes both public headers using only `pkg-config --cflags --libs libcondd`
# (and, with --enable-static, against the archive with `pkg-config --static`), runs it against a real condd, checks that libcondd.so exports
# exactly the condd_* API, and that a C++ program links every function the headers declare.
# Run by `make check` (also under distcheck).
set -eu

: "${top_builddir:?run through make check}"
: "${top_srcdir:?run through make check}"
env_file="$top_builddir/tests/install-test.env"
# shellcheck source=/dev/null
. "$env_file" # CC, CXX, SAN_CFLAGS, SAN_LDFLAGS, MAKE_CMD, libdir, includedir, prefix, build_static,
# static_asked (configure had --enable-static)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/condd-install-test.XXXXXX")
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null || true
        wait "$daemon_pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

fail() {
    echo "install-test: $*" >&2
    exit 1
}

dest="$tmp/dest"
# Only this library's parts: the test must not depend on how the rest of the tree installs.
# MAKEFLAGS is dropped so a parallel `make check` jobserver is not inherited half-open.
MAKEFLAGS= $MAKE_CMD -C "$top_builddir" DESTDIR="$dest" \
    install-libLTLIBRARIES install-conddHEADERS install-pkgconfigDATA \
    >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; fail "make install failed"; }

pcdir="$dest$libdir/pkgconfig"
[ -f "$pcdir/libcondd.pc" ] || fail "libcondd.pc not installed in $libdir/pkgconfig"
[ -f "$dest$includedir/condd/condd.h" ] || fail "condd/condd.h not installed"
[ -f "$dest$includedir/condd/condd_async.h" ] || fail "condd/condd_async.h not installed"
# No archive unless configured with --enable-static: its internal names (arena_init,
# addr_split...) would clash with an application's own when linked statically.
if [ -e "$dest$libdir/libcondd.a" ] && [ "$static_asked" != yes ]; then
    fail "libcondd.a installed without --enable-static"
fi
if [ "$build_static" = yes ]; then
    [ -f "$dest$libdir/libcondd.a" ] || fail "libtool builds archives, but libcondd.a not installed"
fi
ls "$dest$libdir"/libcondd.so.* >/dev/null 2>&1 || fail "libcondd.so not installed"

PKG_CONFIG_PATH="$pcdir${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"
PKG_CONFIG_SYSROOT_DIR="$dest"
export PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
cflags=$(pkg-config --cflags libcondd) || fail "pkg-config --cflags libcondd failed"
libs=$(pkg-config --libs libcondd) || fail "pkg-config --libs libcondd failed"
static_libs=$(pkg-config --static --libs libcondd | sed 's/-lcondd//') ||
    fail "pkg-config --static --libs libcondd failed"

cat >"$tmp/prog.c" <<'PROG'
/* Uses both public headers and both APIs; exits 0 when everything behaved. */
#include <condd/condd.h>
#include <condd/condd_async.h>
#include <stdio.h>
#include <string.h>

static int async_rc = 1;

static void on_grant(condd_async_conn *ac, int rc, uint64_t token, void *arg)
{
    if (rc == CONDD_OK && token != 0 &&
        condd_async_lock_release(ac, "install/l", 0, NULL, NULL) == CONDD_OK)
        async_rc = 0;
    event_base_loopbreak(condd_async_conn_base(ac));
}

static void on_connect(condd_async_conn *ac, int rc, void *arg)
{
    if (rc != CONDD_OK) {
        fprintf(stderr, "connect: %s\n", condd_strerror(rc));
        event_base_loopbreak(condd_async_conn_base(ac));
    }
}

int main(int argc, char **argv)
{
    const char *addr = argc > 1 ? argv[1] : NULL;
    if (strcmp(condd_strerror(CONDD_ERR_TIMEOUT), "timed out") != 0)
        return 2;
    condd_conn *conn;
    int rc = condd_conn_open(addr, NULL, &conn);
    if (addr == NULL || strcmp(addr, "-") == 0)
        return rc == CONDD_ERR_CONNECT || rc == CONDD_ERR_ADDRESS ? 0 : 3;
    if (rc != CONDD_OK) {
        fprintf(stderr, "open %s: %s\n", addr, condd_strerror(rc));
        return 4;
    }
    uint64_t token = 0;
    if (condd_lock_acquire(conn, "install/l", 0, CONDD_FOREVER, &token) != CONDD_OK ||
        condd_lock_release(conn, "install/l", 0) != CONDD_OK)
        return 5;
    condd_conn_close(conn);

    struct event_base *base = event_base_new();
    condd_async_conn *ac;
    if (condd_async_conn_open(base, addr, NULL, on_connect, NULL, &ac) != CONDD_OK)
        return 6;
    condd_async_lock_acquire(ac, "install/l", 0, CONDD_FOREVER, on_grant, NULL, NULL);
    event_base_dispatch(base);
    condd_async_conn_close(ac);
    event_base_free(base);
    return async_rc == 0 ? 0 : 7;
}
PROG

# shellcheck disable=SC2086 # word splitting of compiler flags is intended
$CC $SAN_CFLAGS $cflags -o "$tmp/prog" "$tmp/prog.c" $SAN_LDFLAGS $libs ||
    fail "cannot build against the installed library with: $cflags $libs"
if [ "$build_static" = yes ]; then
    # shellcheck disable=SC2086
    $CC $SAN_CFLAGS $cflags -o "$tmp/prog-static" "$tmp/prog.c" $SAN_LDFLAGS \
        "$dest$libdir/libcondd.a" $static_libs ||
        fail "cannot build against libcondd.a with: $static_libs"
fi

# The examples build outside the tree the same way: pkg-config alone, no config.h.
for ex in "$top_srcdir"/examples/*.c; do
    # shellcheck disable=SC2086
    $CC $SAN_CFLAGS $cflags -o "$tmp/$(basename "$ex" .c)" "$ex" $SAN_LDFLAGS $libs ||
        fail "examples/$(basename "$ex") does not build with only: $cflags $libs"
done

# Exported symbols: exactly the condd_* API, nothing of the codec or the generated protobuf code.
# nm -D lists the version script's node (e.g. LIBCONDD_1) as an absolute symbol besides the
# functions; every other name must be condd_ followed by a lower-case letter, each versioned
# with that node, and the set must equal the functions the public headers declare.
so=$(ls "$dest$libdir"/libcondd.so.*.*.* | head -n 1)
node=$(sed -n 's/^\(LIBCONDD_[0-9][0-9]*\) *{.*/\1/p' "$top_srcdir/client/libcondd.sym")
[ -n "$node" ] || fail "no LIBCONDD_n node in client/libcondd.sym"
nm -D --defined-only "$so" | awk '{print $3}' >"$tmp/nm.raw"
sed 's/@.*//' "$tmp/nm.raw" | grep -vx "$node" | sort -u >"$tmp/exported"
[ -s "$tmp/exported" ] || fail "nm -D lists no symbols of libcondd.so"
if grep -q '^condd__' "$tmp/exported"; then
    fail "libcondd.so exports generated protobuf symbols"
fi
bad=$(grep -v '^condd_[a-z][a-z0-9_]*$' "$tmp/exported" || true)
[ -z "$bad" ] || fail "libcondd.so exports names other than condd_*: $bad"
if grep -q '@' "$tmp/nm.raw"; then # nm shows versions (binutils >= 2.35)
    unversioned=$(grep -v -e "@@$node\$" -e "^$node\$" "$tmp/nm.raw" || true)
    [ -z "$unversioned" ] || fail "symbols outside version node $node: $unversioned"
fi
grep -ohE '\bcondd_[a-z_]+\(' "$top_srcdir"/client/include/condd/*.h | tr -d '(' |
    sort -u >"$tmp/declared"
missing=$(comm -23 "$tmp/declared" "$tmp/exported")
[ -z "$missing" ] || fail "public functions not exported: $missing"
extra=$(comm -13 "$tmp/declared" "$tmp/exported")
[ -z "$extra" ] || fail "exported but declared in no public header: $extra"

# C++: every declared function must have C linkage (inside the headers' extern "C"), or a C++
# program gets an undefined reference to a mangled name. The program takes the address of each
# function listed in $tmp/declared (made from the headers above, so a new function is covered
# without touching this test), is compiled as pedantic C++17, linked against the installed
# library, and its object must reference no mangled condd_ name.
{
    echo '#include <condd/condd.h>'
    echo '#include <condd/condd_async.h>'
    echo '#include <cstdio>'
    echo 'typedef void (*any_fn)();'
    echo 'static const any_fn fns[] = {'
    sed 's/.*/    reinterpret_cast<any_fn>(\&&),/' "$tmp/declared"
    echo '};'
    echo 'int main() {'
    echo '    int n = 0;'
    echo '    for (any_fn f : fns) n += f != nullptr;'
    printf '%s\n' '    std::printf("%d\n", n);'
    echo '    return condd_strerror(CONDD_ERR_TIMEOUT) != nullptr ? 0 : 1;'
    echo '}'
} >"$tmp/cxx.cc"
cxxflags="-std=c++17 -Wall -Wextra -Werror -pedantic"
# shellcheck disable=SC2086
$CXX $cxxflags $SAN_CFLAGS $cflags -c -o "$tmp/cxx.o" "$tmp/cxx.cc" ||
    fail "the public headers do not compile as C++ ($CXX $cxxflags)"
mangled=$(nm -u "$tmp/cxx.o" | awk '{print $2}' | grep '^_Z.*condd_' || true)
[ -z "$mangled" ] || fail "functions declared with C++ linkage (outside extern \"C\"): $mangled"
# shellcheck disable=SC2086
$CXX $SAN_CFLAGS -o "$tmp/cxx" "$tmp/cxx.o" $SAN_LDFLAGS $libs ||
    fail "a C++ program cannot link every public function against $libs"

LD_LIBRARY_PATH="$dest$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export LD_LIBRARY_PATH
n_cxx=$("$tmp/cxx") || fail "the C++ program failed"
[ "$n_cxx" -eq "$(wc -l <"$tmp/declared")" ] ||
    fail "the C++ program took $n_cxx functions' addresses, not $(wc -l <"$tmp/declared")"
# Nothing listening: the program must get a connection error, not crash.
CONDD_SERVER="127.0.0.1:1" "$tmp/prog" - || fail "program failed without a server"

condd="${CONDD:-$top_builddir/daemon/condd}"
if [ ! -x "$condd" ]; then
    echo "install-test: $condd not built; skipped the run against a daemon" >&2
    exit 0
fi
"$condd" --listen 127.0.0.1:0 --port-file "$tmp/port" --log-level error &
daemon_pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
    i=$((i + 1))
    [ $i -lt 2000 ] || fail "condd did not write its port file"
    kill -0 "$daemon_pid" 2>/dev/null || fail "condd exited"
    sleep 0.01
done
port=$(cat "$tmp/port")
"$tmp/prog" "127.0.0.1:$port" || fail "program (shared) failed against condd"
if [ "$build_static" = yes ]; then
    "$tmp/prog-static" "127.0.0.1:$port" || fail "program (static) failed against condd"
fi
echo "install-test: ok ($cflags $libs)"
