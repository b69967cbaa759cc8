/* distmod's native threads: kernel calls run in parallel without the GIL.
 *
 * The native pool (distmod/_native/__init__.py, Pool) hands each part of a split kernel to
 * a thread.  Its Python threads need the GIL to start a part and to report it done, and a
 * thread waiting for the GIL or a lock sleeps: on a 2-vCPU AVX-512 EPYC VM a part started
 * 50 us late and reported 20-40 us late (median), and LeNet's step at 2 threads made about
 * a dozen such calls.  So the kernels' parts run here instead:
 *
 *   dm_pool_run(calls, starts, parts, spin_ns): part p is the calls starts[p] to
 *   starts[p + 1] - 1 of `calls`, in order; part 0 runs on the calling thread, part p on
 *   native thread p - 1 (made on first use and kept).  Returns when all have run.
 *
 * A call is a kernel's address and its arguments: up to DM_CALL_INTS integers and pointers,
 * in their order, and up to DM_CALL_REALS floating-point ones, in theirs (all float or all
 * double).  It is made through one function type with that many of each, which the x86-64
 * System V and AArch64 calling conventions make the same call as the kernel's own
 * prototype: integer and floating-point arguments are assigned registers (then stack
 * slots, 8 bytes each) separately, in order, and the arguments a kernel does not declare
 * are never read.  The pool is compiled in for those two (not Apple's AArch64, which packs
 * stack arguments by size, nor Windows); elsewhere dm_pool_run reports 0 and the Python
 * pool runs the parts.
 *
 * A waiting thread (a native thread between parts, the caller waiting for its parts) spins
 * for up to spin_ns before it sleeps on its condition variable, as OpenMP runtimes do:
 * waking a sleeping thread costs tens of microseconds on a VM whose host halts idle vCPUs.
 *
 * spin_while(p, value, max_ns) is that spin: 1 once *p != value, 0 after max_ns without a
 * change.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define DM_CALL_INTS 20
#define DM_CALL_REALS 8
#define DM_MAX_THREADS 256

typedef struct {
    int64_t fn;                     /* the kernel's address */
    int64_t doubles;                /* 1: the reals are double, 0: float */
    int64_t a[DM_CALL_INTS];
    double r[DM_CALL_REALS];
} dm_call;

int dm_call_size(void) { return (int)sizeof(dm_call); }

#if (defined(__x86_64__) || (defined(__aarch64__) && !defined(__APPLE__))) && \
    !defined(_WIN32) && (defined(__GNUC__) || defined(__clang__))
#include <pthread.h>
#include <time.h>
#if defined(__x86_64__)
#include <immintrin.h>
#define DM_PAUSE() _mm_pause()
#else
#define DM_PAUSE() __asm__ __volatile__("yield")
#endif

typedef int64_t I;
typedef void (*fn_f)(I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
                     float, float, float, float, float, float, float, float);
typedef void (*fn_d)(I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I, I,
                     double, double, double, double, double, double, double, double);

static void run_call(const dm_call *c)
{
    const I *a = c->a;
    const double *r = c->r;
    if (c->doubles)
        ((fn_d)(intptr_t)c->fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                                a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17],
                                a[18], a[19], r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7]);
    else
        ((fn_f)(intptr_t)c->fn)(a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9],
                                a[10], a[11], a[12], a[13], a[14], a[15], a[16], a[17],
                                a[18], a[19], (float)r[0], (float)r[1], (float)r[2],
                                (float)r[3], (float)r[4], (float)r[5], (float)r[6],
                                (float)r[7]);
}

static void run_calls(const dm_call *calls, int64_t n)
{
    for (int64_t i = 0; i < n; i++)
        run_call(calls + i);
}

static int64_t now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static int spin_while(const int64_t *p, int64_t value, int64_t max_ns)
{
    int64_t end = now_ns() + max_ns;
    for (;;) {
        for (int i = 0; i < 64; i++) {
            if (__atomic_load_n(p, __ATOMIC_ACQUIRE) != value)
                return 1;
            DM_PAUSE();
        }
        if (now_ns() > end)
            return 0;
    }
}

