/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Check suite for daemon/table.c, the intrusive hash table with incremental rehash: lookups and
 * removals stay correct through many growths and shrinks (also mid-rehash), iteration sees every
 * node once while a rehash is in progress, keys are compared by length and bytes, the hash is
 * keyed, each operation does bounded rehash work, and the reported memory follows the size.
 */
#include "config.h"

#include <check.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "table.h"

/* A caller entry with its embedded node, as the daemon's lock and condition entries have. */
struct entry {
    struct table_node node;
    bool present;
    unsigned visits;
    size_t len;
    char key[520];
};

/* Check records every passing ck_assert (a write per call), which makes hundreds of thousands
 * of them slow; loops over all keys use this instead, which only calls into Check on failure. */
#define REQUIRE(cond, ...)                                                                         \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

#define ENTRY_OF(n) ((struct entry *)((char *)(n)-offsetof(struct entry, node)))

static bool entry_eq(const struct table_node *node, const void *key, size_t len)
{
    const struct entry *e =
        (const struct entry *)((const char *)node - offsetof(struct entry, node));
    return e->len == len && memcmp(e->key, key, len) == 0;
}

static const uint8_t KEY_A[TABLE_KEY_BYTES] = {1, 2,  3,  4,  5,  6,  7,  8,
                                               9, 10, 11, 12, 13, 14, 15, 16};
static const uint8_t KEY_B[TABLE_KEY_BYTES] = {16, 15, 14, 13, 12, 11, 10, 9,
                                               8,  7,  6,  5,  4,  3,  2,  1};

/* Decimal keys: lengths 1..6, and many are prefixes of others ("1", "12", "123"). */
static struct entry *make_entries(size_t n)
{
    struct entry *e = calloc(n, sizeof(*e));
    ck_assert_ptr_nonnull(e);
    for (size_t i = 0; i < n; i++)
        e[i].len = (size_t)snprintf(e[i].key, sizeof(e[i].key), "%zu", i);
    return e;
}

static struct table_node *find(struct table *t, const struct entry *e)
{
    return table_find(t, e->key, e->len, table_hash(t, e->key, e->len));
}

static void insert(struct table *t, struct entry *e)
{
    REQUIRE(find(t, e) == NULL, "key %s present before insert", e->key);
    REQUIRE(table_insert(t, &e->node, table_hash(t, e->key, e->len)), "insert %s failed", e->key);
    e->present = true;
}

static void remove_entry(struct table *t, struct entry *e)
{
    REQUIRE(find(t, e) == &e->node, "key %s not found before remove", e->key);
    table_remove(t, &e->node);
    e->present = false;
}

/*
 * Every present entry is found (as itself) and no absent one is; the count matches. Returns how
 * many of the lookups ran while a rehash was in progress (lookups themselves advance it).
 */
static size_t verify(struct table *t, struct entry *e, size_t n)
{
    size_t present = 0, during_rehash = 0;
    for (size_t i = 0; i < n; i++) {
        if (table_is_rehashing(t))
            during_rehash++;
        struct table_node *got = find(t, &e[i]);
        if (e[i].present) {
            REQUIRE(got == &e[i].node, "key %s not found", e[i].key);
            present++;
        } else {
            REQUIRE(got == NULL, "removed key %s still found", e[i].key);
        }
    }
    ck_assert_uint_eq(table_count(t), present);
    return during_rehash;
}

/* Iterates t and checks that each present entry is visited exactly once, absent ones never. */
static void verify_iteration(const struct table *t, struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        e[i].visits = 0;
    struct table_iter it;
    table_iter_init(&it, t);
    size_t total = 0;
    for (struct table_node *node; (node = table_iter_next(&it)) != NULL;) {
        ENTRY_OF(node)->visits++;
        total++;
    }
    ck_assert_uint_eq(total, table_count(t));
    for (size_t i = 0; i < n; i++)
        REQUIRE(e[i].visits == (e[i].present ? 1u : 0u), "key %s visited %u times", e[i].key,
                e[i].visits);
}

