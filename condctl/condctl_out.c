/* SPDX-License-Identifier: BSD-2-Clause
 *
 * condctl's output formats for `list` and `stats`: aligned tables for people (aligned by display
 * width, so names with accents or CJK characters line up; a section only when it has rows), and
 * one JSON object per run for scripts. Names are UTF-8 chosen by users (they may hold quotes,
 * backslashes and any non-ASCII text), so every string goes through one escaper that also
 * replaces invalid UTF-8 with U+FFFD: the JSON condctl prints is always valid.
 */

#include "condctl.h"

#include <inttypes.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <wchar.h>

/* ------------------------------------------------------------------ JSON strings */

/* Length of the valid UTF-8 sequence starting at s (1..4), or 0 when it is not valid. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return 1;
    size_t n;
    unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        n = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        n = 3;
        if (c == 0xE0)
            lo = 0xA0; /* no overlong forms */
        else if (c == 0xED)
            hi = 0x9F; /* no surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        n = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xBF)
            return 0;
    return n;
}

void ctl_json_string(FILE *out, const char *str)
{
    if (str == NULL) {
        fputs("null", out);
        return;
    }
    const unsigned char *s = (const unsigned char *)str;
    putc('"', out);
    while (*s != '\0') {
        unsigned char c = *s;
        switch (c) {
        case '"':
            fputs("\\\"", out);
            break;
        case '\\':
            fputs("\\\\", out);
            break;
        case '\b':
            fputs("\\b", out);
            break;
        case '\f':
            fputs("\\f", out);
            break;
        case '\n':
            fputs("\\n", out);
            break;
        case '\r':
            fputs("\\r", out);
            break;
        case '\t':
            fputs("\\t", out);
            break;
        default:
            if (c < 0x20) {
                fprintf(out, "\\u%04x", c);
            } else if (c < 0x80) {
                putc(c, out);
            } else {
                size_t n = utf8_len(s);
                if (n == 0) {
                    fputs("\\ufffd", out);
                } else {
                    fwrite(s, 1, n, out);
                    s += n - 1;
                }
            }
            break;
        }
        s++;
    }
    putc('"', out);
}

/* ------------------------------------------------------------------ list */

/* ---- several servers: the SERVER column and key */

int ctl_server_width(const struct ctl_lists *ls)
{
    if (ls->server == NULL)
        return 0;
    int w = ctl_display_width("SERVER");
    for (size_t k = 0; k < ls->n; k++)
        if (ctl_display_width(ls->server[k]) > w)
            w = ctl_display_width(ls->server[k]);
    return w;
}

void ctl_put_server(FILE *out, const struct ctl_lists *ls, size_t k, int w)
{
    if (ls->server == NULL)
        return;
    ctl_put_padded(out, ls->server[k], w);
    fputs("  ", out);
}

void ctl_json_server(FILE *out, const struct ctl_lists *ls, size_t k)
{
    if (ls->server == NULL)
        return;
    fputs("\"server\":", out);
    ctl_json_string(out, ls->server[k]);
    putc(',', out);
}

