# Sourced by tests/fuzz/libfuzzer-*.sh with $target set: a bounded libFuzzer run of
# tests/fuzz/fuzz_$target (an --enable-fuzzer build) from the committed seed corpus. New inputs
# go to a scratch folder removed afterwards, so the source tree is never written; a crash or an
# invariant failure fails the test and leaves its reproducer in tests/fuzz/crash-$target-*.
# FUZZ_SECONDS (default 10) bounds the run. (libFuzzer's own failure code, 77, would read as
# a skip to make check: hence -error_exitcode.)
# SPDX-License-Identifier: BSD-2-Clause
set -u
src=${top_srcdir:?}
build=${top_builddir:?}
seconds=${FUZZ_SECONDS:-10}
scratch=$(mktemp -d "${TMPDIR:-/tmp}/condd-fuzz-$target.XXXXXX") || exit 99
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$build/tests/fuzz"
"$build/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -runs=200000 -timeout=25 -error_exitcode=1 \
    -print_final_stats=1 -artifact_prefix="$build/tests/fuzz/crash-$target-" \
    "$scratch" "$src/tests/fuzz/corpus/$target"
