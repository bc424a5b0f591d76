/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The helpers in common/ that the daemon, libcondd, condctl and condbench share: the address
 * grammar (connect and listen forms), the seconds-to-timeval rounding rule (never early), the
 * clocks, and the message arena.
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
    tcase_add_test(tc, test_addr_split_rejects_malformed_strings);
    tcase_add_test(tc, test_addr_split_listen_needs_a_port_and_takes_zero);
    tcase_add_test(tc, test_timeval_rounds_up_to_the_next_microsecond);
    tcase_add_test(tc, test_timeval_of_negative_nan_and_huge);
    tcase_add_test(tc, test_clocks_agree_and_do_not_go_back);
    tcase_add_test(tc, test_arena_serves_from_buffer_then_falls_back);
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
