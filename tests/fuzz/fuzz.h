/*
 * fuzz.h - the libFuzzer entry point every target defines.  Built with
 * --enable-fuzzing, libFuzzer calls it; in every build, replay.c calls it
 * on the seed corpora and regression inputs (make check).
 */
#ifndef H2GUARD_TESTS_FUZZ_H
#define H2GUARD_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
