/* fuzz_loader.c: libFuzzer entry point for the .tflite loader + interpreter (scripts/fuzz.sh). */
#include <stddef.h>
#include <stdint.h>

#include "fuzz_one.c"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    kiln_fuzz_one(data, size);
    return 0;
}
