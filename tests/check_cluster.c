/* SPDX-License-Identifier: BSD-2-Clause
 *
 * A server in a cluster (condd --cluster LIST --cluster-self ADDR, protocol.md §21.5), spoken to
 * on the wire: three daemons on loopback ports, each accepting exactly the names that route to
 * it (the rule of common/route.c) and refusing the rest with WRONG_SERVER naming the right
 * server; a condition travels with its lock; Release, Ping, List and Stats are never refused;
 * the refusals are counted; bad --cluster settings stop condd with exit status 2 and a reason;
 * and a SIGHUP that adds a server leaves a held name held and releasable.
 */
#include "config.h"

#include <check.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cluster_util.h"
#include "route.h"
#include "service_util.h"
#include "wireclient.h"

#define WC_TIMEOUT 10.0

/* ------------------------------------------------------------------ helpers */

static struct tu_cluster cl;

static void cluster_setup(void)
{
    ck_assert_msg(tu_cluster_start(&cl, 3, NULL, NULL), "three condd did not start");
}

static void cluster_teardown(void)
{
    tu_cluster_stop(&cl);
}

static size_t owner_of(const char *name)
{
    return tu_cluster_owner(&cl, name);
}

/* A name "PREFIX-N" that routes to server want (and, with avoid_cond, one that does not). */
static void name_on(size_t want, const char *prefix, char *out, size_t len)
{
    ck_assert_msg(tu_cluster_name(&cl, want, true, prefix, out, len),
                  "no name routes to server %zu", want);
}

static void name_off(size_t avoid, const char *prefix, char *out, size_t len)
{
    ck_assert_msg(tu_cluster_name(&cl, avoid, false, prefix, out, len),
                  "every name routes to server %zu", avoid);
}

/* The reply to id; the caller frees it. */
static Condd__V1__Response *reply(struct wc *w, uint64_t id)
{
    Condd__V1__Response *r = wc_recv_id(w, id, WC_TIMEOUT);
    ck_assert_msg(r != NULL, "no reply to request %llu", (unsigned long long)id);
    return r;
}

static void expect_wrong_server(struct wc *w, uint64_t id, const char *name, size_t to)
{
    Condd__V1__Response *r = reply(w, id);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_WRONG_SERVER);
    char want[256];
    snprintf(want, sizeof want, "'%s' routes to %s (cluster of 3)", name, cl.d[to].addr);
    ck_assert_str_eq(r->message, want);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT__NOT_SET);
    condd__v1__response__free_unpacked(r, NULL);
}

static int status_of(struct wc *w, uint64_t id)
{
    Condd__V1__Response *r = reply(w, id);
    int st = r->status;
    condd__v1__response__free_unpacked(r, NULL);
    return st;
}

static uint64_t stats_wrong_server(struct wc *w, uint64_t id)
{
    ck_assert(wc_stats(w, id));
    Condd__V1__Response *r = reply(w, id);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_OK);
    ck_assert_int_eq(r->result_case, CONDD__V1__RESPONSE__RESULT_STATS);
    uint64_t n = r->stats->wrong_server;
    uint64_t counted = 0; /* the per-op counters say the same */
    for (size_t i = 0; i < r->stats->n_ops; i++)
        if (strcmp(r->stats->ops[i]->status, "wrong_server") == 0)
            counted += r->stats->ops[i]->count;
    ck_assert_uint_eq(counted, n);
    condd__v1__response__free_unpacked(r, NULL);
    return n;
}

/* ------------------------------------------------------------------ three daemons */

