/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The auth file parser and the lookups on it (see auth.h). The file is small (principals and
 * rules number in the tens or hundreds), so everything is a plain array scanned in order; what
 * matters is that token checks take the same time whichever principal matches, and that a file
 * with a mistake is refused whole with the line that is wrong, never half-applied.
 */
#include "auth.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* Domain separation for the token hash (BLAKE2b-256 keyed with these bytes; docs/condd.8). */
static const char auth_hash_key[] = "condd.v1 token hash";
#define AUTH_HASH_BYTES 32

enum auth_cred_type { CRED_TOKEN, CRED_UID, CRED_GID, CRED_CERT };

struct auth_cred {
    enum auth_cred_type type;
    char principal[AUTH_PRINCIPAL_MAX + 1];
    uint8_t hash[AUTH_HASH_BYTES]; /* CRED_TOKEN */
    unsigned long id;              /* CRED_UID, CRED_GID */
    char *subject;                 /* CRED_CERT, owned */
};

/* WHO of a rule: one principal, every authenticated principal, or anonymous clients. */
enum auth_who { WHO_PRINCIPAL, WHO_ANY, WHO_ANONYMOUS };

struct auth_rule {
    enum auth_who who;
    char principal[AUTH_PRINCIPAL_MAX + 1]; /* WHO_PRINCIPAL */
    enum auth_level level;
    int kind; /* enum auth_kind, or -1 for every kind */
    uint8_t *prefix;
    size_t prefix_len;
};

struct auth_db {
    bool anonymous;
    struct auth_cred *creds;
    size_t ncreds, capcreds;
    struct auth_rule *rules;
    size_t nrules, caprules;
};

static const char *const auth_level_names[] = {"none", "read", "use", "admin"};
static const char *const auth_kind_names[] = {"lock", "cond", "sem", "event", "barrier"};

bool auth_global_init(void)
{
    return sodium_init() >= 0;
}

const char *auth_level_name(enum auth_level level)
{
    return (unsigned)level < 4 ? auth_level_names[level] : "?";
}

const char *auth_kind_name(enum auth_kind kind)
{
    return (unsigned)kind < AUTH_KIND_COUNT ? auth_kind_names[kind] : "?";
}

/* ------------------------------------------------------------------ tokens */

static void auth_hash_raw(const uint8_t *token, size_t len, uint8_t out[AUTH_HASH_BYTES])
{
    crypto_generichash(out, AUTH_HASH_BYTES, token, len, (const unsigned char *)auth_hash_key,
                       sizeof auth_hash_key - 1);
}

bool auth_hash_token(const uint8_t *token, size_t len, char out[AUTH_HASH_TEXT_LEN])
{
    if (len < AUTH_TOKEN_MIN_LEN)
        return false;
    uint8_t h[AUTH_HASH_BYTES];
    auth_hash_raw(token, len, h);
    memcpy(out, "b2:", 3);
    sodium_bin2hex(out + 3, AUTH_HASH_TEXT_LEN - 3, h, sizeof h);
    sodium_memzero(h, sizeof h);
    return true;
}

