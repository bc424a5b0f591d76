#!/bin/sh
# A bounded libFuzzer run of tests/fuzz/fuzz_frame (--enable-fuzzer builds only).
# SPDX-License-Identifier: BSD-2-Clause
target=frame
. "${top_srcdir:?}/tests/fuzz/libfuzzer-lib.sh"
