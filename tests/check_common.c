/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The helpers in common/ that the daemon, libcondd, condctl and condbench share: the address
 * grammar (connect and listen forms), the seconds-to-timeval rounding rule (never early), the
 * clocks, the message arena, the rule for lock and condition names, and the routing of names
 * over several servers (its test vectors are protocol.md §21's, computed with Python's hashlib).
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "arena.h"
#include "clock.h"
#include "name.h"
#include "route.h"

/* ------------------------------------------------------------------ addresses */

START_TEST(test_addr_split_accepts_every_documented_form)
{
    struct addr_parts p;
    ck_assert(addr_split("127.0.0.1:7381", 0, 7380, &p));
    ck_assert_int_eq(p.kind, ADDR_TCP);
    ck_assert_str_eq(p.host, "127.0.0.1");
    ck_assert_int_eq(p.port, 7381);
    ck_assert(addr_split("localhost", 0, 7380, &p));
    ck_assert_str_eq(p.host, "localhost");
    ck_assert_int_eq(p.port, 7380);
    ck_assert(addr_split("[::1]:99", 0, 7380, &p));
    ck_assert_str_eq(p.host, "::1");
    ck_assert_int_eq(p.port, 99);
    ck_assert(addr_split("[fe80::1%lo]", 0, 7380, &p));
    ck_assert_str_eq(p.host, "fe80::1%lo");
    ck_assert_int_eq(p.port, 7380);
    ck_assert(addr_split("unix:/run/condd.sock", 0, 7380, &p));
    ck_assert_int_eq(p.kind, ADDR_UNIX);
    ck_assert_str_eq(p.path, "/run/condd.sock");
    ck_assert(addr_split("host.example:65535", 0, 7380, &p));
    ck_assert_int_eq(p.port, 65535);
}
END_TEST

START_TEST(test_addr_split_tls_prefix_for_clients_only)
{
    struct addr_parts p;
    ck_assert(addr_split("127.0.0.1:7381", 0, 7380, &p));
    ck_assert(!p.tls);
    ck_assert(addr_split("tls:db.example:7381", 0, 7380, &p));
    ck_assert(p.tls);
    ck_assert_int_eq(p.kind, ADDR_TCP);
    ck_assert_str_eq(p.host, "db.example");
    ck_assert_int_eq(p.port, 7381);
    ck_assert(addr_split("tls:[::1]:99", 0, 7380, &p));
    ck_assert(p.tls);
    ck_assert_str_eq(p.host, "::1");
    ck_assert(addr_split("tls:localhost", 0, 7380, &p));
    ck_assert_int_eq(p.port, 7380);
    ck_assert(!addr_split("tls:unix:/run/condd.sock", 0, 7380, &p));
    ck_assert(!addr_split("tls:", 0, 7380, &p));
    ck_assert(!addr_split("tls:tls:host:1", 0, 7380, &p));
    /* Listeners say TLS with their own setting (--listen-tls), not in the address. */
    ck_assert(!addr_split("tls:127.0.0.1:0", ADDR_LISTEN, 0, &p));
}
END_TEST

START_TEST(test_addr_split_rejects_malformed_strings)
{
    static const char *const bad[] = {
        "",         ":7380", "host:",    "host:0",  "host:65536",  "host:12a", "host:-1",
        "host:+80", "::1",   "[::1",     "[]:5",    "[::1]x",      "[::1]:",   "[127.0.0.1]:5",
        "unix:",    "a b:1", "host:1:2", "ho/st:1", "host:123456", "h\tost:1", "[::1\x7f]:5",
    };
    struct addr_parts p;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(!addr_split(bad[i], 0, 7380, &p), "accepted '%s'", bad[i]);
    ck_assert(!addr_split(NULL, 0, 7380, &p));
    char longpath[300];
    memset(longpath, 'x', sizeof longpath);
    memcpy(longpath, "unix:/", 6);
    longpath[sizeof longpath - 1] = '\0';
    ck_assert(!addr_split(longpath, 0, 7380, &p));
    char longhost[300];
    memset(longhost, 'h', sizeof longhost);
    longhost[sizeof longhost - 1] = '\0';
    ck_assert(!addr_split(longhost, 0, 7380, &p));
}
END_TEST