START_TEST(test_each_name_is_served_only_by_its_server)
{
    struct wc *w[3];
    for (int i = 0; i < 3; i++)
        ck_assert((w[i] = wc_session(cl.d[i].port, "check_cluster")) != NULL);
    /* The test vectors' names and enough others that every server owns some. */
    const char *fixed[] = {"jobs", "orders/42", "x", "lock-0001"};
    int owned[3] = {0};
    uint64_t id = 10;
    for (int k = 0; k < 40; k++) {
        char name[32];
        if (k < 4)
            snprintf(name, sizeof name, "%s", fixed[k]);
        else
            snprintf(name, sizeof name, "cl-%d", k);
        size_t home = owner_of(name);
        owned[home]++;
        for (size_t s = 0; s < 3; s++) {
            id++;
            ck_assert(wc_acquire(w[s], id, name, 1, 0));
            if (s != home) {
                expect_wrong_server(w[s], id, name, home);
                continue;
            }
            ck_assert_int_eq(status_of(w[s], id), CONDD__V1__STATUS__STATUS_OK);
            ck_assert(wc_release(w[s], ++id, name, 1));
            ck_assert_int_eq(status_of(w[s], id), CONDD__V1__STATUS__STATUS_OK);
        }
    }
    for (int s = 0; s < 3; s++) {
        ck_assert_int_gt(owned[s], 0);
        /* Two refusals per name it does not own. */
        ck_assert_uint_eq(stats_wrong_server(w[s], ++id), (uint64_t)(40 - owned[s]));
        wc_close(w[s]);
    }
}
END_TEST

START_TEST(test_every_kind_of_name_is_checked)
{
    char name[32];
    name_on(1, "kind", name, sizeof name);
    struct wc *w = wc_session(cl.d[0].port, "check_cluster");
    ck_assert(w != NULL);
    ProtobufCBinaryData b = {strlen(name), (uint8_t *)name};
    Condd__V1__Timeout zero = CONDD__V1__TIMEOUT__INIT;
    Condd__V1__SemAcquire sa = CONDD__V1__SEM_ACQUIRE__INIT;
    sa.name = b;
    sa.value = 1;
    sa.timeout = &zero;
    Condd__V1__SemLocked sl = CONDD__V1__SEM_LOCKED__INIT;
    sl.name = b;
    Condd__V1__EventSet es = CONDD__V1__EVENT_SET__INIT;
    es.name = b;
    Condd__V1__EventWait ew = CONDD__V1__EVENT_WAIT__INIT;
    ew.name = b;
    ew.timeout = &zero;
    Condd__V1__BarrierWait bw = CONDD__V1__BARRIER_WAIT__INIT;
    bw.name = b;
    bw.parties = 2;
    bw.timeout = &zero;
    Condd__V1__BarrierState bs = CONDD__V1__BARRIER_STATE__INIT;
    bs.name = b;
    Condd__V1__Locked lk = CONDD__V1__LOCKED__INIT;
    lk.lock = b;
    Condd__V1__SemRelease sr = CONDD__V1__SEM_RELEASE__INIT; /* a post: creates a permit */
    sr.name = b;
    sr.value = 1;
    Condd__V1__Request req[8];
    for (int i = 0; i < 8; i++) {
        Condd__V1__Request r = CONDD__V1__REQUEST__INIT;
        req[i] = r;
        req[i].id = 100 + (uint64_t)i;
    }
    req[0].body_case = CONDD__V1__REQUEST__BODY_SEM_ACQUIRE, req[0].sem_acquire = &sa;
    req[1].body_case = CONDD__V1__REQUEST__BODY_SEM_LOCKED, req[1].sem_locked = &sl;
    req[2].body_case = CONDD__V1__REQUEST__BODY_EVENT_SET, req[2].event_set = &es;
    req[3].body_case = CONDD__V1__REQUEST__BODY_EVENT_WAIT, req[3].event_wait = &ew;
    req[4].body_case = CONDD__V1__REQUEST__BODY_BARRIER_WAIT, req[4].barrier_wait = &bw;
    req[5].body_case = CONDD__V1__REQUEST__BODY_BARRIER_STATE, req[5].barrier_state = &bs;
    req[6].body_case = CONDD__V1__REQUEST__BODY_LOCKED, req[6].locked = &lk;
    req[7].body_case = CONDD__V1__REQUEST__BODY_SEM_RELEASE, req[7].sem_release = &sr;
    for (int i = 0; i < 8; i++) {
        ck_assert(wc_send(w, &req[i]));
        expect_wrong_server(w, req[i].id, name, 1);
    }
    ck_assert_uint_eq(stats_wrong_server(w, 200), 8);
    wc_close(w);
}
END_TEST

