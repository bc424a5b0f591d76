/* SPDX-License-Identifier: BSD-2-Clause
 *
 * libcondd's shared (reader) locks against a real condd (issue 13): through the asynchronous API
 * (readers granted together with their own tokens, a writer queued behind them and readers behind
 * it, cancel of a pending reader, a writer's cancel letting readers in, List with every holder,
 * Stats) and the blocking one (try-once, ALREADY_OWNER, Wait and Notify refused with the reason,
 * a reader's session end letting a writer in).
 */
#include "config.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include <condd/condd.h>
#include <condd/condd_async.h>

#include "client_util.h"
#include "testutil.h"
#include "wireclient.h"

static uint64_t shared_ok(condd_async_conn *c, const char *lock, uint64_t owner)
{
    struct rec r = {0};
    ck_assert_int_eq(
        condd_async_lock_acquire_shared(c, lock, owner, CONDD_FOREVER, on_token, &r, NULL),
        CONDD_OK);
    ck_assert(run_until(&r.done, 10));
    ck_assert_int_eq(r.rc, CONDD_OK);
    ck_assert_uint_gt(r.u64, 0);
    return r.u64;
}

/* A Ping round trip on c: every request sent on c before it has been processed. */
static void barrier(condd_async_conn *c)
{
    struct rec p = {0};
    ck_assert_int_eq(condd_async_conn_ping(c, on_result, &p), CONDD_OK);
    ck_assert(run_until(&p.done, 10));
}

/* ------------------------------------------------------------------ asynchronous API */

START_TEST(test_async_readers_share_and_a_writer_waits_for_all)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon(), *w = connect_daemon();
    uint64_t ta = shared_ok(a, "rw", 1);
    uint64_t tb = shared_ok(b, "rw", 1);
    ck_assert_uint_gt(tb, ta);
    struct rec wr = {0}, late = {0}, try = {0};
    ck_assert_int_eq(condd_async_lock_acquire(w, "rw", 1, CONDD_FOREVER, on_token, &wr, NULL),
                     CONDD_OK);
    barrier(w);
    /* a reader arriving while the writer waits queues behind it; a try-once reader fails */
    ck_assert_int_eq(
        condd_async_lock_acquire_shared(a, "rw", 2, CONDD_FOREVER, on_token, &late, NULL),
        CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire_shared(b, "rw", 2, 0, on_token, &try, NULL),
                     CONDD_OK);
    ck_assert(run_until(&try.done, 10));
    ck_assert_int_eq(try.rc, CONDD_ERR_TIMEOUT);
    ck_assert_int_eq(release_sync(a, "rw", 1), CONDD_OK);
    barrier(w);
    ck_assert(!wr.done);
    ck_assert_int_eq(release_sync(b, "rw", 1), CONDD_OK);
    ck_assert(run_until(&wr.done, 10));
    ck_assert_int_eq(wr.rc, CONDD_OK);
    ck_assert_uint_gt(wr.u64, tb);
    barrier(a);
    ck_assert(!late.done);
    ck_assert_int_eq(release_sync(w, "rw", 1), CONDD_OK);
    ck_assert(run_until(&late.done, 10));
    ck_assert_int_eq(late.rc, CONDD_OK);
    ck_assert_uint_gt(late.u64, wr.u64);
    ck_assert_int_eq(release_sync(a, "rw", 2), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
    condd_async_conn_close(w);
}
END_TEST

START_TEST(test_async_cancel_of_a_writer_lets_readers_in_and_of_a_reader_answers_once)
{
    condd_async_conn *a = connect_daemon(), *b = connect_daemon();
    shared_ok(a, "c", 1);
    struct rec wr = {0}, rd = {0}, rd2 = {0}, x = {0}, y = {0};
    uint64_t wid = 0, rid = 0;
    ck_assert_int_eq(condd_async_lock_acquire(b, "c", 1, CONDD_FOREVER, on_token, &wr, &wid),
                     CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire_shared(b, "c", 2, CONDD_FOREVER, on_token, &rd, NULL),
                     CONDD_OK);
    barrier(b);
    ck_assert(!rd.done);
    ck_assert_int_eq(condd_async_conn_cancel(b, wid, on_result, &x), CONDD_OK);
    ck_assert(run_until(&x.done, 10));
    ck_assert(run_until(&wr.done, 10));
    ck_assert(run_until(&rd.done, 10));
    ck_assert_int_eq(x.rc, CONDD_OK);
    ck_assert_int_eq(wr.rc, CONDD_ERR_CANCELLED);
    ck_assert_int_eq(rd.rc, CONDD_OK); /* the reader behind the writer joined a */
    /* a pending reader behind a writer, cancelled */
    struct rec wr2 = {0};
    ck_assert_int_eq(condd_async_lock_acquire(a, "c", 3, CONDD_FOREVER, on_token, &wr2, NULL),
                     CONDD_OK);
    barrier(a); /* the writer is queued before the reader is sent */
    ck_assert_int_eq(
        condd_async_lock_acquire_shared(b, "c", 4, CONDD_FOREVER, on_token, &rd2, &rid), CONDD_OK);
    ck_assert_int_eq(condd_async_conn_cancel(b, rid, on_result, &y), CONDD_OK);
    ck_assert(run_until(&y.done, 10));
    ck_assert(run_until(&rd2.done, 10));
    ck_assert_int_eq(rd2.rc, CONDD_ERR_CANCELLED);
    ck_assert_int_eq(rd2.calls, 1);
    ck_assert_int_eq(release_sync(a, "c", 1), CONDD_OK);
    ck_assert_int_eq(release_sync(b, "c", 2), CONDD_OK);
    ck_assert(run_until(&wr2.done, 10));
    ck_assert_int_eq(wr2.rc, CONDD_OK);
    barrier(b);
    ck_assert_int_eq(rd2.calls, 1);
    ck_assert_int_eq(release_sync(a, "c", 3), CONDD_OK);
    condd_async_conn_close(a);
    condd_async_conn_close(b);
}
END_TEST

