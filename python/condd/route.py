# SPDX-License-Identifier: BSD-2-Clause
"""Routing names over several servers (docs/protocol.md §21), the same rule as common/route.c:
the server-list grammar and canonical identities (§21.1), and rendezvous (highest random
weight) hashing with a keyed BLAKE2b (§21.2), so that this client sends every name to the
server a C client, condctl and a server started with --cluster pick. No I/O."""

import hashlib

# The BLAKE2b key: these 16 ASCII bytes (protocol.md §21.2).
KEY = b"condd.v1 routing"
# Most servers in one list (§21.1).
MAX_SERVERS = 64
DEFAULT_PORT = 7380

# Longest host and unix socket path the C grammar accepts (common/address.h: host[256],
# sun_path[108], each with its terminator).
_HOST_MAX = 255
_PATH_MAX = 107


def _host_ok(host):
    # as host_ok() in common/address.c: these never appear in a host name or a numeric address
    return bool(host) and not any(c <= " " or c in "\x7f/[]@" for c in host)


def identity(address, default_port=DEFAULT_PORT):
    """The canonical identity of one address (§21.1): "host:port", "[v6]:port" or
    "unix:/path"; "tls:" dropped, the default port filled in, ASCII letters of the host lowered.
    ValueError for an address the grammar of §2 refuses (as common/address.c's addr_split)."""
    if address.startswith("unix:"):
        path = address[5:]
        if not path or len(path.encode("utf-8")) > _PATH_MAX:
            raise ValueError("bad address %r" % address)
        return address
    rest = address[4:] if address.startswith("tls:") else address
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            raise ValueError("bad address %r: missing ]" % address)
        host, tail = rest[1:close], rest[close + 1:]
        # brackets are for IPv6 only
        if ":" not in host or any(c <= " " or c in "\x7f/[" for c in host):
            raise ValueError("bad address %r" % address)
    else:
        host, colon, port = rest.partition(":")
        if colon and ":" in port:
            raise ValueError("bad address %r: an IPv6 address needs brackets" % address)
        tail = colon + port
        if not _host_ok(host):
            raise ValueError("bad address %r" % address)
    if len(host.encode("utf-8")) > _HOST_MAX:
        raise ValueError("bad address %r: host too long" % address)
    if tail:
        port = tail[1:]
        if (not tail.startswith(":") or not port or len(port) > 5
                or not all("0" <= c <= "9" for c in port) or not 1 <= int(port) <= 65535):
            raise ValueError("bad address %r: bad port" % address)
        port = int(port)
    else:
        port = default_port
    # only ASCII letters are lowered (str.lower() would touch other letters too)
    host = host.translate(_LOWER)
    return ("[%s]:%d" if ":" in host else "%s:%d") % (host, port)


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


class ServerList:
    """A parsed server list: `addresses` as written (trimmed), for connecting, and
    `identities`, their canonical forms, for hashing and comparing; both in list order."""

    __slots__ = ("addresses", "identities", "_keys")

    def __init__(self, addresses, identities):
        self.addresses = tuple(addresses)
        self.identities = tuple(identities)
        self._keys = tuple(b"\x00" + i.encode("utf-8") for i in self.identities)

    def __len__(self):
        return len(self.identities)

    def __repr__(self):
        return "<condd.route.ServerList %s>" % ",".join(self.identities)

    def pick(self, name):
        """The index of the server name (str or bytes, as sent on the wire) routes to."""
        if isinstance(name, str):
            name = name.encode("utf-8")
        best, best_w = 0, -1
        for i, key in enumerate(self._keys):
            h = hashlib.blake2b(name + key, digest_size=16, key=KEY).digest()
            w = int.from_bytes(h[:8], "little")
            if w > best_w:  # a tie keeps the one listed first
                best, best_w = i, w
        return best

    def server_for(self, name):
        """The identity of the server name routes to."""
        return self.identities[self.pick(name)]

    def find(self, address):
        """The index of the entry with address's identity, or -1 (also for a bad address)."""
        try:
            ident = identity(address)
        except ValueError:
            return -1
        try:
            return self.identities.index(ident)
        except ValueError:
            return -1


def weight(name, ident):
    """A server's weight for a name (§21.2): the first 8 bytes, little-endian, of the 16-byte
    BLAKE2b of name || 0x00 || identity keyed with KEY. name: str or bytes; ident: a
    canonical identity."""
    if isinstance(name, str):
        name = name.encode("utf-8")
    h = hashlib.blake2b(name + b"\x00" + ident.encode("utf-8"), digest_size=16, key=KEY)
    return int.from_bytes(h.digest()[:8], "little")


def parse_list(servers):
    """A ServerList from a comma-separated string or a sequence of address strings (§21.1:
    spaces around an entry ignored). ValueError, with the same reasons as common/route.c, for
    an empty list or entry, a bad address, more than MAX_SERVERS entries, or two entries of one
    identity."""
    if isinstance(servers, str):
        if not servers:
            raise ValueError("empty server list")
        entries = servers.split(",")
        shown = servers
    else:
        entries = list(servers)
        if not entries:
            raise ValueError("empty server list")
        for e in entries:
            if not isinstance(e, str):
                raise TypeError("a server address must be a str, not %s" % type(e).__name__)
        shown = ",".join(entries)
    addresses, identities = [], []
    for entry in entries:
        addr = entry.strip(" ")
        if not addr:
            raise ValueError("empty entry in server list '%s'" % shown)
        if len(addresses) == MAX_SERVERS:
            raise ValueError("more than %d servers in the list" % MAX_SERVERS)
        try:
            ident = identity(addr)
        except ValueError:
            raise ValueError("bad address '%s' in server list" % addr) from None
        if ident in identities:
            raise ValueError("server '%s' is twice in the list" % addr)
        addresses.append(addr)
        identities.append(ident)
    return ServerList(addresses, identities)