void auth_new_token(char out[AUTH_TOKEN_TEXT_LEN])
{
    uint8_t raw[32];
    randombytes_buf(raw, sizeof raw);
    memcpy(out, "condd_", 6);
    sodium_bin2base64(out + 6, AUTH_TOKEN_TEXT_LEN - 6, raw, sizeof raw,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(raw, sizeof raw);
}

/* ------------------------------------------------------------------ parsing */

struct auth_parse {
    const char *path;
    unsigned line;
    char *err;
    size_t errlen;
};

static bool auth_fail(struct auth_parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static bool auth_fail(struct auth_parse *p, const char *fmt, ...)
{
    int n = snprintf(p->err, p->errlen, "%s:%u: ", p->path, p->line);
    if (n < 0 || (size_t)n >= p->errlen)
        return false;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err + n, p->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return false;
}

/* The next whitespace-separated word of *s (NUL-terminated in place), or NULL at the end. */
static char *auth_word(char **s)
{
    char *w = *s + strspn(*s, " \t");
    if (*w == '\0')
        return NULL;
    char *end = w + strcspn(w, " \t");
    if (*end != '\0')
        *end++ = '\0';
    *s = end;
    return w;
}

bool auth_principal_valid(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > AUTH_PRINCIPAL_MAX || strcmp(name, "anonymous") == 0 ||
        strcmp(name, "*") == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-' || c == '@';
        if (!ok)
            return false;
    }
    return true;
}

static bool auth_is_principal(const struct auth_db *db, const char *name)
{
    for (size_t i = 0; i < db->ncreds; i++)
        if (strcmp(db->creds[i].principal, name) == 0)
            return true;
    return false;
}

static struct auth_cred *auth_add_cred(struct auth_db *db)
{
    if (db->ncreds == db->capcreds) {
        size_t cap = db->capcreds ? db->capcreds * 2 : 8;
        struct auth_cred *n = realloc(db->creds, cap * sizeof *n);
        if (n == NULL)
            return NULL;
        db->creds = n;
        db->capcreds = cap;
    }
    struct auth_cred *c = &db->creds[db->ncreds++];
    memset(c, 0, sizeof *c);
    return c;
}

static bool auth_parse_id(const char *s, unsigned long *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return false;
    errno = 0;
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || *end != '\0' || v > UINT32_MAX - 1)
        return false;
    *out = v;
    return true;
}

/* principal NAME token b2:HEX | uid N | gid N | cert SUBJECT... */
static bool auth_parse_principal(struct auth_db *db, struct auth_parse *p, char *rest)
{
    char *name = auth_word(&rest);
    char *type = auth_word(&rest);
    if (name == NULL || type == NULL)
        return auth_fail(p, "expected: principal NAME token|uid|gid|cert VALUE");
    if (!auth_principal_valid(name))
        return auth_fail(p,
                         "bad principal name '%.64s' (1-64 of A-Z a-z 0-9 . _ - @; not "
                         "'anonymous' or '*')",
                         name);
    struct auth_cred c = {0};
    snprintf(c.principal, sizeof c.principal, "%s", name);
    if (strcmp(type, "token") == 0) {
        char *v = auth_word(&rest);
        size_t hexlen = 0;
        if (v == NULL || strncmp(v, "b2:", 3) != 0 || strlen(v) != AUTH_HASH_TEXT_LEN - 1 ||
            sodium_hex2bin(c.hash, sizeof c.hash, v + 3, 64, NULL, &hexlen, NULL) != 0 ||
            hexlen != AUTH_HASH_BYTES)
            return auth_fail(p, "a token is given as its hash, b2: and 64 hex digits, as "
                                "`condd --hash-token` prints it");
        for (size_t i = 0; i < db->ncreds; i++)
            if (db->creds[i].type == CRED_TOKEN &&
                sodium_memcmp(db->creds[i].hash, c.hash, AUTH_HASH_BYTES) == 0)
                return auth_fail(p, "this token hash is already given to principal '%s'",
                                 db->creds[i].principal);
        c.type = CRED_TOKEN;
    } else if (strcmp(type, "uid") == 0 || strcmp(type, "gid") == 0) {
        c.type = type[0] == 'u' ? CRED_UID : CRED_GID;
        if (!auth_parse_id(auth_word(&rest), &c.id))
            return auth_fail(p, "%s takes a number", type);
        for (size_t i = 0; i < db->ncreds; i++)
            if (db->creds[i].type == c.type && db->creds[i].id == c.id)
                return auth_fail(p, "%s %lu is already given to principal '%s'", type, c.id,
                                 db->creds[i].principal);
    } else if (strcmp(type, "cert") == 0) {
        char *subj = rest + strspn(rest, " \t");
        size_t n = strlen(subj);
        while (n > 0 && (subj[n - 1] == ' ' || subj[n - 1] == '\t'))
            subj[--n] = '\0';
        if (n == 0)
            return auth_fail(p, "cert takes the certificate subject, e.g. CN=web,O=example");
        /* RFC 2253 starts with an attribute type ("CN=", "2.5.4.3="): a quoted subject would be
         * taken with its quotes and match no certificate, silently. */
        size_t type_len = strspn(subj, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                       "0123456789.-");
        if (type_len == 0 || subj[type_len] != '=')
            return auth_fail(p, "a subject starts with an attribute type, e.g. CN=web,O=example, "
                                "unquoted (the rest of the line is the subject)");
        for (size_t i = 0; i < db->ncreds; i++)
            if (db->creds[i].type == CRED_CERT && strcmp(db->creds[i].subject, subj) == 0)
                return auth_fail(p, "this subject is already given to principal '%s'",
                                 db->creds[i].principal);
        c.type = CRED_CERT;
        c.subject = strdup(subj);
        if (c.subject == NULL)
            return auth_fail(p, "out of memory");
        rest = subj + n;
    } else {
        return auth_fail(p, "unknown credential '%.32s' (token, uid, gid or cert)", type);
    }
    if (auth_word(&rest) != NULL) {
        free(c.subject);
        return auth_fail(p, "unexpected words after the credential");
    }
    struct auth_cred *slot = auth_add_cred(db);
    if (slot == NULL) {
        free(c.subject);
        return auth_fail(p, "out of memory");
    }
    *slot = c;
    sodium_memzero(&c, sizeof c);
    return true;
}

