/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Routing names over several servers (see route.h and protocol.md §21).
 */
#include "config.h"

#include "route.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"

bool route_identity(const char *addr, uint16_t default_port, char *out, size_t outlen)
{
    struct addr_parts p;
    if (addr == NULL || !addr_split(addr, 0, default_port, &p))
        return false;
    int n;
    if (p.kind == ADDR_UNIX) {
        n = snprintf(out, outlen, "unix:%s", p.path);
    } else {
        /* Host names are case-insensitive (and IPv6 hex digits too): lower them so that
         * "Alpha:7380" and "alpha:7380" are one server. */
        for (char *h = p.host; *h != '\0'; h++)
            if (*h >= 'A' && *h <= 'Z')
                *h = (char)(*h - 'A' + 'a');
        if (strchr(p.host, ':') != NULL)
            n = snprintf(out, outlen, "[%s]:%u", p.host, (unsigned)p.port);
        else
            n = snprintf(out, outlen, "%s:%u", p.host, (unsigned)p.port);
    }
    return n > 0 && (size_t)n < outlen;
}

uint64_t route_weight(const uint8_t *name, size_t name_len, const char *ident, size_t ident_len)
{
    crypto_generichash_state st;
    uint8_t h[16];
    static const uint8_t zero = 0;
    crypto_generichash_init(&st, (const uint8_t *)ROUTE_KEY, ROUTE_KEY_BYTES, sizeof h);
    crypto_generichash_update(&st, name, name_len);
    crypto_generichash_update(&st, &zero, 1);
    crypto_generichash_update(&st, (const uint8_t *)ident, ident_len);
    crypto_generichash_final(&st, h, sizeof h);
    uint64_t w = 0;
    for (int i = 7; i >= 0; i--)
        w = (w << 8) | h[i];
    return w;
}

void route_list_free(struct route_list *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->addr[i]);
        free(l->ident[i]);
    }
    free(l->addr);
    free(l->ident);
    memset(l, 0, sizeof *l);
}

bool route_list_parse(const char *list, uint16_t default_port, struct route_list *out, char *why,
                      size_t whylen)
{
    memset(out, 0, sizeof *out);
    if (list == NULL || *list == '\0') {
        snprintf(why, whylen, "empty server list");
        return false;
    }
    out->addr = calloc(ROUTE_MAX_SERVERS, sizeof *out->addr);
    out->ident = calloc(ROUTE_MAX_SERVERS, sizeof *out->ident);
    if (out->addr == NULL || out->ident == NULL) {
        snprintf(why, whylen, "out of memory");
        goto fail;
    }
    for (const char *p = list;;) {
        const char *end = strchr(p, ',');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        while (len > 0 && *p == ' ') {
            p++;
            len--;
        }
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if (len == 0) {
            snprintf(why, whylen, "empty entry in server list '%s'", list);
            goto fail;
        }
        if (out->n == ROUTE_MAX_SERVERS) {
            snprintf(why, whylen, "more than %d servers in the list", ROUTE_MAX_SERVERS);
            goto fail;
        }
        char *a = strndup(p, len);
        char id[ROUTE_IDENT_MAX];
        if (a == NULL) {
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
        if (!route_identity(a, default_port, id, sizeof id)) {
            snprintf(why, whylen, "bad address '%s' in server list", a);
            free(a);
            goto fail;
        }
        for (size_t i = 0; i < out->n; i++) {
            if (strcmp(out->ident[i], id) == 0) {
                snprintf(why, whylen, "server '%s' is twice in the list", a);
                free(a);
                goto fail;
            }
        }
        out->addr[out->n] = a;
        out->ident[out->n] = strdup(id);
        if (out->ident[out->n] == NULL) {
            free(a);
            snprintf(why, whylen, "out of memory");
            goto fail;
        }
        out->n++;
        if (end == NULL)
            break;
        p = end + 1;
    }
    return true;
fail:
    if (out->addr == NULL || out->ident == NULL) {
        free(out->addr);
        free(out->ident);
        memset(out, 0, sizeof *out);
        return false;
    }
    route_list_free(out);
    return false;
}

size_t route_pick(const struct route_list *l, const uint8_t *name, size_t len)
{
    size_t best = 0;
    uint64_t bw = 0;
    for (size_t i = 0; i < l->n; i++) {
        uint64_t w = route_weight(name, len, l->ident[i], strlen(l->ident[i]));
        if (i == 0 || w > bw) {
            best = i;
            bw = w;
        }
    }
    return best;
}

long route_find(const struct route_list *l, const char *addr, uint16_t default_port)
{
    char id[ROUTE_IDENT_MAX];
    if (!route_identity(addr, default_port, id, sizeof id))
        return -1;
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->ident[i], id) == 0)
            return (long)i;
    return -1;
}