/* A permutation of 0..n-1 from a fixed seed, so failures reproduce. */
static size_t *shuffled(size_t n, unsigned seed)
{
    size_t *p = malloc(n * sizeof(*p));
    ck_assert_ptr_nonnull(p);
    for (size_t i = 0; i < n; i++)
        p[i] = i;
    uint64_t x = seed * 6364136223846793005ULL + 1442695040888963407ULL;
    for (size_t i = n - 1; i > 0; i--) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t j = (size_t)(x >> 33) % (i + 1);
        size_t tmp = p[i];
        p[i] = p[j];
        p[j] = tmp;
    }
    return p;
}

/* Tracks the table's size between resizes to count growths and shrinks. */
struct resize_log {
    size_t stable_memory;
    unsigned grows, shrinks;
    size_t checks_while_rehashing;
};

/* Called after every operation: records a resize once it has finished, and runs a full
 * verification at the operation that starts each rehash and at every `every`-th operation. */
static void after_op(struct table *t, struct entry *e, size_t n, struct resize_log *log,
                     bool *was_rehashing, size_t op, size_t every)
{
    bool now = table_is_rehashing(t);
    if (!now) {
        size_t m = table_memory(t);
        if (m > log->stable_memory)
            log->grows++;
        else if (m < log->stable_memory)
            log->shrinks++;
        log->stable_memory = m;
    }
    if ((now && !*was_rehashing) || op % every == 0) {
        log->checks_while_rehashing += verify(t, e, n);
        if (table_is_rehashing(t))
            verify_iteration(t, e, n);
    }
    *was_rehashing = table_is_rehashing(t);
}

START_TEST(test_many_keys_survive_growths_and_shrinks_to_empty)
{
    const size_t n = 200000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    const size_t empty_memory = table_memory(t);
    struct resize_log log = {.stable_memory = empty_memory};
    bool was = false;
    size_t op = 0;

    /* Grow from empty to n through every power of two. */
    for (size_t i = 0; i < n; i++) {
        insert(t, &e[i]);
        after_op(t, e, n, &log, &was, ++op, 25000);
    }
    ck_assert_uint_eq(table_count(t), n);
    ck_assert_uint_ge(log.grows, 10);

    /* Remove 15 of every 16 keys in random order: several shrinks. */
    size_t *perm = shuffled(n, 1);
    for (size_t k = 0; k < n; k++) {
        if (perm[k] % 16 == 0)
            continue;
        remove_entry(t, &e[perm[k]]);
        after_op(t, e, n, &log, &was, ++op, 25000);
    }
    /* Finish any shrink still in progress with lookups only. */
    for (size_t guard = 0; table_is_rehashing(t); guard++) {
        ck_assert_uint_lt(guard, n);
        (void)find(t, &e[0]);
        after_op(t, e, n, &log, &was, ++op, 25000);
    }
    ck_assert_uint_ge(log.shrinks, 1);
    verify(t, e, n);

    /* Grow again, then remove everything in another random order. */
    for (size_t i = 0; i < n; i++) {
        if (!e[i].present) {
            insert(t, &e[i]);
            after_op(t, e, n, &log, &was, ++op, 25000);
        }
    }
    ck_assert_uint_eq(table_count(t), n);
    free(perm);
    perm = shuffled(n, 2);
    unsigned shrinks_before = log.shrinks;
    for (size_t k = 0; k < n; k++) {
        remove_entry(t, &e[perm[k]]);
        after_op(t, e, n, &log, &was, ++op, 25000);
    }
    ck_assert_uint_ge(log.shrinks - shrinks_before, 2);
    verify(t, e, n);
    ck_assert_uint_eq(table_count(t), 0);
    ck_assert(!table_is_rehashing(t));
    ck_assert_uint_eq(table_memory(t), empty_memory);
    /* The checkpoints did exercise lookups on a half-moved table. */
    ck_assert_uint_gt(log.checks_while_rehashing, 0);

    table_free(t);
    free(perm);
    free(e);
}
END_TEST

/* Inserts entries from *next until a rehash starts; returns the table memory just before the
 * insert that started it. */