START_TEST(test_addr_split_listen_needs_a_port_and_takes_zero)
{
    struct addr_parts p;
    ck_assert(addr_split("127.0.0.1:0", ADDR_LISTEN, 0, &p));
    ck_assert_int_eq(p.port, 0);
    ck_assert(addr_split("[::1]:7380", ADDR_LISTEN, 0, &p));
    ck_assert_str_eq(p.host, "::1");
    ck_assert_int_eq(p.port, 7380);
    ck_assert(!addr_split("127.0.0.1", ADDR_LISTEN, 0, &p));
    ck_assert(!addr_split("[::1]", ADDR_LISTEN, 0, &p));
    ck_assert(!addr_split("unix:/tmp/x.sock", ADDR_LISTEN, 0, &p));
    ck_assert(!addr_split("127.0.0.1:65536", ADDR_LISTEN, 0, &p));
}
END_TEST

/* ------------------------------------------------------------------ clocks */

START_TEST(test_timeval_rounds_up_to_the_next_microsecond)
{
    struct timeval tv = clk_timeval(1.5);
    ck_assert_int_eq(tv.tv_sec, 1);
    ck_assert_int_eq(tv.tv_usec, 500000);
    tv = clk_timeval(0.0000001); /* 0.1 us: never rounded down to "now" */
    ck_assert_int_eq(tv.tv_sec, 0);
    ck_assert_int_eq(tv.tv_usec, 1);
    tv = clk_timeval(2.9999999); /* the carry into seconds */
    ck_assert_int_eq(tv.tv_sec, 3);
    ck_assert_int_eq(tv.tv_usec, 0);
    /* Every interval is at least the time asked for. */
    for (int i = 0; i < 100000; i++) {
        double s = (double)i * 0.0000137;
        tv = clk_timeval(s);
        ck_assert_int_lt(tv.tv_usec, 1000000);
        ck_assert_msg((double)tv.tv_sec + (double)tv.tv_usec / 1e6 >= s - 1e-12, "early for %.9f",
                      s);
        ck_assert_msg((double)tv.tv_sec + (double)tv.tv_usec / 1e6 <= s + 1.000001e-6,
                      "more than 1 us late for %.9f", s);
    }
}
END_TEST

START_TEST(test_timeval_of_negative_nan_and_huge)
{
    struct timeval tv = clk_timeval(-1.0);
    ck_assert(tv.tv_sec == 0 && tv.tv_usec == 0);
    tv = clk_timeval(NAN);
    ck_assert(tv.tv_sec == 0 && tv.tv_usec == 0);
    tv = clk_timeval(1e300);
    ck_assert(tv.tv_sec > (time_t)1e15);
    ck_assert_int_eq(tv.tv_usec, 0);
}
END_TEST

START_TEST(test_clocks_agree_and_do_not_go_back)
{
    uint64_t us0 = clk_mono_us();
    uint64_t ns0 = clk_mono_ns();
    double s0 = clk_mono();
    uint64_t us1 = clk_mono_us();
    ck_assert_uint_ge(us1, us0);
    ck_assert(fabs(s0 - (double)ns0 / 1e9) < 1.0);
    ck_assert(fabs(clk_mono_coarse() - s0) < 1.0);
    ck_assert_uint_gt(clk_real_us(), (uint64_t)1600000000 * 1000000u); /* after 2020 */
}
END_TEST

/* ------------------------------------------------------------------ names */

static enum name_problem check_str(const char *s, size_t *at, uint32_t *cp)
{
    return name_check((const uint8_t *)s, strlen(s), at, cp);
}

