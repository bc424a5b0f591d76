/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The daemon's intrusive hash table (interface and ownership rules in table.h). It owns two
 * bucket arrays at most: buckets[0] is the main array and, while a resize is in progress,
 * buckets[1] is the array being filled. Every find, insert and remove first moves a few chains
 * from buckets[0] to buckets[1] (incremental rehash, after redis dict.c), so a resize of ten
 * million entries is spread over millions of operations instead of stalling the event loop.
 *
 * Sizing policy:
 *   - the first insert allocates TABLE_MIN_SIZE buckets; the last remove frees every array;
 *   - an insert that finds count >= size (load factor 1) starts a grow to twice the size;
 *   - a remove (or the end of a rehash) that finds count < size / 8 starts a shrink to a
 *     quarter of the size, never below TABLE_MIN_SIZE. Shrinking by a quarter rather than
 *     straight to fit keeps the new array from being flooded by inserts that arrive while the
 *     old one is still being drained; a nearly empty huge table shrinks in several stages, each
 *     starting as soon as the previous one ends.
 *   - no new resize starts while one is in progress, so the load factor stays bounded (about
 *     1.5 at worst) because a rehash finishes within size / REHASH_STEP_CHAINS operations.
 */
#include "config.h"

#include "table.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(TABLE_KEY_BYTES == crypto_shorthash_KEYBYTES, "TABLE_KEY_BYTES");
_Static_assert(crypto_shorthash_BYTES == sizeof(uint64_t), "crypto_shorthash_BYTES");

/* Smallest bucket array once allocated (a power of two). */
#define TABLE_MIN_SIZE 16
/* Non-empty chains one operation moves at most; TABLE_REHASH_MAX_VISITS bounds empty ones. */
#define REHASH_STEP_CHAINS 4

_Static_assert(TABLE_REHASH_MAX_VISITS >= REHASH_STEP_CHAINS, "visit budget below step");

struct table {
    table_key_eq_fn eq;
    /* buckets[1] != NULL exactly while a rehash is in progress. */
    struct table_node **buckets[2];
    size_t size[2]; /* bucket counts, powers of two (0 = no array) */
    size_t used[2]; /* nodes in each array */
    /* Next bucket of buckets[0] to move; every bucket below it is empty. */
    size_t rehash_idx;
    uint8_t key[TABLE_KEY_BYTES];
};

/* ------------------------------------------------------------------------------------------ */
/* Resizing                                                                                   */
/* ------------------------------------------------------------------------------------------ */

static bool rehashing(const struct table *t)
{
    return t->buckets[1] != NULL;
}

static size_t table_total(const struct table *t)
{
    return t->used[0] + t->used[1];
}

/* Allocates a bucket array of size buckets: the main one when there is none, otherwise the
 * rehash target. False on OOM (the table is unchanged). */
static bool start_resize(struct table *t, size_t size)
{
    struct table_node **b = calloc(size, sizeof(*b));
    if (b == NULL)
        return false;
    if (t->buckets[0] == NULL) {
        t->buckets[0] = b;
        t->size[0] = size;
        t->used[0] = 0;
    } else {
        t->buckets[1] = b;
        t->size[1] = size;
        t->used[1] = 0;
        t->rehash_idx = 0;
    }
    return true;
}

/* Starts a shrink when the table is idle and sparse. A failed allocation just leaves the table
 * larger than needed. */
static void maybe_shrink(struct table *t)
{
    if (rehashing(t) || t->size[0] <= TABLE_MIN_SIZE || t->used[0] >= t->size[0] / 8)
        return;
    size_t size = t->size[0] / 4;
    (void)start_resize(t, size < TABLE_MIN_SIZE ? TABLE_MIN_SIZE : size);
}

