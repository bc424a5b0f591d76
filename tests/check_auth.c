/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The auth file and token format (daemon/auth.c), driven directly: every statement of the
 * grammar, each mistake refused with its line number and without the file's hashes in the
 * message, token hashing and the --new-token format, the lookups by token, peer and
 * certificate, and how rules combine (levels include each other, prefixes, kinds, anonymous and
 * "*"). The daemon's use of it over the wire is in check_authn.c.
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static char auth_path[64];

/* Writes text to a fresh temporary file and loads it; err gets the message on failure. */
static struct auth_db *load_text(const char *text, char *err, size_t errlen)
{
    snprintf(auth_path, sizeof auth_path, "/tmp/check-auth-XXXXXX");
    int fd = mkstemp(auth_path);
    ck_assert_int_ge(fd, 0);
    size_t n = strlen(text);
    ck_assert_int_eq(write(fd, text, n), (ssize_t)n);
    close(fd);
    struct auth_db *db = auth_load(auth_path, err, errlen);
    unlink(auth_path);
    return db;
}

static const char *tok_a = "condd_tokenAAAAAAAAAAAAAAAAAAAA";
static const char *tok_b = "condd_tokenBBBBBBBBBBBBBBBBBBBB";

/* A file with two token principals, a uid, a gid and a cert principal, and rules for each. */
static struct auth_db *sample_db(void)
{
    char ha[AUTH_HASH_TEXT_LEN], hb[AUTH_HASH_TEXT_LEN], text[1024], err[256];
    ck_assert(auth_hash_token((const uint8_t *)tok_a, strlen(tok_a), ha));
    ck_assert(auth_hash_token((const uint8_t *)tok_b, strlen(tok_b), hb));
    snprintf(text, sizeof text,
             "# a comment line\n"
             "principal alice token %s   # trailing comment\n"
             "principal bob token %s\n"
             "principal ops uid 0\n"
             "principal staff gid 50\n"
             "principal web cert CN=web.example,O=Example\n"
             "\n"
             "allow alice use lock jobs/\n"
             "allow alice read * \n"
             "allow bob admin sem \"with space/\"\n"
             "allow ops admin *\n"
             "allow * read event pub.\n"
             "allow anonymous read lock open/\n",
             ha, hb);
    struct auth_db *db = load_text(text, err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    return db;
}

/* Computed independently with Python: hashlib.blake2b(token, digest_size=32,
 * key=b"condd.v1 token hash"). */
#define AUTH_TEST_VECTOR "b2:29287fff6710b4dd49724d4f2c22170d5bf770109fcc4ff476d5533c2a90a7a7"

#define N(s) (const uint8_t *)(s), strlen(s)

START_TEST(test_tokens_map_to_their_principal)
{
    struct auth_db *db = sample_db();
    ck_assert_str_eq(auth_by_token(db, N(tok_a)), "alice");
    ck_assert_str_eq(auth_by_token(db, N(tok_b)), "bob");
    ck_assert_ptr_null(auth_by_token(db, N("condd_tokenCCCCCCCCCCCCCCCCCCCC")));
    ck_assert_ptr_null(auth_by_token(db, (const uint8_t *)tok_a, strlen(tok_a) - 1));
    ck_assert_ptr_null(auth_by_token(db, N("")));
    auth_free(db);
}
END_TEST

START_TEST(test_peer_uid_wins_over_gid)
{
    struct auth_db *db = sample_db();
    ck_assert_str_eq(auth_by_peer(db, 0, 50), "ops");
    ck_assert_str_eq(auth_by_peer(db, 1000, 50), "staff");
    ck_assert_ptr_null(auth_by_peer(db, 1000, 1000));
    ck_assert_str_eq(auth_by_cert(db, "CN=web.example,O=Example"), "web");
    ck_assert_ptr_null(auth_by_cert(db, "CN=web.example"));
    auth_free(db);
}
END_TEST

START_TEST(test_levels_prefixes_and_kinds)
{
    struct auth_db *db = sample_db();
    /* use includes read; the wildcard read rule covers every kind and name */
    ck_assert_int_eq(auth_level(db, "alice", AUTH_KIND_LOCK, N("jobs/1")), AUTH_USE);
    ck_assert_int_eq(auth_level(db, "alice", AUTH_KIND_LOCK, N("other")), AUTH_READ);
    ck_assert_int_eq(auth_level(db, "alice", AUTH_KIND_SEM, N("jobs/1")), AUTH_READ);
    /* a name shorter than the prefix, and the prefix itself */
    ck_assert_int_eq(auth_level(db, "alice", AUTH_KIND_LOCK, N("jobs")), AUTH_READ);
    ck_assert_int_eq(auth_level(db, "alice", AUTH_KIND_LOCK, N("jobs/")), AUTH_USE);
    /* quoted prefix with a space */
    ck_assert_int_eq(auth_level(db, "bob", AUTH_KIND_SEM, N("with space/x")), AUTH_ADMIN);
    ck_assert_int_eq(auth_level(db, "bob", AUTH_KIND_SEM, N("with")), AUTH_NONE);
    ck_assert_int_eq(auth_level(db, "bob", AUTH_KIND_LOCK, N("with space/x")), AUTH_NONE);
    /* "*" is every authenticated principal, never anonymous */
    ck_assert_int_eq(auth_level(db, "bob", AUTH_KIND_EVENT, N("pub.x")), AUTH_READ);
    ck_assert_int_eq(auth_level(db, NULL, AUTH_KIND_EVENT, N("pub.x")), AUTH_NONE);
    ck_assert_int_eq(auth_level(db, NULL, AUTH_KIND_LOCK, N("open/1")), AUTH_READ);
    ck_assert_int_eq(auth_level(db, "bob", AUTH_KIND_LOCK, N("open/1")), AUTH_NONE);
    /* admin on every kind */
    for (int k = 0; k < AUTH_KIND_COUNT; k++)
        ck_assert_int_eq(auth_level(db, "ops", (enum auth_kind)k, N("x")), AUTH_ADMIN);
    ck_assert_int_eq(auth_level(db, "nobody", AUTH_KIND_LOCK, N("jobs/1")), AUTH_NONE);
    ck_assert(auth_has_any(db, "bob", AUTH_ADMIN));
    ck_assert(!auth_has_any(db, "alice", AUTH_ADMIN));
    ck_assert(auth_has_any(db, NULL, AUTH_READ));
    ck_assert(!auth_has_any(db, NULL, AUTH_USE));
    ck_assert(auth_has_any(db, "web", AUTH_READ)); /* web gets the "*" read rule */
    auth_free(db);
}
END_TEST

START_TEST(test_anonymous_defaults_to_deny)
{
    char err[256];
    struct auth_db *db = sample_db();
    ck_assert(!auth_anonymous_allowed(db));
    ck_assert(!auth_known(db, NULL));
    ck_assert(auth_known(db, "web"));
    ck_assert(!auth_known(db, "carol"));
    auth_free(db);
    db = load_text("anonymous allow\n", err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert(auth_anonymous_allowed(db));
    ck_assert(auth_known(db, NULL));
    size_t np = 9, nr = 9;
    auth_counts(db, &np, &nr);
    ck_assert_uint_eq(np, 0);
    ck_assert_uint_eq(nr, 0);
    auth_free(db);
}
END_TEST

/* '#' starts a comment only at the start of a line or after a space, never inside a word or
 * quotes: a rule or a subject must not silently become wider than written. */
START_TEST(test_hash_inside_a_word_is_not_a_comment)
{
    char err[256];
    struct auth_db *db = load_text("# comment\n"
                                   "principal ops cert CN=ops#1,O=ex   # the subject has a '#'\n"
                                   "principal bob uid 7#not-a-comment-so-refused\n",
                                   err, sizeof err);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(err, ":3: uid takes a number"));
    db = load_text("# the subject has a '#'\n"
                   "principal ops cert CN=ops#1,O=ex\n"
                   "allow ops admin lock jobs#1\n"
                   "allow ops read sem \"a # b\"  # quoted\n",
                   err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_str_eq(auth_by_cert(db, "CN=ops#1,O=ex"), "ops");
    ck_assert_ptr_null(auth_by_cert(db, "CN=ops"));
    ck_assert_int_eq(auth_level(db, "ops", AUTH_KIND_LOCK, N("jobs#1/x")), AUTH_ADMIN);
    ck_assert_int_eq(auth_level(db, "ops", AUTH_KIND_LOCK, N("jobs2")), AUTH_NONE);
    ck_assert_int_eq(auth_level(db, "ops", AUTH_KIND_SEM, N("a # b")), AUTH_READ);
    ck_assert_int_eq(auth_level(db, "ops", AUTH_KIND_SEM, N("a ")), AUTH_NONE);
    auth_free(db);
}
END_TEST

/* A cert line's subject is the rest of the line, " #" included (condd.8): "CN=team #1,O=Example"
 * is one subject, and the certificate whose subject is just "CN=team" is not that principal. */
START_TEST(test_cert_subject_is_the_rest_of_the_line_hash_included)
{
    char err[256];
    struct auth_db *db = load_text("principal ops cert CN=team #1,O=Example\n"
                                   "principal dev cert  CN=dev  # 2 \t\n"
                                   "principal web cert CN=web # comment?\n"
                                   "allow ops admin *\n",
                                   err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_str_eq(auth_by_cert(db, "CN=team #1,O=Example"), "ops");
    ck_assert_ptr_null(auth_by_cert(db, "CN=team"));
    ck_assert_str_eq(auth_by_cert(db, "CN=dev  # 2"), "dev"); /* trailing blanks dropped */
    ck_assert_ptr_null(auth_by_cert(db, "CN=dev"));
    ck_assert_str_eq(auth_by_cert(db, "CN=web # comment?"), "web");
    ck_assert_ptr_null(auth_by_cert(db, "CN=web"));
    auth_free(db);
    /* Two subjects that differ only after " #" are two subjects, not a duplicate. */
    db = load_text("principal a cert CN=team #1\nprincipal b cert CN=team #2\n", err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    ck_assert_str_eq(auth_by_cert(db, "CN=team #2"), "b");
    auth_free(db);
    /* Other lines keep their comments, also one that mentions cert after a comment. */
    db = load_text("principal c uid 5 # cert CN=x\nprincipal # cert\n", err, sizeof err);
    ck_assert_ptr_null(db);
    ck_assert_ptr_nonnull(strstr(err, ":2: expected: principal NAME"));
}
END_TEST

START_TEST(test_counts_principals_once)
{
    char err[256];
    struct auth_db *db = load_text("principal a uid 1\nprincipal a gid 2\nprincipal b uid 3\n"
                                   "allow a read *\n",
                                   err, sizeof err);
    ck_assert_msg(db != NULL, "%s", err);
    size_t np, nr;
    auth_counts(db, &np, &nr);
    ck_assert_uint_eq(np, 2);
    ck_assert_uint_eq(nr, 1);
    auth_free(db);
}
END_TEST

/* Each bad file is refused whole, with its path, the line number and a reason. */
static const struct {
    const char *text;
    unsigned line;
    const char *reason;
} bad_files[] = {
    {"bogus\n", 1, "unknown statement"},
    {"\nprincipal\n", 2, "expected: principal"},
    {"principal a token\n", 1, "b2: and 64 hex"},
    {"principal a token b2:00\n", 1, "b2: and 64 hex"},
    {"principal a token "
     "b2:zz00000000000000000000000000000000000000000000000000000000000000\n",
     1, "b2: and 64 hex"},
    {"principal a uid x\n", 1, "uid takes a number"},
    {"principal a uid -1\n", 1, "uid takes a number"},
    {"principal a uid 1\nprincipal b uid 1\n", 2, "uid 1 is already given to principal 'a'"},
    {"principal a cert\n", 1, "certificate subject"},
    {"principal a cert \"CN=team #1,O=Example\"\n", 1, "unquoted"},
    {"principal a cert #CN=x\n", 1, "attribute type"},
    {"principal a carrier pigeon\n", 1, "unknown credential"},
    {"principal anonymous uid 1\n", 1, "bad principal name"},
    {"principal a/b uid 1\n", 1, "bad principal name"},
    {"principal a uid 1 extra\n", 1, "unexpected words"},
    {"allow a read lock\n", 1, "no principal 'a'"},
    {"principal a uid 1\nallow a write lock\n", 2, "unknown level"},
    {"principal a uid 1\nallow a read door\n", 2, "unknown kind"},
    {"principal a uid 1\nallow a read lock \"open\n", 2, "unterminated"},
    {"principal a uid 1\nallow a read lock x y\n", 2, "unexpected words after the prefix"},
    {"principal a uid 1\nallow a read\n", 2, "expected: allow"},
    {"anonymous maybe\n", 1, "anonymous allow|deny"},
};

START_TEST(test_bad_files_are_refused_with_the_line)
{
    char err[256], want[128];
    struct auth_db *db = load_text(bad_files[_i].text, err, sizeof err);
    ck_assert_msg(db == NULL, "accepted: %s", bad_files[_i].text);
    snprintf(want, sizeof want, "%s:%u: ", auth_path, bad_files[_i].line);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "'%s' does not start with '%s'", err,
                  want);
    ck_assert_msg(strstr(err, bad_files[_i].reason) != NULL, "'%s' lacks '%s'", err,
                  bad_files[_i].reason);
}
END_TEST

START_TEST(test_duplicate_token_is_refused_without_showing_the_hash)
{
    char h[AUTH_HASH_TEXT_LEN], text[512], err[256];
    ck_assert(auth_hash_token(N(tok_a), h));
    snprintf(text, sizeof text, "principal a token %s\nprincipal b token %s\n", h, h);
    ck_assert_ptr_null(load_text(text, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, ":2: this token hash is already given to principal 'a'"));
    ck_assert_ptr_null(strstr(err, h + 3));
}
END_TEST

START_TEST(test_missing_file_names_the_path)
{
    char err[256];
    ck_assert_ptr_null(auth_load("/nonexistent/condd-auth", err, sizeof err));
    ck_assert_str_eq(err, "/nonexistent/condd-auth: No such file or directory");
}
END_TEST

START_TEST(test_token_hash_format_and_minimum_length)
{
    char h1[AUTH_HASH_TEXT_LEN], h2[AUTH_HASH_TEXT_LEN];
    ck_assert(!auth_hash_token(N("short"), h1));
    ck_assert(!auth_hash_token(N("fifteen-bytes!!"), h1));
    ck_assert(auth_hash_token(N("sixteen-bytes!!!"), h1));
    ck_assert_uint_eq(strlen(h1), AUTH_HASH_TEXT_LEN - 1);
    ck_assert(strncmp(h1, "b2:", 3) == 0);
    ck_assert_uint_eq(strspn(h1 + 3, "0123456789abcdef"), 64);
    /* deterministic, and different tokens differ */
    ck_assert(auth_hash_token(N("sixteen-bytes!!!"), h2));
    ck_assert_str_eq(h1, h2);
    ck_assert(auth_hash_token(N("sixteen-bytes!!?"), h2));
    ck_assert_str_ne(h1, h2);
    /* The documented vector (docs/condd.8): BLAKE2b-256 keyed with "condd.v1 token hash". */
    ck_assert(auth_hash_token(N("condd_0123456789abcdef"), h1));
    ck_assert_str_eq(h1, AUTH_TEST_VECTOR);
}
END_TEST

START_TEST(test_new_tokens_are_random_and_well_formed)
{
    char t1[AUTH_TOKEN_TEXT_LEN], t2[AUTH_TOKEN_TEXT_LEN];
    auth_new_token(t1);
    auth_new_token(t2);
    ck_assert_uint_eq(strlen(t1), AUTH_TOKEN_TEXT_LEN - 1);
    ck_assert(strncmp(t1, "condd_", 6) == 0);
    ck_assert_uint_eq(strspn(t1 + 6, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789-_"),
                      43);
    ck_assert_str_ne(t1, t2);
    char h[AUTH_HASH_TEXT_LEN];
    ck_assert(auth_hash_token(N(t1), h));
}
END_TEST

static Suite *auth_suite(void)
{
    Suite *s = suite_create("auth");
    TCase *tc = tcase_create("auth");
    tcase_add_test(tc, test_tokens_map_to_their_principal);
    tcase_add_test(tc, test_peer_uid_wins_over_gid);
    tcase_add_test(tc, test_levels_prefixes_and_kinds);
    tcase_add_test(tc, test_anonymous_defaults_to_deny);
    tcase_add_test(tc, test_counts_principals_once);
    tcase_add_test(tc, test_hash_inside_a_word_is_not_a_comment);
    tcase_add_test(tc, test_cert_subject_is_the_rest_of_the_line_hash_included);
    tcase_add_loop_test(tc, test_bad_files_are_refused_with_the_line, 0,
                        (int)(sizeof bad_files / sizeof bad_files[0]));
    tcase_add_test(tc, test_duplicate_token_is_refused_without_showing_the_hash);
    tcase_add_test(tc, test_missing_file_names_the_path);
    tcase_add_test(tc, test_token_hash_format_and_minimum_length);
    tcase_add_test(tc, test_new_tokens_are_random_and_well_formed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    if (!auth_global_init()) {
        fprintf(stderr, "check_auth: libsodium does not initialize\n");
        return EXIT_FAILURE;
    }
    SRunner *sr = srunner_create(auth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