START_TEST(test_name_check_accepts_what_the_server_accepts)
{
    ck_assert_int_eq(check_str("a", NULL, NULL), NAME_VALID);
    ck_assert_int_eq(check_str("jobs/7 nightly-backup", NULL, NULL), NAME_VALID);
    ck_assert_int_eq(check_str("r\xc3\xa9sum\xc3\xa9-\xe9\x94\x81", NULL, NULL), NAME_VALID);
    ck_assert_int_eq(check_str("\xf0\x9f\x94\x92 \xf4\x8f\xbf\xbf", NULL, NULL), NAME_VALID);
    ck_assert_int_eq(check_str("\xc2\xa0", NULL, NULL), NAME_VALID); /* U+00A0: not C1 */
    char buf[NAME_MAX_BYTES + 2];
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(name_check((const uint8_t *)buf, NAME_MAX_BYTES, NULL, NULL), NAME_VALID);
}
END_TEST

START_TEST(test_name_check_names_each_problem_and_where)
{
    size_t at = 99;
    uint32_t cp = 99;
    ck_assert_int_eq(check_str("", &at, NULL), NAME_EMPTY);
    ck_assert_int_eq(name_check(NULL, 3, NULL, NULL), NAME_EMPTY);

    char buf[NAME_MAX_BYTES + 2];
    memset(buf, 'x', sizeof buf);
    ck_assert_int_eq(name_check((const uint8_t *)buf, NAME_MAX_BYTES + 1, &at, NULL),
                     NAME_TOO_LONG);
    ck_assert_uint_eq(at, NAME_MAX_BYTES);

    ck_assert_int_eq(check_str("ab\x01", &at, &cp), NAME_CONTROL);
    ck_assert_uint_eq(at, 2);
    ck_assert_uint_eq(cp, 1);
    ck_assert_int_eq(check_str("tab\there", &at, &cp), NAME_CONTROL);
    ck_assert_uint_eq(cp, '\t');
    ck_assert_int_eq(check_str("del\x7f", &at, &cp), NAME_CONTROL);
    ck_assert_uint_eq(cp, 0x7f);
    ck_assert_int_eq(check_str("c1\xc2\x85", &at, &cp), NAME_CONTROL); /* U+0085 NEL */
    ck_assert_uint_eq(at, 2);
    ck_assert_uint_eq(cp, 0x85);
    ck_assert_int_eq(name_check((const uint8_t *)"a\0b", 3, &at, &cp), NAME_CONTROL);
    ck_assert_uint_eq(at, 1);

    static const char *const bad_utf8[] = {
        "\x80",             /* lone continuation byte */
        "\xc0\xaf",         /* overlong lead */
        "\xe0\x80\xaf",     /* overlong 3-byte form */
        "\xed\xa0\x80",     /* surrogate U+D800 */
        "\xf4\x90\x80\x80", /* above U+10FFFF */
        "\xf5\x80\x80\x80", /* lead byte beyond U+10FFFF */
        "\xff",             /* never valid */
        "ok\xc3",           /* truncated */
        "ok\xe9\x94x",      /* bad continuation */
    };
    for (size_t i = 0; i < sizeof bad_utf8 / sizeof bad_utf8[0]; i++)
        ck_assert_msg(check_str(bad_utf8[i], NULL, NULL) == NAME_BAD_UTF8, "case %zu", i);
    ck_assert_int_eq(check_str("ok\xc3", &at, NULL), NAME_BAD_UTF8);
    ck_assert_uint_eq(at, 2);

    for (int p = NAME_VALID; p <= NAME_CONTROL; p++)
        ck_assert(name_problem_text((enum name_problem)p)[0] != '\0');
}
END_TEST

/* ------------------------------------------------------------------ arena */

START_TEST(test_arena_serves_from_buffer_then_falls_back)
{
    _Alignas(16) unsigned char buf[256];
    struct arena a;
    ProtobufCAllocator alloc;
    arena_init(&a, buf, sizeof buf);
    arena_allocator_init(&alloc, &a);
    void *p1 = alloc.alloc(alloc.allocator_data, 10);
    void *p2 = alloc.alloc(alloc.allocator_data, 100);
    ck_assert_ptr_eq(p1, buf);
    ck_assert_ptr_eq(p2, buf + 16); /* 16-byte alignment */
    ck_assert(arena_all_inside(&a));
    void *big = alloc.alloc(alloc.allocator_data, 200); /* does not fit what is left */
    ck_assert_ptr_nonnull(big);
    ck_assert((unsigned char *)big < buf || (unsigned char *)big >= buf + sizeof buf);
    ck_assert(!arena_all_inside(&a));
    memset(big, 0x5a, 200);
    alloc.free(alloc.allocator_data, big); /* a real free: ASan would see a leak otherwise */
    alloc.free(alloc.allocator_data, p1);  /* inside: a no-op */
    arena_reset(&a);
    ck_assert(arena_all_inside(&a));
    ck_assert_ptr_eq(alloc.alloc(alloc.allocator_data, 1), buf);
}
END_TEST

