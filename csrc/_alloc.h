/* A caching memory handler for numpy arrays, installed by csrc/_alloc.pyx.
 *
 * Why: a training step allocates the same large arrays every step (activations, gradients,
 * column buffers), and glibc returns each freed block above its mmap threshold to the
 * kernel, so the next step's array of that size is fresh memory whose first write faults in
 * every page. Measured on these machines: relu forward on 64x64x32x32 floats took 0.94 ms with
 * fresh memory and 0.36 ms with reused memory (the arithmetic is the same). PyTorch's GPU
 * allocator caches for the same reason.
 *
 * How: blocks of at least tc_cache.min_size bytes (rounded up to 4 KiB pages) are kept on
 * free, in a short list in freeing order. The cache tracks the bytes in use (live) and their
 * high-water mark (peak), and keeps live + cached <= max(peak, live + the request): peak
 * memory is never higher than without the cache. A request takes, in this order:
 *   1. a cached block of its size (newest first);
 *   2. (Linux) the head of the smallest larger cached block, in place; the tail stays cached;
 *   3. (Linux) the pages of several smaller cached blocks, largest pieces first, moved with mremap
 *      into one new range (moving page-table entries, no page faults), plus fresh pages for
 *      whatever they do not cover;
 *   4. fresh memory, after releasing cached blocks, oldest first, until the bound holds.
 * Step 3 is skipped (the request takes one fresh mapping) while the pieces beyond one per
 * block, over all live and cached blocks, are near TC_MAX_EXTRA (see there).
 * Only exact sizes (1) could be reused before: a step's sizes change between forward and
 * backward, so holding one block per size needs 1.2-1.6x the peak, and under the bound a
 * LeNet-5 step (batch 64) reused 3 of 12 blocks; with 2 and 3 it reuses 11 of 12. What is
 * still fresh comes from TC_PIECES: cutting blocks makes ever more pieces (kernel mappings
 * do not merge again after a move), and a block of too many pieces cannot be moved.
 *
 * On Linux big blocks are mmap'd, so any page range of one can be unmapped or moved on its
 * own; mremap moves a range only within one kernel mapping, so each block records the
 * pieces (at most TC_PIECES, 14) it was assembled from, each inside one mapping, and pieces are
 * moved one by one. Elsewhere big blocks come from posix_memalign and only exact sizes are
 * reused. Each block carries a header holding its size, its pieces and the offset back to
 * the start of the block, so free does not rely on the size numpy passes (ndarray.resize
 * changes it). Smaller blocks go straight to malloc.
 *
 * Threads: numpy calls the handler from any thread, with or without the GIL; the cache's
 * state is guarded by its own mutex, and system calls (mmap, mremap, munmap, free) run
 * outside it on pieces that the caller has taken out of the cache.
 */
#ifndef TINYCONV_ALLOC_H
#define TINYCONV_ALLOC_H

#if defined(__linux__) && !defined(_GNU_SOURCE)
#define _GNU_SOURCE /* mremap */
#endif
#include <Python.h>
#include <numpy/ndarraytypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __linux__
#include <sys/mman.h>
#define TC_RECYCLE 1 /* blocks are mmap'd: split in place and move pages between them */
#else
#define TC_RECYCLE 0
#endif

#define TC_SLOTS 64
#define TC_BIG_HEADER 128  /* a multiple of 64: big blocks stay 64-byte aligned (AVX-512) */
#define TC_PIECES (TC_BIG_HEADER / 8 - 2) /* what the header has room for (see tc_mark_big) */
#define TC_SMALL_HEADER 16 /* malloc's own alignment */
#define TC_PAGE 4096
/* Kernel mappings this allocator may add beyond one per block. Every piece of a block is
 * (at most) one mapping, and the kernel refuses new mappings past vm.max_map_count (65530 by
 * default), which would break unrelated mmaps in the process (thread stacks, dlopen, glibc's
 * big mallocs). One mapping per live array is what glibc's mmap'd chunks cost too, and at most
 * TC_SLOTS blocks are cached; the pieces beyond that are capped at 4096, 1/16 of the limit,
 * which leaves ~60000 mappings for the rest of the process. A step's arrays need far fewer
 * (LeNet-5 to ResNet-8: tens to a few hundred). */
#define TC_MAX_EXTRA 4096

