/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The address grammar (see address.h).
 */
#include "config.h"

#include "address.h"

#include <string.h>

static bool parse_port(const char *s, bool zero_ok, uint16_t *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return false;
    unsigned v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if ((v == 0 && !zero_ok) || v > 65535)
        return false;
    *port = (uint16_t)v;
    return true;
}

/* Host names and numeric addresses never hold these; refusing them early gives a clear error
 * instead of a resolver failure (or, for '/', a surprising lookup). */
static bool host_ok(const char *h, size_t len)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)h[i];
        if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '[' || ch == ']' || ch == '@')
            return false;
    }
    return true;
}

bool addr_split(const char *addr, unsigned flags, uint16_t default_port, struct addr_parts *out)
{
    bool listen = (flags & ADDR_LISTEN) != 0;
    memset(out, 0, sizeof *out);
    if (addr == NULL)
        return false;
    if (strncmp(addr, "unix:", 5) == 0) {
        const char *path = addr + 5;
        size_t len = strlen(path);
        if (listen || len == 0 || len >= sizeof out->path)
            return false;
        out->kind = ADDR_UNIX;
        memcpy(out->path, path, len + 1);
        return true;
    }
    if (!listen && strncmp(addr, "tls:", 4) == 0) {
        addr += 4;
        out->tls = true;
    }
    out->kind = ADDR_TCP;
    out->port = default_port;
    const char *host, *rest;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL)
            return false;
        host = addr + 1;
        hlen = (size_t)(close - host);
        rest = close + 1;
        if (hlen == 0 || memchr(host, ':', hlen) == NULL)
            return false; /* brackets are for IPv6 only */
        for (size_t i = 0; i < hlen; i++) {
            unsigned char ch = (unsigned char)host[i];
            if (ch <= ' ' || ch == 0x7f || ch == '/' || ch == '[')
                return false;
        }
    } else {
        const char *colon = strchr(addr, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return false; /* a bare IPv6 address is ambiguous: use [v6]:port */
        host = addr;
        hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
        rest = addr + hlen;
        if (!host_ok(host, hlen))
            return false;
    }
    if (hlen >= sizeof out->host)
        return false;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (*rest == '\0')
        return !listen;
    if (*rest != ':')
        return false;
    return parse_port(rest + 1, listen, &out->port);
}