/* A prefix: a bare word, or a double-quoted string with \" and \\ escapes. */
static bool auth_parse_prefix(struct auth_parse *p, char **rest, struct auth_rule *r)
{
    char *s = *rest + strspn(*rest, " \t");
    if (*s == '\0')
        return true; /* no prefix: every name */
    char *out = s, *in = s, *end;
    if (*s == '"') {
        in++;
        for (;;) {
            if (*in == '\0')
                return auth_fail(p, "unterminated quoted prefix");
            if (*in == '"')
                break;
            if (*in == '\\' && (in[1] == '"' || in[1] == '\\'))
                in++;
            *out++ = *in++;
        }
        end = in + 1;
    } else {
        size_t n = strcspn(s, " \t");
        out = s + n;
        end = out;
    }
    if (end[strspn(end, " \t")] != '\0')
        return auth_fail(p, "unexpected words after the prefix (quote a prefix with spaces)");
    r->prefix_len = (size_t)(out - s);
    if (r->prefix_len > 0) {
        r->prefix = malloc(r->prefix_len);
        if (r->prefix == NULL)
            return auth_fail(p, "out of memory");
        memcpy(r->prefix, s, r->prefix_len);
    }
    *rest = end + strlen(end);
    return true;
}

/* allow WHO LEVEL KIND [PREFIX] */
static bool auth_parse_allow(struct auth_db *db, struct auth_parse *p, char *rest)
{
    char *who = auth_word(&rest), *level = auth_word(&rest), *kind = auth_word(&rest);
    if (who == NULL || level == NULL || kind == NULL)
        return auth_fail(p, "expected: allow PRINCIPAL|*|anonymous read|use|admin "
                            "lock|cond|sem|event|barrier|* [PREFIX]");
    struct auth_rule r = {0};
    if (strcmp(who, "*") == 0) {
        r.who = WHO_ANY;
    } else if (strcmp(who, "anonymous") == 0) {
        r.who = WHO_ANONYMOUS;
    } else if (auth_is_principal(db, who)) {
        r.who = WHO_PRINCIPAL;
        snprintf(r.principal, sizeof r.principal, "%s", who);
    } else {
        return auth_fail(p, "no principal '%.64s' is defined above this rule", who);
    }
    r.level = AUTH_NONE;
    for (int i = AUTH_READ; i <= AUTH_ADMIN; i++)
        if (strcmp(level, auth_level_names[i]) == 0)
            r.level = (enum auth_level)i;
    if (r.level == AUTH_NONE)
        return auth_fail(p, "unknown level '%.32s' (read, use or admin)", level);
    r.kind = -2;
    if (strcmp(kind, "*") == 0)
        r.kind = -1;
    for (int i = 0; i < AUTH_KIND_COUNT; i++)
        if (strcmp(kind, auth_kind_names[i]) == 0)
            r.kind = i;
    if (r.kind == -2)
        return auth_fail(p, "unknown kind '%.32s' (lock, cond, sem, event, barrier or *)", kind);
    if (!auth_parse_prefix(p, &rest, &r))
        return false;
    if (db->nrules == db->caprules) {
        size_t cap = db->caprules ? db->caprules * 2 : 8;
        struct auth_rule *n = realloc(db->rules, cap * sizeof *n);
        if (n == NULL) {
            free(r.prefix);
            return auth_fail(p, "out of memory");
        }
        db->rules = n;
        db->caprules = cap;
    }
    db->rules[db->nrules++] = r;
    return true;
}