static void list_json(FILE *out, const struct ctl_lists *ls)
{
    fputs("{\"locks\":[", out);
    bool first = true;
    for (size_t k = 0; k < ls->n; k++) {
        const struct condd_list *list = ls->list[k];
        size_t nl = condd_list_lock_count(list);
        for (size_t i = 0; i < nl; i++) {
            const struct condd_lock_info *l = condd_list_lock(list, i);
            if (l == NULL)
                continue;
            fputs(first ? "{" : ",{", out);
            first = false;
            ctl_json_server(out, ls, k);
            fputs("\"name\":", out);
            ctl_json_string(out, l->name);
            fputs(",\"holder\":", out);
            ctl_json_string(out, l->held ? l->holder_client : NULL);
            fprintf(out,
                    ",\"token\":%" PRIu64 ",\"waiters\":%" PRIu64
                    ",\"held\":%s,\"session\":%" PRIu64 ",\"owner\":%" PRIu64,
                    l->token, l->waiters, l->held ? "true" : "false", l->holder_session,
                    l->holder_owner);
            /* shared locks (appended keys): the mode and every holder in grant order */
            fprintf(out, ",\"mode\":\"%s\",\"holders\":[", l->shared ? "shared" : "exclusive");
            for (size_t j = 0; j < l->n_holders; j++) {
                const struct condd_lock_holder *h = condd_list_lock_holder(list, i, j);
                if (h == NULL)
                    continue;
                fprintf(out, "%s{\"session\":%" PRIu64 ",\"client\":", j > 0 ? "," : "",
                        h->session);
                ctl_json_string(out, h->client);
                fprintf(out, ",\"owner\":%" PRIu64 ",\"token\":%" PRIu64 "}", h->owner, h->token);
            }
            fputs("]}", out);
        }
    }
    fputs("],\"conditions\":[", out);
    first = true;
    for (size_t k = 0; k < ls->n; k++) {
        size_t nc = condd_list_cond_count(ls->list[k]);
        for (size_t i = 0; i < nc; i++) {
            const struct condd_cond_info *c = condd_list_cond(ls->list[k], i);
            if (c == NULL)
                continue;
            fputs(first ? "{" : ",{", out);
            first = false;
            ctl_json_server(out, ls, k);
            fputs("\"name\":", out);
            ctl_json_string(out, c->name);
            fputs(",\"lock\":", out);
            ctl_json_string(out, c->lock);
            fprintf(out, ",\"waiters\":%" PRIu64 "}", c->waiters);
        }
    }
    fputs("]", out);
    ctl_print_sem_json(out, ls);
    fputs(",\"events\":[", out);
    first = true;
    bool truncated = false;
    for (size_t k = 0; k < ls->n; k++) {
        size_t ne = condd_list_event_count(ls->list[k]);
        truncated = truncated || condd_list_truncated(ls->list[k]);
        for (size_t i = 0; i < ne; i++) {
            const struct condd_event_info *e = condd_list_event(ls->list[k], i);
            if (e == NULL)
                continue;
            fputs(first ? "{" : ",{", out);
            first = false;
            ctl_json_server(out, ls, k);
            fputs("\"name\":", out);
            ctl_json_string(out, e->name);
            fprintf(out, ",\"set\":%s,\"waiters\":%" PRIu64 "}", e->set ? "true" : "false",
                    e->waiters);
        }
    }
    fputs("]", out);
    ctl_print_barrier_json(out, ls);
    fprintf(out, ",\"truncated\":%s}\n", truncated ? "true" : "false");
}

static int max_int(int a, int b)
{
    return a > b ? a : b;
}

/* ------------------------------------------------------------------ display width */

/* Columns a code point takes when wcwidth() cannot say (no UTF-8 locale): 0 for combining
 * marks, 2 for the East Asian wide and fullwidth blocks, else 1. */
static int fallback_width(uint32_t cp)
{
    if ((cp >= 0x300 && cp <= 0x36f) || (cp >= 0x200b && cp <= 0x200f) ||
        (cp >= 0xfe00 && cp <= 0xfe0f))
        return 0;
    if ((cp >= 0x1100 && cp <= 0x115f) || (cp >= 0x2e80 && cp <= 0xa4cf && cp != 0x303f) ||
        (cp >= 0xac00 && cp <= 0xd7a3) || (cp >= 0xf900 && cp <= 0xfaff) ||
        (cp >= 0xfe30 && cp <= 0xfe4f) || (cp >= 0xff00 && cp <= 0xff60) ||
        (cp >= 0xffe0 && cp <= 0xffe6) || (cp >= 0x1f300 && cp <= 0x1f64f) ||
        (cp >= 0x1f900 && cp <= 0x1f9ff) || (cp >= 0x20000 && cp <= 0x3fffd))
        return 2;
    return 1;
}

/* Whether wcwidth() knows Unicode: LC_CTYPE from the environment, else C.UTF-8. Once. */
static bool utf8_locale(void)
{
    static int state = -1;
    if (state < 0) {
        const char *cs = setlocale(LC_CTYPE, "") != NULL ? nl_langinfo(CODESET) : "";
        if (strcmp(cs, "UTF-8") != 0 && setlocale(LC_CTYPE, "C.UTF-8") != NULL)
            cs = nl_langinfo(CODESET);
        state = strcmp(cs, "UTF-8") == 0;
    }
    return state == 1;
}

/* The columns s takes on a terminal: wide characters count 2, combining marks 0, and an
 * invalid byte (which names cannot hold, but client names are not checked here) 1. */
static int display_width(const char *str)
{
    const unsigned char *s = (const unsigned char *)str;
    bool wc_ok = utf8_locale();
    int w = 0;
    while (*s != '\0') {
        size_t n = utf8_len(s);
        if (n <= 1) {
            w++;
            s++;
            continue;
        }
        uint32_t cp = s[0] & (0x7f >> n);
        for (size_t i = 1; i < n; i++)
            cp = (cp << 6) | (s[i] & 0x3f);
        int cw = wc_ok ? wcwidth((wchar_t)cp) : -1;
        w += cw >= 0 ? cw : fallback_width(cp);
        s += n;
    }
    return w;
}