/* Once buckets[0] is drained, buckets[1] becomes the main array. */
static void finish_rehash_if_done(struct table *t)
{
    if (!rehashing(t) || t->used[0] != 0)
        return;
    free(t->buckets[0]);
    t->buckets[0] = t->buckets[1];
    t->size[0] = t->size[1];
    t->used[0] = t->used[1];
    t->buckets[1] = NULL;
    t->size[1] = 0;
    t->used[1] = 0;
    t->rehash_idx = 0;
    maybe_shrink(t);
}

/*
 * One bounded unit of rehash work: moves at most REHASH_STEP_CHAINS chains and inspects at most
 * TABLE_REHASH_MAX_VISITS buckets, so a long run of empty buckets (a sparse table being shrunk)
 * costs no more than a dense one.
 */
static void rehash_step(struct table *t)
{
    if (!rehashing(t))
        return;
    size_t mask = t->size[1] - 1;
    unsigned moved = 0;
    /* used[0] > 0 guarantees a non-empty bucket at or after rehash_idx, so the index stays in
     * range. */
    for (unsigned visits = 0;
         t->used[0] > 0 && visits < TABLE_REHASH_MAX_VISITS && moved < REHASH_STEP_CHAINS;
         visits++) {
        struct table_node *n = t->buckets[0][t->rehash_idx];
        t->buckets[0][t->rehash_idx] = NULL;
        t->rehash_idx++;
        if (n == NULL)
            continue;
        moved++;
        while (n != NULL) {
            struct table_node *next = n->next;
            size_t i = n->hash & mask;
            n->next = t->buckets[1][i];
            t->buckets[1][i] = n;
            t->used[0]--;
            t->used[1]++;
            n = next;
        }
    }
    finish_rehash_if_done(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Public interface                                                                           */
/* ------------------------------------------------------------------------------------------ */

struct table *table_new(const uint8_t hash_key[TABLE_KEY_BYTES], table_key_eq_fn eq)
{
    /* sodium_init() is idempotent and thread-safe; crypto_shorthash needs it for nothing but
     * CPU feature detection, yet the library requires it before any other call. */
    if (sodium_init() < 0)
        return NULL;
    struct table *t = calloc(1, sizeof(*t));
    if (t == NULL)
        return NULL;
    t->eq = eq;
    memcpy(t->key, hash_key, TABLE_KEY_BYTES);
    return t;
}

void table_free(struct table *t)
{
    if (t == NULL)
        return;
    free(t->buckets[0]);
    free(t->buckets[1]);
    sodium_memzero(t->key, sizeof(t->key));
    free(t);
}

uint64_t table_hash(const struct table *t, const void *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    crypto_shorthash(out, key, len, t->key);
    uint64_t h;
    memcpy(&h, out, sizeof(h));
    return h;
}

bool table_reserve(struct table *t, size_t n)
{
    if (t->buckets[0] != NULL || n <= TABLE_MIN_SIZE)
        return true;
    size_t size = TABLE_MIN_SIZE;
    while (size < n && size <= SIZE_MAX / 4 / sizeof(struct table_node *))
        size *= 2;
    return start_resize(t, size);
}

struct table_node *table_find(struct table *t, const void *key, size_t len, uint64_t hash)
{
    rehash_step(t);
    /* While rehashing, a key may be in an unmoved bucket of buckets[0] or, moved or inserted
     * since the rehash began, in buckets[1]. */
    for (int w = 0; w < 2; w++) {
        if (t->buckets[w] == NULL)
            continue;
        for (struct table_node *n = t->buckets[w][hash & (t->size[w] - 1)]; n != NULL;
             n = n->next) {
            if (n->hash == hash && t->eq(n, key, len))
                return n;
        }
    }
    return NULL;
}

bool table_insert(struct table *t, struct table_node *node, uint64_t hash)
{
    rehash_step(t);
    if (t->buckets[0] == NULL) {
        if (!start_resize(t, TABLE_MIN_SIZE))
            return false;
    } else if (!rehashing(t) && t->used[0] >= t->size[0] &&
               t->size[0] <= SIZE_MAX / 2 / sizeof(struct table_node *)) {
        /* A failed grow is not an error: chains just get longer until a later insert retries. */
        (void)start_resize(t, t->size[0] * 2);
    }
    /* New nodes go to the target array so that buckets[0] only ever drains. */
    int w = rehashing(t) ? 1 : 0;
    size_t i = hash & (t->size[w] - 1);
    node->hash = hash;
    node->next = t->buckets[w][i];
    t->buckets[w][i] = node;
    t->used[w]++;
    return true;
}

void table_remove(struct table *t, struct table_node *node)
{
    rehash_step(t);
    for (int w = 0; w < 2; w++) {
        if (t->buckets[w] == NULL)
            continue;
        struct table_node **pp = &t->buckets[w][node->hash & (t->size[w] - 1)];
        for (; *pp != NULL; pp = &(*pp)->next) {
            if (*pp != node)
                continue;
            *pp = node->next;
            node->next = NULL;
            t->used[w]--;
            if (table_total(t) == 0) {
                /* Empty: give back every array, whatever state a rehash was in. */
                free(t->buckets[0]);
                free(t->buckets[1]);
                t->buckets[0] = t->buckets[1] = NULL;
                t->size[0] = t->size[1] = 0;
                t->used[0] = t->used[1] = 0;
                t->rehash_idx = 0;
            } else {
                finish_rehash_if_done(t);
                maybe_shrink(t);
            }
            return;
        }
    }
    /* Not reached when the caller keeps the contract (node is in t). */
}

void table_prefetch(const struct table *t, uint64_t hash, bool chain)
{
    for (int w = 0; w < 2; w++) {
        if (t->buckets[w] == NULL)
            continue;
        struct table_node *const *b = &t->buckets[w][hash & (t->size[w] - 1)];
        if (!chain)
            __builtin_prefetch(b);
        else if (*b != NULL)
            __builtin_prefetch(*b);
    }
}

size_t table_count(const struct table *t)
{
    return table_total(t);
}

size_t table_memory(const struct table *t)
{
    return sizeof(*t) + (t->size[0] + t->size[1]) * sizeof(struct table_node *);
}

bool table_is_rehashing(const struct table *t)
{
    return rehashing(t);
}

/* ------------------------------------------------------------------------------------------ */
/* Iteration                                                                                  */
/* ------------------------------------------------------------------------------------------ */

void table_iter_init(struct table_iter *it, const struct table *t)
{
    it->t = t;
    it->which = 0;
    /* Buckets of buckets[0] below rehash_idx are empty: skip them. */
    it->bucket = rehashing(t) ? t->rehash_idx : 0;
    it->next = NULL;
    it->prefetch = 0;
}

void table_iter_prefetch(struct table_iter *it, size_t bytes)
{
    it->prefetch = bytes;
}

/* How many buckets ahead table_iter_next() fetches (table_iter_prefetch): enough to cover a
 * memory access while the entries in between are visited. */
#define ITER_AHEAD 12

struct table_node *table_iter_next(struct table_iter *it)
{
    const struct table *t = it->t;
    /* The table does not change during iteration, so walking buckets[0] and then buckets[1]
     * sees every node exactly once: each node is in exactly one chain of one array. */
    while (it->next == NULL) {
        if (it->which > 1)
            return NULL;
        if (it->bucket >= t->size[it->which]) {
            it->which++;
            it->bucket = 0;
            continue;
        }
        if (it->prefetch > 0 && it->bucket + ITER_AHEAD < t->size[it->which]) {
            /* Here, not in a helper: GCC drops a call to a function that only prefetches (it
             * has no side effect). */
            const char *ahead = (const char *)t->buckets[it->which][it->bucket + ITER_AHEAD];
            for (size_t off = 0; ahead != NULL && off < it->prefetch; off += 64)
                __builtin_prefetch(ahead + off);
        }
        it->next = t->buckets[it->which][it->bucket++];
    }
    struct table_node *n = it->next;
    /* Read ahead so the caller may free n's entry before the next call. */
    it->next = n->next;
    return n;
}