START_TEST(test_condition_goes_to_the_server_of_its_lock)
{
    char lock[32], cond[32];
    name_on(2, "lk", lock, sizeof lock);
    name_off(2, "cv", cond, sizeof cond); /* the condition's own name routes elsewhere */
    struct wc *home = wc_session(cl.d[2].port, "check_cluster");
    struct wc *other = wc_session(cl.d[0].port, "check_cluster");
    ck_assert(home != NULL && other != NULL);
    ck_assert(wc_acquire(home, 10, lock, 1, -1));
    ck_assert_int_eq(status_of(home, 10), CONDD__V1__STATUS__STATUS_OK);
    /* Served where the lock is: a Wait that times out at once re-acquires and answers TIMEOUT. */
    ck_assert(wc_wait(home, 11, cond, lock, 1, 0));
    ck_assert_int_eq(status_of(home, 11), CONDD__V1__STATUS__STATUS_TIMEOUT);
    ck_assert(wc_notify(home, 12, cond, lock, 1, 1));
    ck_assert_int_eq(status_of(home, 12), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wc_notify_all(home, 13, cond, lock, 1));
    ck_assert_int_eq(status_of(home, 13), CONDD__V1__STATUS__STATUS_OK);
    /* Elsewhere the lock's name is the one refused, and named. */
    ck_assert(wc_wait(other, 20, cond, lock, 1, 0));
    expect_wrong_server(other, 20, lock, 2);
    ck_assert(wc_notify(other, 21, cond, lock, 1, 1));
    expect_wrong_server(other, 21, lock, 2);
    ck_assert(wc_notify_all(other, 22, cond, lock, 1));
    expect_wrong_server(other, 22, lock, 2);
    wc_close(home);
    wc_close(other);
}
END_TEST

START_TEST(test_release_ping_list_stats_are_never_refused)
{
    char name[32];
    name_on(1, "rel", name, sizeof name);
    struct wc *w = wc_session(cl.d[0].port, "check_cluster");
    ck_assert(w != NULL);
    /* Not held here: the engine's answer (NOT_OWNER), not WRONG_SERVER. */
    ck_assert(wc_release(w, 10, name, 1));
    ck_assert_int_eq(status_of(w, 10), CONDD__V1__STATUS__STATUS_NOT_OWNER);
    ck_assert(wc_ping(w, 11));
    ck_assert_int_eq(status_of(w, 11), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wc_list(w, 12, name));
    ck_assert_int_eq(status_of(w, 12), CONDD__V1__STATUS__STATUS_OK);
    ck_assert(wc_cancel(w, 13, 999));
    ck_assert_int_eq(status_of(w, 13), CONDD__V1__STATUS__STATUS_NOT_FOUND);
    ck_assert_uint_eq(stats_wrong_server(w, 14), 0);
    wc_close(w);
}
END_TEST

START_TEST(test_a_client_with_a_shorter_list_is_refused_loudly)
{
    /* A client that knows only the first two servers sends the names the third owns to one of
     * them: each is refused, naming the third, and no second lock is taken. */
    struct route_list two;
    char why[256], list2[160];
    snprintf(list2, sizeof list2, "%s,%s", cl.d[0].addr, cl.d[1].addr);
    ck_assert(route_list_parse(list2, 7380, &two, why, sizeof why));
    struct wc *w[2];
    for (int i = 0; i < 2; i++)
        ck_assert((w[i] = wc_session(cl.d[i].port, "check_cluster")) != NULL);
    int refused = 0;
    for (int k = 0; k < 30; k++) {
        char name[32];
        snprintf(name, sizeof name, "short-%d", k);
        size_t mine = route_pick(&two, (const uint8_t *)name, strlen(name));
        size_t real = owner_of(name);
        /* Rendezvous hashing: a name the two agree on is one the third does not take. */
        ck_assert(real == mine || real == 2);
        ck_assert(wc_acquire(w[mine], 100 + (uint64_t)k, name, 1, 0));
        if (real == mine) {
            ck_assert_int_eq(status_of(w[mine], 100 + (uint64_t)k), CONDD__V1__STATUS__STATUS_OK);
        } else {
            expect_wrong_server(w[mine], 100 + (uint64_t)k, name, 2);
            refused++;
        }
    }
    ck_assert_int_gt(refused, 0);
    route_list_free(&two);
    wc_close(w[0]);
    wc_close(w[1]);
}
END_TEST

/* ------------------------------------------------------------------ settings and reload */