/* ------------------------------------------------------------------ routing */

START_TEST(test_route_weight_matches_the_documented_vectors)
{
    /* protocol.md §21: computed independently with Python's hashlib.blake2b(digest_size=16,
     * key=b"condd.v1 routing"), first 8 bytes little-endian. */
    static const struct {
        const char *name;
        uint64_t w[3];
        size_t pick;
    } v[] = {
        {"jobs", {0x98bdc91934f26c41u, 0x3c996f9e0d31aa9fu, 0x76c2b6f7543c179bu}, 0},
        {"orders/42", {0x2cfc4f9fcebc21d2u, 0xb368c6d2a1b1c1e8u, 0x3901b34576772f16u}, 1},
        {"x", {0x2a2d586f9f0c6264u, 0xacaad778f2fa6437u, 0x07297c5293752506u}, 1},
        {"\xc3\xa9t\xc3\xa9", {0x46fb22b52d41ac70u, 0x192c08cda4bf3068u, 0x37cf3db1e6beeb02u}, 0},
        {"lock-0001", {0x100d3f5006883212u, 0xda9e0ece2b5968dbu, 0x102bffe34390b196u}, 1},
    };
    static const char *ids[3] = {"10.0.0.1:7380", "10.0.0.2:7380", "10.0.0.3:7380"};
    struct route_list l;
    char why[128];
    ck_assert(
        route_list_parse("10.0.0.1:7380, 10.0.0.2,tls:10.0.0.3:7380", 7380, &l, why, sizeof why));
    ck_assert_uint_eq(l.n, 3);
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++) {
        for (size_t s = 0; s < 3; s++) {
            ck_assert_str_eq(l.ident[s], ids[s]);
            ck_assert_uint_eq(
                route_weight((const uint8_t *)v[i].name, strlen(v[i].name), ids[s], strlen(ids[s])),
                v[i].w[s]);
        }
        ck_assert_uint_eq(route_pick(&l, (const uint8_t *)v[i].name, strlen(v[i].name)), v[i].pick);
    }
    ck_assert_str_eq(l.addr[2], "tls:10.0.0.3:7380");
    route_list_free(&l);
}
END_TEST

START_TEST(test_route_identity_is_canonical)
{
    char id[ROUTE_IDENT_MAX];
    ck_assert(route_identity("Alpha.Example", 7380, id, sizeof id));
    ck_assert_str_eq(id, "alpha.example:7380");
    ck_assert(route_identity("tls:[::1]:7390", 7380, id, sizeof id));
    ck_assert_str_eq(id, "[::1]:7390");
    ck_assert(route_identity("[::1]", 7380, id, sizeof id));
    ck_assert_str_eq(id, "[::1]:7380");
    ck_assert(route_identity("unix:/run/condd/Sock", 7380, id, sizeof id));
    ck_assert_str_eq(id, "unix:/run/condd/Sock");
    ck_assert(!route_identity("a:99999", 7380, id, sizeof id));
    ck_assert(!route_identity("", 7380, id, sizeof id));
    ck_assert(!route_identity("127.0.0.1:7380", 7380, id, 8));
}
END_TEST

