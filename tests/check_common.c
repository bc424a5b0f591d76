/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The helpers in common/ that the daemon, libcondd, condctl and condbench share: the address
 * grammar (connect and listen forms), the seconds-to-timeval rounding rule (never early), the
 * clocks, the message arena, and the rule for lock and condition names.
 */
#include "config.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "arena.h"
#include "clock.h"
#include "name.h"

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