typedef struct {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int64_t gen;                    /* bumped (under mu) when a part is handed over */
    int64_t finished;               /* set to gen when it has run */
    int sleeping, waiting;          /* under mu: the thread / the caller is asleep */
    const dm_call *calls;
    int64_t ncalls, spin_ns;
} dm_worker;

static dm_worker *workers[DM_MAX_THREADS];
static int nworkers;

static void *worker_main(void *arg)
{
    dm_worker *w = arg;
    int64_t seen = 0;
    for (;;) {
        if (!spin_while(&w->gen, seen, w->spin_ns)) {
            pthread_mutex_lock(&w->mu);
            while (__atomic_load_n(&w->gen, __ATOMIC_ACQUIRE) == seen) {
                w->sleeping = 1;
                pthread_cond_wait(&w->go, &w->mu);
            }
            w->sleeping = 0;
            pthread_mutex_unlock(&w->mu);
        }
        seen = __atomic_load_n(&w->gen, __ATOMIC_ACQUIRE);
        run_calls(w->calls, w->ncalls);
        pthread_mutex_lock(&w->mu);
        __atomic_store_n(&w->finished, seen, __ATOMIC_RELEASE);
        if (w->waiting)
            pthread_cond_signal(&w->done);
        pthread_mutex_unlock(&w->mu);
    }
    return NULL;
}

/* a forked child has none of the parent's threads: it makes its own */
static void forget_workers(void) { nworkers = 0; }

static dm_worker *worker(int i)
{
    static int registered;
    if (!registered) {
        pthread_atfork(NULL, NULL, forget_workers);
        registered = 1;
    }
    while (nworkers <= i) {
        dm_worker *w = calloc(1, sizeof(dm_worker));
        if (w == NULL)
            return NULL;
        pthread_mutex_init(&w->mu, NULL);
        pthread_cond_init(&w->go, NULL);
        pthread_cond_init(&w->done, NULL);
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            free(w);
            return NULL;
        }
        pthread_detach(w->thread);
        workers[nworkers++] = w;
    }
    return workers[i];
}

int dm_pool_run(const dm_call *calls, const int64_t *starts, int64_t parts, int64_t spin_ns)
{
    dm_worker *used[DM_MAX_THREADS];
    int64_t gens[DM_MAX_THREADS];
    int64_t nused = 0;
    if (parts <= 0)                   /* nothing to run (the loader's probe) */
        return 1;
    for (int64_t p = 1; p < parts; p++) {
        dm_worker *w = p - 1 < DM_MAX_THREADS ? worker((int)(p - 1)) : NULL;
        if (w == NULL)                /* no thread for it: it and the rest run here */
            break;
        w->calls = calls + starts[p];
        w->ncalls = starts[p + 1] - starts[p];
        w->spin_ns = spin_ns;
        pthread_mutex_lock(&w->mu);
        gens[nused] = w->gen + 1;
        __atomic_store_n(&w->gen, gens[nused], __ATOMIC_RELEASE);
        if (w->sleeping)
            pthread_cond_signal(&w->go);
        pthread_mutex_unlock(&w->mu);
        used[nused++] = w;
    }
    run_calls(calls + starts[0], starts[1] - starts[0]);
    for (int64_t p = 1 + nused; p < parts; p++)
        run_calls(calls + starts[p], starts[p + 1] - starts[p]);
    for (int64_t i = 0; i < nused; i++) {
        dm_worker *w = used[i];
        if (spin_while(&w->finished, gens[i] - 1, spin_ns))
            continue;
        pthread_mutex_lock(&w->mu);
        while (__atomic_load_n(&w->finished, __ATOMIC_ACQUIRE) != gens[i]) {
            w->waiting = 1;
            pthread_cond_wait(&w->done, &w->mu);
        }
        w->waiting = 0;
        pthread_mutex_unlock(&w->mu);
    }
    return 1;
}
#else
int dm_pool_run(const void *calls, const int64_t *starts, int64_t parts, int64_t spin_ns)
{
    (void)calls; (void)starts; (void)parts; (void)spin_ns;
    return 0;                       /* not built here: the Python pool runs the parts */
}
#endif