struct list_rec {
    bool done;
    int rc;
    bool shared;
    size_t n_holders;
    uint64_t tokens[4];
    uint64_t owners[4];
    uint64_t first_token;
    bool past_end_null;
    uint64_t locks_shared, shared_holders;
};

static void on_list_rw(condd_async_conn *c, int rc, const struct condd_list *l, void *arg)
{
    (void)c;
    struct list_rec *r = arg;
    r->rc = rc;
    r->done = true;
    for (size_t i = 0; i < condd_list_lock_count(l); i++) {
        const struct condd_lock_info *li = condd_list_lock(l, i);
        if (strcmp(li->name, "lst/rw") != 0)
            continue;
        r->shared = li->shared;
        r->n_holders = li->n_holders;
        r->first_token = li->token;
        for (size_t j = 0; j < li->n_holders && j < 4; j++) {
            const struct condd_lock_holder *h = condd_list_lock_holder(l, i, j);
            ck_assert_ptr_nonnull(h);
            ck_assert_ptr_nonnull(h->client);
            r->tokens[j] = h->token;
            r->owners[j] = h->owner;
        }
        r->past_end_null = condd_list_lock_holder(l, i, li->n_holders) == NULL &&
                           condd_list_lock_holder(l, condd_list_lock_count(l), 0) == NULL;
    }
}

static void on_stats_rw(condd_async_conn *c, int rc, const struct condd_stats *s, void *arg)
{
    (void)c;
    struct list_rec *r = arg;
    r->rc = rc;
    r->done = true;
    if (s != NULL) {
        r->locks_shared = s->locks_shared;
        r->shared_holders = s->shared_holders;
    }
}

START_TEST(test_async_list_shows_every_holder_and_stats_count_them)
{
    condd_async_conn *a = connect_daemon();
    uint64_t t1 = shared_ok(a, "lst/rw", 11);
    uint64_t t2 = shared_ok(a, "lst/rw", 12);
    uint64_t t3 = shared_ok(a, "lst/rw", 13);
    struct list_rec l = {0}, s = {0};
    ck_assert_int_eq(condd_async_conn_list(a, "lst/", 0, on_list_rw, &l), CONDD_OK);
    ck_assert(run_until(&l.done, 10));
    ck_assert_int_eq(l.rc, CONDD_OK);
    ck_assert(l.shared);
    ck_assert_uint_eq(l.n_holders, 3);
    ck_assert_uint_eq(l.tokens[0], t1);
    ck_assert_uint_eq(l.tokens[1], t2);
    ck_assert_uint_eq(l.tokens[2], t3);
    ck_assert_uint_eq(l.owners[2], 13);
    ck_assert_uint_eq(l.first_token, t1);
    ck_assert(l.past_end_null);
    ck_assert_int_eq(condd_async_conn_stats(a, on_stats_rw, &s), CONDD_OK);
    ck_assert(run_until(&s.done, 10));
    ck_assert_uint_eq(s.locks_shared, 1);
    ck_assert_uint_eq(s.shared_holders, 3);
    ck_assert_int_eq(release_sync(a, "lst/rw", 11), CONDD_OK);
    ck_assert_int_eq(release_sync(a, "lst/rw", 12), CONDD_OK);
    ck_assert_int_eq(release_sync(a, "lst/rw", 13), CONDD_OK);
    acquire_ok(a, "lst/rw", 1);
    memset(&l, 0, sizeof l);
    ck_assert_int_eq(condd_async_conn_list(a, "lst/", 0, on_list_rw, &l), CONDD_OK);
    ck_assert(run_until(&l.done, 10));
    ck_assert(!l.shared);
    ck_assert_uint_eq(l.n_holders, 1);
    ck_assert_uint_eq(l.owners[0], 1);
    ck_assert_int_eq(release_sync(a, "lst/rw", 1), CONDD_OK);
    ck_assert_int_eq(condd_async_lock_acquire_shared(NULL, "x", 1, 0, on_token, &s, NULL),
                     CONDD_ERR_INVALID);
    ck_assert_int_eq(condd_async_lock_acquire_shared(a, "x", 1, 0, NULL, &s, NULL),
                     CONDD_ERR_INVALID);
    condd_async_conn_close(a);
}
END_TEST