static size_t insert_until_rehash(struct table *t, struct entry *e, size_t n, size_t *next)
{
    for (; *next < n; (*next)++) {
        size_t before = table_memory(t);
        insert(t, &e[*next]);
        if (table_is_rehashing(t)) {
            (*next)++;
            return before;
        }
    }
    ck_abort_msg("no rehash started within %zu inserts", n);
    return 0;
}

START_TEST(test_iteration_during_grow_visits_every_node_once)
{
    const size_t n = 20000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    size_t next = 0;
    /* Skip the small sizes, then stop in the middle of a grow: a few lookups have moved some
     * buckets and a few inserts have put nodes only in the new array. */
    while (next < 3000)
        insert(t, &e[next++]);
    if (table_is_rehashing(t))
        while (table_is_rehashing(t))
            (void)find(t, &e[0]);
    (void)insert_until_rehash(t, e, n, &next);
    for (int i = 0; i < 20; i++)
        (void)find(t, &e[i]);
    for (int i = 0; i < 20; i++)
        insert(t, &e[next++]);
    ck_assert(table_is_rehashing(t));
    verify_iteration(t, e, n);

    /* Lookups advance the rehash; iteration stays exact at every stage until it ends. */
    while (table_is_rehashing(t)) {
        for (int i = 0; i < 50; i++)
            (void)find(t, &e[i]);
        verify_iteration(t, e, n);
    }
    for (size_t i = 0; i < n; i++)
        if (e[i].present)
            remove_entry(t, &e[i]);
    ck_assert_uint_eq(table_count(t), 0);
    table_free(t);
    free(e);
}
END_TEST

START_TEST(test_iteration_during_shrink_visits_every_node_once)
{
    const size_t n = 20000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    for (size_t i = 0; i < n; i++)
        insert(t, &e[i]);
    while (table_is_rehashing(t))
        (void)find(t, &e[0]);
    /* Remove until a shrink starts, then a little more so both arrays hold nodes. */
    size_t i = 0;
    while (!table_is_rehashing(t)) {
        ck_assert_uint_lt(i, n);
        remove_entry(t, &e[i++]);
    }
    for (int k = 0; k < 10; k++)
        remove_entry(t, &e[i++]);
    ck_assert(table_is_rehashing(t));
    verify_iteration(t, e, n);
    verify(t, e, n);
    verify_iteration(t, e, n);

    for (; i < n; i++)
        remove_entry(t, &e[i]);
    ck_assert_uint_eq(table_count(t), 0);
    /* An empty table iterates to nothing. */
    struct table_iter it;
    table_iter_init(&it, t);
    ck_assert_ptr_null(table_iter_next(&it));
    table_free(t);
    free(e);
}
END_TEST

START_TEST(test_keys_differing_in_length_or_prefix_are_distinct)
{
    /* "a", "aa", ... up to 512 bytes: each is a prefix of the next. Plus keys with embedded
     * NUL bytes that differ from their prefix only by the trailing zero. */
    enum { LONG = 512 };
    static struct entry e[2 * LONG + 2];
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    size_t n = 0;
    for (size_t len = 1; len <= LONG; len++, n++) {
        memset(e[n].key, 'a', len);
        e[n].len = len;
    }
    for (size_t len = 1; len <= LONG; len++, n++) {
        memset(e[n].key, 'a', len - 1);
        e[n].key[len - 1] = '\0';
        e[n].len = len;
    }
    /* The empty key, and "\0\0" beside the "\0" above. */
    e[n++].len = 0;
    e[n].len = 2;
    n++;
    for (size_t i = 0; i < n; i++)
        insert(t, &e[i]);
    verify(t, e, n);
    /* Removing every other key leaves its neighbours (prefixes and extensions) findable. */
    for (size_t i = 0; i < n; i += 2)
        remove_entry(t, &e[i]);
    verify(t, e, n);
    for (size_t i = 1; i < n; i += 2)
        remove_entry(t, &e[i]);
    verify(t, e, n);
    table_free(t);
}
END_TEST