/* Cuts line at its comment: a '#' at the start or after a space or tab, outside quotes. A '#'
 * inside a word (a prefix "jobs#1") is part of it: cutting there would silently widen the rule.
 * Not called on a `cert` line (auth_is_cert_line()). */
static void auth_cut_comment(char *line)
{
    bool quoted = false;
    for (char *q = line; *q != '\0'; q++) {
        if (quoted && *q == '\\' && q[1] != '\0') {
            q++;
            continue;
        }
        if (*q == '"')
            quoted = !quoted;
        else if (!quoted && *q == '#' && (q == line || q[-1] == ' ' || q[-1] == '\t')) {
            *q = '\0';
            return;
        }
    }
}

/* Is line "principal NAME cert ..."? Its subject is the rest of the line, '#' and all (an RFC 2253
 * subject may hold " #": "CN=team #1,O=Example"), so no comment is cut from it: cutting there
 * would bind the principal to a shorter subject, another certificate's (condd.8, AUTH FILE). */
static bool auth_is_cert_line(const char *line)
{
    const char *w = line;
    for (int i = 0; i < 3; i++) {
        w += strspn(w, " \t");
        size_t n = strcspn(w, " \t");
        if (n == 0 || *w == '#')
            return false; /* the end, or a comment before the third word */
        if ((i == 0 && (n != 9 || memcmp(w, "principal", 9) != 0)) ||
            (i == 2 && (n != 4 || memcmp(w, "cert", 4) != 0)))
            return false;
        w += n;
    }
    return true;
}

static bool auth_parse_line(struct auth_db *db, struct auth_parse *p, char *line)
{
    if (!auth_is_cert_line(line))
        auth_cut_comment(line);
    char *rest = line;
    char *kw = auth_word(&rest);
    if (kw == NULL)
        return true;
    if (strcmp(kw, "principal") == 0)
        return auth_parse_principal(db, p, rest);
    if (strcmp(kw, "allow") == 0)
        return auth_parse_allow(db, p, rest);
    if (strcmp(kw, "anonymous") == 0) {
        char *v = auth_word(&rest);
        if (v == NULL || (strcmp(v, "allow") != 0 && strcmp(v, "deny") != 0) ||
            auth_word(&rest) != NULL)
            return auth_fail(p, "expected: anonymous allow|deny");
        db->anonymous = strcmp(v, "allow") == 0;
        return true;
    }
    return auth_fail(p, "unknown statement '%.32s' (principal, allow or anonymous)", kw);
}

