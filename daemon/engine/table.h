/* SPDX-License-Identifier: BSD-2-Clause
 *
 * An intrusive hash table from byte-string keys to caller-owned nodes. Keys are hashed with
 * SipHash (libsodium's crypto_shorthash) under a secret key chosen by the owner, so clients
 * cannot aim many names at one bucket. The table grows and shrinks by powers of two and moves
 * entries to the new bucket array a few buckets per operation (incremental rehash), so no single
 * operation pays for a whole resize: latency stays flat from ten to ten million entries.
 *
 * Ownership: the table owns only its bucket arrays. Nodes are embedded in the caller's entries
 * (struct table_node as a member), and the caller allocates and frees those entries; the table
 * never frees or copies a node or a key.
 */
#ifndef CONDD_DAEMON_TABLE_H
#define CONDD_DAEMON_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define TABLE_KEY_BYTES 16 /* == crypto_shorthash_KEYBYTES */

/* The bound on rehash work per operation: while a resize is in progress, each table_find,
 * table_insert and table_remove inspects at most this many buckets of the old array (moving
 * the chains it finds to the new one, at most 4 of them), so a resize of n buckets completes
 * within n operations and no single operation pays for more than a constant number of buckets. */
#define TABLE_REHASH_MAX_VISITS 40

/* Embed one of these in each entry. Its fields belong to the table while the node is inserted. */
struct table_node {
    struct table_node *next;
    uint64_t hash;
};

/*
 * Does node's key equal key[0..len)? Only called for nodes whose stored hash equals the hash
 * of key, so it is called about once per lookup. node and key are borrowed.
 */
typedef bool (*table_key_eq_fn)(const struct table_node *node, const void *key, size_t len);

struct table;

/* A new empty table (which allocates no buckets until the first insert), or NULL on OOM.
 * hash_key is copied. Free with table_free(). */
struct table *table_new(const uint8_t hash_key[TABLE_KEY_BYTES], table_key_eq_fn eq);

/* Frees the bucket arrays and the table. Nodes still inserted are not touched: the caller
 * frees its entries (iterate first if needed). NULL is ignored. */
void table_free(struct table *t);

/* The keyed hash of key[0..len) for this table. */
uint64_t table_hash(const struct table *t, const void *key, size_t len);

/* The node whose key equals key[0..len), or NULL. hash must be table_hash(t, key, len).
 * May perform a bounded rehash step. */
struct table_node *table_find(struct table *t, const void *key, size_t len, uint64_t hash);

/*
 * Inserts node under hash (= table_hash of its key). The caller guarantees that no node with
 * an equal key is present (find first). Returns false only when growing the bucket array failed
 * for lack of memory on an empty table; the node is then not inserted. A failed grow of a
 * non-empty table is not an error (the table just stays denser).
 */
bool table_insert(struct table *t, struct table_node *node, uint64_t hash);

/* Unlinks node, which must be in t. May perform a bounded rehash step or start a shrink. */
void table_remove(struct table *t, struct table_node *node);

/* Sizes the bucket array of a table that has never had one for about n nodes, so that
 * inserting them does no rehash (a bulk load: the live restart). A hint: false on OOM, and
 * nothing done for a table in use. */
bool table_reserve(struct table *t, size_t n);

/* A hint for a bulk load that looks ahead: asks the CPU to fetch the bucket that hash maps to
 * (chain false) or, once that is in, the first node of its chain (chain true), so that the
 * table_find and table_insert of that key later do not wait for memory. Changes nothing. */
void table_prefetch(const struct table *t, uint64_t hash, bool chain);

/* Number of nodes inserted. */
size_t table_count(const struct table *t);

/* Bytes held by the table itself (struct and bucket arrays), not by the caller's entries. */
size_t table_memory(const struct table *t);

/* True while an incremental rehash is in progress (for tests). */
bool table_is_rehashing(const struct table *t);

/*
 * Iteration over every node exactly once, also while a rehash is in progress. While an iterator
 * is in use the caller must not insert, remove or find in the table (the iterator does not pause
 * rehashing). Usage:
 *     struct table_iter it; table_iter_init(&it, t);
 *     for (struct table_node *n; (n = table_iter_next(&it)) != NULL;) ...
 */
struct table_iter {
    const struct table *t;
    int which;     /* 0: main bucket array, 1: the array being rehashed into */
    size_t bucket; /* next bucket to visit */
    struct table_node *next;
    size_t prefetch; /* table_iter_prefetch(): bytes of each entry to fetch ahead */
};
void table_iter_init(struct table_iter *it, const struct table *t);
struct table_node *table_iter_next(struct table_iter *it);

/* For a walk that reads every entry (the live restart's save): the iterator asks the CPU for
 * the first bytes bytes from each node a few buckets ahead, so that visiting entries scattered
 * over the heap does not wait for memory at each one. For entries whose node is their first
 * member; after table_iter_init(). */
void table_iter_prefetch(struct table_iter *it, size_t bytes);

#endif