/* ------------------------------------------------------------------ blocking API */

START_TEST(test_blocking_shared_calls)
{
    condd_conn *c = NULL, *d = NULL;
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &c), CONDD_OK);
    ck_assert_int_eq(condd_conn_open(daemon_.addr, NULL, &d), CONDD_OK);
    uint64_t t1 = 0, t2 = 0, t3 = 5;
    ck_assert_int_eq(condd_lock_acquire_shared(c, "b", 1, CONDD_FOREVER, &t1), CONDD_OK);
    ck_assert_int_eq(condd_lock_acquire_shared(d, "b", 1, 0, &t2), CONDD_OK);
    ck_assert_uint_gt(t2, t1);
    bool locked = false;
    ck_assert_int_eq(condd_lock_locked(d, "b", &locked), CONDD_OK);
    ck_assert(locked);
    /* no upgrade, no second shared hold */
    ck_assert_int_eq(condd_lock_acquire(c, "b", 1, 0, NULL), CONDD_ERR_ALREADY_OWNER);
    ck_assert_int_eq(condd_lock_acquire_shared(c, "b", 1, 0, NULL), CONDD_ERR_ALREADY_OWNER);
    /* an exclusive try fails while readers hold */
    ck_assert_int_eq(condd_lock_acquire(d, "b", 2, 0.05, &t3), CONDD_ERR_TIMEOUT);
    ck_assert_uint_eq(t3, 0);
    /* conditions need the exclusive mode: the message says so */
    ck_assert_int_eq(condd_cond_wait(c, "cv", "b", 1, 1, NULL), CONDD_ERR_NOT_OWNER);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(c), "exclusive"));
    ck_assert_int_eq(condd_cond_notify(c, "cv", "b", 1, 1, NULL), CONDD_ERR_NOT_OWNER);
    ck_assert_ptr_nonnull(strstr(condd_conn_message(c), "exclusive"));
    ck_assert_int_eq(condd_lock_acquire_shared(c, "", 1, 0, NULL), CONDD_ERR_BAD_REQUEST);
    ck_assert_int_eq(condd_lock_acquire_shared(c, NULL, 1, 0, NULL), CONDD_ERR_INVALID);
    /* the readers' sessions end: the writer gets the lock */
    ck_assert_int_eq(condd_lock_release(d, "b", 1), CONDD_OK);
    condd_conn_close(c);
    ck_assert_int_eq(condd_lock_acquire(d, "b", 2, 10, &t3), CONDD_OK);
    ck_assert_uint_gt(t3, t2);
    condd_list *l = NULL;
    ck_assert_int_eq(condd_conn_list(d, "b", 0, &l), CONDD_OK);
    ck_assert_uint_eq(condd_list_lock_count(l), 1);
    ck_assert(!condd_list_lock(l, 0)->shared);
    ck_assert_uint_eq(condd_list_lock(l, 0)->n_holders, 1);
    ck_assert_uint_eq(condd_list_lock_holder(l, 0, 0)->token, t3);
    condd_list_free(l);
    ck_assert_int_eq(condd_lock_release(d, "b", 2), CONDD_OK);
    ck_assert_int_eq(condd_lock_release(d, "b", 2), CONDD_ERR_NOT_OWNER);
    condd_conn_close(d);
}
END_TEST

/* ------------------------------------------------------------------ the wire */

/* An Acquire frame with an explicit mode (has_mode false: the field absent, as an old client
 * sends it). */
static void wire_acquire(struct wc *w, uint64_t id, const char *lock, uint64_t owner, int mode,
                         bool has_mode)
{
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__Acquire a = CONDD__V1__ACQUIRE__INIT;
    Condd__V1__Timeout zero = CONDD__V1__TIMEOUT__INIT;
    a.lock.data = (uint8_t *)lock;
    a.lock.len = strlen(lock);
    a.owner = owner;
    a.timeout = &zero; /* try once */
    if (has_mode)
        a.mode = (Condd__V1__LockMode)mode;
    req.id = id;
    req.body_case = CONDD__V1__REQUEST__BODY_ACQUIRE;
    req.acquire = &a;
    ck_assert(wc_send(w, &req));
}

