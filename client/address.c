/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Server address strings: "host:port", "host" (default port), "[v6]:port", "[v6]" and
 * "unix:/path"; the default from $CONDD_SERVER; and their resolution into the socket addresses
 * to try in order. Splitting is pure (unit-tested directly); resolution uses getaddrinfo().
 */
#include "config.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

static int parse_port(const char *s, uint16_t *port)
{
    if (*s == '\0' || strlen(s) > 5)
        return CONDD_ERR_ADDRESS;
    unsigned v = 0;
    for (const char *p = s; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            return CONDD_ERR_ADDRESS;
        v = v * 10 + (unsigned)(*p - '0');
    }
    if (v == 0 || v > 65535)
        return CONDD_ERR_ADDRESS;
    *port = (uint16_t)v;
    return CONDD_OK;
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

int cl_addr_split(const char *addr, struct cl_addr_parts *out)
{
    memset(out, 0, sizeof *out);
    if (addr == NULL)
        return CONDD_ERR_ADDRESS;
    if (strncmp(addr, "unix:", 5) == 0) {
        const char *path = addr + 5;
        size_t len = strlen(path);
        if (len == 0 || len >= sizeof out->path)
            return CONDD_ERR_ADDRESS;
        out->kind = CL_ADDR_UNIX;
        memcpy(out->path, path, len + 1);
        return CONDD_OK;
    }
    out->kind = CL_ADDR_TCP;
    out->port = CONDD_DEFAULT_PORT;
    const char *host, *rest;
    size_t hlen;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (close == NULL)
            return CONDD_ERR_ADDRESS;
        host = addr + 1;
        hlen = (size_t)(close - host);
        rest = close + 1;
        if (hlen == 0 || memchr(host, ':', hlen) == NULL)
            return CONDD_ERR_ADDRESS; /* brackets are for IPv6 only */
        for (size_t i = 0; i < hlen; i++) {
            unsigned char ch = (unsigned char)host[i];
            if (ch <= ' ' || ch == '/' || ch == '[')
                return CONDD_ERR_ADDRESS;
        }
    } else {
        const char *colon = strchr(addr, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL)
            return CONDD_ERR_ADDRESS; /* a bare IPv6 address is ambiguous: use [v6]:port */
        host = addr;
        hlen = colon != NULL ? (size_t)(colon - addr) : strlen(addr);
        rest = addr + hlen;
        if (!host_ok(host, hlen))
            return CONDD_ERR_ADDRESS;
    }
    if (hlen >= sizeof out->host)
        return CONDD_ERR_ADDRESS;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (*rest == '\0')
        return CONDD_OK;
    if (*rest != ':')
        return CONDD_ERR_ADDRESS;
    return parse_port(rest + 1, &out->port);
}

const char *cl_addr_effective(const char *addr)
{
    if (addr != NULL && *addr != '\0')
        return addr;
    const char *env = getenv("CONDD_SERVER");
    if (env != NULL && *env != '\0')
        return env;
    return CONDD_DEFAULT_ADDRESS;
}

int cl_addr_resolve(const char *addr, struct cl_sockaddr **out, size_t *n)
{
    struct cl_addr_parts parts;
    int rc = cl_addr_split(addr, &parts);
    if (rc != CONDD_OK)
        return rc;
    *out = NULL;
    *n = 0;
    if (parts.kind == CL_ADDR_UNIX) {
        struct cl_sockaddr *a = calloc(1, sizeof *a);
        if (a == NULL)
            return CONDD_ERR_NOMEM;
        struct sockaddr_un *sun = (struct sockaddr_un *)&a->ss;
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, parts.path, strlen(parts.path) + 1);
        a->family = AF_UNIX;
        a->len = (socklen_t)sizeof *sun;
        *out = a;
        *n = 1;
        return CONDD_OK;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", (unsigned)parts.port);
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    if (getaddrinfo(parts.host, port, &hints, &res) != 0 || res == NULL)
        return CONDD_ERR_ADDRESS;
    size_t count = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof(struct sockaddr_storage))
            count++;
    struct cl_sockaddr *v = count > 0 ? calloc(count, sizeof *v) : NULL;
    if (v == NULL) {
        freeaddrinfo(res);
        return count > 0 ? CONDD_ERR_NOMEM : CONDD_ERR_ADDRESS;
    }
    size_t i = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next) {
        if (ai->ai_addrlen > sizeof(struct sockaddr_storage))
            continue;
        v[i].family = ai->ai_family;
        v[i].len = ai->ai_addrlen;
        memcpy(&v[i].ss, ai->ai_addr, ai->ai_addrlen);
        i++;
    }
    freeaddrinfo(res);
    *out = v;
    *n = count;
    return CONDD_OK;
}