/* Prints s left-aligned in a column of width display columns. */
static void put_padded(FILE *out, const char *s, int width)
{
    fputs(s, out);
    for (int pad = width - display_width(s); pad > 0; pad--)
        putc(' ', out);
}

/* ------------------------------------------------------------------ list table */

static void list_table(FILE *out, const struct ctl_lists *ls)
{
    size_t nl = 0, nc = 0, ns = 0, ne = 0, nb = 0;
    bool truncated = false;
    int w_srv = ctl_server_width(ls);
    for (size_t k = 0; k < ls->n; k++) {
        nl += condd_list_lock_count(ls->list[k]);
        nc += condd_list_cond_count(ls->list[k]);
        ns += condd_list_sem_count(ls->list[k]);
        ne += condd_list_event_count(ls->list[k]);
        nb += condd_list_barrier_count(ls->list[k]);
        truncated = truncated || condd_list_truncated(ls->list[k]);
    }
    if (nl > 0) {
        int w_name = display_width("LOCK"), w_holder = display_width("HOLDER");
        for (size_t k = 0; k < ls->n; k++) {
            const struct condd_list *list = ls->list[k];
            for (size_t i = 0; i < condd_list_lock_count(list); i++) {
                const struct condd_lock_info *l = condd_list_lock(list, i);
                if (l == NULL)
                    continue;
                w_name = max_int(w_name, display_width(l->name));
                for (size_t j = 0; j < l->n_holders; j++) {
                    const struct condd_lock_holder *h = condd_list_lock_holder(list, i, j);
                    if (h != NULL)
                        w_holder = max_int(w_holder, display_width(h->client));
                }
                if (l->held)
                    w_holder = max_int(w_holder, display_width(l->holder_client));
            }
        }
        if (ls->server != NULL) {
            put_padded(out, "SERVER", w_srv);
            fputs("  ", out);
        }
        put_padded(out, "LOCK", w_name);
        fputs("  ", out);
        put_padded(out, "HOLDER", w_holder);
        fprintf(out, "  %7s  %20s  %7s  %-9s  %7s\n", "SESSION", "TOKEN", "WAITERS", "MODE",
                "HOLDERS");
        for (size_t k = 0; k < ls->n; k++) {
            const struct condd_list *list = ls->list[k];
            for (size_t i = 0; i < condd_list_lock_count(list); i++) {
                const struct condd_lock_info *l = condd_list_lock(list, i);
                if (l == NULL)
                    continue;
                ctl_put_server(out, ls, k, w_srv);
                put_padded(out, l->name, w_name);
                fputs("  ", out);
                if (l->held) {
                    put_padded(out, l->holder_client[0] != '\0' ? l->holder_client : "?", w_holder);
                    fprintf(out, "  %7" PRIu64 "  %20" PRIu64 "  %7" PRIu64 "  %-9s  %7zu\n",
                            l->holder_session, l->token, l->waiters,
                            l->shared ? "shared" : "exclusive", l->n_holders);
                    /* the other shared holders, one line each under the first */
                    for (size_t j = 1; j < l->n_holders; j++) {
                        const struct condd_lock_holder *h = condd_list_lock_holder(list, i, j);
                        if (h == NULL)
                            continue;
                        ctl_put_server(out, ls, k, w_srv);
                        put_padded(out, "", w_name);
                        fputs("  ", out);
                        put_padded(out, h->client[0] != '\0' ? h->client : "?", w_holder);
                        fprintf(out, "  %7" PRIu64 "  %20" PRIu64 "\n", h->session, h->token);
                    }
                } else {
                    put_padded(out, "-", w_holder);
                    fprintf(out, "  %7s  %20s  %7" PRIu64 "  %-9s  %7s\n", "-", "-", l->waiters,
                            "-", "0");
                }
            }
        }
    }

    if (nc > 0) {
        int w_cond = display_width("CONDITION"), w_lock = display_width("LOCK");
        for (size_t k = 0; k < ls->n; k++) {
            for (size_t i = 0; i < condd_list_cond_count(ls->list[k]); i++) {
                const struct condd_cond_info *c = condd_list_cond(ls->list[k], i);
                if (c == NULL)
                    continue;
                w_cond = max_int(w_cond, display_width(c->name));
                w_lock = max_int(w_lock, display_width(c->lock));
            }
        }
        if (nl > 0)
            putc('\n', out);
        if (ls->server != NULL) {
            put_padded(out, "SERVER", w_srv);
            fputs("  ", out);
        }
        put_padded(out, "CONDITION", w_cond);
        fputs("  ", out);
        put_padded(out, "LOCK", w_lock);
        fprintf(out, "  %7s\n", "WAITERS");
        for (size_t k = 0; k < ls->n; k++) {
            for (size_t i = 0; i < condd_list_cond_count(ls->list[k]); i++) {
                const struct condd_cond_info *c = condd_list_cond(ls->list[k], i);
                if (c == NULL)
                    continue;
                ctl_put_server(out, ls, k, w_srv);
                put_padded(out, c->name, w_cond);
                fputs("  ", out);
                put_padded(out, c->lock, w_lock);
                fprintf(out, "  %7" PRIu64 "\n", c->waiters);
            }
        }
    }
    ctl_print_sem_table(out, ls, nl + nc > 0);
    if (ne > 0) {
        int w_ev = display_width("EVENT");
        for (size_t k = 0; k < ls->n; k++) {
            for (size_t i = 0; i < condd_list_event_count(ls->list[k]); i++) {
                const struct condd_event_info *e = condd_list_event(ls->list[k], i);
                if (e != NULL)
                    w_ev = max_int(w_ev, display_width(e->name));
            }
        }
        if (nl + nc + ns > 0)
            putc('\n', out);
        if (ls->server != NULL) {
            put_padded(out, "SERVER", w_srv);
            fputs("  ", out);
        }
        put_padded(out, "EVENT", w_ev);
        fprintf(out, "  %5s  %7s\n", "STATE", "WAITERS");
        for (size_t k = 0; k < ls->n; k++) {
            for (size_t i = 0; i < condd_list_event_count(ls->list[k]); i++) {
                const struct condd_event_info *e = condd_list_event(ls->list[k], i);
                if (e == NULL)
                    continue;
                ctl_put_server(out, ls, k, w_srv);
                put_padded(out, e->name, w_ev);
                fprintf(out, "  %5s  %7" PRIu64 "\n", e->set ? "set" : "clear", e->waiters);
            }
        }
    }
    ctl_print_barrier_table(out, ls, nl + nc + ns + ne > 0);
    if (truncated)
        fputs(nl + nc + ns + ne + nb > 0
                  ? "\n(truncated: more locks or conditions match than the server lists)\n"
                  : "(truncated: more locks or conditions match than the server lists)\n",
              out);
}