START_TEST(test_route_list_refuses_bad_lists_with_a_reason)
{
    struct route_list l;
    char why[128];
    ck_assert(!route_list_parse("", 7380, &l, why, sizeof why));
    ck_assert_str_eq(why, "empty server list");
    ck_assert(!route_list_parse("a:1,,b:2", 7380, &l, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "empty entry"));
    ck_assert(!route_list_parse("a:1,b:x", 7380, &l, why, sizeof why));
    ck_assert_str_eq(why, "bad address 'b:x' in server list");
    ck_assert(!route_list_parse("a:7380,A", 7380, &l, why, sizeof why));
    ck_assert_str_eq(why, "server 'A' is twice in the list");
    ck_assert(!route_list_parse("a:1,tls:a:1", 7380, &l, why, sizeof why));
    ck_assert_uint_eq(l.n, 0);
    char big[ROUTE_MAX_SERVERS * 8 + 16] = "";
    for (int i = 0; i <= ROUTE_MAX_SERVERS; i++)
        snprintf(big + strlen(big), sizeof big - strlen(big), "%sh:%d", i ? "," : "", i + 1);
    ck_assert(!route_list_parse(big, 7380, &l, why, sizeof why));
    ck_assert_ptr_nonnull(strstr(why, "more than"));
    ck_assert(route_list_parse(" one ", 7380, &l, why, sizeof why));
    ck_assert_uint_eq(l.n, 1);
    ck_assert_str_eq(l.addr[0], "one");
    ck_assert_int_eq(route_find(&l, "ONE:7380", 7380), 0);
    ck_assert_int_eq(route_find(&l, "one:7381", 7380), -1);
    ck_assert_uint_eq(route_pick(&l, (const uint8_t *)"anything", 8), 0);
    route_list_free(&l);
}
END_TEST

START_TEST(test_route_adding_a_server_moves_names_only_to_it)
{
    /* Rendezvous hashing's promise (§21): a name moves only to the new server, never between
     * the old ones, and about 1/N of the names move. */
    struct route_list three, four;
    char why[128];
    ck_assert(route_list_parse("h1:7380,h2:7380,h3:7380", 7380, &three, why, sizeof why));
    ck_assert(route_list_parse("h1:7380,h2:7380,h3:7380,h4:7380", 7380, &four, why, sizeof why));
    unsigned moved = 0, per[3] = {0, 0, 0};
    const unsigned n = 20000;
    for (unsigned i = 0; i < n; i++) {
        char name[32];
        int len = snprintf(name, sizeof name, "name-%u", i);
        size_t a = route_pick(&three, (const uint8_t *)name, (size_t)len);
        size_t b = route_pick(&four, (const uint8_t *)name, (size_t)len);
        per[a]++;
        if (a != b) {
            ck_assert_uint_eq(b, 3);
            moved++;
        }
    }
    /* Binomial(20000, 1/4): mean 5000, sd 61; 4.9 sd either way. */
    ck_assert_uint_gt(moved, 4700);
    ck_assert_uint_lt(moved, 5300);
    for (int s = 0; s < 3; s++) { /* mean 6667, sd 67 */
        ck_assert_uint_gt(per[s], 6300);
        ck_assert_uint_lt(per[s], 7030);
    }
    route_list_free(&three);
    route_list_free(&four);
}
END_TEST

static Suite *common_suite(void)
{
    Suite *s = suite_create("common");
    TCase *tc = tcase_create("helpers");
    tcase_add_test(tc, test_addr_split_accepts_every_documented_form);
    tcase_add_test(tc, test_addr_split_tls_prefix_for_clients_only);
    tcase_add_test(tc, test_addr_split_rejects_malformed_strings);
    tcase_add_test(tc, test_addr_split_listen_needs_a_port_and_takes_zero);
    tcase_add_test(tc, test_timeval_rounds_up_to_the_next_microsecond);
    tcase_add_test(tc, test_timeval_of_negative_nan_and_huge);
    tcase_add_test(tc, test_clocks_agree_and_do_not_go_back);
    tcase_add_test(tc, test_arena_serves_from_buffer_then_falls_back);
    tcase_add_test(tc, test_name_check_accepts_what_the_server_accepts);
    tcase_add_test(tc, test_name_check_names_each_problem_and_where);
    tcase_add_test(tc, test_route_weight_matches_the_documented_vectors);
    tcase_add_test(tc, test_route_identity_is_canonical);
    tcase_add_test(tc, test_route_list_refuses_bad_lists_with_a_reason);
    tcase_add_test(tc, test_route_adding_a_server_moves_names_only_to_it);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(common_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