struct auth_db *auth_load(const char *path, char *err, size_t errlen)
{
    struct auth_parse p = {.path = path, .err = err, .errlen = errlen};
    if (errlen > 0)
        err[0] = '\0';
    FILE *f = fopen(path, "re");
    if (f == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    struct auth_db *db = calloc(1, sizeof *db);
    char *line = NULL;
    size_t cap = 0;
    bool ok = db != NULL;
    if (!ok)
        snprintf(err, errlen, "%s: out of memory", path);
    while (ok) {
        errno = 0;
        ssize_t n = getline(&line, &cap, f);
        if (n < 0) {
            if (errno != 0) {
                snprintf(err, errlen, "%s: %s", path, strerror(errno));
                ok = false;
            }
            break;
        }
        p.line++;
        if (memchr(line, '\0', (size_t)n) != NULL) {
            ok = auth_fail(&p, "a NUL byte in the line");
            break;
        }
        line[strcspn(line, "\r\n")] = '\0';
        ok = auth_parse_line(db, &p, line);
    }
    if (line != NULL) {
        /* The line may have held a token hash: wipe it before it goes back to the heap. */
        sodium_memzero(line, cap);
        free(line);
    }
    fclose(f);
    if (!ok) {
        auth_free(db);
        return NULL;
    }
    return db;
}

void auth_free(struct auth_db *db)
{
    if (db == NULL)
        return;
    for (size_t i = 0; i < db->ncreds; i++)
        free(db->creds[i].subject);
    if (db->creds != NULL)
        sodium_memzero(db->creds, db->capcreds * sizeof *db->creds);
    free(db->creds);
    for (size_t i = 0; i < db->nrules; i++)
        free(db->rules[i].prefix);
    free(db->rules);
    free(db);
}

/* ------------------------------------------------------------------ lookups */

bool auth_anonymous_allowed(const struct auth_db *db)
{
    return db->anonymous;
}

const char *auth_by_token(const struct auth_db *db, const uint8_t *token, size_t len)
{
    uint8_t h[AUTH_HASH_BYTES];
    auth_hash_raw(token, len, h);
    const char *found = NULL;
    for (size_t i = 0; i < db->ncreds; i++) {
        const struct auth_cred *c = &db->creds[i];
        /* Every entry is compared in full; only the bookkeeping differs on a match. */
        bool type_ok = c->type == CRED_TOKEN;
        bool same = sodium_memcmp(c->hash, h, AUTH_HASH_BYTES) == 0;
        if (type_ok & same)
            found = c->principal;
    }
    sodium_memzero(h, sizeof h);
    return found;
}

const char *auth_by_peer(const struct auth_db *db, uid_t uid, gid_t gid)
{
    for (size_t i = 0; i < db->ncreds; i++)
        if (db->creds[i].type == CRED_UID && db->creds[i].id == (unsigned long)uid)
            return db->creds[i].principal;
    for (size_t i = 0; i < db->ncreds; i++)
        if (db->creds[i].type == CRED_GID && db->creds[i].id == (unsigned long)gid)
            return db->creds[i].principal;
    return NULL;
}

const char *auth_by_cert(const struct auth_db *db, const char *subject)
{
    for (size_t i = 0; i < db->ncreds; i++)
        if (db->creds[i].type == CRED_CERT && strcmp(db->creds[i].subject, subject) == 0)
            return db->creds[i].principal;
    return NULL;
}

bool auth_known(const struct auth_db *db, const char *principal)
{
    return principal == NULL ? db->anonymous : auth_is_principal(db, principal);
}

static bool auth_rule_applies(const struct auth_rule *r, const char *principal)
{
    switch (r->who) {
    case WHO_ANONYMOUS:
        return principal == NULL;
    case WHO_ANY:
        return principal != NULL;
    case WHO_PRINCIPAL:
        return principal != NULL && strcmp(r->principal, principal) == 0;
    }
    return false;
}

enum auth_level auth_level(const struct auth_db *db, const char *principal, enum auth_kind kind,
                           const uint8_t *name, size_t len)
{
    enum auth_level best = AUTH_NONE;
    for (size_t i = 0; i < db->nrules; i++) {
        const struct auth_rule *r = &db->rules[i];
        if (r->level <= best || !auth_rule_applies(r, principal))
            continue;
        if (r->kind != -1 && r->kind != (int)kind)
            continue;
        if (r->prefix_len > len || (r->prefix_len > 0 && memcmp(r->prefix, name, r->prefix_len)))
            continue;
        best = r->level;
    }
    return best;
}

bool auth_has_any(const struct auth_db *db, const char *principal, enum auth_level level)
{
    for (size_t i = 0; i < db->nrules; i++)
        if (db->rules[i].level >= level && auth_rule_applies(&db->rules[i], principal))
            return true;
    return false;
}

void auth_counts(const struct auth_db *db, size_t *principals, size_t *rules)
{
    size_t n = 0;
    for (size_t i = 0; i < db->ncreds; i++) {
        bool first = true;
        for (size_t j = 0; j < i && first; j++)
            if (strcmp(db->creds[j].principal, db->creds[i].principal) == 0)
                first = false;
        n += first;
    }
    *principals = n;
    *rules = db->nrules;
}
