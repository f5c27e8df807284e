/* cudasim: the fiber scheduler behind cudasim.h. Each OS thread (worker) takes blocks in turn;
 * a block's threads are fibers, created with makecontext and switched with GCC's
 * __builtin_setjmp/__builtin_longjmp (no system call per switch, and unlike _longjmp not
 * intercepted by AddressSanitizer, whose interceptor makes a system call each time). A fiber runs until it reaches a barrier or returns; a pass
 * resumes every runnable fiber once in the chosen order; between passes complete warp
 * operations are resolved, and when every live fiber waits at __syncthreads they all go on.
 * Fiber stacks are mmap'ed with a guard page below each and kept for later launches; under
 * AddressSanitizer every switch is announced with its fiber API. */
#include <errno.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include "kernels/cuda/cuda_kernels.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define STACK_SIZE (512 * 1024)
#else
#define STACK_SIZE (64 * 1024)
#define __sanitizer_start_switch_fiber(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#define __sanitizer_finish_switch_fiber(save, bottom, size) ((void)(save), (void)(bottom), (void)(size))
#endif

__thread const uint3 *cudasim_thread_idx;
__thread uint3 cudasim_block_idx, cudasim_block_dim, cudasim_grid_dim;

enum state { RUNNING, AT_SYNCTHREADS, AT_WARP, DONE };

struct fiber {
    uint3 tid;
    int lane, warp;
    enum state state;
    int started;
    ucontext_t uc;
    void *jb[5]; /* __builtin_setjmp buffer */
    char *stack;
    void *fake_stack;
    /* the pending warp operation */
    enum cudasim_warp_op op;
    unsigned mask;
    uint64_t bits;
    int arg, width;
};

/* Fiber stacks for up to 1024 threads, kept on a free list between launches. */
struct pool {
    char *mem;
    struct pool *next;
};
static struct pool *free_pools;
static pthread_mutex_t pools_lock = PTHREAD_MUTEX_INITIALIZER;
#define PAGE 4096
#define MAX_THREADS 1024

struct launch {
    const char *name;
    dim3 grid, block;
    void (*body)(const void *);
    const void *arg;
    int order;       /* 0 forward, 1 reverse, 2 random */
    uint64_t seed;
    int64_t nblocks;
    int64_t next;    /* next block to take (atomic) */
};

struct worker {
    struct launch *L;
    struct pool *pool;
    struct fiber fibers[MAX_THREADS];
    int perm[MAX_THREADS];
    struct fiber *cur;
    void *sched_jb[5];
    void *sched_fake;
    const void *sched_bottom;
    size_t sched_size;
    ucontext_t uc_template;
};
static __thread struct worker *self;

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    cuda_kernels_fail(name, what);
    abort(); /* cuda_kernels_fail must not return */
}

