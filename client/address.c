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

int cl_addr_resolve(const char *addr, struct cl_sockaddr **out, size_t *n)
{
    struct addr_parts parts;
    if (!addr_split(addr, 0, CONDD_DEFAULT_PORT, &parts))
        return CONDD_ERR_ADDRESS;
    *out = NULL;
    *n = 0;
    if (parts.kind == ADDR_UNIX) {
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
