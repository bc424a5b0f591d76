/* SPDX-License-Identifier: BSD-2-Clause
 *
 * The address grammar shared by condd, libcondd, condctl and condbench: "host:port", "host"
 * (default port), "[v6]:port", "[v6]" and "unix:/path", and for clients any TCP form behind
 * "tls:" ("tls:host:port", "tls:[v6]:port"). Splitting only: no name resolution and
 * no I/O, so it is unit-tested directly.
 */
#ifndef CONDD_COMMON_ADDRESS_H
#define CONDD_COMMON_ADDRESS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/un.h>

enum addr_kind {
    ADDR_TCP,
    ADDR_UNIX,
};

/* What a caller accepts. */
enum addr_flags {
    /* A listening address: the port must be given and may be 0 (an ephemeral port); "unix:"
     * is refused (listeners on Unix sockets are configured on their own). */
    ADDR_LISTEN = 1u << 0,
};

/* An address string split into its parts. */
struct addr_parts {
    enum addr_kind kind;
    bool tls;       /* "tls:HOST:PORT": TCP with TLS (clients only) */
    char host[256]; /* TCP: host name or numeric address, without brackets */
    uint16_t port;  /* TCP */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)]; /* unix: NUL-terminated */
};

/*
 * Splits addr (borrowed; NULL is refused) into out. Without ADDR_LISTEN a missing port is
 * default_port and the port must be 1..65535, and a "tls:" prefix sets out->tls. Returns false for
 * an empty host or path, a bad or out-of-range port, a bare IPv6 address without brackets, brackets
 * around anything but IPv6, whitespace, control characters or '/' in a host, or a part too long for
 * out.
 */
bool addr_split(const char *addr, unsigned flags, uint16_t default_port, struct addr_parts *out);

#endif
