/* SPDX-License-Identifier: BSD-2-Clause
 *
 * What every fuzz target defines: libFuzzer's entry point. With --enable-fuzzer libFuzzer's
 * own main calls it; otherwise tests/fuzz/standalone.c does, over the seed corpus and
 * deterministic mutations of it. An invariant failure aborts, which both report as a crash.
 */
#ifndef CONDD_TESTS_FUZZ_H
#define CONDD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

/* Runs one input. data[0..size) is borrowed. Returns 0. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
