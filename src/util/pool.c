/* pool.c: a pthread pool implementing kiln_parallel. The caller of run() works too; tasks are
 * handed out by an atomic counter, so a task's result never depends on which thread ran it. */
#include "kiln/pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

struct kiln_pool {
    kiln_parallel par;
    int32_t nthreads;
    int32_t nworkers; /* started successfully */
    pthread_t *workers;
    pthread_mutex_t run_lock; /* one run at a time; others run serially */
    pthread_mutex_t m;
    pthread_cond_t work_cv, done_cv;
    /* The current job, written under m while no worker is active in it. */
    kiln_task_fn fn;
    void *arg;
    int32_t ntasks;
    _Atomic uint64_t gen; /* bumped for each job (written under m) */
    int32_t active;       /* workers inside a job's task loop */
    int stop;
    atomic_int next, done;
};

/* Runs tasks of the current job until none is left. */
static void work(kiln_pool *p, kiln_task_fn fn, void *arg, int32_t ntasks) {
    for (;;) {
        const int t = atomic_fetch_add_explicit(&p->next, 1, memory_order_relaxed);
        if (t >= ntasks) return;
        fn(arg, t);
        if (atomic_fetch_add_explicit(&p->done, 1, memory_order_acq_rel) + 1 == ntasks) {
            pthread_mutex_lock(&p->m);
            pthread_cond_broadcast(&p->done_cv);
            pthread_mutex_unlock(&p->m);
        }
    }
}

/* Spins a little for the next job before sleeping: training and layer-by-layer inference
 * issue jobs back to back, and a futex wake-up costs more than a small job. */
static void spin_for_job(kiln_pool *p, uint64_t seen) {
    for (int i = 0; i < 4000; i++) {
        if (atomic_load_explicit(&p->gen, memory_order_relaxed) != seen) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
}

static void *worker_main(void *vp) {
    kiln_pool *p = (kiln_pool *)vp;
    uint64_t seen = 0;
    pthread_mutex_lock(&p->m);
    for (;;) {
        if (p->gen == seen && !p->stop) {
            pthread_mutex_unlock(&p->m);
            spin_for_job(p, seen);
            pthread_mutex_lock(&p->m);
        }
        while (p->gen == seen && !p->stop)
            pthread_cond_wait(&p->work_cv, &p->m);
        if (p->stop) break;
        seen = p->gen;
        p->active++;
        const kiln_task_fn fn = p->fn;
        void *arg = p->arg;
        const int32_t ntasks = p->ntasks;
        pthread_mutex_unlock(&p->m);
        work(p, fn, arg, ntasks);
        pthread_mutex_lock(&p->m);
        if (--p->active == 0) pthread_cond_broadcast(&p->done_cv);
    }
    pthread_mutex_unlock(&p->m);
    return NULL;
}

static void serial(int32_t ntasks, kiln_task_fn fn, void *arg) {
    for (int32_t t = 0; t < ntasks; t++)
        fn(arg, t);
}

static void pool_run(void *ud, int32_t ntasks, kiln_task_fn fn, void *arg) {
    kiln_pool *p = (kiln_pool *)ud;
    if (ntasks <= 0) return;
    if (p->nworkers == 0 || ntasks == 1 || pthread_mutex_trylock(&p->run_lock) != 0) {
        serial(ntasks, fn, arg);
        return;
    }
    pthread_mutex_lock(&p->m);
    /* A worker still leaving the previous job must not see this one's counters. */
    while (p->active > 0)
        pthread_cond_wait(&p->done_cv, &p->m);
    p->fn = fn;
    p->arg = arg;
    p->ntasks = ntasks;
    atomic_store(&p->next, 0);
    atomic_store(&p->done, 0);
    p->gen++;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->m);
    work(p, fn, arg, ntasks);
    pthread_mutex_lock(&p->m);
    while (atomic_load(&p->done) < ntasks || p->active > 0)
        pthread_cond_wait(&p->done_cv, &p->m);
    pthread_mutex_unlock(&p->m);
    pthread_mutex_unlock(&p->run_lock);
}

kiln_pool *kiln_pool_create(int32_t threads) {
    if (threads <= 0) {
        const long n = sysconf(_SC_NPROCESSORS_ONLN);
        threads = n > 0 ? (int32_t)(n > 1024 ? 1024 : n) : 1;
    }
    kiln_pool *p = (kiln_pool *)calloc(1, sizeof *p);
    if (!p) return NULL;
    p->nthreads = threads;
    if (pthread_mutex_init(&p->run_lock, NULL) != 0) goto fail_run_lock;
    if (pthread_mutex_init(&p->m, NULL) != 0) goto fail_m;
    if (pthread_cond_init(&p->work_cv, NULL) != 0) goto fail_work;
    if (pthread_cond_init(&p->done_cv, NULL) != 0) goto fail_done;
    atomic_init(&p->next, 0);
    atomic_init(&p->done, 0);
    atomic_init(&p->gen, 0);
    if (threads > 1) {
        p->workers = (pthread_t *)calloc((size_t)(threads - 1), sizeof(pthread_t));
        if (!p->workers) goto fail_threads;
        pthread_attr_t attr;
        pthread_attr_init(&attr);
        /* The GEMM core packs its panels on the stack (under 1 MB). */
        pthread_attr_setstacksize(&attr, (size_t)8 << 20);
        for (int32_t i = 0; i < threads - 1; i++) {
            if (pthread_create(&p->workers[i], &attr, worker_main, p) != 0) break;
            p->nworkers++;
        }
        pthread_attr_destroy(&attr);
        if (p->nworkers != threads - 1) {
            kiln_pool_destroy(p);
            return NULL;
        }
    }
    p->par.run = pool_run;
    p->par.ud = p;
    p->par.threads = threads;
    return p;
fail_threads:
    pthread_cond_destroy(&p->done_cv);
fail_done:
    pthread_cond_destroy(&p->work_cv);
fail_work:
    pthread_mutex_destroy(&p->m);
fail_m:
    pthread_mutex_destroy(&p->run_lock);
fail_run_lock:
    free(p);
    return NULL;
}

const kiln_parallel *kiln_pool_parallel(kiln_pool *pool) {
    return pool ? &pool->par : NULL;
}

int32_t kiln_pool_threads(const kiln_pool *pool) {
    return pool ? pool->nthreads : 1;
}

void kiln_pool_destroy(kiln_pool *p) {
    if (!p) return;
    pthread_mutex_lock(&p->m);
    p->stop = 1;
    pthread_cond_broadcast(&p->work_cv);
    pthread_mutex_unlock(&p->m);
    for (int32_t i = 0; i < p->nworkers; i++)
        pthread_join(p->workers[i], NULL);
    free(p->workers);
    pthread_cond_destroy(&p->done_cv);
    pthread_cond_destroy(&p->work_cv);
    pthread_mutex_destroy(&p->m);
    pthread_mutex_destroy(&p->run_lock);
    free(p);
}