static void expect_exit_2(const char *const *args, const char *reason)
{
    struct proc p;
    proc_init(&p);
    proc_condd(&p, args, NULL);
    int st = proc_wait_exit(&p, START_TIMEOUT);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "exit status %#x", st);
    ck_assert_msg(proc_log_has(&p, reason), "no '%s' in:\n%s", reason, proc_log(&p));
    proc_cleanup(&p);
}

START_TEST(test_bad_cluster_settings_exit_2_with_a_reason)
{
    const char *only_list[] = {"--listen", "127.0.0.1:0", "--cluster", "a:1,b:2", NULL};
    expect_exit_2(only_list, "condd: cluster is set without cluster-self: give both or neither");
    const char *only_self[] = {"--listen", "127.0.0.1:0", "--cluster-self", "a:1", NULL};
    expect_exit_2(only_self, "condd: cluster-self is set without cluster");
    const char *not_in[] = {"--listen",       "127.0.0.1:0", "--cluster", "a:1,b:2",
                            "--cluster-self", "c:3",         NULL};
    expect_exit_2(not_in, "condd: cluster-self 'c:3' is not in the cluster list 'a:1,b:2'");
    const char *twice[] = {"--listen", "127.0.0.1:0", "--cluster", "a:1,A:1", NULL};
    expect_exit_2(twice, "condd: --cluster: server 'A:1' is twice in the list");
    const char *empty[] = {"--listen", "127.0.0.1:0", "--cluster", "a:1,,b:2", NULL};
    expect_exit_2(empty, "condd: --cluster: empty entry in server list");
    const char *bad_self[] = {"--listen", "127.0.0.1:0", "--cluster-self", "a:99999", NULL};
    expect_exit_2(bad_self, "condd: --cluster-self: 'a:99999' is not a server address");
}
END_TEST

/* Polls until name gets status want from a new session on port (a reload has taken effect). */
struct reload_wait {
    int port;
    const char *name;
    int want;
};

static bool reload_seen(void *arg)
{
    struct reload_wait *rw = arg;
    struct wc *w = wc_session(rw->port, "check_cluster");
    if (w == NULL)
        return false;
    int st = wc_acquire(w, 5, rw->name, 1, 0) ? wc_status(w, 5, WC_TIMEOUT) : -1;
    wc_close(w);
    return st == rw->want;
}