typedef struct {
    char* raw;    /* start of the block (its header) */
    size_t size;  /* bytes from raw, header included, a multiple of TC_PAGE */
    int n;        /* pieces, contiguous from raw */
    size_t len[TC_PIECES];
} tc_slot;

static struct {
    pthread_mutex_t lock;
    tc_slot slot[TC_SLOTS]; /* oldest first */
    int count;
    size_t cached;     /* bytes held in slot[] */
    size_t live, peak; /* bytes of cacheable blocks in use; the most ever in use at once */
    size_t epoch;      /* tc_empty calls: peak was restarted */
    size_t min_size;
    size_t hits, misses; /* requests served without / with fresh pages */
    size_t recycled;     /* hits that split a larger block or moved pages (2, 3 above) */
    size_t fresh;        /* bytes of fresh memory asked of the system */
    long extra;          /* pieces beyond one per block, live and cached (and being assembled) */
    long max_extra;      /* step 3 only while extra + TC_PIECES - 1 <= this (TC_MAX_EXTRA) */
    size_t capped;       /* requests served fresh instead of by step 3 because of max_extra */
} tc_cache = {PTHREAD_MUTEX_INITIALIZER, {{NULL, 0, 0, {0}}}, 0, 0, 0, 0, 0, (size_t)256 << 10,
              0, 0, 0, 0, 0, TC_MAX_EXTRA, 0};

/* Header words just below the pointer handed out: [-1] = size, [-2] = offset back to raw;
 * big blocks also [-3] = pieces, [-4 - i] = length of piece i (the last one is implied). */
static inline void* tc_mark(void* raw, size_t header, size_t size)
{
    char* user = (char*)raw + header;
    ((size_t*)user)[-2] = header;
    ((size_t*)user)[-1] = size;
    return user;
}

static inline void* tc_mark_big(const tc_slot* b)
{
    size_t* user = (size_t*)tc_mark(b->raw, TC_BIG_HEADER, b->size);
    user[-3] = (size_t)b->n;
    for (int i = 0; i < b->n - 1; i++)
        user[-4 - i] = b->len[i];
    return user;
}

static inline void tc_read_big(void* ptr, tc_slot* b)
{
    size_t* user = (size_t*)ptr;
    size_t rest = user[-1];
    b->raw = (char*)ptr - TC_BIG_HEADER;
    b->size = rest;
    b->n = (int)user[-3];
    for (int i = 0; i < b->n - 1; i++) {
        b->len[i] = user[-4 - i];
        rest -= b->len[i];
    }
    b->len[b->n - 1] = rest;
}

/* Fresh memory; or (placeholder) only an address range for pages that will all be moved
 * over it: PROT_NONE and MAP_NORESERVE, so it takes no commit charge. */