START_TEST(test_nodes_with_equal_hashes_are_told_apart_by_key)
{
    /* The table trusts the caller's hash: giving every node the same one builds a single long
     * chain, which exercises unlinking at the head, middle and tail and the eq callback. */
    enum { N = 100 };
    static struct entry e[N];
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    const uint64_t h = 42;
    for (size_t i = 0; i < N; i++) {
        e[i].len = (size_t)snprintf(e[i].key, sizeof(e[i].key), "k%zu", i);
        ck_assert(table_insert(t, &e[i].node, h));
    }
    ck_assert_uint_eq(table_count(t), N);
    size_t order[] = {0, N - 1, N / 2, 1, N - 2};
    for (size_t k = 0; k < sizeof(order) / sizeof(order[0]); k++) {
        struct entry *x = &e[order[k]];
        ck_assert_ptr_eq(table_find(t, x->key, x->len, h), &x->node);
        table_remove(t, &x->node);
        ck_assert_ptr_null(table_find(t, x->key, x->len, h));
    }
    for (size_t i = 0; i < N; i++) {
        bool gone = i == 0 || i == N - 1 || i == N / 2 || i == 1 || i == N - 2;
        struct table_node *got = table_find(t, e[i].key, e[i].len, h);
        ck_assert_ptr_eq(got, gone ? NULL : &e[i].node);
        if (!gone)
            table_remove(t, &e[i].node);
    }
    ck_assert_uint_eq(table_count(t), 0);
    table_free(t);
}
END_TEST

START_TEST(test_different_hash_keys_give_different_hashes)
{
    struct table *a = table_new(KEY_A, entry_eq);
    struct table *a2 = table_new(KEY_A, entry_eq);
    struct table *b = table_new(KEY_B, entry_eq);
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(a2);
    ck_assert_ptr_nonnull(b);
    const char *names[] = {"lock-a", "lock-b", "x", "", "a much longer lock name/with/slashes"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        size_t len = strlen(names[i]);
        uint64_t ha = table_hash(a, names[i], len);
        /* Same key: same hash, in any table and on every call. */
        ck_assert_uint_eq(ha, table_hash(a2, names[i], len));
        ck_assert_uint_eq(ha, table_hash(a, names[i], len));
        /* Another key: another hash (a collision has probability 2^-64). */
        ck_assert_uint_ne(ha, table_hash(b, names[i], len));
    }
    /* The hash depends on every byte, including length. */
    ck_assert_uint_ne(table_hash(a, "ab", 2), table_hash(a, "ab\0", 3));
    ck_assert_uint_ne(table_hash(a, "ab", 2), table_hash(a, "ba", 2));
    table_free(a);
    table_free(a2);
    table_free(b);
}
END_TEST

/*
 * Drives a rehash to its end with lookups and returns how many it took. Each lookup may inspect
 * at most TABLE_REHASH_MAX_VISITS buckets of the old array and at least one.
 */
static size_t ops_to_finish_rehash(struct table *t, struct entry *probe, size_t old_size)
{
    size_t ops = 0;
    while (table_is_rehashing(t)) {
        ck_assert_uint_le(ops, old_size);
        (void)find(t, probe);
        ops++;
    }
    return ops;
}

START_TEST(test_each_operation_does_bounded_rehash_work)
{
    const size_t n = 70000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    size_t next = 0;
    while (next < 40000)
        insert(t, &e[next++]);
    while (table_is_rehashing(t))
        (void)find(t, &e[0]);

    /* The insert that crosses load factor 1 (65536 buckets) only starts the grow. */
    size_t before = insert_until_rehash(t, e, n, &next);
    ck_assert(table_is_rehashing(t));
    size_t new_size = (table_memory(t) - before) / sizeof(struct table_node *);
    size_t old_size = new_size / 2;
    ck_assert_uint_eq(old_size, 65536);
    size_t ops = ops_to_finish_rehash(t, &e[0], old_size);
    /* Not done at once: at least old_size / MAX_VISITS operations share the work (the grow
     * ends when the last non-empty old bucket moves, so allow a few trailing empty ones). */
    ck_assert_uint_ge(ops, old_size / TABLE_REHASH_MAX_VISITS - 1);
    ck_assert_uint_le(ops, old_size);
    verify(t, e, n);

    /* The same for a shrink: remove until one starts. */
    size_t i = 0;
    while (!table_is_rehashing(t)) {
        ck_assert_uint_lt(i, n);
        if (e[i].present)
            remove_entry(t, &e[i]);
        i++;
    }
    ops = ops_to_finish_rehash(t, &e[n - 1], new_size);
    ck_assert_uint_ge(ops, new_size / TABLE_REHASH_MAX_VISITS / 2);
    verify(t, e, n);

    for (i = 0; i < n; i++)
        if (e[i].present)
            remove_entry(t, &e[i]);
    table_free(t);
    free(e);
}
END_TEST

