/* sha256.h: SHA-256 (FIPS 180-4), for reproducibility checks of written models. */
#ifndef KILN_SHA256_H
#define KILN_SHA256_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Writes the digest of data[0..len) as 64 lowercase hex characters and a NUL into hex. */
void kiln_sha256_hex(const void *data, size_t len, char hex[65]);

#ifdef __cplusplus
}
#endif
#endif
