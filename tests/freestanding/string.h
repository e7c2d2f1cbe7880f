/* string.h for the freestanding check (tests/test_rt_freestanding.sh): the few functions a
 * microcontroller's C library provides. Not used by any real build. */
#ifndef KILN_SHIM_STRING_H
#define KILN_SHIM_STRING_H
#include <stddef.h>
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
char *strchr(const char *s, int c);
char *strstr(const char *s, const char *t);
#endif