/* Locked on the wire: *mode and *holders of the LockedResult; returns locked. */
static bool wire_locked(struct wc *w, uint64_t id, const char *lock, int *mode, uint32_t *holders)
{
    ck_assert(wc_locked(w, id, lock));
    Condd__V1__Response *r = wc_recv_id(w, id, 10);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_LOCKED);
    bool locked = r->locked->locked;
    *mode = (int)r->locked->mode;
    *holders = r->locked->holders;
    condd__v1__response__free_unpacked(r, NULL);
    return locked;
}

START_TEST(test_wire_mode_field_absent_exclusive_shared_and_invalid)
{
    struct wc *a = wc_session(daemon_.port, "wire-a"), *b = wc_session(daemon_.port, "wire-b");
    ck_assert_ptr_nonnull(a);
    ck_assert_ptr_nonnull(b);
    int mode = -1;
    uint32_t holders = 99;
    ck_assert(!wire_locked(a, 1, "w", &mode, &holders));
    ck_assert_int_eq(mode, CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE);
    ck_assert_uint_eq(holders, 0);
    /* an unknown mode is refused and changes nothing */
    wire_acquire(a, 2, "w", 1, 7, true);
    Condd__V1__Response *r = wc_recv_id(a, 2, 10);
    ck_assert_ptr_nonnull(r);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_BAD_REQUEST);
    ck_assert_str_eq(r->message, "invalid lock mode");
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(!wire_locked(a, 3, "w", &mode, &holders));
    /* no mode field: exclusive, as before shared locks existed */
    wire_acquire(a, 4, "w", 1, 0, false);
    ck_assert_int_eq(wc_status(a, 4, 10), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wire_locked(b, 5, "w", &mode, &holders));
    ck_assert_int_eq(mode, CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE);
    ck_assert_uint_eq(holders, 1);
    wire_acquire(b, 6, "w", 1, CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED, true);
    ck_assert_int_eq(wc_status(b, 6, 10), CONDD__V1__STATUS__STATUS_TIMEOUT);
    ck_assert(wc_release(a, 7, "w", 1));
    ck_assert_int_eq(wc_status(a, 7, 10), CONDD__V1__STATUS__STATUS_OK);
    /* two shared holders */
    wire_acquire(a, 8, "w", 1, CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED, true);
    ck_assert_int_eq(wc_status(a, 8, 10), CONDD__V1__STATUS__STATUS_OK);
    wire_acquire(b, 9, "w", 1, CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED, true);
    ck_assert_int_eq(wc_status(b, 9, 10), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wire_locked(a, 10, "w", &mode, &holders));
    ck_assert_int_eq(mode, CONDD__V1__LOCK_MODE__LOCK_MODE_SHARED);
    ck_assert_uint_eq(holders, 2);
    wire_acquire(a, 11, "w", 1, 0, false); /* no upgrade */
    ck_assert_int_eq(wc_status(a, 11, 10), CONDD__V1__STATUS__STATUS_ALREADY_OWNER);
    ck_assert(wc_release(b, 12, "w", 1));
    ck_assert_int_eq(wc_status(b, 12, 10), CONDD__V1__STATUS__STATUS_OK);
    /* a's shared hold goes with its session: b's writer, queued, gets the lock then */
    ck_assert(wc_acquire(b, 13, "w", 2, 10));
    ck_assert(wc_nothing_before_ping(b));
    wc_close(a);
    ck_assert_int_eq(wc_status(b, 13, 10), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wire_locked(b, 14, "w", &mode, &holders));
    ck_assert_int_eq(mode, CONDD__V1__LOCK_MODE__LOCK_MODE_EXCLUSIVE);
    ck_assert_uint_eq(holders, 1);
    ck_assert(wc_release(b, 15, "w", 2));
    ck_assert_int_eq(wc_status(b, 15, 10), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(!wire_locked(b, 16, "w", &mode, &holders));
    wc_close(b);
}
END_TEST

static Suite *client_rwlock_suite(void)
{
    Suite *s = suite_create("libcondd shared locks");
    TCase *tc = tcase_create("rwlock");
    tcase_set_timeout(tc, 60);
    tcase_add_checked_fixture(tc, setup_daemon, teardown_daemon);
    tcase_add_test(tc, test_async_readers_share_and_a_writer_waits_for_all);
    tcase_add_test(tc, test_async_cancel_of_a_writer_lets_readers_in_and_of_a_reader_answers_once);
    tcase_add_test(tc, test_async_list_shows_every_holder_and_stats_count_them);
    tcase_add_test(tc, test_blocking_shared_calls);
    tcase_add_test(tc, test_wire_mode_field_absent_exclusive_shared_and_invalid);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(client_rwlock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