static inline void* tc_os_alloc(size_t size, int placeholder)
{
#if TC_RECYCLE
    void* p = placeholder ? mmap(NULL, size, PROT_NONE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0)
                          : mmap(NULL, size, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
#else
    (void)placeholder;
    void* p = NULL;
    return posix_memalign(&p, TC_BIG_HEADER, size) == 0 ? p : NULL;
#endif
}

static inline void tc_os_free(void* p, size_t size)
{
#if TC_RECYCLE
    /* Any page range, across mappings. munmap fails only if cutting a mapping in two would
     * exceed vm.max_map_count; the pages still go back to the kernel (the range stays
     * reserved). */
    if (p && munmap(p, size) != 0)
        madvise(p, size, MADV_DONTNEED);
#else
    (void)size;
    free(p);
#endif
}

/* Remove slot i (lock held); the caller accounts for where its pieces go. */
static inline void tc_take(int i)
{
    tc_cache.cached -= tc_cache.slot[i].size;
    memmove(&tc_cache.slot[i], &tc_cache.slot[i + 1],
            (size_t)(tc_cache.count - i - 1) * sizeof(tc_slot));
    tc_cache.count--;
}

/* Cut the first `size` bytes off slot i into *head (lock held); the tail stays in the slot.
 * size is a multiple of TC_PAGE below the slot's size. */
static inline void tc_split(int i, size_t size, tc_slot* head)
{
    tc_slot* s = &tc_cache.slot[i];
    int n0 = s->n;
    size_t left = size;
    int k = 0;
    head->raw = s->raw;
    head->size = size;
    while (s->len[k] <= left) {
        head->len[k] = s->len[k];
        left -= s->len[k++];
        if (!left)
            break;
    }
    head->n = left ? k + 1 : k;
    if (left) {
        head->len[k] = left;
        s->len[k] -= left;
    }
    memmove(&s->len[0], &s->len[k], (size_t)(s->n - k) * sizeof(size_t));
    s->n -= k;
    s->raw += size;
    s->size -= size;
    tc_cache.cached -= size;
    tc_cache.extra += (head->n - 1) + (s->n - 1) - (n0 - 1); /* one more block: never more */
}

/* A block's pieces leave the allocator (lock held). */
static inline void tc_forget(const tc_slot* b) { tc_cache.extra -= b->n - 1; }

/* Undo the accounting of a request of `total` bytes that failed after the lock was released
 * (`fresh` bytes of it were to be fresh, `pieces` its pieces). */
static void tc_undo(size_t total, size_t fresh, int pieces, size_t peak0, size_t epoch0)
{
    pthread_mutex_lock(&tc_cache.lock);
    tc_cache.live -= total;
    tc_cache.fresh -= fresh;
    tc_cache.extra -= pieces - 1;
    /* It was never live. Every value live took since then included `total`, so the mark
     * without it is peak - total, or the mark before if tc_empty did not restart it. */
    tc_cache.peak -= total;
    if (tc_cache.epoch == epoch0 && tc_cache.peak < peak0)
        tc_cache.peak = peak0;
    pthread_mutex_unlock(&tc_cache.lock);
}

static void* tc_malloc(void* ctx, size_t size)
{
    (void)ctx;
    if (size > SIZE_MAX - 2 * TC_PAGE)
        return NULL;
    if (size + TC_BIG_HEADER < tc_cache.min_size) {
        void* raw = malloc(size + TC_SMALL_HEADER);
        return raw ? tc_mark(raw, TC_SMALL_HEADER, size + TC_SMALL_HEADER) : NULL;
    }
    size_t total = (size + TC_BIG_HEADER + TC_PAGE - 1) / TC_PAGE * TC_PAGE;
    tc_slot blk = {NULL, total, 0, {0}};
    tc_slot parts[TC_PIECES]; /* blocks (or heads of blocks) whose pages make up this one */
    int nparts = 0, npieces = 0, split = 0;
    size_t got = 0; /* bytes of them */
    tc_slot evicted[TC_SLOTS];
    int nevicted = 0;
    size_t peak0, epoch0;
    pthread_mutex_lock(&tc_cache.lock);
    for (int i = tc_cache.count - 1; i >= 0; i--) /* newest first: likely still in cache */
        if (tc_cache.slot[i].size == total) {
            blk = tc_cache.slot[i];
            tc_take(i);
            break;
        }
#if TC_RECYCLE
    if (!blk.raw) {
        /* The head of a larger block serves in place: preferably one with a piece boundary
         * at the request's size (no new piece), else the smallest. Cutting pieces makes more
         * of them, and blocks of many pieces cannot be moved into others (TC_PIECES). */
        int best = -1, best_cut = 0;
        for (int i = 0; i < tc_cache.count; i++) {
            const tc_slot* s = &tc_cache.slot[i];
            if (s->size <= total)
                continue;
            size_t at = 0;
            int k = 0;
            while (at < total)
                at += s->len[k++];
            int cut = at == total;
            if (best < 0 || cut > best_cut ||
                (cut == best_cut && s->size < tc_cache.slot[best].size)) {
                best = i;
                best_cut = cut;
            }
        }
        if (best >= 0) {
            tc_split(best, total, &blk);
            split = 1;
        } else if (tc_cache.extra + TC_PIECES - 1 > tc_cache.max_extra) {
            /* Assembling could add up to TC_PIECES - 1 pieces: over the budget, one fresh
             * mapping instead. */
            if (tc_cache.count)
                tc_cache.capped++;
        } else {
            /* Smaller blocks, largest first, while their pieces (and a piece of fresh pages
             * for the rest) fit in one block's TC_PIECES. */
            while (got < total && nparts < TC_PIECES) {
                int pick = -1;
                for (int i = 0; i < tc_cache.count; i++)
                    if (tc_cache.slot[i].n + npieces + (tc_cache.slot[i].size < total - got) <=
                            TC_PIECES &&
                        (pick < 0 || tc_cache.slot[i].size / (size_t)tc_cache.slot[i].n >
                                         tc_cache.slot[pick].size / (size_t)tc_cache.slot[pick].n))
                        pick = i;
                if (pick < 0)
                    break;
                if (tc_cache.slot[pick].size > total - got) {
                    tc_split(pick, total - got, &parts[nparts]); /* the tail stays cached */
                } else {
                    parts[nparts] = tc_cache.slot[pick];
                    tc_take(pick);
                }
                got += parts[nparts].size;
                npieces += parts[nparts++].n;
            }
        }
    }
#endif
    if (!blk.raw) {
        /* The new block's pieces: the parts', then one of fresh pages for the rest. It
         * replaces nparts blocks. */
        for (int p = 0; p < nparts; p++)
            for (int k = 0; k < parts[p].n; k++)
                blk.len[blk.n++] = parts[p].len[k];
        if (got < total)
            blk.len[blk.n++] = total - got;
        tc_cache.extra += (blk.n - 1) - (npieces - nparts);
    }
    if (blk.raw || got == total)
        tc_cache.hits++;
    else
        tc_cache.misses++;
    if (split || got == total)
        tc_cache.recycled++;
    if (!blk.raw) {
        size_t after = tc_cache.live + total;
        size_t bound = after > tc_cache.peak ? after : tc_cache.peak;
        tc_cache.fresh += total - got;
        while (tc_cache.count > 0 && after + tc_cache.cached > bound) {
            size_t excess = after + tc_cache.cached - bound; /* a multiple of TC_PAGE */
            if (TC_RECYCLE && tc_cache.slot[0].size > excess) {
                tc_split(0, excess, &evicted[nevicted]); /* no more than needed */
            } else {
                evicted[nevicted] = tc_cache.slot[0];
                tc_take(0);
            }
            tc_forget(&evicted[nevicted++]);
        }
    }
    /* Counted as live from now on (so concurrent requests see it), even before the system
     * has returned it; a failure below undoes this. */
    tc_cache.live += total;
    peak0 = tc_cache.peak;
    epoch0 = tc_cache.epoch;
    if (tc_cache.live > tc_cache.peak)
        tc_cache.peak = tc_cache.live;
    pthread_mutex_unlock(&tc_cache.lock);
    for (int i = 0; i < nevicted; i++)
        tc_os_free(evicted[i].raw, evicted[i].size);
    if (blk.raw)
        return tc_mark_big(&blk);
    /* All pages from cached pieces: only an address range to move them to. */
    blk.raw = (char*)tc_os_alloc(total, got == total);
    if (!blk.raw) {
        for (int p = 0; p < nparts; p++)
            tc_os_free(parts[p].raw, parts[p].size);
        tc_undo(total, total - got, blk.n, peak0, epoch0);
        return NULL;
    }
#if TC_RECYCLE
    /* Move each piece of the parts over the new range (the rest of it is the fresh last
     * piece). A piece that cannot be moved is released and its range mapped afresh: an older
     * kernel may have unmapped the target before failing. If even that fails, so does the
     * request. */
    size_t off = 0, lost = 0;
    for (int p = 0; p < nparts; p++) {
        char* src = parts[p].raw;
        for (int k = 0; k < parts[p].n; k++) {
            size_t len = parts[p].len[k];
            char* dst = blk.raw + off;
            if (mremap(src, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, dst) == MAP_FAILED) {
                if (mmap(dst, len, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
                    /* Release the new range (pieces moved so far included) and every
                     * piece not moved yet. */
                    tc_os_free(blk.raw, total);
                    tc_os_free(src, parts[p].raw + parts[p].size - src);
                    for (int q = p + 1; q < nparts; q++)
                        tc_os_free(parts[q].raw, parts[q].size);
                    tc_undo(total, total - got, blk.n, peak0, epoch0);
                    return NULL;
                }
                tc_os_free(src, len);
                lost += len;
            }
            src += len;
            off += len;
        }
    }
    if (lost) {
        pthread_mutex_lock(&tc_cache.lock);
        tc_cache.fresh += lost;
        pthread_mutex_unlock(&tc_cache.lock);
    }
#endif
    return tc_mark_big(&blk);
}

static void tc_free(void* ctx, void* ptr, size_t size)
{
    (void)ctx;
    (void)size;
    if (!ptr)
        return;
    size_t header = ((size_t*)ptr)[-2];
    tc_slot blk, evicted = {NULL, 0, 0, {0}};
    if (header == TC_SMALL_HEADER) {
        free((char*)ptr - header);
        return;
    }
    tc_read_big(ptr, &blk);
    pthread_mutex_lock(&tc_cache.lock);
    tc_cache.live -= blk.size;
    if (tc_cache.count == TC_SLOTS) {
        evicted = tc_cache.slot[0];
        tc_take(0);
        tc_forget(&evicted);
    }
    tc_cache.slot[tc_cache.count++] = blk;
    tc_cache.cached += blk.size;
    pthread_mutex_unlock(&tc_cache.lock);
    tc_os_free(evicted.raw, evicted.size);
}

static void* tc_calloc(void* ctx, size_t nelem, size_t elsize)
{
    if (elsize && nelem > SIZE_MAX / elsize)
        return NULL;
    size_t size = nelem * elsize;
    void* p = tc_malloc(ctx, size);
    if (p)
        memset(p, 0, size); /* cheaper than faulting in fresh zero pages */
    return p;
}

static void* tc_realloc(void* ctx, void* ptr, size_t new_size)
{
    if (!ptr)
        return tc_malloc(ctx, new_size);
    size_t header = ((size_t*)ptr)[-2], total = ((size_t*)ptr)[-1];
    size_t old = total - header;
    void* q = tc_malloc(ctx, new_size);
    if (!q)
        return NULL;
    memcpy(q, ptr, old < new_size ? old : new_size);
    tc_free(ctx, ptr, old);
    return q;
}

/* Release every cached block and restart the high-water mark from what is live now; returns
 * the bytes released. */
static size_t tc_empty(void)
{
    tc_slot evicted[TC_SLOTS];
    int n;
    size_t bytes;
    pthread_mutex_lock(&tc_cache.lock);
    n = tc_cache.count;
    bytes = tc_cache.cached;
    memcpy(evicted, tc_cache.slot, (size_t)n * sizeof(tc_slot));
    for (int i = 0; i < n; i++)
        tc_forget(&evicted[i]);
    tc_cache.count = 0;
    tc_cache.cached = 0;
    tc_cache.peak = tc_cache.live;
    tc_cache.epoch++;
    pthread_mutex_unlock(&tc_cache.lock);
    for (int i = 0; i < n; i++)
        tc_os_free(evicted[i].raw, evicted[i].size);
    return bytes;
}

static void tc_stats(size_t* out)
{
    pthread_mutex_lock(&tc_cache.lock);
    out[0] = tc_cache.hits;
    out[1] = tc_cache.misses;
    out[2] = tc_cache.cached;
    out[3] = (size_t)tc_cache.count;
    out[4] = tc_cache.min_size;
    out[5] = tc_cache.live;
    out[6] = tc_cache.peak;
    out[7] = tc_cache.recycled;
    out[8] = tc_cache.fresh;
    pthread_mutex_unlock(&tc_cache.lock);
}

/* (pieces beyond one per block, their budget, requests served fresh because of it); a
 * budget >= 0 replaces the old one (tests lower it). */
static void tc_map_budget(long budget, long* out)
{
    pthread_mutex_lock(&tc_cache.lock);
    if (budget >= 0)
        tc_cache.max_extra = budget;
    out[0] = tc_cache.extra;
    out[1] = tc_cache.max_extra;
    out[2] = (long)tc_cache.capped;
    pthread_mutex_unlock(&tc_cache.lock);
}

static PyDataMem_Handler tc_handler = {
    "tinyconv_cache", 1, {NULL, tc_malloc, tc_calloc, tc_realloc, tc_free}};

/* fork() (DataLoader workers): the forking thread holds the lock across it, so the child's
 * copy of the cache (and of the piece count: the child has the same mappings) is consistent;
 * the child starts with a fresh (unlocked) mutex. */
static void tc_before_fork(void) { pthread_mutex_lock(&tc_cache.lock); }
static void tc_after_fork_parent(void) { pthread_mutex_unlock(&tc_cache.lock); }
static void tc_after_fork_child(void) { pthread_mutex_init(&tc_cache.lock, NULL); }

#endif