START_TEST(test_memory_grows_and_shrinks_with_the_table)
{
    const size_t n = 10000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    /* An empty table holds no bucket array. */
    const size_t empty = table_memory(t);
    ck_assert_uint_gt(empty, 0);
    insert(t, &e[0]);
    const size_t one = table_memory(t);
    ck_assert_uint_gt(one, empty);
    /* Between resizes (the old array is freed when one ends) memory never goes down. */
    size_t prev = one;
    for (size_t i = 1; i < n; i++) {
        insert(t, &e[i]);
        if (!table_is_rehashing(t)) {
            ck_assert_uint_ge(table_memory(t), prev);
            prev = table_memory(t);
        }
    }
    while (table_is_rehashing(t))
        (void)find(t, &e[0]);
    const size_t full = table_memory(t);
    /* Buckets are pointers, at load factor at most 1 after a grow and at least 1/2. */
    ck_assert_uint_ge(full - empty, n * sizeof(void *) / 2);
    ck_assert_uint_le(full - empty, 2 * n * sizeof(void *));

    /* Down to one entry: the staged shrinks reach the minimum array again. */
    for (size_t i = 1; i < n; i++)
        remove_entry(t, &e[i]);
    for (size_t guard = 0; table_is_rehashing(t); guard++) {
        ck_assert_uint_lt(guard, n);
        (void)find(t, &e[0]);
    }
    ck_assert_uint_lt(table_memory(t), full);
    ck_assert_uint_eq(table_memory(t), one);
    /* Empty again: the arrays are gone. */
    remove_entry(t, &e[0]);
    ck_assert_uint_eq(table_memory(t), empty);
    ck_assert_uint_eq(table_count(t), 0);
    table_free(t);
    free(e);
}
END_TEST

START_TEST(test_free_ignores_null_and_leaves_nodes_to_the_caller)
{
    table_free(NULL);
    const size_t n = 1000;
    struct entry *e = make_entries(n);
    struct table *t = table_new(KEY_A, entry_eq);
    ck_assert_ptr_nonnull(t);
    /* Freed with nodes still in it and in the middle of a grow, so both arrays must go (the
     * sanitizer build reports a leak otherwise); the entries stay the caller's. */
    size_t next = 0;
    while (next < 300)
        insert(t, &e[next++]);
    while (table_is_rehashing(t))
        (void)find(t, &e[0]);
    (void)insert_until_rehash(t, e, n, &next);
    ck_assert(table_is_rehashing(t));
    table_free(t);
    ck_assert_str_eq(e[next - 1].key, "512");
    free(e);
}
END_TEST

static Suite *table_suite(void)
{
    Suite *s = suite_create("table");
    TCase *tc = tcase_create("table");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_many_keys_survive_growths_and_shrinks_to_empty);
    tcase_add_test(tc, test_iteration_during_grow_visits_every_node_once);
    tcase_add_test(tc, test_iteration_during_shrink_visits_every_node_once);
    tcase_add_test(tc, test_keys_differing_in_length_or_prefix_are_distinct);
    tcase_add_test(tc, test_nodes_with_equal_hashes_are_told_apart_by_key);
    tcase_add_test(tc, test_different_hash_keys_give_different_hashes);
    tcase_add_test(tc, test_each_operation_does_bounded_rehash_work);
    tcase_add_test(tc, test_memory_grows_and_shrinks_with_the_table);
    tcase_add_test(tc, test_free_ignores_null_and_leaves_nodes_to_the_caller);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(table_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
