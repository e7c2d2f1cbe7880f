/* pool.h: libkiln's pthread thread pool, which implements kiln_parallel (kiln_rt.h) for the
 * interpreter, the GEMM core and training. */
#ifndef KILN_POOL_H
#define KILN_POOL_H

#include <stdint.h>

#include "kiln/kiln_rt.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_pool kiln_pool;

/* Creates a pool running tasks on `threads` threads in all (the calling thread counts as one,
 * so threads - 1 workers are started); threads <= 0 means one per online CPU. Returns NULL if
 * memory or threads cannot be had. */
kiln_pool *kiln_pool_create(int32_t threads);

/* The parallel-for of this pool, valid until kiln_pool_destroy. Its run() executes every task
 * exactly once and returns when all are done. Which thread runs a task is not fixed, so
 * callers make task t's work depend on t only (that is what keeps results independent of the
 * thread count). A run() issued while another is in progress (from a task, or from another
 * thread) executes its tasks serially on the calling thread. */
const kiln_parallel *kiln_pool_parallel(kiln_pool *pool);

int32_t kiln_pool_threads(const kiln_pool *pool);

/* Stops and joins the workers. Accepts NULL. */
void kiln_pool_destroy(kiln_pool *pool);

#ifdef __cplusplus
}
#endif
#endif