START_TEST(test_reload_adds_a_server_held_names_stay_releasable)
{
    /* Identities need not be addresses this test listens on: s1 is this daemon's name in the
     * list, as clients would write it. */
    struct route_list three;
    char why[128];
    ck_assert(route_list_parse("s1:7380,s2:7380,s3:7380", 7380, &three, why, sizeof why));
    char moved[32] = "", stays[32] = "";
    struct route_list two;
    ck_assert(route_list_parse("s1:7380,s2:7380", 7380, &two, why, sizeof why));
    for (int i = 0; i < 10000 && (moved[0] == '\0' || stays[0] == '\0'); i++) {
        char n[32];
        snprintf(n, sizeof n, "mv-%d", i);
        size_t a = route_pick(&two, (const uint8_t *)n, strlen(n));
        size_t b = route_pick(&three, (const uint8_t *)n, strlen(n));
        if (a == 0 && b == 2 && moved[0] == '\0')
            snprintf(moved, sizeof moved, "%s", n);
        if (a == 0 && b == 0 && stays[0] == '\0')
            snprintf(stays, sizeof stays, "%s", n);
    }
    ck_assert(moved[0] != '\0' && stays[0] != '\0');

    struct proc p;
    proc_init(&p);
    write_file(p.conf, "cluster = s1:7380, s2:7380\ncluster-self = s1:7380\n");
    const char *args[] = {"--config",    p.conf,     "--listen", "127.0.0.1:0",
                          "--port-file", p.portfile, NULL};
    proc_condd(&p, args, NULL);
    ck_assert(proc_wait_port(&p, NULL));
    struct wc *w = wc_session(p.port, "check_cluster");
    ck_assert(w != NULL);
    ck_assert(wc_acquire(w, 10, moved, 1, 0));
    ck_assert_int_eq(status_of(w, 10), CONDD__V1__STATUS__STATUS_OK);
    Condd__V1__Request req = CONDD__V1__REQUEST__INIT;
    Condd__V1__SemAcquire sa = CONDD__V1__SEM_ACQUIRE__INIT;
    sa.name.data = (uint8_t *)moved;
    sa.name.len = strlen(moved);
    sa.value = 2;
    req.id = 11;
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_ACQUIRE;
    req.sem_acquire = &sa;
    ck_assert(wc_send(w, &req));
    ck_assert_int_eq(status_of(w, 11), CONDD__V1__STATUS__STATUS_OK);

    write_file(p.conf, "cluster = s1:7380, s2:7380, s3:7380\ncluster-self = s1:7380\n");
    proc_signal(&p, SIGHUP);
    proc_wait_log(&p, "reload: cluster changed");
    struct reload_wait rw = {p.port, moved, CONDD__V1__STATUS__STATUS_WRONG_SERVER};
    ck_assert(tu_wait_until(reload_seen, &rw, 20.0));

    /* A new Acquire of the moved name is refused, naming s3; what is held can still be let go:
     * the lock by Release, the semaphore's permit by SemRelease (a holder's is no post). */
    ck_assert(wc_acquire(w, 20, moved, 2, 0));
    Condd__V1__Response *r = reply(w, 20);
    ck_assert_int_eq(r->status, CONDD__V1__STATUS__STATUS_WRONG_SERVER);
    char want[128];
    snprintf(want, sizeof want, "'%s' routes to s3:7380 (cluster of 3)", moved);
    ck_assert_str_eq(r->message, want);
    condd__v1__response__free_unpacked(r, NULL);
    ck_assert(wc_release(w, 21, moved, 1));
    ck_assert_int_eq(status_of(w, 21), CONDD__V1__STATUS__STATUS_OK);
    Condd__V1__SemRelease sr = CONDD__V1__SEM_RELEASE__INIT;
    sr.name = sa.name;
    sr.value = 2;
    req.id = 22;
    req.body_case = CONDD__V1__REQUEST__BODY_SEM_RELEASE;
    req.sem_release = &sr;
    ck_assert(wc_send(w, &req));
    ck_assert_int_eq(status_of(w, 22), CONDD__V1__STATUS__STATUS_OK);
    /* Not held any more: a second SemRelease would be a post, and is refused. */
    req.id = 23;
    ck_assert(wc_send(w, &req));
    ck_assert_int_eq(status_of(w, 23), CONDD__V1__STATUS__STATUS_WRONG_SERVER);
    /* A name that stayed is served as before. */
    ck_assert(wc_acquire(w, 24, stays, 1, 0));
    ck_assert_int_eq(status_of(w, 24), CONDD__V1__STATUS__STATUS_OK);

    /* A reload to a list without this server fails whole, and the old list stays. */
    write_file(p.conf, "cluster = s2:7380, s3:7380\ncluster-self = s1:7380\n");
    proc_signal(&p, SIGHUP);
    proc_wait_log(&p, "reload failed: cluster-self 's1:7380' is not in the cluster list");
    ck_assert(wc_acquire(w, 30, moved, 3, 0));
    ck_assert_int_eq(status_of(w, 30), CONDD__V1__STATUS__STATUS_WRONG_SERVER);
    ck_assert(wc_ping(w, 31));
    ck_assert_int_eq(status_of(w, 31), CONDD__V1__STATUS__STATUS_OK);

    wc_close(w);
    route_list_free(&two);
    route_list_free(&three);
    proc_stop_clean(&p);
    proc_cleanup(&p);
}
END_TEST

static Suite *cluster_suite(void)
{
    Suite *s = suite_create("cluster");
    TCase *tc = tcase_create("three");
    tcase_add_checked_fixture(tc, cluster_setup, cluster_teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_each_name_is_served_only_by_its_server);
    tcase_add_test(tc, test_every_kind_of_name_is_checked);
    tcase_add_test(tc, test_condition_goes_to_the_server_of_its_lock);
    tcase_add_test(tc, test_release_ping_list_stats_are_never_refused);
    tcase_add_test(tc, test_a_client_with_a_shorter_list_is_refused_loudly);
    suite_add_tcase(s, tc);
    tc = tcase_create("settings");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_bad_cluster_settings_exit_2_with_a_reason);
    tcase_add_test(tc, test_reload_adds_a_server_held_names_stay_releasable);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    SRunner *sr = srunner_create(cluster_suite());
    srunner_run_all(sr, CK_ENV);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
