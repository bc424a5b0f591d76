#!/usr/bin/env bash
# The two Quick start commands (see README.md), for a fresh Debian 12 machine as root:
#   ./build.sh run    install the build dependencies, build, and start condd in the foreground
#   ./build.sh test   install the dependencies, then build and pass the whole test suite:
#                     a -Werror build + make check + make format-check, an ASan/UBSan build +
#                     make check, make distcheck
# Builds happen out of tree under _build/ so the source tree stays clean.
set -euo pipefail
cd "$(dirname "$0")"
top=$PWD

# Debian packages the build, the tests and the benchmark smoke need.
DEPS=(build-essential autoconf automake libtool pkg-config
      libevent-dev libprotobuf-c-dev protobuf-c-compiler libsodium-dev check
      libsystemd-dev systemd libhiredis-dev redis-server procps clang-format
      python3 python3-protobuf protobuf-compiler libpython3.11-testsuite python3-uvloop
      openssl libssl-dev)

install_deps() {
    local missing=()
    for p in "${DEPS[@]}"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "build.sh: missing packages: ${missing[*]} (run as root to install them)" >&2
            exit 1
        fi
        export DEBIAN_FRONTEND=noninteractive
        apt-get update
        apt-get install -y --no-install-recommends "${missing[@]}"
    fi
}

bootstrap() {
    # autogen.sh again only when configure is missing or older than one of its inputs.
    if [ -x configure ] && [ -z "$(find configure.ac Makefile.am -newer configure 2>/dev/null)" ]; then
        return
    fi
    ./autogen.sh
}

# build DIR [configure args...]: configures DIR only when it was never configured with exactly
# these arguments (make re-runs configure by itself when configure or its inputs change), then
# builds it.
build() {
    local dir=$1
    shift
    mkdir -p "$dir"
    local want have
    want=$(printf '%q ' "$@")
    have=$(cat "$dir/.build-sh-args" 2>/dev/null || true)
    if [ ! -f "$dir/config.status" ] || [ "$want" != "$have" ]; then
        (cd "$dir" && "$top/configure" "$@")
        printf '%s' "$want" >"$dir/.build-sh-args"
    fi
    make -C "$dir" -j"$(nproc)"
}

case "${1:-}" in
run)
    install_deps
    bootstrap
    build _build/release --enable-werror CFLAGS="-O2 -g"
    shift
    cat <<EOF
build.sh: built in _build/release. To use condctl and read the man pages from here:
    export PATH="$top/_build/release/condctl:\$PATH"
    man -l $top/docs/condctl.1      man -l $top/docs/condd.8
  or install everything (condd, condctl, libcondd, units, man pages): make -C _build/release install
build.sh: starting condd on 127.0.0.1:7380 (Ctrl-C stops it)
EOF
    exec _build/release/daemon/condd "$@"
    ;;
test)
    install_deps
    bootstrap
    jobs=$(nproc)
    echo "== plain build (-Werror) and make check"
    build _build/plain --enable-werror
    make -C _build/plain -j"$jobs" check || { cat _build/plain/test-suite.log; exit 1; }
    echo "== make format-check"
    make -C _build/plain format-check
    echo "== sanitizer build (ASan + UBSan) and make check"
    build _build/san --enable-werror --enable-sanitizers
    make -C _build/san -j"$jobs" check || { cat _build/san/test-suite.log; exit 1; }
    echo "== make distcheck"
    make -C _build/plain -j"$jobs" distcheck
    echo "build.sh: all test suites passed"
    ;;
*)
    echo "usage: ./build.sh run [condd options...] | ./build.sh test" >&2
    exit 2
    ;;
esac