int ctl_display_width(const char *s)
{
    return display_width(s);
}

void ctl_put_padded(FILE *out, const char *s, int width)
{
    put_padded(out, s, width);
}

void ctl_print_lists(FILE *out, const struct ctl_lists *ls, bool json)
{
    if (json)
        list_json(out, ls);
    else
        list_table(out, ls);
}

void ctl_print_list(FILE *out, const struct condd_list *list, bool json)
{
    const struct ctl_lists one = {.n = 1, .list = &list};
    ctl_print_lists(out, &one, json);
}

/* ------------------------------------------------------------------ stats */

#define STATS_FIELDS(X) CTL_STATS_FIELDS(X, X)

void ctl_print_stats_json(FILE *out, const struct condd_stats *st)
{
    fputs("{\"server_version\":", out);
    ctl_json_string(out, st->server_version);
    fprintf(out, ",\"uptime_s\":%.3f", st->uptime_s);
#define X(f) fprintf(out, ",\"" #f "\":%" PRIu64, st->f);
    STATS_FIELDS(X)
#undef X
    fputs(",\"ops\":[", out);
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(st, i);
        if (op == NULL)
            continue;
        fputs(i > 0 ? ",{\"op\":" : "{\"op\":", out);
        ctl_json_string(out, op->op);
        fputs(",\"status\":", out);
        ctl_json_string(out, op->status);
        fprintf(out, ",\"count\":%" PRIu64 "}", op->count);
    }
    fputs("]}", out);
}

void ctl_print_stats(FILE *out, const struct condd_stats *st, bool json)
{
    if (json) {
        ctl_print_stats_json(out, st);
        putc('\n', out);
        return;
    }
    fprintf(out, "%-20s %s\n", "server_version", st->server_version);
    fprintf(out, "%-20s %.3f\n", "uptime_s", st->uptime_s);
#define X(f) fprintf(out, "%-20s %" PRIu64 "\n", #f, st->f);
    STATS_FIELDS(X)
#undef X
    for (size_t i = 0; i < st->n_ops; i++) {
        const struct condd_op_count *op = condd_stats_op(st, i);
        if (op == NULL)
            continue;
        char key[96];
        snprintf(key, sizeof key, "op.%s.%s", op->op, op->status);
        fprintf(out, "%-20s %" PRIu64 "\n", key, op->count);
    }
}
