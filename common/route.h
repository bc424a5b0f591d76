/* SPDX-License-Identifier: BSD-2-Clause
 *
 * Routing names over several servers (protocol.md §21): the one rule every client and every
 * server started with --cluster applies, so that two clients never take the same name on two
 * servers. Rendezvous (highest random weight) hashing: each server's weight for a name is a
 * keyed BLAKE2b of the name and the server's canonical identity, and the heaviest server wins.
 * Adding a server moves only the names the new server now wins (about 1/N); no name moves
 * between the servers that were already there. Also the server-list grammar ("a:7380,b:7380").
 * No I/O.
 */
#ifndef CONDD_COMMON_ROUTE_H
#define CONDD_COMMON_ROUTE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The BLAKE2b key: these 16 ASCII bytes, no terminator. */
#define ROUTE_KEY "condd.v1 routing"
#define ROUTE_KEY_BYTES 16
/* Longest canonical identity ("[v6]:port" or "unix:" + a socket path). */
#define ROUTE_IDENT_MAX 272
/* Most servers in one list. */
#define ROUTE_MAX_SERVERS 64

/*
 * The canonical identity of a server address (the grammar of address.h; borrowed): "tls:"
 * dropped, the default port filled in, ASCII letters of the host lowered, IPv6 hosts in
 * brackets: "host:port", "[v6]:port" or "unix:/path". Writes it NUL-terminated to
 * out[0..outlen) and returns true, or false for an address addr_split() refuses or one too long.
 */
bool route_identity(const char *addr, uint16_t default_port, char *out, size_t outlen);

/* A server's weight for a name: the first 8 bytes, little-endian, of the 16-byte keyed
 * BLAKE2b (key ROUTE_KEY) of name || 0x00 || identity. name and ident are borrowed. */
uint64_t route_weight(const uint8_t *name, size_t name_len, const char *ident, size_t ident_len);

/* A parsed server list. Owns every string. */
struct route_list {
    size_t n;
    char **addr;  /* each entry as written (trimmed of spaces), for connecting */
    char **ident; /* its canonical identity, for hashing and for comparing */
};

/*
 * Parses a comma-separated list of addresses (borrowed; spaces around entries are ignored) into
 * out (which route_list_free() must free once this returns true). Refuses, with a one-line
 * reason in why[0..whylen): an empty list or entry, an address addr_split() refuses, more than
 * ROUTE_MAX_SERVERS entries, and two entries with the same identity. On false out is empty and
 * owns nothing.
 */
bool route_list_parse(const char *list, uint16_t default_port, struct route_list *out, char *why,
                      size_t whylen);
void route_list_free(struct route_list *l);

/* The index in l of the server that name[0..len) routes to: the highest weight, and on a tie
 * (never seen; 2^-64) the lowest index. l must hold at least one server. */
size_t route_pick(const struct route_list *l, const uint8_t *name, size_t len);

/* The index of the entry whose identity equals that of addr, or -1 (also for a bad addr). */
long route_find(const struct route_list *l, const char *addr, uint16_t default_port);

#endif