static struct pool *pool_get(void)
{
    pthread_mutex_lock(&pools_lock);
    struct pool *p = free_pools;
    if (p)
        free_pools = p->next;
    pthread_mutex_unlock(&pools_lock);
    if (p)
        return p;
    p = (struct pool *)malloc(sizeof *p);
    size_t each = STACK_SIZE + PAGE;
    void *mem = mmap(NULL, each * MAX_THREADS, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (!p || mem == MAP_FAILED) {
        fprintf(stderr, "cudasim: cannot map fiber stacks: %s\n", strerror(errno));
        exit(1);
    }
    p->mem = (char *)mem;
    for (int i = 0; i < MAX_THREADS; i++) /* guard page at the low end of each stack */
        mprotect(p->mem + i * each, PAGE, PROT_NONE);
    return p;
}

static void pool_put(struct pool *p)
{
    pthread_mutex_lock(&pools_lock);
    p->next = free_pools;
    free_pools = p;
    pthread_mutex_unlock(&pools_lock);
}

/* The switching functions are not instrumented: ASan would call __asan_handle_no_return at
 * each __builtin_setjmp/longjmp, a system call every switch (the fiber API tells it instead). */
#define SWITCHER __attribute__((noinline, no_sanitize_address))

/* Continue where buf was saved by __builtin_setjmp (not allowed in the saving function). */
static void SWITCHER jump(void **buf)
{
    __builtin_longjmp(buf, 1);
}

/* In a fiber: back to the scheduler, until resumed. */
static void SWITCHER to_scheduler(struct fiber *f)
{
    struct worker *w = self;
    __sanitizer_start_switch_fiber(&f->fake_stack, w->sched_bottom, w->sched_size);
    if (!__builtin_setjmp(f->jb))
        jump(w->sched_jb);
    __sanitizer_finish_switch_fiber(f->fake_stack, NULL, NULL);
}

/* A fiber runs the kernel body once per block of its worker: started once per launch (one
 * setcontext, a system call), resumed with __builtin_longjmp for every later block. */
static void fiber_main(void)
{
    struct worker *w = self;
    struct fiber *f = w->cur;
    __sanitizer_finish_switch_fiber(NULL, &w->sched_bottom, &w->sched_size);
    for (;;) {
        w->L->body(w->L->arg);
        f->state = DONE;
        to_scheduler(f);
    }
}

/* In the scheduler: run f until it waits or returns. */
static void SWITCHER resume(struct worker *w, struct fiber *f)
{
    w->cur = f;
    cudasim_thread_idx = &f->tid;
    __sanitizer_start_switch_fiber(&w->sched_fake, f->stack, STACK_SIZE);
    if (!__builtin_setjmp(w->sched_jb)) {
        if (!f->started) {
            f->started = 1;
            setcontext(&f->uc);
        }
        jump(f->jb);
    }
    __sanitizer_finish_switch_fiber(w->sched_fake, NULL, NULL);
}

int __syncthreads_count(int pred)
{
    struct fiber *f = self->cur;
    f->bits = pred != 0;
    f->state = AT_SYNCTHREADS;
    to_scheduler(f);
    return (int)f->bits;
}

void __syncthreads(void)
{
    __syncthreads_count(0);
}

uint64_t cudasim_warp_op(enum cudasim_warp_op op, unsigned mask, uint64_t bits, int arg,
                         int width)
{
    struct fiber *f = self->cur;
    f->op = op;
    f->mask = mask;
    f->bits = bits;
    f->arg = arg;
    f->width = width;
    f->state = AT_WARP;
    to_scheduler(f);
    return f->bits;
}

/* The source lane of a shuffle, as CUDA defines it within segments of width lanes. */
static int shfl_source(const struct fiber *f)
{
    int w = f->width, seg = f->lane & ~(w - 1), in = f->lane & (w - 1);
    switch (f->op) {
    case CUDASIM_SHFL: return seg + (f->arg & (w - 1));
    case CUDASIM_SHFL_XOR: return ((in ^ f->arg) < w) ? seg + (in ^ f->arg) : f->lane;
    case CUDASIM_SHFL_DOWN: return in + f->arg < w ? f->lane + f->arg : f->lane;
    case CUDASIM_SHFL_UP: return in >= f->arg ? f->lane - f->arg : f->lane;
    default: return f->lane;
    }
}

/* Complete the operation of a warp whose live lanes all wait at one (same op, same mask). */
static int resolve_warp(struct worker *w, struct fiber *lanes, int n)
{
    int live = 0, waiting = 0;
    for (int i = 0; i < n; i++) {
        live += lanes[i].state != DONE;
        waiting += lanes[i].state == AT_WARP;
    }
    if (waiting == 0 || waiting != live)
        return 0;
    struct fiber *first = NULL;
    unsigned present = 0;
    for (int i = 0; i < n; i++) {
        if (lanes[i].state != AT_WARP)
            continue;
        if (!first)
            first = &lanes[i];
        if (lanes[i].op != first->op || lanes[i].mask != first->mask)
            fail(w->L->name, "cudasim: lanes of warp %d meet at different warp operations",
                 first->warp);
        present |= 1u << lanes[i].lane;
    }
    if ((first->mask & present) != first->mask || (present & ~first->mask))
        fail(w->L->name, "cudasim: warp %d: mask 0x%08x but lanes 0x%08x take part",
             first->warp, first->mask, present);
    if (first->width < 1 || first->width > 32 || (first->width & (first->width - 1)))
        fail(w->L->name, "cudasim: shuffle width %d is not a power of two up to 32", first->width);
    uint64_t in[32], ballot = 0;
    for (int i = 0; i < n; i++) {
        in[lanes[i].lane] = lanes[i].bits;
        if (lanes[i].state == AT_WARP && lanes[i].bits)
            ballot |= 1u << lanes[i].lane;
    }
    for (int i = 0; i < n; i++) {
        struct fiber *f = &lanes[i];
        if (f->state != AT_WARP)
            continue;
        if (f->op == CUDASIM_BALLOT)
            f->bits = ballot;
        else if (f->op != CUDASIM_SYNCWARP)
            f->bits = in[shfl_source(f)];
        f->state = RUNNING;
    }
    return 1;
}

static uint64_t rng_next(uint64_t *s) /* splitmix64 */
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void run_block(struct worker *w, int64_t b)
{
    struct launch *L = w->L;
    int n = (int)(L->block.x * L->block.y * L->block.z);
    cudasim_block_idx.x = (unsigned)(b % L->grid.x);
    cudasim_block_idx.y = (unsigned)(b / L->grid.x % L->grid.y);
    cudasim_block_idx.z = (unsigned)(b / ((int64_t)L->grid.x * L->grid.y));
    for (int i = 0; i < n; i++) {
        struct fiber *f = &w->fibers[i];
        f->tid.x = i % L->block.x;
        f->tid.y = i / L->block.x % L->block.y;
        f->tid.z = i / (L->block.x * L->block.y);
        f->lane = i % 32;
        f->warp = i / 32;
        f->state = RUNNING;
        if (!f->started) {
            f->fake_stack = NULL;
            f->stack = w->pool->mem + (size_t)i * (STACK_SIZE + PAGE) + PAGE;
            f->uc = w->uc_template;
            f->uc.uc_stack.ss_sp = f->stack;
            f->uc.uc_stack.ss_size = STACK_SIZE;
            f->uc.uc_link = NULL;
            makecontext(&f->uc, fiber_main, 0);
        }
        w->perm[i] = L->order == 1 ? n - 1 - i : i;
    }
    uint64_t rng = L->seed ^ (uint64_t)b * 0x2545f4914f6cdd1dull;
    for (;;) {
        if (L->order == 2) /* a fresh random order for every pass */
            for (int i = n - 1; i > 0; i--) {
                int j = (int)(rng_next(&rng) % (uint64_t)(i + 1)), t = w->perm[i];
                w->perm[i] = w->perm[j];
                w->perm[j] = t;
            }
        for (int i = 0; i < n; i++)
            if (w->fibers[w->perm[i]].state == RUNNING)
                resume(w, &w->fibers[w->perm[i]]);
        int live = 0, at_sync = 0, released = 0;
        for (int i = 0; i < n; i += 32)
            released += resolve_warp(w, &w->fibers[i], n - i < 32 ? n - i : 32);
        for (int i = 0; i < n; i++) {
            live += w->fibers[i].state != DONE;
            at_sync += w->fibers[i].state == AT_SYNCTHREADS;
        }
        if (live == 0)
            return;
        if (released)
            continue;
        if (at_sync != live)
            fail(L->name, "cudasim: deadlock in block %lld: %d threads at __syncthreads, %d "
                 "at a warp operation", (long long)b, at_sync, live - at_sync);
        uint64_t count = 0; /* for __syncthreads_count */
        for (int i = 0; i < n; i++)
            count += w->fibers[i].state == AT_SYNCTHREADS && w->fibers[i].bits;
        for (int i = 0; i < n; i++)
            if (w->fibers[i].state == AT_SYNCTHREADS) {
                w->fibers[i].state = RUNNING;
                w->fibers[i].bits = count;
            }
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = (struct worker *)arg;
    self = w;
    cudasim_grid_dim = {w->L->grid.x, w->L->grid.y, w->L->grid.z};
    cudasim_block_dim = {w->L->block.x, w->L->block.y, w->L->block.z};
    getcontext(&w->uc_template);
    w->pool = pool_get();
    for (;;) {
        int64_t b = __atomic_fetch_add(&w->L->next, 1, __ATOMIC_RELAXED);
        if (b >= w->L->nblocks)
            break;
        run_block(w, b);
    }
    pool_put(w->pool);
    return NULL;
}

static void read_order(struct launch *L)
{
    const char *s = getenv("CUDASIM_ORDER");
    L->order = 0;
    L->seed = 1;
    if (!s || !*s || !strcmp(s, "forward"))
        return;
    if (!strcmp(s, "reverse"))
        L->order = 1;
    else if (!strncmp(s, "random", 6) && (s[6] == 0 || s[6] == ':')) {
        L->order = 2;
        if (s[6] == ':')
            L->seed = strtoull(s + 7, NULL, 10);
    } else {
        fprintf(stderr, "cudasim: CUDASIM_ORDER=%s: give forward, reverse or random[:seed]\n", s);
        exit(2);
    }
}

void cudasim_run(const char *name, dim3 grid, dim3 block, void (*body)(const void *),
                 const void *arg)
{
    int64_t nthreads = (int64_t)block.x * block.y * block.z;
    if (nthreads < 1 || nthreads > MAX_THREADS || block.z > 64)
        fail(name, "cudasim: block of %ux%ux%u threads (1 to 1024)", block.x, block.y, block.z);
    if (grid.x < 1 || grid.y < 1 || grid.z < 1 || grid.y > 65535 || grid.z > 65535)
        fail(name, "cudasim: grid of %ux%ux%u blocks", grid.x, grid.y, grid.z);
    struct launch L = {name, grid, block, body, arg, 0, 1,
                       (int64_t)grid.x * grid.y * grid.z, 0};
    read_order(&L);
    const char *t = getenv("CUDASIM_THREADS");
    int nworkers = t && atoi(t) > 0 ? atoi(t) : 2;
    if (nworkers > L.nblocks)
        nworkers = (int)L.nblocks;
    struct worker *ws = (struct worker *)calloc((size_t)nworkers, sizeof *ws);
    pthread_t *tids = (pthread_t *)calloc((size_t)nworkers, sizeof *tids);
    if (!ws || !tids) {
        fprintf(stderr, "cudasim: out of memory\n");
        exit(1);
    }
    for (int i = 0; i < nworkers; i++) {
        ws[i].L = &L;
        if (i > 0 && pthread_create(&tids[i], NULL, worker_main, &ws[i])) {
            fprintf(stderr, "cudasim: cannot start a worker thread\n");
            exit(1);
        }
    }
    /* the calling thread is worker 0; keep its own block coordinates and fiber state */
    struct worker *saved = self;
    const uint3 *saved_tid = cudasim_thread_idx;
    worker_main(&ws[0]);
    self = saved;
    cudasim_thread_idx = saved_tid;
    for (int i = 1; i < nworkers; i++)
        pthread_join(tids[i], NULL);
    free(ws);
    free(tids);
}
