/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The auth file (--auth-file): who the principals are, how each proves it (a token hash, a Unix
 * peer uid or gid, a client-certificate subject), and the rules that give them read, use or
 * admin permission on name prefixes per kind of object. Also the token format: condd
 * --new-token and --hash-token. Pure data and libsodium; no I/O beyond reading the file, no
 * libevent, so tests drive it directly. The grammar is in docs/condd.8 ("AUTH FILE").
 */
#ifndef CONDD_DAEMON_AUTH_H
#define CONDD_DAEMON_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Permission levels; each includes the ones below it. */
enum auth_level {
    AUTH_NONE = 0,
    AUTH_READ = 1,  /* Locked, List, Stats and their twins for the other kinds */
    AUTH_USE = 2,   /* acquire, release, wait, notify, set, clear, reset, abort, ... */
    AUTH_ADMIN = 3, /* operator controls on other sessions' holds */
};

/* The kinds of named objects a rule can name. */
enum auth_kind {
    AUTH_KIND_LOCK,
    AUTH_KIND_COND,
    AUTH_KIND_SEM,
    AUTH_KIND_EVENT,
    AUTH_KIND_BARRIER,
    AUTH_KIND_COUNT,
};

/* A token hash as the auth file spells it: "b2:" and 64 lowercase hex digits, and a NUL. */
#define AUTH_HASH_TEXT_LEN (3 + 64 + 1)
/* A token as --new-token prints it: "condd_" and 43 base64url characters (256 bits), a NUL. */
#define AUTH_TOKEN_TEXT_LEN (6 + 43 + 1)
/* Tokens shorter than this are refused by --hash-token: a token must not be guessable. */
#define AUTH_TOKEN_MIN_LEN 16
#define AUTH_PRINCIPAL_MAX 64

struct auth_db;

/* Is name a valid principal name: 1-64 of A-Z a-z 0-9 . _ - @, and not "anonymous" or "*"? */
bool auth_principal_valid(const char *name);

/* Initializes libsodium; false if it cannot be. Call once before anything below. */
bool auth_global_init(void);

/*
 * Reads and checks the auth file at path. On success returns a new database the caller frees
 * with auth_free(). On failure returns NULL and writes one line, "PATH:LINE: reason", into err
 * (errlen bytes, always terminated). The file's token hashes never appear in err.
 */
struct auth_db *auth_load(const char *path, char *err, size_t errlen);

/* Frees db (NULL ignored). */
void auth_free(struct auth_db *db);

/* Whether clients that bring no credential at all may connect (the file's `anonymous` line). */
bool auth_anonymous_allowed(const struct auth_db *db);

/*
 * The principal whose token hash matches token (len bytes), or NULL. Compares against every
 * principal in constant time per entry and does not stop at a match, so the time taken does
 * not depend on which principal (if any) matched. The returned name is borrowed from db.
 */
const char *auth_by_token(const struct auth_db *db, const uint8_t *token, size_t len);

/* The principal mapped to a Unix peer's uid (first) or gid, or NULL. Borrowed from db. */
const char *auth_by_peer(const struct auth_db *db, uid_t uid, gid_t gid);

/* The principal mapped to a verified client certificate's subject (one-line RFC 2253 form,
 * as OpenSSL prints it), or NULL. Borrowed from db. */
const char *auth_by_cert(const struct auth_db *db, const char *subject);

/* Whether principal (NULL: anonymous) exists in db: anonymous exists when it is allowed. */
bool auth_known(const struct auth_db *db, const char *principal);

/*
 * The highest level any rule gives principal (NULL: an anonymous client) on the object of kind
 * named name (len bytes). Rules only grant: there are no deny rules, and no rule means
 * AUTH_NONE.
 */
enum auth_level auth_level(const struct auth_db *db, const char *principal, enum auth_kind kind,
                           const uint8_t *name, size_t len);

/* Whether some rule gives principal (NULL: anonymous) at least level on some name. */
bool auth_has_any(const struct auth_db *db, const char *principal, enum auth_level level);

/* The number of principals and rules, for the load log line. */
void auth_counts(const struct auth_db *db, size_t *principals, size_t *rules);

/*
 * Writes the auth-file spelling of token's hash into out ("b2:" + hex). Returns false (and
 * writes nothing) when the token is shorter than AUTH_TOKEN_MIN_LEN bytes.
 */
bool auth_hash_token(const uint8_t *token, size_t len, char out[AUTH_HASH_TEXT_LEN]);

/* Writes a fresh random token (256 bits from libsodium) into out. */
void auth_new_token(char out[AUTH_TOKEN_TEXT_LEN]);

/* The names used in the file and in messages. */
const char *auth_level_name(enum auth_level level);
const char *auth_kind_name(enum auth_kind kind);

#endif
