#!/bin/sh
# The layout rules of docs/hacking.md that the include paths cannot enforce on their own: the
# engine includes neither protobuf nor libevent, libcondd's internal header stays inside the
# library and its own tests, the tools and examples use only public headers, and no run-time
# files (pid files) sit in the tree.
# SPDX-License-Identifier: BSD-2-Clause
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
fail=0

# bad WHAT FILES...: report every listed file (none expected)
bad() {
    what=$1
    shift
    for f in "$@"; do
        echo "layout: $what: ${f#"$src"/}" >&2
        fail=1
    done
}

# grep_files PATTERN DIR...: the C files under DIR that match the extended regex PATTERN
grep_files() {
    pat=$1
    shift
    find "$@" -name '*.[ch]' ! -name '*.pb-c.[ch]' -exec grep -lE "$pat" {} + 2>/dev/null
}

bad "the engine includes protobuf or libevent" \
    $(grep_files '#[[:space:]]*include[[:space:]]*[<"](event2/|[^">]*\.pb-c\.h)' "$src/daemon/engine")
bad "libcondd's internal header outside the library and its tests" \
    $(grep_files '#[[:space:]]*include[[:space:]]*"([^"]*/)?internal\.h"' "$src/condctl" "$src/bench" \
        "$src/examples" "$src/daemon" "$src/common" "$src/proto")
bad "libcondd's internal header in a test other than the library's" \
    $(grep_files '#[[:space:]]*include[[:space:]]*"([^"]*/)?internal\.h"' "$src/tests" |
        grep -vE '/tests/(check_client\.c|check_client_acks\.c|check_client_edges\.c|client_util\.[ch])$')
bad "a tool or example reaches for generated protobuf code" \
    $(grep_files '\.pb-c\.h' "$src/condctl" "$src/examples")
bad "a run-time file in the source tree" $(find "$src" -name '*.pid' -not -path '*/_build/*')

[ "$fail" -eq 0 ] && echo "layout: ok"
exit "$fail"
