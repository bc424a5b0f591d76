#!/bin/sh
# A bounded libFuzzer run of tests/fuzz/fuzz_conn (--enable-fuzzer builds only).
# SPDX-License-Identifier: BSD-2-Clause
target=conn
. "${top_srcdir:?}/tests/fuzz/libfuzzer-lib.sh"
