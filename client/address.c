/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Server addresses as the library takes them: the default from $CONDD_SERVER, and resolution
 * into the socket addresses to try in order (getaddrinfo()). The grammar itself is
 * common/address.c, shared with the daemon and the tools.
 */
#include "config.h"

#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "address.h"
#include "internal.h"

const char *cl_addr_effective(const char *addr)
{
    if (addr != NULL && *addr != '\0')
        return addr;
    const char *env = getenv("CONDD_SERVER");
    if (env != NULL && *env != '\0')
        return env;
    return CONDD_DEFAULT_ADDRESS;
}

/* What is wrong with addr, which addr_split() refused, into why (whylen bytes): the common
 * mistakes by name, else the forms accepted. Only for the message: the grammar is addr_split's. */
static void explain(const char *addr, char *why, size_t whylen)
{
    const char *forms = "expected host:port, host, [v6addr]:port, unix:/path or tls:host:port";
    const char *a = strncmp(addr, "tls:", 4) == 0 ? addr + 4 : addr;
    if (strncmp(a, "unix:", 5) == 0) {
        snprintf(why, whylen, "%s", a[5] == '\0' ? "no path after unix:" : forms);
        return;
    }
    const char *port = NULL;
    if (a[0] == '[') {
        const char *close = strchr(a, ']');
        if (close == NULL) {
            snprintf(why, whylen, "'[' without ']'");
            return;
        }
        if (close[1] == ':')
            port = close + 2;
    } else {
        const char *colon = strchr(a, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            snprintf(why, whylen,
                     "more than one ':' (an IPv6 address goes in brackets: "
                     "[v6addr]:port)");
            return;
        }
        if (colon == a) {
            snprintf(why, whylen, "no host before ':'");
            return;
        }
        if (colon != NULL)
            port = colon + 1;
    }
    if (port != NULL) {
        size_t digits = strspn(port, "0123456789");
        if (*port == '\0')
            snprintf(why, whylen, "no port after ':'");
        else if (port[digits] != '\0')
            snprintf(why, whylen, "port \"%.32s\" is not a number", port);
        else if (digits > 5 || atol(port) < 1 || atol(port) > 65535)
            snprintf(why, whylen, "port %.32s is out of range (1..65535)", port);
        else
            snprintf(why, whylen, "%s", forms);
        return;
    }
    snprintf(why, whylen, "%s", forms);
}

int cl_addr_resolve(const char *addr, struct cl_sockaddr **out, size_t *n, char *why, size_t whylen)
{
    struct addr_parts parts;
    if (!addr_split(addr, 0, CONDD_DEFAULT_PORT, &parts)) {
        char detail[160];
        explain(addr, detail, sizeof detail);
        snprintf(why, whylen, "invalid address \"%.200s\": %s", addr, detail);
        return CONDD_ERR_ADDRESS;
    }
    *out = NULL;
    *n = 0;
    if (parts.kind == ADDR_UNIX) {
        struct cl_sockaddr *a = calloc(1, sizeof *a);
        if (a == NULL) {
            snprintf(why, whylen, "out of memory");
            return CONDD_ERR_NOMEM;
        }
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
    int gai = getaddrinfo(parts.host, port, &hints, &res);
    if (gai != 0 || res == NULL) {
        snprintf(why, whylen, "cannot resolve \"%.200s\": %s", parts.host,
                 gai != 0 ? gai_strerror(gai) : "no address");
        return CONDD_ERR_ADDRESS;
    }
    size_t count = 0;
    for (struct addrinfo *ai = res; ai != NULL; ai = ai->ai_next)
        if (ai->ai_addrlen <= sizeof(struct sockaddr_storage))
            count++;
    struct cl_sockaddr *v = count > 0 ? calloc(count, sizeof *v) : NULL;
    if (v == NULL) {
        freeaddrinfo(res);
        snprintf(why, whylen,
                 count > 0 ? "out of memory" : "\"%.200s\" resolves to no usable address",
                 parts.host);
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
